/* dup_failures: a dup2/dup3/F_DUPFD that fails changes nothing.
 *
 * Why: the kernel changes no fd when dup2/dup3/fcntl(F_DUPFD) fails. A shim
 * that updates its own per-fd state (wakes the threads parked on the target
 * fd, forgets or changes its flags) before knowing the call succeeded makes a
 * failed call visible: a reader blocked on the target wakes with EBADF, or the
 * fd starts to fail with EAGAIN as if it were non-blocking.
 * For each of a pipe (read end), an AF_UNIX socketpair end and a TCP socket
 * (socket() + connect() over 127.0.0.1), and for each failing call below: a
 * fresh reader thread blocks reading fd T (30 ms), the call is made and must
 * fail as natively, 30 ms later the reader must still be waiting, and then it
 * gets the one byte the peer writes:
 *   1. dup2(F, T) with F not open: -1 EBADF;
 *   2. dup2(T, 1 << 20) (beyond RLIMIT_NOFILE): -1 EBADF;
 *   3. dup3(W, T, 0x40000000) (bad flags): -1 EINVAL; dup3(T, T, 0): -1 EINVAL;
 *   4. fcntl(T, F_DUPFD, -1) and fcntl(T, F_DUPFD_CLOEXEC, 1 << 20): -1 EINVAL;
 *   5. with RLIMIT_NOFILE's soft limit lowered to L (a few above the highest
 *      fd below 100 in use, all of L-4..L-1 taken): fcntl(T, F_DUPFD, L-4)
 *      and dup(T) then -1 EMFILE (limit restored afterwards);
 * afterwards a read on T waits for data written 100 ms later (no EAGAIN), and F_GETFL and
 * /proc/self/fdinfo of T show no O_NONBLOCK.
 * A 10 s alarm watchdog fails on a hang.
 *
 * Result under the shim that kept a hidden O_NONBLOCK on sockets (commit
 * 896db20): dup2(fd not open, T) and dup3(W, T, bad flags) wake the reader
 * blocked on T with EBADF (pipe, socketpair, TCP); on the TCP socket every
 * later blocking read on T then fails at once with EAGAIN and fdinfo shows
 * O_NONBLOCK.
 *
 * stdout (deterministic): one line per failed call and kind, one summary per kind.
 * metrics: os_threads_max.
 */
#include "../common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

static int os_max;
static int failures;
static const char *volatile phase = "start";

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: dup_failures hung for 10 s in: ";
    ssize_t w = write(2, msg, sizeof msg - 1);
    w = write(2, (const char *)phase, strlen((const char *)phase));
    w = write(2, "\n", 1);
    (void)w;
    _exit(1);
}

static const char *errname(int e) {
    return e == EBADF ? "EBADF" : e == EINVAL ? "EINVAL" : e == EMFILE ? "EMFILE" : strerrorname_np(e);
}

struct reader {
    int fd;
    int done;
    ssize_t r;
    int err;
    char buf[16];
};

static void *reader(void *arg) {
    struct reader *rd = arg;
    errno = 0;
    rd->r = read(rd->fd, rd->buf, sizeof rd->buf);
    rd->err = errno;
    int t = os_threads();
    if (t > os_max) os_max = t;
    __atomic_store_n(&rd->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static long fdinfo_flags(int fd) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long flags = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "flags: %lo", &flags) == 1) break;
    fclose(f);
    return flags;
}

enum call { DUP2_NOTOPEN, DUP2_RANGE, DUP3_FLAGS, DUP3_SAME, DUPFD_NEG, DUPFD_CLOEXEC_RANGE, DUPFD_EMFILE, DUP_EMFILE, NCALLS };
static const char *call_name[] = {
    "dup2(fd not open, T)",
    "dup2(T, 1<<20)",
    "dup3(W, T, bad flags)",
    "dup3(T, T, 0)",
    "fcntl(T, F_DUPFD, -1)",
    "fcntl(T, F_DUPFD_CLOEXEC, 1<<20)",
    "fcntl(T, F_DUPFD, L-4) with L-4..L-1 taken",
    "dup(T) with no free fd below the limit",
};
static const int call_err[] = {EBADF, EBADF, EINVAL, EINVAL, EINVAL, EINVAL, EMFILE, EMFILE};

