/* Threads parked on a pipe read, a mutex, a condvar and a sleep, while main waits for a
 * line on stdin (the test dumps the process then). Each waits in a function of its own
 * name, so a backtrace shows it. On the line, everything is released and joined. */
#include "../common.h"
#include <pthread.h>

static int pipefd[2];
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int released;
static volatile int sink;

__attribute__((noinline)) static void wait_on_pipe(void) {
    char c;
    ssize_t n = read(pipefd[0], &c, 1);
    CHECK(n == 1, "read %zd", n);
    sink++;
}
__attribute__((noinline)) static void wait_on_mutex(void) {
    pthread_mutex_lock(&held);
    sink++;
    pthread_mutex_unlock(&held);
}
__attribute__((noinline)) static void wait_on_condvar(void) {
    pthread_mutex_lock(&cv_lock);
    while (!released)
        pthread_cond_wait(&cv, &cv_lock);
    pthread_mutex_unlock(&cv_lock);
    sink++;
}
__attribute__((noinline)) static void long_nap(void) {
    /* Ends early once released: sleeps in 200 ms steps. */
    for (int i = 0; i < 600; i++) {
        pthread_mutex_lock(&cv_lock);
        int r = released;
        pthread_mutex_unlock(&cv_lock);
        if (r)
            break;
        usleep(200000);
    }
    sink++;
}

static void *reader(void *a) { (void)a; pthread_setname_np(pthread_self(), "piper"); wait_on_pipe(); return NULL; }
static void *locker(void *a) { (void)a; pthread_setname_np(pthread_self(), "locker"); wait_on_mutex(); return NULL; }
static void *waiter(void *a) { (void)a; pthread_setname_np(pthread_self(), "cvwaiter"); wait_on_condvar(); return NULL; }
static void *sleeper(void *a) { (void)a; pthread_setname_np(pthread_self(), "sleeper"); long_nap(); return NULL; }

int main(void) {
    CHECK(pipe(pipefd) == 0, "pipe");
    pthread_mutex_lock(&held);
    pthread_t t[4];
    void *(*fns[4])(void *) = {reader, locker, waiter, sleeper};
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, fns[i], NULL) == 0, "create");
    usleep(300000); /* let each reach its wait */
    printf("ready\n");
    fflush(stdout);
    char line[64];
    CHECK(fgets(line, sizeof line, stdin) != NULL, "stdin");
    pthread_mutex_lock(&cv_lock);
    released = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&cv_lock);
    pthread_mutex_unlock(&held);
    CHECK(write(pipefd[1], "x", 1) == 1, "write");
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("done %d\n", sink);
    return 0;
}
