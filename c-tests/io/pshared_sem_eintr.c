/* pshared_sem_eintr: a signal handler ends a wait on a process-shared semaphore with
 * EINTR, as natively, while another thread exists.
 *
 * Why: under the shim such a wait runs on an offload thread (another process posts it
 * through the kernel futex), which blocks signals; a handler that ran for the main
 * thread left the wait going until its deadline. CPython's multiprocessing
 * test_wait_result (a child sends SIGINT while the parent waits on a Condition for
 * 60 s) then took 60 s instead of an instant, and Ctrl-C did not reach such a wait.
 * Cases: sem_timedwait (EINTR whatever SA_RESTART), sem_wait without SA_RESTART
 * (EINTR), and a post that arrives (0): each by a child process, with a sleeping
 * thread alive.
 *
 * stdout (deterministic): each wait's result and errno, and whether it ended early.
 */
#include "../common.h"
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

static volatile sig_atomic_t got;
static void on_usr1(int sig) { (void)sig; got++; }

static void *sleeper(void *arg) {
    (void)arg;
    sleep(30);
    return NULL;
}

static pid_t in_child_after(int ms, int do_signal, sem_t *s) {
    pid_t parent = getpid();
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        usleep(ms * 1000);
        if (do_signal) kill(parent, SIGUSR1);
        else sem_post(s);
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid) {
    int st;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
}

int main(void) {
    sem_t *s = mmap(NULL, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(s != MAP_FAILED, "mmap");
    CHECK(sem_init(s, 1, 0) == 0, "sem_init");
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, sleeper, NULL) == 0, "create");
    CHECK(pthread_detach(t) == 0, "detach");

    /* sem_timedwait for 10 s, interrupted after 100 ms. */
    struct timespec abs;
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_sec += 10;
    pid_t pid = in_child_after(100, 1, s);
    long long t0 = now_ms();
    errno = 0;
    int r = sem_timedwait(s, &abs);
    int e = errno;
    long long took = now_ms() - t0;
    printf("sem_timedwait: %d %s, early %d, handler ran %d\n", r, r ? strerror(e) : "-", took < 5000, got);
    metric("timedwait_ms", took);
    reap(pid);

    /* sem_wait, no SA_RESTART, interrupted after 100 ms. */
    got = 0;
    pid = in_child_after(100, 1, s);
    t0 = now_ms();
    errno = 0;
    r = sem_wait(s);
    e = errno;
    took = now_ms() - t0;
    printf("sem_wait: %d %s, handler ran %d\n", r, r ? strerror(e) : "-", got);
    metric("wait_ms", took);
    reap(pid);

    /* A post from the child ends the wait with 0. */
    pid = in_child_after(100, 0, s);
    r = sem_wait(s);
    printf("sem_wait posted: %d\n", r);
    reap(pid);
    return 0;
}
