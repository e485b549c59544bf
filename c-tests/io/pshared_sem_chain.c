/* pshared_sem_chain: six threads wait at once on process-shared semaphores; another
 * process posts the last one, and each thread, once woken, posts the next one down.
 *
 * Why: under the shim each such wait runs on an offload thread while its green thread
 * parks. When the pool had idle workers, several waits started back to back all took
 * "an idle worker exists" as theirs and queued; the workers took the first ones, which
 * wait for the later ones, and the later ones sat in the queue for ever. CPython's
 * multiprocessing test_notify_all (3 threads and 3 processes on one Condition) hung
 * this way. Natively each waiter is its own thread. The pool is warmed first so that
 * its workers are idle when the six waits start.
 *
 * stdout (deterministic): the wake order.
 */
#include "../common.h"
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define N 6
static sem_t *sems; /* N chain semaphores + 1 warm-up semaphore, shared memory */
static int order[N], woken;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *warm(void *arg) {
    (void)arg;
    CHECK(sem_wait(&sems[N]) == 0, "warm sem_wait: %s", strerror(errno));
    return NULL;
}

static void *link_(void *arg) {
    long i = (long)arg;
    CHECK(sem_wait(&sems[i]) == 0, "sem_wait %ld: %s", i, strerror(errno));
    pthread_mutex_lock(&mu);
    order[woken++] = (int)i;
    pthread_mutex_unlock(&mu);
    if (i > 0) CHECK(sem_post(&sems[i - 1]) == 0, "sem_post");
    return NULL;
}

int main(void) {
    alarm(20); /* a deadlock ends the program with SIGALRM */
    sems = mmap(NULL, sizeof(sem_t) * (N + 1), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sems != MAP_FAILED, "mmap");
    for (int i = 0; i <= N; i++) CHECK(sem_init(&sems[i], 1, 0) == 0, "sem_init");

    /* Warm-up: four waits at once, posted by main, so the pool has idle workers. */
    pthread_t w[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&w[i], NULL, warm, NULL) == 0, "create");
    usleep(50000);
    for (int i = 0; i < 4; i++) sem_post(&sems[N]);
    for (int i = 0; i < 4; i++) pthread_join(w[i], NULL);
    usleep(50000);

    pthread_t t[N];
    for (long i = 0; i < N; i++) CHECK(pthread_create(&t[i], NULL, link_, (void *)i) == 0, "create");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        usleep(100000);
        sem_post(&sems[N - 1]);
        _exit(0);
    }
    for (int i = 0; i < N; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st), "child");
    printf("woke:");
    for (int i = 0; i < N; i++) printf(" %d", order[i]);
    printf("\n");
    return 0;
}
