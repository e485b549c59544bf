/* recv_flags: MSG_ERRQUEUE, MSG_PEEK, MSG_TRUNC, MSG_OOB and MSG_DONTWAIT as
 * natively.
 *
 * Why: a shim serving blocking receives with its own wait-and-retry loop must
 * not wait where the kernel answers at once (an empty error queue, no urgent
 * data, MSG_DONTWAIT) and must pass the flags' results through unchanged
 * (peeked data stays queued, MSG_TRUNC reports the real datagram length).
 * Sockets: UDP on 127.0.0.1, a TCP connection over 127.0.0.1 (socket()), an
 * AF_UNIX socketpair and AF_UNIX datagram socketpair; all blocking.
 *   1. recvmsg(MSG_ERRQUEUE) and recv(MSG_ERRQUEUE) with an empty error queue:
 *      the kernel's answer (-1 EAGAIN on UDP and TCP) and within 500 ms;
 *   2. recv(MSG_DONTWAIT) on an empty socket: -1 EAGAIN within 500 ms;
 *   3. MSG_PEEK: peeked bytes (TCP) / datagram (UDP) are read again by the next
 *      recv; a MSG_PEEK on an empty TCP socket waits for data sent 50 ms later;
 *   4. MSG_TRUNC on datagrams (UDP and AF_UNIX): recv(10, MSG_TRUNC) of a
 *      1000-byte datagram returns 1000; recv(NULL, 0, MSG_PEEK | MSG_TRUNC)
 *      returns 1000; recvmsg into 10 bytes sets MSG_TRUNC in msg_flags and
 *      returns 10; on TCP, recv(NULL, 3, MSG_TRUNC) discards 3 bytes;
 *   5. MSG_OOB on TCP: recv(MSG_OOB) with no urgent data: -1 EINVAL at once;
 *      after send("abc", MSG_OOB): the urgent byte 'c' with MSG_OOB, "ab" with
 *      a plain recv, sockatmark as natively, then EINVAL again.
 * A 10 s alarm watchdog fails on a hang (naming the check).
 *
 * Result under the shim that kept a hidden O_NONBLOCK on sockets (commit
 * 896db20): recvmsg(MSG_ERRQUEUE) on UDP with an empty error queue parks
 * forever (watchdog); the other checks pass ("./recv_flags 2345" runs them).
 *
 * stdout (deterministic): one line per check.
 * metrics: os_threads_max, errqueue_ms_max, dontwait_ms_max, oob_ms.
 */
#include "../common.h"
#include "../net.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

static int os_max;
static long long errqueue_ms_max, dontwait_ms_max;
static const char *volatile phase = "start";

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: recv_flags hung for 10 s in: ";
    ssize_t w = write(2, msg, sizeof msg - 1);
    w = write(2, (const char *)phase, strlen((const char *)phase));
    w = write(2, "\n", 1);
    (void)w;
    _exit(1);
}

static const char *result(ssize_t r, int e) {
    static char b[64];
    if (r >= 0)
        snprintf(b, sizeof b, "%zd", r);
    else
        snprintf(b, sizeof b, "-1 %s", e == EAGAIN ? "EAGAIN" : e == EINVAL ? "EINVAL" : strerrorname_np(e));
    return b;
}


static void errqueue(const char *kind, int fd) {
    char buf[64], ctl[256];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    phase = kind;
    long long t0 = now_ms();
    errno = 0;
    ssize_t r = recvmsg(fd, &m, MSG_ERRQUEUE);
    int e = errno;
    long long d1 = now_ms() - t0;
    char r1[64];
    snprintf(r1, sizeof r1, "%s", result(r, e));
    t0 = now_ms();
    errno = 0;
    ssize_t r2 = recv(fd, buf, sizeof buf, MSG_ERRQUEUE);
    int e2 = errno;
    long long d2 = now_ms() - t0;
    if (d1 > errqueue_ms_max) errqueue_ms_max = d1;
    if (d2 > errqueue_ms_max) errqueue_ms_max = d2;
    CHECK(d1 < 500 && d2 < 500, "%s: MSG_ERRQUEUE with an empty error queue took %lld / %lld ms", kind, d1, d2);
    printf("%s: recvmsg(MSG_ERRQUEUE), empty error queue: %s at once; recv(MSG_ERRQUEUE): %s at once\n", kind, r1,
           result(r2, e2));
}

