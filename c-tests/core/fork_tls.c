/* fork_tls: fork from a thread (under the shim a green thread with a TLS area and
 * control block of its own) while other threads hold other values in their
 * thread-locals. The child sees the forking thread's thread-locals and errno, its
 * initial-exec and dynamic TLS both; it can create threads (each with fresh
 * thread-locals), use a recursive mutex and stdio, and exit; the parent's threads keep
 * their own values. */
#include "../common.h"
#include <pthread.h>
#include <sys/wait.h>

static __thread long tval = 7;
static __thread char tname[32] = "initial";
static pthread_mutex_t rec;

static void *child_thread(void *arg) {
    long id = (long)arg;
    int ok = tval == 7 && strcmp(tname, "initial") == 0;
    tval = id;
    usleep(1000);
    ok = ok && tval == id;
    return (void *)(long)ok;
}

static void *forker(void *arg) {
    long id = (long)arg;
    tval = 100 + id;
    snprintf(tname, sizeof tname, "forker-%ld", id);
    usleep(2000);
    errno = 1234;
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        int e = errno;
        printf("child of %ld: tval=%ld tname=%s errno=%d\n", id, tval, tname, e);
        pthread_mutex_lock(&rec);
        pthread_mutex_lock(&rec);
        pthread_mutex_unlock(&rec);
        pthread_mutex_unlock(&rec);
        pthread_t t[5];
        long good = 0;
        for (long i = 0; i < 5; i++) CHECK(pthread_create(&t[i], NULL, child_thread, (void *)(i + 1)) == 0, "create");
        for (int i = 0; i < 5; i++) {
            void *r;
            pthread_join(t[i], &r);
            good += (long)r;
        }
        usleep(1000);
        printf("child of %ld: %ld of 5 threads had fresh thread-locals; still tval=%ld tname=%s\n", id, good, tval, tname);
        fflush(stdout);
        _exit(0);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status");
    return (void *)(long)(tval == 100 + id && strcmp(tname + 7, "") != 0);
}

static void *bystander(void *arg) {
    long id = (long)arg;
    tval = 500 + id;
    for (int i = 0; i < 20; i++) {
        usleep(500);
        if (tval != 500 + id) return NULL;
    }
    return (void *)1;
}

int main(void) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&rec, &a);
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t b[4], f;
    for (long i = 0; i < 4; i++) pthread_create(&b[i], NULL, bystander, (void *)i);
    long good = 0;
    for (long i = 1; i <= 3; i++) {
        void *r;
        pthread_create(&f, NULL, forker, (void *)i);
        pthread_join(f, &r);
        good += (long)r;
    }
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(b[i], &r);
        good += (long)r;
    }
    metric("os_threads_max", os_threads());
    printf("parent: %ld of 7 threads kept their own thread-locals; main tval=%ld\n", good, tval);
    return good != 7;
}
