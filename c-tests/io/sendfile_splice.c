/* sendfile_splice: zero-copy calls (sendfile, splice, tee, vmsplice,
 * copy_file_range) park only their green thread and keep native semantics.
 *
 * Why: these calls block in the kernel when the destination socket or pipe is
 * full or the source pipe/socket is empty. Under greenshim a blocking call must
 * park the calling green thread on the hub, or the one OS thread stops and the
 * thread that would drain/fill the other end never runs: the program hangs (or,
 * on sockets the shim made O_NONBLOCK in the kernel, an unhooked call returns
 * short or EAGAIN where natively it would have blocked). Every case below needs
 * another thread to run while the call waits, and a ticker thread (usleep
 * 10 ms) must tick >= 3 times during the wait (~10 natively), so a shim that
 * blocks the OS thread fails instead of passing by luck. TCP connections are
 * on 127.0.0.1 with SO_SNDBUF/SO_RCVBUF bounded to 256 KiB, so the kernel can
 * buffer far less than what is sent and the receiver really must run. The
 * data file (16 MiB, deterministic bytes) is a mkostemp file in /tmp, unlinked
 * at once (reopened through /proc/self/fd for independent file positions).
 *   1. sendfile(tcp socket, file, NULL, 16 MiB), blocking, one call; the
 *      receiver sleeps 100 ms, then recv()s 64 KiB at a time: returns the whole
 *      count, FNV-1a checksum matches, file position advanced by the count;
 *   2. sendfile with an offset (1000, 1 MiB) to a socket: full count, *offset
 *      = 1000 + count, file position unchanged, data correct;
 *   3. sendfile(pipe, file) of 4 MiB, reader sleeps 100 ms: partial counts are
 *      native (the pipe fills), so loop; total and checksum;
 *   4. splice proxy: A writes 4 MiB into TCP connection S1 in 64 KiB chunks
 *      2 ms apart, then shuts down; B loops splice(S1 -> pipe), splice(pipe ->
 *      S2) (SPLICE_F_MOVE) until EOF, then shuts S2 down; C reads S2's peer to
 *      EOF: total and checksum;
 *   5. tee(pipe A, pipe B) blocks on the empty pipe A until another thread
 *      writes 1000 bytes 100 ms later: tee returns 1000, both the copy in B and
 *      the original in A read back equal; then splice and tee with
 *      SPLICE_F_NONBLOCK on the empty pipe A return -1 EAGAIN;
 *   6. vmsplice of 1 MiB of memory into a pipe whose reader sleeps 100 ms
 *      (partial counts are native: loop); checksum;
 *   7. copy_file_range file -> file, 4 MiB, without offsets (both file
 *      positions advance) in one thread while another copies with offsets
 *      (in 5000, out 100: offsets advance, file positions unchanged); checksums;
 *   8. O_NONBLOCK set by the program is honoured: TCP socket, 4 KiB buffers,
 *      peer never reads: sendfile of 16 MiB returns a partial count or -1
 *      EAGAIN, then (after any further partial counts while loopback settles)
 *      -1 EAGAIN, each call within 1 s; sendfile to a full O_NONBLOCK pipe
 *      returns -1 EAGAIN at once;
 *   9. errors as natively: sendfile out/in fd -1 -> EBADF, out fd read-only
 *      -> EBADF, splice file -> file -> EINVAL, splice with an offset on a pipe
 *      -> ESPIPE, tee file -> pipe -> EINVAL, vmsplice to a regular file ->
 *      EBADF, copy_file_range from fd -1 -> EBADF;
 *  10. inherited blocking sockets: a fork()ed child re-executes this program
 *      ("inherited" mode) with the two ends of a TCP connection as fds 3 and 4.
 *      The fresh process (preloaded again under the shim) never created those
 *      sockets: they are blocking and unknown to it. A reader thread sleeps
 *      100 ms then reads fd 4 while the main thread sendfile()s 8 MiB to fd 3
 *      in one call, ticker ticking meanwhile. The parent checks exit status 0.
 * Optional argument: a case number 1..10 runs only that case (for debugging;
 * stdout then differs from the full run). A 60 s alarm fails a hang (50 s in
 * the child, so the parent sees it fail and reports it).
 *
 * stdout (deterministic):
 *   "1 sendfile file->tcp: returned 16777216 of 16777216, checksum match: yes, file position 16777216\n"
 *   "1 ticker ran during the sendfile: yes\n"
 *   "2 sendfile with offset: returned 1048576, offset 1049576, file position unchanged, checksum match: yes\n"
 *   "3 sendfile file->pipe: 4194304 bytes in total, checksum match: yes, file position 4194304\n"
 *   "3 ticker ran during the sendfile loop: yes\n"
 *   "4 splice proxy tcp->pipe->tcp: 4194304 bytes, checksum match: yes\n"
 *   "4 ticker ran during the proxy: yes\n"
 *   "5 tee on an empty pipe woke on data: returned 1000, copy and original match: yes\n"
 *   "5 ticker ran during the tee: yes\n"
 *   "5 splice with SPLICE_F_NONBLOCK on an empty pipe: -1 EAGAIN\n"
 *   "5 tee with SPLICE_F_NONBLOCK on an empty pipe: -1 EAGAIN\n"
 *   "6 vmsplice 1048576 bytes into a pipe: checksum match: yes\n"
 *   "6 ticker ran during the vmsplice loop: yes\n"
 *   "7 copy_file_range without offsets: 4194304 bytes, checksum match: yes, positions 4194304/4194304\n"
 *   "7 copy_file_range with offsets: 4194304 bytes, checksum match: yes, offsets 4199304/4194404, positions unchanged\n"
 *   "8 O_NONBLOCK socket, peer not reading: sendfile partial or EAGAIN, then -1 EAGAIN, each immediate\n"
 *   "8 sendfile to a full O_NONBLOCK pipe: -1 EAGAIN\n"
 *   "9 sendfile out_fd -1: -1 EBADF\n"
 *   "9 sendfile in_fd -1: -1 EBADF\n"
 *   "9 sendfile to a read-only file: -1 EBADF\n"
 *   "9 splice file -> file: -1 EINVAL\n"
 *   "9 splice with an offset on the pipe: -1 ESPIPE\n"
 *   "9 tee file -> pipe: -1 EINVAL\n"
 *   "9 vmsplice to a regular file: -1 EBADF\n"
 *   "9 copy_file_range in_fd -1: -1 EBADF\n"
 *   "10 inherited: fds 3 and 4 are blocking sockets\n"
 *   "10 inherited: sendfile returned 8388608 of 8388608, checksum match: yes\n"
 *   "10 inherited: ticker ran during the sendfile: yes\n"
 *   "10 child exited with status 0\n"
 * metrics: os_threads_max (parent and child), wall_ms, ticks_sendfile_sock,
 *          sendfile_sock_ms, ticks_sendfile_offset, ticks_sendfile_pipe,
 *          sendfile_pipe_calls, ticks_splice_proxy, splice_calls, ticks_tee,
 *          ticks_vmsplice, vmsplice_calls, ticks_copy_file_range,
 *          nonblock_first_result, nonblock_calls, nonblock_max_call_ms,
 *          ticks_sendfile_inherited (child).
 */
