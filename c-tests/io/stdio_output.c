/* stdio_output: stdio output (fwrite, fprintf, vfprintf, fputs, fputc/putc,
 * putc_unlocked, fwrite_unlocked, fputs_unlocked, printf, puts, putchar, the
 * __*printf_chk forms, dprintf, fflush, fflush(NULL), fclose) on sockets and
 * pipes whose reader is a slow thread of this program.
 *
 * Why: glibc empties a FILE's buffer with its internal write, which an
 * LD_PRELOAD shim cannot interpose. Under greenshim every thread is a green
 * thread on one OS thread: when the pipe or socket is full, that internal
 * write blocks the OS thread and the reader thread, the only one that could
 * drain it, never runs (deadlock), or, on a socket the shim made non-blocking,
 * the write fails with EAGAIN and the stream reports an error with data lost.
 * The shim must write FILE buffers itself with its parking write. Natively
 * every case works: the writer blocks until the reader catches up.
 *
 * Every case writes megabytes through a FILE to a reader thread that reads
 * 4 KiB at a time and sleeps 1 ms between reads (so the writer fills the pipe
 * or socket again and again), while a ticker thread (usleep 2 ms) must keep
 * ticking. The writer computes the FNV-1a checksum of what it writes, the
 * reader of what it reads: byte counts and checksums must match, and no
 * stream may report an error (ferror). A watchdog (alarm, 30 s per case)
 * FAILs a case that deadlocks instead of hanging.
 *
 * Cases (argv[1] names one; default all, in this order):
 *   socketpair  fdopen(sv[0], "w"), 1 MiB each by fwrite (chunks of 1 B to
 *               70 KB, some larger than the buffer), fprintf and vfprintf
 *               (with doubles and more than six arguments: integers and
 *               doubles past the registers), fputs, and
 *               fputc/putc, then 256 KiB under flockfile by fwrite_unlocked,
 *               fputs_unlocked and the putc_unlocked macro, fflush after each
 *               phase, 1000 more bytes left buffered for fclose to write;
 *               then dprintf lines on a second socketpair.
 *   tcp         the same phases on a TCP connection over 127.0.0.1.
 *   pipe        the same phases on a pipe, the last flush by fflush(NULL).
 *   stdout      stdout dup2'ed onto a pipe: printf (also __printf_chk),
 *               puts, putchar and fwrite(stdout), 4 MiB, fflush(stdout).
 *   stderr      unbuffered stderr dup2'ed onto a pipe: fprintf (also
 *               __fprintf_chk), fputs, fwrite and fputc, 1 MiB (every call
 *               is a write).
 *   linebuf     setvbuf(_IOLBF) on a socketpair FILE: "hello\nwor" sends
 *               exactly "hello\n" (the rest stays buffered), "ld\n" sends
 *               "world\n"; then 4 MiB of lines of 1 B to 10 KB (longer than
 *               the buffer) by fprintf, fputs, fwrite and putc.
 *   epipe       the reader closes after 256 KiB (SIGPIPE ignored): on a
 *               socketpair and a pipe, fwrite comes back short with the error
 *               flag and EPIPE (or ECONNRESET), a later fprintf longer than the
 *               buffer returns -1 with EPIPE, fclose returns 0 (the failed write
 *               left nothing buffered); dprintf to a closed socket -1 EPIPE.
 *   locked      two threads write records as two halves under flockfile,
 *               sleeping between the halves: every record arrives whole, on a
 *               socketpair read by a slow thread (6000-byte halves) and on a
 *               regular file (100-byte halves).
 *   shared      two threads write 200 records of 10,000 bytes each (more than
 *               the buffer) to one socketpair FILE by fwrite and fprintf; the
 *               reader checks that no record is interleaved with another (the
 *               FILE lock makes each call atomic natively).
 *
 * stdout (deterministic), all cases:
 *   socketpair: 4470564 bytes, checksum ok, ferror 0
 *   socketpair dprintf: 786462 bytes, checksum ok
 *   tcp: 4470564 bytes, checksum ok, ferror 0
 *   pipe: 4470564 bytes, checksum ok, ferror 0
 *   stdout: 4196720 bytes, checksum ok, ferror 0
 *   stderr: 1048603 bytes, checksum ok, ferror 0
 *   linebuf: "hello\n" alone, then "world\n"
 *   linebuf: 4203413 bytes, checksum ok, ferror 0
 *   shared: 400 whole records from two threads, none interleaved
 *   epipe socketpair: fwrite short=1 ferror=1 errno=EPIPE/ECONNRESET; fprintf past the buffer=-1 (EPIPE); fclose=0
 *   epipe pipe: fwrite short=1 ferror=1 errno=EPIPE/ECONNRESET; fprintf past the buffer=-1 (EPIPE); fclose=0
 *   epipe dprintf: -1 (EPIPE)
 *   locked socketpair: 120 records, 0 interleaved
 *   locked file: 100 records, 0 interleaved
 * metrics: os_threads_max, ticks_<case>, case_<case>_ms.
 */
