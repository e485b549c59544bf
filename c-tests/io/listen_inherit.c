/* listen_inherit: a child inherits the listening socket while the parent keeps
 * accepting in one thread and another thread keeps ticking.
 *
 * Why: the listening socket's open file description is shared with the child.
 * A shim that keeps a hidden O_NONBLOCK on it, and clears it for the child's
 * sake at the exec, leaves the parent with a really blocking listener: when a
 * connection it was told about by poll is taken by the child, the parent's
 * accept() blocks the one OS thread and every green thread stops until the
 * next client connects (a deadlock when that client is one of its threads).
 * Four rounds, each with a fresh listener on 127.0.0.1 (socket(), blocking,
 * inherited: no SOCK_CLOEXEC) and a ticker thread (usleep 5 ms):
 *   hold:   fork + execve("/bin/sleep", "5"), the child just holds the fd;
 *   accept: fork + execve(this program, "accept-child", fd, 3): the child
 *           blocks in accept() on the inherited fd, serves 3 connections
 *           (writes 'c') and exits 0;
 * each once with the child's LD_PRELOAD set empty (no shim in the child) and
 * once with the parent's environment. Meanwhile an acceptor thread in the
 * parent accepts N - (connections the child serves) connections, writes 'p'
 * to each. The main thread first sleeps 300 ms (the acceptor waits in accept,
 * the ticker must tick >= 10 times), then connects N = 12 clients one after
 * another, each reading its one byte; then sleeps 300 ms more (acceptor idle
 * or done, ticker must tick). Checked: every client got its byte, the parent
 * served N (hold) or N - 3 (accept), the child served 3 and exited 0, F_GETFL
 * of the listener shows no O_NONBLOCK. A 12 s alarm watchdog fails on a hang.
 *
 * Result under the shim that kept a hidden O_NONBLOCK on sockets (commit
 * 896db20): every round hangs once the clients connect (watchdog): the
 * parent's accept() blocks the process.
 *
 * stdout (deterministic): one line per round.
 * metrics: os_threads_max, ticks_min (fewest ticks in any 300 ms window).
 */
#include "../common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define N 12
#define CHILD_SERVES 3

extern char **environ;

static volatile int stop_ticker;
static int ticks;
static int os_max;
static int ticks_min = 1 << 30;

static const char *volatile phase = "start";

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: listen_inherit hung for 12 s (accept blocked the process?) in: ";
    ssize_t w = write(2, msg, sizeof msg - 1);
    w = write(2, (const char *)phase, strlen((const char *)phase));
    w = write(2, "\n", 1);
    (void)w;
    _exit(1);
}

static int get_ticks(void) { return __atomic_load_n(&ticks, __ATOMIC_SEQ_CST); }

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        CHECK(usleep(5000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static int child_accept(int fd, int k) {
    for (int i = 0; i < k; i++) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) {
            fprintf(stderr, "FAIL: child accept: %s\n", strerror(errno));
            return 1;
        }
        if (write(c, "c", 1) != 1) return 1;
        close(c);
    }
    return 0;
}

struct acceptor {
    int lfd;
    int want;
    int served;
};

static void *acceptor(void *arg) {
    struct acceptor *a = arg;
    for (int i = 0; i < a->want; i++) {
        int c = accept(a->lfd, NULL, NULL);
        CHECK(c >= 0, "parent accept: %s", strerror(errno));
        CHECK(write(c, "p", 1) == 1, "write: %s", strerror(errno));
        CHECK(close(c) == 0, "close: %s", strerror(errno));
        __atomic_fetch_add(&a->served, 1, __ATOMIC_SEQ_CST);
        if (i == 0) {
            int t = os_threads();
            if (t > os_max) os_max = t;
        }
    }
    return NULL;
}

static char **child_env(int shim_in_child) {
    static char *env[512];
    int n = 0;
    for (char **e = environ; *e && n < 500; e++)
        if (shim_in_child || strncmp(*e, "LD_PRELOAD=", 11) != 0) env[n++] = *e;
    if (!shim_in_child) env[n++] = "LD_PRELOAD=";
    env[n] = NULL;
    return env;
}

static int idle_window(void) {
    int t0 = get_ticks();
    CHECK(usleep(300000) == 0, "usleep: %s", strerror(errno));
    int d = get_ticks() - t0;
    if (d < ticks_min) ticks_min = d;
    return d;
}