#include "../common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define MIB (1024 * 1024)
#define DATA_SIZE (16 * MIB)
#define CHUNK 65536
#define BOUNDED_BUF (256 * 1024)
#define MIN_TICKS 3

static unsigned char *data; /* DATA_SIZE deterministic bytes, also the file's content */
static int data_fd = -1;    /* the unlinked temp file holding them */
static const char *volatile current_case = "setup";

/* ---- ticker, thread count, watchdog ---- */

static volatile int stop_ticker;
static int ticks;
static int os_max;
static int get_ticks(void) { return __atomic_load_n(&ticks, __ATOMIC_SEQ_CST); }

static void note_threads(void) {
    int n = os_threads();
    int cur = __atomic_load_n(&os_max, __ATOMIC_SEQ_CST);
    while (n > cur && !__atomic_compare_exchange_n(&os_max, &cur, n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
}

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        CHECK(usleep(10000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char a[] = "FAIL: watchdog: sendfile_splice hung (alarm) in case ";
    const char *c = current_case;
    ssize_t w = write(2, a, sizeof a - 1);
    w = write(2, c, strlen(c));
    w = write(2, "\n", 1);
    (void)w;
    _exit(1);
}

static void start_watchdog(unsigned secs) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction: %s", strerror(errno));
    alarm(secs);
}

/* ---- helpers ---- */

static uint64_t fnv1a(const unsigned char *p, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

static const char *errname(int e) {
    switch (e) {
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ESPIPE: return "ESPIPE";
    case EAGAIN: return "EAGAIN";
    case EXDEV: return "EXDEV";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOSYS: return "ENOSYS";
    case EFAULT: return "EFAULT";
    case EPERM: return "EPERM";
    case EPIPE: return "EPIPE";
    case EINTR: return "EINTR";
    case EISDIR: return "EISDIR";
    case ENOTSOCK: return "ENOTSOCK";
    default: return "other";
    }
}

static void make_data(size_t n) {
    data = malloc(n);
    CHECK(data, "malloc");
    uint32_t x = 0x12345678u;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        data[i] = (unsigned char)(x >> 24);
    }
}

static void write_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        CHECK(w > 0, "write: %s", w < 0 ? strerror(errno) : "0");
        p += w;
        n -= (size_t)w;
    }
}

/* A temp file in /tmp, unlinked at once, close-on-exec. */
static int temp_file(void) {
    char path[] = "/tmp/greenshim-sendfile-XXXXXX";
    int fd = mkostemp(path, O_CLOEXEC);
    CHECK(fd >= 0, "mkostemp: %s", strerror(errno));
    CHECK(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
    return fd;
}

static void make_data_file(size_t n) {
    data_fd = temp_file();
    write_all(data_fd, data, n);
}

/* A new open file description of the data file, with its own position 0. */
static int open_data(void) {
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", data_fd);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open %s: %s", p, strerror(errno));
    return fd;
}

