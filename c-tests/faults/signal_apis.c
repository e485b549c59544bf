/* Every way of installing a handler decides, as natively, whether a blocked call is
 * interrupted (EINTR) or restarted: sysv_signal, sigset (no SA_RESTART), siginterrupt,
 * bsd_signal/signal (SA_RESTART); and what the previous handler was. A call with a
 * socket timeout (SO_RCVTIMEO) is never restarted (signal(7)); wait() with an
 * SA_RESTART SIGCHLD handler returns the child.
 *
 * Each case blocks the main thread in read() on a pipe while a 100 ms timer fires; a
 * helper thread writes the pipe after 0.5 s, so a call that is not interrupted
 * returns data instead of hanging.
 */
#include "../common.h"
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

extern __sighandler_t sysv_signal(int, __sighandler_t);
extern __sighandler_t bsd_signal(int, __sighandler_t);

static volatile sig_atomic_t hits;
static void h1(int s) { (void)s; hits++; }
static void h2(int s) { (void)s; hits++; }
static int pfd[2];

static void *late_writer(void *arg) {
    (void)arg;
    usleep(500 * 1000);
    CHECK(write(pfd[1], "x", 1) == 1, "write");
    return NULL;
}

static void arm(int ms) {
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
}

/* read() on the pipe with a timer armed: "EINTR" or "data". */
static const char *blocked_read(void) {
    CHECK(pipe(pfd) == 0, "pipe");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, late_writer, NULL) == 0, "create");
    hits = 0;
    arm(100);
    char c;
    ssize_t n = read(pfd[0], &c, 1);
    int e = errno;
    CHECK(pthread_join(t, NULL) == 0, "join");
    close(pfd[0]);
    close(pfd[1]);
    CHECK(hits == 1, "handler ran %d times", (int)hits);
    if (n == 1) return "data";
    return e == EINTR ? "EINTR" : strerror(e);
}

static void report(const char *what, const char *got, const char *want) {
    printf("%-34s %s\n", what, got);
    CHECK(strcmp(got, want) == 0, "%s: got %s, natively %s", what, got, want);
}

int main(void) {
    /* sysv_signal: SA_RESETHAND|SA_NODEFER, no SA_RESTART. */
    CHECK(sysv_signal(SIGALRM, h1) != SIG_ERR, "sysv_signal");
    report("sysv_signal read", blocked_read(), "EINTR");
    /* The disposition was reset by the delivery. */
    report("sysv_signal reset to SIG_DFL", signal(SIGALRM, h1) == SIG_DFL ? "yes" : "no", "yes");

    /* signal() is BSD: restarted. */
    report("signal read", blocked_read(), "data");
    /* siginterrupt(sig, 1) turns SA_RESTART off, (sig, 0) back on. */
    CHECK(siginterrupt(SIGALRM, 1) == 0, "siginterrupt");
    report("siginterrupt(1) read", blocked_read(), "EINTR");
    CHECK(siginterrupt(SIGALRM, 0) == 0, "siginterrupt");
    report("siginterrupt(0) read", blocked_read(), "data");

    /* sigset: no SA_RESTART; returns the previous handler. */
    report("sigset returns previous", sigset(SIGALRM, h2) == h1 ? "h1" : "other", "h1");
    report("sigset read", blocked_read(), "EINTR");
    report("signal returns sigset's", signal(SIGALRM, h1) == h2 ? "h2" : "other", "h2");
    report("bsd_signal returns previous", bsd_signal(SIGALRM, h2) == h1 ? "h1" : "other", "h1");
    report("bsd_signal read", blocked_read(), "data");
    struct sigaction old;
    CHECK(sigaction(SIGALRM, NULL, &old) == 0, "sigaction");
    report("sigaction sees the handler", old.sa_handler == h2 ? "h2" : "other", "h2");

    /* SO_RCVTIMEO: never restarted, even with SA_RESTART. */
    {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
        struct timeval tv = {5, 0};
        CHECK(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
        struct sigaction sa = {0};
        sa.sa_handler = h1;
        sa.sa_flags = SA_RESTART;
        CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
        hits = 0;
        arm(100);
        char c;
        long long t0 = now_ms();
        ssize_t n = recv(sv[0], &c, 1, 0);
        int e = errno;
        metric("rcvtimeo_ms", now_ms() - t0);
        report("recv SO_RCVTIMEO + SA_RESTART", n < 0 && e == EINTR ? "EINTR" : n < 0 ? strerror(e) : "data", "EINTR");
        hits = 0;
        arm(100);
        n = read(sv[0], &c, 1);
        e = errno;
        report("read SO_RCVTIMEO + SA_RESTART", n < 0 && e == EINTR ? "EINTR" : n < 0 ? strerror(e) : "data", "EINTR");
        close(sv[0]);
        close(sv[1]);
    }

    /* SIGCHLD handler with SA_RESTART: wait() and waitpid(-1) return the child. */
    {
        CHECK(signal(SIGCHLD, h1) != SIG_ERR, "signal");
        for (int i = 0; i < 2; i++) {
            hits = 0;
            pid_t pid = fork();
            CHECK(pid >= 0, "fork");
            if (pid == 0) {
                usleep(100 * 1000);
                _exit(7);
            }
            int st = 0;
            pid_t r = i == 0 ? wait(&st) : waitpid(-1, &st, 0);
            report(i == 0 ? "wait with SIGCHLD handler" : "waitpid(-1) with SIGCHLD handler",
                   r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7 ? "child" : r < 0 ? strerror(errno) : "other", "child");
        }
        /* Without SA_RESTART too: the exit that raises SIGCHLD completes the wait. */
        struct sigaction sa = {0};
        sa.sa_handler = h1;
        CHECK(sigaction(SIGCHLD, &sa, NULL) == 0, "sigaction");
        int got = 0;
        for (int i = 0; i < 20; i++) {
            pid_t pid = fork();
            CHECK(pid >= 0, "fork");
            if (pid == 0) {
                usleep(20 * 1000);
                _exit(3);
            }
            int st = 0;
            pid_t r = i % 2 ? wait(&st) : waitpid(-1, &st, 0);
            if (r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 3) got++;
            else if (r < 0) {
                CHECK(errno == EINTR, "wait: %s", strerror(errno));
                CHECK(waitpid(pid, &st, 0) == pid, "reap");
            }
        }
        printf("%-34s %d of 20\n", "wait, SIGCHLD handler, no restart", got);
        CHECK(got == 20, "wait returned the child %d of 20 times", got);
        signal(SIGCHLD, SIG_DFL);
    }
    return 0;
}
