/* timed_waits: timeouts of condvar and semaphore waits must expire on time
 * (the shim turns them into timers on its hub) and return glibc's codes:
 * - pthread_cond_timedwait (CLOCK_REALTIME), with condattr CLOCK_MONOTONIC,
 *   and pthread_cond_clockwait: ETIMEDOUT after ~150 ms;
 * - a signal sent by another thread at ~50 ms wakes the waiter early (0);
 * - sem_timedwait / sem_clockwait: -1/ETIMEDOUT after ~150 ms, and 0 when
 *   another thread posts at ~50 ms; sem_trywait on 0 -> -1/EAGAIN;
 *   sem_post / sem_getvalue counts;
 * - deadlines already in the past return ETIMEDOUT immediately.
 * Elapsed-time bounds are generous (>= 0.9x the timeout, <= 2 s). */
#include "../common.h"
#include <pthread.h>
#include <semaphore.h>

static const char *ename(int e) {
    switch (e) {
    case 0: return "0";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EAGAIN: return "EAGAIN";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    default: return "E?";
    }
}

static struct timespec deadline(clockid_t c, long ms) { /* ms may be < 0 */
    struct timespec ts;
    clock_gettime(c, &ts);
    long long ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec + ms * 1000000LL;
    ts.tv_sec = ns / 1000000000LL;
    ts.tv_nsec = ns % 1000000000LL;
    return ts;
}

static void report(const char *what, int rc, int want, long long ms, long long lo, long long hi) {
    CHECK(rc == want, "%s: got %s (%d), want %s", what, ename(rc), rc, ename(want));
    CHECK(ms >= lo && ms <= hi, "%s: elapsed %lld ms, want %lld..%lld", what, ms, lo, hi);
    printf("%s: %s\n", what, ename(rc));
}

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_rt = PTHREAD_COND_INITIALIZER, cv_mono;
static int flag; /* predicate, protected by m */
static sem_t sem;
static int os_max;

/* Wait on cv until flag is set or the deadline passes; spurious wakeups loop. */
static int cond_wait_until(pthread_cond_t *cv, int kind, clockid_t c, long ms) {
    struct timespec ts = deadline(c, ms);
    int rc = 0;
    pthread_mutex_lock(&m);
    while (!flag && rc == 0)
        rc = kind ? pthread_cond_clockwait(cv, &m, c, &ts) : pthread_cond_timedwait(cv, &m, &ts);
    pthread_mutex_unlock(&m);
    return rc;
}

static void *signal_at_50ms(void *arg) {
    int n = os_threads();
    if (n > os_max) os_max = n; /* read by main only after join */
    usleep(50000);
    if (arg) {
        sem_post(&sem);
    } else {
        pthread_mutex_lock(&m);
        flag = 1;
        pthread_cond_signal(&cv_rt);
        pthread_mutex_unlock(&m);
    }
    return NULL;
}

static int sem_rc(int r) { return r == 0 ? 0 : errno; }