static void dontwait(const char *kind, int fd) {
    char buf[16];
    phase = kind;
    long long t0 = now_ms();
    errno = 0;
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    int e = errno;
    long long d = now_ms() - t0;
    if (d > dontwait_ms_max) dontwait_ms_max = d;
    CHECK(d < 500, "%s: recv(MSG_DONTWAIT) took %lld ms", kind, d);
    printf("%s: recv(MSG_DONTWAIT) on an empty socket: %s at once\n", kind, result(r, e));
}

static int late_fd;
static void *late_send(void *a) {
    (void)a;
    CHECK(usleep(50000) == 0, "usleep");
    int t = os_threads();
    if (t > os_max) os_max = t;
    CHECK(send(late_fd, "later", 5, 0) == 5, "send: %s", strerror(errno));
    return NULL;
}

static void trunc_dgram(const char *kind, int rx, int tx, struct sockaddr *to, socklen_t tolen) {
    static char big[1000];
    char buf[16];
    memset(big, 'x', sizeof big);
    phase = kind;
    CHECK(sendto(tx, big, sizeof big, 0, to, tolen) == 1000, "sendto: %s", strerror(errno));
    ssize_t p = recv(rx, NULL, 0, MSG_PEEK | MSG_TRUNC);
    ssize_t r = recv(rx, buf, 10, MSG_TRUNC);
    CHECK(sendto(tx, big, sizeof big, 0, to, tolen) == 1000, "sendto: %s", strerror(errno));
    struct iovec iov = {buf, 10};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t r2 = recvmsg(rx, &m, 0);
    char rp[64], rr[64];
    snprintf(rp, sizeof rp, "%s", result(p, errno));
    snprintf(rr, sizeof rr, "%s", result(r, errno));
    printf("%s: 1000-byte datagram: recv(NULL, 0, MSG_PEEK|MSG_TRUNC) = %s, recv(10, MSG_TRUNC) = %s, recvmsg(10) = %s with%s MSG_TRUNC in msg_flags\n",
           kind, rp, rr, result(r2, errno), (m.msg_flags & MSG_TRUNC) ? "" : "out");
}

