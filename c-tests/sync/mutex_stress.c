/* mutex_stress: 10000 threads (64 KiB stacks so glibc can create them all
 * natively) each do 100 x { lock; counter++; unlock; sched_yield(); }.
 * The final counter must be exactly 1,000,000: no lost update and no lost
 * wakeup with a very contended mutex and a huge number of parked threads.
 * Under the shim the OS thread count stays ~1 (os_threads_max metric). */
#include "../common.h"
#include <pthread.h>
#include <sched.h>

#define NTHREADS 10000
#define ITERS 100

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static int os_max;

static void *worker(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < ITERS; i++) {
        pthread_mutex_lock(&m);
        counter++;
        pthread_mutex_unlock(&m);
        sched_yield();
    }
    if (id % 500 == 0) { /* sample now and then; reading /proc is slow */
        int n = os_threads();
        pthread_mutex_lock(&m);
        if (n > os_max) os_max = n;
        pthread_mutex_unlock(&m);
    }
    return NULL;
}

int main(void) {
    static pthread_t t[NTHREADS];
    pthread_attr_t a;
    long long t0 = now_ms();
    CHECK(pthread_attr_init(&a) == 0, "attr_init");
    CHECK(pthread_attr_setstacksize(&a, 64 * 1024) == 0, "setstacksize");
    for (long i = 0; i < NTHREADS; i++) {
        int rc = pthread_create(&t[i], &a, worker, (void *)i);
        CHECK(rc == 0, "pthread_create #%ld: %s", i, strerror(rc));
    }
    pthread_attr_destroy(&a);
    int n = os_threads(); /* peak: every thread has been created */
    pthread_mutex_lock(&m);
    if (n > os_max) os_max = n;
    pthread_mutex_unlock(&m);
    for (int i = 0; i < NTHREADS; i++) CHECK(pthread_join(t[i], NULL) == 0, "join #%d", i);
    CHECK(counter == (long)NTHREADS * ITERS, "counter %ld, want %ld", counter, (long)NTHREADS * ITERS);
    printf("%d threads x %d increments: counter %ld\n", NTHREADS, ITERS, counter);
    metric("os_threads_max", os_max);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
