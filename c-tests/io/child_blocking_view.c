/* child_blocking_view: no O_NONBLOCK the program did not set is ever on a file
 * description, as seen by the kernel and by a child without the shim.
 *
 * Why: O_NONBLOCK lives on the open file description, shared with every
 * process holding the fd. A shim that sets a hidden O_NONBLOCK (and hides it
 * from the program's own F_GETFL) still changes what the kernel reports in
 * /proc/<pid>/fdinfo and what a child sees, and the child's blocking
 * read/write then fail with EAGAIN.
 * The fds: a TCP listener, a connected client and the accepted socket (all
 * socket()/accept(), blocking), a UDP socket, an AF_UNIX socketpair, a pipe.
 * At four points:
 *   1. right after creation;
 *   2. while threads are parked on them: accept() on the listener, recv() on
 *      the accepted socket, read() on the pipe, recv() on the socketpair,
 *      recvfrom() on the UDP socket, and connect() of a new socket to a
 *      listener whose backlog is full (listen(fd, 0) plus one queued
 *      connection: the SYN is dropped and connect waits for the retransmit);
 *      the parked calls are then released and return their data;
 *   3. after the parked calls returned;
 * the checks are: the "flags:" line of /proc/self/fdinfo/<fd> read by the
 * program itself, F_GETFL, and a child started with fork + execve of this
 * program with LD_PRELOAD set empty (no shim in the child) that checks F_GETFL
 * on its inherited copies and /proc/<parent>/fdinfo/<fd>; none may show
 * O_NONBLOCK (04000).
 *   4. a child without the shim reads and writes inherited fds: it reads
 *      64 KiB from the socketpair, the TCP client and the pipe while the parent
 *      writes them slowly (8 KiB every 2 ms after 50 ms), and writes 4 MiB to
 *      the socketpair, the TCP client and the pipe while the parent reads
 *      slowly (100 ms first, then 16 KiB reads, 1 ms every 8): every byte with
 *      its pattern, no EAGAIN, exit 0.
 * A 15 s alarm watchdog fails on a hang.
 *
 * Result under the shim that kept a hidden O_NONBLOCK on sockets (commit
 * 896db20): "after creation", /proc/self/fdinfo shows O_NONBLOCK (04002) on
 * the listener, the connected TCP socket and the UDP socket (not on the
 * accepted socket, socketpair or pipe); then the program hangs while threads
 * are parked (watchdog).
 *
 * stdout (deterministic): one line per point and per child I/O.
 * metrics: os_threads_max, connect_ms (the parked connect's duration).
 */
#include "../common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

extern char **environ;

static int os_max;
static char self[4096];

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: child_blocking_view hung for 15 s\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void note_threads(void) {
    int n = os_threads();
    if (n > os_max) os_max = n;
}

/* The "flags:" field of /proc/<pid>/fdinfo/<fd> (octal), or -1. */
static long fdinfo_flags(int pid, int fd) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", pid, fd);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long flags = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "flags: %lo", &flags) == 1) break;
    fclose(f);
    return flags;
}

#define MAXFD 16
struct named {
    int fd;
    const char *name;
};
static struct named fds[MAXFD];
static int nfds;

static void add(int fd, const char *name) {
    CHECK(nfds < MAXFD, "too many fds");
    fds[nfds].fd = fd;
    fds[nfds].name = name;
    nfds++;
}

static char **env_without_shim(void) {
    static char *env[512];
    int n = 0;
    for (char **e = environ; *e && n < 500; e++)
        if (strncmp(*e, "LD_PRELOAD=", 11) != 0) env[n++] = *e;
    env[n++] = "LD_PRELOAD=";
    env[n] = NULL;
    return env;
}

/* Runs this program as a child without the shim with `args` after argv[0]; returns its exit status. */
static int run_child(char **args) {
    char *argv[64];
    int n = 0;
    argv[n++] = self;
    for (; *args && n < 62; args++) argv[n++] = *args;
    argv[n] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        execve(self, argv, env_without_shim());
        _exit(127);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
    CHECK(WIFEXITED(st), "child status 0x%x", st);
    return WEXITSTATUS(st);
}

