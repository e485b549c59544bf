/* sockopt_timeouts: SO_RCVTIMEO / SO_SNDTIMEO on blocking sockets.
 *
 * Why: under greenshim a blocking recv/send parks the green thread on the hub;
 * the kernel's socket timeouts then no longer fire by themselves, so the shim
 * must apply them: the call fails with EAGAIN (or returns a partial count)
 * after the timeout, while other threads keep running.
 * Over a loopback TCP connection (127.0.0.1):
 *   1. setsockopt SO_RCVTIMEO 200 ms; getsockopt returns 200 ms;
 *   2. recv on the idle socket returns -1 EAGAIN after 180..2000 ms, and a
 *      ticker thread (usleep 10 ms) ticks meanwhile; read() likewise, and
 *      recvfrom() on a dup of the socket (the timeout is the socket's), and
 *      accept() on a listening socket with SO_RCVTIMEO;
 *   3. with the timeout set, recv is still woken early by data another thread
 *      sends after 50 ms;
 *   4. setsockopt SO_SNDTIMEO 200 ms; getsockopt returns it; a blocking send of
 *      64 MiB to a peer that never reads returns a partial count (> 0, < total)
 *      or -1 EAGAIN after >= 180 ms (and < 5 s), ticker ticking meanwhile;
 *      write() of 64 MiB more on the (nearly) full socket: likewise.
 *
 * stdout (deterministic):
 *   "getsockopt SO_RCVTIMEO: 0.200000\n"
 *   "recv idle: -1 EAGAIN after the timeout\n"
 *   "read idle: -1 EAGAIN after the timeout\n"
 *   "recvfrom on a dup: -1 EAGAIN after the timeout\n"
 *   "ticker ran during the receive timeouts: yes\n"
 *   "accept on an idle listener: -1 EAGAIN after the timeout\n"
 *   "recv woken by data before the timeout: 5 bytes\n"
 *   "getsockopt SO_SNDTIMEO: 0.200000\n"
 *   "send 64 MiB to a non-reading peer: partial or EAGAIN after the timeout\n"
 *   "write 64 MiB more: partial or EAGAIN after the timeout\n"
 *   "ticker ran during the send timeouts: yes\n"
 * metrics: os_threads_max, recv_ms, read_ms, dup_recv_ms, accept_ms, send_ms, send_result,
 *          write_ms, write_result, ticks_recv, ticks_send.
 */
#include "../common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>

