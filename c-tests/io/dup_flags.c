/* dup_flags: O_NONBLOCK belongs to the open file description, not the fd.
 *
 * Why: greenshim keeps its own per-fd view of whether the program asked for
 * non-blocking I/O (it puts O_NONBLOCK on fds itself). That view must follow
 * the kernel's rule: dup'ed fds, dup2/dup3/F_DUPFD_CLOEXEC copies and a
 * forked child all share one file description, so a flag set through one is
 * seen through all of them, and a blocking read through one really blocks
 * (parks) once the flag is cleared through another.
 *   1. pipe: B = dup(A); fcntl(A, F_SETFL, O_NONBLOCK) -> F_GETFL(B) has
 *      O_NONBLOCK and read(B) fails with EAGAIN; clear it via B -> F_GETFL(A)
 *      lacks it and read(A) blocks until a writer thread writes after 50 ms;
 *   2. C = dup2(A, 100), D = fcntl(A, F_DUPFD_CLOEXEC, 200),
 *      E = dup3(A, 150, O_CLOEXEC): FD_CLOEXEC only on D and E; O_NONBLOCK set
 *      via C is seen via D, E, A (EAGAIN); cleared via D -> read(E) blocks
 *      until written;
 *   3. pipe2(O_NONBLOCK): a dup of the read end reports O_NONBLOCK, EAGAIN;
 *   4. socketpair: ioctl(FIONBIO, 1) on one end -> its dup shows O_NONBLOCK,
 *      recv and read on the dup fail with EAGAIN; ioctl(FIONBIO, 0) via the
 *      dup -> recv on the original blocks until the peer sends;
 *   5. fork (a ticker thread running in the parent): the child sees the
 *      O_NONBLOCK the parent set (F_GETFL and EAGAIN), clears it, and blocks
 *      in read on another pipe until the parent writes; the parent then sees
 *      the flag cleared (F_GETFL) and read blocks until written;
 *   6. the reverse: a child sets O_NONBLOCK on a pipe the parent has used
 *      blocking; the parent sees it (F_GETFL) and read fails with EAGAIN.
 * Each blocking read has a 2 s watchdog (alarm -> FAIL).
 *
 * stdout (deterministic): one line per check, see the printf calls.
 * metrics: os_threads_max, ticks.
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

static volatile int stop_ticker;
static int ticks;
static int os_max;

static void note_threads(void) {
    int n = os_threads();
    if (n > os_max) os_max = n;
}

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        CHECK(usleep(5000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: a blocking read was not woken within 2 s\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static int nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0, "F_GETFL(%d): %s", fd, strerror(errno));
    return (fl & O_NONBLOCK) != 0;
}

static void set_nonblock(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0, "F_GETFL(%d): %s", fd, strerror(errno));
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    CHECK(fcntl(fd, F_SETFL, fl) == 0, "F_SETFL(%d): %s", fd, strerror(errno));
}

static void expect_eagain(int fd, int use_recv, const char *what) {
    char c;
    ssize_t r = use_recv ? recv(fd, &c, 1, 0) : read(fd, &c, 1);
    CHECK(r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK), "%s: returned %zd (%s), want -1 EAGAIN", what, r,
          r < 0 ? strerror(errno) : "data");
}

struct late { int fd; char byte; };
static void *late_writer(void *arg) {
    struct late *l = arg;
    CHECK(usleep(50000) == 0, "usleep: %s", strerror(errno));
    CHECK(write(l->fd, &l->byte, 1) == 1, "late write: %s", strerror(errno));
    return NULL;
}

/* read (or recv) on rfd must block until another thread writes wfd 50 ms later */
static void expect_blocks(int rfd, int wfd, int use_recv, const char *what) {
    struct late l = {wfd, 'w'};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, late_writer, &l) == 0, "create writer");
    note_threads();
    alarm(2);
    long long t0 = now_ms();
    char c = 0;
    ssize_t r = use_recv ? recv(rfd, &c, 1, 0) : read(rfd, &c, 1);
    int e = errno;
    long long dt = now_ms() - t0;
    alarm(0);
    CHECK(r == 1 && c == 'w', "%s: returned %zd (%s), want the byte written later", what, r, r < 0 ? strerror(e) : "");
    CHECK(dt >= 40, "%s: returned after %lld ms, before the writer wrote", what, dt);
    CHECK(pthread_join(t, NULL) == 0, "join writer");
}