/* Child: "check <ppid> <name> <fd> ...": F_GETFL and the parent's fdinfo of each fd. */
static int child_check(int argc, char **argv) {
    int ppid = atoi(argv[2]);
    int bad = 0;
    for (int i = 3; i + 1 < argc; i += 2) {
        int fd = atoi(argv[i + 1]);
        int fl = fcntl(fd, F_GETFL);
        long pf = fdinfo_flags(ppid, fd);
        if (fl < 0 || pf < 0) {
            fprintf(stderr, "FAIL: child: %s (fd %d): F_GETFL %d, parent's fdinfo %ld: %s\n", argv[i], fd, fl, pf,
                    strerror(errno));
            bad++;
        } else if ((fl & O_NONBLOCK) || (pf & O_NONBLOCK)) {
            fprintf(stderr, "FAIL: child without the shim sees O_NONBLOCK on %s (fd %d): F_GETFL 0%o, parent's fdinfo flags 0%lo\n",
                    argv[i], fd, fl, pf);
            bad++;
        }
    }
    return bad ? 1 : 0;
}

static unsigned char pat(long i) { return (unsigned char)(i * 31 + 7 + (i >> 10)); }

/* Child: "io r|w fd n ...": reads (checks the pattern) or writes n bytes, blocking. */
static int child_io(int argc, char **argv) {
    static unsigned char buf[65536];
    for (int i = 2; i + 2 < argc; i += 3) {
        int fd = atoi(argv[i + 1]);
        long n = atol(argv[i + 2]);
        for (long done = 0; done < n;) {
            size_t want = (size_t)(n - done < (long)sizeof buf ? n - done : (long)sizeof buf);
            ssize_t k;
            if (argv[i][0] == 'r') {
                k = read(fd, buf, want);
                for (ssize_t j = 0; j < k; j++)
                    if (buf[j] != pat(done + j)) {
                        fprintf(stderr, "FAIL: child read fd %d: wrong byte at %ld\n", fd, done + j);
                        return 1;
                    }
            } else {
                for (size_t j = 0; j < want; j++) buf[j] = pat(done + (long)j);
                k = write(fd, buf, want);
            }
            if (k <= 0) {
                fprintf(stderr, "FAIL: child without the shim: %s fd %d after %ld of %ld bytes: %zd %s\n",
                        argv[i][0] == 'r' ? "read" : "write", fd, done, n, k, k < 0 ? strerror(errno) : "EOF");
                return 1;
            }
            done += k;
        }
    }
    return 0;
}

static int check_point(const char *point) {
    int bad = 0;
    for (int i = 0; i < nfds; i++) {
        long f = fdinfo_flags(getpid(), fds[i].fd);
        int fl = fcntl(fds[i].fd, F_GETFL);
        CHECK(f >= 0 && fl >= 0, "%s: fdinfo/F_GETFL of %s: %s", point, fds[i].name, strerror(errno));
        if (f & O_NONBLOCK) {
            fprintf(stderr, "FAIL: %s: /proc/self/fdinfo shows O_NONBLOCK on %s (flags 0%lo)\n", point, fds[i].name, f);
            bad++;
        }
        if (fl & O_NONBLOCK) {
            fprintf(stderr, "FAIL: %s: F_GETFL shows O_NONBLOCK on %s\n", point, fds[i].name);
            bad++;
        }
    }
    char *args[2 * MAXFD + 4];
    char ppid[16], fdnum[MAXFD][16];
    int n = 0;
    snprintf(ppid, sizeof ppid, "%d", getpid());
    args[n++] = "check";
    args[n++] = ppid;
    for (int i = 0; i < nfds; i++) {
        snprintf(fdnum[i], sizeof fdnum[i], "%d", fds[i].fd);
        args[n++] = (char *)fds[i].name;
        args[n++] = fdnum[i];
    }
    args[n] = NULL;
    if (run_child(args) != 0) bad++;
    if (!bad) printf("%s: no O_NONBLOCK on any of %d fds (own fdinfo, F_GETFL, child's view)\n", point, nfds);
    fflush(stdout);
    return bad;
}

/* ---- parked calls ---- */
static int lfd, cfd, afd, ufd, sp[2], pp[2], l2, filler, xfd;
static struct sockaddr_in laddr, l2addr, uaddr;
static int returned[6];
static long long connect_ms;

