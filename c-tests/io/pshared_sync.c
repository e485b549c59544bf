/* pshared_sync: process-shared and robust synchronization objects never block the hub
 * and keep glibc's semantics, with another process on the same memory. A ticker
 * thread in the parent counts milliseconds throughout; each wait must let it run.
 *   1. A robust (private) mutex between two threads of one process: the second
 *      locker waits for the first's unlock; its unlock of the other's lock is EPERM.
 *   2. A shared mutex + condvar in shared memory: a child process (under the shim when
 *      the parent is, since it inherits LD_PRELOAD) and a child exec'd WITHOUT the shim
 *      each wait for a value the parent's thread sets after 30 ms, then answer.
 *   3. A shared robust mutex whose owner process is killed: EOWNERDEAD, then
 *      pthread_mutex_consistent, then a normal unlock.
 *   4. A shared rwlock write-held by a child for 50 ms: the parent's rdlock waits.
 *   5. A shared barrier of 2 between the parent and a child.
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

struct shared {
    pthread_mutex_t m;
    pthread_cond_t c;
    int value, answer;
    pthread_mutex_t robust;
    pthread_rwlock_t rw;
    pthread_barrier_t bar;
};

static struct shared *sh;
static atomic_int done;
static atomic_long ticks;

static void *ticker(void *arg) {
    (void)arg;
    while (!atomic_load(&done)) {
        usleep(1000);
        atomic_fetch_add(&ticks, 1);
    }
    return NULL;
}

/* The child side of case 2: wait for value == round, answer round * 10. */
static void cv_child(int round) {
    pthread_mutex_lock(&sh->m);
    while (sh->value != round) pthread_cond_wait(&sh->c, &sh->m);
    sh->answer = round * 10;
    pthread_cond_broadcast(&sh->c);
    pthread_mutex_unlock(&sh->m);
}

static void *set_value(void *arg) {
    usleep(30000);
    pthread_mutex_lock(&sh->m);
    sh->value = (int)(long)arg;
    pthread_cond_broadcast(&sh->c);
    pthread_mutex_unlock(&sh->m);
    return NULL;
}

static void cv_round(int round, pid_t child) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, set_value, (void *)(long)round) == 0, "create");
    long before = atomic_load(&ticks);
    pthread_mutex_lock(&sh->m);
    while (sh->answer != round * 10) pthread_cond_wait(&sh->c, &sh->m);
    pthread_mutex_unlock(&sh->m);
    long during = atomic_load(&ticks) - before;
    pthread_join(t, NULL);
    int st;
    CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0, "cv child");
    char name[64];
    snprintf(name, sizeof name, "ticks_cv_round%d", round);
    metric(name, during);
}

static pthread_mutex_t priv_robust;
static atomic_int stage;

static void *robust_holder(void *arg) {
    (void)arg;
    CHECK(pthread_mutex_lock(&priv_robust) == 0, "holder lock");
    atomic_store(&stage, 1);
    usleep(30000);
    atomic_store(&stage, 2);
    CHECK(pthread_mutex_unlock(&priv_robust) == 0, "holder unlock");
    return NULL;
}

