/* poll_timeout: poll() timeouts and wake-ups while other threads keep running.
 *
 * Why: under greenshim poll() must park the calling green thread with a
 * timer, not block the OS thread (which would freeze every other thread).
 *   1. poll() on an empty pipe with a 200 ms timeout returns 0 after
 *      >= 190 ms, and a ticker thread doing 5 x usleep(20 ms) has finished
 *      at least 4 ticks by then (it would have 0 if poll blocked everyone);
 *   2. after writing a byte, poll() returns 1 with revents == POLLIN at once;
 *   3. poll() with a 5 s timeout is woken by another thread writing after
 *      50 ms (returns 1, well before the timeout).
 *
 * stdout:
 *   "timeout: poll returned 0 after >= 190 ms\n"
 *   "ticker ran during poll: yes\n"
 *   "ready: poll returned 1 revents=POLLIN\n"
 *   "woken: poll returned 1 revents=POLLIN before timeout\n"
 * metrics: wall_ms (duration of the 200 ms poll), ticks_at_timeout,
 *          os_threads_max (main, after creating the ticker).
 */
#undef _GNU_SOURCE /* common.h defines it; avoid a redefinition warning */
#include "../common.h"
#include <poll.h>
#include <pthread.h>

static int ticks;
static int p[2];

static void *ticker(void *arg) {
    (void)arg;
    for (int i = 0; i < 5; i++) {
        CHECK(usleep(20000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void *late_writer(void *arg) {
    (void)arg;
    CHECK(usleep(50000) == 0, "usleep: %s", strerror(errno));
    CHECK(write(p[1], "y", 1) == 1, "write: %s", strerror(errno));
    return NULL;
}

int main(void) {
    CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};

    /* 1. timeout while the ticker runs */
    pthread_t t;
    CHECK(pthread_create(&t, NULL, ticker, NULL) == 0, "create ticker");
    metric("os_threads_max", os_threads());
    long long t0 = now_ms();
    int r = poll(&pfd, 1, 200);
    long long dt = now_ms() - t0;
    int seen = __atomic_load_n(&ticks, __ATOMIC_SEQ_CST);
    metric("wall_ms", dt);
    metric("ticks_at_timeout", seen);
    CHECK(r == 0, "poll returned %d (%s), want 0", r, strerror(errno));
    CHECK(dt >= 190, "poll timed out too early: %lld ms", dt);
    printf("timeout: poll returned 0 after >= 190 ms\n");
    CHECK(seen >= 4, "ticker only did %d ticks while poll waited", seen);
    printf("ticker ran during poll: yes\n");
    CHECK(pthread_join(t, NULL) == 0, "join ticker");

    /* 2. data already there */
    CHECK(write(p[1], "x", 1) == 1, "write: %s", strerror(errno));
    pfd.revents = 0;
    r = poll(&pfd, 1, 1000);
    CHECK(r == 1 && pfd.revents == POLLIN, "poll returned %d revents=0x%x", r, pfd.revents);
    printf("ready: poll returned 1 revents=POLLIN\n");
    char c;
    CHECK(read(p[0], &c, 1) == 1 && c == 'x', "read back");

    /* 3. woken by another thread */
    CHECK(pthread_create(&t, NULL, late_writer, NULL) == 0, "create writer");
    pfd.revents = 0;
    t0 = now_ms();
    r = poll(&pfd, 1, 5000);
    dt = now_ms() - t0;
    CHECK(r == 1 && pfd.revents == POLLIN, "poll returned %d revents=0x%x", r, pfd.revents);
    CHECK(dt < 2500, "poll was not woken by the write: %lld ms", dt);
    CHECK(read(p[0], &c, 1) == 1 && c == 'y', "read back");
    CHECK(pthread_join(t, NULL) == 0, "join writer");
    printf("woken: poll returned 1 revents=POLLIN before timeout\n");
    return 0;
}
