/* create_join: pthread create/join/detach/self/equal semantics + cost.
 *
 * Why: greenshim replaces pthread_create with green threads, so it must get
 * the whole thread-identity API right, not just "run a function":
 *   1. 10000 threads created and joined one after another, each returning
 *      (void *)i; the join retval is checked (metric: create_join_ns);
 *   2. 1000 threads alive at once (each blocks reading one byte from a gate
 *      pipe), then released and joined in creation order; each records
 *      pthread_self(): it must pthread_equal() the id pthread_create gave,
 *      differ from every other thread's and from main's;
 *   3. 100 threads detached (half by main via pthread_detach, half by
 *      themselves via pthread_detach(pthread_self())); each reports
 *      completion through a pipe, which main reads.
 *
 * stdout: "ok\n"
 * metrics: create_join_ns (avg per sequential create+join),
 *          os_threads_max (main, with the 1000 threads alive), wall_ms.
 */
#undef _GNU_SOURCE /* common.h defines it; avoid a redefinition warning */
#include "../common.h"
#include <pthread.h>
#include <stdint.h>

#define SEQ 10000
#define CONC 1000
#define DET 100

static void *ret_arg(void *arg) { return arg; }

static int gate[2], done[2];
static pthread_t selves[CONC];

static void *gated(void *arg) {
    intptr_t i = (intptr_t)arg;
    char c;
    selves[i] = pthread_self();
    CHECK(read(gate[0], &c, 1) == 1, "gate read: %s", strerror(errno));
    return (void *)(i * 3);
}

static void *detached(void *arg) {
    intptr_t i = (intptr_t)arg;
    if (i % 2) CHECK(pthread_detach(pthread_self()) == 0, "self detach");
    CHECK(write(done[1], "d", 1) == 1, "done write: %s", strerror(errno));
    return NULL;
}

int main(void) {
    long long t0 = now_ms();
    static pthread_t t[CONC];
    void *ret;
    char buf[CONC];

    /* 1. sequential create + join */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (intptr_t i = 0; i < SEQ; i++) {
        pthread_t x;
        CHECK(pthread_create(&x, NULL, ret_arg, (void *)i) == 0, "create %ld", (long)i);
        CHECK(pthread_join(x, &ret) == 0, "join %ld", (long)i);
        CHECK(ret == (void *)i, "thread %ld returned %p", (long)i, ret);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    metric("create_join_ns", ((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec)) / SEQ);

    /* 2. 1000 alive at once */
    CHECK(pipe(gate) == 0 && pipe(done) == 0, "pipe");
    for (intptr_t i = 0; i < CONC; i++)
        CHECK(pthread_create(&t[i], NULL, gated, (void *)i) == 0, "create %ld: %s", (long)i, strerror(errno));
    metric("os_threads_max", os_threads());
    memset(buf, 'g', sizeof buf);
    for (size_t off = 0; off < CONC;) {
        ssize_t w = write(gate[1], buf + off, CONC - off);
        CHECK(w > 0, "gate write: %s", strerror(errno));
        off += (size_t)w;
    }
    for (intptr_t i = 0; i < CONC; i++) {
        CHECK(pthread_join(t[i], &ret) == 0, "join %ld", (long)i);
        CHECK(ret == (void *)(i * 3), "thread %ld returned %p", (long)i, ret);
    }
    pthread_t me = pthread_self();
    CHECK(pthread_equal(me, pthread_self()), "pthread_equal(self, self) is false");
    for (int i = 0; i < CONC; i++) {
        CHECK(pthread_equal(selves[i], t[i]), "thread %d: pthread_self differs from create's id", i);
        CHECK(!pthread_equal(selves[i], me), "thread %d has main's id", i);
        for (int j = i + 1; j < CONC; j++)
            CHECK(!pthread_equal(selves[i], selves[j]), "threads %d and %d share an id", i, j);
    }

    /* 3. detached threads */
    for (intptr_t i = 0; i < DET; i++) {
        pthread_t x;
        CHECK(pthread_create(&x, NULL, detached, (void *)i) == 0, "create detached %ld", (long)i);
        if (i % 2 == 0) CHECK(pthread_detach(x) == 0, "pthread_detach %ld", (long)i);
    }
    for (int got = 0; got < DET;) {
        ssize_t n = read(done[0], buf, (size_t)(DET - got));
        CHECK(n > 0, "done read: %s", strerror(errno));
        got += (int)n;
    }
    metric("wall_ms", now_ms() - t0);
    printf("ok\n");
    return 0;
}
