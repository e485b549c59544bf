/* connect_refused: connect() results must come through unchanged.
 *
 * Why: greenshim turns a blocking connect() into "non-blocking connect,
 * park until writable, read SO_ERROR". It must then report the real
 * outcome (ECONNREFUSED, not EINPROGRESS or success), while a connect the
 * program itself made non-blocking must keep returning 0/EINPROGRESS.
 *   1. a port that was bound then closed: blocking connect() from a thread
 *      -> -1 ECONNREFUSED
 *   2. a listening socket: blocking connect() from a thread succeeds while
 *      main blocks in accept(); a byte goes through
 *   3. SOCK_NONBLOCK connect to the listener -> 0 or EINPROGRESS, then
 *      poll(POLLOUT) and SO_ERROR == 0
 *   4. SOCK_NONBLOCK connect to the closed port -> ECONNREFUSED, either
 *      immediately or as SO_ERROR after poll (normalized)
 * (The closed port could in theory be grabbed by another process between
 * close and connect; the window is tiny.)
 *
 * stdout:
 *   "connect: ECONNREFUSED\n"
 *   "connect to listener: 0, accepted, byte received\n"
 *   "nonblocking connect: 0 or EINPROGRESS, then SO_ERROR=0\n"
 *   "nonblocking connect to closed port: ECONNREFUSED\n"
 * metrics: os_threads_max (main, after creating the connecting thread),
 *          wall_ms.
 */
#undef _GNU_SOURCE /* common.h defines it; avoid a redefinition warning */
#include "../common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

struct job { struct sockaddr_in addr; int fd, r, err; };

static const char *errname(int e) {
    return e == ECONNREFUSED ? "ECONNREFUSED" : e == EINPROGRESS ? "EINPROGRESS" : strerror(e);
}

static void *connector(void *arg) {
    struct job *j = arg;
    j->fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(j->fd >= 0, "socket: %s", strerror(errno));
    j->r = connect(j->fd, (struct sockaddr *)&j->addr, sizeof j->addr);
    j->err = errno;
    if (j->r == 0) CHECK(write(j->fd, "c", 1) == 1, "write: %s", strerror(errno));
    return NULL;
}

static int bound_socket(struct sockaddr_in *a) {
    socklen_t len = sizeof *a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0, "socket: %s", strerror(errno));
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)a, sizeof *a) == 0, "bind: %s", strerror(errno));
    CHECK(getsockname(fd, (struct sockaddr *)a, &len) == 0, "getsockname");
    return fd;
}

/* Non-blocking connect; returns the final error (0 = connected). */
static int nb_connect(const struct sockaddr_in *a, int *fd_out) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), err = 0;
    socklen_t len = sizeof err;
    CHECK(fd >= 0, "socket: %s", strerror(errno));
    *fd_out = fd;
    if (connect(fd, (const struct sockaddr *)a, sizeof *a) == 0) return 0;
    if (errno != EINPROGRESS) return errno;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    CHECK(poll(&p, 1, 5000) == 1, "poll POLLOUT timed out");
    CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0, "SO_ERROR: %s", strerror(errno));
    return err;
}

int main(void) {
    long long t0 = now_ms();
    struct job j;
    pthread_t t;
    int fd;

    /* 1. closed port */
    struct sockaddr_in closed;
    close(bound_socket(&closed));
    j.addr = closed;
    CHECK(pthread_create(&t, NULL, connector, &j) == 0, "create");
    CHECK(pthread_join(t, NULL) == 0, "join");
    CHECK(j.r == -1, "connect to closed port returned %d", j.r);
    printf("connect: %s\n", errname(j.err));
    CHECK(j.err == ECONNREFUSED, "want ECONNREFUSED");
    close(j.fd);

    /* 2. listener: connect in a thread, accept in main */
    int lfd = bound_socket(&j.addr);
    CHECK(listen(lfd, 8) == 0, "listen: %s", strerror(errno));
    CHECK(pthread_create(&t, NULL, connector, &j) == 0, "create");
    metric("os_threads_max", os_threads());
    int afd = accept(lfd, NULL, NULL);
    CHECK(afd >= 0, "accept: %s", strerror(errno));
    char c = 0;
    CHECK(read(afd, &c, 1) == 1 && c == 'c', "read from accepted socket");
    CHECK(pthread_join(t, NULL) == 0, "join");
    CHECK(j.r == 0, "connect to listener: %s", errname(j.err));
    printf("connect to listener: 0, accepted, byte received\n");
    close(afd); close(j.fd);

    /* 3. non-blocking connect to the listener */
    int err = nb_connect(&j.addr, &fd);
    CHECK(err == 0, "nonblocking connect: %s", errname(err));
    printf("nonblocking connect: 0 or EINPROGRESS, then SO_ERROR=0\n");
    close(fd);

    /* 4. non-blocking connect to the closed port */
    err = nb_connect(&closed, &fd);
    printf("nonblocking connect to closed port: %s\n", err ? errname(err) : "connected?!");
    CHECK(err == ECONNREFUSED, "want ECONNREFUSED");
    close(fd); close(lfd);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
