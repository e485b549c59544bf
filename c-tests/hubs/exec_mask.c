/* exec_mask: a new program image inherits the signal mask of the thread that made it.
 * main blocks SIGUSR1; a thread (on the second hub under GREENSHIM_HUBS=2: the first
 * thread created goes to the idle hub) also blocks SIGUSR2 and SIGRTMAX-1 (the shim's
 * own signal while it preempts without the raw layer), then starts this program again
 * with posix_spawn, posix_spawnp (with and without a mask of its own), fork+execv,
 * fork+execl, fork+execle, vfork+execv, and at last execl itself, replacing the
 * process (main waits in pthread_join); main spawns once too. A failed exec leaves the
 * thread's mask as it was. Each new image prints the signals it has blocked, as
 * sigprocmask reports them. (Under the shim a program exec'd from a thread on hub 1
 * once started with nearly every signal blocked, SIGTERM and SIGINT included: that
 * hub's kernel mask.)
 *
 * stdout: one line per new image.
 */
#include "../common.h"
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static void child(const char *how, int argc) {
    sigset_t m;
    CHECK(sigprocmask(SIG_SETMASK, NULL, &m) == 0, "query");
    const struct { int sig; const char *name; } names[] = {
        {SIGINT, "INT"}, {SIGTERM, "TERM"}, {SIGUSR1, "USR1"}, {SIGUSR2, "USR2"}, {SIGCHLD, "CHLD"}, {SIGHUP, "HUP"}, {0, "RTMAX-1"}};
    const char *e = getenv("GREENSHIM_EXEC_MASK_ENV");
    if (e) printf("environment: %s; ", e);
    printf("%-28s blocked:", how);
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (sigismember(&m, names[i].sig ? names[i].sig : SIGRTMAX - 1)) printf(" %s", names[i].name);
    printf(" (%d arguments)\n", argc);
    fflush(stdout);
}

static char self[4096];

static void reap(pid_t pid) {
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d status %d", (int)pid, st);
}

static void spawn(const char *how, const posix_spawnattr_t *attr, int p) {
    char *argv[] = {"exec_mask", "child", (char *)how, NULL};
    pid_t pid;
    int e = p ? posix_spawnp(&pid, self, NULL, attr, argv, environ) : posix_spawn(&pid, self, NULL, attr, argv, environ);
    CHECK(e == 0, "posix_spawn: %s", strerror(e));
    reap(pid);
}

static void *thread(void *arg) {
    (void)arg;
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR2);
    sigaddset(&m, SIGRTMAX - 1);
    CHECK(pthread_sigmask(SIG_BLOCK, &m, NULL) == 0, "block");
    spawn("thread, posix_spawn", NULL, 0);
    posix_spawnattr_t a;
    posix_spawnattr_init(&a);
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    posix_spawnattr_setsigmask(&a, &term);
    posix_spawnattr_setflags(&a, POSIX_SPAWN_SETSIGMASK);
    spawn("thread, posix_spawnp + mask", &a, 1);
    posix_spawnattr_destroy(&a);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"exec_mask", "child", "thread, fork + execv", NULL};
        execv(self, argv);
        _exit(127);
    }
    reap(pid);
    pid = fork();
    if (pid == 0) {
        execl(self, "exec_mask", "child", "thread, fork + execl", (char *)NULL);
        _exit(127);
    }
    reap(pid);
    pid = fork();
    if (pid == 0) {
        execle(self, "exec_mask", "child", "thread, fork + execle", (char *)NULL, environ);
        _exit(127);
    }
    reap(pid);
    /* Past the six argument registers: the list continues on the caller's stack (and
     * execle's envp after its null). */
    pid = fork();
    if (pid == 0) {
        execl(self, "exec_mask", "child", "thread, execl, 11 arguments", "4", "5", "6", "7", "8", "9", "10", "11", (char *)NULL);
        _exit(127);
    }
    reap(pid);
    pid = fork();
    if (pid == 0) {
        char *env[] = {"GREENSHIM_EXEC_MASK_ENV=from execle", NULL};
        execle(self, "exec_mask", "child", "thread, execle, 9 arguments", "4", "5", "6", "7", "8", "9", (char *)NULL, env);
        _exit(127);
    }
    reap(pid);
    pid = vfork();
    if (pid == 0) {
        char *argv[] = {"exec_mask", "child", "thread, vfork + execv", NULL};
        execv(self, argv);
        _exit(127);
    }
    reap(pid);
    /* A failed exec changes nothing: the thread's mask is as it was. */
    char *none[] = {"none", NULL};
    CHECK(execv("/nonexistent/greenshim-test", none) == -1 && errno == ENOENT, "failed exec");
    sigset_t after;
    CHECK(pthread_sigmask(SIG_BLOCK, NULL, &after) == 0, "query");
    printf("after a failed exec: USR2 %d, RTMAX-1 %d, TERM %d\n", sigismember(&after, SIGUSR2), sigismember(&after, SIGRTMAX - 1), sigismember(&after, SIGTERM));
    fflush(stdout);
    if (arg) {
        /* The thread replaces the process (main waits in pthread_join). */
        sigaddset(&after, SIGINT);
        CHECK(pthread_sigmask(SIG_SETMASK, &after, NULL) == 0, "setmask");
        execl(self, "exec_mask", "child", "thread, execl", (char *)NULL);
        printf("exec failed: %s\n", strerror(errno));
        exit(1);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "child") == 0) {
        child(argv[2], argc);
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0, "readlink");
    self[n] = 0;
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    CHECK(pthread_sigmask(SIG_BLOCK, &m, NULL) == 0, "block");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread, NULL) == 0, "create");
    CHECK(pthread_join(t, NULL) == 0, "join");
    spawn("main, posix_spawn", NULL, 0);
    /* Last, from a thread again, which then execs, replacing the process. */
    CHECK(pthread_create(&t, NULL, thread, (void *)1) == 0, "create");
    pthread_join(t, NULL);
    return 1;
}
