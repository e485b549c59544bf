/* sigwaitinfo/sigtimedwait report what the kernel queued: the sigqueue value, the
 * sender's code; and a signal in the awaited set that the thread has unblocked (with a
 * handler) is taken by the wait, not by the handler — also in a process with only
 * the main thread.
 */
#include "../common.h"
#include <pthread.h>
#include <signal.h>

static volatile sig_atomic_t handled;
static void on_sig(int s) { (void)s; handled++; }

static void *sender(void *arg) {
    (void)arg;
    usleep(50 * 1000);
    union sigval v = {.sival_int = 4242};
    CHECK(sigqueue(getpid(), SIGRTMIN + 1, v) == 0, "sigqueue");
    return NULL;
}

int main(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGRTMIN + 1);
    CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "block");
    siginfo_t si;

    union sigval v = {.sival_int = 77};
    CHECK(sigqueue(getpid(), SIGRTMIN + 1, v) == 0, "sigqueue");
    int s = sigwaitinfo(&set, &si);
    printf("queued before: sig ok %d, value %d, code SI_QUEUE %d\n", s == SIGRTMIN + 1, si.si_value.sival_int, si.si_code == SI_QUEUE);

    pthread_t t;
    CHECK(pthread_create(&t, NULL, sender, NULL) == 0, "create");
    s = sigwaitinfo(&set, &si);
    printf("queued while waiting: sig ok %d, value %d, pid ok %d\n", s == SIGRTMIN + 1, si.si_value.sival_int, si.si_pid == getpid());
    CHECK(pthread_join(t, NULL) == 0, "join");

    raise(SIGUSR1);
    s = sigwaitinfo(&set, &si);
    printf("raise: sig ok %d, code %d\n", s == SIGUSR1, si.si_code);

    /* Unblocked, with a handler, in the awaited set: the wait takes it. */
    signal(SIGUSR1, on_sig);
    CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0, "unblock");
    struct timespec ts = {2, 0};
    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        usleep(50 * 1000);
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    s = sigtimedwait(&set, &si, &ts);
    printf("unblocked signal with a handler: taken by the wait %d, handler ran %d\n", s == SIGUSR1, (int)handled);
    return 0;
}
