/* vfork_exec: the vfork + exec pattern (CPython's subprocess uses it) from a program
 * with another thread running: 50 children, each wired to a pipe with dup2, exec a
 * shell that prints and exits 5; the parent reads the output and reaps the status.
 * Under the shim the child shares the parent's memory until it execs, so the hooks it
 * calls (dup2, close, execv) must not touch the parent's hub.
 */
#include "../common.h"
#include <pthread.h>
#include <sys/wait.h>

static volatile int ticks, stop;

static void *ticker(void *arg) {
    (void)arg;
    while (!stop) {
        usleep(1000);
        ticks++;
    }
    return NULL;
}

int main(void) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, ticker, NULL) == 0, "create");
    usleep(5000);
    metric("os_threads_max", os_threads());
    int ok = 0;
    for (int i = 0; i < 50; i++) {
        int p[2];
        CHECK(pipe(p) == 0, "pipe");
        pid_t pid = vfork();
        if (pid == 0) {
            dup2(p[1], 1);
            close(p[0]);
            close(p[1]);
            char *argv[] = {"sh", "-c", "echo hi; exit 5", NULL};
            execv("/bin/sh", argv);
            _exit(127);
        }
        CHECK(pid > 0, "vfork");
        close(p[1]);
        char b[8];
        ssize_t r = read(p[0], b, sizeof b);
        close(p[0]);
        int st;
        CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
        if (r == 3 && memcmp(b, "hi\n", 3) == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 5) ok++;
    }
    stop = 1;
    pthread_join(t, NULL);
    CHECK(ticks > 0, "the ticker never ran");
    printf("vfork+exec: %d of 50 children printed and exited 5\n", ok);
    return ok == 50 ? 0 : 1;
}
