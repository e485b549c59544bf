/* waitall: MSG_WAITALL on stream and datagram sockets, as natively.
 *
 * Why: on a stream socket MSG_WAITALL makes recv/recvmsg collect the whole
 * requested amount (across all iovec entries) unless EOF, an error or a signal
 * ends it; on a datagram socket it means nothing more than "one datagram". A
 * shim that serves blocking calls with its own non-blocking loop must do the
 * same: no short stream reads, no datagrams glued together.
 * Streams (a TCP connection over 127.0.0.1 made with socket(), and an AF_UNIX
 * socketpair), a sender thread sends 10 pieces of 20 bytes 10 ms apart:
 *   1. recv(200, MSG_WAITALL) returns 200, the bytes in order;
 *   2. recvmsg(MSG_WAITALL) with an iovec of 50 + 70 + 80 bytes returns 200,
 *      each entry filled in order, msg_flags 0;
 *   3. 100 bytes already queued, 100 more arriving in pieces:
 *      recv(200, MSG_WAITALL) returns 200;
 *   4. 120 bytes in pieces, then the sender shuts down its side:
 *      recv(200, MSG_WAITALL) returns 120 (EOF ends it), then 0.
 * Datagrams (UDP on 127.0.0.1 and AF_UNIX SOCK_DGRAM), 16 datagrams of
 * 10 + i bytes queued (AF_UNIX: 16 or net.unix.max_dgram_qlen if lower, as
 * more would block the sender):
 *   5. recv(4096, MSG_WAITALL) returns exactly the first datagram (10 bytes);
 *   6. recvmsg(MSG_WAITALL) with an iovec of 4 + 4096 returns the second
 *      (11 bytes), split over the two entries;
 *   7. the others (14 for UDP) are still there, one per recv(MSG_DONTWAIT), then EAGAIN;
 *   8. on the empty socket, recv(4096, MSG_WAITALL) waits for a datagram sent
 *      by a thread after 50 ms and returns it alone (7 bytes), although a
 *      second datagram follows 20 ms later.
 * A 10 s alarm watchdog fails on a hang.
 *
 * Result under the shim that kept a hidden O_NONBLOCK on sockets (commit
 * 896db20): recvmsg(MSG_WAITALL) returns 20 of 200 bytes (TCP and AF_UNIX
 * stream); recv(MSG_WAITALL) on UDP with 16 datagrams queued never returns
 * (watchdog).
 *
 * stdout (deterministic): one line per check.
 * metrics: os_threads_max.
 */
#include "../common.h"
#include "../net.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

static int os_max;
static int failures;

static char phase[96] = "start";
static void set_phase(const char *kind, int step) { snprintf(phase, sizeof phase, "%s, check %d", kind, step); }

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: waitall hung for 10 s in: ";
    ssize_t w = write(2, msg, sizeof msg - 1);
    w = write(2, phase, strlen(phase));
    w = write(2, "\n", 1);
    (void)w;
    _exit(1);
}

#define EXPECT(cond, ...)                                    \
    do {                                                     \
        if (!(cond)) {                                       \
            fprintf(stderr, "FAIL: %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                    \
            fprintf(stderr, "\n");                           \
            failures++;                                      \
            return;                                          \
        }                                                    \
    } while (0)

static unsigned char pat(int i) { return (unsigned char)(i * 17 + 3); }

struct sender {
    int fd;
    int from, pieces, piece;
    int shut;
    int delay_first_us;
};

static void *sender(void *arg) {
    struct sender *s = arg;
    unsigned char buf[256];
    if (s->delay_first_us) CHECK(usleep(s->delay_first_us) == 0, "usleep");
    int off = s->from;
    for (int p = 0; p < s->pieces; p++) {
        CHECK(usleep(10000) == 0, "usleep");
        for (int i = 0; i < s->piece; i++) buf[i] = pat(off + i);
        CHECK(send(s->fd, buf, (size_t)s->piece, 0) == s->piece, "send: %s", strerror(errno));
        off += s->piece;
        if (p == 0) {
            int t = os_threads();
            if (t > os_max) os_max = t;
        }
    }
    if (s->shut) CHECK(shutdown(s->fd, SHUT_WR) == 0, "shutdown: %s", strerror(errno));
    return NULL;
}

static pthread_t start_sender(struct sender *s) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, sender, s) == 0, "pthread_create");
    return t;
}

static int check_pat(const unsigned char *b, int from, int n) {
    for (int i = 0; i < n; i++)
        if (b[i] != pat(from + i)) return 0;
    return 1;
}


