/* pshared_sem: waits on process-shared semaphores (a named one from sem_open, and an
 * unnamed one with pshared=1 in shared memory) that another process posts. The hub
 * must keep running while the main thread waits: a ticker thread counts; and the
 * post itself depends on a thread of this process (it writes the pipe the child
 * waits for), so a wait that blocked the hub's OS thread would deadlock.
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

static atomic_int done;
static atomic_long ticks;
static int gate[2];

static void *ticker(void *arg) {
    (void)arg;
    while (!atomic_load(&done)) {
        usleep(1000);
        atomic_fetch_add(&ticks, 1);
    }
    return NULL;
}

static void *releaser(void *arg) {
    (void)arg;
    usleep(50000);
    CHECK(write(gate[1], "go", 2) == 2, "write");
    return NULL;
}

/* The child waits for the gate, then posts `s`. */
static pid_t poster(sem_t *s) {
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        char c[2];
        CHECK(read(gate[0], c, 2) == 2, "child read");
        CHECK(sem_post(s) == 0, "sem_post");
        _exit(0);
    }
    return pid;
}

static void round_trip(sem_t *s, const char *what) {
    CHECK(pipe(gate) == 0, "pipe");
    pid_t pid = poster(s);
    pthread_t r;
    CHECK(pthread_create(&r, NULL, releaser, NULL) == 0, "create");
    long before = atomic_load(&ticks);
    CHECK(sem_wait(s) == 0, "sem_wait: %s", strerror(errno));
    long during = atomic_load(&ticks) - before;
    pthread_join(r, NULL);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child");
    close(gate[0]);
    close(gate[1]);
    printf("%s: posted by another process\n", what);
    char name[64];
    snprintf(name, sizeof name, "ticks_during_%s", what);
    metric(name, during);
}

static void watchdog(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: process-shared semaphore wait deadlocked (watchdog)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

int main(void) {
    signal(SIGALRM, watchdog);
    alarm(20);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, ticker, NULL) == 0, "create");
    metric("os_threads_max", os_threads());

    char name[64];
    snprintf(name, sizeof name, "/greenshim_psem_%d", (int)getpid());
    sem_t *named = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    CHECK(named != SEM_FAILED, "sem_open: %s", strerror(errno));
    sem_unlink(name);
    round_trip(named, "named");
    sem_close(named);

    sem_t *anon = mmap(NULL, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(anon != MAP_FAILED, "mmap");
    CHECK(sem_init(anon, 1, 0) == 0, "sem_init");
    round_trip(anon, "unnamed");

    /* A timed wait that nobody posts times out as natively. */
    struct timespec ts = deadline_ms(CLOCK_REALTIME, 50);
    errno = 0;
    int r = sem_timedwait(anon, &ts);
    printf("sem_timedwait with nobody posting: %d %s\n", r, r ? strerror(errno) : "ok");
    CHECK(r == -1 && errno == ETIMEDOUT, "timedwait");
    sem_destroy(anon);
    atomic_store(&done, 1);
    pthread_join(t, NULL);
    return 0;
}
