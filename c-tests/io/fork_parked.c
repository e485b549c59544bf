/* fork_parked: fork from one thread while ten others are parked.
 *
 * Why: under greenshim all threads are green threads of one OS thread. After
 * fork() the child must contain only the forking thread (as natively: POSIX
 * forks just the caller), with a working hub, while the parent's parked
 * threads stay parked and complete normally.
 *   - 5 sleepers (sleep(1) / usleep(800 ms)) and 5 readers (read on their own
 *     empty pipes) are parked; a forker thread waits until all 10 are in their
 *     calls, then:
 *   1. fork: the child checks it has 1 thread, writes "child ok threads=1"
 *      through a pipe and _exit(7); the parent reads it, waitpid -> status 7;
 *   2. fork: the child writes "child2 ok" and returns from the thread
 *      function without exiting; natively the process then ends with status 0
 *      when its last thread ends (glibc calls exit(0)); the parent checks 0;
 *   3. fork: the child creates 3 threads that usleep 10/20/30 ms and write
 *      'a'/'b'/'c' to a pipe, joins them, waits until the parent's sleepers
 *      are due (1.2 s after start) and checks that none of the parent's parked
 *      threads ran in the child, then _exit(3); the parent reads "abc" and
 *      status 3;
 *   then the forker releases the readers; sleepers and readers finish and
 *   report (sleepers slept their full time, readers got their byte; none of
 *   them had finished when the forks happened).
 * A 5 s alarm watchdog fails (and kills the current child) on a hang.
 *
 * stdout (deterministic): see the printf calls; one line per child and one per
 * parked thread, printed by main after joining.
 * metrics: os_threads_max (forker, with all 12 threads alive), fork_ms.
 */
#include "../common.h"
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#define NSLEEP 5
#define NREAD 5

