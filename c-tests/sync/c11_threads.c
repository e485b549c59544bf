/* c11_threads: the C11 <threads.h> API (thrd_*, mtx_*, cnd_*, call_once,
 * tss_*).
 *
 * Why: glibc implements C11 threads on its internal pthread functions
 * (thrd_create calls __pthread_create_2_1, mtx_lock __pthread_mutex_lock,
 * thrd_sleep __clock_nanosleep, thrd_yield __sched_yield...), so a preload
 * that hooks only the public pthread_* symbols is bypassed: thrd_create makes
 * real OS threads, and if those were green threads the internal futex waits
 * and sleeps would block every green thread. greenshim must hook the C11 API
 * itself. Each case checks a result that a bypassed or wrong implementation
 * gets wrong, and the program reports the OS threads it saw: natively ~53,
 * under the shim (C11 hooked) 1.
 *
 * Cases (argv[1] names one; default all, in this order):
 *   mutex      50 thrd_create'd threads x 1000 mtx_lock'ed increments of a
 *              shared counter on an mtx_plain mutex, yielding while holding
 *              it every 100 increments; an "inside" flag checks exclusion;
 *              thrd_join's result is each thread's index.
 *   recursive  the same on an mtx_timed|mtx_recursive mutex, the owner
 *              relocking it with mtx_trylock and mtx_timedlock (both succeed).
 *   cnd        one producer, one consumer, a 4-slot queue with cnd_wait /
 *              cnd_signal: 1000 items arrive in order; then 10 threads wait
 *              on a cnd_t and one cnd_broadcast wakes all 10.
 *   timedwait  cnd_timedwait with a deadline 100 ms ahead (timespec_get
 *              TIME_UTC), nothing signals: thrd_timedout after >= 90 ms, the
 *              ticker ticking meanwhile.
 *   timedlock  a thread holds an mtx_timed mutex for 200 ms: mtx_trylock ->
 *              thrd_busy; mtx_timedlock with a 50 ms deadline -> thrd_timedout
 *              (after 40..1000 ms); with a 5 s deadline -> thrd_success once
 *              the holder unlocks.
 *   sleep      50 threads thrd_sleep(100 ms) at once: each returns 0 after
 *              >= 90 ms, all within < 3000 ms of wall time (natively ~100 ms,
 *              ~5 s if the sleeps ran one after another), the ticker ticking.
 *   yield      main spins on thrd_yield until a thread it created sets a flag;
 *              two threads take 1000 turns each, passing the turn with
 *              thrd_yield (bounded: fails after 5 s instead of hanging).
 *   once       call_once from 20 threads, the function sleeping 30 ms: it
 *              runs once and every caller returns only after it finished.
 *   tss        tss_create with a destructor; 10 threads tss_set their own
 *              value, sleep, and still tss_get their own; 1 more sets a value
 *              and leaves by thrd_exit; 5 never set one; main keeps its own
 *              value throughout. The destructor runs once for each of the 11
 *              threads that held a non-NULL value at exit, never for main.
 *   current    thrd_current/thrd_equal: a thread equals itself, the id main
 *              got from thrd_create, and differs from main.
 *   detach     10 threads are thrd_detach'ed and signal completion through a
 *              mutex and condvar.
 *   exit       thrd_exit(7) from a function a thread calls: thrd_join gives 7
 *              and the code after thrd_exit never runs.
 *
 * stdout (deterministic), all cases:
 *   mtx_plain: 50 threads x 1000 increments = 50000, thrd_join results = indexes
 *   mtx_timed|mtx_recursive: 50 threads x 1000 increments = 50000, thrd_join results = indexes
 *   cnd_wait/cnd_signal: 1000 items received in order, sum 499500
 *   cnd_broadcast: woke 10 of 10 waiters
 *   cnd_timedwait 100 ms, nothing signalled: thrd_timedout
 *   mtx_trylock on a held mutex: thrd_busy
 *   mtx_timedlock 50 ms on a mutex held 200 ms: thrd_timedout
 *   mtx_timedlock 5 s on the same mutex: thrd_success after the holder unlocked
 *   thrd_sleep 100 ms in 50 threads: all returned 0 after >= 90 ms, concurrently
 *   thrd_yield: spinning main let its thread set the flag
 *   thrd_yield: 2 threads took 2000 turns in order
 *   call_once from 20 threads: ran 1 time, every caller saw it finished
 *   tss: 10 threads saw their own value, main kept its own
 *   tss: destructor ran 11 times (10 returned + 1 thrd_exit), once per value
 *   thrd_current/thrd_equal: thread == its thrd_create id, != main, main == main
 *   thrd_detach: 10 detached threads ran to completion
 *   thrd_exit(7): thrd_join result 7
 * metrics: os_threads_max, sleep50_ms, ticks_sleep, timedwait_ms,
 *          ticks_timedwait, timedlock_ms, case_<case>_ms (wall time of each case).
 */
