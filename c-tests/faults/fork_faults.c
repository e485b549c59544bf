/* fork from threads, as POSIX has it: only the forking thread exists in the child.
 *  1. An atfork child handler that blocks (sleeps) does not let the parent's other
 *     threads run in the child.
 *  2. A fork while another thread is inside a pthread_once init: the child's
 *     pthread_once runs the init again (glibc's fork generation) instead of hanging.
 *  3. The child starts with the forking thread's signal mask.
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

static pid_t parent_pid;
static int leak[2];
static volatile int stop;

static void child_handler(void) {
    if (getpid() != parent_pid) usleep(50 * 1000);
}

static void *parent_only(void *arg) {
    (void)arg;
    while (!stop) {
        if (getpid() != parent_pid) {
            /* Natively this thread does not exist in a child. */
            if (write(leak[1], "X", 1) != 1) _exit(3);
        }
        usleep(1000);
    }
    return NULL;
}

static int child_status(pid_t pid) {
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static volatile int init_runs_here;
static void slow_init(void) {
    usleep(200 * 1000);
    init_runs_here++;
}
static void *once_caller(void *arg) {
    (void)arg;
    pthread_once(&once, slow_init);
    return NULL;
}

static void *fork_with_mask(void *arg) {
    (void)arg;
    sigset_t m, cur;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    CHECK(pthread_sigmask(SIG_BLOCK, &m, NULL) == 0, "block");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        sigprocmask(SIG_BLOCK, NULL, &cur);
        _exit(sigismember(&cur, SIGUSR1) ? 0 : 1);
    }
    return (void *)(long)child_status(pid);
}

int main(void) {
    parent_pid = getpid();
    CHECK(pipe2(leak, O_NONBLOCK) == 0, "pipe");
    CHECK(pthread_atfork(NULL, NULL, child_handler) == 0, "atfork");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, parent_only, NULL) == 0, "create");
    usleep(5000);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        usleep(50 * 1000);
        char buf[64];
        _exit(read(leak[0], buf, sizeof buf) > 0 ? 1 : 0);
    }
    printf("blocking atfork child handler: parent's thread ran in the child: %s\n", child_status(pid) ? "yes" : "no");
    stop = 1;
    CHECK(pthread_join(t, NULL) == 0, "join");

    CHECK(pthread_create(&t, NULL, once_caller, NULL) == 0, "create");
    usleep(50 * 1000);
    pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        pthread_once(&once, slow_init);
        _exit(init_runs_here == 1 ? 0 : 1);
    }
    int st = child_status(pid);
    printf("fork during pthread_once: child ran the init itself: %s\n", st == 0 ? "yes" : "no");
    CHECK(pthread_join(t, NULL) == 0, "join");
    printf("fork during pthread_once: parent ran it once: %s\n", init_runs_here == 1 ? "yes" : "no");

    void *r;
    CHECK(pthread_create(&t, NULL, fork_with_mask, NULL) == 0, "create");
    CHECK(pthread_join(t, &r) == 0, "join");
    printf("child of a thread that blocked SIGUSR1 has it blocked: %s\n", r == 0 ? "yes" : "no");
    return 0;
}
