/* rwlock: reader/writer lock semantics while holders park (usleep) inside.
 * - 10 readers each hold the read lock for 200 ms: they all overlap
 *   (max concurrent readers == 10, total wall < 1 s);
 * - writers are exclusive: with 4 writers and 6 readers looping, nobody is
 *   inside alongside a writer (state tracked under a separate mutex);
 * - tryrdlock while write-locked and trywrlock while read-locked -> EBUSY;
 * - timedrdlock/timedwrlock and clockrdlock/clockwrlock(MONOTONIC) time out
 *   with ETIMEDOUT after ~100 ms. */
#include "../common.h"
#include <pthread.h>

static const char *ename(int e) {
    switch (e) {
    case 0: return "0";
    case EBUSY: return "EBUSY";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EDEADLK: return "EDEADLK";
    default: return "E?";
    }
}

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER; /* protects the state below */
static int readers_in, writers_in, max_readers, violations, os_max;

static void enter(int writer) {
    pthread_mutex_lock(&m);
    if (writers_in || (writer && readers_in)) violations++;
    if (writer) writers_in++;
    else if (++readers_in > max_readers) max_readers = readers_in;
    pthread_mutex_unlock(&m);
}

static void leave(int writer) {
    pthread_mutex_lock(&m);
    if (writer) writers_in--;
    else readers_in--;
    if (writers_in || (writer && readers_in)) violations++;
    pthread_mutex_unlock(&m);
}

static void *long_reader(void *arg) {
    (void)arg;
    CHECK(pthread_rwlock_rdlock(&rw) == 0, "rdlock");
    enter(0);
    usleep(200000);
    int n = os_threads();
    pthread_mutex_lock(&m);
    if (n > os_max) os_max = n;
    pthread_mutex_unlock(&m);
    leave(0);
    CHECK(pthread_rwlock_unlock(&rw) == 0, "unlock");
    return NULL;
}

static void *mixed(void *arg) {
    long id = (long)arg;
    int writer = id < 4;
    for (int i = 0; i < 10; i++) {
        CHECK((writer ? pthread_rwlock_wrlock(&rw) : pthread_rwlock_rdlock(&rw)) == 0, "lock");
        enter(writer);
        usleep(writer ? 3000 : 2000);
        leave(writer);
        CHECK(pthread_rwlock_unlock(&rw) == 0, "unlock");
        usleep(1000 + 500 * id);
    }
    return NULL;
}

static struct timespec deadline(clockid_t c, long ms) {
    struct timespec ts;
    clock_gettime(c, &ts);
    ts.tv_nsec += ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

/* Probe thread: tries to get the lock in the mode the holder (main) excludes. */
struct probe { int want_write; int r_try, r_timed, r_clock; long long ms_timed, ms_clock; };

static void *prober(void *arg) {
    struct probe *p = arg;
    struct timespec ts;
    long long t;
    p->r_try = p->want_write ? pthread_rwlock_trywrlock(&rw) : pthread_rwlock_tryrdlock(&rw);
    ts = deadline(CLOCK_REALTIME, 100);
    t = now_ms();
    p->r_timed = p->want_write ? pthread_rwlock_timedwrlock(&rw, &ts) : pthread_rwlock_timedrdlock(&rw, &ts);
    p->ms_timed = now_ms() - t;
    ts = deadline(CLOCK_MONOTONIC, 100);
    t = now_ms();
    p->r_clock = p->want_write ? pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &ts)
                               : pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &ts);
    p->ms_clock = now_ms() - t;
    return NULL;
}

static void expect(const char *what, int rc, int want) {
    CHECK(rc == want, "%s: got %s (%d), want %s", what, ename(rc), rc, ename(want));
    printf("%s: %s\n", what, ename(rc));
}

static void probe_while_held(int main_writes) {
    struct probe p = {.want_write = !main_writes};
    pthread_t t;
    CHECK((main_writes ? pthread_rwlock_wrlock(&rw) : pthread_rwlock_rdlock(&rw)) == 0, "main lock");
    CHECK(pthread_create(&t, NULL, prober, &p) == 0, "create");
    CHECK(pthread_join(t, NULL) == 0, "join");
    CHECK(pthread_rwlock_unlock(&rw) == 0, "main unlock");
    if (main_writes) {
        expect("tryrdlock while write-locked", p.r_try, EBUSY);
        expect("timedrdlock while write-locked", p.r_timed, ETIMEDOUT);
        expect("clockrdlock(MONOTONIC) while write-locked", p.r_clock, ETIMEDOUT);
    } else {
        expect("trywrlock while read-locked", p.r_try, EBUSY);
        expect("timedwrlock while read-locked", p.r_timed, ETIMEDOUT);
        expect("clockwrlock(MONOTONIC) while read-locked", p.r_clock, ETIMEDOUT);
    }
    CHECK(p.ms_timed >= 90 && p.ms_timed <= 2000, "timed elapsed %lld ms", p.ms_timed);
    CHECK(p.ms_clock >= 90 && p.ms_clock <= 2000, "clock elapsed %lld ms", p.ms_clock);
}

int main(void) {
    pthread_t t[10];
    long long t0 = now_ms();

    for (long i = 0; i < 10; i++) CHECK(pthread_create(&t[i], NULL, long_reader, NULL) == 0, "create");
    for (int i = 0; i < 10; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    long long readers_ms = now_ms() - t0;
    CHECK(max_readers == 10, "max concurrent readers %d, want 10", max_readers);
    CHECK(readers_ms < 1000, "10 overlapping 200 ms readers took %lld ms", readers_ms);
    CHECK(violations == 0, "violations %d", violations);
    printf("10 readers holding 200 ms: max concurrent readers %d\n", max_readers);
    metric("readers_wall_ms", readers_ms);

    max_readers = 0;
    for (long i = 0; i < 10; i++) CHECK(pthread_create(&t[i], NULL, mixed, (void *)i) == 0, "create");
    for (int i = 0; i < 10; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    CHECK(violations == 0, "writer exclusivity violated %d times", violations);
    CHECK(readers_in == 0 && writers_in == 0, "state not back to 0");
    printf("4 writers x 10 + 6 readers x 10: exclusivity violations %d\n", violations);

    probe_while_held(1);
    probe_while_held(0);
    expect("rwlock destroy", pthread_rwlock_destroy(&rw), 0);

    metric("os_threads_max", os_max);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
