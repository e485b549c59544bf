/* once: pthread_once where the init routine parks (usleep 200 ms) while 20
 * threads call pthread_once concurrently (released together by a barrier).
 * Checks that init runs exactly once and that every caller returns only
 * after init has finished (it sets a flag as its last action), i.e. the
 * other callers wait for the in-progress init instead of skipping it.
 * The whole thing must take ~200 ms, not 20 x 200 ms. */
#include "../common.h"
#include <pthread.h>

#define N 20

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_barrier_t start;
static int init_calls, init_done, os_max;

static void init(void) {
    __atomic_fetch_add(&init_calls, 1, __ATOMIC_SEQ_CST);
    usleep(200000);
    __atomic_store_n(&os_max, os_threads(), __ATOMIC_SEQ_CST); /* all callers are waiting now */
    __atomic_store_n(&init_done, 1, __ATOMIC_SEQ_CST);
}

static void *caller(void *arg) {
    (void)arg;
    pthread_barrier_wait(&start);
    CHECK(pthread_once(&once, init) == 0, "pthread_once");
    return (void *)(long)__atomic_load_n(&init_done, __ATOMIC_SEQ_CST);
}

int main(void) {
    pthread_t t[N];
    long long t0 = now_ms();
    CHECK(pthread_barrier_init(&start, NULL, N) == 0, "barrier_init");
    for (int i = 0; i < N; i++) CHECK(pthread_create(&t[i], NULL, caller, NULL) == 0, "create");
    int saw_done = 0;
    for (int i = 0; i < N; i++) {
        void *r;
        CHECK(pthread_join(t[i], &r) == 0, "join");
        saw_done += (r != NULL);
    }
    long long wall = now_ms() - t0;
    CHECK(init_calls == 1, "init ran %d times", init_calls);
    CHECK(saw_done == N, "only %d of %d callers saw init finished", saw_done, N);
    CHECK(wall >= 180 && wall < 2000, "wall %lld ms, want ~200", wall);
    CHECK(pthread_once(&once, init) == 0 && init_calls == 1, "second pthread_once from main");
    printf("init ran %d time(s)\n", init_calls);
    printf("%d of %d callers returned after init finished\n", saw_done, N);
    pthread_barrier_destroy(&start);
    metric("os_threads_max", os_max);
    metric("wall_ms", wall);
    return 0;
}
