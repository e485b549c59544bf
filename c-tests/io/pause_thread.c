/* pause_thread: pause, sigsuspend and sigpause in a thread other than main.
 *
 * Why: under greenshim these calls must park the calling green thread instead of
 * blocking the OS thread (which would stop every other thread), and a signal sent to
 * that thread with pthread_kill must end the wait with EINTR after its handler ran,
 * as natively. A ticker thread (usleep 10 ms) must keep ticking meanwhile.
 *   1. a thread calls pause(); main sends it SIGUSR1 100 ms later;
 *   2. a thread calls sigsuspend() with a mask that blocks SIGUSR2 but not SIGUSR1;
 *      main sends it SIGUSR1 100 ms later;
 *   3. a thread blocks SIGUSR1, then calls sigpause(SIGUSR1) (X/Open: wait with
 *      SIGUSR1 removed from the mask); main sends it SIGUSR1 100 ms later.
 * In each case the handler must have run exactly once when the wait returns.
 *
 * stdout (deterministic):
 *   "pause in a thread: -1 EINTR after SIGUSR1\n"
 *   "sigsuspend in a thread: -1 EINTR after SIGUSR1\n"
 *   "sigpause in a thread: -1 EINTR after SIGUSR1\n"
 *   "ticker ran during the waits: yes\n"
 * metrics: os_threads_max, ticks, wait_ms (each wait).
 */
#include "../common.h"
#include <pthread.h>
#include <signal.h>

static volatile int stop_ticker;
static int ticks, os_max;
static volatile sig_atomic_t usr1_count;

static void on_usr1(int sig) { (void)sig; usr1_count++; }

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        CHECK(usleep(10000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static volatile int ready;

static void *pauser(void *arg) {
    int kind = (int)(long)arg;
    int r, e;
    if (kind == 0) {
        ready = 1;
        r = pause();
    } else if (kind == 1) {
        sigset_t m;
        pthread_sigmask(SIG_SETMASK, NULL, &m);
        sigaddset(&m, SIGUSR2);
        sigdelset(&m, SIGUSR1);
        ready = 1;
        r = sigsuspend(&m);
    } else {
        sigset_t b;
        sigemptyset(&b);
        sigaddset(&b, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &b, NULL);
        ready = 1;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        r = sigpause(SIGUSR1);
#pragma GCC diagnostic pop
    }
    e = errno;
    CHECK(r == -1 && e == EINTR, "kind %d: r=%d errno=%d", kind, r, e);
    int n = os_threads();
    if (n > os_max) os_max = n;
    return NULL;
}

static void one(int kind, const char *name) {
    pthread_t t;
    ready = 0;
    int before = usr1_count;
    long long t0 = now_ms();
    CHECK(pthread_create(&t, NULL, pauser, (void *)(long)kind) == 0, "create");
    while (!ready) CHECK(usleep(1000) == 0, "usleep");
    CHECK(usleep(100000) == 0, "usleep");
    CHECK(pthread_kill(t, SIGUSR1) == 0, "pthread_kill");
    CHECK(pthread_join(t, NULL) == 0, "join");
    CHECK(usr1_count == before + 1, "handler ran %d times", usr1_count - before);
    metric("wait_ms", now_ms() - t0);
    printf("%s in a thread: -1 EINTR after SIGUSR1\n", name);
}

int main(void) {
    alarm(60);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
    CHECK(sigaction(SIGUSR2, &sa, NULL) == 0, "sigaction");
    pthread_t tk;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create ticker");
    int t0 = __atomic_load_n(&ticks, __ATOMIC_SEQ_CST);
    one(0, "pause");
    one(1, "sigsuspend");
    one(2, "sigpause");
    int dt = __atomic_load_n(&ticks, __ATOMIC_SEQ_CST) - t0;
    stop_ticker = 1;
    CHECK(pthread_join(tk, NULL) == 0, "join ticker");
    CHECK(dt >= 10, "ticker ticked only %d times during 300 ms of waits", dt);
    printf("ticker ran during the waits: yes\n");
    metric("ticks", dt);
    metric("os_threads_max", os_max);
    return 0;
}