static void *park_accept(void *a) {
    (void)a;
    int c = accept(lfd, NULL, NULL);
    CHECK(c >= 0, "parked accept: %s", strerror(errno));
    __atomic_store_n(&returned[0], 1, __ATOMIC_SEQ_CST);
    close(c);
    return NULL;
}
static void *park_recv(void *a) {
    char b[8];
    ssize_t k = recv(*(int *)a, b, sizeof b, 0);
    CHECK(k == 4 && memcmp(b, "wake", 4) == 0, "parked recv: %zd %s", k, k < 0 ? strerror(errno) : "");
    return NULL;
}
static void *park_read(void *a) {
    char b[8];
    ssize_t k = read(*(int *)a, b, sizeof b);
    CHECK(k == 4 && memcmp(b, "wake", 4) == 0, "parked read: %zd %s", k, k < 0 ? strerror(errno) : "");
    return NULL;
}
static void *park_recvfrom(void *a) {
    (void)a;
    char b[8];
    ssize_t k = recvfrom(ufd, b, sizeof b, 0, NULL, NULL);
    CHECK(k == 4 && memcmp(b, "wake", 4) == 0, "parked recvfrom: %zd %s", k, k < 0 ? strerror(errno) : "");
    return NULL;
}
static void *park_connect(void *a) {
    (void)a;
    long long t0 = now_ms();
    CHECK(connect(xfd, (struct sockaddr *)&l2addr, sizeof l2addr) == 0, "parked connect: %s", strerror(errno));
    connect_ms = now_ms() - t0;
    __atomic_store_n(&returned[5], 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int tcp_listener(struct sockaddr_in *a, int backlog) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0, "socket: %s", strerror(errno));
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof *a;
    CHECK(bind(fd, (struct sockaddr *)a, sizeof *a) == 0, "bind: %s", strerror(errno));
    CHECK(listen(fd, backlog) == 0, "listen: %s", strerror(errno));
    CHECK(getsockname(fd, (struct sockaddr *)a, &al) == 0, "getsockname: %s", strerror(errno));
    return fd;
}

/* ---- point 4: the parent's slow side of the child's I/O ---- */
struct slow {
    int fd;
    long n;
    int write;
};
static void *slow_side(void *arg) {
    struct slow *s = arg;
    static __thread unsigned char buf[16384];
    CHECK(usleep(s->write ? 50000 : 100000) == 0, "usleep");
    int ops = 0;
    for (long done = 0; done < s->n; ops++) {
        size_t want = (size_t)(s->n - done < (long)(s->write ? 8192 : 16384) ? s->n - done : (s->write ? 8192 : 16384));
        ssize_t k;
        if (s->write) {
            for (size_t j = 0; j < want; j++) buf[j] = pat(done + (long)j);
            k = write(s->fd, buf, want);
            CHECK(k > 0, "parent slow write: %s", strerror(errno));
            CHECK(usleep(2000) == 0, "usleep");
        } else {
            k = read(s->fd, buf, want);
            CHECK(k > 0, "parent slow read: %zd %s", k, k < 0 ? strerror(errno) : "EOF");
            for (ssize_t j = 0; j < k; j++) CHECK(buf[j] == pat(done + j), "parent read: wrong byte at %ld", done + j);
            if (ops % 8 == 7) CHECK(usleep(1000) == 0, "usleep");
        }
        done += k;
    }
    return NULL;
}

