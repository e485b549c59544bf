/* handler_calls: signal handlers that call async-signal-safe functions the shim hooks.
 *
 * Why: a handler may interrupt any code, the shim's scheduler included, so under
 * greenshim every hooked call made inside a handler goes straight to the kernel and
 * never parks. The classic patterns must keep working:
 *   1. a SIGALRM handler (setitimer, 50 ms) sem_post()s a semaphore a thread waits on
 *      in sem_wait; repeated 5 times;
 *   2. a SIGALRM handler write()s one byte to a blocking pipe (the self-pipe trick) that
 *      a thread is blocked reading; repeated 5 times;
 *   3. pthread_self() called in a handler equals pthread_self() of the thread the
 *      handler interrupted (the handler runs in that thread), checked by raising the
 *      signal with raise() from a thread.
 * A ticker thread keeps ticking throughout.
 *
 * stdout (deterministic):
 *   "sem_post from a handler woke the waiter 5 times\n"
 *   "write from a handler woke the pipe reader 5 times\n"
 *   "pthread_self in a handler run by raise(): the raising thread\n"
 *   "ticker ran: yes\n"
 * metrics: os_threads_max, ticks.
 */
#include "../common.h"
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/time.h>

static sem_t sem;
static int pfd[2];
static int mode;
static volatile pthread_t seen_self;
static volatile int stop_ticker;
static int ticks, os_max;

static void on_alarm(int sig) {
    (void)sig;
    int e = errno;
    if (mode == 1) {
        sem_post(&sem);
    } else if (mode == 2) {
        char c = 'x';
        if (write(pfd[1], &c, 1) != 1) _exit(3);
    } else {
        seen_self = pthread_self();
    }
    errno = e;
}

static void *ticker(void *arg) {
    (void)arg;
    while (!stop_ticker) {
        CHECK(usleep(10000) == 0, "usleep");
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void arm(void) {
    struct itimerval it = {{0, 0}, {0, 50000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
}

static void *sem_waiter(void *arg) {
    (void)arg;
    for (int i = 0; i < 5; i++) {
        arm();
        int r;
        while ((r = sem_wait(&sem)) != 0 && errno == EINTR) {}
        CHECK(r == 0, "sem_wait: %s", strerror(errno));
    }
    int n = os_threads();
    if (n > os_max) os_max = n;
    return NULL;
}

static void *pipe_reader(void *arg) {
    (void)arg;
    for (int i = 0; i < 5; i++) {
        arm();
        char c;
        ssize_t r;
        while ((r = read(pfd[0], &c, 1)) < 0 && errno == EINTR) {}
        CHECK(r == 1 && c == 'x', "read: %zd %s", r, strerror(errno));
    }
    return NULL;
}

static void *raiser(void *arg) {
    (void)arg;
    seen_self = 0;
    CHECK(raise(SIGALRM) == 0, "raise");
    CHECK(pthread_equal(seen_self, pthread_self()), "handler saw another pthread_self");
    return NULL;
}

int main(void) {
    alarm(0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
    CHECK(sem_init(&sem, 0, 0) == 0, "sem_init");
    CHECK(pipe(pfd) == 0, "pipe");
    pthread_t tk, t;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create");
    int t0 = ticks;

    mode = 1;
    CHECK(pthread_create(&t, NULL, sem_waiter, NULL) == 0, "create");
    CHECK(pthread_join(t, NULL) == 0, "join");
    printf("sem_post from a handler woke the waiter 5 times\n");

    mode = 2;
    CHECK(pthread_create(&t, NULL, pipe_reader, NULL) == 0, "create");
    CHECK(pthread_join(t, NULL) == 0, "join");
    printf("write from a handler woke the pipe reader 5 times\n");

    mode = 3;
    CHECK(pthread_create(&t, NULL, raiser, NULL) == 0, "create");
    CHECK(pthread_join(t, NULL) == 0, "join");
    printf("pthread_self in a handler run by raise(): the raising thread\n");

    stop_ticker = 1;
    CHECK(pthread_join(tk, NULL) == 0, "join ticker");
    int dt = ticks - t0;
    CHECK(dt >= 20, "ticker ticked %d times in 500 ms", dt);
    printf("ticker ran: yes\n");
    metric("ticks", dt);
    metric("os_threads_max", os_max);
    return 0;
}
