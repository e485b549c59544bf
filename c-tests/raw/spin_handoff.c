/* spin_handoff: redis-server's I/O-thread hand-off, reduced. The main thread starts a
 * helper OS thread with libc's own pthread_create (looked up in libc itself, as
 * jemalloc does for its background thread: the shim does not interpose it, so glibc's
 * clone3 runs as a raw system call), then hands work to two worker threads through
 * atomic counters and spins, with no system call, until they are done; the workers spin
 * the same way waiting for work. Natively the kernel runs them side by side; under the
 * shim only preemption (GREENSHIM_PREEMPT) can switch a spinning thread out — including
 * the main thread after its raw clone3, which must stay watched.
 *
 * stdout: each round's result and the total. METRIC spin_rounds: rounds completed.
 */
#include "../common.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>

#define WORKERS 2
#define ROUNDS 20

static atomic_long pending[WORKERS];
static atomic_ulong result[WORKERS];
static atomic_int stop;
static int helper_pipe[2];

static void *worker(void *arg) {
    long id = (long)arg;
    for (;;) {
        long job;
        while ((job = atomic_load(&pending[id])) == 0)
            if (atomic_load(&stop)) return NULL;
        unsigned long h = 1469598103934665603UL ^ (unsigned long)id;
        for (long i = 0; i < 200000; i++) h = (h ^ (unsigned long)(i + job)) * 1099511628211UL;
        atomic_store(&result[id], h);
        atomic_store(&pending[id], 0);
    }
}

/* The helper OS thread: waits for the pipe to close (a real blocking read). */
static void *helper(void *arg) {
    (void)arg;
    char c;
    while (read(helper_pipe[0], &c, 1) > 0) {
    }
    return NULL;
}

int main(void) {
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    CHECK(libc != NULL, "dlopen libc: %s", dlerror());
    int (*libc_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *) =
        (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(libc, "pthread_create");
    int (*libc_join)(pthread_t, void **) = (int (*)(pthread_t, void **))dlsym(libc, "pthread_join");
    CHECK(libc_create && libc_join, "dlsym");
    CHECK(pipe(helper_pipe) == 0, "pipe");
    pthread_t h, w[WORKERS];
    CHECK(libc_create(&h, NULL, helper, NULL) == 0, "libc pthread_create");
    for (long i = 0; i < WORKERS; i++) CHECK(pthread_create(&w[i], NULL, worker, (void *)i) == 0, "create");

    unsigned long total = 0;
    int rounds = 0;
    for (int r = 1; r <= ROUNDS; r++) {
        for (int i = 0; i < WORKERS; i++) atomic_store(&pending[i], r);
        /* Spin until every worker is done: no system call, as redis's main thread. */
        for (;;) {
            long left = 0;
            for (int i = 0; i < WORKERS; i++) left += atomic_load(&pending[i]);
            if (left == 0) break;
        }
        unsigned long x = 0;
        for (int i = 0; i < WORKERS; i++) x ^= atomic_load(&result[i]);
        printf("round %d: %016lx\n", r, x);
        total += x;
        rounds++;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++) pthread_join(w[i], NULL);
    close(helper_pipe[1]);
    CHECK(libc_join(h, NULL) == 0, "libc pthread_join");
    printf("total %016lx\n", total);
    fprintf(stderr, "METRIC spin_rounds=%d\n", rounds);
    return 0;
}
