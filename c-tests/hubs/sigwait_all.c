/* sigwait_all: the daemon pattern. main blocks every signal (sigfillset), starts three
 * threads that compute for 300 ms each without a call, a ticker that sleeps 1 ms at a
 * time, and a thread that waits in sigwait on the full set; then sends the process
 * SIGUSR1. The waiter must get SIGUSR1 — never a signal of the shim's own (preemption's
 * ticks are SIGRTMAX-1 without the raw layer) — and every mask query, in main and in
 * the threads that inherited its mask, must show every signal blocked, as natively.
 * With several hubs each hub is time-sliced even so: main's full mask must not hold
 * back the ticks (METRIC worst_gap_ms, the ticker's worst gap).
 *
 * stdout: mask queries, the signal waited for, the computations' results.
 */
#include "../common.h"
#include "../compute_mix.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

static atomic_int stop;
static atomic_long ticks;
static int worst_ms;

static int full(const sigset_t *m) {
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP && !(s > 31 && s < SIGRTMIN) && !sigismember(m, s)) return 0;
    return 1;
}

static void *compute(void *arg) {
    long k = (long)arg;
    struct mix m = {1469598103934665603ULL + (unsigned long long)k, 0.5 - k * 0.01, 0};
    long rounds = 0;
    double t0 = now_s();
    char *line = malloc(128);
    CHECK(line != NULL, "malloc");
    while (rounds < 1500 || now_s() - t0 < 0.3) {
        mix_round(&m);
        if (++rounds == 1500) snprintf(line, 128, "computation %ld after 1500 rounds: hash %016llx, sum %.6f\n", k, m.h, m.y);
    }
    return line;
}

static void *ticker(void *arg) {
    (void)arg;
    worst_ms = tick_until(&stop, &ticks);
    return NULL;
}

static void *waiter(void *arg) {
    (void)arg;
    sigset_t m, all;
    CHECK(pthread_sigmask(SIG_BLOCK, NULL, &m) == 0, "query");
    sigfillset(&all);
    int sig = 0;
    CHECK(sigwait(&all, &sig) == 0, "sigwait");
    char *line = malloc(160);
    CHECK(line != NULL, "malloc");
    snprintf(line, 160, "waiter: inherited mask full: %d, SIGRTMAX-1 blocked: %d; sigwait got %s\n", full(&m),
             sigismember(&m, SIGRTMAX - 1), sig == SIGUSR1 ? "SIGUSR1" : sig == SIGRTMAX - 1 ? "SIGRTMAX-1" : "another signal");
    return line;
}

int main(void) {
    sigset_t all, m;
    sigfillset(&all);
    CHECK(pthread_sigmask(SIG_BLOCK, &all, NULL) == 0, "block");
    CHECK(pthread_sigmask(SIG_BLOCK, NULL, &m) == 0, "query");
    printf("main: mask full: %d, SIGRTMAX-1 blocked: %d\n", full(&m), sigismember(&m, SIGRTMAX - 1));
    CHECK(sigprocmask(SIG_SETMASK, NULL, &m) == 0, "query");
    printf("main (sigprocmask): mask full: %d\n", full(&m));
    pthread_t c[3], t, w;
    CHECK(pthread_create(&w, NULL, waiter, NULL) == 0, "create");
    CHECK(pthread_create(&t, NULL, ticker, NULL) == 0, "create");
    usleep(5000);
    for (long k = 0; k < 3; k++) CHECK(pthread_create(&c[k], NULL, compute, (void *)k) == 0, "create");
    for (int k = 0; k < 3; k++) {
        void *r;
        pthread_join(c[k], &r);
        fputs((char *)r, stdout);
        free(r);
    }
    CHECK(kill(getpid(), SIGUSR1) == 0, "kill");
    void *r;
    pthread_join(w, &r);
    fputs((char *)r, stdout);
    free(r);
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    /* Unblocking it again: a query shows it unblocked. */
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGRTMAX - 1);
    CHECK(pthread_sigmask(SIG_UNBLOCK, &one, &m) == 0 && pthread_sigmask(SIG_BLOCK, NULL, &m) == 0, "unblock");
    int blocked = sigismember(&m, SIGRTMAX - 1);
    sigaddset(&m, SIGRTMAX - 1);
    printf("main after unblocking SIGRTMAX-1: blocked %d, mask otherwise full: %d\n", blocked, full(&m));
    printf("ticker ran beside the computations: %s\n", atomic_load(&ticks) > 10 ? "yes" : "no");
    metric("worst_gap_ms", worst_ms);
    return 0;
}
