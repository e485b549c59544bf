/* stdio_pipe_threads: many threads print to one pipe that a slow reader thread of the
 * program drains (4 KiB reads, 1 ms apart), while a ticker thread sleeps 2 ms at a
 * time. Natively a writer that finds the pipe full blocks its own OS thread only.
 * Under the shim every thread shares one OS thread:
 *   - phase "printf": 8 threads printf to stdout (dup2'ed onto the pipe, fully
 *     buffered, 4 KiB): the stdio hooks write the buffer with a parking write;
 *   - phase "wide": 8 threads, each with a FILE of its own on the pipe, fwprintf —
 *     wide-character output, which the hooks do not cover: glibc empties the buffer
 *     with its internal write, a raw `syscall` that only GREENSHIM_RAW=catch can park
 *     (without it the first full pipe stops the OS thread, the reader never runs).
 * Every record is 64 bytes. In the printf phase every flush is 4 KiB (one atomic pipe
 * write), so the reader checks that each thread's records arrive whole and in order;
 * glibc writes wide output in pieces of a few bytes (natively too), so for that phase
 * it checks the byte count, the newlines and the byte sum. The ticker must keep ticking.
 *
 * stdout: per thread, the printf records that arrived in order; the wide phase's totals.
 * METRIC ticks, worst_gap_ms (the ticker's longest sleep).
 */
#include "../common.h"
#include <pthread.h>
#include <stdatomic.h>
#include <wchar.h>

#define NT 8
#define RECS 2000
#define REC 64

static int pipe_fd[2];
static atomic_int stop_ticker;
static atomic_long ticks;
static long long worst_gap;
static long got[NT], bad;
/* The wide phase: bytes, newlines, sum of the bytes. */
static long long wide_bytes, wide_lines, wide_sum;
#define PHASE_BYTES ((long long)NT * RECS * REC)

static void *ticker(void *arg) {
    (void)arg;
    long long t = now_ms();
    while (!atomic_load(&stop_ticker)) {
        usleep(2000);
        long long u = now_ms();
        if (u - t > worst_gap) worst_gap = u - t;
        t = u;
        atomic_fetch_add(&ticks, 1);
    }
    return NULL;
}

static void record(const char *r) {
    int t = r[1] - '0';
    long seq = strtol(r + 3, NULL, 10);
    if (r[0] != 'P' || t < 0 || t >= NT || r[REC - 1] != '\n' || seq != got[t]) {
        if (bad++ < 5) fprintf(stderr, "bad record: %.63s\n", r);
        return;
    }
    got[t]++;
}

static void *reader(void *arg) {
    (void)arg;
    char chunk[4096], rec[REC];
    size_t have = 0;
    long long total = 0;
    for (;;) {
        ssize_t n = read(pipe_fd[0], chunk, sizeof chunk);
        CHECK(n >= 0, "read: %s", strerror(errno));
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++, total++) {
            unsigned char c = (unsigned char)chunk[i];
            if (total < PHASE_BYTES) {
                rec[have++] = (char)c;
                if (have == REC) {
                    record(rec);
                    have = 0;
                }
            } else {
                wide_bytes++;
                wide_sum += c;
                wide_lines += c == '\n';
            }
        }
        usleep(1000);
    }
    CHECK(have == 0, "%zu bytes of a partial record at the end", have);
    return NULL;
}

static void *printf_writer(void *arg) {
    int t = (int)(long)arg;
    for (int i = 0; i < RECS; i++) CHECK(printf("P%d %06d %53s\n", t, i, "") == REC, "printf");
    return NULL;
}

static void *wide_writer(void *arg) {
    int t = (int)(long)arg;
    int fd = dup(pipe_fd[1]);
    CHECK(fd >= 0, "dup: %s", strerror(errno));
    FILE *f = fdopen(fd, "w");
    CHECK(f, "fdopen: %s", strerror(errno));
    CHECK(setvbuf(f, NULL, _IOFBF, 4096) == 0, "setvbuf");
    CHECK(fwide(f, 1) > 0, "fwide");
    for (int i = 0; i < RECS; i++) CHECK(fwprintf(f, L"W%d %06d %53ls\n", t, i, L"") == REC, "fwprintf");
    CHECK(fclose(f) == 0, "fclose: %s", strerror(errno));
    return NULL;
}

int main(void) {
    alarm(60);
    CHECK(pipe(pipe_fd) == 0, "pipe");
    int saved = dup(1);
    CHECK(saved >= 0, "dup");
    pthread_t tk, rd, w[NT];
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create");
    CHECK(pthread_create(&rd, NULL, reader, NULL) == 0, "create");

    fflush(stdout);
    CHECK(dup2(pipe_fd[1], 1) == 1, "dup2");
    CHECK(setvbuf(stdout, NULL, _IOFBF, 4096) == 0, "setvbuf");
    for (long t = 0; t < NT; t++) CHECK(pthread_create(&w[t], NULL, printf_writer, (void *)t) == 0, "create");
    for (int t = 0; t < NT; t++) pthread_join(w[t], NULL);
    CHECK(fflush(stdout) == 0, "fflush: %s", strerror(errno));

    for (long t = 0; t < NT; t++) CHECK(pthread_create(&w[t], NULL, wide_writer, (void *)t) == 0, "create");
    for (int t = 0; t < NT; t++) pthread_join(w[t], NULL);

    CHECK(dup2(saved, 1) == 1, "dup2 back");
    close(saved);
    close(pipe_fd[1]);
    pthread_join(rd, NULL);
    atomic_store(&stop_ticker, 1);
    pthread_join(tk, NULL);

    for (int t = 0; t < NT; t++) printf("printf thread %d: %ld records in order\n", t, got[t]);
    printf("bad records: %ld\n", bad);
    printf("fwprintf: %lld bytes, %lld lines, byte sum %lld\n", wide_bytes, wide_lines, wide_sum);
    printf("ticker ran meanwhile: %s\n", atomic_load(&ticks) >= 10 ? "yes" : "no");
    fprintf(stderr, "METRIC ticks=%ld\nMETRIC worst_gap_ms=%lld\n", atomic_load(&ticks), worst_gap);
    return 0;
}
