/* sigwait: the "signal-handling thread" pattern. main blocks SIGUSR1/SIGUSR2 before
 * creating threads; a dedicated thread loops in sigwait() while workers keep running;
 * main raises the signals with kill(). Also sigtimedwait times out with EAGAIN, and
 * pause() in main returns -1/EINTR after a handler for SIGALRM runs.
 */
#include "../common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

static sigset_t waited;
static int got[3];
static volatile int ticks, stop;

static void *signal_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++) {
        int sig = 0;
        CHECK(sigwait(&waited, &sig) == 0, "sigwait");
        got[i] = sig;
    }
    struct timespec ts = {0, 100 * 1000 * 1000};
    siginfo_t info;
    long long t0 = now_ms();
    errno = 0;
    int r = sigtimedwait(&waited, &info, &ts);
    CHECK(r == -1 && errno == EAGAIN, "sigtimedwait returned %d errno %d", r, errno);
    CHECK(now_ms() - t0 >= 90, "sigtimedwait returned early");
    return NULL;
}

static void *ticker(void *arg) {
    (void)arg;
    while (!stop) {
        usleep(2000);
        ticks++;
    }
    return NULL;
}

static void on_alarm(int sig) { (void)sig; }

int main(void) {
    sigemptyset(&waited);
    sigaddset(&waited, SIGUSR1);
    sigaddset(&waited, SIGUSR2);
    CHECK(pthread_sigmask(SIG_BLOCK, &waited, NULL) == 0, "block");
    pthread_t st, tk;
    CHECK(pthread_create(&st, NULL, signal_thread, NULL) == 0, "create");
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create");
    usleep(20000);
    metric("os_threads_max", os_threads());
    int before = ticks;
    kill(getpid(), SIGUSR1);
    usleep(20000);
    kill(getpid(), SIGUSR2);
    usleep(20000);
    kill(getpid(), SIGUSR1);
    pthread_join(st, NULL);
    CHECK(ticks > before, "the ticker stalled while a thread waited in sigwait");
    printf("sigwait got: %s %s %s\n", got[0] == SIGUSR1 ? "USR1" : "?", got[1] == SIGUSR2 ? "USR2" : "?", got[2] == SIGUSR1 ? "USR1" : "?");
    printf("sigtimedwait: EAGAIN after the timeout\n");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
    struct itimerval it = {{0, 0}, {0, 100000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
    errno = 0;
    int r = pause();
    CHECK(r == -1 && errno == EINTR, "pause returned %d errno %d", r, errno);
    printf("pause: EINTR after the handler ran\n");
    stop = 1;
    pthread_join(tk, NULL);
    return 0;
}
