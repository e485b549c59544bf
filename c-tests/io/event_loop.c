/* event_loop: a libevent-style loop running inside one thread.
 *
 * Why: programs embed their own event loop (epoll + timerfd) in a thread.
 * Under greenshim epoll_wait(-1) must park that green thread (not the OS
 * thread), be woken by the program's own epoll set becoming ready (a timerfd
 * expiring, a pipe written by another green thread), and leave the kernel's
 * epoll/timerfd semantics intact.
 *   - loop thread: epoll_create1(EPOLL_CLOEXEC); a periodic 10 ms timerfd and
 *     the read end of a pipe registered (EPOLLIN); epoll_wait(-1) loop that
 *     reads the timerfd's expiration count and 8-byte pipe messages, until a
 *     "quit" message;
 *   - main writes 5 messages 30 ms apart, then "quit";
 *   - a ticker thread (usleep 5 ms) runs meanwhile.
 * Checks: 5 messages in order, quit seen, >= 5 timer expirations, the ticker
 * ticked; the loop's epoll fd has FD_CLOEXEC. A 5 s alarm watchdog fails on a
 * hang.
 *
 * stdout (deterministic):
 *   "epoll fd has FD_CLOEXEC: yes\n"
 *   "messages: 5 (msg-0 .. msg-4, in order)\n"
 *   "quit received\n"
 *   "timer fired: yes\n"
 *   "ticker ran meanwhile: yes\n"
 * metrics: os_threads_max, expirations, wakeups, ticks, wall_ms.
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#define MSGLEN 8
#define NMSG 5

static int p[2];
static volatile int stop_ticker;
static int ticks;
static uint64_t expirations;
static int messages, quit, wakeups, cloexec;
static char order[NMSG][MSGLEN + 1];

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: event loop hung for 5 s\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        CHECK(usleep(5000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void *loop(void *arg) {
    (void)arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1: %s", strerror(errno));
    cloexec = fcntl(ep, F_GETFD) == FD_CLOEXEC;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    CHECK(tfd >= 0, "timerfd_create: %s", strerror(errno));
    struct itimerspec its = {.it_interval = {0, 10000000}, .it_value = {0, 10000000}};
    CHECK(timerfd_settime(tfd, 0, &its, NULL) == 0, "timerfd_settime: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = tfd};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) == 0, "epoll_ctl timerfd: %s", strerror(errno));
    ev.data.fd = p[0];
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0, "epoll_ctl pipe: %s", strerror(errno));

    char pending[64 * MSGLEN];
    size_t have = 0;
    while (!quit) {
        struct epoll_event evs[4];
        int n = epoll_wait(ep, evs, 4, -1);
        CHECK(n > 0, "epoll_wait(-1) returned %d (%s)", n, strerror(errno));
        wakeups++;
        for (int i = 0; i < n; i++) {
            CHECK(evs[i].events == EPOLLIN, "unexpected events 0x%x", evs[i].events);
            if (evs[i].data.fd == tfd) {
                uint64_t x;
                CHECK(read(tfd, &x, sizeof x) == sizeof x, "read timerfd: %s", strerror(errno));
                CHECK(x >= 1, "timerfd read 0 expirations");
                expirations += x;
            } else {
                CHECK(evs[i].data.fd == p[0], "event for unknown fd %d", evs[i].data.fd);
                ssize_t r = read(p[0], pending + have, sizeof pending - have);
                CHECK(r > 0, "read pipe: %zd %s", r, r < 0 ? strerror(errno) : "EOF");
                have += (size_t)r;
                while (have >= MSGLEN) {
                    if (memcmp(pending, "quit\0\0\0\0", MSGLEN) == 0) {
                        quit = 1;
                    } else {
                        CHECK(!quit, "message after quit");
                        CHECK(messages < NMSG, "too many messages");
                        memcpy(order[messages], pending, MSGLEN);
                        messages++;
                    }
                    memmove(pending, pending + MSGLEN, have - MSGLEN);
                    have -= MSGLEN;
                }
            }
        }
    }
    CHECK(have == 0, "%zu stray bytes after quit", have);
    close(tfd);
    close(ep);
    return NULL;
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(5);
    CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
    pthread_t tk, lp;
    long long t0 = now_ms();
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create ticker");
    CHECK(pthread_create(&lp, NULL, loop, NULL) == 0, "create loop");
    CHECK(usleep(5000) == 0, "usleep: %s", strerror(errno));
    metric("os_threads_max", os_threads());
    for (int i = 0; i < NMSG; i++) {
        CHECK(usleep(30000) == 0, "usleep: %s", strerror(errno));
        char m[MSGLEN] = {0};
        snprintf(m, sizeof m, "msg-%d", i);
        CHECK(write(p[1], m, MSGLEN) == MSGLEN, "write: %s", strerror(errno));
    }
    CHECK(usleep(30000) == 0, "usleep: %s", strerror(errno));
    CHECK(write(p[1], "quit\0\0\0\0", MSGLEN) == MSGLEN, "write quit: %s", strerror(errno));
    CHECK(pthread_join(lp, NULL) == 0, "join loop");
    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(tk, NULL) == 0, "join ticker");
    alarm(0);
    metric("expirations", (long long)expirations);
    metric("wakeups", wakeups);
    metric("ticks", ticks);
    metric("wall_ms", now_ms() - t0);

    CHECK(cloexec, "epoll fd lacks FD_CLOEXEC");
    printf("epoll fd has FD_CLOEXEC: yes\n");
    CHECK(messages == NMSG, "%d messages, want %d", messages, NMSG);
    for (int i = 0; i < NMSG; i++) {
        char want[MSGLEN + 1] = {0};
        snprintf(want, sizeof want, "msg-%d", i);
        CHECK(strcmp(order[i], want) == 0, "message %d is \"%s\", want \"%s\"", i, order[i], want);
    }
    printf("messages: %d (msg-0 .. msg-%d, in order)\n", messages, NMSG - 1);
    CHECK(quit, "no quit");
    printf("quit received\n");
    /* ~180 ms of 10 ms periods */
    CHECK(expirations >= 5, "timer fired %llu times, want >= 5", (unsigned long long)expirations);
    printf("timer fired: yes\n");
    CHECK(ticks >= 10, "ticker only ticked %d times", ticks);
    printf("ticker ran meanwhile: yes\n");
    return 0;
}