#include "../common.h"
#include <stdint.h>
#include <threads.h>

static int stop_ticker;
static int ticks;
static int os_max;

static int get_ticks(void) { return __atomic_load_n(&ticks, __ATOMIC_SEQ_CST); }

static void sample_threads(void) {
    int n = os_threads();
    int cur = __atomic_load_n(&os_max, __ATOMIC_SEQ_CST);
    while (n > cur && !__atomic_compare_exchange_n(&os_max, &cur, n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
}

static void sleep_ms(long ms) {
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    int r = thrd_sleep(&d, NULL);
    CHECK(r == 0, "thrd_sleep returned %d", r);
}

/* A TIME_UTC deadline ms from now. */
static struct timespec deadline_in(long ms) {
    struct timespec ts;
    CHECK(timespec_get(&ts, TIME_UTC) == TIME_UTC, "timespec_get");
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static int ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        sleep_ms(10);
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return 0;
}

static void create(thrd_t *t, thrd_start_t fn, void *arg) {
    int r = thrd_create(t, fn, arg);
    CHECK(r == thrd_success, "thrd_create returned %d", r);
}

static int join(thrd_t t) {
    int res = -12345;
    int r = thrd_join(t, &res);
    CHECK(r == thrd_success, "thrd_join returned %d", r);
    return res;
}

/* ------------------------------------------------------ mutex, recursive */

#define NMUT 50
#define PER 1000

static mtx_t m;
static long counter;
static int inside;
static int recursive_mode;

static void enter(void) {
    CHECK(inside == 0, "two threads inside the mutex");
    inside = 1;
}

static void leave(void) { inside = 0; }

static int incrementer(void *arg) {
    int idx = (int)(intptr_t)arg;
    for (int i = 0; i < PER; i++) {
        CHECK(mtx_lock(&m) == thrd_success, "mtx_lock");
        int depth = 1;
        if (recursive_mode) {
            int r = mtx_trylock(&m);
            CHECK(r == thrd_success, "owner's mtx_trylock on a recursive mutex returned %d", r);
            struct timespec dl = deadline_in(5000);
            r = mtx_timedlock(&m, &dl);
            CHECK(r == thrd_success, "owner's mtx_timedlock on a recursive mutex returned %d", r);
            depth = 3;
        }
        enter();
        counter++;
        if (i % 100 == 50) thrd_yield(); /* others try the mutex meanwhile */
        leave();
        while (depth--) CHECK(mtx_unlock(&m) == thrd_success, "mtx_unlock");
    }
    return idx;
}

static void run_incrementers(int type, const char *label) {
    CHECK(mtx_init(&m, type) == thrd_success, "mtx_init");
    recursive_mode = (type & mtx_recursive) != 0;
    counter = 0;
    thrd_t t[NMUT];
    for (int i = 0; i < NMUT; i++) create(&t[i], incrementer, (void *)(intptr_t)i);
    sample_threads();
    for (int i = 0; i < NMUT; i++) {
        int res = join(t[i]);
        CHECK(res == i, "thread %d returned %d", i, res);
    }
    CHECK(counter == NMUT * PER, "counter %ld, expected %d", counter, NMUT * PER);
    printf("%s: %d threads x %d increments = %ld, thrd_join results = indexes\n", label, NMUT, PER, counter);
    mtx_destroy(&m);
}

static void case_mutex(void) { run_incrementers(mtx_plain, "mtx_plain"); }
static void case_recursive(void) { run_incrementers(mtx_timed | mtx_recursive, "mtx_timed|mtx_recursive"); }

/* -------------------------------------------------------------------- cnd */

#define ITEMS 1000
#define QCAP 4

static mtx_t qm;
static cnd_t not_empty, not_full;
static int q[QCAP], qhead, qcount;

static int producer(void *arg) {
    (void)arg;
    for (int i = 0; i < ITEMS; i++) {
        CHECK(mtx_lock(&qm) == thrd_success, "mtx_lock");
        while (qcount == QCAP) CHECK(cnd_wait(&not_full, &qm) == thrd_success, "cnd_wait");
        q[(qhead + qcount) % QCAP] = i;
        qcount++;
        CHECK(cnd_signal(&not_empty) == thrd_success, "cnd_signal");
        CHECK(mtx_unlock(&qm) == thrd_success, "mtx_unlock");
    }
    return 0;
}

static long consumed_sum;
static int consumer(void *arg) {
    (void)arg;
    for (int i = 0; i < ITEMS; i++) {
        CHECK(mtx_lock(&qm) == thrd_success, "mtx_lock");
        while (qcount == 0) CHECK(cnd_wait(&not_empty, &qm) == thrd_success, "cnd_wait");
        int v = q[qhead];
        qhead = (qhead + 1) % QCAP;
        qcount--;
        CHECK(cnd_signal(&not_full) == thrd_success, "cnd_signal");
        CHECK(mtx_unlock(&qm) == thrd_success, "mtx_unlock");
        CHECK(v == i, "item %d arrived as number %d", v, i);
        consumed_sum += v;
    }
    return 0;
}

#define NWAIT 10
static cnd_t go_cnd, waiting_cnd;
static int go, nwaiting, nwoken;

static int broadcast_waiter(void *arg) {
    (void)arg;
    CHECK(mtx_lock(&qm) == thrd_success, "mtx_lock");
    nwaiting++;
    CHECK(cnd_signal(&waiting_cnd) == thrd_success, "cnd_signal");
    while (!go) CHECK(cnd_wait(&go_cnd, &qm) == thrd_success, "cnd_wait");
    nwoken++;
    CHECK(mtx_unlock(&qm) == thrd_success, "mtx_unlock");
    return 0;
}

static void case_cnd(void) {
    CHECK(mtx_init(&qm, mtx_plain) == thrd_success, "mtx_init");
    CHECK(cnd_init(&not_empty) == thrd_success && cnd_init(&not_full) == thrd_success, "cnd_init");
    CHECK(cnd_init(&go_cnd) == thrd_success && cnd_init(&waiting_cnd) == thrd_success, "cnd_init");
    thrd_t p, c;
    create(&c, consumer, NULL);
    create(&p, producer, NULL);
    sample_threads();
    join(p);
    join(c);
    CHECK(qcount == 0, "queue holds %d items", qcount);
    printf("cnd_wait/cnd_signal: %d items received in order, sum %ld\n", ITEMS, consumed_sum);

    thrd_t w[NWAIT];
    for (int i = 0; i < NWAIT; i++) create(&w[i], broadcast_waiter, NULL);
    sample_threads();
    CHECK(mtx_lock(&qm) == thrd_success, "mtx_lock");
    /* All waiters are inside cnd_wait once they counted themselves and
     * released the mutex (which we now hold). */
    while (nwaiting < NWAIT) CHECK(cnd_wait(&waiting_cnd, &qm) == thrd_success, "cnd_wait");
    go = 1;
    CHECK(cnd_broadcast(&go_cnd) == thrd_success, "cnd_broadcast");
    CHECK(mtx_unlock(&qm) == thrd_success, "mtx_unlock");
    for (int i = 0; i < NWAIT; i++) join(w[i]);
    printf("cnd_broadcast: woke %d of %d waiters\n", nwoken, NWAIT);
    CHECK(nwoken == NWAIT, "woke %d", nwoken);
    cnd_destroy(&not_empty);
    cnd_destroy(&not_full);
    cnd_destroy(&go_cnd);
    cnd_destroy(&waiting_cnd);
    mtx_destroy(&qm);
}

/* -------------------------------------------------------------- timedwait */

static void case_timedwait(void) {
    mtx_t tm;
    cnd_t tc;
    CHECK(mtx_init(&tm, mtx_plain) == thrd_success && cnd_init(&tc) == thrd_success, "init");
    CHECK(mtx_lock(&tm) == thrd_success, "mtx_lock");
    struct timespec dl = deadline_in(100);
    int t0 = get_ticks();
    long long s = now_ms();
    int r;
    do r = cnd_timedwait(&tc, &tm, &dl); /* thrd_success would be a spurious wakeup */
    while (r == thrd_success);
    long long dt = now_ms() - s;
    int tk = get_ticks() - t0;
    CHECK(mtx_unlock(&tm) == thrd_success, "mtx_unlock");
    metric("timedwait_ms", dt);
    metric("ticks_timedwait", tk);
    CHECK(r == thrd_timedout, "cnd_timedwait returned %d, want thrd_timedout (%d)", r, thrd_timedout);
    CHECK(dt >= 90 && dt < 2000, "cnd_timedwait timed out after %lld ms, want 90..2000", dt);
    CHECK(tk >= 3, "the ticker ticked %d times during a 100 ms cnd_timedwait", tk);
    printf("cnd_timedwait 100 ms, nothing signalled: thrd_timedout\n");
    cnd_destroy(&tc);
    mtx_destroy(&tm);
}

/* -------------------------------------------------------------- timedlock */

static mtx_t held;
static int held_flag;

static int holder(void *arg) {
    (void)arg;
    CHECK(mtx_lock(&held) == thrd_success, "mtx_lock");
    __atomic_store_n(&held_flag, 1, __ATOMIC_SEQ_CST);
    sleep_ms(200);
    CHECK(mtx_unlock(&held) == thrd_success, "mtx_unlock");
    return 0;
}

static void case_timedlock(void) {
    CHECK(mtx_init(&held, mtx_timed) == thrd_success, "mtx_init");
    held_flag = 0;
    long long s0 = now_ms();
    thrd_t h;
    create(&h, holder, NULL);
    sample_threads();
    while (!__atomic_load_n(&held_flag, __ATOMIC_SEQ_CST)) {
        CHECK(now_ms() - s0 < 5000, "the holder did not lock the mutex within 5 s");
        sleep_ms(1);
    }
    int r = mtx_trylock(&held);
    printf("mtx_trylock on a held mutex: %s\n", r == thrd_busy ? "thrd_busy" : "not thrd_busy");
    CHECK(r == thrd_busy, "mtx_trylock returned %d, want thrd_busy (%d)", r, thrd_busy);
    struct timespec dl = deadline_in(50);
    long long s = now_ms();
    r = mtx_timedlock(&held, &dl);
    long long dt = now_ms() - s;
    metric("timedlock_ms", dt);
    printf("mtx_timedlock 50 ms on a mutex held 200 ms: %s\n", r == thrd_timedout ? "thrd_timedout" : "not thrd_timedout");
    CHECK(r == thrd_timedout, "mtx_timedlock returned %d, want thrd_timedout (%d)", r, thrd_timedout);
    CHECK(dt >= 40 && dt < 1000, "mtx_timedlock timed out after %lld ms, want 40..1000", dt);
    dl = deadline_in(5000);
    r = mtx_timedlock(&held, &dl);
    CHECK(r == thrd_success, "mtx_timedlock (5 s) returned %d", r);
    CHECK(now_ms() - s0 >= 150, "got the mutex %lld ms after the holder took it for 200 ms", now_ms() - s0);
    printf("mtx_timedlock 5 s on the same mutex: thrd_success after the holder unlocked\n");
    CHECK(mtx_unlock(&held) == thrd_success, "mtx_unlock");
    join(h);
    mtx_destroy(&held);
}

/* ------------------------------------------------------------------ sleep */

#define NSLEEP 50
static int sleeper(void *arg) {
    (void)arg;
    long long s = now_ms();
    struct timespec d = {0, 100000000L}, rem = {-1, -1};
    int r = thrd_sleep(&d, &rem);
    CHECK(r == 0, "thrd_sleep returned %d", r);
    long long dt = now_ms() - s;
    CHECK(dt >= 90, "thrd_sleep(100 ms) returned after %lld ms", dt);
    if (arg == (void *)1) sample_threads();
    return 0;
}

static void case_sleep(void) {
    thrd_t t[NSLEEP];
    int t0 = get_ticks();
    long long s = now_ms();
    for (intptr_t i = 0; i < NSLEEP; i++) create(&t[i], sleeper, (void *)(intptr_t)(i == NSLEEP - 1));
    sample_threads();
    for (int i = 0; i < NSLEEP; i++) join(t[i]);
    long long dt = now_ms() - s;
    int tk = get_ticks() - t0;
    metric("sleep50_ms", dt);
    metric("ticks_sleep", tk);
    CHECK(dt < 3000, "50 concurrent thrd_sleep(100 ms) took %lld ms", dt);
    CHECK(tk >= 3, "the ticker ticked %d times during the sleeps", tk);
    printf("thrd_sleep 100 ms in 50 threads: all returned 0 after >= 90 ms, concurrently\n");
}

/* ------------------------------------------------------------------ yield */

static int yflag;
static int flag_setter(void *arg) {
    (void)arg;
    __atomic_store_n(&yflag, 1, __ATOMIC_SEQ_CST);
    return 0;
}

#define TURNS 1000
static int turn;     /* whose turn: 0 or 1 */
static int turns[2]; /* turns taken by each */
static int turn_taker(void *arg) {
    int me = (int)(intptr_t)arg;
    long long s = now_ms();
    for (int i = 0; i < TURNS; i++) {
        while (__atomic_load_n(&turn, __ATOMIC_SEQ_CST) != me) {
            CHECK(now_ms() - s < 5000, "thread %d: the other thread did not pass the turn within 5 s", me);
            thrd_yield();
        }
        turns[me]++;
        CHECK(turns[0] - turns[1] == (me == 0 ? 1 : 0), "turn order broken: %d vs %d", turns[0], turns[1]);
        __atomic_store_n(&turn, 1 - me, __ATOMIC_SEQ_CST);
    }
    return 0;
}

static void case_yield(void) {
    yflag = 0;
    thrd_t t;
    create(&t, flag_setter, NULL);
    long long s = now_ms();
    while (!__atomic_load_n(&yflag, __ATOMIC_SEQ_CST)) {
        CHECK(now_ms() - s < 5000, "spinning on thrd_yield for 5 s: the created thread never ran");
        thrd_yield();
    }
    join(t);
    printf("thrd_yield: spinning main let its thread set the flag\n");
    thrd_t a, b;
    turn = 0;
    turns[0] = turns[1] = 0;
    create(&a, turn_taker, (void *)0);
    create(&b, turn_taker, (void *)1);
    sample_threads();
    join(a);
    join(b);
    CHECK(turns[0] == TURNS && turns[1] == TURNS, "turns %d %d", turns[0], turns[1]);
    printf("thrd_yield: 2 threads took %d turns in order\n", turns[0] + turns[1]);
}

/* ------------------------------------------------------------------- once */

#define NONCE 20
static once_flag once = ONCE_FLAG_INIT;
static int once_calls, once_done, once_saw_done;

static void once_fn(void) {
    __atomic_fetch_add(&once_calls, 1, __ATOMIC_SEQ_CST);
    sleep_ms(30); /* the other callers arrive meanwhile and must wait */
    __atomic_store_n(&once_done, 1, __ATOMIC_SEQ_CST);
}

static int once_caller(void *arg) {
    (void)arg;
    call_once(&once, once_fn);
    if (__atomic_load_n(&once_done, __ATOMIC_SEQ_CST)) __atomic_fetch_add(&once_saw_done, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static void case_once(void) {
    thrd_t t[NONCE];
    for (int i = 0; i < NONCE; i++) create(&t[i], once_caller, NULL);
    sample_threads();
    for (int i = 0; i < NONCE; i++) join(t[i]);
    CHECK(once_calls == 1, "call_once ran the function %d times", once_calls);
    CHECK(once_saw_done == NONCE, "%d of %d callers returned before the function finished", NONCE - once_saw_done,
          NONCE);
    printf("call_once from %d threads: ran %d time, every caller saw it finished\n", NONCE, once_calls);
}

/* -------------------------------------------------------------------- tss */

#define NSET 10
#define NNULL 5
static tss_t key;
static int vals[NSET + 1];        /* values threads set: &vals[i] */
static int destroyed[NSET + 1];   /* destructor calls per value */
static int dtor_calls, dtor_bad;
static int main_val;

static void tss_dtor(void *p) {
    __atomic_fetch_add(&dtor_calls, 1, __ATOMIC_SEQ_CST);
    int *v = p;
    if (v >= vals && v < vals + NSET + 1)
        __atomic_fetch_add(&destroyed[v - vals], 1, __ATOMIC_SEQ_CST);
    else
        __atomic_fetch_add(&dtor_bad, 1, __ATOMIC_SEQ_CST);
}

static int tss_setter(void *arg) {
    int i = (int)(intptr_t)arg;
    CHECK(tss_get(key) == NULL, "thread %d: tss_get before tss_set is not NULL", i);
    CHECK(tss_set(key, &vals[i]) == thrd_success, "tss_set");
    sleep_ms(10); /* the others set theirs meanwhile */
    CHECK(tss_get(key) == &vals[i], "thread %d: tss_get gives another thread's value", i);
    thrd_yield();
    sleep_ms(5);
    CHECK(tss_get(key) == &vals[i], "thread %d: tss_get gives another thread's value", i);
    return i;
}

static void leave_by_thrd_exit(int code) {
    thrd_exit(code);
}

static int tss_exiter(void *arg) {
    int i = (int)(intptr_t)arg;
    CHECK(tss_set(key, &vals[i]) == thrd_success, "tss_set");
    sleep_ms(10);
    CHECK(tss_get(key) == &vals[i], "thrd_exit thread: tss_get gives another thread's value");
    leave_by_thrd_exit(i);
    return -1;
}

static int tss_nuller(void *arg) {
    (void)arg;
    CHECK(tss_get(key) == NULL, "tss_get in a thread that never set is not NULL");
    sleep_ms(10);
    CHECK(tss_get(key) == NULL, "tss_get in a thread that never set is not NULL (after the others set)");
    return 0;
}

static void case_tss(void) {
    CHECK(tss_create(&key, tss_dtor) == thrd_success, "tss_create");
    CHECK(tss_get(key) == NULL, "main: tss_get of a new key is not NULL");
    CHECK(tss_set(key, &main_val) == thrd_success, "tss_set main");
    thrd_t s[NSET], e, n[NNULL];
    for (int i = 0; i < NSET; i++) create(&s[i], tss_setter, (void *)(intptr_t)i);
    create(&e, tss_exiter, (void *)(intptr_t)NSET);
    for (int i = 0; i < NNULL; i++) create(&n[i], tss_nuller, NULL);
    sample_threads();
    for (int i = 0; i < NSET; i++) CHECK(join(s[i]) == i, "tss setter %d result", i);
    CHECK(join(e) == NSET, "thrd_exit thread result");
    for (int i = 0; i < NNULL; i++) join(n[i]);
    CHECK(tss_get(key) == &main_val, "main's tss value changed");
    printf("tss: %d threads saw their own value, main kept its own\n", NSET);
    CHECK(dtor_bad == 0, "the destructor got %d unknown values (main's?)", dtor_bad);
    for (int i = 0; i <= NSET; i++) CHECK(destroyed[i] == 1, "value %d destroyed %d times", i, destroyed[i]);
    CHECK(dtor_calls == NSET + 1, "destructor ran %d times", dtor_calls);
    printf("tss: destructor ran %d times (%d returned + 1 thrd_exit), once per value\n", dtor_calls, NSET);
    tss_delete(key);
}

/* ---------------------------------------------------------------- current */

static thrd_t published, main_id;
static int published_flag, current_ok;

static int current_thread(void *arg) {
    (void)arg;
    long long s = now_ms();
    while (!__atomic_load_n(&published_flag, __ATOMIC_SEQ_CST)) {
        CHECK(now_ms() - s < 5000, "main did not publish the id");
        sleep_ms(1);
    }
    thrd_t me = thrd_current();
    current_ok = thrd_equal(me, thrd_current()) != 0 && thrd_equal(me, published) != 0 && thrd_equal(me, main_id) == 0;
    return 0;
}

static void case_current(void) {
    main_id = thrd_current();
    CHECK(thrd_equal(main_id, thrd_current()) != 0, "main != main");
    thrd_t t;
    create(&t, current_thread, NULL);
    published = t;
    __atomic_store_n(&published_flag, 1, __ATOMIC_SEQ_CST);
    CHECK(thrd_equal(t, main_id) == 0, "the new thread's id equals main's");
    join(t);
    CHECK(current_ok, "in the thread, thrd_current() is not its thrd_create id, or equals main's");
    printf("thrd_current/thrd_equal: thread == its thrd_create id, != main, main == main\n");
}

/* ----------------------------------------------------------------- detach */

#define NDET 10
static mtx_t dm;
static cnd_t dc;
static int detached_done;

static int detached(void *arg) {
    sleep_ms(10 + (int)(intptr_t)arg);
    CHECK(mtx_lock(&dm) == thrd_success, "mtx_lock");
    detached_done++;
    CHECK(cnd_signal(&dc) == thrd_success, "cnd_signal");
    CHECK(mtx_unlock(&dm) == thrd_success, "mtx_unlock");
    return 0;
}

static void case_detach(void) {
    CHECK(mtx_init(&dm, mtx_plain) == thrd_success && cnd_init(&dc) == thrd_success, "init");
    for (intptr_t i = 0; i < NDET; i++) {
        thrd_t t;
        create(&t, detached, (void *)i);
        CHECK(thrd_detach(t) == thrd_success, "thrd_detach");
    }
    sample_threads();
    struct timespec dl = deadline_in(5000);
    CHECK(mtx_lock(&dm) == thrd_success, "mtx_lock");
    while (detached_done < NDET) {
        int r = cnd_timedwait(&dc, &dm, &dl);
        CHECK(r == thrd_success, "waiting for detached threads: %d of %d done, cnd_timedwait %d", detached_done, NDET,
              r);
    }
    CHECK(mtx_unlock(&dm) == thrd_success, "mtx_unlock");
    printf("thrd_detach: %d detached threads ran to completion\n", detached_done);
    /* dm and dc are not destroyed: the last threads may still be leaving
     * mtx_unlock, and nothing joins them. */
}

/* ------------------------------------------------------------------- exit */

static int after_exit;
static int exiter(void *arg) {
    (void)arg;
    sleep_ms(10);
    leave_by_thrd_exit(7);
    after_exit = 1;
    return 99;
}

static void case_exit(void) {
    thrd_t t;
    create(&t, exiter, NULL);
    sample_threads();
    int res = join(t);
    printf("thrd_exit(7): thrd_join result %d\n", res);
    CHECK(res == 7 && !after_exit, "thrd_join result %d, code after thrd_exit ran: %d", res, after_exit);
}

/* ------------------------------------------------------------------- main */

static const struct {
    const char *name;
    void (*fn)(void);
} cases[] = {
    {"mutex", case_mutex}, {"recursive", case_recursive}, {"cnd", case_cnd},       {"timedwait", case_timedwait},
    {"timedlock", case_timedlock}, {"sleep", case_sleep}, {"yield", case_yield},   {"once", case_once},
    {"tss", case_tss},     {"current", case_current},     {"detach", case_detach}, {"exit", case_exit},
};

int main(int argc, char **argv) {
    alarm(60);
    const char *only = argc > 1 ? argv[1] : NULL;
    int found = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (!only || strcmp(only, cases[i].name) == 0) found = 1;
    CHECK(found, "unknown case %s", only);

    thrd_t tk;
    create(&tk, ticker, NULL);
    sample_threads();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (only && strcmp(only, cases[i].name) != 0) continue;
        long long t0 = now_ms();
        cases[i].fn();
        char name[64];
        snprintf(name, sizeof name, "case_%s_ms", cases[i].name);
        metric(name, now_ms() - t0);
    }
    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    join(tk);
    metric("os_threads_max", os_max);
    return 0;
}