static int child_io_case(const char *what, int child_fd, int parent_fd, int child_writes, long n) {
    struct slow s = {.fd = parent_fd, .n = n, .write = !child_writes};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, slow_side, &s) == 0, "pthread_create");
    char fdarg[16], narg[24];
    snprintf(fdarg, sizeof fdarg, "%d", child_fd);
    snprintf(narg, sizeof narg, "%ld", n);
    char *args[] = {"io", child_writes ? "w" : "r", fdarg, narg, NULL};
    int rc = run_child(args);
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    if (rc == 0) printf("child without the shim %s %ld bytes %s %s: all arrived, no EAGAIN\n", child_writes ? "wrote" : "read", n,
                        child_writes ? "to" : "from", what);
    else
        fprintf(stderr, "FAIL: child without the shim could not %s %s\n", child_writes ? "write to" : "read from", what);
    fflush(stdout);
    return rc != 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "check") == 0) return child_check(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "io") == 0) return child_io(argc, argv);
    signal(SIGALRM, on_alarm);
    alarm(15);
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(sl > 0, "readlink: %s", strerror(errno));
    self[sl] = 0;
    int failures = 0;

    lfd = tcp_listener(&laddr, 16);
    cfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(cfd >= 0, "socket: %s", strerror(errno));
    CHECK(connect(cfd, (struct sockaddr *)&laddr, sizeof laddr) == 0, "connect: %s", strerror(errno));
    afd = accept(lfd, NULL, NULL);
    CHECK(afd >= 0, "accept: %s", strerror(errno));
    ufd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(ufd >= 0, "socket: %s", strerror(errno));
    uaddr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof uaddr;
    CHECK(bind(ufd, (struct sockaddr *)&uaddr, sizeof uaddr) == 0, "bind: %s", strerror(errno));
    CHECK(getsockname(ufd, (struct sockaddr *)&uaddr, &al) == 0, "getsockname: %s", strerror(errno));
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0, "socketpair: %s", strerror(errno));
    CHECK(pipe(pp) == 0, "pipe: %s", strerror(errno));
    add(lfd, "tcp listener");
    add(cfd, "tcp connected socket");
    add(afd, "tcp accepted socket");
    add(ufd, "udp socket");
    add(sp[0], "socketpair end 0");
    add(sp[1], "socketpair end 1");
    add(pp[0], "pipe read end");
    add(pp[1], "pipe write end");
    failures += check_point("after creation");

    /* A listener with a full backlog: listen(0) and one queued connection. */
    l2 = tcp_listener(&l2addr, 0);
    filler = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(filler >= 0, "socket: %s", strerror(errno));
    CHECK(connect(filler, (struct sockaddr *)&l2addr, sizeof l2addr) == 0, "connect filler: %s", strerror(errno));
    xfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(xfd >= 0, "socket: %s", strerror(errno));
    add(l2, "full listener");
    add(filler, "queued client");
    add(xfd, "connecting socket");

    pthread_t t[6];
    CHECK(pthread_create(&t[0], NULL, park_accept, NULL) == 0, "pthread_create");
    CHECK(pthread_create(&t[1], NULL, park_recv, &afd) == 0, "pthread_create");
    CHECK(pthread_create(&t[2], NULL, park_read, &pp[0]) == 0, "pthread_create");
    CHECK(pthread_create(&t[3], NULL, park_recv, &sp[0]) == 0, "pthread_create");
    CHECK(pthread_create(&t[4], NULL, park_recvfrom, NULL) == 0, "pthread_create");
    CHECK(pthread_create(&t[5], NULL, park_connect, NULL) == 0, "pthread_create");
    CHECK(usleep(150000) == 0, "usleep");
    note_threads();
    CHECK(!__atomic_load_n(&returned[0], __ATOMIC_SEQ_CST), "accept returned with no client");
    CHECK(!__atomic_load_n(&returned[5], __ATOMIC_SEQ_CST), "connect to a full backlog returned at once (%lld ms)", connect_ms);
    failures += check_point("while threads are parked in accept, recv, read, recvfrom and connect");

    /* Release them. */
    int c2 = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c2 >= 0, "socket: %s", strerror(errno));
    CHECK(connect(c2, (struct sockaddr *)&laddr, sizeof laddr) == 0, "connect: %s", strerror(errno));
    CHECK(send(cfd, "wake", 4, 0) == 4, "send: %s", strerror(errno));
    CHECK(write(pp[1], "wake", 4) == 4, "write: %s", strerror(errno));
    CHECK(send(sp[1], "wake", 4, 0) == 4, "send: %s", strerror(errno));
    CHECK(sendto(ufd, "wake", 4, 0, (struct sockaddr *)&uaddr, sizeof uaddr) == 4, "sendto: %s", strerror(errno));
    int q1 = accept(l2, NULL, NULL); /* the filler: frees the backlog, the connect's retransmitted SYN gets in */
    CHECK(q1 >= 0, "accept: %s", strerror(errno));
    for (int i = 0; i < 6; i++) CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
    int q2 = accept(l2, NULL, NULL);
    CHECK(q2 >= 0, "accept: %s", strerror(errno));
    printf("parked accept, recv, read, recvfrom and connect all returned their data\n");
    close(c2);
    close(q1);
    close(q2);
    failures += check_point("after the parked calls returned");

    /* 4: a child without the shim reads and writes inherited fds. */
    failures += child_io_case("a socketpair", sp[0], sp[1], 0, 65536);
    failures += child_io_case("a socketpair", sp[0], sp[1], 1, 4 << 20);
    failures += child_io_case("a tcp connected socket", cfd, afd, 0, 65536);
    failures += child_io_case("a tcp connected socket", cfd, afd, 1, 4 << 20);
    failures += child_io_case("a tcp accepted socket", afd, cfd, 1, 4 << 20);
    failures += child_io_case("a pipe", pp[0], pp[1], 0, 65536);
    failures += child_io_case("a pipe", pp[1], pp[0], 1, 4 << 20);
    failures += check_point("after the child's I/O");

    metric("connect_ms", connect_ms);
    metric("os_threads_max", os_max);
    CHECK(failures == 0, "%d check(s) failed", failures);
    return 0;
}
