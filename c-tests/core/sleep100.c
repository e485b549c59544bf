/* sleep100: 100 pthreads each call sleep(1); main joins them all.
 *
 * Why: the "hello world" of green threads. Natively this takes ~1 s with
 * 101 OS threads; under greenshim it must also take ~1 s (the sleeps are
 * parked on the hub concurrently, not run one after another) but with a
 * single OS thread. The wall-time bound (< 5 s) proves the sleeps overlap.
 *
 * stdout: "100 threads slept\n"
 * metrics: wall_ms, os_threads_max (sampled by main after creating all
 * threads, before joining; natively ~101, under the shim ~1).
 */
#undef _GNU_SOURCE /* common.h defines it; avoid a redefinition warning */
#include "../common.h"
#include <pthread.h>
#include <stdint.h>

#define N 100

static void *sleeper(void *arg) {
    unsigned left = sleep(1);
    return (void *)(intptr_t)(left == 0 ? (intptr_t)arg : -1);
}

int main(void) {
    pthread_t t[N];
    long long t0 = now_ms();
    for (intptr_t i = 0; i < N; i++)
        CHECK(pthread_create(&t[i], NULL, sleeper, (void *)i) == 0, "create %ld", (long)i);
    int threads = os_threads();
    for (intptr_t i = 0; i < N; i++) {
        void *ret;
        CHECK(pthread_join(t[i], &ret) == 0, "join %ld", (long)i);
        CHECK(ret == (void *)i, "thread %ld: sleep(1) was interrupted", (long)i);
    }
    long long wall = now_ms() - t0;
    metric("os_threads_max", threads);
    metric("wall_ms", wall);
    CHECK(wall >= 990, "sleeps returned early: %lld ms", wall);
    CHECK(wall < 5000, "sleeps did not overlap: %lld ms", wall);
    printf("100 threads slept\n");
    return 0;
}
