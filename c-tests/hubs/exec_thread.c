/* exec_thread: a thread (on the second hub under GREENSHIM_HUBS=2: the first thread
 * created goes to the idle hub) execs a shell while main and another thread are
 * blocked; the new program's output is the process's, as natively. */
#undef _GNU_SOURCE
#include "../common.h"
#include <pthread.h>

static int p[2];
static void *blocker(void *arg) {
    (void)arg;
    char c;
    (void)!read(p[0], &c, 1);
    return NULL;
}
static void *execer(void *arg) {
    (void)arg;
    usleep(50000);
    execl("/bin/sh", "sh", "-c", "echo exec from a thread: ok", (char *)NULL);
    printf("exec failed: %s\n", strerror(errno));
    exit(1);
}

int main(void) {
    CHECK(pipe(p) == 0, "pipe");
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("before exec\n");
    pthread_t a, b;
    pthread_create(&a, NULL, execer, NULL);
    pthread_create(&b, NULL, blocker, NULL);
    char c;
    (void)!read(p[0], &c, 1);
    printf("main's read returned: unexpected\n");
    return 1;
}