static off_t pos_of(int fd) {
    off_t p = lseek(fd, 0, SEEK_CUR);
    CHECK(p >= 0, "lseek: %s", strerror(errno));
    return p;
}

static void set_bufs(int fd, int size) {
    CHECK(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) == 0, "SO_SNDBUF: %s", strerror(errno));
    CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) == 0, "SO_RCVBUF: %s", strerror(errno));
}

/* A connected TCP pair over 127.0.0.1; buffers set before connecting. */
static void tcp_pair(int *a, int *b, int bufsize) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(l >= 0, "socket: %s", strerror(errno));
    set_bufs(l, bufsize);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    CHECK(bind(l, (struct sockaddr *)&sa, sizeof sa) == 0, "bind: %s", strerror(errno));
    CHECK(listen(l, 1) == 0, "listen: %s", strerror(errno));
    CHECK(getsockname(l, (struct sockaddr *)&sa, &len) == 0, "getsockname: %s", strerror(errno));
    *a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(*a >= 0, "socket: %s", strerror(errno));
    set_bufs(*a, bufsize);
    CHECK(connect(*a, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s", strerror(errno));
    *b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    CHECK(*b >= 0, "accept: %s", strerror(errno));
    close(l);
}

static pthread_t spawn(void *(*fn)(void *), void *arg) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fn, arg) == 0, "pthread_create");
    return t;
}

static void join(pthread_t t) { CHECK(pthread_join(t, NULL) == 0, "pthread_join"); }

/* Reads up to `want` bytes (to EOF if want is SIZE_MAX) after sleeping. */
struct rx {
    int fd, sleep_ms, sock;
    size_t want, got;
    uint64_t sum;
};

static void *receiver(void *arg) {
    struct rx *r = arg;
    if (r->sleep_ms) CHECK(usleep(r->sleep_ms * 1000) == 0, "usleep: %s", strerror(errno));
    note_threads();
    unsigned char *buf = malloc(CHUNK);
    CHECK(buf, "malloc");
    r->sum = FNV_INIT;
    r->got = 0;
    while (r->got < r->want) {
        size_t n = r->want - r->got < CHUNK ? r->want - r->got : CHUNK;
        ssize_t g = r->sock ? recv(r->fd, buf, n, 0) : read(r->fd, buf, n);
        if (g < 0 && errno == EINTR) continue;
        CHECK(g >= 0, "receiver: %s", strerror(errno));
        if (g == 0) break;
        r->sum = fnv1a(buf, (size_t)g, r->sum);
        r->got += (size_t)g;
    }
    free(buf);
    return NULL;
}

static const char *yes(int ok) { return ok ? "yes" : "no"; }

/* ---- 1. sendfile file -> blocking TCP socket, one call ---- */

static void case_sendfile_sock(void) {
    current_case = "1 sendfile file->tcp";
    int c, s;
    tcp_pair(&c, &s, BOUNDED_BUF);
    int f = open_data();
    struct rx r = {.fd = s, .sleep_ms = 100, .sock = 1, .want = DATA_SIZE};
    pthread_t rt = spawn(receiver, &r);
    note_threads();
    int t0 = get_ticks();
    long long m0 = now_ms();
    ssize_t n = sendfile(c, f, NULL, DATA_SIZE);
    int e = errno;
    long long dt = now_ms() - m0;
    int t = get_ticks() - t0;
    metric("ticks_sendfile_sock", t);
    metric("sendfile_sock_ms", dt);
    CHECK(n == DATA_SIZE, "sendfile returned %zd (%s), want %d in one call", n, n < 0 ? errname(e) : "short", DATA_SIZE);
    join(rt);
    int ok = r.got == DATA_SIZE && r.sum == fnv1a(data, DATA_SIZE, FNV_INIT);
    CHECK(ok, "receiver got %zu bytes, checksum %s", r.got, r.got == DATA_SIZE ? "differs" : "-");
    off_t p = pos_of(f);
    CHECK(p == n, "file position %lld after sendfile of %zd with offset NULL", (long long)p, n);
    printf("1 sendfile file->tcp: returned %zd of %d, checksum match: %s, file position %lld\n", n, DATA_SIZE, yes(ok),
           (long long)p);
    CHECK(t >= MIN_TICKS, "ticker only ticked %d times during a %lld ms sendfile the receiver had to drain", t, dt);
    printf("1 ticker ran during the sendfile: yes\n");
    close(f);
    close(c);
    close(s);
}

/* ---- 2. sendfile with an offset ---- */

