/* cross_hub: every primitive across OS threads (GREENSHIM_HUBS=2).
 *
 * Why: with several hubs a wake may come from another OS thread than the one the
 * sleeper runs on. A lost wake-up hangs; a lock that only excludes threads of one hub
 * loses increments. Natively every part passes by construction; the program prints
 * the same lines natively and under the shim, and checks its own totals.
 *
 *   mutex: 10,000 threads (10 waves of 1,000) add 1 under one mutex 100 times each,
 *          yielding inside the critical section now and then: exact total.
 *   condvar: two threads hand a token back and forth 20,000 times.
 *   semaphore: two threads ping-pong on two semaphores 20,000 times.
 *   rwlock + barrier: 8 threads, 1,000 rounds of barrier then read/write.
 *   shutdown: two threads (one per hub: the first thread goes to the idle hub) block
 *          in read() on one socket; shutdown() wakes both with 0; the number is
 *          reused by a pipe at once and a third reader gets its data.
 *   close (argv[1] = "close", shim only: natively a close does not wake a blocked
 *          read): both readers get -1 EBADF.
 *   fork: the first thread created (on the other hub) forks; the child makes a
 *          thread, joins it and exits 7.
 *   vfork: two threads (one per hub) vfork 100 times each at once; every child closes
 *          the parent's pipe ends and execs /bin/true; the parent's pipe still works
 *          after each (a child's close must not reach the parent's fd state).
 * metrics: os_threads_max, wall_ms.
 */
#undef _GNU_SOURCE
#include "../common.h"
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long total;
static int os_max;

static void sample(void) {
    int n = os_threads();
    if (n > os_max) os_max = n;
}

static void *adder(void *arg) {
    (void)arg;
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&mu);
        long v = total;
        if (i % 25 == 0) sched_yield();
        total = v + 1;
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static void mutex_part(void) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 << 10);
    static pthread_t t[1000];
    for (int wave = 0; wave < 10; wave++) {
        for (int i = 0; i < 1000; i++) CHECK(pthread_create(&t[i], &a, adder, NULL) == 0, "create");
        if (wave == 0) sample();
        for (int i = 0; i < 1000; i++) pthread_join(t[i], NULL);
    }
    printf("mutex: 10000 threads x 100 = %ld\n", total);
    CHECK(total == 1000000, "lost increments: %ld", total);
}

static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn, rounds_done[2];
#define ROUNDS 20000

static void *pinger(void *arg) {
    int me = (int)(long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&mu);
        while (turn != me) pthread_cond_wait(&cv, &mu);
        turn = 1 - me;
        rounds_done[me]++;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static sem_t sa, sb;
static long sem_rounds;
static void *sem_a(void *arg) {
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) { sem_wait(&sa); sem_rounds++; sem_post(&sb); }
    return NULL;
}
static void *sem_b(void *arg) {
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) { sem_post(&sa); sem_wait(&sb); }
    return NULL;
}

static pthread_barrier_t bar;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long shared_val, bad_reads;
static void *rw_worker(void *arg) {
    long me = (long)arg;
    for (int r = 0; r < 1000; r++) {
        pthread_barrier_wait(&bar);
        if (me == r % 8) {
            pthread_rwlock_wrlock(&rw);
            long v = shared_val;
            sched_yield();
            shared_val = v + 2;
            pthread_rwlock_unlock(&rw);
        } else {
            pthread_rwlock_rdlock(&rw);
            if (shared_val % 2) bad_reads++;
            pthread_rwlock_unlock(&rw);
        }
    }
    return NULL;
}

struct reader { int fd; ssize_t r; int err; char buf[16]; };
static void *reader(void *arg) {
    struct reader *rd = arg;
    rd->r = read(rd->fd, rd->buf, sizeof rd->buf - 1);
    rd->err = rd->r < 0 ? errno : 0;
    if (rd->r > 0) rd->buf[rd->r] = 0;
    return NULL;
}

static void wake_part(int close_mode) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    struct reader r1 = { .fd = sv[0] }, r2 = { .fd = sv[0] };
    pthread_t t1, t2;
    pthread_create(&t1, NULL, reader, &r1);
    pthread_create(&t2, NULL, reader, &r2);
    usleep(100000);
    if (close_mode) {
        close(sv[0]);
    } else {
        shutdown(sv[0], SHUT_RDWR);
    }
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    if (close_mode) {
        printf("close: readers got %zd %s, %zd %s\n", r1.r, r1.err == EBADF ? "EBADF" : "?", r2.r, r2.err == EBADF ? "EBADF" : "?");
    } else {
        printf("shutdown: readers got %zd and %zd\n", r1.r, r2.r);
        close(sv[0]);
    }
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    printf("fd reuse: %s\n", p[0] == sv[0] ? "same number" : "other number");
    struct reader r3 = { .fd = p[0] };
    pthread_t t3;
    pthread_create(&t3, NULL, reader, &r3);
    usleep(50000);
    CHECK(write(p[1], "hello", 5) == 5, "write");
    pthread_join(t3, NULL);
    printf("fd reuse: new reader got \"%s\"\n", r3.buf);
    close(p[0]); close(p[1]); close(sv[1]);
}

static void *child_thread(void *arg) { return arg; }
static void *forker(void *arg) {
    (void)arg;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t t;
        void *r = NULL;
        pthread_create(&t, NULL, child_thread, (void *)7L);
        pthread_join(t, &r);
        printf("fork: child's thread returned %ld\n", (long)r);
        fflush(stdout);
        _exit((int)(long)r);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    printf("fork: child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return NULL;
}

static void *vforker(void *arg) {
    (void)arg;
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    int ok = 0;
    for (int i = 0; i < 100; i++) {
        pid_t pid = vfork();
        if (pid == 0) {
            /* Widen the window in which the other hub's thread may vfork too, as a
             * child that closes every inherited fd does (CPython's subprocess). */
            for (int k = 0; k < 300; k++) close(-1);
            close(p[0]);
            close(p[1]);
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        char c = 'x';
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && write(p[1], &c, 1) == 1 && read(p[0], &c, 1) == 1) ok++;
    }
    close(p[0]);
    close(p[1]);
    return (void *)(long)ok;
}

int main(int argc, char **argv) {
    long long t0 = now_ms();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "close") == 0) {
        wake_part(1);
        return 0;
    }
    pthread_t f;
    pthread_create(&f, NULL, forker, NULL);
    pthread_join(f, NULL);

    mutex_part();

    pthread_t a, b;
    pthread_create(&a, NULL, pinger, (void *)0L);
    pthread_create(&b, NULL, pinger, (void *)1L);
    sample();
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("condvar: %d + %d rounds\n", rounds_done[0], rounds_done[1]);

    sem_init(&sa, 0, 0);
    sem_init(&sb, 0, 0);
    pthread_create(&a, NULL, sem_a, NULL);
    pthread_create(&b, NULL, sem_b, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("semaphore: %ld rounds\n", sem_rounds);

    pthread_barrier_init(&bar, NULL, 8);
    pthread_t w[8];
    for (long i = 0; i < 8; i++) pthread_create(&w[i], NULL, rw_worker, (void *)i);
    for (int i = 0; i < 8; i++) pthread_join(w[i], NULL);
    printf("rwlock+barrier: value %ld, torn reads %ld\n", shared_val, bad_reads);

    wake_part(0);

    void *ra, *rb;
    pthread_create(&a, NULL, vforker, NULL);
    pthread_create(&b, NULL, vforker, NULL);
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    printf("vfork: %ld + %ld children, pipes intact\n", (long)ra, (long)rb);
    metric("os_threads_max", os_max);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
