/* mutex_types: the shim's mutexes must return the same error codes as glibc.
 * - errorcheck: relock -> EDEADLK, unlock by non-owner -> EPERM,
 *   unlock when unlocked -> EPERM;
 * - recursive: lock x3, trylock from another thread -> EBUSY, unlock x3,
 *   then trylock from another thread -> 0;
 * - normal: trylock on a locked mutex -> EBUSY (same and other thread);
 * - the three static initializers behave like their attr-made twins;
 * - timedlock / clocklock(CLOCK_MONOTONIC) on a mutex held by another
 *   (parked) thread -> ETIMEDOUT after ~100 ms;
 * - destroy -> 0.
 * One stdout line per check with the return code name. */
#include "../common.h"
#include <pthread.h>
#include <semaphore.h>

static int os_max;
static void sample_threads(void) { /* helpers never run concurrently */
    int n = os_threads();
    if (n > __atomic_load_n(&os_max, __ATOMIC_RELAXED)) __atomic_store_n(&os_max, n, __ATOMIC_RELAXED);
}

static const char *ename(int e) {
    switch (e) {
    case 0: return "0";
    case EBUSY: return "EBUSY";
    case EDEADLK: return "EDEADLK";
    case EPERM: return "EPERM";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EINVAL: return "EINVAL";
    default: return "E?";
    }
}

static void expect(const char *what, int rc, int want) {
    CHECK(rc == want, "%s: got %s (%d), want %s", what, ename(rc), rc, ename(want));
    printf("%s: %s\n", what, ename(rc));
}

/* Run one operation on a mutex from a fresh thread and return its result. */
enum op { TRYLOCK, UNLOCK, TRYLOCK_UNLOCK };
struct req { pthread_mutex_t *m; enum op op; };

static void *other_fn(void *arg) {
    struct req *r = arg;
    long rc;
    sample_threads();
    switch (r->op) {
    case TRYLOCK: rc = pthread_mutex_trylock(r->m); break;
    case UNLOCK: rc = pthread_mutex_unlock(r->m); break;
    default:
        rc = pthread_mutex_trylock(r->m);
        if (rc == 0) CHECK(pthread_mutex_unlock(r->m) == 0, "unlock after trylock");
    }
    return (void *)rc;
}

static int in_other_thread(pthread_mutex_t *m, enum op op) {
    struct req r = {m, op};
    pthread_t t;
    void *ret;
    CHECK(pthread_create(&t, NULL, other_fn, &r) == 0, "create");
    CHECK(pthread_join(t, &ret) == 0, "join");
    return (int)(long)ret;
}

static void init_typed(pthread_mutex_t *m, int type) {
    pthread_mutexattr_t a;
    CHECK(pthread_mutexattr_init(&a) == 0, "attr init");
    CHECK(pthread_mutexattr_settype(&a, type) == 0, "settype");
    CHECK(pthread_mutex_init(m, &a) == 0, "mutex init");
    pthread_mutexattr_destroy(&a);
}

/* Holder thread: locks the mutex, then parks on a semaphore until released. */
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static sem_t got_it, release;

static void *holder(void *arg) {
    (void)arg;
    CHECK(pthread_mutex_lock(&held) == 0, "holder lock");
    sample_threads();
    sem_post(&got_it);
    while (sem_wait(&release) != 0) CHECK(errno == EINTR, "sem_wait");
    CHECK(pthread_mutex_unlock(&held) == 0, "holder unlock");
    return NULL;
}

