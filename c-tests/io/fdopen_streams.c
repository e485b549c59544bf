/* fdopen_streams: stdio output streams on sockets and pipes with slow readers.
 *
 * Why: glibc's stdio writes through its own internal write, which the shim
 * does not see. If the fd's description carries a hidden O_NONBLOCK, that
 * write fails with EAGAIN when the reader is slower than the writer, the
 * stream is marked in error and the data is lost; natively stdio blocks.
 * For each of: a TCP connected socket and a TCP accepted socket over
 * 127.0.0.1 (socket()/connect()/accept()), an AF_UNIX socketpair, a pipe:
 * fdopen(fd, "w"), then 2 MiB with fwrite in 10000-byte pieces, then
 * fprintf lines of 64 bytes until 4 MiB in all, then fputs/fputc, fflush and
 * fclose, while a reader thread drains the other end slowly (200 ms before the
 * first read, then 16 KiB reads with a 1 ms sleep every 8). Checked: no call
 * fails, ferror() is 0 before fclose, the reader gets exactly the bytes
 * written (count and FNV-1a checksum). Every stream runs; failures are
 * reported on stderr, exit 1 at the end. A 10 s alarm watchdog fails on a hang.
 *
 * Result under the unfixed shim: see tests/no_hidden_flags.rs (top comment).
 *
 * stdout (deterministic): one line per stream.
 * metrics: os_threads_max, wall_ms.
 */
#include "../common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>

#define TOTAL (4 * 1024 * 1024)

static int os_max;

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: fdopen_streams hung for 10 s\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

#define FNV0 14695981039346656037ULL
static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void tcp_pair(int sv[2], int accepted) {
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
    sv[0] = accepted ? s : c; /* the stream's fd */
    sv[1] = accepted ? c : s;
}

struct reader {
    int fd;
    long long n;
    uint64_t sum;
};

static void *slow_reader(void *arg) {
    struct reader *r = arg;
    static unsigned char buf[16384];
    r->sum = FNV0;
    CHECK(usleep(200000) == 0, "usleep: %s", strerror(errno));
    for (int reads = 1;; reads++) {
        ssize_t k = read(r->fd, buf, sizeof buf);
        CHECK(k >= 0, "reader: %s", strerror(errno));
        if (k == 0) break;
        r->sum = fnv(r->sum, buf, (size_t)k);
        r->n += k;
        if (reads % 8 == 0) CHECK(usleep(1000) == 0, "usleep: %s", strerror(errno));
        if (reads == 4) {
            int t = os_threads();
            if (t > os_max) os_max = t;
        }
    }
    return NULL;
}

/* Writes the stream; returns NULL on success or what failed. */
static const char *write_stream(FILE *f, long long *written, uint64_t *sum) {
    static unsigned char chunk[10000];
    static char line[128];
    *written = 0;
    *sum = FNV0;
    for (int k = 0; *written + (long long)sizeof chunk <= TOTAL / 2; k++) {
        for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (unsigned char)(i * 13 + k);
        if (fwrite(chunk, 1, sizeof chunk, f) != sizeof chunk) return "fwrite";
        *sum = fnv(*sum, chunk, sizeof chunk);
        *written += sizeof chunk;
    }
    for (int k = 0; *written + 64 <= TOTAL - 8; k++) {
        int n = snprintf(line, sizeof line, "line %08d %-49s\n", k, "of the fprintf part");
        if (n != 64) return "snprintf (test bug)";
        if (fprintf(f, "line %08d %-49s\n", k, "of the fprintf part") != 64) return "fprintf";
        *sum = fnv(*sum, (unsigned char *)line, 64);
        *written += 64;
    }
    if (fputs("tail", f) == EOF) return "fputs";
    *sum = fnv(*sum, (const unsigned char *)"tail", 4);
    *written += 4;
    while (*written < TOTAL) {
        if (fputc('!', f) == EOF) return "fputc";
        *sum = fnv(*sum, (const unsigned char *)"!", 1);
        *written += 1;
    }
    if (fflush(f) != 0) return "fflush";
    if (ferror(f)) return "ferror after fflush";
    return NULL;
}

static int one(const char *name, int sv[2]) {
    struct reader r = {.fd = sv[1]};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, slow_reader, &r) == 0, "pthread_create");
    FILE *f = fdopen(sv[0], "w");
    CHECK(f, "fdopen: %s", strerror(errno));
    long long written;
    uint64_t sum;
    errno = 0;
    const char *bad = write_stream(f, &written, &sum);
    int e = errno;
    int fc = fclose(f);
    int fce = errno;
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    close(sv[1]);
    if (bad) {
        fprintf(stderr, "FAIL: %s: %s failed after %lld bytes (%s); the reader got %lld\n", name, bad, written, strerror(e), r.n);
        return 1;
    }
    if (fc != 0) {
        fprintf(stderr, "FAIL: %s: fclose: %s\n", name, strerror(fce));
        return 1;
    }
    if (r.n != written || r.sum != sum) {
        fprintf(stderr, "FAIL: %s: wrote %lld bytes, the reader got %lld (checksums %s)\n", name, written, r.n,
                r.sum == sum ? "equal" : "differ");
        return 1;
    }
    printf("%s: fwrite+fprintf+fputs+fputc %lld bytes, fflush and fclose ok, all arrived, checksum matches\n", name, written);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    /* "only K" runs stream K (0..3) alone: for diagnosis. */
    int only = argc == 3 && strcmp(argv[1], "only") == 0 ? atoi(argv[2]) : -1;
    signal(SIGALRM, on_alarm);
    alarm(10);
    long long t0 = now_ms();
    int failures = 0, sv[2];
    if (only < 0 || only == 0) {
        tcp_pair(sv, 0);
        failures += one("tcp connected socket", sv);
    }
    if (only < 0 || only == 1) {
        tcp_pair(sv, 1);
        failures += one("tcp accepted socket", sv);
    }
    if (only < 0 || only == 2) {
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
        failures += one("socketpair", sv);
    }
    if (only < 0 || only == 3) {
        int p[2];
        CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
        sv[0] = p[1];
        sv[1] = p[0];
        failures += one("pipe", sv);
    }
    metric("wall_ms", now_ms() - t0);
    metric("os_threads_max", os_max);
    CHECK(failures == 0, "%d stream(s) failed", failures);
    return 0;
}