static void case_sendfile_offset(void) {
    current_case = "2 sendfile with offset";
    int c, s;
    tcp_pair(&c, &s, BOUNDED_BUF);
    int f = open_data();
    CHECK(lseek(f, 12345, SEEK_SET) == 12345, "lseek: %s", strerror(errno));
    struct rx r = {.fd = s, .sleep_ms = 20, .sock = 1, .want = MIB};
    pthread_t rt = spawn(receiver, &r);
    int t0 = get_ticks();
    off_t off = 1000;
    ssize_t n = sendfile(c, f, &off, MIB);
    int e = errno;
    metric("ticks_sendfile_offset", get_ticks() - t0);
    CHECK(n == MIB, "sendfile returned %zd (%s), want %d", n, n < 0 ? errname(e) : "short", MIB);
    CHECK(off == 1000 + MIB, "offset %lld after sendfile, want %d", (long long)off, 1000 + MIB);
    off_t p = pos_of(f);
    CHECK(p == 12345, "file position moved to %lld by sendfile with an offset", (long long)p);
    join(rt);
    int ok = r.got == MIB && r.sum == fnv1a(data + 1000, MIB, FNV_INIT);
    CHECK(ok, "receiver got %zu bytes, checksum mismatch", r.got);
    printf("2 sendfile with offset: returned %zd, offset %lld, file position unchanged, checksum match: %s\n", n,
           (long long)off, yes(ok));
    close(f);
    close(c);
    close(s);
}

/* ---- 3. sendfile file -> pipe ---- */

static void case_sendfile_pipe(void) {
    current_case = "3 sendfile file->pipe";
    const size_t total = 4 * MIB;
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    int f = open_data();
    struct rx r = {.fd = p[0], .sleep_ms = 100, .sock = 0, .want = total};
    pthread_t rt = spawn(receiver, &r);
    int t0 = get_ticks();
    size_t sent = 0;
    int calls = 0;
    while (sent < total) {
        ssize_t n = sendfile(p[1], f, NULL, total - sent);
        if (n < 0 && errno == EINTR) continue;
        CHECK(n > 0, "sendfile to a pipe returned %zd (%s) after %zu bytes", n, n < 0 ? errname(errno) : "EOF", sent);
        sent += (size_t)n;
        calls++;
    }
    int t = get_ticks() - t0;
    metric("ticks_sendfile_pipe", t);
    metric("sendfile_pipe_calls", calls);
    join(rt);
    int ok = r.got == total && r.sum == fnv1a(data, total, FNV_INIT);
    CHECK(ok, "pipe reader got %zu bytes, checksum mismatch", r.got);
    off_t pos = pos_of(f);
    CHECK(pos == (off_t)total, "file position %lld after sending %zu", (long long)pos, total);
    printf("3 sendfile file->pipe: %zu bytes in total, checksum match: %s, file position %lld\n", sent, yes(ok),
           (long long)pos);
    CHECK(t >= MIN_TICKS, "ticker only ticked %d times while sendfile waited for the pipe reader", t);
    printf("3 ticker ran during the sendfile loop: yes\n");
    close(f);
    close(p[0]);
    close(p[1]);
}

/* ---- 4. splice proxy ---- */

static int px_src_w, px_in, px_out;
static size_t px_total;
static int px_calls;

static void *px_writer(void *arg) {
    (void)arg;
    note_threads();
    for (size_t off = 0; off < 4 * MIB; off += CHUNK) {
        write_all(px_src_w, data + off, CHUNK);
        CHECK(usleep(2000) == 0, "usleep: %s", strerror(errno));
    }
    CHECK(shutdown(px_src_w, SHUT_WR) == 0, "shutdown: %s", strerror(errno));
    return NULL;
}

static void *px_proxy(void *arg) {
    (void)arg;
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    note_threads();
    for (;;) {
        ssize_t n = splice(px_in, NULL, p[1], NULL, CHUNK, SPLICE_F_MOVE);
        px_calls++;
        if (n < 0 && errno == EINTR) continue;
        CHECK(n >= 0, "splice socket->pipe: %s", errname(errno));
        if (n == 0) break;
        while (n > 0) {
            ssize_t m = splice(p[0], NULL, px_out, NULL, (size_t)n, SPLICE_F_MOVE);
            px_calls++;
            if (m < 0 && errno == EINTR) continue;
            CHECK(m > 0, "splice pipe->socket returned %zd (%s)", m, m < 0 ? errname(errno) : "0");
            n -= m;
            px_total += (size_t)m;
        }
    }
    CHECK(shutdown(px_out, SHUT_WR) == 0, "shutdown: %s", strerror(errno));
    close(p[0]);
    close(p[1]);
    return NULL;
}

