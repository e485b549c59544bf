/* rwlock_hubs: 8 threads (4 per hub under GREENSHIM_HUBS=2) take one rwlock 30,000
 * times each, a third of the times to write (yielding while they hold it, so readers
 * and writers park often) and otherwise to read. A wake lost between an unlock on one
 * hub and a waiter parking on the other leaves a thread parked on a free lock: the
 * program hangs (the test's timeout ends it). Readers never see a write half done.
 *
 * stdout: the final value and the torn reads (0).
 */
#include "../common.h"
#include <pthread.h>
#include <sched.h>

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long val, torn;
static pthread_mutex_t tm = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
    long me = (long)arg, mine = 0;
    for (int i = 0; i < 30000; i++) {
        if ((i + me) % 3 == 0) {
            CHECK(pthread_rwlock_wrlock(&rw) == 0, "wrlock");
            long v = val;
            val = v + 1;
            sched_yield();
            val = v + 2;
            CHECK(pthread_rwlock_unlock(&rw) == 0, "unlock");
        } else {
            CHECK(pthread_rwlock_rdlock(&rw) == 0, "rdlock");
            if (val % 2) mine++;
            CHECK(pthread_rwlock_unlock(&rw) == 0, "unlock");
        }
    }
    pthread_mutex_lock(&tm);
    torn += mine;
    pthread_mutex_unlock(&tm);
    return NULL;
}

int main(void) {
    pthread_t t[8];
    for (long k = 0; k < 8; k++) CHECK(pthread_create(&t[k], NULL, worker, (void *)k) == 0, "create");
    for (int k = 0; k < 8; k++) CHECK(pthread_join(t[k], NULL) == 0, "join");
    printf("value %ld, torn reads %ld\n", val, torn);
    return 0;
}