static void streams(const char *kind, int sv[2]) {
    unsigned char buf[512];
    /* 1 */
    set_phase(kind, 1);
    {
        struct sender s = {.fd = sv[1], .from = 0, .pieces = 10, .piece = 20};
        pthread_t t = start_sender(&s);
        ssize_t r = recv(sv[0], buf, 200, MSG_WAITALL);
        CHECK(pthread_join(t, NULL) == 0, "join");
        EXPECT(r == 200 && check_pat(buf, 0, 200), "%s: recv(200, MSG_WAITALL) with data in 10 pieces returned %zd (%s)", kind, r,
               r < 0 ? strerror(errno) : "bytes");
        printf("%s: recv(200, MSG_WAITALL), data in 10 pieces: 200 bytes in order\n", kind);
    }
    /* 2 */
    set_phase(kind, 2);
    {
        struct sender s = {.fd = sv[1], .from = 1000, .pieces = 10, .piece = 20};
        unsigned char a[50], b[70], c[80];
        struct iovec iov[3] = {{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};
        pthread_t t = start_sender(&s);
        ssize_t r = recvmsg(sv[0], &m, MSG_WAITALL);
        CHECK(pthread_join(t, NULL) == 0, "join");
        EXPECT(r == 200, "%s: recvmsg(50+70+80, MSG_WAITALL) with data in 10 pieces returned %zd (%s)", kind, r,
               r < 0 ? strerror(errno) : "bytes");
        EXPECT(check_pat(a, 1000, 50) && check_pat(b, 1050, 70) && check_pat(c, 1120, 80), "%s: recvmsg iovec contents wrong",
               kind);
        EXPECT(m.msg_flags == 0, "%s: recvmsg msg_flags 0x%x", kind, m.msg_flags);
        printf("%s: recvmsg(iovec 50+70+80, MSG_WAITALL), data in 10 pieces: 200 bytes, each entry filled in order\n", kind);
    }
    /* 3 */
    set_phase(kind, 3);
    {
        for (int i = 0; i < 100; i++) buf[i] = pat(2000 + i);
        CHECK(send(sv[1], buf, 100, 0) == 100, "send: %s", strerror(errno));
        struct sender s = {.fd = sv[1], .from = 2100, .pieces = 5, .piece = 20};
        pthread_t t = start_sender(&s);
        ssize_t r = recv(sv[0], buf, 200, MSG_WAITALL);
        CHECK(pthread_join(t, NULL) == 0, "join");
        EXPECT(r == 200 && check_pat(buf, 2000, 200), "%s: recv(200, MSG_WAITALL) with 100 queued returned %zd (%s)", kind, r,
               r < 0 ? strerror(errno) : "bytes");
        printf("%s: recv(200, MSG_WAITALL), 100 bytes queued and 100 arriving: 200 bytes\n", kind);
    }
    /* 4 */
    set_phase(kind, 4);
    {
        struct sender s = {.fd = sv[1], .from = 3000, .pieces = 6, .piece = 20, .shut = 1};
        pthread_t t = start_sender(&s);
        ssize_t r = recv(sv[0], buf, 200, MSG_WAITALL);
        CHECK(pthread_join(t, NULL) == 0, "join");
        EXPECT(r == 120 && check_pat(buf, 3000, 120), "%s: recv(200, MSG_WAITALL) ended by EOF returned %zd (%s), want 120", kind,
               r, r < 0 ? strerror(errno) : "bytes");
        ssize_t r2 = recv(sv[0], buf, 200, MSG_WAITALL);
        EXPECT(r2 == 0, "%s: recv after EOF returned %zd", kind, r2);
        printf("%s: recv(200, MSG_WAITALL), 120 bytes then EOF: 120, then 0\n", kind);
    }
    fflush(stdout);
}

struct dsender {
    int fd;
    struct sockaddr_storage to;
    socklen_t tolen;
};

static void *late_datagrams(void *arg) {
    struct dsender *d = arg;
    CHECK(usleep(50000) == 0, "usleep");
    CHECK(sendto(d->fd, "seventh", 7, 0, (struct sockaddr *)&d->to, d->tolen) == 7, "sendto: %s", strerror(errno));
    CHECK(usleep(20000) == 0, "usleep");
    CHECK(sendto(d->fd, "second!", 7, 0, (struct sockaddr *)&d->to, d->tolen) == 7, "sendto: %s", strerror(errno));
    return NULL;
}

static void datagrams(const char *kind, int rx, int tx, struct sockaddr *to, socklen_t tolen, int count) {
    unsigned char buf[4096];
    for (int i = 0; i < count; i++) {
        memset(buf, 'A' + i, (size_t)(10 + i));
        CHECK(sendto(tx, buf, (size_t)(10 + i), 0, to, tolen) == 10 + i, "sendto: %s", strerror(errno));
    }
    /* 5 */
    set_phase(kind, 5);
    ssize_t r = recv(rx, buf, sizeof buf, MSG_WAITALL);
    EXPECT(r == 10 && buf[0] == 'A' && buf[9] == 'A', "%s: recv(4096, MSG_WAITALL) with %d datagrams queued returned %zd, want 10",
           kind, count, r);
    printf("%s: recv(4096, MSG_WAITALL) with %d datagrams queued: one datagram, 10 bytes\n", kind, count);
    /* 6 */
    set_phase(kind, 6);
    unsigned char a[4];
    struct iovec iov[2] = {{a, sizeof a}, {buf, sizeof buf}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    r = recvmsg(rx, &m, MSG_WAITALL);
    EXPECT(r == 11 && a[0] == 'B' && buf[6] == 'B', "%s: recvmsg(4+4096, MSG_WAITALL) returned %zd, want 11", kind, r);
    EXPECT(!(m.msg_flags & MSG_TRUNC), "%s: recvmsg msg_flags 0x%x", kind, m.msg_flags);
    printf("%s: recvmsg(iovec 4+4096, MSG_WAITALL): one datagram, 11 bytes over both entries\n", kind);
    /* 7 */
    set_phase(kind, 7);
    int n = 0;
    for (;;) {
        r = recv(rx, buf, sizeof buf, MSG_DONTWAIT);
        if (r < 0) break;
        EXPECT(r == 12 + n && buf[0] == 'C' + n, "%s: datagram %d: %zd bytes '%c'", kind, n + 2, r, buf[0]);
        n++;
    }
    EXPECT(errno == EAGAIN && n == count - 2, "%s: %d more datagrams, then %s", kind, n, strerror(errno));
    printf("%s: the other %d datagrams were still queued, one per recv, then EAGAIN\n", kind, count - 2);
    /* 8 */
    set_phase(kind, 8);
    struct dsender d = {.fd = tx, .tolen = tolen};
    memcpy(&d.to, to, tolen);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, late_datagrams, &d) == 0, "pthread_create");
    r = recv(rx, buf, sizeof buf, MSG_WAITALL);
    EXPECT(r == 7 && memcmp(buf, "seventh", 7) == 0, "%s: recv(MSG_WAITALL) on an empty socket returned %zd, want 7", kind, r);
    CHECK(pthread_join(t, NULL) == 0, "join");
    r = recv(rx, buf, sizeof buf, 0);
    EXPECT(r == 7 && memcmp(buf, "second!", 7) == 0, "%s: the second late datagram: %zd", kind, r);
    printf("%s: recv(4096, MSG_WAITALL) on an empty socket: waits, then one 7-byte datagram\n", kind);
    fflush(stdout);
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(10);
    int sv[2];
    loopback_pair(sv, 0);
    streams("tcp", sv);
    close(sv[0]);
    close(sv[1]);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    streams("unix stream", sv);
    close(sv[0]);
    close(sv[1]);

    int u = socket(AF_INET, SOCK_DGRAM, 0), v = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(u >= 0 && v >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in ua = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof ua;
    CHECK(bind(u, (struct sockaddr *)&ua, sizeof ua) == 0, "bind: %s", strerror(errno));
    CHECK(getsockname(u, (struct sockaddr *)&ua, &al) == 0, "getsockname: %s", strerror(errno));
    datagrams("udp", u, v, (struct sockaddr *)&ua, sizeof ua, 16);
    close(u);
    close(v);

    int x = socket(AF_UNIX, SOCK_DGRAM, 0), y = socket(AF_UNIX, SOCK_DGRAM, 0);
    CHECK(x >= 0 && y >= 0, "socket: %s", strerror(errno));
    struct sockaddr_un xa = {.sun_family = AF_UNIX};
    snprintf(xa.sun_path + 1, sizeof xa.sun_path - 1, "greenshim-waitall-%d", getpid()); /* abstract */
    socklen_t xl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(xa.sun_path + 1));
    CHECK(bind(x, (struct sockaddr *)&xa, xl) == 0, "bind: %s", strerror(errno));
    /* An AF_UNIX datagram socket queues at most net.unix.max_dgram_qlen (10 by default) + 1
     * datagrams before sendto blocks: queue 16 or that many. */
    int qlen = 10;
    FILE *q = fopen("/proc/sys/net/unix/max_dgram_qlen", "r");
    if (q) {
        if (fscanf(q, "%d", &qlen) != 1) qlen = 10;
        fclose(q);
    }
    datagrams("unix dgram", x, y, (struct sockaddr *)&xa, xl, qlen < 16 ? qlen : 16);
    close(x);
    close(y);

    metric("os_threads_max", os_max);
    CHECK(failures == 0, "%d check(s) failed", failures);
    return 0;
}