static void case_splice_proxy(void) {
    current_case = "4 splice proxy";
    int a1, b1, b2, a2;
    tcp_pair(&a1, &b1, BOUNDED_BUF);
    tcp_pair(&b2, &a2, BOUNDED_BUF);
    px_src_w = a1;
    px_in = b1;
    px_out = b2;
    struct rx r = {.fd = a2, .sleep_ms = 0, .sock = 1, .want = SIZE_MAX};
    int t0 = get_ticks();
    pthread_t tc = spawn(receiver, &r);
    pthread_t tb = spawn(px_proxy, NULL);
    pthread_t ta = spawn(px_writer, NULL);
    note_threads();
    join(ta);
    join(tb);
    join(tc);
    int t = get_ticks() - t0;
    metric("ticks_splice_proxy", t);
    metric("splice_calls", px_calls);
    CHECK(px_total == 4 * MIB, "proxy moved %zu bytes, want %d", px_total, 4 * MIB);
    int ok = r.got == 4 * MIB && r.sum == fnv1a(data, 4 * MIB, FNV_INIT);
    CHECK(ok, "proxy reader got %zu bytes, checksum mismatch", r.got);
    printf("4 splice proxy tcp->pipe->tcp: %zu bytes, checksum match: %s\n", r.got, yes(ok));
    CHECK(t >= MIN_TICKS, "ticker only ticked %d times during a proxy paced at 2 ms per 64 KiB", t);
    printf("4 ticker ran during the proxy: yes\n");
    close(a1);
    close(b1);
    close(a2);
    close(b2);
}

/* ---- 5. tee ---- */

static int tee_a[2], tee_b[2];
static ssize_t tee_result;
static int tee_errno;

static void *tee_thread(void *arg) {
    (void)arg;
    note_threads();
    do {
        tee_result = tee(tee_a[0], tee_b[1], CHUNK, 0);
        tee_errno = errno;
    } while (tee_result < 0 && tee_errno == EINTR);
    return NULL;
}

static void *tee_writer(void *arg) {
    (void)arg;
    CHECK(usleep(100000) == 0, "usleep: %s", strerror(errno));
    write_all(tee_a[1], data + 4242, 1000);
    return NULL;
}

static void read_exact(int fd, unsigned char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t g = read(fd, buf + got, n - got);
        if (g < 0 && errno == EINTR) continue;
        CHECK(g > 0, "read: %s", g < 0 ? strerror(errno) : "EOF");
        got += (size_t)g;
    }
}

