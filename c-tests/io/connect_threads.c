/* connect_threads: blocking connect() from 50 threads, and connect with
 * SO_SNDTIMEO to a listener whose backlog is full, as natively.
 *
 * Why: connect() on a blocking socket can only be made non-blocking for one
 * call by changing the description's flags; a shim that must not do that has
 * to wait some other way, and still keep every other thread running, honour
 * SO_SNDTIMEO (which bounds a blocking connect: -1 EINPROGRESS when it
 * expires) and report the kernel's result.
 *   1. a TCP listener on 127.0.0.1 (backlog 128) and an acceptor thread; 50
 *      threads released together by a barrier each socket() + connect() (no
 *      flags), send their index byte and read one reply byte; a ticker thread
 *      (usleep 5 ms) runs meanwhile. Checked: every connect returned 0, the
 *      acceptor saw each index exactly once, every client got its reply, and
 *      /proc/self/fdinfo of each connected socket shows no O_NONBLOCK.
 *   2. a listener with listen(fd, 0) and one queued connection (its accept
 *      queue is full: further SYNs are dropped); a socket with SO_SNDTIMEO
 *      300 ms connects to it: -1 EINPROGRESS after 280..3000 ms, the ticker
 *      ticking meanwhile; without SO_SNDTIMEO, a connect to it (in a thread)
 *      is still waiting 200 ms later, the ticker ticking, and returns 0 once
 *      the queued connection is accepted (after the SYN retransmit, ~1 s).
 * A connect to an unroutable address is not tested: whether it times out,
 * fails with ENETUNREACH or is answered depends on the machine's network.
 * A 15 s alarm watchdog fails on a hang.
 *
 * Result under the shim that kept a hidden O_NONBLOCK on sockets (commit
 * 896db20): /proc/self/fdinfo shows O_NONBLOCK on all 50 connected sockets;
 * the connects, the SO_SNDTIMEO timeout and the full-backlog wait pass.
 *
 * stdout (deterministic): one line per check.
 * metrics: os_threads_max, ticks_connect50, connect50_ms, timeout_ms,
 *          ticks_timeout, backlog_connect_ms.
 */
#include "../common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#define NT 50

static int os_max;
static volatile int stop_ticker;
static int ticks;
static int get_ticks(void) { return __atomic_load_n(&ticks, __ATOMIC_SEQ_CST); }
static const char *volatile phase = "start";

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: connect_threads hung for 15 s in: ";
    ssize_t w = write(2, msg, sizeof msg - 1);
    w = write(2, (const char *)phase, strlen((const char *)phase));
    w = write(2, "\n", 1);
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

static int listener(struct sockaddr_in *a, int backlog) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(ls >= 0, "socket: %s", strerror(errno));
    *a = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof *a;
    CHECK(bind(ls, (struct sockaddr *)a, sizeof *a) == 0, "bind: %s", strerror(errno));
    CHECK(listen(ls, backlog) == 0, "listen: %s", strerror(errno));
    CHECK(getsockname(ls, (struct sockaddr *)a, &al) == 0, "getsockname: %s", strerror(errno));
    return ls;
}

/* The "flags:" field of /proc/self/fdinfo/<fd> (octal), or -1. */
static long fdinfo_flags(int fd) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long flags = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "flags: %lo", &flags) == 1) break;
    fclose(f);
    return flags;
}

static struct sockaddr_in addr;
static int hidden_nonblock;
static int lfd;
static pthread_barrier_t go;
static int seen[NT];
static int connect_rc[NT], reply_ok[NT];

static void *acceptor(void *arg) {
    (void)arg;
    for (int i = 0; i < NT; i++) {
        int c = accept(lfd, NULL, NULL);
        CHECK(c >= 0, "accept: %s", strerror(errno));
        unsigned char b;
        CHECK(read(c, &b, 1) == 1, "acceptor read: %s", strerror(errno));
        CHECK(b < NT, "index %d", b);
        seen[b]++;
        CHECK(write(c, "k", 1) == 1, "acceptor write: %s", strerror(errno));
        close(c);
    }
    return NULL;
}

static void *connector(void *arg) {
    int i = (int)(long)arg;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c >= 0, "socket: %s", strerror(errno));
    int b = pthread_barrier_wait(&go);
    CHECK(b == 0 || b == PTHREAD_BARRIER_SERIAL_THREAD, "barrier");
    if (b == PTHREAD_BARRIER_SERIAL_THREAD) {
        int t = os_threads();
        if (t > os_max) os_max = t;
    }
    errno = 0;
    connect_rc[i] = connect(c, (struct sockaddr *)&addr, sizeof addr) == 0 ? 0 : errno;
    long fl = fdinfo_flags(c);
    if (fl < 0 || (fl & 04000)) __atomic_fetch_add(&hidden_nonblock, 1, __ATOMIC_SEQ_CST);
    if (connect_rc[i] == 0) {
        unsigned char ix = (unsigned char)i;
        char r;
        CHECK(write(c, &ix, 1) == 1, "write: %s", strerror(errno));
        reply_ok[i] = read(c, &r, 1) == 1 && r == 'k';
    }
    close(c);
    return NULL;
}