/* Makes the call; returns its result, errno in *e. */
static int do_call(enum call c, int t, int w, int *e) {
    const int notopen = 777;
    int r;
    if (c == DUPFD_EMFILE || c == DUP_EMFILE) {
        /* Lower the soft limit to L with every fd below L taken. */
        int hi = 0;
        for (int fd = 0; fd < 100; fd++)
            if (fcntl(fd, F_GETFD) >= 0) hi = fd;
        int lim = hi + 8;
        int devnull = open("/dev/null", O_RDONLY);
        CHECK(devnull >= 0, "open: %s", strerror(errno));
        int taken[128], nt = 0;
        for (int fd = 0; fd < lim; fd++)
            if (fcntl(fd, F_GETFD) == -1) {
                CHECK(nt < 128 && dup2(devnull, fd) == fd, "dup2 filler %d: %s", fd, strerror(errno));
                taken[nt++] = fd;
            }
        CHECK(fcntl(lim - 4, F_GETFD) >= 0, "fd L-4 not taken");
        struct rlimit old, low;
        CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0, "getrlimit: %s", strerror(errno));
        low = old;
        low.rlim_cur = (rlim_t)lim;
        CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit: %s", strerror(errno));
        errno = 0;
        r = c == DUPFD_EMFILE ? fcntl(t, F_DUPFD, lim - 4) : dup(t);
        *e = errno;
        CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0, "setrlimit: %s", strerror(errno));
        for (int i = 0; i < nt; i++) close(taken[i]);
        close(devnull);
        return r;
    }
    CHECK(fcntl(notopen, F_GETFD) == -1 && errno == EBADF, "fd %d is open", notopen);
    errno = 0;
    switch (c) {
    case DUP2_NOTOPEN: r = dup2(notopen, t); break;
    case DUP2_RANGE: r = dup2(t, 1 << 20); break;
    case DUP3_FLAGS: r = dup3(w, t, 0x40000000); break;
    case DUP3_SAME: r = dup3(t, t, 0); break;
    case DUPFD_NEG: r = fcntl(t, F_DUPFD, -1); break;
    default: r = fcntl(t, F_DUPFD_CLOEXEC, 1 << 20); break;
    }
    *e = errno;
    return r;
}

/* A fresh reader blocks on T; the call must fail as natively and the reader keep
 * waiting; then one byte written to W reaches it. Returns 1 if all went as natively. */
