/* The everyday "SIGCHLD handler that reaps every child" plus system(): glibc blocks
 * SIGCHLD in the thread that calls system() until its own waitpid has the child, so a
 * single-threaded program's handler never steals system()'s child, and system() returns
 * the command's status every time. Also with a thread alive (blocking SIGCHLD, as a
 * well-behaved helper does). (pclose has no such protection in glibc: natively its
 * result races with the handler, so it is not compared.)
 *
 * stdout: how often system() returned the command's status, and how many children the
 * handler reaped (only the program's own fork()ed ones).
 */
#include "../common.h"
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/wait.h>

static volatile sig_atomic_t reaped;

static void on_chld(int s) {
    (void)s;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) reaped++;
    errno = saved;
}

static atomic_int stop;
static void *helper(void *arg) {
    (void)arg;
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &m, NULL);
    while (!atomic_load(&stop)) usleep(2000);
    return NULL;
}

static void round_of(const char *label) {
    int ok = 0, bad = 0;
    for (int i = 0; i < 10; i++) {
        int st = system("exit 3");
        if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 3) ok++;
        else bad++;
    }
    printf("%s: system() gave the status %d of 10 times (%d wrong)\n", label, ok, bad);
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGCHLD, &sa, NULL) == 0, "sigaction");
    round_of("one thread");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, helper, NULL) == 0, "pthread_create");
    round_of("with a helper thread");
    /* The program's own children still reach the handler. */
    for (int i = 0; i < 3; i++) {
        pid_t p = fork();
        if (p == 0) _exit(0);
        CHECK(p > 0, "fork");
    }
    for (int i = 0; i < 200 && reaped < 3; i++) usleep(5000);
    printf("the handler reaped %d forked children\n", (int)reaped);
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    return 0;
}