#include "../common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>

extern int __printf_chk(int flag, const char *fmt, ...);
extern int __fprintf_chk(FILE *fp, int flag, const char *fmt, ...);
extern int __vfprintf_chk(FILE *fp, int flag, const char *fmt, va_list ap);
extern int __dprintf_chk(int fd, int flag, const char *fmt, ...);

#define MiB (1024 * 1024)

/* ---------------------------------------------------------------- helpers */

static int stop_ticker;
static int ticks;
static int os_max;
static int err_fd = 2; /* where FAIL lines go while fd 2 is redirected */
static const char *current_case = "";

static int get_ticks(void) { return __atomic_load_n(&ticks, __ATOMIC_SEQ_CST); }

static void *ticker(void *arg) {
    (void)arg;
    int n = 0;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        CHECK(usleep(2000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
        if (n++ % 50 == 0) {
            int t = os_threads();
            if (t > __atomic_load_n(&os_max, __ATOMIC_SEQ_CST)) __atomic_store_n(&os_max, t, __ATOMIC_SEQ_CST);
        }
    }
    return NULL;
}

static void on_alarm(int sig) {
    (void)sig;
    char msg[200];
    int n = snprintf(msg, sizeof msg, "FAIL: watchdog: case %s did not finish in 30 s (deadlock?)\n", current_case);
    if (write(err_fd, msg, (size_t)n) < 0) _exit(2);
    _exit(1);
}

/* A failed check while stderr is redirected must still reach the real stderr. */
#define ECHECK(cond, ...)                                                          \
    do {                                                                           \
        if (!(cond)) {                                                             \
            dprintf(err_fd, "FAIL: %s:%d: %s: ", __FILE__, __LINE__, #cond);       \
            dprintf(err_fd, __VA_ARGS__);                                          \
            dprintf(err_fd, "\n");                                                 \
            _exit(1);                                                              \
        }                                                                          \
    } while (0)

struct sum {
    uint64_t bytes, hash;
};

static void sum_init(struct sum *s) {
    s->bytes = 0;
    s->hash = 1469598103934665603ULL;
}

static void sum_add(struct sum *s, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) s->hash = (s->hash ^ c[i]) * 1099511628211ULL;
    s->bytes += n;
}

/* The slow reader: 4 KiB reads, 1 ms apart, until end of file. */
struct reader {
    int fd;
    struct sum got;
    pthread_t t;
};

static void *reader_main(void *arg) {
    struct reader *r = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(r->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        ECHECK(n >= 0, "reader read: %s", strerror(errno));
        if (n == 0) break;
        sum_add(&r->got, buf, (size_t)n);
        usleep(1000);
    }
    close(r->fd);
    return NULL;
}

static void reader_start(struct reader *r, int fd) {
    r->fd = fd;
    sum_init(&r->got);
    ECHECK(pthread_create(&r->t, NULL, reader_main, r) == 0, "pthread_create");
}

static void reader_finish(struct reader *r, const struct sum *sent, const char *label, int ferr) {
    ECHECK(pthread_join(r->t, NULL) == 0, "pthread_join");
    ECHECK(r->got.bytes == sent->bytes, "%s: reader got %llu bytes, %llu sent", label,
           (unsigned long long)r->got.bytes, (unsigned long long)sent->bytes);
    ECHECK(r->got.hash == sent->hash, "%s: checksum differs", label);
    printf("%s: %llu bytes, checksum ok, ferror %d\n", label, (unsigned long long)sent->bytes, ferr);
}

static long long case_start_ms;
static int case_start_ticks;

static void case_begin(const char *name) {
    current_case = name;
    alarm(30);
    case_start_ms = now_ms();
    case_start_ticks = get_ticks();
}

static void case_end(const char *name) {
    alarm(0);
    char m[64];
    int dt = get_ticks() - case_start_ticks;
    snprintf(m, sizeof m, "ticks_%s", name);
    metric(m, dt);
    snprintf(m, sizeof m, "case_%s_ms", name);
    metric(m, now_ms() - case_start_ms);
    /* Natively ~500 ticks per case; under the shim the ticker runs while the
     * writer is parked on a full pipe or socket. */
    CHECK(dt >= 10, "%s: the ticker ticked only %d times during the transfer", name, dt);
}

/* Deterministic text of length len (1..) for chunk number i. */
static void fill(char *buf, size_t len, unsigned i) {
    for (size_t k = 0; k < len; k++) buf[k] = (char)('a' + (i * 7 + k * 13) % 26);
    if (len > 1) buf[len - 1] = (i % 3 == 0) ? '\n' : buf[len - 1];
}

/* ---------------------------------------------------------------- writer phases */

static void vout(FILE *fp, struct sum *s, const char *fmt, ...) {
    char tmp[512];
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap2);
    va_end(ap2);
    ECHECK(n > 0 && n < (int)sizeof tmp, "vsnprintf");
    sum_add(s, tmp, (size_t)n);
    int w = vfprintf(fp, fmt, ap);
    va_end(ap);
    ECHECK(w == n, "vfprintf returned %d, expected %d: %s", w, n, strerror(errno));
}

