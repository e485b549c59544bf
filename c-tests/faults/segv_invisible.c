/* The shim's stack-overflow reporter is invisible: SIGSEGV's action reads SIG_DFL,
 * there is no alternate signal stack, and a SIGSEGV the program raises or a fault it
 * makes ends the process with SIGSEGV, as natively.
 */
#include "../common.h"
#include <signal.h>
#include <sys/wait.h>

static int child_signal(int how) {
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        if (how == 0) raise(SIGSEGV);
        else if (how == 1) kill(getpid(), SIGSEGV);
        else *(volatile int *)(long)how = 1;
        _exit(0);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    return WIFSIGNALED(st) ? WTERMSIG(st) : -WEXITSTATUS(st);
}

static char own_stack[64 * 1024];

int main(void) {
    struct sigaction old;
    CHECK(sigaction(SIGSEGV, NULL, &old) == 0, "sigaction");
    printf("SIGSEGV action: %s\n", old.sa_handler == SIG_DFL ? "SIG_DFL" : "a handler");
    stack_t ss;
    CHECK(sigaltstack(NULL, &ss) == 0, "sigaltstack");
    printf("alternate stack: %s\n", ss.ss_flags & SS_DISABLE ? "none" : "present");
    printf("raise(SIGSEGV): killed by signal %d\n", child_signal(0));
    printf("kill(self, SIGSEGV): killed by signal %d\n", child_signal(1));
    printf("write to address 16: killed by signal %d\n", child_signal(16));
    stack_t mine = {.ss_sp = own_stack, .ss_size = sizeof own_stack, .ss_flags = 0};
    CHECK(sigaltstack(&mine, &ss) == 0, "sigaltstack set");
    printf("previous alternate stack: %s\n", ss.ss_flags & SS_DISABLE ? "none" : "present");
    CHECK(sigaltstack(NULL, &ss) == 0, "sigaltstack");
    printf("own alternate stack reported: %s\n", ss.ss_sp == own_stack ? "yes" : "no");
    return 0;
}