static volatile int stop_ticker;
static int ticks;
static int get_ticks(void) { return __atomic_load_n(&ticks, __ATOMIC_SEQ_CST); }

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        CHECK(usleep(10000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static int peer;
static void *late_sender(void *arg) {
    (void)arg;
    CHECK(usleep(50000) == 0, "usleep: %s", strerror(errno));
    CHECK(send(peer, "hello", 5, 0) == 5, "send: %s", strerror(errno));
    return NULL;
}

static void tcp_pair(int *a, int *b) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(l >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    CHECK(bind(l, (struct sockaddr *)&sa, sizeof sa) == 0, "bind: %s", strerror(errno));
    CHECK(listen(l, 1) == 0, "listen: %s", strerror(errno));
    CHECK(getsockname(l, (struct sockaddr *)&sa, &len) == 0, "getsockname: %s", strerror(errno));
    *a = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(*a >= 0, "socket: %s", strerror(errno));
    CHECK(connect(*a, (struct sockaddr *)&sa, sizeof sa) == 0, "connect: %s", strerror(errno));
    *b = accept(l, NULL, NULL);
    CHECK(*b >= 0, "accept: %s", strerror(errno));
    close(l);
}

static void set_timeout(int fd, int opt, const char *name) {
    struct timeval tv = {0, 200000};
    CHECK(setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv) == 0, "setsockopt %s: %s", name, strerror(errno));
    struct timeval got = {0, 0};
    socklen_t len = sizeof got;
    CHECK(getsockopt(fd, SOL_SOCKET, opt, &got, &len) == 0, "getsockopt %s: %s", name, strerror(errno));
    CHECK(len == sizeof got && got.tv_sec == 0 && got.tv_usec == 200000, "getsockopt %s = %ld.%06ld", name,
          (long)got.tv_sec, (long)got.tv_usec);
    printf("getsockopt %s: %ld.%06ld\n", name, (long)got.tv_sec, (long)got.tv_usec);
}

int main(void) {
    int c, s;
    tcp_pair(&c, &s);
    pthread_t tk;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create ticker");
    int os_max = os_threads();

    /* 1-2. receive timeout */
    set_timeout(c, SO_RCVTIMEO, "SO_RCVTIMEO");
    char buf[64];
    int t_start = get_ticks();
    long long t0 = now_ms();
    ssize_t r = recv(c, buf, sizeof buf, 0);
    int e = errno;
    long long dt = now_ms() - t0;
    metric("recv_ms", dt);
    CHECK(r == -1 && (e == EAGAIN || e == EWOULDBLOCK), "recv returned %zd (%s), want -1 EAGAIN", r, strerror(e));
    CHECK(dt >= 180 && dt <= 2000, "recv timed out after %lld ms, want 180..2000", dt);
    printf("recv idle: -1 EAGAIN after the timeout\n");
    t0 = now_ms();
    r = read(c, buf, sizeof buf);
    e = errno;
    dt = now_ms() - t0;
    metric("read_ms", dt);
    CHECK(r == -1 && (e == EAGAIN || e == EWOULDBLOCK), "read returned %zd (%s), want -1 EAGAIN", r, strerror(e));
    CHECK(dt >= 180 && dt <= 2000, "read timed out after %lld ms, want 180..2000", dt);
    printf("read idle: -1 EAGAIN after the timeout\n");
    /* The timeout belongs to the socket, not the fd number: a dup sees it. */
    int d = dup(c);
    CHECK(d >= 0, "dup: %s", strerror(errno));
    t0 = now_ms();
    r = recvfrom(d, buf, sizeof buf, 0, NULL, NULL);
    e = errno;
    dt = now_ms() - t0;
    metric("dup_recv_ms", dt);
    CHECK(r == -1 && (e == EAGAIN || e == EWOULDBLOCK), "recvfrom on a dup returned %zd (%s), want -1 EAGAIN", r,
          strerror(e));
    CHECK(dt >= 180 && dt <= 2000, "recvfrom on a dup timed out after %lld ms, want 180..2000", dt);
    close(d);
    printf("recvfrom on a dup: -1 EAGAIN after the timeout\n");
    int t_recv = get_ticks() - t_start;
    metric("ticks_recv", t_recv);
    /* ~60 ticks natively in 600 ms; 0 if the timeouts blocked the OS thread */
    CHECK(t_recv >= 10, "ticker only ticked %d times during three 200 ms receive timeouts", t_recv);
    printf("ticker ran during the receive timeouts: yes\n");

    /* accept honours SO_RCVTIMEO on the listening socket */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(l >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(l, (struct sockaddr *)&sa, sizeof sa) == 0, "bind: %s", strerror(errno));
    CHECK(listen(l, 1) == 0, "listen: %s", strerror(errno));
    struct timeval atv = {0, 200000};
    CHECK(setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &atv, sizeof atv) == 0, "setsockopt: %s", strerror(errno));
    t0 = now_ms();
    int a = accept(l, NULL, NULL);
    e = errno;
    dt = now_ms() - t0;
    metric("accept_ms", dt);
    CHECK(a == -1 && (e == EAGAIN || e == EWOULDBLOCK), "accept returned %d (%s), want -1 EAGAIN", a, strerror(e));
    CHECK(dt >= 180 && dt <= 2000, "accept timed out after %lld ms, want 180..2000", dt);
    close(l);
    printf("accept on an idle listener: -1 EAGAIN after the timeout\n");

    /* 3. woken early by data */
    peer = s;
    pthread_t ls;
    CHECK(pthread_create(&ls, NULL, late_sender, NULL) == 0, "create sender");
    int n = os_threads();
    if (n > os_max) os_max = n;
    t0 = now_ms();
    r = recv(c, buf, sizeof buf, 0);
    dt = now_ms() - t0;
    CHECK(r == 5 && memcmp(buf, "hello", 5) == 0, "recv returned %zd (%s), want 5 bytes", r, r < 0 ? strerror(errno) : "");
    CHECK(dt < 180, "recv took %lld ms though data came after 50 ms", dt);
    CHECK(pthread_join(ls, NULL) == 0, "join sender");
    printf("recv woken by data before the timeout: %zd bytes\n", r);

    /* 4. send timeout: s never reads what c sends */
    set_timeout(c, SO_SNDTIMEO, "SO_SNDTIMEO");
    size_t total = 64u << 20;
    char *big = malloc(total);
    CHECK(big, "malloc");
    memset(big, 'b', total);
    t_start = get_ticks();
    t0 = now_ms();
    r = send(c, big, total, 0);
    e = errno;
    dt = now_ms() - t0;
    metric("send_ms", dt);
    metric("send_result", r);
    CHECK((r > 0 && (size_t)r < total) || (r == -1 && (e == EAGAIN || e == EWOULDBLOCK)),
          "send returned %zd (%s), want a partial count or -1 EAGAIN", r, r < 0 ? strerror(e) : "");
    CHECK(dt >= 180 && dt < 5000, "send returned after %lld ms, want 180..5000", dt);
    printf("send 64 MiB to a non-reading peer: partial or EAGAIN after the timeout\n");
    /* Again with write() on the (nearly) full socket; TCP may still grow its
     * buffers a little, so a partial count is as valid as EAGAIN. */
    t0 = now_ms();
    r = write(c, big, total);
    e = errno;
    dt = now_ms() - t0;
    metric("write_ms", dt);
    metric("write_result", r);
    CHECK((r > 0 && (size_t)r < total) || (r == -1 && (e == EAGAIN || e == EWOULDBLOCK)),
          "write returned %zd (%s), want a partial count or -1 EAGAIN", r, r < 0 ? strerror(e) : "");
    CHECK(dt >= 180 && dt < 5000, "write returned after %lld ms, want 180..5000", dt);
    printf("write 64 MiB more: partial or EAGAIN after the timeout\n");
    int t_send = get_ticks() - t_start;
    metric("ticks_send", t_send);
    CHECK(t_send >= 10, "ticker only ticked %d times during two 200 ms send timeouts", t_send);
    printf("ticker ran during the send timeouts: yes\n");

    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(tk, NULL) == 0, "join ticker");
    metric("os_threads_max", os_max);
    free(big);
    close(c);
    close(s);
    return 0;
}
