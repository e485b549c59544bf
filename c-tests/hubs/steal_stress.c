/* steal_stress: 5,000 threads created from four creator threads (on both hubs under
 * GREENSHIM_HUBS=2), in batches of 50, each doing a few steps of random short work —
 * a locked increment, a locked section that computes (so others park on the mutex),
 * sched_yield, a short sleep, a computation without calls (now and then a long one,
 * which keeps its hub busy while threads queue behind it and are taken by the other,
 * hub::steal). After every step a thread checks that its __thread variable (address
 * and value), &errno and pthread_self() are what they were at its start: a thread
 * moved after it started would see another OS thread's TLS. Creators check that the
 * pthread_t each thread saw is the one pthread_create returned. Totals are exact.
 */
#undef _GNU_SOURCE
#include "../common.h"
#include <pthread.h>

#define CREATORS 4
#define BATCHES 25
#define BATCH 50
#define TOTAL (CREATORS * BATCHES * BATCH)

static __thread long tl_id = -1;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static long sum, count, steps_total, bad;

struct job {
    long id;
    pthread_t self;
};

static unsigned long spin(unsigned long x, long n) {
    for (long i = 0; i < n; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}

static void *worker(void *arg) {
    struct job *j = arg;
    CHECK(tl_id == -1, "thread %ld: __thread starts at %ld", j->id, tl_id);
    tl_id = j->id;
    long *tl_addr = &tl_id;
    int *errno_addr = &errno;
    pthread_t self = pthread_self();
    unsigned long r = (unsigned long)j->id * 2654435761UL + 12345;
    int steps = 1 + (int)(r % 4);
    unsigned long x = 0;
    for (int s = 0; s < steps; s++) {
        r = r * 6364136223846793005UL + 1442695040888963407UL;
        switch ((r >> 33) % 5) {
        case 0:
            pthread_mutex_lock(&m);
            steps_total++;
            pthread_mutex_unlock(&m);
            break;
        case 1:
            pthread_mutex_lock(&m);
            x += spin(r, 2000);
            steps_total++;
            pthread_mutex_unlock(&m);
            break;
        case 2:
            sched_yield();
            break;
        case 3: {
            struct timespec ts = {0, (long)((r >> 20) % 200000)};
            nanosleep(&ts, NULL);
            break;
        }
        default:
            /* One thread in 40 computes a few milliseconds without a call. */
            x += spin(r, ((r >> 40) % 40 == 0) ? 3000000 : (long)((r >> 24) % 20000));
            break;
        }
        if (&tl_id != tl_addr || tl_id != j->id || &errno != errno_addr || !pthread_equal(pthread_self(), self)) {
            pthread_mutex_lock(&m);
            bad++;
            pthread_mutex_unlock(&m);
        }
    }
    j->self = self;
    pthread_mutex_lock(&m);
    sum += j->id;
    count++;
    pthread_mutex_unlock(&m);
    return (void *)(x | 1);
}

static struct job jobs[TOTAL];

static void *creator(void *arg) {
    long c = (long)arg;
    for (int b = 0; b < BATCHES; b++) {
        pthread_t t[BATCH];
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 64 << 10);
        for (int i = 0; i < BATCH; i++) {
            struct job *j = &jobs[(c * BATCHES + b) * BATCH + i];
            j->id = (c * BATCHES + b) * BATCH + i;
            CHECK(pthread_create(&t[i], &a, worker, j) == 0, "create");
        }
        pthread_attr_destroy(&a);
        for (int i = 0; i < BATCH; i++) {
            void *ret;
            CHECK(pthread_join(t[i], &ret) == 0, "join");
            struct job *j = &jobs[(c * BATCHES + b) * BATCH + i];
            CHECK(ret != NULL, "thread %ld returned NULL", j->id);
            CHECK(pthread_equal(j->self, t[i]), "thread %ld: pthread_self differs from pthread_create's id", j->id);
        }
    }
    return NULL;
}

int main(void) {
    pthread_t c[CREATORS];
    long long t0 = now_ms();
    for (long i = 0; i < CREATORS; i++) CHECK(pthread_create(&c[i], NULL, creator, (void *)i) == 0, "create creator");
    for (int i = 0; i < CREATORS; i++) CHECK(pthread_join(c[i], NULL) == 0, "join creator");
    long expect_steps = 0;
    for (long id = 0; id < TOTAL; id++) {
        unsigned long r = (unsigned long)id * 2654435761UL + 12345;
        int steps = 1 + (int)(r % 4);
        for (int s = 0; s < steps; s++) {
            r = r * 6364136223846793005UL + 1442695040888963407UL;
            if ((r >> 33) % 5 < 2) expect_steps++;
        }
    }
    printf("threads %ld of %d, sum of ids %ld (expected %ld)\n", count, TOTAL, sum, (long)TOTAL * (TOTAL - 1) / 2);
    printf("locked steps %ld (expected %ld)\n", steps_total, expect_steps);
    printf("threads that saw their TLS, errno or pthread_self change: %ld\n", bad);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