static void round_(int child_accepts, int shim_in_child, const char *self) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(lfd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s", strerror(errno));
    CHECK(listen(lfd, 64) == 0, "listen: %s", strerror(errno));
    CHECK(getsockname(lfd, (struct sockaddr *)&a, &al) == 0, "getsockname: %s", strerror(errno));

    char fdarg[16], karg[16];
    snprintf(fdarg, sizeof fdarg, "%d", lfd);
    snprintf(karg, sizeof karg, "%d", CHILD_SERVES);
    char *hold[] = {"sleep", "5", NULL};
    char *acc[] = {(char *)self, "accept-child", fdarg, karg, NULL};
    char **env = child_env(shim_in_child);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        if (child_accepts)
            execve(self, acc, env);
        else
            execve("/bin/sleep", hold, env);
        _exit(127);
    }
    struct acceptor ac = {.lfd = lfd, .want = child_accepts ? N - CHILD_SERVES : N};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, acceptor, &ac) == 0, "pthread_create");
    static char ph[128];
    snprintf(ph, sizeof ph, "%s child %s the shim, first idle window", child_accepts ? "accepting" : "holding",
             shim_in_child ? "with" : "without");
    phase = ph;
    int w1 = idle_window();
    ph[strlen(ph) - strlen("first idle window")] = 0;
    strcat(ph, "clients");
    int got_p = 0, got_c = 0;
    for (int i = 0; i < N; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(c >= 0, "socket: %s", strerror(errno));
        CHECK(connect(c, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
        char b = 0;
        CHECK(read(c, &b, 1) == 1, "client %d read: %s", i, strerror(errno));
        if (b == 'p') got_p++;
        if (b == 'c') got_c++;
        CHECK(close(c) == 0, "close: %s", strerror(errno));
    }
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    ph[strlen(ph) - strlen("clients")] = 0;
    strcat(ph, "second idle window");
    int w2 = idle_window();
    int st;
    if (!child_accepts) CHECK(kill(pid, SIGKILL) == 0, "kill: %s", strerror(errno));
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
    int fl = fcntl(lfd, F_GETFL);
    CHECK(fl >= 0, "F_GETFL: %s", strerror(errno));
    CHECK(close(lfd) == 0, "close: %s", strerror(errno));

    const char *label = child_accepts ? "accepting child" : "holding child";
    const char *with = shim_in_child ? "with" : "without";
    CHECK(w1 >= 10, "%s %s the shim: ticker ticked %d times in 300 ms while accept waited", label, with, w1);
    CHECK(w2 >= 10, "%s %s the shim: ticker ticked %d times in the 300 ms after", label, with, w2);
    CHECK(!(fl & O_NONBLOCK), "%s %s the shim: F_GETFL of the listener shows O_NONBLOCK", label, with);
    CHECK(got_p + got_c == N, "%s: %d clients served", label, got_p + got_c);
    CHECK(ac.served == got_p, "parent served %d, clients saw %d", ac.served, got_p);
    if (child_accepts) {
        CHECK(got_c == CHILD_SERVES, "%s %s the shim: child served %d", label, with, got_c);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child status 0x%x", label, st);
    } else {
        CHECK(got_c == 0, "holding child served %d", got_c);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "holding child status 0x%x", st);
    }
    printf("%s %s the shim: parent served %d, child %d, all %d clients answered; ticker ran while accept waited: yes; listener blocking\n",
           label, with, got_p, got_c, N);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "accept-child") == 0) return child_accept(atoi(argv[2]), atoi(argv[3]));
    /* "only R" runs round R (0..3) alone: for diagnosis. */
    int only = argc == 3 && strcmp(argv[1], "only") == 0 ? atoi(argv[2]) : -1;
    signal(SIGALRM, on_alarm);
    alarm(12);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0, "readlink: %s", strerror(errno));
    self[n] = 0;
    pthread_t tk;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "pthread_create");
    for (int child_accepts = 0; child_accepts <= 1; child_accepts++)
        for (int shim = 0; shim <= 1; shim++)
            if (only < 0 || only == child_accepts * 2 + shim) round_(child_accepts, shim, self);
    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(tk, NULL) == 0, "pthread_join");
    metric("ticks_min", ticks_min);
    metric("os_threads_max", os_max);
    return 0;
}
