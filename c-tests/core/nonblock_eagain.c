/* nonblock_eagain: fds the PROGRAM made non-blocking must still get EAGAIN,
 * fds it left blocking must still block, and F_GETFL must tell the truth.
 *
 * Why: greenshim may put every fd into O_NONBLOCK internally and park on
 * EAGAIN. It must then remember which fds the program itself asked to be
 * non-blocking (fcntl F_SETFL, pipe2/socket/socketpair/accept4 flags,
 * ioctl FIONBIO, MSG_DONTWAIT) and hand EAGAIN straight back for those,
 * while hiding its own O_NONBLOCK from F_GETFL on the others.
 *   a) pipe + F_SETFL O_NONBLOCK: read EAGAIN; clearing it makes read block
 *      again (a helper thread writes after 50 ms); pipe2(O_NONBLOCK): write
 *      until full -> EAGAIN
 *   b) SOCK_NONBLOCK TCP listener: accept EAGAIN; SOCK_NONBLOCK client:
 *      connect 0/EINPROGRESS, then recv EAGAIN
 *   c) socketpair end + ioctl(FIONBIO): read EAGAIN, write until full
 *      EAGAIN; FIONBIO 0 makes it block again
 *   d) plain socket / socketpair / accept() result (even from a
 *      non-blocking listener): F_GETFL without O_NONBLOCK, recv blocks
 *   e) accept4(SOCK_NONBLOCK): F_GETFL shows O_NONBLOCK, recv EAGAIN
 *   f) recv(MSG_DONTWAIT) on a blocking socket: EAGAIN, fd stays blocking
 *
 * stdout: one line per check (see the printf calls; run natively for the
 * exact text).  metrics: os_threads_max (sampled by the helper thread),
 * wall_ms.
 */
#undef _GNU_SOURCE /* common.h defines it; avoid a redefinition warning */
#include "../common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static const char *errname(int e) {
    static char buf[32];
    switch (e) {
    case EAGAIN: return "EAGAIN";
    case EINPROGRESS: return "EINPROGRESS";
    case EBADF: return "EBADF";
    case ENOTCONN: return "ENOTCONN";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case ECONNREFUSED: return "ECONNREFUSED";
    }
    snprintf(buf, sizeof buf, "errno=%d", e);
    return buf;
}

/* Print "<what> -> <errno name>" and require EAGAIN. */
static void expect_eagain(const char *what, ssize_t r) {
    int e = errno;
    printf("%s -> %s\n", what, r < 0 ? errname(e) : "success");
    CHECK(r < 0 && e == EAGAIN, "%s: r=%zd errno=%s", what, r, errname(e));
}

static void expect_flag(const char *what, int fd, int want) {
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0, "F_GETFL: %s", strerror(errno));
    int nb = (fl & O_NONBLOCK) != 0;
    printf("%s: F_GETFL %s O_NONBLOCK\n", what, nb ? "shows" : "does not show");
    CHECK(nb == want, "%s: O_NONBLOCK=%d want %d", what, nb, want);
}

static void fill_until_eagain(const char *what, int fd) {
    static char junk[4096];
    ssize_t r;
    long total = 0;
    while ((r = write(fd, junk, sizeof junk)) > 0) {
        total += r;
        CHECK(total < 64L * 1024 * 1024, "%s: never filled up", what);
    }
    expect_eagain(what, r);
}

/* Helper thread: write one byte to fd after 50 ms. */
static int threads_max;
static void *delayed_write(void *arg) {
    int fd = (int)(long)arg;
    threads_max = os_threads();
    usleep(50000);
    CHECK(write(fd, "d", 1) == 1, "delayed write: %s", strerror(errno));
    return NULL;
}

/* read/recv on a blocking fd must wait for the helper's byte, not fail. */
static void expect_blocks(const char *what, int rfd, int wfd) {
    pthread_t t;
    char c = 0;
    CHECK(pthread_create(&t, NULL, delayed_write, (void *)(long)wfd) == 0, "create");
    ssize_t r = read(rfd, &c, 1);
    int e = errno;
    CHECK(pthread_join(t, NULL) == 0, "join");
    printf("%s -> %s\n", what, r == 1 && c == 'd' ? "waited for the byte" : errname(e));
    CHECK(r == 1 && c == 'd', "%s: r=%zd errno=%s", what, r, errname(e));
}

static int tcp_listener(int flags, struct sockaddr_in *a) {
    socklen_t len = sizeof *a;
    int fd = socket(AF_INET, SOCK_STREAM | flags, 0);
    CHECK(fd >= 0, "socket: %s", strerror(errno));
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)a, sizeof *a) == 0, "bind: %s", strerror(errno));
    CHECK(listen(fd, 16) == 0, "listen: %s", strerror(errno));
    CHECK(getsockname(fd, (struct sockaddr *)a, &len) == 0, "getsockname");
    return fd;
}

