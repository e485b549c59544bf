/* pthread_kill to a thread parked in a blocking call makes that call fail with EINTR,
 * as natively: read (no SA_RESTART; restarted with it), nanosleep, sem_wait (EINTR
 * even with SA_RESTART), mq_timedsend on a full queue. The main thread, parked in its own read meanwhile, is not
 * interrupted. Signals sent to two threads while main blocks the signal reach both.
 */
#include "../common.h"
#include <pthread.h>
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <signal.h>

static volatile sig_atomic_t hits;
static void on_usr1(int s) { (void)s; hits++; }
static int pfd[2], mainpipe[2];
static sem_t sem;
static mqd_t mq = (mqd_t)-1;

static void install(int flags) {
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
}

/* A fresh string per call: threads signalled together call this at once (a static
 * buffer here once gave a native run "E and EINTR"). */
static char *result(long r, int e) {
    char buf[64];
    if (r >= 0) snprintf(buf, sizeof buf, "%ld", r);
    else snprintf(buf, sizeof buf, "%s", e == EINTR ? "EINTR" : strerror(e));
    return strdup(buf);
}

static void *reader(void *arg) {
    (void)arg;
    char c;
    long r = read(pfd[0], &c, 1);
    return result(r, errno);
}
static void *sleeper(void *arg) {
    (void)arg;
    struct timespec ts = {2, 0}, rem = {0, 0};
    long r = nanosleep(&ts, &rem);
    char *s = result(r, errno);
    if (r < 0 && (rem.tv_sec > 0 || rem.tv_nsec > 0)) s[0] = s[0]; /* remaining reported */
    else if (r < 0) s[0] = '?';
    return s;
}
static void *sem_waiter(void *arg) {
    (void)arg;
    long r = sem_wait(&sem);
    return result(r, errno);
}
static void *sem_timed_waiter(void *arg) {
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    long r = sem_timedwait(&sem, &ts);
    return result(r, errno);
}
/* mq_timedsend to a full queue (one message of capacity one, already there). */
static void *mq_sender(void *arg) {
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    long r = mq_timedsend(mq, "y", 1, 0, &ts);
    return result(r, errno);
}
static void *late_writer(void *arg) {
    int fd = *(int *)arg;
    usleep(400 * 1000);
    CHECK(write(fd, "x", 1) == 1, "write");
    return NULL;
}

/* Starts fn in a thread, signals it after 50 ms, returns what its call returned. The
 * pipe gets a byte after 400 ms and the semaphore a post, so nothing hangs. */
static char *kill_during(void *(*fn)(void *)) {
    CHECK(pipe(pfd) == 0, "pipe");
    pthread_t t, w;
    CHECK(pthread_create(&t, NULL, fn, NULL) == 0, "create");
    CHECK(pthread_create(&w, NULL, late_writer, &pfd[1]) == 0, "create");
    usleep(50 * 1000);
    hits = 0;
    CHECK(pthread_kill(t, SIGUSR1) == 0, "pthread_kill");
    usleep(400 * 1000);
    sem_post(&sem);
    if (mq != (mqd_t)-1) { /* make room: a sender still waiting completes */
        char m[8];
        CHECK(mq_receive(mq, m, sizeof m, NULL) == 1, "mq_receive: %s", strerror(errno));
    }
    void *r;
    CHECK(pthread_join(t, &r) == 0 && pthread_join(w, NULL) == 0, "join");
    while (sem_trywait(&sem) == 0) {}
    close(pfd[0]);
    close(pfd[1]);
    return r;
}

static pthread_t victim;
static void *killer(void *arg) {
    (void)arg;
    usleep(50 * 1000);
    CHECK(pthread_kill(victim, SIGUSR1) == 0, "pthread_kill");
    return NULL;
}

static void *blocked_sleeper(void *arg) {
    (void)arg;
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    CHECK(pthread_sigmask(SIG_UNBLOCK, &m, NULL) == 0, "unblock");
    struct timespec ts = {2, 0};
    long r = nanosleep(&ts, NULL);
    return result(r, errno);
}

int main(void) {
    CHECK(sem_init(&sem, 0, 0) == 0, "sem_init");
    install(0);
    printf("read, no SA_RESTART:      %s\n", kill_during(reader));
    printf("nanosleep:                %s\n", kill_during(sleeper));
    printf("sem_wait:                 %s\n", kill_during(sem_waiter));
    install(SA_RESTART);
    printf("read, SA_RESTART:         %s\n", kill_during(reader));
    printf("sem_wait, SA_RESTART:     %s\n", kill_during(sem_waiter));
    printf("sem_timedwait, SA_RESTART: %s\n", kill_during(sem_timed_waiter));
    printf("handler ran once per kill: %s\n", hits == 1 ? "yes" : "no");

    /* mq_timedsend on a full queue: EINTR without SA_RESTART, restarted with it. */
    char name[64];
    snprintf(name, sizeof name, "/greenshim_pk_%d", (int)getpid());
    struct mq_attr at = {.mq_maxmsg = 1, .mq_msgsize = 8};
    mq = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &at);
    if (mq == (mqd_t)-1) {
        printf("mq_timedsend: message queues unavailable (%s)\n", strerror(errno));
    } else {
        mq_unlink(name);
        install(0);
        CHECK(mq_send(mq, "x", 1, 0) == 0, "mq_send");
        printf("mq_timedsend:             %s\n", kill_during(mq_sender));
        install(SA_RESTART);
        CHECK(mq_send(mq, "x", 1, 0) == 0, "mq_send");
        printf("mq_timedsend, SA_RESTART: %s\n", kill_during(mq_sender));
        mq_close(mq);
        mq = (mqd_t)-1;
    }

    /* The main thread's own read is not interrupted by a signal for another thread. */
    install(0);
    CHECK(pipe(mainpipe) == 0, "pipe");
    pthread_t k, w;
    CHECK(pthread_create(&victim, NULL, sleeper, NULL) == 0, "create");
    CHECK(pthread_create(&k, NULL, killer, NULL) == 0, "create");
    CHECK(pthread_create(&w, NULL, late_writer, &mainpipe[1]) == 0, "create");
    char c;
    long r = read(mainpipe[0], &c, 1);
    printf("main's read while another thread is signalled: %s\n", result(r, errno));
    void *v;
    CHECK(pthread_join(victim, &v) == 0 && pthread_join(k, NULL) == 0 && pthread_join(w, NULL) == 0, "join");
    printf("the signalled thread's nanosleep: %s\n", (char *)v);

    /* Main blocks SIGUSR1; two threads that unblocked it are signalled back to back. */
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    CHECK(pthread_sigmask(SIG_BLOCK, &m, NULL) == 0, "block");
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, blocked_sleeper, NULL) == 0, "create");
    CHECK(pthread_create(&b, NULL, blocked_sleeper, NULL) == 0, "create");
    usleep(50 * 1000);
    hits = 0;
    CHECK(pthread_kill(a, SIGUSR1) == 0 && pthread_kill(b, SIGUSR1) == 0, "pthread_kill");
    void *ra, *rb;
    CHECK(pthread_join(a, &ra) == 0 && pthread_join(b, &rb) == 0, "join");
    printf("two threads signalled: %s and %s, handler ran %d times\n", (char *)ra, (char *)rb, (int)hits);
    return 0;
}