static void vout_chk(FILE *fp, struct sum *s, const char *fmt, ...) {
    char tmp[512];
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap2);
    va_end(ap2);
    sum_add(s, tmp, (size_t)n);
    int w = __vfprintf_chk(fp, 1, fmt, ap);
    va_end(ap);
    ECHECK(w == n, "__vfprintf_chk returned %d, expected %d", w, n);
}

static void phase_fwrite(FILE *fp, struct sum *s, size_t total) {
    static char buf[70000];
    static const size_t sizes[] = {1, 17, 100, 3000, 4095, 4096, 4097, 10000, 70000, 333};
    size_t done = 0;
    for (unsigned i = 0; done < total; i++) {
        size_t len = sizes[i % 10];
        if (len > total - done) len = total - done;
        fill(buf, len, i);
        sum_add(s, buf, len);
        /* size 1 x len items, or len x 1 item */
        size_t r = (i & 1) ? fwrite(buf, 1, len, fp) : fwrite(buf, len, 1, fp);
        ECHECK(r == ((i & 1) ? len : 1), "fwrite returned %zu: %s", r, strerror(errno));
        done += len;
    }
    ECHECK(fflush(fp) == 0, "fflush after fwrite: %s", strerror(errno));
}

static void phase_fprintf(FILE *fp, struct sum *s, size_t total) {
    char word[300];
    for (unsigned i = 0; s->bytes < total; i++) {
        size_t wl = 1 + (i * 37) % 250;
        fill(word, wl, i);
        word[wl] = 0;
        for (size_t k = 0; k < wl; k++)
            if (word[k] == '\n') word[k] = '_';
        char tmp[512];
        int n;
        switch (i % 4) {
        case 3: /* through fprintf's own trampoline: integers and doubles past the
                 * registers (on the caller's stack), interleaved */
#define MANY "%d %d %d %d %d %d %d %d %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %s %d\n"
#define MANY_ARGS (int)i, 2, 3, 4, 5, 6, 7, 8, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.5, i * 0.25, word, -(int)i
            n = snprintf(tmp, sizeof tmp, MANY, MANY_ARGS);
            sum_add(s, tmp, (size_t)n);
            ECHECK(fprintf(fp, MANY, MANY_ARGS) == n, "fprintf with many arguments: %s", strerror(errno));
            break;
        case 0:
            n = snprintf(tmp, sizeof tmp, "%08x %s %.3f\n", i, word, i * 0.5);
            sum_add(s, tmp, (size_t)n);
            ECHECK(fprintf(fp, "%08x %s %.3f\n", i, word, i * 0.5) == n, "fprintf: %s", strerror(errno));
            break;
        case 1: /* more than six arguments: some on the stack; doubles in xmm */
            vout(fp, s, "%d %d %d %d %d %d %d %g %g %s|\n", (int)i, 2, 3, 4, 5, 6, 7, 1.25, -2.5, word);
            break;
        default:
            vout_chk(fp, s, "[%u:%s]\n", i, word);
            break;
        }
    }
    ECHECK(fflush(fp) == 0, "fflush after fprintf: %s", strerror(errno));
}

static void phase_fputs(FILE *fp, struct sum *s, size_t total) {
    char line[9000];
    static const size_t sizes[] = {5, 80, 1, 5000, 200, 8999, 2};
    for (unsigned i = 0; s->bytes < total; i++) {
        size_t len = sizes[i % 7];
        fill(line, len, i + 5);
        line[len] = 0;
        sum_add(s, line, len);
        ECHECK(fputs(line, fp) >= 0, "fputs: %s", strerror(errno));
    }
    ECHECK(fflush(fp) == 0, "fflush after fputs: %s", strerror(errno));
}