static int one_call(const char *kind, enum call c, int t, int w) {
    struct reader rd = {.fd = t};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, reader, &rd) == 0, "pthread_create");
    CHECK(usleep(30000) == 0, "usleep");
    if (__atomic_load_n(&rd.done, __ATOMIC_SEQ_CST)) {
        CHECK(pthread_join(th, NULL) == 0, "pthread_join");
        fprintf(stderr, "FAIL: %s: before %s, a blocking read on T returned at once: %zd (%s)\n", kind, call_name[c], rd.r,
                rd.r < 0 ? errname(rd.err) : "bytes");
        return 0;
    }
    int e;
    int r = do_call(c, t, w, &e);
    CHECK(usleep(30000) == 0, "usleep");
    int still = !__atomic_load_n(&rd.done, __ATOMIC_SEQ_CST);
    char byte = (char)('a' + c);
    CHECK(write(w, &byte, 1) == 1, "write: %s", strerror(errno));
    CHECK(pthread_join(th, NULL) == 0, "pthread_join");
    int ok = 1;
    if (r != -1 || e != call_err[c]) {
        fprintf(stderr, "FAIL: %s: %s returned %d (%s), want -1 %s\n", kind, call_name[c], r, r < 0 ? errname(e) : "",
                errname(call_err[c]));
        ok = 0;
        if (r >= 0 && r != t) close(r);
    }
    if (!still) {
        fprintf(stderr, "FAIL: %s: after %s the blocked reader returned %zd (%s)\n", kind, call_name[c], rd.r,
                rd.r < 0 ? errname(rd.err) : "bytes");
        ok = 0;
    } else if (rd.r != 1 || rd.buf[0] != byte) {
        fprintf(stderr, "FAIL: %s: after %s the reader got %zd (%s), want its byte\n", kind, call_name[c], rd.r,
                rd.r < 0 ? errname(rd.err) : "bytes");
        ok = 0;
    }
    if (!still && rd.r < 0) {
        /* Drain the byte meant for the woken reader. */
        char b;
        CHECK(read(t, &b, 1) == 1, "drain: %s", strerror(errno));
    }
    if (ok) printf("%s: %s = -1 %s; the blocked reader kept waiting and got its byte\n", kind, call_name[c], errname(call_err[c]));
    return ok;
}

struct late {
    int fd;
};
static void *late_write(void *arg) {
    struct late *l = arg;
    CHECK(usleep(100000) == 0, "usleep");
    CHECK(write(l->fd, "more", 4) == 4, "late write: %s", strerror(errno));
    return NULL;
}

static void one(const char *kind, int t, int w) {
    char phasebuf[64];
    snprintf(phasebuf, sizeof phasebuf, "%s", kind);
    phase = phasebuf;
    int before = failures;
    for (int c = 0; c < NCALLS; c++) failures += !one_call(kind, (enum call)c, t, w);
    /* T still blocks. */
    struct late l = {.fd = w};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, late_write, &l) == 0, "pthread_create");
    char buf[16];
    long long t0 = now_ms();
    errno = 0;
    ssize_t k = read(t, buf, sizeof buf);
    int ke = errno;
    long long waited = now_ms() - t0;
    CHECK(pthread_join(th, NULL) == 0, "pthread_join");
    if (k != 4 || memcmp(buf, "more", 4) != 0 || waited < 50) {
        fprintf(stderr, "FAIL: %s: a later read on T returned %zd (%s) after %lld ms, want to wait for \"more\"\n", kind, k,
                k < 0 ? errname(ke) : "bytes", waited);
        failures++;
    }
    int fl = fcntl(t, F_GETFL);
    long fi = fdinfo_flags(t);
    if (fl < 0 || (fl & O_NONBLOCK) || fi < 0 || (fi & O_NONBLOCK)) {
        fprintf(stderr, "FAIL: %s: T looks non-blocking: F_GETFL 0%o, fdinfo flags 0%lo\n", kind, fl, fi);
        failures++;
    }
    if (failures == before) printf("%s: the reader got its data, later reads on T block, T has no O_NONBLOCK\n", kind);
    fflush(stdout);
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(10);
    int p[2];
    CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
    one("pipe", p[0], p[1]);
    close(p[0]);
    close(p[1]);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    one("socketpair", sv[0], sv[1]);
    close(sv[0]);
    close(sv[1]);

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(ls >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK(bind(ls, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s", strerror(errno));
    CHECK(listen(ls, 1) == 0, "listen: %s", strerror(errno));
    CHECK(getsockname(ls, (struct sockaddr *)&a, &al) == 0, "getsockname: %s", strerror(errno));
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c >= 0, "socket: %s", strerror(errno));
    CHECK(connect(c, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
    int s = accept(ls, NULL, NULL);
    CHECK(s >= 0, "accept: %s", strerror(errno));
    close(ls);
    one("tcp socket", c, s);

    metric("os_threads_max", os_max);
    CHECK(failures == 0, "%d check(s) failed", failures);
    return 0;
}