static void case_tee(void) {
    current_case = "5 tee";
    CHECK(pipe2(tee_a, O_CLOEXEC) == 0 && pipe2(tee_b, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    int t0 = get_ticks();
    pthread_t tt = spawn(tee_thread, NULL);
    pthread_t tw = spawn(tee_writer, NULL);
    note_threads();
    join(tt);
    int t = get_ticks() - t0;
    join(tw);
    metric("ticks_tee", t);
    CHECK(tee_result == 1000, "tee returned %zd (%s), want 1000", tee_result,
          tee_result < 0 ? errname(tee_errno) : "count");
    unsigned char copy[1000], orig[1000];
    read_exact(tee_b[0], copy, sizeof copy);
    read_exact(tee_a[0], orig, sizeof orig);
    int ok = memcmp(copy, data + 4242, 1000) == 0 && memcmp(orig, data + 4242, 1000) == 0;
    CHECK(ok, "tee copy or original differs from what was written");
    printf("5 tee on an empty pipe woke on data: returned %zd, copy and original match: %s\n", tee_result, yes(ok));
    CHECK(t >= MIN_TICKS, "ticker only ticked %d times while tee waited 100 ms for data", t);
    printf("5 ticker ran during the tee: yes\n");

    /* pipe A is empty again, its write end open: the user's NONBLOCK flag wins */
    long long m0 = now_ms();
    ssize_t n = splice(tee_a[0], NULL, tee_b[1], NULL, 4096, SPLICE_F_NONBLOCK);
    int e = errno;
    CHECK(n == -1 && e == EAGAIN, "splice SPLICE_F_NONBLOCK on an empty pipe returned %zd (%s)", n,
          n < 0 ? errname(e) : "count");
    printf("5 splice with SPLICE_F_NONBLOCK on an empty pipe: %zd %s\n", n, errname(e));
    n = tee(tee_a[0], tee_b[1], 4096, SPLICE_F_NONBLOCK);
    e = errno;
    CHECK(n == -1 && e == EAGAIN, "tee SPLICE_F_NONBLOCK on an empty pipe returned %zd (%s)", n,
          n < 0 ? errname(e) : "count");
    long long dt = now_ms() - m0;
    CHECK(dt < 500, "SPLICE_F_NONBLOCK calls took %lld ms", dt);
    printf("5 tee with SPLICE_F_NONBLOCK on an empty pipe: %zd %s\n", n, errname(e));
    for (int i = 0; i < 2; i++) {
        close(tee_a[i]);
        close(tee_b[i]);
    }
}

/* ---- 6. vmsplice ---- */

static void case_vmsplice(void) {
    current_case = "6 vmsplice";
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    struct rx r = {.fd = p[0], .sleep_ms = 100, .sock = 0, .want = MIB};
    pthread_t rt = spawn(receiver, &r);
    int t0 = get_ticks();
    size_t sent = 0;
    int calls = 0;
    const unsigned char *src = data + 777; /* not page aligned on purpose */
    while (sent < MIB) {
        struct iovec iov = {.iov_base = (void *)(src + sent), .iov_len = MIB - sent};
        ssize_t n = vmsplice(p[1], &iov, 1, 0);
        if (n < 0 && errno == EINTR) continue;
        CHECK(n > 0, "vmsplice returned %zd (%s) after %zu bytes", n, n < 0 ? errname(errno) : "0", sent);
        sent += (size_t)n;
        calls++;
    }
    int t = get_ticks() - t0;
    metric("ticks_vmsplice", t);
    metric("vmsplice_calls", calls);
    join(rt);
    int ok = r.got == MIB && r.sum == fnv1a(src, MIB, FNV_INIT);
    CHECK(ok, "pipe reader got %zu bytes, checksum mismatch", r.got);
    printf("6 vmsplice %zu bytes into a pipe: checksum match: %s\n", sent, yes(ok));
    CHECK(t >= MIN_TICKS, "ticker only ticked %d times while vmsplice waited for the pipe reader", t);
    printf("6 ticker ran during the vmsplice loop: yes\n");
    close(p[0]);
    close(p[1]);
}

/* ---- 7. copy_file_range ---- */

struct cfr {
    int in, out;
    size_t copied;
};

static void *cfr_plain(void *arg) {
    struct cfr *c = arg;
    note_threads();
    while (c->copied < 4 * MIB) {
        ssize_t n = copy_file_range(c->in, NULL, c->out, NULL, 4 * MIB - c->copied, 0);
        if (n < 0 && errno == EINTR) continue;
        CHECK(n > 0, "copy_file_range returned %zd (%s)", n, n < 0 ? errname(errno) : "0");
        c->copied += (size_t)n;
    }
    return NULL;
}

static uint64_t file_sum(int fd, off_t off, size_t n) {
    unsigned char *buf = malloc(n);
    CHECK(buf, "malloc");
    size_t got = 0;
    while (got < n) {
        ssize_t g = pread(fd, buf + got, n - got, off + (off_t)got);
        if (g < 0 && errno == EINTR) continue;
        CHECK(g > 0, "pread: %s", g < 0 ? strerror(errno) : "EOF");
        got += (size_t)g;
    }
    uint64_t h = fnv1a(buf, n, FNV_INIT);
    free(buf);
    return h;
}

static void case_copy_file_range(void) {
    current_case = "7 copy_file_range";
    const size_t total = 4 * MIB;
    int t0 = get_ticks();
    /* without offsets, in another thread */
    struct cfr c = {.in = open_data(), .out = temp_file(), .copied = 0};
    pthread_t ct = spawn(cfr_plain, &c);
    note_threads();
    /* with offsets, here */
    int in2 = open_data(), out2 = temp_file();
    CHECK(lseek(in2, 777, SEEK_SET) == 777, "lseek: %s", strerror(errno));
    loff_t off_in = 5000, off_out = 100;
    size_t copied = 0;
    while (copied < total) {
        ssize_t n = copy_file_range(in2, &off_in, out2, &off_out, total - copied, 0);
        if (n < 0 && errno == EINTR) continue;
        CHECK(n > 0, "copy_file_range with offsets returned %zd (%s)", n, n < 0 ? errname(errno) : "0");
        copied += (size_t)n;
    }
    join(ct);
    metric("ticks_copy_file_range", get_ticks() - t0);

    off_t pin = pos_of(c.in), pout = pos_of(c.out);
    CHECK(pin == (off_t)total && pout == (off_t)total, "positions %lld/%lld after copying %zu", (long long)pin,
          (long long)pout, total);
    int ok = file_sum(c.out, 0, total) == fnv1a(data, total, FNV_INIT);
    CHECK(ok, "copy without offsets differs");
    printf("7 copy_file_range without offsets: %zu bytes, checksum match: %s, positions %lld/%lld\n", c.copied, yes(ok),
           (long long)pin, (long long)pout);

    CHECK(off_in == 5000 + (loff_t)total && off_out == 100 + (loff_t)total, "offsets %lld/%lld after copying %zu",
          (long long)off_in, (long long)off_out, total);
    pin = pos_of(in2);
    pout = pos_of(out2);
    CHECK(pin == 777 && pout == 0, "positions moved to %lld/%lld by copy_file_range with offsets", (long long)pin,
          (long long)pout);
    struct stat st;
    CHECK(fstat(out2, &st) == 0 && st.st_size == 100 + (off_t)total, "copy size %lld", (long long)st.st_size);
    ok = file_sum(out2, 100, total) == fnv1a(data + 5000, total, FNV_INIT);
    CHECK(ok, "copy with offsets differs");
    printf("7 copy_file_range with offsets: %zu bytes, checksum match: %s, offsets %lld/%lld, positions unchanged\n",
           copied, yes(ok), (long long)off_in, (long long)off_out);
    close(c.in);
    close(c.out);
    close(in2);
    close(out2);
}

/* ---- 8. the program's O_NONBLOCK is honoured ---- */

static void case_nonblock(void) {
    current_case = "8 O_NONBLOCK";
    int c, s;
    tcp_pair(&c, &s, 4096); /* s never reads */
    int fl = fcntl(c, F_GETFL);
    CHECK(fl >= 0 && fcntl(c, F_SETFL, fl | O_NONBLOCK) == 0, "fcntl: %s", strerror(errno));
    int f = open_data();
    off_t off = 0;
    long long m0 = now_ms();
    ssize_t n = sendfile(c, f, &off, DATA_SIZE);
    int e = errno;
    long long dt = now_ms() - m0, max_dt = dt;
    metric("nonblock_first_result", n);
    CHECK((n > 0 && n < DATA_SIZE) || (n == -1 && e == EAGAIN), "sendfile returned %zd (%s), want partial or EAGAIN",
          n, n < 0 ? errname(e) : "count");
    CHECK(dt < 1000, "non-blocking sendfile took %lld ms", dt);
    /* Loopback may still move a little from the send buffer into the peer's
     * receive window: accept more partial counts until EAGAIN. */
    CHECK(usleep(20000) == 0, "usleep: %s", strerror(errno));
    int calls = 1, eagain = 0;
    while (calls < 50) {
        m0 = now_ms();
        n = sendfile(c, f, &off, DATA_SIZE);
        e = errno;
        dt = now_ms() - m0;
        if (dt > max_dt) max_dt = dt;
        calls++;
        CHECK(dt < 1000, "non-blocking sendfile took %lld ms", dt);
        if (n == -1 && e == EAGAIN) {
            eagain = 1;
            break;
        }
        CHECK(n > 0 && n < DATA_SIZE, "sendfile returned %zd (%s), want partial or EAGAIN", n,
              n < 0 ? errname(e) : "count");
        CHECK(usleep(10000) == 0, "usleep: %s", strerror(errno));
    }
    metric("nonblock_calls", calls);
    metric("nonblock_max_call_ms", max_dt);
    CHECK(eagain, "sendfile on a full O_NONBLOCK socket never returned EAGAIN in %d calls", calls);
    printf("8 O_NONBLOCK socket, peer not reading: sendfile partial or EAGAIN, then -1 EAGAIN, each immediate\n");
    close(c);
    close(s);

    /* a full pipe the program made O_NONBLOCK */
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0, "pipe2: %s", strerror(errno));
    for (;;) {
        ssize_t w = write(p[1], data, CHUNK);
        if (w < 0) {
            CHECK(errno == EAGAIN, "filling the pipe: %s", strerror(errno));
            break;
        }
    }
    m0 = now_ms();
    n = sendfile(p[1], f, NULL, CHUNK);
    e = errno;
    dt = now_ms() - m0;
    CHECK(n == -1 && e == EAGAIN, "sendfile to a full O_NONBLOCK pipe returned %zd (%s)", n,
          n < 0 ? errname(e) : "count");
    CHECK(dt < 1000, "sendfile to a full O_NONBLOCK pipe took %lld ms", dt);
    printf("8 sendfile to a full O_NONBLOCK pipe: %zd %s\n", n, errname(e));
    close(p[0]);
    close(p[1]);
    close(f);
}

/* ---- 9. errors ---- */

static void expect_err(const char *what, ssize_t n, int e, int want) {
    CHECK(n == -1 && e == want, "%s returned %zd (%s), want -1 %s", what, n, n < 0 ? errname(e) : "count",
          errname(want));
    printf("9 %s: %zd %s\n", what, n, errname(e));
}

static void case_errors(void) {
    current_case = "9 errors";
    int f = open_data(), g = open_data(), w = temp_file();
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    loff_t o = 0;
    ssize_t n;
    n = sendfile(-1, f, NULL, 10);
    expect_err("sendfile out_fd -1", n, errno, EBADF);
    n = sendfile(p[1], -1, NULL, 10);
    expect_err("sendfile in_fd -1", n, errno, EBADF);
    n = sendfile(g, f, NULL, 10);
    expect_err("sendfile to a read-only file", n, errno, EBADF);
    n = splice(f, NULL, w, NULL, 10, 0);
    expect_err("splice file -> file", n, errno, EINVAL);
    n = splice(f, NULL, p[1], &o, 10, 0);
    expect_err("splice with an offset on the pipe", n, errno, ESPIPE);
    n = tee(f, p[1], 10, 0);
    expect_err("tee file -> pipe", n, errno, EINVAL);
    struct iovec iov = {.iov_base = data, .iov_len = 10};
    n = vmsplice(w, &iov, 1, 0);
    expect_err("vmsplice to a regular file", n, errno, EBADF);
    n = copy_file_range(-1, NULL, w, NULL, 10, 0);
    expect_err("copy_file_range in_fd -1", n, errno, EBADF);
    close(f);
    close(g);
    close(w);
    close(p[0]);
    close(p[1]);
}

/* ---- 10. inherited blocking sockets, in a re-executed child ---- */

#define INH_SIZE (8 * MIB)

static int inherited_main(void) {
    start_watchdog(50); /* before the parent's 60 s: the parent then reports the failure */
    current_case = "10 inherited (child)";
    for (int fd = 3; fd <= 4; fd++) {
        struct stat st;
        CHECK(fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode), "fd %d is not an inherited socket", fd);
        int fl = fcntl(fd, F_GETFL);
        CHECK(fl >= 0 && !(fl & O_NONBLOCK), "inherited fd %d flags %#x, want blocking", fd, fl);
    }
    printf("10 inherited: fds 3 and 4 are blocking sockets\n");
    make_data(INH_SIZE);
    make_data_file(INH_SIZE);
    int f = open_data();
    pthread_t tk = spawn(ticker, NULL);
    struct rx r = {.fd = 4, .sleep_ms = 100, .sock = 1, .want = INH_SIZE};
    pthread_t rt = spawn(receiver, &r);
    note_threads();
    int t0 = get_ticks();
    ssize_t n = sendfile(3, f, NULL, INH_SIZE);
    int e = errno;
    int t = get_ticks() - t0;
    metric("ticks_sendfile_inherited", t);
    CHECK(n == INH_SIZE, "sendfile to inherited fd 3 returned %zd (%s), want %d", n, n < 0 ? errname(e) : "short",
          INH_SIZE);
    join(rt);
    int ok = r.got == INH_SIZE && r.sum == fnv1a(data, INH_SIZE, FNV_INIT);
    CHECK(ok, "reader got %zu bytes, checksum mismatch", r.got);
    printf("10 inherited: sendfile returned %zd of %d, checksum match: %s\n", n, INH_SIZE, yes(ok));
    CHECK(t >= MIN_TICKS, "ticker only ticked %d times during the sendfile to an inherited socket", t);
    printf("10 inherited: ticker ran during the sendfile: yes\n");
    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    join(tk);
    metric("os_threads_max", os_max);
    close(f);
    close(data_fd);
    return 0;
}

