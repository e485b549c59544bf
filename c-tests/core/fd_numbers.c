/* fd_numbers: the shim's own fds stay out of the program's way — the first open()
 * returns 3 as natively — and a program that closes every fd above 2 (close_range,
 * as daemons and closefrom() do) keeps working: threads still sleep, wake, wait on
 * pipes and join. The close comes after threads have waited on a pipe (the hub's epoll
 * fd and eventfd, every hub's with several, are open then): natively those fds do not
 * exist, so closing "every fd" must leave them alone.
 */
#include "../common.h"
#include <fcntl.h>
#include <linux/close_range.h>
#include <pthread.h>

static void *napper(void *arg) {
    (void)arg;
    usleep(50000);
    return NULL;
}

static void *reader(void *arg) {
    int fd = *(int *)arg;
    char c = 0;
    CHECK(read(fd, &c, 1) == 1, "read");
    return NULL;
}

/* Two threads read one byte each from a pipe main fills 30 ms later. */
static void pipe_round(const char *when) {
    int q[2];
    CHECK(pipe(q) == 0, "pipe");
    printf("pipe %s: %d %d\n", when, q[0], q[1]);
    pthread_t r[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&r[i], NULL, reader, &q[0]) == 0, "create");
    usleep(30000);
    CHECK(write(q[1], "ab", 2) == 2, "write");
    for (int i = 0; i < 2; i++) CHECK(pthread_join(r[i], NULL) == 0, "join");
    close(q[0]);
    close(q[1]);
}

int main(void) {
    int fd = open("/dev/null", O_RDONLY);
    printf("first fd: %d\n", fd);
    close(fd);
    pipe_round("before close_range");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, napper, NULL) == 0, "create");
    metric("os_threads_max", os_threads());
    CHECK(close_range(3, ~0U, 0) == 0, "close_range");
    usleep(100000);
    CHECK(pthread_join(t, NULL) == 0, "join");
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    printf("pipe after close_range: %d %d\n", p[0], p[1]);
    char c = 'x';
    CHECK(write(p[1], &c, 1) == 1 && read(p[0], &c, 1) == 1, "pipe io");
    close(p[0]);
    close(p[1]);
    pipe_round("after close_range");
    /* closefrom, and close_range that only marks close-on-exec. */
    closefrom(3);
    CHECK(close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0, "close_range cloexec");
    pipe_round("after closefrom and a close-on-exec close_range");
    /* An empty range is the kernel's error, as natively. */
    errno = 0;
    int r = close_range(10, 5, 0);
    printf("close_range(10, 5): %d %s\n", r, r ? strerror(errno) : "");
    printf("threads still work after close_range\n");
    return 0;
}
