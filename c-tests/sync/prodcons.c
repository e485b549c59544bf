/* prodcons: classic bounded buffer (one mutex, two condvars "not_full" and
 * "not_empty"), 8 producers x 20000 items, 8 consumers.
 * Checks that every item is consumed exactly once (count, sum and a
 * per-item "seen" table), i.e. that condvar wait/signal/broadcast never lose
 * or duplicate a wakeup when threads park on the buffer under the shim.
 * Consumers stop on one sentinel (-1) each, pushed by main after the
 * producers are joined. */
#include "../common.h"
#include <pthread.h>

#define NPROD 8
#define NCONS 8
#define PER_PROD 20000
#define TOTAL (NPROD * PER_PROD)
#define CAP 64

static long buf[CAP];
static int head, count;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static unsigned char seen[TOTAL];
static int os_max;

static void sample_threads(void) {
    int n = os_threads();
    pthread_mutex_lock(&m);
    if (n > os_max) os_max = n;
    pthread_mutex_unlock(&m);
}

static void put(long v) {
    pthread_mutex_lock(&m);
    while (count == CAP) pthread_cond_wait(&not_full, &m);
    buf[(head + count) % CAP] = v;
    count++;
    pthread_cond_signal(&not_empty);
    pthread_mutex_unlock(&m);
}

static long get(void) {
    pthread_mutex_lock(&m);
    while (count == 0) pthread_cond_wait(&not_empty, &m);
    long v = buf[head];
    head = (head + 1) % CAP;
    count--;
    pthread_cond_signal(&not_full);
    pthread_mutex_unlock(&m);
    return v;
}

static void *producer(void *arg) {
    long p = (long)arg;
    for (long i = 0; i < PER_PROD; i++) put(p * PER_PROD + i);
    return NULL;
}

struct cres { long long sum; long n; };

static void *consumer(void *arg) {
    struct cres *r = arg;
    for (;;) {
        long v = get();
        if (v < 0) break;
        CHECK(v < TOTAL, "bad item %ld", v);
        __atomic_fetch_add(&seen[v], 1, __ATOMIC_RELAXED);
        r->sum += v;
        if (++r->n % 2000 == 0) sample_threads();
    }
    return NULL;
}

int main(void) {
    pthread_t prod[NPROD], cons[NCONS];
    struct cres res[NCONS] = {{0, 0}};
    long long t0 = now_ms();

    for (long i = 0; i < NCONS; i++)
        CHECK(pthread_create(&cons[i], NULL, consumer, &res[i]) == 0, "create consumer");
    for (long i = 0; i < NPROD; i++)
        CHECK(pthread_create(&prod[i], NULL, producer, (void *)i) == 0, "create producer");
    sample_threads();
    for (int i = 0; i < NPROD; i++) CHECK(pthread_join(prod[i], NULL) == 0, "join producer");
    for (int i = 0; i < NCONS; i++) put(-1);
    for (int i = 0; i < NCONS; i++) CHECK(pthread_join(cons[i], NULL) == 0, "join consumer");

    long long sum = 0;
    long n = 0;
    for (int i = 0; i < NCONS; i++) { sum += res[i].sum; n += res[i].n; }
    for (long i = 0; i < TOTAL; i++) CHECK(seen[i] == 1, "item %ld seen %d times", i, seen[i]);
    CHECK(n == TOTAL, "consumed %ld, expected %d", n, TOTAL);
    CHECK(sum == (long long)TOTAL * (TOTAL - 1) / 2, "sum %lld", sum);
    CHECK(count == 0, "buffer not empty: %d", count);

    printf("produced %d items by %d producers\n", TOTAL, NPROD);
    printf("consumed %ld items by %d consumers, sum %lld\n", n, NCONS, sum);
    metric("os_threads_max", os_max);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
