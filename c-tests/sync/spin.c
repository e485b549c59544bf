/* spin: pthread_spin_lock/unlock protecting a counter, 16 threads x 10000
 * iterations, each thread calling sched_yield() outside the lock (the lock
 * is never held across a blocking call, so a cooperative scheduler cannot
 * deadlock on it). The total must be exact. Also: pthread_spin_trylock on a
 * lock held by another thread -> EBUSY, and on a free lock -> 0. */
#include "../common.h"
#include <pthread.h>
#include <sched.h>

#define N 16
#define ITERS 10000

static pthread_spinlock_t sl;
static long counter;
static int os_max;

static void *worker(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < ITERS; i++) {
        pthread_spin_lock(&sl);
        counter++;
        pthread_spin_unlock(&sl);
        sched_yield();
        if (id == 0 && i == ITERS / 2) {
            int n = os_threads();
            if (n > __atomic_load_n(&os_max, __ATOMIC_RELAXED)) __atomic_store_n(&os_max, n, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

static void *try_it(void *arg) {
    (void)arg;
    long rc = pthread_spin_trylock(&sl);
    if (rc == 0) pthread_spin_unlock(&sl);
    return (void *)rc;
}

static int trylock_in_other_thread(void) {
    pthread_t t;
    void *r;
    CHECK(pthread_create(&t, NULL, try_it, NULL) == 0, "create");
    CHECK(pthread_join(t, &r) == 0, "join");
    return (int)(long)r;
}

int main(void) {
    pthread_t t[N];
    long long t0 = now_ms();
    CHECK(pthread_spin_init(&sl, PTHREAD_PROCESS_PRIVATE) == 0, "spin_init");
    for (long i = 0; i < N; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0, "create");
    int n = os_threads();
    if (n > __atomic_load_n(&os_max, __ATOMIC_RELAXED)) __atomic_store_n(&os_max, n, __ATOMIC_RELAXED);
    for (int i = 0; i < N; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    CHECK(counter == (long)N * ITERS, "counter %ld, want %ld", counter, (long)N * ITERS);
    printf("%d threads x %d spin-locked increments: counter %ld\n", N, ITERS, counter);

    CHECK(pthread_spin_lock(&sl) == 0, "spin_lock");
    int rc = trylock_in_other_thread();
    CHECK(rc == EBUSY, "trylock on held lock: %d, want EBUSY", rc);
    printf("spin_trylock on held lock: EBUSY\n");
    CHECK(pthread_spin_unlock(&sl) == 0, "spin_unlock");
    rc = trylock_in_other_thread();
    CHECK(rc == 0, "trylock on free lock: %d, want 0", rc);
    printf("spin_trylock on free lock: 0\n");
    CHECK(pthread_spin_destroy(&sl) == 0, "spin_destroy");

    metric("os_threads_max", os_max);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
