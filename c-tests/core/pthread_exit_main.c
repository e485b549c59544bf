/* pthread_exit_main: main calls pthread_exit(); the process must live on
 * until every other thread has finished, then exit with status 0.
 *
 * Why: under greenshim main is itself a green thread on the hub; its
 * pthread_exit must not end the process nor stop the scheduler while other
 * green threads are still parked (here in nanosleep).
 * Thread i (0..4) sleeps 200 ms + 100 ms * i, then write()s its line to
 * stdout directly (no stdio buffer that exit might not flush). The 100 ms
 * spacing makes the order deterministic; each thread also checks that
 * exactly i threads finished before it.
 *
 * stdout: "thread 0 done\n" ... "thread 4 done\n"  (exit status 0)
 * metrics: os_threads_max (main, before pthread_exit), wall_ms (emitted by
 * the last thread).
 */
#undef _GNU_SOURCE /* common.h defines it; avoid a redefinition warning */
#include "../common.h"
#include <pthread.h>
#include <stdint.h>

#define N 5

static int finished;
static long long t0;

static void *worker(void *arg) {
    int i = (int)(intptr_t)arg;
    struct timespec ts = {0, (200 + 100 * i) * 1000000L};
    CHECK(nanosleep(&ts, NULL) == 0, "nanosleep: %s", strerror(errno));
    int before = __atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
    CHECK(before == i, "thread %d finished after %d others", i, before);
    char line[32];
    int n = snprintf(line, sizeof line, "thread %d done\n", i);
    CHECK(write(1, line, (size_t)n) == n, "write: %s", strerror(errno));
    if (i == N - 1) metric("wall_ms", now_ms() - t0);
    return NULL;
}

int main(void) {
    t0 = now_ms();
    for (intptr_t i = 0; i < N; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, worker, (void *)i) == 0, "create %ld", (long)i);
    }
    metric("os_threads_max", os_threads());
    pthread_exit(NULL);
}
