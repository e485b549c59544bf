/* Shared helpers for greenshim's self-checking test programs.
 *
 * Contract every program in c-tests/ follows (tests/ctests.rs relies on it):
 *   - stdout is deterministic: the same bytes natively and under the shim;
 *   - exit status 0 means every check passed; a failed check prints
 *     "FAIL: <why>" on stderr and exits 1;
 *   - measurements that differ between runs (wall time, OS threads) go to
 *     stderr as "METRIC name=value" lines, which the harness parses.
 */
#ifndef GREENSHIM_TEST_COMMON_H
#define GREENSHIM_TEST_COMMON_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "FAIL: %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

static inline long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The time `ms` milliseconds from now on `clock`, for the absolute deadlines of timed waits. */
static inline struct timespec deadline_ms(clockid_t clock, long ms) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    return ts;
}

/* Number of OS threads in this process right now ("Threads:" in /proc). */
static inline int os_threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    fclose(f);
    return n;
}

static inline void metric(const char *name, long long value) {
    fprintf(stderr, "METRIC %s=%lld\n", name, value);
}

#endif
