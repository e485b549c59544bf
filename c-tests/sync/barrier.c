/* barrier: pthread_barrier_wait with N=50 threads over 3 rounds.
 * Checks that exactly one thread per round gets PTHREAD_BARRIER_SERIAL_THREAD,
 * that nobody leaves round r before all 50 arrived at it, and that nobody
 * arrives at round r+1 before all 50 arrived at round r (phases never
 * interleave). Arrivals are staggered with short usleeps so that threads
 * really park at the barrier. */
#include "../common.h"
#include <pthread.h>

#define N 50
#define ROUNDS 3

static pthread_barrier_t bar;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER; /* protects the counters */
static int arrived[ROUNDS], left[ROUNDS], serial[ROUNDS], bad_early_leave, bad_interleave;
static int os_max;

static void *worker(void *arg) {
    long id = (long)arg;
    for (int r = 0; r < ROUNDS; r++) {
        usleep(1000 * ((id * 7 + r * 3) % 10)); /* stagger arrivals */
        pthread_mutex_lock(&m);
        if (r > 0 && arrived[r - 1] != N) bad_interleave++;
        arrived[r]++;
        pthread_mutex_unlock(&m);

        int rc = pthread_barrier_wait(&bar);
        CHECK(rc == 0 || rc == PTHREAD_BARRIER_SERIAL_THREAD, "barrier_wait rc %d", rc);

        pthread_mutex_lock(&m);
        if (arrived[r] != N) bad_early_leave++;
        left[r]++;
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD) serial[r]++;
        pthread_mutex_unlock(&m);
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD && r == 0) {
            int n = os_threads();
            pthread_mutex_lock(&m);
            if (n > os_max) os_max = n;
            pthread_mutex_unlock(&m);
        }
    }
    return NULL;
}

int main(void) {
    pthread_t t[N];
    long long t0 = now_ms();
    CHECK(pthread_barrier_init(&bar, NULL, N) == 0, "barrier_init");
    for (long i = 0; i < N; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0, "create");
    for (int i = 0; i < N; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    CHECK(bad_early_leave == 0, "%d threads left a round before all arrived", bad_early_leave);
    CHECK(bad_interleave == 0, "%d threads entered a round before the previous completed", bad_interleave);
    for (int r = 0; r < ROUNDS; r++) {
        CHECK(arrived[r] == N && left[r] == N, "round %d: arrived %d left %d", r, arrived[r], left[r]);
        CHECK(serial[r] == 1, "round %d: %d serial threads", r, serial[r]);
        printf("round %d: %d arrived, %d left, %d serial thread\n", r, arrived[r], left[r], serial[r]);
    }
    CHECK(pthread_barrier_destroy(&bar) == 0, "barrier_destroy");
    printf("barrier destroyed\n");
    metric("os_threads_max", os_max);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
