/* accept_timeouts: an accepted socket inherits the listener's SO_RCVTIMEO and
 * SO_SNDTIMEO, as the kernel does.
 *
 * Why: the kernel copies the listener's timeouts to every socket accept()
 * returns, so a server that sets them once on the listener gets idle clients
 * timed out. A shim that parks blocking calls and applies the timeouts itself
 * must know the accepted socket has them without the program ever calling
 * setsockopt on it.
 * A TCP listener on 127.0.0.1 (socket(), blocking) with SO_RCVTIMEO 300 ms
 * and SO_SNDTIMEO 400 ms; a ticker thread (usleep 5 ms) runs throughout.
 *   1. two clients connect; accept() and accept4(SOCK_CLOEXEC) return their
 *      sockets; getsockopt on both reports 0.300000 / 0.400000;
 *   2. recv() on the first accepted socket (the client sends nothing): -1
 *      EAGAIN after 280..3000 ms, the ticker ticking >= 10 times meanwhile;
 *      read() on it likewise;
 *   3. send() of 64 MiB on the second accepted socket (its client never
 *      reads): a partial count or -1 EAGAIN after >= 380 ms (< 3 s);
 *   4. accept() on the idle listener: -1 EAGAIN after about 300 ms;
 *   5. a listener without timeouts: its accepted socket reports 0 / 0.
 * If a timeout does not fire, a rescuer thread ends the call after 3 s (it
 * sends a byte, drains the peer, or connects a client) so the failure is
 * reported rather than hung. A 15 s alarm watchdog fails on a hang.
 *
 * Result under the shim that kept a hidden O_NONBLOCK on sockets (commit
 * 896db20): getsockopt reports the inherited values, but recv, read and send
 * on the accepted sockets never time out (ended by the rescuer after 3 s);
 * accept's own timeout works.
 *
 * stdout (deterministic): one line per check.
 * metrics: os_threads_max, recv_ms, read_ms, send_ms, accept_ms, ticks_recv, ticks_send.
 */
#include "../common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

static int os_max;
static int failures;
static volatile int stop_ticker;
static int ticks;
static int get_ticks(void) { return __atomic_load_n(&ticks, __ATOMIC_SEQ_CST); }

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: accept_timeouts hung for 15 s\n";
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

/* The rescuer: if `done` is still 0 after 3 s, does `what` to end the call. */
enum rescue { SEND_BYTE, DRAIN, CONNECT };
struct rescuer {
    enum rescue what;
    int fd;
    struct sockaddr_in addr;
    int done;
    int fired;
};
static void *rescuer(void *arg) {
    struct rescuer *r = arg;
    for (int i = 0; i < 300 && !__atomic_load_n(&r->done, __ATOMIC_SEQ_CST); i++) CHECK(usleep(10000) == 0, "usleep");
    if (__atomic_load_n(&r->done, __ATOMIC_SEQ_CST)) return NULL;
    r->fired = 1;
    if (r->what == SEND_BYTE) {
        CHECK(send(r->fd, "x", 1, 0) == 1, "rescue send: %s", strerror(errno));
    } else if (r->what == CONNECT) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(c >= 0 && connect(c, (struct sockaddr *)&r->addr, sizeof r->addr) == 0, "rescue connect: %s", strerror(errno));
        /* leaked on purpose: the listener's accept takes it */
    } else {
        static char buf[1 << 16];
        while (!__atomic_load_n(&r->done, __ATOMIC_SEQ_CST))
            if (recv(r->fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) CHECK(usleep(1000) == 0, "usleep");
    }
    return NULL;
}

static pthread_t start_rescuer(struct rescuer *r) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, rescuer, r) == 0, "pthread_create");
    return t;
}

static double tv(int fd, int opt) {
    struct timeval v;
    socklen_t l = sizeof v;
    CHECK(getsockopt(fd, SOL_SOCKET, opt, &v, &l) == 0, "getsockopt: %s", strerror(errno));
    return (double)v.tv_sec + (double)v.tv_usec / 1e6;
}

static void set_tv(int fd, int opt, int ms) {
    struct timeval v = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    CHECK(setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v) == 0, "setsockopt: %s", strerror(errno));
}

static int listener(struct sockaddr_in *a) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(ls >= 0, "socket: %s", strerror(errno));
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof *a;
    CHECK(bind(ls, (struct sockaddr *)a, sizeof *a) == 0, "bind: %s", strerror(errno));
    CHECK(listen(ls, 8) == 0, "listen: %s", strerror(errno));
    CHECK(getsockname(ls, (struct sockaddr *)a, &al) == 0, "getsockname: %s", strerror(errno));
    return ls;
}

static int client(struct sockaddr_in *a) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c >= 0, "socket: %s", strerror(errno));
    CHECK(connect(c, (struct sockaddr *)a, sizeof *a) == 0, "connect: %s", strerror(errno));
    return c;
}

static const char *res(ssize_t r, int e, long long total) {
    static char b[64];
    if (r < 0)
        snprintf(b, sizeof b, "-1 %s", e == EAGAIN ? "EAGAIN" : strerrorname_np(e));
    else if (r == total)
        snprintf(b, sizeof b, "all %lld bytes", total);
    else
        snprintf(b, sizeof b, "%zd bytes", r);
    return b;
}

