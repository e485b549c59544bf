/* cancel: pthread_cancel and pthread_exit as glibc does them. Threads blocked in read,
 * sleep, pthread_cond_wait, sem_wait, pthread_join and poll are cancelled; their
 * pthread_cleanup_push handlers run innermost first, a condvar waiter's handler finds
 * the mutex retaken, key destructors run after the handlers, and the joiner sees
 * PTHREAD_CANCELED. Also: PTHREAD_CANCEL_DISABLE holds a request back across blocking
 * calls until re-enabled and a pthread_testcancel, or an open; a busy loop is cancelled at
 * pthread_testcancel; the asynchronous type; a request made while disabled acts when
 * the type is asynchronous and the state is enabled again; pthread_exit from three
 * frames deep runs every handler on the way and gives its value to the joiner;
 * pthread_cleanup_pop(1) runs a handler on the normal path. Every line of output is
 * printed by one thread at a time, so it is the same natively and under the shim.
 */
#include "../common.h"
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>

static sem_t started;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t never;
static int pipefd[2];
static pthread_key_t key;

static void say(void *what) { printf("  cleanup: %s\n", (const char *)what); }

static void key_dtor(void *v) { printf("  key destructor: %s\n", (const char *)v); }

static void unlock_cleanup(void *m) {
    /* glibc retakes the mutex before the handlers of a cancelled condvar wait run. */
    int r = pthread_mutex_trylock(m);
    printf("  cleanup: cond (mutex %s)\n", r == EBUSY ? "held" : r == 0 ? "was free" : "error");
    if (r == 0) pthread_mutex_unlock(m);
    pthread_mutex_unlock(m);
}

