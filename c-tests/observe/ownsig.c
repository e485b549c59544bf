/* The program's own use of SIGRTMAX-1 while the hog watchdog owns it: sigaction reports
 * the program's actions, its handler runs for the signals it raises (once each, with its
 * siginfo), SIG_IGN ignores them, and a thread created before and after sees the same. */
#include "../common.h"
#include <pthread.h>
#include <signal.h>

static volatile sig_atomic_t hits, last_code, last_value;

static void on_sig(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    hits++;
    last_code = si->si_code;
    last_value = si->si_value.sival_int;
    CHECK(sig == SIGRTMAX - 1, "sig %d", sig);
}

static void *idle(void *a) { (void)a; usleep(1000); return NULL; }

int main(void) {
    int sig = SIGRTMAX - 1;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, idle, NULL) == 0, "create"); /* the watchdog starts here */
    pthread_join(t, NULL);
    struct sigaction a, old;
    CHECK(sigaction(sig, NULL, &old) == 0, "query");
    printf("initial default: %d\n", old.sa_handler == SIG_DFL);
    memset(&a, 0, sizeof a);
    a.sa_sigaction = on_sig;
    a.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&a.sa_mask);
    CHECK(sigaction(sig, &a, &old) == 0, "set");
    CHECK(sigaction(sig, NULL, &old) == 0, "query");
    printf("reports handler: %d, flags siginfo: %d\n", old.sa_sigaction == on_sig, (old.sa_flags & SA_SIGINFO) != 0);
    raise(sig);
    union sigval v = {.sival_int = 42};
    CHECK(sigqueue(getpid(), sig, v) == 0, "sigqueue");
    usleep(10000);
    printf("hits %d, last code SI_QUEUE: %d, value %d\n", (int)hits, last_code == SI_QUEUE, (int)last_value);
    signal(sig, SIG_IGN);
    raise(sig);
    CHECK(sigaction(sig, NULL, &old) == 0, "query");
    printf("ignored: %d, hits %d\n", old.sa_handler == SIG_IGN, (int)hits);
    return 0;
}
