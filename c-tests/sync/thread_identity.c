/* thread_identity: per-thread introspection calls must describe the green
 * thread they are asked about:
 * - pthread_getattr_np + pthread_attr_getstack (from the thread itself and
 *   from main) give a stack containing the thread's own locals, with the
 *   256 KiB requested through pthread_attr_setstacksize (size >= 256 KiB);
 * - pthread_setname_np / pthread_getname_np round-trip (main names another
 *   thread, the thread names itself);
 *   (and getname_np into a too-small buffer -> ERANGE);
 * - pthread_kill(t, 0) == 0 on a live thread; pthread_getcpuclockid == 0;
 * - pthread_tryjoin_np: EBUSY while running, 0 once finished;
 * - pthread_timedjoin_np with 50 ms timeout on a thread sleeping 300 ms:
 *   ETIMEDOUT;
 * - pthread_self/pthread_equal: distinct per live thread, equal to the id
 *   pthread_create returned;
 * - pthread_detach on a joinable thread returns 0. */
#include "../common.h"
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>

static const char *ename(int e) {
    switch (e) {
    case 0: return "0";
    case EBUSY: return "EBUSY";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ESRCH: return "ESRCH";
    case EINVAL: return "EINVAL";
    case ERANGE: return "ERANGE";
    default: return "E?";
    }
}

static void expect(const char *what, int rc, int want) {
    CHECK(rc == want, "%s: got %s (%d), want %s", what, ename(rc), rc, ename(want));
    printf("%s: %s\n", what, ename(rc));
}

static void swait(sem_t *s) {
    while (sem_wait(s) != 0) CHECK(errno == EINTR, "sem_wait");
}

static int os_max;
static void sample_threads(void) {
    int n = os_threads();
    if (n > __atomic_load_n(&os_max, __ATOMIC_RELAXED)) __atomic_store_n(&os_max, n, __ATOMIC_RELAXED);
}

#define STACK (256 * 1024)

/* --- stack --- */
struct stackinfo { void *addr; size_t size; int contains_local; sem_t ready, go; };

static void *stack_thread(void *arg) {
    struct stackinfo *si = arg;
    volatile int local = 42;
    pthread_attr_t a;
    CHECK(pthread_getattr_np(pthread_self(), &a) == 0, "getattr_np(self)");
    CHECK(pthread_attr_getstack(&a, &si->addr, &si->size) == 0, "attr_getstack");
    pthread_attr_destroy(&a);
    char *lo = si->addr, *p = (char *)&local;
    si->contains_local = p >= lo && p < lo + si->size;
    sample_threads();
    sem_post(&si->ready);
    swait(&si->go);
    return NULL;
}

/* --- names --- */
static sem_t named_by_main, named_self, done_naming;
static char seen_name[32];

static void *name_thread(void *arg) {
    (void)arg;
    swait(&named_by_main);
    CHECK(pthread_getname_np(pthread_self(), seen_name, sizeof seen_name) == 0, "getname self");
    CHECK(pthread_setname_np(pthread_self(), "gs-by-self") == 0, "setname self");
    sem_post(&named_self);
    swait(&done_naming);
    return NULL;
}

/* --- joins / detach --- */
static void *wait_on_sem(void *arg) {
    swait(arg);
    return (void *)7L;
}

static void *sleep_300ms(void *arg) {
    (void)arg;
    usleep(300000);
    return (void *)9L;
}

static sem_t detach_go, detach_done;
static void *detached_thread(void *arg) {
    (void)arg;
    swait(&detach_go);
    sem_post(&detach_done);
    return NULL;
}

/* --- identity --- */
#define NID 5
static pthread_t ids_seen[NID];
static pthread_barrier_t id_bar;
static void *id_thread(void *arg) {
    ids_seen[(long)arg] = pthread_self();
    if ((long)arg == NID - 1) sample_threads();
    pthread_barrier_wait(&id_bar); /* all alive at once: ids cannot be reused */
    pthread_barrier_wait(&id_bar); /* main has compared */
    return NULL;
}