int main(void) {
    long long t0 = now_ms(), t;
    int rc;
    pthread_t th;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    CHECK(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0, "setclock");
    clockid_t got;
    CHECK(pthread_condattr_getclock(&ca, &got) == 0 && got == CLOCK_MONOTONIC, "getclock");
    CHECK(pthread_cond_init(&cv_mono, &ca) == 0, "cond init");
    pthread_condattr_destroy(&ca);

    t = now_ms();
    rc = cond_wait_until(&cv_rt, 0, CLOCK_REALTIME, 150);
    report("cond_timedwait(REALTIME) 150ms", rc, ETIMEDOUT, now_ms() - t, 135, 2000);

    t = now_ms();
    rc = cond_wait_until(&cv_mono, 0, CLOCK_MONOTONIC, 150);
    report("cond_timedwait(condattr MONOTONIC) 150ms", rc, ETIMEDOUT, now_ms() - t, 135, 2000);

    t = now_ms();
    rc = cond_wait_until(&cv_rt, 1, CLOCK_MONOTONIC, 150);
    report("cond_clockwait(MONOTONIC) 150ms", rc, ETIMEDOUT, now_ms() - t, 135, 2000);

    t = now_ms();
    rc = cond_wait_until(&cv_rt, 1, CLOCK_REALTIME, 150);
    report("cond_clockwait(REALTIME) 150ms", rc, ETIMEDOUT, now_ms() - t, 135, 2000);

    /* signalled at ~50 ms, long before the 2 s timeout */
    t = now_ms();
    CHECK(pthread_create(&th, NULL, signal_at_50ms, NULL) == 0, "create");
    rc = cond_wait_until(&cv_rt, 0, CLOCK_REALTIME, 2000);
    report("cond_timedwait signalled at 50ms", rc, 0, now_ms() - t, 45, 1500);
    CHECK(pthread_join(th, NULL) == 0, "join");
    flag = 0;

    /* deadlines in the past */
    t = now_ms();
    rc = cond_wait_until(&cv_rt, 0, CLOCK_REALTIME, -1000);
    report("cond_timedwait past deadline", rc, ETIMEDOUT, now_ms() - t, 0, 100);
    t = now_ms();
    rc = cond_wait_until(&cv_mono, 1, CLOCK_MONOTONIC, -1000);
    report("cond_clockwait past deadline", rc, ETIMEDOUT, now_ms() - t, 0, 100);

    /* semaphores */
    CHECK(sem_init(&sem, 0, 0) == 0, "sem_init");
    struct timespec ts = deadline(CLOCK_REALTIME, 150);
    t = now_ms();
    rc = sem_rc(sem_timedwait(&sem, &ts));
    report("sem_timedwait 150ms", rc, ETIMEDOUT, now_ms() - t, 135, 2000);

    ts = deadline(CLOCK_MONOTONIC, 150);
    t = now_ms();
    rc = sem_rc(sem_clockwait(&sem, CLOCK_MONOTONIC, &ts));
    report("sem_clockwait(MONOTONIC) 150ms", rc, ETIMEDOUT, now_ms() - t, 135, 2000);

    ts = deadline(CLOCK_REALTIME, -1000);
    t = now_ms();
    rc = sem_rc(sem_timedwait(&sem, &ts));
    report("sem_timedwait past deadline", rc, ETIMEDOUT, now_ms() - t, 0, 100);

    t = now_ms();
    rc = sem_rc(sem_trywait(&sem));
    report("sem_trywait on 0", rc, EAGAIN, now_ms() - t, 0, 100);

    t = now_ms();
    CHECK(pthread_create(&th, NULL, signal_at_50ms, &sem) == 0, "create");
    ts = deadline(CLOCK_REALTIME, 2000);
    rc = sem_rc(sem_timedwait(&sem, &ts));
    report("sem_timedwait posted at 50ms", rc, 0, now_ms() - t, 45, 1500);
    CHECK(pthread_join(th, NULL) == 0, "join");

    int v = -1;
    sem_getvalue(&sem, &v);
    CHECK(v == 0, "value %d", v);
    sem_post(&sem);
    sem_post(&sem);
    sem_getvalue(&sem, &v);
    CHECK(v == 2, "value after 2 posts: %d", v);
    printf("sem_getvalue after 2 posts: %d\n", v);
    CHECK(sem_wait(&sem) == 0, "sem_wait");
    sem_getvalue(&sem, &v);
    CHECK(v == 1, "value after wait: %d", v);
    printf("sem_getvalue after sem_wait: %d\n", v);
    ts = deadline(CLOCK_REALTIME, -1000);
    rc = sem_rc(sem_timedwait(&sem, &ts));
    report("sem_timedwait past deadline with value 1", rc, 0, 0, 0, 0);
    sem_getvalue(&sem, &v);
    CHECK(v == 0, "value after timedwait: %d", v);
    printf("sem_getvalue after sem_timedwait: %d\n", v);
    CHECK(sem_destroy(&sem) == 0, "sem_destroy");

    metric("os_threads_max", os_max);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
