/* signals: signals with threads on two hubs.
 *
 *   pthread_kill(main) from another thread (on the other hub under the shim): main's
 *       blocked read() fails with EINTR (handler without SA_RESTART), as natively.
 *   kill(getpid()) from another thread, every thread but main blocking the signal:
 *       main's blocked read() fails with EINTR.
 *   pthread_kill(worker) from main: the worker's blocked read() fails with EINTR;
 *       main's own sleep meanwhile is not cut short.
 */
#undef _GNU_SOURCE
#include "../common.h"
#include <pthread.h>
#include <signal.h>

static volatile sig_atomic_t got1, got2;
static void on_usr1(int s) { (void)s; got1++; }
static void on_usr2(int s) { (void)s; got2++; }
static pthread_t main_t;

static void *kill_main(void *arg) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    usleep(100000);
    if (arg) kill(getpid(), SIGUSR2); else pthread_kill(main_t, SIGUSR1);
    return NULL;
}

static int wp[2];
static void *worker(void *arg) {
    (void)arg;
    char c;
    ssize_t r = read(wp[0], &c, 1);
    return (void *)(long)(r < 0 ? errno : 0);
}

static void blocked_read(const char *what, void *arg) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    pthread_t t;
    pthread_create(&t, NULL, kill_main, arg);
    char c;
    ssize_t r = read(p[0], &c, 1);
    int e = errno;
    pthread_join(t, NULL);
    printf("%s: main's read returned %zd %s\n", what, r, r < 0 && e == EINTR ? "EINTR" : "?");
    close(p[0]);
    close(p[1]);
}

int main(void) {
    main_t = pthread_self();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);
    blocked_read("pthread_kill(main)", NULL);
    blocked_read("kill(getpid())", (void *)1);

    CHECK(pipe(wp) == 0, "pipe");
    pthread_t w;
    pthread_create(&w, NULL, worker, NULL);
    usleep(50000);
    long long t0 = now_ms();
    pthread_kill(w, SIGUSR1);
    struct timespec ts = { 0, 200000000 };
    int sr = nanosleep(&ts, NULL);
    long long slept = now_ms() - t0;
    void *we;
    pthread_join(w, &we);
    printf("pthread_kill(worker): worker's read %s; main's sleep %s\n", (long)we == EINTR ? "EINTR" : "?", sr == 0 && slept >= 190 ? "complete" : "cut short");
    printf("handlers: usr1 %d, usr2 %d\n", (int)got1, (int)got2);
    return 0;
}
