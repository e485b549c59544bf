/* fd_list: a program that never waits on another thread sees exactly the fds it
 * opened, as natively.
 *
 * Why: programs list their fds (/proc/self/fd) — CPython's subprocess tests check
 * that a child has exactly the fds it was given. greenshim's hub uses an epoll fd and
 * an eventfd; it opens them only when a thread first parks on something another
 * thread (or the kernel) must end, so a single-threaded program that sleeps, reads
 * ready pipes, opens files and resolves names never has them.
 *
 * stdout (deterministic): "fds: 0 1 2 3 4\n" style lists after each step.
 */
#include "../common.h"
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>

static void list(const char *when) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL, "opendir: %s", strerror(errno));
    int self = dirfd(d);
    int fds[64], n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd != self) fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (fds[j] < fds[i]) { int t = fds[i]; fds[i] = fds[j]; fds[j] = t; }
    printf("%s:", when);
    for (int i = 0; i < n; i++) printf(" %d", fds[i]);
    printf("\n");
}

int main(void) {
    list("start");
    CHECK(usleep(20000) == 0, "usleep");
    struct timespec ts = {0, 10000000};
    CHECK(nanosleep(&ts, NULL) == 0, "nanosleep");
    list("after sleeping");
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    char c = 'x';
    CHECK(write(p[1], &c, 1) == 1 && read(p[0], &c, 1) == 1, "pipe io");
    list("after a pipe round trip");
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f != NULL, "fopen");
    char line[256];
    CHECK(fgets(line, sizeof line, f) != NULL, "fgets");
    fclose(f);
    struct addrinfo *ai = NULL;
    int r = getaddrinfo("localhost", "80", NULL, &ai);
    if (r == 0) freeaddrinfo(ai);
    printf("getaddrinfo(localhost): %s\n", r == 0 ? "ok" : "failed");
    list("after fopen and getaddrinfo");
    close(p[0]);
    close(p[1]);
    list("end");
    return 0;
}
