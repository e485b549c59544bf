/* report_tree: a process tree making raw blocking system calls (the `syscall`
 * instruction itself, in the program's own functions, which no symbol hook sees), for
 * GREENSHIM_RAW=report's exit report:
 *   - the parent makes four raw calls from four functions of its own (write and read on a
 *     pipe, a zero nanosleep, a zero-timeout poll), then fork+execs CHILDREN copies of
 *     itself ("child FD") that make the same calls, and waits until every child is ready;
 *   - it then closes the start pipe: every child sees EOF at the same moment and exits,
 *     so the children's exit reports are appended at once (they must not interleave);
 *   - a fork child that does not exec also makes one raw write and exits with exit():
 *     its report lists its own call only, not its parent's calls again.
 *
 * stdout: what each raw call returned, and how the children ended. stderr: one fixed
 * line written by the program itself (a shim that writes its report there shows up as a
 * difference from the native run).
 */
#include "../common.h"
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define CHILDREN 6

#include "raw_syscall.h"

/* One call site each (raw6 is inlined, so each function has its own
 * `syscall` instruction). */
__attribute__((noinline)) static long raw_write_site(int fd) {
    return raw6(SYS_write, fd, (long)"x", 1, 0, 0, 0);
}
__attribute__((noinline)) static long raw_read_site(int fd, char *c) {
    return raw6(SYS_read, fd, (long)c, 1, 0, 0, 0);
}
__attribute__((noinline)) static long raw_sleep_site(void) {
    struct timespec ts = {0, 0};
    return raw6(SYS_nanosleep, (long)&ts, 0, 0, 0, 0, 0);
}
__attribute__((noinline)) static long raw_poll_site(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    return raw6(SYS_poll, (long)&p, 1, 0, 0, 0, 0);
}

/* The four raw calls; returns a line describing their results. */
static void raw_calls(char *out, size_t n) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    char c = 0;
    long w = raw_write_site(p[1]);
    long r = raw_read_site(p[0], &c);
    long s = raw_sleep_site();
    long q = raw_poll_site(p[1]);
    snprintf(out, n, "raw write %ld, raw read %ld '%c', raw nanosleep %ld, raw poll %ld", w, r, c, s, q);
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv) {
    char line[200];
    if (argc == 3 && strcmp(argv[1], "child") == 0) {
        int start = atoi(argv[2]);
        raw_calls(line, sizeof line);
        /* ready: one byte on stdout (a pipe the parent reads), then wait for EOF */
        CHECK(write(1, strstr(line, "'x'") ? "r" : "!", 1) == 1, "ready");
        char b;
        while (read(start, &b, 1) > 0) {
        }
        exit(0);
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    raw_calls(line, sizeof line);
    printf("parent: %s\n", line);

    int start[2], ready[2];
    CHECK(pipe(start) == 0 && pipe(ready) == 0, "pipe");
    pid_t kids[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        kids[i] = fork();
        CHECK(kids[i] >= 0, "fork");
        if (kids[i] == 0) {
            close(start[1]);
            close(ready[0]);
            CHECK(dup2(ready[1], 1) == 1, "dup2");
            char fd[16];
            snprintf(fd, sizeof fd, "%d", start[0]);
            execl("/proc/self/exe", argv[0], "child", fd, (char *)NULL);
            _exit(127);
        }
    }
    close(start[0]);
    close(ready[1]);
    int ok = 0;
    char b;
    for (int i = 0; i < CHILDREN; i++) {
        CHECK(read(ready[0], &b, 1) == 1, "ready");
        ok += b == 'r';
    }
    printf("children ready with the same results: %d of %d\n", ok, CHILDREN);
    close(start[1]); /* every child sees EOF now and exits */
    int clean = 0;
    for (int i = 0; i < CHILDREN; i++) {
        int st;
        CHECK(waitpid(kids[i], &st, 0) == kids[i], "waitpid");
        clean += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    printf("children exited 0: %d of %d\n", clean, CHILDREN);

    /* a fork child without exec: one raw write, then exit() (atexit handlers run) */
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    pid_t f = fork();
    CHECK(f >= 0, "fork");
    if (f == 0) {
        exit(raw_write_site(p[1]) == 1 ? 0 : 1);
    }
    int st;
    CHECK(waitpid(f, &st, 0) == f, "waitpid");
    char c = 0;
    CHECK(read(p[0], &c, 1) == 1, "read");
    printf("fork child: exited %d, wrote '%c'\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, c);
    fprintf(stderr, "report_tree: the program's own line on stderr\n");
    return 0;
}
