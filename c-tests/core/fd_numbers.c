/* fd_numbers: the shim's own fds stay out of the program's way — the first open()
 * returns 3 as natively — and a program that closes every fd above 2 (close_range,
 * as daemons and closefrom() do) keeps working: threads still sleep, wake and join.
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>

static void *napper(void *arg) {
    (void)arg;
    usleep(50000);
    return NULL;
}

int main(void) {
    int fd = open("/dev/null", O_RDONLY);
    printf("first fd: %d\n", fd);
    close(fd);
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
    printf("threads still work after close_range\n");
    return 0;
}
