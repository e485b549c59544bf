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
 * fclose, while a reader drains the other end slowly (200 ms before the
 * first read, then 16 KiB reads with a 1 ms sleep every 8): first a forked
 * child process (then a shim may block the OS thread in glibc's write and
 * still pass), then a thread of this process (then it must not: blocking the
 * only OS thread would stop the reader too). Checked: no call
 * fails, ferror() is 0 before fclose, the reader gets exactly the bytes
 * written (count and FNV-1a checksum). Every stream runs; failures are
 * reported on stderr, exit 1 at the end. A 10 s alarm watchdog fails on a hang.
 *
 * Result under the shim that kept a hidden O_NONBLOCK on sockets (commit
 * 896db20): on the connected TCP socket fprintf fails with EAGAIN after
 * ~3.9 MiB (reader in a child process or a thread); with the reader in a
 * thread the accepted socket, socketpair and pipe streams hang (glibc's own
 * write blocks the only OS thread, so the reader never runs).
 *
 * stdout (deterministic): one line per stream.
 * metrics: os_threads_max, wall_ms.
 */
#include "../common.h"
#include "../net.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define TOTAL (4 * 1024 * 1024)

static int os_max;

static const char *volatile phase = "start";

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: fdopen_streams hung for 10 s in: ";
    ssize_t w = write(2, msg, sizeof msg - 1);
    w = write(2, (const char *)phase, strlen((const char *)phase));
    w = write(2, "\n", 1);
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


struct reader {
    int fd;
    long long n;
    uint64_t sum;
};

static void *slow_reader(void *arg);
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

/* The reader is a thread of this process, or (in_child) a forked child process. */
static int one(const char *what, int sv[2], int in_child) {
    char name[128];
    snprintf(name, sizeof name, "%s, reader in %s", what, in_child ? "a child process" : "a thread");
    phase = name;
    struct reader r = {.fd = sv[1]};
    pthread_t t;
    int res[2] = {-1, -1};
    pid_t pid = -1;
    if (in_child) {
        CHECK(pipe(res) == 0, "pipe: %s", strerror(errno));
        fflush(stdout);
        pid = fork();
        CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            close(sv[0]);
            close(res[0]);
            slow_reader(&r);
            CHECK(write(res[1], &r, sizeof r) == (ssize_t)sizeof r, "result write: %s", strerror(errno));
            _exit(0);
        }
        close(res[1]);
        close(sv[1]);
    } else {
        CHECK(pthread_create(&t, NULL, slow_reader, &r) == 0, "pthread_create");
    }
    FILE *f = fdopen(sv[0], "w");
    CHECK(f, "fdopen: %s", strerror(errno));
    long long written;
    uint64_t sum;
    errno = 0;
    const char *bad = write_stream(f, &written, &sum);
    int e = errno;
    int fc = fclose(f);
    int fce = errno;
    if (in_child) {
        CHECK(read(res[0], &r, sizeof r) == (ssize_t)sizeof r, "result read: %s", strerror(errno));
        close(res[0]);
        int st;
        CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "reader child status 0x%x", st);
    } else {
        CHECK(pthread_join(t, NULL) == 0, "pthread_join");
        close(sv[1]);
    }
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
    /* Reader in another process first (a stream error shows there even if an in-process
     * reader would deadlock), then reader in a thread. */
    for (int in_child = 1; in_child >= 0; in_child--) {
        if (only < 0 || only == 0) {
            loopback_pair(sv, 0);
            failures += one("tcp connected socket", sv, in_child);
        }
        if (only < 0 || only == 1) {
            loopback_pair(sv, 1);
            failures += one("tcp accepted socket", sv, in_child);
        }
        if (only < 0 || only == 2) {
            CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
            failures += one("socketpair", sv, in_child);
        }
        if (only < 0 || only == 3) {
            int p[2];
            CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
            sv[0] = p[1];
            sv[1] = p[0];
            failures += one("pipe", sv, in_child);
        }
    }
    metric("wall_ms", now_ms() - t0);
    metric("os_threads_max", os_max);
    CHECK(failures == 0, "%d stream(s) failed", failures);
    return 0;
}
