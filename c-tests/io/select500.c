/* select500: select() over 500 socketpairs while other threads keep running.
 *
 * Why: select() must park only the calling green thread, report exactly the
 * descriptors that became readable (fd_set in/out semantics over a large,
 * sparse set), and keep Linux's timeout semantics (the timeval is updated to
 * the time not slept).
 *   1. 500 AF_UNIX socketpairs (RLIMIT_NOFILE raised if needed); every fd must
 *      be < FD_SETSIZE.
 *   2. A selector thread select()s over the 500 read ends in a loop. A writer
 *      thread writes one byte to a deterministic pseudo-random sequence of 50
 *      pairs: 40 single writes, each acknowledged by the selector before the
 *      next (so each select must report exactly that one fd), then a burst of
 *      10 distinct pairs written at once (the union of what select reports
 *      must be exactly those 10). Every reported fd is drained with
 *      recv(MSG_DONTWAIT): a reported fd without data is spurious readiness.
 *   3. A ticker thread (usleep 2 ms) must make progress while select waits.
 *   4. select with a 100 ms timeout on the 500 idle read ends returns 0 after
 *      >= 90 ms, clears the fd_set and leaves the timeval at 0 (remaining
 *      time); the ticker ticks meanwhile.
 *   5. select with a 2 s timeout woken by a write after 50 ms returns 1 and
 *      leaves the remaining time (0.9 s .. 1.96 s) in the timeval;
 *   6. select with read and write sets: all 500 write ends writable, no read
 *      end readable;
 *   7. select(0, NULL, NULL, NULL, 50 ms) and pselect likewise sleep while
 *      the ticker ticks.
 *
 * stdout (deterministic):
 *   "pairs: 500, all fds < FD_SETSIZE\n"
 *   "singles: 40 selects, each reported exactly the written fd\n"
 *   "burst: 10 fds reported exactly\n"
 *   "sequence checksum: <n>\n"
 *   "ticker progressed while select waited: yes\n"
 *   "timeout: select returned 0 after >= 90 ms, fd_set cleared, timeval 0\n"
 *   "early wake: select returned 1, timeval holds the remaining time\n"
 *   "write sets: select reported all 500 write ends writable, no read end readable\n"
 *   "select/pselect with no fds sleep 50 ms each while the ticker runs\n"
 * metrics: os_threads_max, select_calls, ticks_during_loop,
 *          ticks_during_timeout, timeout_ms, remaining_ms, ticks_during_sleeps.
 */
#include "../common.h"
#include <pthread.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>

#define NPAIRS 500
#define NSINGLE 40
#define NBURST 10

static int rd[NPAIRS], wr[NPAIRS];
static int ack[2];           /* selector -> writer: one byte per single write */
static int seq[NSINGLE + NBURST];
static volatile int stop_ticker;
static int ticks;
static int select_calls;
static int os_max;