int main(void) {
    long long t0 = now_ms();
    pthread_t t;
    pthread_attr_t a;
    void *ret;

    /* stack of a thread created with a 256 KiB stack */
    struct stackinfo si;
    sem_init(&si.ready, 0, 0);
    sem_init(&si.go, 0, 0);
    CHECK(pthread_attr_init(&a) == 0, "attr_init");
    expect("attr_setstacksize(256 KiB)", pthread_attr_setstacksize(&a, STACK), 0);
    CHECK(pthread_create(&t, &a, stack_thread, &si) == 0, "create");
    pthread_attr_destroy(&a);
    swait(&si.ready);
    CHECK(si.contains_local, "stack [%p, +%zu) does not contain a local of the thread", si.addr, si.size);
    printf("getattr_np(self) stack contains a local: yes\n");
    CHECK(si.size >= STACK, "stack size %zu < %d", si.size, STACK);
    printf("getattr_np(self) stack size >= 256 KiB: yes\n");
    void *addr;
    size_t size;
    CHECK(pthread_getattr_np(t, &a) == 0, "getattr_np(other)");
    CHECK(pthread_attr_getstack(&a, &addr, &size) == 0, "getstack");
    pthread_attr_destroy(&a);
    CHECK(addr == si.addr && size == si.size, "main sees stack %p+%zu, thread saw %p+%zu", addr, size, si.addr, si.size);
    printf("getattr_np(other) from main matches: yes\n");
    expect("pthread_kill(live, 0)", pthread_kill(t, 0), 0);
    clockid_t cid;
    expect("pthread_getcpuclockid", pthread_getcpuclockid(t, &cid), 0);
    sem_post(&si.go);
    expect("join", pthread_join(t, NULL), 0);

    /* names */
    sem_init(&named_by_main, 0, 0);
    sem_init(&named_self, 0, 0);
    sem_init(&done_naming, 0, 0);
    CHECK(pthread_create(&t, NULL, name_thread, NULL) == 0, "create");
    expect("setname_np by main", pthread_setname_np(t, "gs-by-main"), 0);
    sem_post(&named_by_main);
    swait(&named_self);
    char name[32];
    CHECK(pthread_getname_np(t, name, sizeof name) == 0, "getname other");
    CHECK(strcmp(seen_name, "gs-by-main") == 0, "thread saw its name as '%s'", seen_name);
    CHECK(strcmp(name, "gs-by-self") == 0, "main saw the thread's name as '%s'", name);
    printf("name set by main, read by thread: %s\n", seen_name);
    printf("name set by thread, read by main: %s\n", name);
    char small[4];
    expect("getname_np into 4-byte buffer", pthread_getname_np(t, small, sizeof small), ERANGE);
    sem_post(&done_naming);
    expect("join", pthread_join(t, NULL), 0);

    /* tryjoin_np */
    sem_t go;
    sem_init(&go, 0, 0);
    CHECK(pthread_create(&t, NULL, wait_on_sem, &go) == 0, "create");
    expect("tryjoin_np on running thread", pthread_tryjoin_np(t, &ret), EBUSY);
    sem_post(&go);
    int rc = EBUSY;
    for (int i = 0; i < 5000 && rc == EBUSY; i++) {
        usleep(1000); /* blocking call: lets the thread run under the shim */
        rc = pthread_tryjoin_np(t, &ret);
    }
    expect("tryjoin_np on finished thread", rc, 0);
    CHECK(ret == (void *)7L, "retval %p", ret);

    /* timedjoin_np */
    CHECK(pthread_create(&t, NULL, sleep_300ms, NULL) == 0, "create");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    long long tj = now_ms();
    expect("timedjoin_np(50 ms) on sleeping thread", pthread_timedjoin_np(t, &ret, &ts), ETIMEDOUT);
    tj = now_ms() - tj;
    CHECK(tj >= 45 && tj < 290, "timedjoin_np took %lld ms", tj);
    expect("join after timedjoin timeout", pthread_join(t, &ret), 0);
    CHECK(ret == (void *)9L, "retval %p", ret);

    /* identity */
    pthread_t created[NID];
    CHECK(pthread_barrier_init(&id_bar, NULL, NID + 1) == 0, "barrier_init");
    for (long i = 0; i < NID; i++) CHECK(pthread_create(&created[i], NULL, id_thread, (void *)i) == 0, "create");
    pthread_barrier_wait(&id_bar);
    int distinct = 1, matches = 1;
    for (int i = 0; i < NID; i++) {
        matches &= pthread_equal(ids_seen[i], created[i]) != 0;
        distinct &= !pthread_equal(ids_seen[i], pthread_self());
        for (int j = 0; j < i; j++) distinct &= !pthread_equal(ids_seen[i], ids_seen[j]);
    }
    pthread_barrier_wait(&id_bar);
    for (int i = 0; i < NID; i++) CHECK(pthread_join(created[i], NULL) == 0, "join");
    pthread_barrier_destroy(&id_bar);
    CHECK(pthread_equal(pthread_self(), pthread_self()), "self != self");
    CHECK(matches, "pthread_self in thread differs from pthread_create's id");
    CHECK(distinct, "pthread_self not distinct across threads");
    printf("pthread_self matches pthread_create id: yes\n");
    printf("pthread_self distinct across %d threads and main: yes\n", NID);

    /* detach */
    sem_init(&detach_go, 0, 0);
    sem_init(&detach_done, 0, 0);
    CHECK(pthread_create(&t, NULL, detached_thread, NULL) == 0, "create");
    expect("detach joinable thread", pthread_detach(t), 0);
    sem_post(&detach_go);
    swait(&detach_done);

    metric("os_threads_max", os_max);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