static struct timespec deadline(clockid_t c, long ms) {
    struct timespec ts;
    clock_gettime(c, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    return ts;
}

static void check_elapsed(const char *what, long long ms) {
    CHECK(ms >= 90 && ms <= 2000, "%s: elapsed %lld ms, want 90..2000", what, ms);
}

int main(void) {
    pthread_mutex_t m;
    long long t0 = now_ms();

    /* errorcheck */
    init_typed(&m, PTHREAD_MUTEX_ERRORCHECK);
    expect("errorcheck lock", pthread_mutex_lock(&m), 0);
    expect("errorcheck relock", pthread_mutex_lock(&m), EDEADLK);
    expect("errorcheck unlock by other thread", in_other_thread(&m, UNLOCK), EPERM);
    expect("errorcheck unlock", pthread_mutex_unlock(&m), 0);
    expect("errorcheck unlock when unlocked", pthread_mutex_unlock(&m), EPERM);
    expect("errorcheck destroy", pthread_mutex_destroy(&m), 0);

    /* recursive */
    init_typed(&m, PTHREAD_MUTEX_RECURSIVE);
    for (int i = 0; i < 3; i++) expect("recursive lock", pthread_mutex_lock(&m), 0);
    expect("recursive trylock by other thread while held", in_other_thread(&m, TRYLOCK), EBUSY);
    for (int i = 0; i < 3; i++) expect("recursive unlock", pthread_mutex_unlock(&m), 0);
    expect("recursive unlock when unlocked", pthread_mutex_unlock(&m), EPERM);
    expect("recursive trylock by other thread after release", in_other_thread(&m, TRYLOCK_UNLOCK), 0);
    expect("recursive destroy", pthread_mutex_destroy(&m), 0);

    /* normal */
    init_typed(&m, PTHREAD_MUTEX_NORMAL);
    expect("normal lock", pthread_mutex_lock(&m), 0);
    expect("normal trylock on locked (same thread)", pthread_mutex_trylock(&m), EBUSY);
    expect("normal trylock on locked (other thread)", in_other_thread(&m, TRYLOCK), EBUSY);
    expect("normal unlock", pthread_mutex_unlock(&m), 0);
    expect("normal trylock on unlocked (other thread)", in_other_thread(&m, TRYLOCK_UNLOCK), 0);
    expect("normal destroy", pthread_mutex_destroy(&m), 0);

    /* static initializers */
    pthread_mutex_t s_def = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_t s_rec = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
    pthread_mutex_t s_err = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
    expect("static default lock", pthread_mutex_lock(&s_def), 0);
    expect("static default trylock by other thread", in_other_thread(&s_def, TRYLOCK), EBUSY);
    expect("static default unlock", pthread_mutex_unlock(&s_def), 0);
    expect("static recursive lock", pthread_mutex_lock(&s_rec), 0);
    expect("static recursive relock", pthread_mutex_lock(&s_rec), 0);
    expect("static recursive trylock by other thread", in_other_thread(&s_rec, TRYLOCK), EBUSY);
    expect("static recursive unlock", pthread_mutex_unlock(&s_rec), 0);
    expect("static recursive unlock", pthread_mutex_unlock(&s_rec), 0);
    expect("static errorcheck lock", pthread_mutex_lock(&s_err), 0);
    expect("static errorcheck relock", pthread_mutex_lock(&s_err), EDEADLK);
    expect("static errorcheck unlock", pthread_mutex_unlock(&s_err), 0);
    expect("static errorcheck unlock when unlocked", pthread_mutex_unlock(&s_err), EPERM);
    expect("static default destroy", pthread_mutex_destroy(&s_def), 0);
    expect("static recursive destroy", pthread_mutex_destroy(&s_rec), 0);
    expect("static errorcheck destroy", pthread_mutex_destroy(&s_err), 0);

    /* timed locking against a mutex held by a parked thread */
    pthread_t h;
    sem_init(&got_it, 0, 0);
    sem_init(&release, 0, 0);
    CHECK(pthread_create(&h, NULL, holder, NULL) == 0, "create holder");
    while (sem_wait(&got_it) != 0) CHECK(errno == EINTR, "sem_wait");

    struct timespec ts = deadline(CLOCK_REALTIME, 100);
    long long t = now_ms();
    expect("timedlock on held mutex", pthread_mutex_timedlock(&held, &ts), ETIMEDOUT);
    check_elapsed("timedlock", now_ms() - t);

    ts = deadline(CLOCK_MONOTONIC, 100);
    t = now_ms();
    expect("clocklock(MONOTONIC) on held mutex", pthread_mutex_clocklock(&held, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
    check_elapsed("clocklock", now_ms() - t);

    sem_post(&release);
    CHECK(pthread_join(h, NULL) == 0, "join holder");
    ts = deadline(CLOCK_REALTIME, 1000);
    expect("timedlock on released mutex", pthread_mutex_timedlock(&held, &ts), 0);
    expect("unlock", pthread_mutex_unlock(&held), 0);
    expect("destroy", pthread_mutex_destroy(&held), 0);

    metric("os_threads_max", os_max);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