static void *in_read(void *arg) {
    (void)arg;
    char c;
    pthread_setspecific(key, "read thread");
    pthread_cleanup_push(say, "read outer");
    pthread_cleanup_push(say, "read inner");
    sem_post(&started);
    ssize_t n = read(pipefd[0], &c, 1);
    printf("  read returned %zd (not reached)\n", n);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *in_sleep(void *arg) {
    (void)arg;
    pthread_cleanup_push(say, "sleep");
    sem_post(&started);
    sleep(100);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *in_cond(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    pthread_cleanup_push(unlock_cleanup, &mu);
    sem_post(&started);
    for (;;) pthread_cond_wait(&cv, &mu);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *in_sem(void *arg) {
    (void)arg;
    pthread_cleanup_push(say, "sem_wait");
    sem_post(&started);
    sem_wait(&never);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *in_poll(void *arg) {
    (void)arg;
    struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
    pthread_cleanup_push(say, "poll");
    sem_post(&started);
    poll(&p, 1, -1);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *forever(void *arg) {
    (void)arg;
    sem_wait(&never);
    return NULL;
}

static pthread_t sleeper;
static void *in_join(void *arg) {
    (void)arg;
    pthread_cleanup_push(say, "join");
    sem_post(&started);
    pthread_join(sleeper, NULL);
    pthread_cleanup_pop(0);
    return NULL;
}

static void *disabled(void *arg) {
    (void)arg;
    int old = -1;
    CHECK(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old) == 0, "setcancelstate");
    printf("  old state %s\n", old == PTHREAD_CANCEL_ENABLE ? "enable" : "disable");
    pthread_cleanup_push(say, "disabled");
    sem_post(&started);
    usleep(50000); /* the request arrives meanwhile */
    char c;
    CHECK(write(pipefd[1], "x", 1) == 1, "write");
    CHECK(read(pipefd[0], &c, 1) == 1, "read");
    printf("  survived sleep and read while disabled\n");
    CHECK(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old) == 0, "setcancelstate");
    printf("  re-enabled (deferred: nothing yet), old state %s\n", old == PTHREAD_CANCEL_DISABLE ? "disable" : "enable");
    pthread_testcancel();
    printf("  not reached\n");
    pthread_cleanup_pop(0);
    return NULL;
}

static void *pending_at_open(void *arg) {
    (void)arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_cleanup_push(say, "open with a request pending");
    sem_post(&started);
    usleep(50000);
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    int fd = open("/dev/null", O_RDONLY);
    printf("  open returned %d (not reached)\n", fd);
    pthread_cleanup_pop(0);
    return NULL;
}

static volatile long spins;
static void *busy(void *arg) {
    (void)arg;
    pthread_cleanup_push(say, "testcancel loop");
    sem_post(&started);
    for (;;) {
        spins++;
        pthread_testcancel();
        if (spins % 1000 == 0) sched_yield();
    }
    pthread_cleanup_pop(0);
    return NULL;
}

static void *async_blocked(void *arg) {
    (void)arg;
    int old = -1;
    pthread_cleanup_push(say, "asynchronous type, blocked");
    CHECK(pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old) == 0, "setcanceltype");
    printf("  old type %s\n", old == PTHREAD_CANCEL_DEFERRED ? "deferred" : "async");
    sem_post(&started);
    sem_wait(&never);
    pthread_cleanup_pop(0);
    return NULL;
}

static volatile long spins2;
static void *async_spin(void *arg) {
    (void)arg;
    pthread_cleanup_push(say, "asynchronous type, spinning with sched_yield");
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
    sem_post(&started);
    for (;;) {
        spins2++;
        sched_yield();
    }
    pthread_cleanup_pop(0);
    return NULL;
}

static void *pending_then_async(void *arg) {
    (void)arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_cleanup_push(say, "pending, then asynchronous type");
    pthread_cancel(pthread_self());
    printf("  request pending while disabled\n");
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
    printf("  asynchronous but still disabled\n");
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    printf("  not reached\n");
    pthread_cleanup_pop(0);
    return NULL;
}

static void level3(void) {
    pthread_cleanup_push(say, "level 3");
    pthread_exit((void *)42);
    pthread_cleanup_pop(0);
}

static void level2(void) {
    pthread_cleanup_push(say, "level 2");
    level3();
    pthread_cleanup_pop(0);
}

static void *nested_exit(void *arg) {
    (void)arg;
    pthread_setspecific(key, "nested exit thread");
    pthread_cleanup_push(say, "level 1");
    pthread_cleanup_push(say, "popped with execute=1");
    pthread_cleanup_pop(1);
    level2();
    pthread_cleanup_pop(0);
    return NULL;
}

static void cancel_and_join(const char *name, void *(*fn)(void *), int wait_started) {
    pthread_t t;
    void *ret = NULL;
    printf("%s:\n", name);
    fflush(stdout);
    CHECK(pthread_create(&t, NULL, fn, NULL) == 0, "create");
    if (wait_started) {
        sem_wait(&started);
        usleep(20000); /* let it block */
        CHECK(pthread_cancel(t) == 0, "cancel");
    }
    CHECK(pthread_join(t, &ret) == 0, "join");
    if (ret == PTHREAD_CANCELED)
        printf("  joined: PTHREAD_CANCELED\n");
    else
        printf("  joined: %ld\n", (long)ret);
    fflush(stdout);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    sem_init(&started, 0, 0);
    sem_init(&never, 0, 0);
    CHECK(pipe(pipefd) == 0, "pipe");
    CHECK(pthread_key_create(&key, key_dtor) == 0, "key");

    cancel_and_join("read", in_read, 1);
    cancel_and_join("sleep", in_sleep, 1);
    cancel_and_join("cond_wait", in_cond, 1);
    CHECK(pthread_mutex_trylock(&mu) == 0, "the cancelled waiter's handler unlocked the mutex");
    pthread_mutex_unlock(&mu);
    cancel_and_join("sem_wait", in_sem, 1);
    cancel_and_join("poll", in_poll, 1);
    CHECK(pthread_create(&sleeper, NULL, forever, NULL) == 0, "create");
    cancel_and_join("join", in_join, 1);
    CHECK(pthread_cancel(sleeper) == 0, "cancel sleeper");
    void *r;
    CHECK(pthread_join(sleeper, &r) == 0 && r == PTHREAD_CANCELED, "sleeper cancelled");
    cancel_and_join("disabled", disabled, 1);
    cancel_and_join("busy loop", busy, 1);
    cancel_and_join("pending at open", pending_at_open, 1);
    cancel_and_join("async type", async_blocked, 1);
    cancel_and_join("async type, spinning", async_spin, 1);
    cancel_and_join("pending then async", pending_then_async, 0);
    cancel_and_join("pthread_exit from level 3", nested_exit, 0);

    /* Errors: bad arguments; a thread that already ended. */
    CHECK(pthread_setcancelstate(7, NULL) == EINVAL, "setcancelstate EINVAL");
    CHECK(pthread_setcanceltype(7, NULL) == EINVAL, "setcanceltype EINVAL");
    printf("EINVAL for bad state and type\n");
    metric("os_threads_max", os_threads());
    return 0;
}