static int parked;   /* threads about to enter their blocking call */
static int finished; /* parked threads that have returned */
static int rp[NREAD][2];
static long long slept_ms[NSLEEP];
static char got[NREAD];
static volatile pid_t current_child;

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: fork_parked hung for 5 s\n";
    if (current_child > 0) kill(current_child, SIGKILL);
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void *sleeper(void *arg) {
    int i = (int)(long)arg;
    long long t0 = now_ms();
    __atomic_fetch_add(&parked, 1, __ATOMIC_SEQ_CST);
    if (i % 2 == 0)
        CHECK(sleep(1) == 0, "sleep: %s", strerror(errno));
    else
        CHECK(usleep(800000) == 0, "usleep: %s", strerror(errno));
    slept_ms[i] = now_ms() - t0;
    __atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *reader(void *arg) {
    int i = (int)(long)arg;
    __atomic_fetch_add(&parked, 1, __ATOMIC_SEQ_CST);
    char c;
    ssize_t r = read(rp[i][0], &c, 1);
    CHECK(r == 1, "reader %d: read returned %zd (%s)", i, r, r < 0 ? strerror(errno) : "EOF");
    got[i] = c;
    __atomic_fetch_add(&finished, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Reads everything the child writes to fd until EOF. */
static void read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        CHECK(r >= 0, "read from child: %s", strerror(errno));
        if (r == 0) break;
        n += (size_t)r;
        CHECK(n < cap - 1, "child wrote too much");
    }
    buf[n] = 0;
}

static int wait_child(pid_t pid) {
    int st;
    pid_t w;
    do
        w = waitpid(pid, &st, 0);
    while (w < 0 && errno == EINTR);
    CHECK(w == pid, "waitpid: %d %s", (int)w, strerror(errno));
    current_child = 0;
    CHECK(WIFEXITED(st), "child did not exit normally: status 0x%x", st);
    return WEXITSTATUS(st);
}

static char report[3][256];
static int os_max;
static long long fork_ms;
static long long t_start;

static void *child3_thread(void *arg) {
    int *a = arg;
    usleep((useconds_t)(10000 * (a[1] + 1)));
    char c = (char)('a' + a[1]);
    if (write(a[0], &c, 1) != 1) _exit(20);
    return NULL;
}

static void *forker(void *arg) {
    (void)arg;
    while (__atomic_load_n(&parked, __ATOMIC_SEQ_CST) < NSLEEP + NREAD)
        CHECK(usleep(1000) == 0, "usleep: %s", strerror(errno));
    CHECK(usleep(50000) == 0, "usleep: %s", strerror(errno)); /* let them really block */
    os_max = os_threads();
    CHECK(__atomic_load_n(&finished, __ATOMIC_SEQ_CST) == 0, "a parked thread finished before the forks");

    /* 1. child _exit(7) */
    int cp[2];
    CHECK(pipe(cp) == 0, "pipe: %s", strerror(errno));
    fflush(stdout);
    long long t0 = now_ms();
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(cp[0]);
        char msg[64];
        int n = snprintf(msg, sizeof msg, "child ok threads=%d", os_threads());
        if (write(cp[1], msg, (size_t)n) != n) _exit(10);
        _exit(7);
    }
    current_child = pid;
    fork_ms = now_ms() - t0;
    close(cp[1]);
    char buf[128];
    read_all(cp[0], buf, sizeof buf);
    close(cp[0]);
    int st = wait_child(pid);
    CHECK(strcmp(buf, "child ok threads=1") == 0, "child 1 wrote \"%s\"", buf);
    CHECK(st == 7, "child 1 exit status %d, want 7", st);
    snprintf(report[0], sizeof report[0], "child 1: \"%s\", exit status %d", buf, st);

    /* 2. child returns from the thread function */
    CHECK(pipe(cp) == 0, "pipe: %s", strerror(errno));
    fflush(stdout);
    pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(cp[0]);
        if (write(cp[1], "child2 ok", 9) != 9) _exit(10);
        close(cp[1]);
        return NULL; /* the last thread of the child ends: exit(0) */
    }
    current_child = pid;
    close(cp[1]);
    read_all(cp[0], buf, sizeof buf);
    close(cp[0]);
    st = wait_child(pid);
    CHECK(strcmp(buf, "child2 ok") == 0, "child 2 wrote \"%s\"", buf);
    CHECK(st == 0, "child 2 (returned from its thread function) exit status %d, want 0", st);
    snprintf(report[1], sizeof report[1], "child 2: \"%s\", returned from its thread function, exit status %d", buf,
             st);

    /* 3. child creates threads of its own */
    CHECK(pipe(cp) == 0, "pipe: %s", strerror(errno));
    fflush(stdout);
    pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(cp[0]);
        pthread_t t[3];
        int a[3][2];
        for (int i = 0; i < 3; i++) {
            a[i][0] = cp[1];
            a[i][1] = i;
            if (pthread_create(&t[i], NULL, child3_thread, a[i]) != 0) _exit(11);
        }
        for (int i = 0; i < 3; i++)
            if (pthread_join(t[i], NULL) != 0) _exit(12);
        /* Outlive the parent's sleepers: none of the parent's parked threads
         * may run in the child (their copies must not exist here). */
        long long left = t_start + 1200 - now_ms();
        if (left > 0) usleep((useconds_t)(left * 1000));
        if (__atomic_load_n(&finished, __ATOMIC_SEQ_CST) != 0) _exit(13);
        _exit(3);
    }
    current_child = pid;
    close(cp[1]);
    read_all(cp[0], buf, sizeof buf);
    close(cp[0]);
    st = wait_child(pid);
    CHECK(strcmp(buf, "abc") == 0, "child 3 threads wrote \"%s\"", buf);
    CHECK(st != 13, "child 3: a thread of the parent ran in the child");
    CHECK(st == 3, "child 3 exit status %d, want 3", st);
    snprintf(report[2], sizeof report[2], "child 3: its 3 threads wrote \"%s\", exit status %d", buf, st);

    /* release the readers */
    for (int i = 0; i < NREAD; i++) {
        char c = (char)('R' + i);
        CHECK(write(rp[i][1], &c, 1) == 1, "release reader %d: %s", i, strerror(errno));
    }
    return NULL;
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(5);
    t_start = now_ms();
    pthread_t ts[NSLEEP + NREAD], fk;
    for (int i = 0; i < NREAD; i++) CHECK(pipe(rp[i]) == 0, "pipe: %s", strerror(errno));
    for (int i = 0; i < NSLEEP; i++)
        CHECK(pthread_create(&ts[i], NULL, sleeper, (void *)(long)i) == 0, "create sleeper");
    for (int i = 0; i < NREAD; i++)
        CHECK(pthread_create(&ts[NSLEEP + i], NULL, reader, (void *)(long)i) == 0, "create reader");
    CHECK(pthread_create(&fk, NULL, forker, NULL) == 0, "create forker");
    CHECK(pthread_join(fk, NULL) == 0, "join forker");
    for (int i = 0; i < NSLEEP + NREAD; i++) CHECK(pthread_join(ts[i], NULL) == 0, "join");
    alarm(0);

    printf("fork from a thread while %d threads are parked\n", NSLEEP + NREAD);
    for (int i = 0; i < 3; i++) printf("%s\n", report[i]);
    for (int i = 0; i < NSLEEP; i++) {
        long long want = i % 2 == 0 ? 1000 : 800;
        CHECK(slept_ms[i] >= want - 10, "sleeper %d slept only %lld ms of %lld", i, slept_ms[i], want);
        CHECK(slept_ms[i] < want + 3000, "sleeper %d slept %lld ms of %lld", i, slept_ms[i], want);
        printf("sleeper %d: slept its full %lld ms\n", i, want);
    }
    for (int i = 0; i < NREAD; i++) {
        CHECK(got[i] == 'R' + i, "reader %d got '%c'", i, got[i]);
        printf("reader %d: got '%c' after the forks\n", i, got[i]);
    }
    metric("fork_ms", fork_ms);
    metric("os_threads_max", os_max);
    return 0;
}
