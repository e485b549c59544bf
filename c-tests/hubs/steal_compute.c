/* steal_compute: a compute thread that runs about a second without a single call,
 * then 50 short threads created while it runs. Natively on two CPUs the short threads
 * finish long before the compute thread. Under GREENSHIM_HUBS=2 the compute thread is
 * placed on hub 1 (main's hub 0 has main) and placement puts every other short thread
 * behind it on hub 1: they have not started, so hub 0, idle once its own short threads
 * are done and main waits, takes them (hub::steal) instead of leaving them until the
 * compute thread ends. Every fifth short thread is cancelled right after its creation
 * (before it starts, under the shim, when it is behind the compute thread) and ends at
 * its first cancellation point; every fifth other one is detached.
 * metrics: compute_ms (the compute thread's run), shorts_ms (first short thread
 * created to the last one done).
 */
#undef _GNU_SOURCE
#include "../common.h"
#include <pthread.h>

#define SHORTS 50

static unsigned long spin(unsigned long x, long n) {
    for (long i = 0; i < n; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}

static long compute_iters;
static volatile int started;
static long long compute_end;
static long long done_at[SHORTS];
static int done, go;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void unlock(void *arg) {
    pthread_mutex_unlock(arg);
}

static void *compute(void *arg) {
    started = 1;
    unsigned long x = spin((unsigned long)arg, compute_iters);
    compute_end = now_ms();
    return (void *)x;
}

static void *shortwork(void *arg) {
    long i = (long)arg;
    /* Cancellation points: main cancels before it sets `go`, so a cancelled thread
     * ends either waiting for `go` or in pthread_testcancel once it saw it. */
    pthread_mutex_lock(&m);
    pthread_cleanup_push(unlock, &m);
    while (!go) pthread_cond_wait(&cv, &m);
    pthread_cleanup_pop(1);
    pthread_testcancel();
    unsigned long x = spin((unsigned long)i, 200000);
    pthread_mutex_lock(&m);
    done_at[i] = now_ms();
    done++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&m);
    return (void *)x;
}

int main(void) {
    /* About a second of work, measured here first (before any thread exists). */
    long long c0 = now_ms();
    unsigned long probe = spin(1, 20000000L);
    long long took = now_ms() - c0;
    if (took < 1) took = 1;
    compute_iters = 20000000L * 1000 / took;

    pthread_t c, t[SHORTS];
    long long t_start = now_ms();
    CHECK(pthread_create(&c, NULL, compute, (void *)probe) == 0, "create compute");
    while (!started) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    long long s0 = now_ms();
    for (long i = 0; i < SHORTS; i++) CHECK(pthread_create(&t[i], NULL, shortwork, (void *)i) == 0, "create short %ld", i);
    int cancelled = 0;
    for (int i = 0; i < SHORTS; i += 5) CHECK(pthread_cancel(t[i]) == 0, "cancel %d", i);
    for (int i = 1; i < SHORTS; i += 5) CHECK(pthread_detach(t[i]) == 0, "detach %d", i);
    pthread_mutex_lock(&m);
    go = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&m);
    for (int i = 0; i < SHORTS; i++) {
        if (i % 5 == 1) continue;
        void *r;
        CHECK(pthread_join(t[i], &r) == 0, "join short %d", i);
        CHECK((r == PTHREAD_CANCELED) == (i % 5 == 0), "short %d returned %p", i, r);
        cancelled += r == PTHREAD_CANCELED;
    }
    pthread_mutex_lock(&m);
    while (done < SHORTS - cancelled) pthread_cond_wait(&cv, &m);
    pthread_mutex_unlock(&m);
    long long last = 0;
    for (int i = 0; i < SHORTS; i++)
        if (done_at[i] > last) last = done_at[i];
    CHECK(pthread_join(c, NULL) == 0, "join compute");
    printf("short threads done: %d, cancelled: %d\n", done, cancelled);
    printf("every short thread finished before the compute thread: %s\n", last < compute_end ? "yes" : "no");
    metric("compute_ms", compute_end - t_start);
    metric("shorts_ms", last - s0);
    return 0;
}
