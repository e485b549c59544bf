/* pipe_pingpong: two threads bounce one byte over two pipes 10000 times.
 *
 * Why: measures the park/wake latency of blocking pipe read/write (the
 * green-thread context-switch cost under greenshim vs. a futex/scheduler
 * round trip natively) and checks nothing is lost or reordered: the pinger
 * sends i & 0xff, the ponger answers with that byte + 1.
 *
 * stdout: "10000 round trips\n"
 * metrics: rt_ns (average round trip), wall_ms, os_threads_max (sampled by
 * the pinger once both threads run).
 */
#undef _GNU_SOURCE /* common.h defines it; avoid a redefinition warning */
#include "../common.h"
#include <pthread.h>

#define ROUNDS 10000

static int ping[2], pong[2];
static int threads_max;

static void *pinger(void *arg) {
    (void)arg;
    threads_max = os_threads();
    for (int i = 0; i < ROUNDS; i++) {
        unsigned char b = (unsigned char)i, r;
        CHECK(write(ping[1], &b, 1) == 1, "ping write: %s", strerror(errno));
        CHECK(read(pong[0], &r, 1) == 1, "pong read: %s", strerror(errno));
        CHECK(r == (unsigned char)(b + 1), "round %d: got %u want %u", i, r, (unsigned char)(b + 1));
    }
    close(ping[1]); /* EOF tells the ponger to stop */
    return NULL;
}

static void *ponger(void *arg) {
    (void)arg;
    unsigned char b;
    ssize_t n;
    int rounds = 0;
    while ((n = read(ping[0], &b, 1)) == 1) {
        b++;
        CHECK(write(pong[1], &b, 1) == 1, "pong write: %s", strerror(errno));
        rounds++;
    }
    CHECK(n == 0, "ping read: %s", strerror(errno));
    return (void *)(long)rounds;
}

int main(void) {
    CHECK(pipe(ping) == 0 && pipe(pong) == 0, "pipe: %s", strerror(errno));
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pthread_t p1, p2;
    void *rounds;
    CHECK(pthread_create(&p2, NULL, ponger, NULL) == 0, "create ponger");
    CHECK(pthread_create(&p1, NULL, pinger, NULL) == 0, "create pinger");
    CHECK(pthread_join(p1, NULL) == 0 && pthread_join(p2, &rounds) == 0, "join");
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    metric("rt_ns", ns / ROUNDS);
    metric("wall_ms", ns / 1000000);
    metric("os_threads_max", threads_max);
    CHECK((long)rounds == ROUNDS, "ponger saw %ld rounds", (long)rounds);
    printf("%d round trips\n", ROUNDS);
    return 0;
}