static void phase_putc(FILE *fp, struct sum *s, size_t total) {
    for (unsigned i = 0; s->bytes < total; i++) {
        int c = (i % 61 == 60) ? '\n' : 'A' + (int)(i % 26);
        unsigned char b = (unsigned char)c;
        sum_add(s, &b, 1);
        int r = (i & 1) ? putc(c, fp) : fputc(c, fp);
        ECHECK(r == c, "putc returned %d: %s", r, strerror(errno));
    }
    ECHECK(fflush(fp) == 0, "fflush after putc: %s", strerror(errno));
}

static void phase_unlocked(FILE *fp, struct sum *s, size_t total) {
    char buf[6000];
    flockfile(fp);
    for (unsigned i = 0; s->bytes < total; i++) {
        size_t len = 1 + (i * 131) % 5999;
        fill(buf, len, i + 9);
        buf[len] = 0;
        sum_add(s, buf, len);
        switch (i % 3) {
        case 0:
            ECHECK(fwrite_unlocked(buf, 1, len, fp) == len, "fwrite_unlocked");
            break;
        case 1:
            ECHECK(fputs_unlocked(buf, fp) >= 0, "fputs_unlocked");
            break;
        default:
            for (size_t k = 0; k < len; k++) ECHECK(putc_unlocked(buf[k], fp) == (unsigned char)buf[k], "putc_unlocked");
            break;
        }
    }
    funlockfile(fp);
}

/* All phases on fp; returns what was written. */
static void all_phases(FILE *fp, struct sum *total, int flush_all) {
    struct sum s;
    sum_init(total);
    /* Each phase gets its own byte target; the checksum runs over the stream. */
    size_t base;
    sum_init(&s);
    phase_fwrite(fp, &s, MiB);
    base = s.bytes;
    phase_fprintf(fp, &s, base + MiB);
    base = s.bytes;
    phase_fputs(fp, &s, base + MiB);
    base = s.bytes;
    phase_putc(fp, &s, base + MiB);
    base = s.bytes;
    phase_unlocked(fp, &s, base + MiB / 4);
    ECHECK(!ferror(fp), "stream error after the phases: %s", strerror(errno));
    if (flush_all)
        ECHECK(fflush(NULL) == 0, "fflush(NULL): %s", strerror(errno));
    else
        ECHECK(fflush(fp) == 0, "fflush: %s", strerror(errno));
    /* 1000 bytes left in the buffer for fclose. */
    char tail[1000];
    fill(tail, sizeof tail, 4242);
    sum_add(&s, tail, sizeof tail);
    ECHECK(fwrite(tail, 1, sizeof tail, fp) == sizeof tail, "fwrite tail");
    *total = s;
}

static void stream_case(const char *label, int wfd, int rfd, int flush_all) {
    struct reader r;
    struct sum sent;
    reader_start(&r, rfd);
    FILE *fp = fdopen(wfd, "w");
    ECHECK(fp != NULL, "fdopen: %s", strerror(errno));
    all_phases(fp, &sent, flush_all);
    int ferr = ferror(fp);
    ECHECK(ferr == 0, "%s: ferror", label);
    ECHECK(fclose(fp) == 0, "%s: fclose: %s", label, strerror(errno));
    reader_finish(&r, &sent, label, ferr);
}

/* ---------------------------------------------------------------- cases */

static void case_socketpair(void) {
    int sv[2];
    ECHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    stream_case("socketpair", sv[0], sv[1], 0);

    /* dprintf straight to a socket. */
    ECHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    struct reader r;
    struct sum s;
    sum_init(&s);
    reader_start(&r, sv[1]);
    char tmp[200];
    for (unsigned i = 0; s.bytes < 3 * MiB / 4; i++) {
        int n = snprintf(tmp, sizeof tmp, "dprintf line %u %s %f\n", i, "xyzzy", i / 3.0);
        sum_add(&s, tmp, (size_t)n);
        int w = (i & 1) ? dprintf(sv[0], "dprintf line %u %s %f\n", i, "xyzzy", i / 3.0)
                        : __dprintf_chk(sv[0], 1, "dprintf line %u %s %f\n", i, "xyzzy", i / 3.0);
        ECHECK(w == n, "dprintf returned %d, expected %d: %s", w, n, strerror(errno));
    }
    close(sv[0]);
    ECHECK(pthread_join(r.t, NULL) == 0, "join");
    ECHECK(r.got.bytes == s.bytes && r.got.hash == s.hash, "dprintf: reader got %llu of %llu bytes or a different checksum",
           (unsigned long long)r.got.bytes, (unsigned long long)s.bytes);
    printf("socketpair dprintf: %llu bytes, checksum ok\n", (unsigned long long)s.bytes);
}

