/* compute: CPU-parallel work for the "several hubs" section of the benchmark suite
 * (the bench copy of c-tests/hubs/compute.c, with the work size as an argument).
 *
 *   compute THREADS ITERATIONS
 *
 * THREADS threads each run ITERATIONS steps of an integer recurrence that never makes
 * a system call; main joins them and prints the combined result, then
 * "RESULT wall_s=... threads=... os_threads=...". Natively the threads run on every
 * core; under the shim on one hub they take turns on one OS thread; with
 * GREENSHIM_HUBS=2 they are placed on both hubs and run side by side.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long iters;
static long max_threads_seen;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long os_threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0) v = atol(line + 8);
    fclose(f);
    return v;
}

static void *work(void *arg) {
    unsigned long x = (unsigned long)arg + 1;
    for (long i = 0; i < iters; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    return (void *)x;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2;
    iters = argc > 2 ? atol(argv[2]) : 500000000L;
    if (n < 1 || n > 64 || iters < 1) {
        fprintf(stderr, "usage: compute THREADS(1-64) ITERATIONS\n");
        return 2;
    }
    pthread_t t[64];
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&t[i], NULL, work, (void *)(long)i);
        if (rc != 0) {
            printf("RESULT failed=1 error=pthread_create\n");
            return 1;
        }
    }
    max_threads_seen = os_threads();
    unsigned long s = 0;
    for (int i = 0; i < n; i++) {
        void *r;
        pthread_join(t[i], &r);
        s ^= (unsigned long)r;
    }
    double dt = now_s() - t0;
    printf("%d threads: %lx\n", n, s);
    printf("RESULT wall_s=%.4f threads=%d os_threads=%ld\n", dt, n, max_threads_seen);
    return 0;
}
