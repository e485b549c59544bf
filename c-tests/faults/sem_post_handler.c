/* sem_post from a signal handler (async-signal-safe by POSIX) while other threads
 * park and unpark on the same semaphore as fast as they can: a 20 kHz ITIMER_REAL
 * posts it, so the handler keeps interrupting waits, posts and the scheduler itself.
 * Every post is consumed exactly once; nothing hangs.
 */
#include "../common.h"
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/time.h>

#define WAITERS 4
static sem_t sem;
static long handler_posts;
static volatile int stop;
static long consumed[WAITERS], thread_posts;

static void on_alarm(int sig) {
    (void)sig;
    int saved = errno;
    sem_post(&sem);
    __atomic_fetch_add(&handler_posts, 1, __ATOMIC_RELAXED);
    errno = saved;
}

static void *waiter(void *arg) {
    long i = (long)arg;
    for (;;) {
        if (sem_wait(&sem) != 0) {
            CHECK(errno == EINTR, "sem_wait: %s", strerror(errno));
            continue;
        }
        if (stop) break;
        consumed[i]++;
    }
    return NULL;
}

static void *poster(void *arg) {
    (void)arg;
    while (!stop) {
        sem_post(&sem);
        __atomic_fetch_add(&thread_posts, 1, __ATOMIC_RELAXED);
        sched_yield();
    }
    return NULL;
}

int main(void) {
    CHECK(sem_init(&sem, 0, 0) == 0, "sem_init");
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
    pthread_t w[WAITERS], p;
    for (long i = 0; i < WAITERS; i++) CHECK(pthread_create(&w[i], NULL, waiter, (void *)i) == 0, "create");
    CHECK(pthread_create(&p, NULL, poster, NULL) == 0, "create");
    struct itimerval it = {{0, 50}, {0, 50}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
    long long end = now_ms() + 1500;
    while (now_ms() < end) {
        /* The main thread churns the same semaphore too. */
        sem_post(&sem);
        __atomic_fetch_add(&thread_posts, 1, __ATOMIC_RELAXED);
        usleep(100);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0, "setitimer off");
    stop = 1;
    CHECK(pthread_join(p, NULL) == 0, "join poster");
    /* Each waiter ends on exactly one post it does not count: one extra each. */
    for (int i = 0; i < WAITERS; i++) sem_post(&sem);
    for (int i = 0; i < WAITERS; i++) CHECK(pthread_join(w[i], NULL) == 0, "join");
    int left = 0;
    CHECK(sem_getvalue(&sem, &left) == 0, "getvalue");
    long total = 0;
    for (int i = 0; i < WAITERS; i++) total += consumed[i];
    long posts = handler_posts + thread_posts;
    CHECK(total + left == posts, "consumed %ld + left %d vs posted %ld", total, left, posts);
    CHECK(handler_posts > 100, "only %ld handler posts", handler_posts);
    metric("handler_posts", handler_posts);
    printf("every post consumed once, handler posts: yes\n");
    return 0;
}