static int get_ticks(void) { return __atomic_load_n(&ticks, __ATOMIC_SEQ_CST); }

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        CHECK(usleep(2000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static int index_of_fd(int fd) {
    for (int i = 0; i < NPAIRS; i++)
        if (rd[i] == fd) return i;
    return -1;
}

/* select over all read ends (5 s watchdog timeout); returns the ready indices. */
static int select_all(int *ready, int max_ready) {
    fd_set set;
    FD_ZERO(&set);
    int maxfd = -1;
    for (int i = 0; i < NPAIRS; i++) {
        FD_SET(rd[i], &set);
        if (rd[i] > maxfd) maxfd = rd[i];
    }
    struct timeval tv = {5, 0};
    int r = select(maxfd + 1, &set, NULL, NULL, &tv);
    select_calls++;
    CHECK(r > 0, "select returned %d (%s): nothing reported within 5 s", r, strerror(errno));
    int n = 0;
    for (int fd = 0; fd <= maxfd; fd++) {
        if (!FD_ISSET(fd, &set)) continue;
        int i = index_of_fd(fd);
        CHECK(i >= 0, "select reported fd %d, which was not in the set", fd);
        CHECK(n < max_ready, "select reported more than %d fds", max_ready);
        ready[n++] = i;
        char buf[16];
        ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        CHECK(got == 1, "spurious readiness: pair %d reported, recv returned %zd (%s)", i, got,
              got < 0 ? strerror(errno) : "data");
    }
    CHECK(n == r, "select returned %d but %d bits were set", r, n);
    return n;
}

static void *selector(void *arg) {
    (void)arg;
    int ready[NPAIRS];
    /* singles: each select reports exactly the one written pair */
    for (int k = 0; k < NSINGLE; k++) {
        int n = select_all(ready, NPAIRS);
        CHECK(n == 1 && ready[0] == seq[k], "single %d: select reported %d fds (first pair %d), want only pair %d", k, n,
              n ? ready[0] : -1, seq[k]);
        CHECK(write(ack[1], "a", 1) == 1, "ack: %s", strerror(errno));
    }
    /* burst: the union of reports is exactly the 10 written pairs */
    int seen[NPAIRS] = {0};
    int got = 0;
    while (got < NBURST) {
        int n = select_all(ready, NPAIRS);
        for (int j = 0; j < n; j++) {
            int ok = 0;
            for (int b = NSINGLE; b < NSINGLE + NBURST; b++)
                if (seq[b] == ready[j]) ok = 1;
            CHECK(ok, "burst: select reported pair %d, which was not written", ready[j]);
            CHECK(!seen[ready[j]], "burst: pair %d reported twice", ready[j]);
            seen[ready[j]] = 1;
            got++;
        }
    }
    return NULL;
}

static void *writer(void *arg) {
    (void)arg;
    for (int k = 0; k < NSINGLE; k++) {
        CHECK(usleep(1000 + (k % 3) * 1000) == 0, "usleep: %s", strerror(errno));
        CHECK(write(wr[seq[k]], "x", 1) == 1, "write pair %d: %s", seq[k], strerror(errno));
        char c;
        CHECK(read(ack[0], &c, 1) == 1, "read ack: %s", strerror(errno));
    }
    CHECK(usleep(3000) == 0, "usleep: %s", strerror(errno));
    for (int k = NSINGLE; k < NSINGLE + NBURST; k++)
        CHECK(write(wr[seq[k]], "y", 1) == 1, "write pair %d: %s", seq[k], strerror(errno));
    return NULL;
}

static void *late_writer(void *arg) {
    int i = *(int *)arg;
    CHECK(usleep(50000) == 0, "usleep: %s", strerror(errno));
    CHECK(write(wr[i], "z", 1) == 1, "write: %s", strerror(errno));
    return NULL;
}

static void note_threads(void) {
    int n = os_threads();
    if (n > os_max) os_max = n;
}

int main(void) {
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit: %s", strerror(errno));
    if (rl.rlim_cur < 1100) {
        rl.rlim_cur = rl.rlim_max < 1100 ? rl.rlim_max : 1100;
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit: %s", strerror(errno));
    }
    for (int i = 0; i < NPAIRS; i++) {
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair %d: %s", i, strerror(errno));
        CHECK(sv[0] < FD_SETSIZE && sv[1] < FD_SETSIZE, "pair %d: fds %d,%d not < FD_SETSIZE", i, sv[0], sv[1]);
        rd[i] = sv[0];
        wr[i] = sv[1];
    }
    CHECK(pipe(ack) == 0, "pipe: %s", strerror(errno));
    printf("pairs: %d, all fds < FD_SETSIZE\n", NPAIRS);

    /* deterministic sequence: LCG; burst entries distinct from each other */
    unsigned x = 12345;
    long checksum = 0;
    for (int k = 0; k < NSINGLE + NBURST; k++) {
        int v, dup;
        do {
            x = x * 1103515245u + 12345u;
            v = (int)((x >> 16) % NPAIRS);
            dup = 0;
            for (int b = NSINGLE; b < k; b++)
                if (seq[b] == v) dup = 1;
        } while (dup);
        seq[k] = v;
        checksum = checksum * 31 % 1000003 + v;
    }

    pthread_t tk, sel, wrt;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create ticker");
    CHECK(pthread_create(&sel, NULL, selector, NULL) == 0, "create selector");
    CHECK(pthread_create(&wrt, NULL, writer, NULL) == 0, "create writer");
    note_threads();
    int t_before = get_ticks();
    CHECK(pthread_join(wrt, NULL) == 0, "join writer");
    CHECK(pthread_join(sel, NULL) == 0, "join selector");
    int t_loop = get_ticks() - t_before;
    metric("select_calls", select_calls);
    metric("ticks_during_loop", t_loop);
    printf("singles: %d selects, each reported exactly the written fd\n", NSINGLE);
    printf("burst: %d fds reported exactly\n", NBURST);
    printf("sequence checksum: %ld\n", checksum);
    /* The loop lasts >= 40 x (1..3 ms) of writer sleeps; the ticker sleeps 2 ms. */
    CHECK(t_loop >= 10, "ticker only ticked %d times during the select loop", t_loop);
    printf("ticker progressed while select waited: yes\n");

    /* 4. timeout on 500 idle fds */
    fd_set set;
    FD_ZERO(&set);
    int maxfd = -1;
    for (int i = 0; i < NPAIRS; i++) {
        FD_SET(rd[i], &set);
        if (rd[i] > maxfd) maxfd = rd[i];
    }
    struct timeval tv = {0, 100000};
    t_before = get_ticks();
    long long t0 = now_ms();
    int r = select(maxfd + 1, &set, NULL, NULL, &tv);
    long long dt = now_ms() - t0;
    int t_timeout = get_ticks() - t_before;
    note_threads();
    metric("timeout_ms", dt);
    metric("ticks_during_timeout", t_timeout);
    CHECK(r == 0, "idle select returned %d (%s), want 0", r, strerror(errno));
    CHECK(dt >= 90, "idle select timed out after %lld ms, want >= 90", dt);
    CHECK(dt < 2000, "idle select took %lld ms", dt);
    int left = 0;
    for (int fd = 0; fd <= maxfd; fd++)
        if (FD_ISSET(fd, &set)) left++;
    CHECK(left == 0, "%d bits still set after a timeout", left);
    CHECK(tv.tv_sec == 0 && tv.tv_usec == 0, "timeval after timeout = %ld.%06ld, want 0", (long)tv.tv_sec, (long)tv.tv_usec);
    CHECK(t_timeout >= 10, "ticker only ticked %d times during a 100 ms select", t_timeout);
    printf("timeout: select returned 0 after >= 90 ms, fd_set cleared, timeval 0\n");

    /* 5. woken early: the timeval keeps the time not slept */
    int target = seq[0];
    pthread_t lw;
    CHECK(pthread_create(&lw, NULL, late_writer, &target) == 0, "create late writer");
    note_threads();
    FD_ZERO(&set);
    for (int i = 0; i < NPAIRS; i++) FD_SET(rd[i], &set);
    tv.tv_sec = 2;
    tv.tv_usec = 0;
    t0 = now_ms();
    r = select(maxfd + 1, &set, NULL, NULL, &tv);
    dt = now_ms() - t0;
    CHECK(r == 1 && FD_ISSET(rd[target], &set), "early wake: select returned %d (%s)", r, strerror(errno));
    long long rem = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    metric("remaining_ms", rem);
    CHECK(rem >= 900 && rem <= 1960, "remaining time %lld ms after waiting %lld ms of 2000", rem, dt);
    char c;
    CHECK(read(rd[target], &c, 1) == 1 && c == 'z', "read back");
    CHECK(pthread_join(lw, NULL) == 0, "join late writer");
    printf("early wake: select returned 1, timeval holds the remaining time\n");

    /* 6. write sets: all 500 write ends are writable; read set empty */
    fd_set rs, ws;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    int maxw = -1;
    for (int i = 0; i < NPAIRS; i++) {
        FD_SET(rd[i], &rs);
        FD_SET(wr[i], &ws);
        if (wr[i] > maxw) maxw = wr[i];
    }
    if (maxfd > maxw) maxw = maxfd;
    tv.tv_sec = 1;
    tv.tv_usec = 0;
    r = select(maxw + 1, &rs, &ws, NULL, &tv);
    int nw = 0, nr = 0;
    for (int i = 0; i < NPAIRS; i++) {
        nw += FD_ISSET(wr[i], &ws) != 0;
        nr += FD_ISSET(rd[i], &rs) != 0;
    }
    CHECK(r == NPAIRS && nw == NPAIRS && nr == 0, "write select returned %d (%d writable, %d readable)", r, nw, nr);
    printf("write sets: select reported all %d write ends writable, no read end readable\n", NPAIRS);

    /* 7. select(0, NULL, NULL, NULL, &tv) as a sleep, and pselect likewise */
    t_before = get_ticks();
    tv.tv_sec = 0;
    tv.tv_usec = 50000;
    t0 = now_ms();
    r = select(0, NULL, NULL, NULL, &tv);
    dt = now_ms() - t0;
    CHECK(r == 0 && dt >= 45 && dt < 2000, "select as a 50 ms sleep returned %d after %lld ms", r, dt);
    struct timespec ts = {0, 50000000};
    t0 = now_ms();
    r = pselect(0, NULL, NULL, NULL, &ts, NULL);
    dt = now_ms() - t0;
    CHECK(r == 0 && dt >= 45 && dt < 2000, "pselect as a 50 ms sleep returned %d after %lld ms", r, dt);
    int t_sleep = get_ticks() - t_before;
    metric("ticks_during_sleeps", t_sleep);
    CHECK(t_sleep >= 5, "ticker only ticked %d times during 100 ms of select/pselect sleeps", t_sleep);
    printf("select/pselect with no fds sleep 50 ms each while the ticker runs\n");

    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(tk, NULL) == 0, "join ticker");
    metric("os_threads_max", os_max);
    return 0;
}