struct parked {
    int fd;
    struct sockaddr_in to;
    int rc;
    long long ms;
    int done;
};
static void *parked_connect(void *arg) {
    struct parked *p = arg;
    long long t0 = now_ms();
    p->rc = connect(p->fd, (struct sockaddr *)&p->to, sizeof p->to) == 0 ? 0 : errno;
    p->ms = now_ms() - t0;
    __atomic_store_n(&p->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(15);
    pthread_t tk;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "pthread_create");

    /* 1 */
    phase = "50 connects";
    lfd = listener(&addr, 128);
    CHECK(pthread_barrier_init(&go, NULL, NT) == 0, "barrier_init");
    pthread_t ac, th[NT];
    CHECK(pthread_create(&ac, NULL, acceptor, NULL) == 0, "pthread_create");
    int t0k = get_ticks();
    long long t0 = now_ms();
    for (long i = 0; i < NT; i++) CHECK(pthread_create(&th[i], NULL, connector, (void *)i) == 0, "pthread_create");
    for (int i = 0; i < NT; i++) CHECK(pthread_join(th[i], NULL) == 0, "pthread_join");
    CHECK(pthread_join(ac, NULL) == 0, "pthread_join");
    metric("connect50_ms", now_ms() - t0);
    metric("ticks_connect50", get_ticks() - t0k);
    for (int i = 0; i < NT; i++) {
        CHECK(connect_rc[i] == 0, "thread %d: connect failed: %s", i, strerror(connect_rc[i]));
        CHECK(seen[i] == 1, "index %d seen %d times", i, seen[i]);
        CHECK(reply_ok[i], "thread %d: no reply", i);
    }
    CHECK(hidden_nonblock == 0, "/proc/self/fdinfo shows O_NONBLOCK on %d of the %d connected sockets", hidden_nonblock, NT);
    close(lfd);
    printf("%d threads connected at once: every connect returned 0, each index accepted once, each client got its reply, no O_NONBLOCK in fdinfo\n", NT);
    fflush(stdout);

    /* 2 */
    phase = "connect with SO_SNDTIMEO to a full backlog";
    struct sockaddr_in fa;
    int full = listener(&fa, 0);
    int queued = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(queued >= 0, "socket: %s", strerror(errno));
    CHECK(connect(queued, (struct sockaddr *)&fa, sizeof fa) == 0, "connect queued: %s", strerror(errno));
    int x = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(x >= 0, "socket: %s", strerror(errno));
    struct timeval tv = {.tv_sec = 0, .tv_usec = 300000};
    CHECK(setsockopt(x, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0, "setsockopt: %s", strerror(errno));
    t0k = get_ticks();
    t0 = now_ms();
    errno = 0;
    int r = connect(x, (struct sockaddr *)&fa, sizeof fa);
    int e = errno;
    long long ms = now_ms() - t0;
    int dt = get_ticks() - t0k;
    metric("timeout_ms", ms);
    metric("ticks_timeout", dt);
    CHECK(r == -1 && e == EINPROGRESS, "connect with SO_SNDTIMEO to a full backlog: %d %s after %lld ms, want -1 EINPROGRESS", r,
          r < 0 ? strerrorname_np(e) : "", ms);
    CHECK(ms >= 280 && ms <= 3000, "connect with SO_SNDTIMEO 300 ms took %lld ms", ms);
    CHECK(dt >= 10, "ticker ticked %d times during the connect timeout", dt);
    printf("connect with SO_SNDTIMEO 300 ms to a full backlog: -1 EINPROGRESS after the timeout; ticker ran meanwhile\n");
    close(x);

    phase = "connect without a timeout to a full backlog";
    struct parked pk = {.fd = socket(AF_INET, SOCK_STREAM, 0), .to = fa};
    CHECK(pk.fd >= 0, "socket: %s", strerror(errno));
    pthread_t pt;
    CHECK(pthread_create(&pt, NULL, parked_connect, &pk) == 0, "pthread_create");
    t0k = get_ticks();
    CHECK(usleep(200000) == 0, "usleep");
    dt = get_ticks() - t0k;
    CHECK(!__atomic_load_n(&pk.done, __ATOMIC_SEQ_CST), "connect to a full backlog returned at once: %d", pk.rc);
    CHECK(dt >= 10, "ticker ticked %d times in 200 ms while a connect waited", dt);
    int q = accept(full, NULL, NULL); /* the queued one: frees the queue for the retransmitted SYN */
    CHECK(q >= 0, "accept: %s", strerror(errno));
    CHECK(pthread_join(pt, NULL) == 0, "pthread_join");
    metric("backlog_connect_ms", pk.ms);
    CHECK(pk.rc == 0, "connect without a timeout to a full backlog: %s after %lld ms", strerror(pk.rc), pk.ms);
    CHECK(pk.ms >= 200, "connect returned after %lld ms, before the queue was freed", pk.ms);
    int y = accept(full, NULL, NULL);
    CHECK(y >= 0, "accept: %s", strerror(errno));
    close(pk.fd);
    printf("connect without a timeout to a full backlog: waits (ticker running), returns 0 once the queue is freed\n");
    close(q);
    close(y);
    close(queued);
    close(full);

    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(tk, NULL) == 0, "pthread_join");
    metric("os_threads_max", os_max);
    return 0;
}