static void case_tcp(void) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    ECHECK(ls >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    ECHECK(bind(ls, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s", strerror(errno));
    ECHECK(listen(ls, 1) == 0, "listen");
    ECHECK(getsockname(ls, (struct sockaddr *)&a, &al) == 0, "getsockname");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    ECHECK(connect(c, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
    int s = accept(ls, NULL, NULL);
    ECHECK(s >= 0, "accept: %s", strerror(errno));
    close(ls);
    stream_case("tcp", c, s, 0);
}

static void case_pipe(void) {
    int p[2];
    ECHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
    stream_case("pipe", p[1], p[0], 1);
}

static void case_stdout(void) {
    int p[2];
    ECHECK(fflush(stdout) == 0, "fflush");
    ECHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
    int saved = dup(1);
    ECHECK(saved >= 0 && dup2(p[1], 1) == 1, "dup2: %s", strerror(errno));
    close(p[1]);
    struct reader r;
    struct sum s;
    sum_init(&s);
    reader_start(&r, p[0]);
    char tmp[400], word[200];
    for (unsigned i = 0; s.bytes < 4 * MiB; i++) {
        size_t wl = 1 + (i * 29) % 180;
        fill(word, wl, i);
        word[wl] = 0;
        for (size_t k = 0; k < wl; k++)
            if (word[k] == '\n') word[k] = '-';
        int n;
        switch (i % 5) {
        case 0:
            if (i % 10 == 0) {
                n = snprintf(tmp, sizeof tmp, MANY, MANY_ARGS);
                sum_add(&s, tmp, (size_t)n);
                ECHECK(printf(MANY, MANY_ARGS) == n, "printf with many arguments");
                break;
            }
            n = snprintf(tmp, sizeof tmp, "%u: %s\n", i, word);
            sum_add(&s, tmp, (size_t)n);
            ECHECK(printf("%u: %s\n", i, word) == n, "printf");
            break;
        case 1:
            n = snprintf(tmp, sizeof tmp, "chk %u %s %e\n", i, word, i * 1.5);
            sum_add(&s, tmp, (size_t)n);
            ECHECK(__printf_chk(1, "chk %u %s %e\n", i, word, i * 1.5) == n, "__printf_chk");
            break;
        case 2:
            sum_add(&s, word, wl);
            sum_add(&s, "\n", 1);
            ECHECK(puts(word) >= 0, "puts");
            break;
        case 3:
            for (size_t k = 0; k < wl; k++) {
                sum_add(&s, &word[k], 1);
                ECHECK(putchar(word[k]) == (unsigned char)word[k], "putchar");
            }
            break;
        default: {
            static char big[9000];
            size_t len = (i % 2) ? 9000 : 50;
            fill(big, len, i);
            sum_add(&s, big, len);
            ECHECK(fwrite(big, 1, len, stdout) == len, "fwrite(stdout)");
        }
        }
    }
    int ferr = ferror(stdout);
    ECHECK(fflush(stdout) == 0, "fflush(stdout): %s", strerror(errno));
    ECHECK(dup2(saved, 1) == 1, "dup2 back");
    close(saved);
    ECHECK(ferr == 0, "stdout: ferror");
    reader_finish(&r, &s, "stdout", ferr);
}

static void case_stderr(void) {
    int p[2];
    ECHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
    err_fd = dup(2);
    ECHECK(err_fd >= 0 && dup2(p[1], 2) == 2, "dup2: %s", strerror(errno));
    close(p[1]);
    struct reader r;
    struct sum s;
    sum_init(&s);
    reader_start(&r, p[0]);
    char tmp[400], word[300];
    for (unsigned i = 0; s.bytes < MiB; i++) {
        size_t wl = 1 + (i * 53) % 280;
        fill(word, wl, i);
        word[wl] = 0;
        int n;
        switch (i % 5) {
        case 0:
            n = snprintf(tmp, sizeof tmp, "E%u %s\n", i, word);
            sum_add(&s, tmp, (size_t)n);
            ECHECK(fprintf(stderr, "E%u %s\n", i, word) == n, "fprintf(stderr)");
            break;
        case 1:
            n = snprintf(tmp, sizeof tmp, "C%u %s\n", i, word);
            sum_add(&s, tmp, (size_t)n);
            ECHECK(__fprintf_chk(stderr, 1, "C%u %s\n", i, word) == n, "__fprintf_chk(stderr)");
            break;
        case 2:
            sum_add(&s, word, wl);
            ECHECK(fputs(word, stderr) >= 0, "fputs(stderr)");
            break;
        case 3:
            sum_add(&s, word, wl);
            ECHECK(fwrite(word, 1, wl, stderr) == wl, "fwrite(stderr)");
            break;
        default:
            if (i % 10 == 4)
                for (size_t k = 0; k < 20 && k < wl; k++) {
                    sum_add(&s, &word[k], 1);
                    ECHECK(fputc(word[k], stderr) == (unsigned char)word[k], "fputc(stderr)");
                }
        }
    }
    int ferr = ferror(stderr);
    ECHECK(dup2(err_fd, 2) == 2, "dup2 back");
    close(err_fd);
    err_fd = 2;
    CHECK(ferr == 0, "stderr: ferror");
    reader_finish(&r, &s, "stderr", ferr);
}

/* Reads exactly what is available on fd within wait_ms (poll), up to cap. */
static size_t read_available(int fd, char *buf, size_t cap, int wait_ms) {
    size_t got = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (got < cap && poll(&pfd, 1, wait_ms) == 1) {
        ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
        if (n <= 0) break;
        got += (size_t)n;
        wait_ms = 100;
    }
    return got;
}

static void case_linebuf(void) {
    int sv[2];
    ECHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    FILE *fp = fdopen(sv[0], "w");
    ECHECK(fp != NULL, "fdopen");
    ECHECK(setvbuf(fp, NULL, _IOLBF, 4096) == 0, "setvbuf");
    char buf[64];
    ECHECK(fputs("hello\nwor", fp) >= 0, "fputs");
    size_t n = read_available(sv[1], buf, sizeof buf, 2000);
    ECHECK(n == 6 && memcmp(buf, "hello\n", 6) == 0, "linebuf: expected \"hello\\n\" alone, got %zu bytes", n);
    ECHECK(fputs("ld\n", fp) >= 0, "fputs");
    n = read_available(sv[1], buf, sizeof buf, 2000);
    ECHECK(n == 6 && memcmp(buf, "world\n", 6) == 0, "linebuf: expected \"world\\n\", got %zu bytes", n);
    printf("linebuf: \"hello\\n\" alone, then \"world\\n\"\n");

    struct reader r;
    struct sum s;
    sum_init(&s);
    reader_start(&r, sv[1]);
    static char line[10001];
    static const size_t sizes[] = {1, 40, 10000, 700, 4095, 4096, 4097, 3};
    for (unsigned i = 0; s.bytes < 4 * MiB; i++) {
        size_t len = sizes[i % 8];
        fill(line, len, i);
        line[len - 1] = '\n';
        line[len] = 0;
        switch (i % 4) {
        case 0:
            sum_add(&s, line, len);
            ECHECK(fputs(line, fp) >= 0, "fputs");
            break;
        case 1:
            sum_add(&s, line, len);
            ECHECK(fwrite(line, 1, len, fp) == len, "fwrite");
            break;
        case 2: {
            int k = snprintf(NULL, 0, "%u %s", i, line);
            char *t = malloc((size_t)k + 1);
            snprintf(t, (size_t)k + 1, "%u %s", i, line);
            sum_add(&s, t, (size_t)k);
            free(t);
            ECHECK(fprintf(fp, "%u %s", i, line) == k, "fprintf");
            break;
        }
        default:
            sum_add(&s, line, len);
            for (size_t k = 0; k < len; k++) ECHECK(putc(line[k], fp) == (unsigned char)line[k], "putc");
        }
    }
    int ferr = ferror(fp);
    ECHECK(ferr == 0, "linebuf: ferror");
    ECHECK(fclose(fp) == 0, "fclose: %s", strerror(errno));
    reader_finish(&r, &s, "linebuf", ferr);
}

/* Two threads write 10,000-byte records (more than the buffer) to one FILE by
 * fwrite and fprintf: natively the FILE lock makes each call atomic, so the
 * reader sees whole records only, never two interleaved. */
#define REC 10000
#define RECS_PER_WRITER 200
static FILE *shared_fp;

static void *shared_writer(void *arg) {
    char letter = (char)(long)arg;
    char *rec = malloc(REC + 1);
    ECHECK(rec != NULL, "malloc");
    memset(rec, letter, REC - 1);
    rec[REC - 1] = '\n';
    rec[REC] = 0;
    for (int i = 0; i < RECS_PER_WRITER; i++) {
        if (i % 2)
            ECHECK(fwrite(rec, 1, REC, shared_fp) == REC, "shared fwrite: %s", strerror(errno));
        else
            ECHECK(fprintf(shared_fp, "%c%s", letter, rec + 1) == REC, "shared fprintf: %s", strerror(errno));
    }
    free(rec);
    return NULL;
}

struct rec_reader {
    int fd;
    long records, bad;
};

static void *rec_reader_main(void *arg) {
    struct rec_reader *r = arg;
    static char rec[REC];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(r->fd, rec + have, 4096 < REC - have ? 4096 : REC - have);
        if (n < 0 && errno == EINTR) continue;
        ECHECK(n >= 0, "read: %s", strerror(errno));
        if (n == 0) break;
        have += (size_t)n;
        if (have == REC) {
            for (size_t k = 1; k < REC - 1; k++)
                if (rec[k] != rec[0]) {
                    r->bad++;
                    break;
                }
            r->records++;
            have = 0;
        }
        usleep(1000);
    }
    ECHECK(have == 0, "a partial record at the end");
    close(r->fd);
    return NULL;
}

static void case_shared(void) {
    int sv[2];
    ECHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    shared_fp = fdopen(sv[0], "w");
    ECHECK(shared_fp != NULL, "fdopen");
    struct rec_reader r = {.fd = sv[1]};
    pthread_t rt, w1, w2;
    ECHECK(pthread_create(&rt, NULL, rec_reader_main, &r) == 0, "pthread_create");
    ECHECK(pthread_create(&w1, NULL, shared_writer, (void *)(long)'A') == 0, "pthread_create");
    ECHECK(pthread_create(&w2, NULL, shared_writer, (void *)(long)'B') == 0, "pthread_create");
    pthread_join(w1, NULL);
    pthread_join(w2, NULL);
    ECHECK(!ferror(shared_fp), "shared: ferror");
    ECHECK(fclose(shared_fp) == 0, "fclose: %s", strerror(errno));
    pthread_join(rt, NULL);
    ECHECK(r.bad == 0, "shared: %ld of %ld records interleaved", r.bad, r.records);
    printf("shared: %ld whole records from two threads, none interleaved\n", r.records);
}

/* flockfile keeps other threads' calls out for the whole locked section, even
 * while its holder sleeps or parks inside it: records written as two halves under
 * flockfile, with a sleep between the halves, arrive whole. On a socketpair read
 * by a slow thread (halves larger than the buffer) and on a regular file. */
#define HALF 6000
static FILE *locked_fp;
static size_t locked_half;
static int locked_records;

static void *locked_writer(void *arg) {
    char letter = (char)(long)arg;
    char *half = malloc(locked_half + 1);
    ECHECK(half != NULL, "malloc");
    memset(half, letter, locked_half);
    half[locked_half] = 0;
    for (int i = 0; i < locked_records; i++) {
        flockfile(locked_fp);
        ECHECK(fwrite(half, 1, locked_half, locked_fp) == locked_half, "fwrite: %s", strerror(errno));
        usleep(500);
        ECHECK(fputs(half, locked_fp) >= 0, "fputs: %s", strerror(errno));
        funlockfile(locked_fp);
    }
    free(half);
    return NULL;
}

static void locked_run(void) {
    pthread_t w1, w2;
    ECHECK(pthread_create(&w1, NULL, locked_writer, (void *)(long)'C') == 0, "pthread_create");
    ECHECK(pthread_create(&w2, NULL, locked_writer, (void *)(long)'D') == 0, "pthread_create");
    pthread_join(w1, NULL);
    pthread_join(w2, NULL);
    ECHECK(!ferror(locked_fp), "ferror");
}

static long count_bad_records(const char *data, size_t len, size_t rec) {
    long bad = 0;
    ECHECK(len % rec == 0, "%zu bytes is not a whole number of %zu-byte records", len, rec);
    for (size_t off = 0; off < len; off += rec)
        for (size_t k = 1; k < rec; k++)
            if (data[off + k] != data[off]) {
                bad++;
                break;
            }
    return bad;
}

struct collect {
    int fd;
    char *data;
    size_t len;
};

static void *collect_main(void *arg) {
    struct collect *c = arg;
    size_t cap = 1 << 20;
    c->data = malloc(cap);
    for (;;) {
        if (c->len + 4096 > cap) c->data = realloc(c->data, cap *= 2);
        ssize_t n = read(c->fd, c->data + c->len, 4096);
        if (n < 0 && errno == EINTR) continue;
        ECHECK(n >= 0, "read: %s", strerror(errno));
        if (n == 0) break;
        c->len += (size_t)n;
        usleep(1000);
    }
    close(c->fd);
    return NULL;
}

static void case_locked(void) {
    int sv[2];
    ECHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    struct collect c = {.fd = sv[1]};
    pthread_t rt;
    ECHECK(pthread_create(&rt, NULL, collect_main, &c) == 0, "pthread_create");
    locked_fp = fdopen(sv[0], "w");
    locked_half = HALF;
    locked_records = 60;
    locked_run();
    ECHECK(fclose(locked_fp) == 0, "fclose");
    pthread_join(rt, NULL);
    long bad = count_bad_records(c.data, c.len, 2 * HALF);
    printf("locked socketpair: %zu records, %ld interleaved\n", c.len / (2 * HALF), bad);
    free(c.data);

    char path[] = "/tmp/stdio_output_locked_XXXXXX";
    int fd = mkstemp(path);
    ECHECK(fd >= 0, "mkstemp: %s", strerror(errno));
    unlink(path);
    locked_fp = fdopen(fd, "w+");
    locked_half = 100;
    locked_records = 50;
    locked_run();
    ECHECK(fflush(locked_fp) == 0, "fflush");
    rewind(locked_fp);
    static char filedata[2 * 2 * 100 * 50 + 1];
    size_t n = fread(filedata, 1, sizeof filedata, locked_fp);
    bad = count_bad_records(filedata, n, 200);
    printf("locked file: %zu records, %ld interleaved\n", n / 200, bad);
    fclose(locked_fp);
}

/* The reader goes away after 256 KiB: the writer's stream must fail as natively
 * (a short fwrite, the error flag, errno EPIPE with SIGPIPE ignored; fprintf -1;
 * dprintf -1), not hang and not report success. */
static void *reader_256k_then_close(void *arg) {
    int fd = (int)(long)arg;
    char buf[4096];
    size_t got = 0;
    while (got < 262144) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        ECHECK(n > 0, "read: %s", n < 0 ? strerror(errno) : "EOF");
        got += (size_t)n;
        usleep(1000);
    }
    close(fd);
    return NULL;
}

static void epipe_on(const char *label, int wfd, int rfd) {
    pthread_t t;
    ECHECK(pthread_create(&t, NULL, reader_256k_then_close, (void *)(long)rfd) == 0, "pthread_create");
    FILE *fp = fdopen(wfd, "w");
    ECHECK(fp != NULL, "fdopen");
    static char chunk[10000];
    memset(chunk, 'e', sizeof chunk);
    size_t r = 0;
    long total = 0;
    int err = 0;
    while (total < 64L * MiB) {
        r = fwrite(chunk, 1, sizeof chunk, fp);
        if (r < sizeof chunk) {
            err = errno;
            break;
        }
        total += (long)r;
    }
    int ferr = ferror(fp) != 0;
    errno = 0;
    int pf = fprintf(fp, "%s %d\n", "more", 42);
    int pf_err = errno;
    /* Enough for glibc to write at once (more than its buffer). */
    errno = 0;
    int pf2 = fprintf(fp, "%5000d\n", 7);
    int pf2_err = errno;
    pthread_join(t, NULL);
    int fc = fclose(fp);
    /* A writer blocked in the kernel when a unix-socket reader closes with unread
     * data gets ECONNRESET, one that calls afterwards EPIPE: which one is timing. */
    printf("%s: fwrite short=%d ferror=%d errno=%s; fprintf past the buffer=%d (%s); fclose=%d\n", label,
           r < sizeof chunk, ferr, err == EPIPE || err == ECONNRESET ? "EPIPE/ECONNRESET" : strerror(err), pf2,
           pf2_err == EPIPE ? "EPIPE" : strerror(pf2_err), fc);
    (void)pf;
    (void)pf_err;
}

static void case_epipe(void) {
    int sv[2], p[2];
    ECHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    epipe_on("epipe socketpair", sv[0], sv[1]);
    ECHECK(pipe(p) == 0, "pipe");
    epipe_on("epipe pipe", p[1], p[0]);
    ECHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    close(sv[1]);
    errno = 0;
    int d = dprintf(sv[0], "%s\n", "nobody reads this");
    printf("epipe dprintf: %d (%s)\n", d, errno == EPIPE ? "EPIPE" : strerror(errno));
    close(sv[0]);
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL;
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    pthread_t tk;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "pthread_create ticker");
    static const struct {
        const char *name;
        void (*fn)(void);
    } cases[] = {
        {"socketpair", case_socketpair}, {"tcp", case_tcp}, {"pipe", case_pipe},
        {"stdout", case_stdout},         {"stderr", case_stderr}, {"linebuf", case_linebuf},
        {"shared", case_shared},         {"epipe", case_epipe},   {"locked", case_locked},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (only && strcmp(only, cases[i].name) != 0) continue;
        case_begin(cases[i].name);
        cases[i].fn();
        case_end(cases[i].name);
        fflush(stdout);
    }
    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    pthread_join(tk, NULL);
    metric("os_threads_max", os_max);
    return 0;
}