static void watchdog(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: pshared_sync hung (watchdog)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "cv-child") == 0) {
        /* Exec'd without the shim: map the parent's object by name and answer. */
        int fd = shm_open(argv[2], O_RDWR, 0);
        CHECK(fd >= 0, "shm_open child: %s", strerror(errno));
        sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHECK(sh != MAP_FAILED, "mmap child");
        cv_child(2);
        return 0;
    }
    signal(SIGALRM, watchdog);
    alarm(30);
    char name[64];
    snprintf(name, sizeof name, "/greenshim_psync_%d", (int)getpid());
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0, "shm_open: %s", strerror(errno));
    CHECK(ftruncate(fd, sizeof *sh) == 0, "ftruncate");
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(sh != MAP_FAILED, "mmap");

    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    CHECK(pthread_mutex_init(&sh->m, &ma) == 0, "mutex init");
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    CHECK(pthread_mutex_init(&sh->robust, &ma) == 0, "robust init");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    CHECK(pthread_cond_init(&sh->c, &ca) == 0, "cond init");
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED);
    CHECK(pthread_rwlock_init(&sh->rw, &ra) == 0, "rwlock init");
    pthread_barrierattr_t ba;
    pthread_barrierattr_init(&ba);
    pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
    CHECK(pthread_barrier_init(&sh->bar, &ba, 2) == 0, "barrier init");

    pthread_t tk;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create");
    metric("os_threads_max", os_threads());

    /* 1. robust private mutex between two threads */
    pthread_mutexattr_t pa;
    pthread_mutexattr_init(&pa);
    pthread_mutexattr_setrobust(&pa, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&pa, PTHREAD_MUTEX_ERRORCHECK);
    CHECK(pthread_mutex_init(&priv_robust, &pa) == 0, "private robust init");
    pthread_t h;
    CHECK(pthread_create(&h, NULL, robust_holder, NULL) == 0, "create");
    while (atomic_load(&stage) == 0) usleep(1000);
    int r = pthread_mutex_unlock(&priv_robust);
    printf("robust errorcheck mutex: unlock by a non-owner thread: %s\n", strerror(r));
    CHECK(r == EPERM, "unlock of another thread's robust mutex gave %d", r);
    r = pthread_mutex_trylock(&priv_robust);
    printf("robust errorcheck mutex: trylock while another thread holds it: %s\n", strerror(r));
    CHECK(pthread_mutex_lock(&priv_robust) == 0, "lock");
    CHECK(atomic_load(&stage) == 2, "got the mutex before its holder unlocked it");
    printf("robust errorcheck mutex: lock waited for the holder's unlock\n");
    r = pthread_mutex_lock(&priv_robust);
    printf("robust errorcheck mutex: relock by its owner: %s\n", strerror(r));
    CHECK(pthread_mutex_unlock(&priv_robust) == 0, "unlock");
    pthread_join(h, NULL);

    /* 2. shared mutex + condvar: a forked child (inherits the shim) ... */
    pid_t c = fork();
    CHECK(c >= 0, "fork");
    if (c == 0) {
        cv_child(1);
        _exit(0);
    }
    cv_round(1, c);
    printf("shared condvar: a forked child answered\n");
    /* ... and a child exec'd without the shim */
    c = fork();
    CHECK(c >= 0, "fork");
    if (c == 0) {
        char *args[] = {argv[0], "cv-child", name, NULL};
        char *env[] = {NULL};
        execve("/proc/self/exe", args, env);
        _exit(127);
    }
    cv_round(2, c);
    printf("shared condvar: a child without the shim answered\n");

    /* 3. robust shared mutex, owner killed */
    int go[2];
    CHECK(pipe(go) == 0, "pipe");
    c = fork();
    CHECK(c >= 0, "fork");
    if (c == 0) {
        pthread_mutex_lock(&sh->robust);
        (void)!write(go[1], "l", 1);
        pause();
        _exit(0);
    }
    char ch;
    CHECK(read(go[0], &ch, 1) == 1, "read");
    CHECK(kill(c, SIGKILL) == 0, "kill");
    int st;
    CHECK(waitpid(c, &st, 0) == c, "waitpid");
    r = pthread_mutex_lock(&sh->robust);
    printf("robust shared mutex after its owner was killed: %s\n", strerror(r));
    CHECK(r == EOWNERDEAD, "lock gave %d", r);
    CHECK(pthread_mutex_consistent(&sh->robust) == 0, "consistent");
    CHECK(pthread_mutex_unlock(&sh->robust) == 0, "unlock");
    CHECK(pthread_mutex_lock(&sh->robust) == 0, "relock");
    CHECK(pthread_mutex_unlock(&sh->robust) == 0, "unlock");
    printf("robust shared mutex: consistent, relocked, unlocked\n");

    /* 4. shared rwlock held for writing by a child */
    c = fork();
    CHECK(c >= 0, "fork");
    if (c == 0) {
        pthread_rwlock_wrlock(&sh->rw);
        (void)!write(go[1], "w", 1);
        usleep(50000);
        sh->value = 99;
        pthread_rwlock_unlock(&sh->rw);
        _exit(0);
    }
    CHECK(read(go[0], &ch, 1) == 1, "read");
    long before = atomic_load(&ticks);
    CHECK(pthread_rwlock_rdlock(&sh->rw) == 0, "rdlock");
    printf("shared rwlock: read lock after the writer process: value %d\n", sh->value);
    pthread_rwlock_unlock(&sh->rw);
    metric("ticks_rwlock", atomic_load(&ticks) - before);
    CHECK(waitpid(c, &st, 0) == c, "waitpid");

    /* 5. shared barrier */
    c = fork();
    CHECK(c >= 0, "fork");
    if (c == 0) {
        usleep(50000);
        pthread_barrier_wait(&sh->bar);
        _exit(0);
    }
    before = atomic_load(&ticks);
    r = pthread_barrier_wait(&sh->bar);
    CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD, "barrier %d", r);
    metric("ticks_barrier", atomic_load(&ticks) - before);
    CHECK(waitpid(c, &st, 0) == c, "waitpid");
    printf("shared barrier: both processes passed\n");

    atomic_store(&done, 1);
    pthread_join(tk, NULL);
    shm_unlink(name);
    return 0;
}