int main(int argc, char **argv) {
    /* An argument such as "2345" runs only those checks: for diagnosis. */
    const char *which = argc > 1 ? argv[1] : "12345";
    signal(SIGALRM, on_alarm);
    alarm(10);
    int u = socket(AF_INET, SOCK_DGRAM, 0), v = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(u >= 0 && v >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in ua = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof ua;
    CHECK(bind(u, (struct sockaddr *)&ua, sizeof ua) == 0, "bind: %s", strerror(errno));
    CHECK(getsockname(u, (struct sockaddr *)&ua, &al) == 0, "getsockname: %s", strerror(errno));
    int t[2], sp[2], dp[2];
    loopback_pair(t, 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0, "socketpair: %s", strerror(errno));
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, dp) == 0, "socketpair: %s", strerror(errno));

    if (strchr(which, '1')) {
        errqueue("udp", u);
        errqueue("tcp", t[0]);
    }
    /* (AF_UNIX sockets have no error queue: there MSG_ERRQUEUE is ignored and recv blocks.) */
    if (strchr(which, '2')) {
        dontwait("udp", u);
        dontwait("tcp", t[0]);
        dontwait("unix stream", sp[0]);
    }
    if (strchr(which, '3')) {
        char buf[16] = {0};
        phase = "tcp MSG_PEEK";
        CHECK(send(t[1], "hello", 5, 0) == 5, "send: %s", strerror(errno));
        ssize_t p = recv(t[0], buf, 5, MSG_PEEK);
        CHECK(p == 5 && memcmp(buf, "hello", 5) == 0, "tcp MSG_PEEK: %zd", p);
        memset(buf, 0, sizeof buf);
        ssize_t r = recv(t[0], buf, sizeof buf, 0);
        CHECK(r == 5 && memcmp(buf, "hello", 5) == 0, "tcp recv after MSG_PEEK: %zd", r);
        printf("tcp: recv(MSG_PEEK) = 5 \"hello\", the next recv reads the same 5 bytes\n");
        phase = "tcp MSG_PEEK on an empty socket";
        late_fd = t[1];
        pthread_t th;
        CHECK(pthread_create(&th, NULL, late_send, NULL) == 0, "pthread_create");
        p = recv(t[0], buf, sizeof buf, MSG_PEEK);
        CHECK(pthread_join(th, NULL) == 0, "pthread_join");
        CHECK(p == 5 && memcmp(buf, "later", 5) == 0, "tcp MSG_PEEK on an empty socket: %s", result(p, errno));
        r = recv(t[0], buf, sizeof buf, 0);
        CHECK(r == 5 && memcmp(buf, "later", 5) == 0, "tcp recv after a waiting MSG_PEEK: %zd", r);
        printf("tcp: recv(MSG_PEEK) on an empty socket waits for the data; the next recv reads it again\n");
        phase = "udp MSG_PEEK";
        CHECK(sendto(v, "abcdef", 6, 0, (struct sockaddr *)&ua, sizeof ua) == 6, "sendto: %s", strerror(errno));
        p = recv(u, buf, 3, MSG_PEEK);
        r = recv(u, buf, sizeof buf, 0);
        CHECK(p == 3 && r == 6 && memcmp(buf, "abcdef", 6) == 0, "udp MSG_PEEK %zd then recv %zd", p, r);
        printf("udp: recv(3, MSG_PEEK) of a 6-byte datagram = 3, the next recv reads all 6\n");
    }
    if (strchr(which, '4')) {
        trunc_dgram("udp", u, v, (struct sockaddr *)&ua, sizeof ua);
        trunc_dgram("unix dgram", dp[0], dp[1], NULL, 0);
        char buf[16] = {0};
        phase = "tcp MSG_TRUNC";
        CHECK(send(t[1], "0123456789", 10, 0) == 10, "send: %s", strerror(errno));
        ssize_t d = recv(t[0], NULL, 3, MSG_TRUNC);
        ssize_t r = recv(t[0], buf, sizeof buf, 0);
        printf("tcp: recv(NULL, 3, MSG_TRUNC) = %s, then recv reads \"%.*s\"\n", result(d, errno), (int)(r > 0 ? r : 0), buf);
    }
    if (strchr(which, '5')) {
        char buf[16] = {0};
        phase = "tcp MSG_OOB without urgent data";
        long long t0 = now_ms();
        errno = 0;
        ssize_t r = recv(t[0], buf, 1, MSG_OOB);
        long long d = now_ms() - t0;
        CHECK(d < 500, "MSG_OOB without urgent data took %lld ms", d);
        metric("oob_ms", d);
        printf("tcp: recv(MSG_OOB) with no urgent data: %s at once\n", result(r, errno));
        phase = "tcp MSG_OOB with urgent data";
        CHECK(send(t[1], "abc", 3, MSG_OOB) == 3, "send MSG_OOB: %s", strerror(errno));
        struct pollfd pf = {.fd = t[0], .events = POLLPRI};
        CHECK(poll(&pf, 1, 2000) == 1 && (pf.revents & POLLPRI), "poll POLLPRI: revents 0x%x", pf.revents);
        int mark0 = sockatmark(t[0]);
        errno = 0;
        ssize_t o = recv(t[0], buf, 1, MSG_OOB);
        char ob = buf[0];
        char ro[64];
        snprintf(ro, sizeof ro, "%s", result(o, errno));
        r = recv(t[0], buf, sizeof buf, 0);
        int mark1 = sockatmark(t[0]);
        errno = 0;
        ssize_t o2 = recv(t[0], buf + 8, 1, MSG_OOB);
        printf("tcp: after send(\"abc\", MSG_OOB): sockatmark %d, recv(MSG_OOB) = %s '%c', recv = \"%.*s\", sockatmark %d, recv(MSG_OOB) again: %s\n",
               mark0, ro, o == 1 ? ob : '?', (int)(r > 0 ? r : 0), buf, mark1, result(o2, errno));
    }
    metric("errqueue_ms_max", errqueue_ms_max);
    metric("dontwait_ms_max", dontwait_ms_max);
    metric("os_threads_max", os_max);
    return 0;
}
