/* merged_sigsys: system calls that glibc makes inline (getppid, and raise's gettid,
 * getpid and tgkill) in a tight loop for a second, beside a thread that changes the
 * signal's action back and forth, as CPython's test_signal stress test does. Under the
 * shim with GREENSHIM_RAW and GREENSHIM_PREEMPT every such call traps with SIGSYS, and
 * the preemption tick is a SIGSYS too: a tick pending when a call traps swallows the
 * call's own SIGSYS (one instance of a standard signal is queued). The call must still
 * be made — not return its own number as its result (raise then failed with ESRCH).
 *
 * stdout: the number of wrong results (0). METRIC calls: calls made.
 */
#include "../common.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

static atomic_int stop;
static atomic_long handled;

static void on_usr1(int sig) {
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

static void *caller(void *arg) {
    long *bad = arg;
    pid_t ppid = getppid();
    long calls = 0;
    long long end = now_ms() + 1000;
    while (now_ms() < end) {
        for (int i = 0; i < 100; i++) {
            if (getppid() != ppid) bad[0]++;
            if (raise(SIGUSR1) != 0) bad[1]++;
            calls += 4;
        }
    }
    atomic_store(&stop, 1);
    fprintf(stderr, "METRIC calls=%ld\n", calls);
    return NULL;
}

int main(void) {
    struct sigaction h = {0}, ign = {0};
    h.sa_handler = on_usr1;
    ign.sa_handler = SIG_IGN;
    CHECK(sigaction(SIGUSR1, &h, NULL) == 0, "sigaction");
    long bad[2] = {0, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, caller, bad) == 0, "create");
    while (!atomic_load(&stop)) {
        sigaction(SIGUSR1, &ign, NULL);
        sigaction(SIGUSR1, &h, NULL);
    }
    pthread_join(t, NULL);
    printf("getppid returned another value: %ld times\n", bad[0]);
    printf("raise failed: %ld times\n", bad[1]);
    return 0;
}
