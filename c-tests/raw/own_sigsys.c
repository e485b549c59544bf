/* own_sigsys: a program with its own SIGSYS handler (as seccomp-trap sandboxes have)
 * keeps it when the shim catches raw system calls with SIGSYS itself: sigaction reports
 * the program's action; a SIGSYS sent with kill reaches the program's handler with
 * SI_USER; with the default action restored, a child that raises SIGSYS dies of it.
 *
 * stdout: what the program saw at each step.
 */
#include "../common.h"
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static volatile sig_atomic_t got, code;

static void on_sys(int s, siginfo_t *si, void *uc) {
    (void)s;
    (void)uc;
    got++;
    code = si->si_code;
}

int main(void) {
    struct sigaction sa = {0}, old = {0};
    CHECK(sigaction(SIGSYS, NULL, &old) == 0, "sigaction query");
    printf("initial SIGSYS action: %s\n", old.sa_handler == SIG_DFL ? "SIG_DFL" : "other");
    sa.sa_sigaction = on_sys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGSYS, &sa, NULL) == 0, "sigaction");
    CHECK(sigaction(SIGSYS, NULL, &old) == 0, "sigaction query");
    printf("reported action is ours: %s, SA_SIGINFO: %s\n", old.sa_sigaction == (void *)on_sys ? "yes" : "no",
           old.sa_flags & SA_SIGINFO ? "yes" : "no");
    CHECK(kill(getpid(), SIGSYS) == 0, "kill");
    printf("handler ran %d time(s), si_code SI_USER: %s\n", (int)got, code == SI_USER ? "yes" : "no");
    CHECK(raise(SIGSYS) == 0, "raise");
    printf("after raise: handler ran %d time(s)\n", (int)got);
    signal(SIGSYS, SIG_IGN);
    CHECK(kill(getpid(), SIGSYS) == 0, "kill");
    printf("ignored SIGSYS: still here\n");
    signal(SIGSYS, SIG_DFL);
    pid_t c = fork();
    if (c == 0) {
        raise(SIGSYS);
        _exit(0);
    }
    int st = 0;
    CHECK(waitpid(c, &st, 0) == c, "waitpid");
    printf("child with SIG_DFL: %s\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS ? "killed by SIGSYS" : "survived");
    /* Raw calls still work after all that. */
    printf("getpid: %s\n", syscall(SYS_getpid) == getpid() ? "ok" : "wrong");
    return 0;
}
