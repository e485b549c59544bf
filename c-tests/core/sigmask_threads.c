/* sigmask_threads: signal masks are per thread. A worker blocks every signal (as
 * CPython's faulthandler watchdog does); the main thread's mask must not change, and a
 * SIGALRM must still interrupt main's sleep. The worker sees its own mask back.
 */
#include "../common.h"
#include <pthread.h>
#include <signal.h>
#include <semaphore.h>
#include <sys/time.h>

static volatile sig_atomic_t hits;
static void on_alarm(int sig) { (void)sig; hits++; }
static int worker_blocked_alrm, worker_blocked_usr1;
static sem_t recorded; /* the worker has looked at its mask (main prints it after) */

static void *worker(void *arg) {
    (void)arg;
    sigset_t all, cur;
    sigfillset(&all);
    CHECK(pthread_sigmask(SIG_SETMASK, &all, NULL) == 0, "worker sigmask");
    CHECK(pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0, "worker query");
    worker_blocked_alrm = sigismember(&cur, SIGALRM);
    worker_blocked_usr1 = sigismember(&cur, SIGUSR1);
    sem_post(&recorded);
    sleep(1);
    return NULL;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
    CHECK(sem_init(&recorded, 0, 0) == 0, "sem_init");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0, "create");
    usleep(20000);
    while (sem_wait(&recorded) != 0) CHECK(errno == EINTR, "sem_wait");
    metric("os_threads_max", os_threads());
    sigset_t cur;
    CHECK(pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0, "main query");
    printf("worker blocked SIGALRM: %s, SIGUSR1: %s\n", worker_blocked_alrm ? "yes" : "no", worker_blocked_usr1 ? "yes" : "no");
    printf("main still accepts SIGALRM: %s\n", sigismember(&cur, SIGALRM) ? "no" : "yes");
    struct itimerval it = {{0, 0}, {0, 100000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
    long long t0 = now_ms();
    unsigned left = sleep(3);
    CHECK(hits == 1, "handler ran %d times", (int)hits);
    CHECK(now_ms() - t0 < 1500, "sleep was not interrupted promptly (%lld ms)", now_ms() - t0);
    printf("main's sleep interrupted by SIGALRM: %u s left\n", left);
    pthread_join(t, NULL);
    return 0;
}