/* Non-blocking connect to a, waiting for completion with poll(). */
static int nb_connect(const struct sockaddr_in *a) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), err = -1;
    socklen_t len = sizeof err;
    CHECK(fd >= 0, "socket: %s", strerror(errno));
    int r = connect(fd, (const struct sockaddr *)a, sizeof *a);
    CHECK(r == 0 || errno == EINPROGRESS, "nonblocking connect: %s", errname(errno));
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    CHECK(poll(&p, 1, 5000) == 1, "poll POLLOUT");
    CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0, "SO_ERROR=%d", err);
    return fd;
}

static void wait_readable(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    CHECK(poll(&p, 1, 5000) == 1, "poll POLLIN on fd %d", fd);
}

int main(void) {
    long long t0 = now_ms();
    char buf[16];
    int p[2], sv[2], one = 1, zero = 0;
    struct sockaddr_in a;

    /* a) pipes */
    CHECK(pipe(p) == 0, "pipe");
    CHECK(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK) == 0, "F_SETFL");
    expect_flag("a: pipe after F_SETFL O_NONBLOCK", p[0], 1);
    expect_eagain("a: read empty non-blocking pipe", read(p[0], buf, 1));
    CHECK(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) & ~O_NONBLOCK) == 0, "F_SETFL");
    expect_flag("a: pipe after clearing O_NONBLOCK", p[0], 0);
    expect_blocks("a: read on pipe made blocking again", p[0], p[1]);
    close(p[0]); close(p[1]);
    CHECK(pipe2(p, O_NONBLOCK) == 0, "pipe2");
    expect_flag("a: pipe2(O_NONBLOCK) write end", p[1], 1);
    fill_until_eagain("a: write until pipe2(O_NONBLOCK) pipe is full", p[1]);
    close(p[0]); close(p[1]);

    /* b) SOCK_NONBLOCK TCP sockets */
    int lfd = tcp_listener(SOCK_NONBLOCK, &a);
    expect_flag("b: SOCK_NONBLOCK listener", lfd, 1);
    expect_eagain("b: accept with nothing pending", accept(lfd, NULL, NULL));
    int cfd = nb_connect(&a);
    printf("b: SOCK_NONBLOCK connect -> 0 or EINPROGRESS, then connected\n");
    expect_flag("b: SOCK_NONBLOCK client", cfd, 1);
    expect_eagain("b: recv on idle SOCK_NONBLOCK socket", recv(cfd, buf, 1, 0));

    /* d) accept() (no flags) on a non-blocking listener gives a blocking fd */
    wait_readable(lfd);
    int afd = accept(lfd, NULL, NULL);
    CHECK(afd >= 0, "accept: %s", strerror(errno));
    expect_flag("d: accept() from non-blocking listener", afd, 0);
    /* f) MSG_DONTWAIT on a blocking socket */
    expect_eagain("f: recv(MSG_DONTWAIT) on blocking socket", recv(afd, buf, 1, MSG_DONTWAIT));
    expect_flag("f: after MSG_DONTWAIT", afd, 0);
    expect_blocks("d: read on accepted blocking socket", afd, cfd);
    close(afd); close(cfd);

    /* e) accept4(SOCK_NONBLOCK) */
    cfd = nb_connect(&a);
    wait_readable(lfd);
    afd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
    CHECK(afd >= 0, "accept4: %s", strerror(errno));
    expect_flag("e: accept4(SOCK_NONBLOCK) result", afd, 1);
    expect_eagain("e: recv on accept4(SOCK_NONBLOCK) socket", recv(afd, buf, 1, 0));
    close(afd); close(cfd); close(lfd);

    /* d) plain sockets are blocking */
    lfd = tcp_listener(0, &a);
    expect_flag("d: plain TCP socket", lfd, 0);
    close(lfd);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    expect_flag("d: plain socketpair", sv[0], 0);

    /* c) ioctl(FIONBIO) */
    CHECK(ioctl(sv[0], FIONBIO, &one) == 0, "FIONBIO: %s", strerror(errno));
    expect_flag("c: socketpair after FIONBIO 1", sv[0], 1);
    expect_eagain("c: read on FIONBIO socket", read(sv[0], buf, 1));
    fill_until_eagain("c: write until FIONBIO socket is full", sv[0]);
    CHECK(ioctl(sv[0], FIONBIO, &zero) == 0, "FIONBIO: %s", strerror(errno));
    expect_flag("c: socketpair after FIONBIO 0", sv[0], 0);
    expect_blocks("c: read on socketpair made blocking again", sv[0], sv[1]);
    close(sv[0]); close(sv[1]);

    metric("os_threads_max", threads_max);
    metric("wall_ms", now_ms() - t0);
    printf("all non-blocking checks ok\n");
    return 0;
}
