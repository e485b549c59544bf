/* close_wakes: what happens to a thread blocked in read() when its fd goes
 * away, and fd-number reuse right afterwards.
 *
 * Why: greenshim keys parked green threads by fd on its epoll hub. Two
 * classic bugs: a parked reader never woken when its socket is shut down /
 * closed, and stale per-fd state confusing a NEW file that reuses the same
 * fd number (the old parked reader waking up and stealing the new data).
 *
 * Default mode (identical natively and under the shim):
 *   thread A blocks in read() on a socketpair end; after 200 ms main calls
 *   shutdown(fd, SHUT_RDWR) -> A's read returns 0. Then main closes the fd,
 *   creates a pipe (which must reuse that fd number), thread B blocks in
 *   read() on it, main writes "hello" 50 ms later, B must get "hello".
 * "close" mode (SHIM ONLY; natively the read stays blocked, so this mode
 * prints "still blocked" and exits 1 after a 3 s timeout):
 *   same, but main close()s the fd under the parked reader A and
 *   immediately reuses the number for a pipe; B must get "hello" and A must
 *   get -1/EBADF (not the new pipe's data).
 * Waiting for a reader is done with poll() on a per-reader "done" pipe (3 s
 * timeout) so a hung reader cannot hang the program.
 *
 * argv modes: none (shutdown), "close" (shim only).
 * stdout, default mode:
 *   "shutdown: blocked read returned 0\n"
 *   "fd reuse: new pipe got the old fd number\n"
 *   "fd reuse: blocked read on new pipe got \"hello\"\n"
 * stdout, close mode (expected under the shim):
 *   "fd reuse: new pipe got the old fd number\n"
 *   "fd reuse: blocked read on new pipe got \"hello\"\n"
 *   "close: blocked read returned -1 EBADF\n"
 * metrics: os_threads_max (main, while both readers exist), wall_ms.
 */
#undef _GNU_SOURCE /* common.h defines it; avoid a redefinition warning */
#include "../common.h"
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

struct reader { int fd, done[2]; ssize_t r; int err; char data[16]; pthread_t t; };

static void *reader_main(void *arg) {
    struct reader *rd = arg;
    rd->r = read(rd->fd, rd->data, sizeof rd->data - 1);
    rd->err = errno;
    CHECK(write(rd->done[1], "!", 1) == 1, "done write: %s", strerror(errno));
    return NULL;
}

static void start_reader(struct reader *rd, int fd) {
    memset(rd, 0, sizeof *rd);
    rd->fd = fd;
    CHECK(pipe(rd->done) == 0, "pipe: %s", strerror(errno));
    CHECK(pthread_create(&rd->t, NULL, reader_main, rd) == 0, "create reader");
}

/* Wait up to 3 s for the reader to finish; returns 0 if it is still blocked. */
static int finish_reader(struct reader *rd) {
    struct pollfd p = {.fd = rd->done[0], .events = POLLIN};
    int n = poll(&p, 1, 3000);
    CHECK(n >= 0, "poll: %s", strerror(errno));
    if (n == 0) return 0;
    CHECK(pthread_join(rd->t, NULL) == 0, "join reader");
    close(rd->done[0]); close(rd->done[1]);
    return 1;
}

static const char *errname(int e) {
    return e == EBADF ? "EBADF" : e == EINTR ? "EINTR" : e == ECONNRESET ? "ECONNRESET" : strerror(e);
}

int main(int argc, char **argv) {
    int close_mode = argc > 1 && strcmp(argv[1], "close") == 0;
    long long t0 = now_ms();
    int sv[2], p[2];
    struct reader a, b;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    int old = sv[0];

    start_reader(&a, old);
    CHECK(usleep(200000) == 0, "usleep"); /* let A block in read() */
    if (!close_mode) {
        CHECK(shutdown(old, SHUT_RDWR) == 0, "shutdown: %s", strerror(errno));
        CHECK(finish_reader(&a), "read still blocked 3 s after shutdown()");
        CHECK(a.r == 0, "read after shutdown returned %zd (%s)", a.r, errname(a.err));
        printf("shutdown: blocked read returned 0\n");
    }

    close(old); /* in close mode: under the parked reader A */
    CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
    CHECK(p[0] == old, "new pipe got fd %d, not the closed fd %d", p[0], old);
    printf("fd reuse: new pipe got the old fd number\n");

    start_reader(&b, p[0]);
    metric("os_threads_max", os_threads());
    CHECK(usleep(50000) == 0, "usleep"); /* let B block in read() */
    CHECK(write(p[1], "hello", 5) == 5, "write: %s", strerror(errno));
    CHECK(finish_reader(&b), "read on the new pipe still blocked after 3 s");
    CHECK(b.r == 5 && memcmp(b.data, "hello", 5) == 0, "new pipe read returned %zd \"%s\" (%s)",
          b.r, b.data, b.r < 0 ? errname(b.err) : "");
    printf("fd reuse: blocked read on new pipe got \"hello\"\n");

    if (close_mode) {
        if (!finish_reader(&a)) {
            printf("close: read still blocked after 3 s\n");
            metric("wall_ms", now_ms() - t0);
            CHECK(0, "close() did not wake the blocked reader (expected natively: run this mode under the shim only)");
        }
        printf("close: blocked read returned %zd %s\n", a.r, a.r < 0 ? errname(a.err) : "");
        CHECK(a.r == -1 && a.err == EBADF, "reader got %zd (%s), want -1 EBADF", a.r, errname(a.err));
    }
    close(p[0]); close(p[1]); close(sv[1]);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
