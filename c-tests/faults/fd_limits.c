/* Resource limits: at the fd limit, waits that need no fd natively still work (a read
 * woken by another thread's write, a semaphore, a poll, sigwait); dup2 onto any number
 * below the limit works, whatever the shim keeps there; the program's own stderr
 * replacement never receives shim diagnostics.
 */
#include "../common.h"
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/resource.h>

static int pfd[2];
static sem_t sem;
static pthread_t main_thread;

static void *writer(void *arg) {
    (void)arg;
    usleep(30 * 1000);
    CHECK(write(pfd[1], "ab", 2) == 2, "write");
    usleep(30 * 1000);
    sem_post(&sem);
    usleep(30 * 1000);
    CHECK(write(pfd[1], "c", 1) == 1, "write");
    usleep(30 * 1000);
    pthread_kill(main_thread, SIGUSR1);
    return NULL;
}

static void set_nofile(rlim_t n) {
    struct rlimit r;
    CHECK(getrlimit(RLIMIT_NOFILE, &r) == 0, "getrlimit");
    r.rlim_cur = n;
    CHECK(setrlimit(RLIMIT_NOFILE, &r) == 0, "setrlimit %lu", (unsigned long)n);
}

int main(void) {
    main_thread = pthread_self();
    CHECK(pipe(pfd) == 0, "pipe");
    CHECK(sem_init(&sem, 0, 0) == 0, "sem_init");
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    CHECK(pthread_sigmask(SIG_BLOCK, &usr1, NULL) == 0, "block");

    /* 1: at the limit: the lowest free fd is the limit itself. */
    int lowest = 0;
    while (fcntl(lowest, F_GETFD) >= 0) lowest++;
    set_nofile(lowest);
    CHECK(dup(0) < 0 && errno == EMFILE, "at the limit");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, writer, NULL) == 0, "create");
    char buf[4];
    ssize_t n = read(pfd[0], buf, sizeof buf);
    printf("at the fd limit: read woken by a thread: %zd\n", n);
    printf("at the fd limit: sem_wait: %d\n", sem_wait(&sem));
    struct pollfd p = {pfd[0], POLLIN, 0};
    printf("at the fd limit: poll: %d\n", poll(&p, 1, 5000));
    CHECK(read(pfd[0], buf, 1) == 1, "read");
    int sig = 0;
    int r = sigwait(&usr1, &sig);
    printf("at the fd limit: sigwait: %d sig %s\n", r, sig == SIGUSR1 ? "SIGUSR1" : "other");
    CHECK(pthread_join(t, NULL) == 0, "join");
    printf("at the fd limit: still EMFILE for the program: %s\n", dup(0) < 0 && errno == EMFILE ? "yes" : "no");

    /* 2: dup2 onto every number below a limit of 128 (the shim keeps its fds near it). */
    set_nofile(128);
    CHECK(pthread_create(&t, NULL, writer, NULL) == 0, "create");
    CHECK(read(pfd[0], buf, sizeof buf) == 2, "read");
    int bad = 0;
    for (int fd = 10; fd < 128; fd++) {
        if (dup2(pfd[1], fd) != fd) {
            fprintf(stderr, "dup2 onto %d: %s\n", fd, strerror(errno));
            bad++;
            continue;
        }
        if (write(fd, "z", 1) != 1 || read(pfd[0], buf, 1) != 1) bad++;
        close(fd);
    }
    printf("dup2 onto 10..127: %d failures\n", bad);
    /* The hub still works after its fds moved. */
    CHECK(sem_wait(&sem) == 0, "sem_wait");
    CHECK(read(pfd[0], buf, 1) == 1, "read");
    CHECK(sigwait(&usr1, &sig) == 0, "sigwait");
    CHECK(pthread_join(t, NULL) == 0, "join");
    printf("waits after dup2: ok\n");

    /* 3: at the limit, the program closes every fd above its own (the shim's too):
     * a thread parked in read still gets its data. */
    int top = 0;
    while (fcntl(top, F_GETFD) >= 0) top++;
    set_nofile(top);
    CHECK(pthread_create(&t, NULL, writer, NULL) == 0, "create");
    usleep(10 * 1000);
    CHECK(close_range(top, ~0U, 0) == 0, "close_range");
    n = read(pfd[0], buf, 2);
    printf("at the limit after close_range: read %zd\n", n);
    CHECK(sem_wait(&sem) == 0, "sem_wait");
    CHECK(read(pfd[0], buf, 1) == 1, "read");
    CHECK(sigwait(&usr1, &sig) == 0, "sigwait");
    CHECK(pthread_join(t, NULL) == 0, "join");
    return 0;
}