/* A receive that must time out: recv or read on fd, the peer `peer` idle. */
static void rx_timeout(const char *what, int use_read, int fd, int peer, const char *metric_ms, const char *metric_ticks) {
    struct rescuer r = {.what = SEND_BYTE, .fd = peer};
    pthread_t t = start_rescuer(&r);
    char buf[16];
    int t0k = get_ticks();
    long long t0 = now_ms();
    errno = 0;
    ssize_t k = use_read ? read(fd, buf, sizeof buf) : recv(fd, buf, sizeof buf, 0);
    int e = errno;
    long long ms = now_ms() - t0;
    int dt = get_ticks() - t0k;
    __atomic_store_n(&r.done, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    metric(metric_ms, ms);
    if (metric_ticks) metric(metric_ticks, dt);
    if (k == -1 && e == EAGAIN && ms >= 280 && ms <= 3000 && dt >= 10) {
        printf("%s on the accepted socket: -1 EAGAIN after the listener's 300 ms; ticker ran meanwhile\n", what);
    } else {
        fprintf(stderr, "FAIL: %s on the accepted socket (listener's SO_RCVTIMEO 300 ms): %s after %lld ms, %d ticks%s\n", what,
                res(k, e, 0), ms, dt, r.fired ? " (the timeout never fired: ended by the rescuer)" : "");
        failures++;
    }
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(15);
    pthread_t tk;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "pthread_create");
    struct sockaddr_in a;
    int ls = listener(&a);
    set_tv(ls, SO_RCVTIMEO, 300);
    set_tv(ls, SO_SNDTIMEO, 400);
    /* 1 */
    int c1 = client(&a), c2 = client(&a);
    int s1 = accept(ls, NULL, NULL);
    CHECK(s1 >= 0, "accept: %s", strerror(errno));
    int s2 = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
    CHECK(s2 >= 0, "accept4: %s", strerror(errno));
    printf("accepted socket: SO_RCVTIMEO %.6f, SO_SNDTIMEO %.6f\n", tv(s1, SO_RCVTIMEO), tv(s1, SO_SNDTIMEO));
    printf("accept4ed socket: SO_RCVTIMEO %.6f, SO_SNDTIMEO %.6f\n", tv(s2, SO_RCVTIMEO), tv(s2, SO_SNDTIMEO));
    {
        int t = os_threads();
        if (t > os_max) os_max = t;
    }
    /* 2 */
    rx_timeout("recv", 0, s1, c1, "recv_ms", "ticks_recv");
    rx_timeout("read", 1, s1, c1, "read_ms", NULL);
    /* 3 */
    {
        static char big[64 << 20];
        memset(big, 'z', sizeof big);
        struct rescuer r = {.what = DRAIN, .fd = c2};
        pthread_t t = start_rescuer(&r);
        int t0k = get_ticks();
        long long t0 = now_ms();
        errno = 0;
        ssize_t k = send(s2, big, sizeof big, 0);
        int e = errno;
        long long ms = now_ms() - t0;
        int dt = get_ticks() - t0k;
        __atomic_store_n(&r.done, 1, __ATOMIC_SEQ_CST);
        CHECK(pthread_join(t, NULL) == 0, "pthread_join");
        metric("send_ms", ms);
        metric("ticks_send", dt);
        if (((k > 0 && k < (ssize_t)sizeof big) || (k == -1 && e == EAGAIN)) && ms >= 380 && ms < 3000 && dt >= 10) {
            printf("send of 64 MiB on the accept4ed socket to a non-reading peer: partial or EAGAIN after the listener's 400 ms; ticker ran meanwhile\n");
        } else {
            fprintf(stderr, "FAIL: send of 64 MiB (listener's SO_SNDTIMEO 400 ms): %s after %lld ms, %d ticks%s\n",
                    res(k, e, sizeof big), ms, dt, r.fired ? " (the timeout never fired: the rescuer drained the peer)" : "");
            failures++;
        }
    }
    /* 4 */
    {
        struct rescuer r = {.what = CONNECT, .addr = a};
        pthread_t t = start_rescuer(&r);
        long long t0 = now_ms();
        errno = 0;
        int k = accept(ls, NULL, NULL);
        int e = errno;
        long long ms = now_ms() - t0;
        __atomic_store_n(&r.done, 1, __ATOMIC_SEQ_CST);
        CHECK(pthread_join(t, NULL) == 0, "pthread_join");
        metric("accept_ms", ms);
        if (k == -1 && e == EAGAIN && ms >= 280 && ms <= 3000) {
            printf("accept on the idle listener: -1 EAGAIN after its 300 ms\n");
        } else {
            fprintf(stderr, "FAIL: accept on the idle listener (SO_RCVTIMEO 300 ms): %d (%s) after %lld ms\n", k,
                    k < 0 ? strerrorname_np(e) : "fd", ms);
            failures++;
        }
    }
    /* 5 */
    {
        struct sockaddr_in b;
        int l2 = listener(&b);
        int c3 = client(&b);
        int s3 = accept(l2, NULL, NULL);
        CHECK(s3 >= 0, "accept: %s", strerror(errno));
        printf("accepted from a listener without timeouts: SO_RCVTIMEO %.6f, SO_SNDTIMEO %.6f\n", tv(s3, SO_RCVTIMEO),
               tv(s3, SO_SNDTIMEO));
        close(s3);
        close(c3);
        close(l2);
    }
    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(tk, NULL) == 0, "pthread_join");
    metric("os_threads_max", os_max);
    CHECK(failures == 0, "%d check(s) failed", failures);
    return 0;
}