static void case_inherited(const char *argv0) {
    current_case = "10 inherited (parent)";
    int a, b;
    tcp_pair(&a, &b, BOUNDED_BUF);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* move the ends out of the way, then onto 3 and 4, without CLOEXEC */
        int ha = fcntl(a, F_DUPFD, 10), hb = fcntl(b, F_DUPFD, 10);
        if (ha < 0 || hb < 0 || dup2(ha, 3) != 3 || dup2(hb, 4) != 4) _exit(126);
        close(ha);
        close(hb);
        char *args[] = {(char *)argv0, "inherited", NULL};
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(a);
    close(b);
    note_threads();
    int st;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
    }
    CHECK(w == pid, "waitpid: %s", strerror(errno));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "inherited-mode child: status %#x", st);
    printf("10 child exited with status 0\n");
}

/* ---- 11. sendfile with a pipe as the source: whatever the kernel answers (EINVAL
 * on Linux 6.x, where in_fd must support mmap-like reads), the shim answers the same
 * and does not turn it into a splice. ---- */
static void case_sendfile_from_pipe(void) {
    current_case = "11 sendfile pipe->tcp";
    int p[2], s, c;
    CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    tcp_pair(&s, &c, 256 * 1024);
    CHECK(write(p[1], "hello", 5) == 5, "write");
    ssize_t n = sendfile(s, p[0], NULL, 5);
    if (n < 0)
        printf("11 sendfile from a pipe to a socket: -1 %s\n", errname(errno));
    else
        printf("11 sendfile from a pipe to a socket: %zd\n", n);
    close(p[0]);
    close(p[1]);
    close(s);
    close(c);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "inherited") == 0) return inherited_main();
    int only = argc > 1 ? atoi(argv[1]) : 0;
    start_watchdog(60);
    long long start = now_ms();
    make_data(DATA_SIZE);
    make_data_file(DATA_SIZE);
    pthread_t tk = spawn(ticker, NULL);
    note_threads();

    if (!only || only == 1) case_sendfile_sock();
    if (!only || only == 2) case_sendfile_offset();
    if (!only || only == 3) case_sendfile_pipe();
    if (!only || only == 4) case_splice_proxy();
    if (!only || only == 5) case_tee();
    if (!only || only == 6) case_vmsplice();
    if (!only || only == 7) case_copy_file_range();
    if (!only || only == 8) case_nonblock();
    if (!only || only == 9) case_errors();
    if (!only || only == 10) case_inherited(argv[0]);
    if (!only || only == 11) case_sendfile_from_pipe();

    current_case = "teardown";
    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    join(tk);
    metric("os_threads_max", os_max);
    metric("wall_ms", now_ms() - start);
    close(data_fd);
    free(data);
    return 0;
}
