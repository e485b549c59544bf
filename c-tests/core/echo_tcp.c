/* echo_tcp: thread-per-connection TCP echo server + 200 concurrent clients.
 *
 * Why: the canonical workload greenshim exists for. Blocking accept/read/
 * write/connect in many threads must all park on the hub and interleave.
 *
 * The program forks before creating any thread:
 *   parent = server: listens on 127.0.0.1:0, accepts 200 connections, one
 *            pthread per connection echoing until EOF, then joins them all
 *            and waits for the child;
 *   child  = client: 200 pthreads each connect, wait until all 200 are
 *            connected (a "go" pipe gate), then write a deterministic
 *            pseudo-random 64 KiB payload in variable-size chunks and
 *            shutdown(SHUT_WR). A separate reader pthread per connection
 *            reads the echo concurrently (writing everything before reading
 *            would deadlock once both socket buffers fill) and the FNV-1a
 *            hash and length of what came back are compared with what was
 *            sent.
 * A 30 s alarm() is a watchdog so a broken peer cannot hang the harness.
 *
 * stdout (parent only, after the child exited): "200 connections echoed, checksums ok\n"
 * metrics: server_os_threads_max, client_os_threads_max, wall_ms (parent,
 * fork to child exit). Natively ~201 / ~401 OS threads; under the shim ~1.
 */
#undef _GNU_SOURCE /* common.h defines it; avoid a redefinition warning */
#include "../common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define NCONN 200
#define PAYLOAD (64 * 1024)

static struct sockaddr_in srv_addr;

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}
#define FNV0 0xcbf29ce484222325ULL

static uint32_t xorshift(uint32_t *s) {
    *s ^= *s << 13; *s ^= *s >> 17; *s ^= *s << 5;
    return *s;
}

static void write_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        CHECK(w > 0, "write: %s", strerror(errno));
        p += w; n -= (size_t)w;
    }
}

/* ---------------------------------------------------------------- server */

static int srv_threads_max;
static long long srv_echoed;

static void note_threads(int *max) {
    int n = os_threads(), cur = __atomic_load_n(max, __ATOMIC_RELAXED);
    while (n > cur && !__atomic_compare_exchange_n(max, &cur, n, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

static void *echo_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    unsigned char buf[8192];
    ssize_t n;
    note_threads(&srv_threads_max);
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        write_all(fd, buf, (size_t)n);
        __atomic_fetch_add(&srv_echoed, n, __ATOMIC_RELAXED);
    }
    CHECK(n == 0, "server read: %s", strerror(errno));
    close(fd);
    return NULL;
}

static int server(int lfd, pid_t child, long long t0) {
    pthread_t t[NCONN];
    for (int i = 0; i < NCONN; i++) {
        int fd = accept(lfd, NULL, NULL);
        CHECK(fd >= 0, "accept: %s", strerror(errno));
        CHECK(pthread_create(&t[i], NULL, echo_conn, (void *)(intptr_t)fd) == 0, "create");
    }
    note_threads(&srv_threads_max);
    for (int i = 0; i < NCONN; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    close(lfd);
    int status;
    CHECK(waitpid(child, &status, 0) == child, "waitpid: %s", strerror(errno));
    metric("server_os_threads_max", srv_threads_max);
    metric("wall_ms", now_ms() - t0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client failed (status 0x%x)", status);
    CHECK(srv_echoed == (long long)NCONN * PAYLOAD, "server echoed %lld bytes", srv_echoed);
    printf("%d connections echoed, checksums ok\n", NCONN);
    return 0;
}

/* ---------------------------------------------------------------- client */

static int ready_pipe[2], go_pipe[2];

struct conn { int idx, fd; pthread_t reader; uint64_t rx_hash; size_t rx_len; };

static void *client_reader(void *arg) {
    struct conn *c = arg;
    unsigned char buf[8192];
    ssize_t n;
    uint64_t h = FNV0;
    while ((n = read(c->fd, buf, sizeof buf)) > 0) {
        h = fnv(h, buf, (size_t)n);
        c->rx_len += (size_t)n;
    }
    CHECK(n == 0, "client read: %s", strerror(errno));
    c->rx_hash = h;
    return NULL;
}

static void *client_conn(void *arg) {
    struct conn *c = arg;
    char ch;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c->fd >= 0, "socket: %s", strerror(errno));
    CHECK(connect(c->fd, (struct sockaddr *)&srv_addr, sizeof srv_addr) == 0,
          "connect %d: %s", c->idx, strerror(errno));
    CHECK(pthread_create(&c->reader, NULL, client_reader, c) == 0, "create reader");
    CHECK(write(ready_pipe[1], "r", 1) == 1, "ready: %s", strerror(errno));
    CHECK(read(go_pipe[0], &ch, 1) == 1, "go: %s", strerror(errno));

    uint32_t s = 0x9e3779b9u * (uint32_t)(c->idx + 1);
    unsigned char buf[8192];
    uint64_t h = FNV0;
    size_t sent = 0;
    while (sent < PAYLOAD) {
        size_t chunk = 1 + xorshift(&s) % sizeof buf;
        if (chunk > PAYLOAD - sent) chunk = PAYLOAD - sent;
        for (size_t i = 0; i < chunk; i++) buf[i] = (unsigned char)(xorshift(&s) >> 24);
        write_all(c->fd, buf, chunk);
        h = fnv(h, buf, chunk);
        sent += chunk;
    }
    CHECK(shutdown(c->fd, SHUT_WR) == 0, "shutdown: %s", strerror(errno));
    CHECK(pthread_join(c->reader, NULL) == 0, "join reader");
    CHECK(c->rx_len == PAYLOAD, "conn %d: got %zu bytes back", c->idx, c->rx_len);
    CHECK(c->rx_hash == h, "conn %d: checksum mismatch", c->idx);
    close(c->fd);
    return NULL;
}

static int client(void) {
    static struct conn c[NCONN];
    pthread_t t[NCONN];
    char buf[NCONN];
    CHECK(pipe(ready_pipe) == 0 && pipe(go_pipe) == 0, "pipe");
    for (int i = 0; i < NCONN; i++) {
        c[i].idx = i;
        CHECK(pthread_create(&t[i], NULL, client_conn, &c[i]) == 0, "create");
    }
    for (int got = 0; got < NCONN;) { /* wait until all are connected */
        ssize_t n = read(ready_pipe[0], buf, (size_t)(NCONN - got));
        CHECK(n > 0, "ready read: %s", strerror(errno));
        got += (int)n;
    }
    int threads = os_threads(); /* peak: every connection + reader alive */
    memset(buf, 'g', sizeof buf);
    write_all(go_pipe[1], (unsigned char *)buf, NCONN);
    for (int i = 0; i < NCONN; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    metric("client_os_threads_max", threads);
    return 0;
}

int main(void) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof srv_addr;
    CHECK(lfd >= 0, "socket: %s", strerror(errno));
    srv_addr.sin_family = AF_INET;
    srv_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    srv_addr.sin_port = 0;
    CHECK(bind(lfd, (struct sockaddr *)&srv_addr, sizeof srv_addr) == 0, "bind: %s", strerror(errno));
    CHECK(listen(lfd, NCONN + 56) == 0, "listen: %s", strerror(errno));
    CHECK(getsockname(lfd, (struct sockaddr *)&srv_addr, &len) == 0, "getsockname");
    fflush(NULL);

    long long t0 = now_ms();
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    alarm(30); /* watchdog for both processes */
    if (pid == 0) {
        close(lfd);
        exit(client());
    }
    return server(lfd, pid, t0);
}
