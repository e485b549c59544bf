/* A program that put its own pipe on fd 2 and then deadlocks (main joins a thread that
 * waits on a mutex main holds): the shim's deadlock report must not land in the
 * program's pipe. A SIGALRM handler checks the pipe and ends the program.
 * With the argument "keep", fd 2 stays the real stderr (the harness checks that
 * GREENSHIM_LOG=off silences the report there).
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static int pr = -1;

static void on_alarm(int s) {
    (void)s;
    char buf[4096];
    ssize_t n = pr >= 0 ? read(pr, buf, sizeof buf) : 0;
    if (n < 0) n = 0;
    char line[64];
    int len = snprintf(line, sizeof line, "the program's fd 2 received %zd bytes\n", n);
    CHECK(write(1, line, len) == len, "write");
    _exit(0);
}

static void *locker(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m);
    return NULL;
}

int main(int argc, char **argv) {
    int keep = argc > 1 && strcmp(argv[1], "keep") == 0;
    if (!keep) {
        int p[2];
        CHECK(pipe2(p, O_NONBLOCK) == 0, "pipe");
        CHECK(dup2(p[1], 2) == 2, "dup2");
        close(p[1]);
        pr = p[0];
    }
    signal(SIGALRM, on_alarm);
    alarm(1);
    pthread_mutex_lock(&m);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, locker, NULL) == 0, "create");
    pthread_join(t, NULL);
    return 1;
}