int main(void) {
    signal(SIGALRM, on_alarm);
    pthread_t tk;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create ticker");
    note_threads();

    /* 1. dup */
    int p[2];
    CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
    int A = p[0], B = dup(A);
    CHECK(B >= 0, "dup: %s", strerror(errno));
    CHECK(!nonblock(A) && !nonblock(B), "fresh pipe is non-blocking");
    set_nonblock(A, 1);
    CHECK(nonblock(B), "O_NONBLOCK set via A not seen via its dup B");
    expect_eagain(B, 0, "read(B)");
    printf("dup: O_NONBLOCK set via A is seen via B, read(B) -> EAGAIN\n");
    set_nonblock(B, 0);
    CHECK(!nonblock(A), "O_NONBLOCK cleared via B still seen via A");
    expect_blocks(A, p[1], 0, "read(A) after clearing via B");
    printf("dup: cleared via B, read(A) blocks until written\n");

    /* 2. dup2, F_DUPFD_CLOEXEC, dup3 */
    int C = dup2(A, 100);
    CHECK(C == 100, "dup2: %d %s", C, strerror(errno));
    int D = fcntl(A, F_DUPFD_CLOEXEC, 200);
    CHECK(D >= 200, "F_DUPFD_CLOEXEC: %d %s", D, strerror(errno));
    int E = dup3(A, 150, O_CLOEXEC);
    CHECK(E == 150, "dup3: %d %s", E, strerror(errno));
    CHECK(fcntl(C, F_GETFD) == 0, "dup2 copy has FD_CLOEXEC");
    CHECK(fcntl(D, F_GETFD) == FD_CLOEXEC, "F_DUPFD_CLOEXEC copy lacks FD_CLOEXEC");
    CHECK(fcntl(E, F_GETFD) == FD_CLOEXEC, "dup3(O_CLOEXEC) copy lacks FD_CLOEXEC");
    printf("dup2/F_DUPFD_CLOEXEC/dup3: FD_CLOEXEC only on the CLOEXEC copies\n");
    set_nonblock(C, 1);
    CHECK(nonblock(D) && nonblock(E) && nonblock(A) && nonblock(B), "O_NONBLOCK set via the dup2 copy not seen by all");
    expect_eagain(D, 0, "read(D)");
    expect_eagain(E, 0, "read(E)");
    expect_eagain(A, 0, "read(A)");
    printf("dup2: O_NONBLOCK set via C is seen via D, E, A; reads -> EAGAIN\n");
    set_nonblock(D, 0);
    CHECK(!nonblock(C) && !nonblock(E), "O_NONBLOCK cleared via D still seen");
    expect_blocks(E, p[1], 0, "read(E) after clearing via D");
    expect_blocks(C, p[1], 0, "read(C) after clearing via D");
    printf("F_DUPFD_CLOEXEC: cleared via D, read(E) and read(C) block until written\n");
    close(B);
    close(C);
    close(D);
    close(E);

    /* 3. pipe2(O_NONBLOCK) */
    int q[2];
    CHECK(pipe2(q, O_NONBLOCK) == 0, "pipe2: %s", strerror(errno));
    int Q = dup(q[0]);
    CHECK(Q >= 0 && nonblock(Q), "dup of a pipe2(O_NONBLOCK) end lacks O_NONBLOCK");
    expect_eagain(Q, 0, "read(dup of pipe2 end)");
    printf("pipe2(O_NONBLOCK): the dup reports O_NONBLOCK, read -> EAGAIN\n");
    close(Q);
    close(q[0]);
    close(q[1]);

    /* 4. ioctl(FIONBIO) on a socketpair */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    int S = dup(sv[0]);
    CHECK(S >= 0, "dup: %s", strerror(errno));
    int one = 1, zero = 0;
    CHECK(ioctl(sv[0], FIONBIO, &one) == 0, "ioctl FIONBIO 1: %s", strerror(errno));
    CHECK(nonblock(S), "FIONBIO on the socket not seen via its dup");
    expect_eagain(S, 1, "recv(dup)");
    expect_eagain(S, 0, "read(dup)");
    printf("FIONBIO: set on the socket, its dup shows O_NONBLOCK, recv/read -> EAGAIN\n");
    CHECK(ioctl(S, FIONBIO, &zero) == 0, "ioctl FIONBIO 0: %s", strerror(errno));
    CHECK(!nonblock(sv[0]), "FIONBIO 0 via the dup not seen on the socket");
    expect_blocks(sv[0], sv[1], 1, "recv after FIONBIO 0 via the dup");
    printf("FIONBIO: cleared via the dup, recv blocks until the peer sends\n");
    close(S);
    close(sv[0]);
    close(sv[1]);

    /* 5. fork */
    int f[2], go[2];
    CHECK(pipe(f) == 0 && pipe(go) == 0, "pipe: %s", strerror(errno));
    set_nonblock(f[0], 1);
    note_threads();
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        alarm(2);
        if (!nonblock(f[0])) _exit(2);
        char c;
        if (read(f[0], &c, 1) != -1 || errno != EAGAIN) _exit(3);
        set_nonblock(f[0], 0);
        /* a blocking read in the child, woken by the parent */
        if (read(go[0], &c, 1) != 1 || c != 'g') _exit(4);
        _exit(0);
    }
    CHECK(usleep(30000) == 0, "usleep: %s", strerror(errno));
    CHECK(write(go[1], "g", 1) == 1, "write go: %s", strerror(errno));
    int st;
    alarm(2);
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
    alarm(0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child: status 0x%x (2: flag not inherited, 3: no EAGAIN, 4: blocking read failed)", st);
    printf("fork: the child saw the parent's O_NONBLOCK (EAGAIN), cleared it, blocked in read until woken\n");
    CHECK(!nonblock(f[0]), "parent still sees O_NONBLOCK the child cleared");
    expect_blocks(f[0], f[1], 0, "parent read after the child cleared O_NONBLOCK");
    printf("fork: the parent sees the flag the child cleared, read blocks until written\n");

    /* 6. the reverse: a child sets O_NONBLOCK on a pipe the parent uses blocking */
    int g[2];
    CHECK(pipe(g) == 0, "pipe: %s", strerror(errno));
    CHECK(!nonblock(g[0]), "fresh pipe is non-blocking");
    fflush(stdout);
    pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        set_nonblock(g[0], 1);
        _exit(0);
    }
    alarm(2);
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
    alarm(0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: status 0x%x", st);
    CHECK(nonblock(g[0]), "parent does not see the O_NONBLOCK its child set");
    alarm(2);
    expect_eagain(g[0], 0, "parent read after the child set O_NONBLOCK");
    alarm(0);
    printf("fork: the parent sees the O_NONBLOCK its child set, read -> EAGAIN\n");

    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(tk, NULL) == 0, "join ticker");
    metric("ticks", ticks);
    metric("os_threads_max", os_max);
    return 0;
}
