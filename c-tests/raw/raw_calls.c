/* raw_calls: system calls issued with the `syscall` instruction itself (as Go, static
 * code and glibc's internals do), which no symbol hook can see, by threads that other
 * threads must keep running beside:
 *   - a raw read on a pipe that another thread fills after 100 ms, while a ticker thread
 *     counts 1 ms sleeps (natively the read blocks one OS thread; under the shim with
 *     GREENSHIM_RAW=catch it parks, so the ticker and the writer run);
 *   - raw nanosleep and raw poll of 50 ms each, with the same ticker;
 *   - raw write/getpid/ppid loops whose results must be right (re-issued calls);
 *   - a SIGALRM handler (installed with sigaction, returning through libc's
 *     __restore_rt) firing every 2 ms during the raw calls: counts handled, no crash;
 *   - the program blocks SIGSYS in its mask and then makes raw calls (the shim must keep
 *     SIGSYS deliverable);
 *   - a fork child that makes a raw read on a pipe the parent fills.
 *
 * stdout: what each call returned. METRIC ticks_during_read: ticks the ticker made while
 * the raw read waited (> 0 means the other threads ran).
 */
#include "../common.h"
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "raw_syscall.h"

static atomic_long ticks;
static atomic_int stop;
static int pfd[2];

static void *ticker(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        usleep(1000);
        atomic_fetch_add(&ticks, 1);
    }
    return NULL;
}

static void *late_writer(void *arg) {
    (void)arg;
    usleep(100 * 1000);
    CHECK(write(pfd[1], "hello", 5) == 5, "write");
    return NULL;
}

static volatile sig_atomic_t alarms;
static void on_alarm(int s) {
    (void)s;
    alarms++;
}

int main(int argc, char **argv) {
    /* "nowait": skip the calls that wait for another thread (they would block every
     * green thread when the shim only reports raw calls). */
    int nowait = argc > 1 && strcmp(argv[1], "nowait") == 0;
    setvbuf(stdout, NULL, _IONBF, 0);
    pthread_t tk, wr;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create");
    CHECK(pipe(pfd) == 0, "pipe");
    char buf[16] = {0};
    long r, r2;

    if (!nowait) {
        /* 1. a raw read that waits 100 ms for another thread */
        CHECK(pthread_create(&wr, NULL, late_writer, NULL) == 0, "create");
        long t0 = atomic_load(&ticks);
        long n = RAW3(SYS_read, pfd[0], buf, sizeof buf);
        long during = atomic_load(&ticks) - t0;
        printf("raw read: %ld \"%.*s\"\n", n, n > 0 ? (int)n : 0, buf);
        fprintf(stderr, "METRIC ticks_during_read=%ld\n", during);
        pthread_join(wr, NULL);

        /* 2. raw nanosleep and poll */
        struct timespec ts = {0, 50 * 1000 * 1000};
        t0 = atomic_load(&ticks);
        r = RAW3(SYS_nanosleep, &ts, NULL, 0);
        fprintf(stderr, "METRIC ticks_during_sleep=%ld\n", atomic_load(&ticks) - t0);
        printf("raw nanosleep: %ld\n", r);
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        r = RAW3(SYS_poll, &p, 1, 50);
        printf("raw poll (nothing to read, 50 ms): %ld revents %d\n", r, p.revents);
    }

    /* 3. results of re-issued and served calls */
    long pid = RAW3(SYS_getpid, 0, 0, 0);
    printf("raw getpid matches: %s\n", pid == getpid() ? "yes" : "no");
    r = RAW3(SYS_write, pfd[1], "abc", 3);
    r2 = RAW3(SYS_read, pfd[0], buf, 3);
    printf("raw write+read: %ld %ld \"%.3s\"\n", r, r2, buf);
    r = RAW3(SYS_read, 12345, buf, 1);
    printf("raw read of a bad fd: %ld (-EBADF is %d)\n", r, -EBADF);
    errno = 0;
    RAW3(SYS_read, 12345, buf, 1);
    printf("errno after a raw call: %d\n", errno);

    /* 4. a signal handler that returns through libc's restorer, during raw calls */
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
    struct itimerval it = {{0, 2000}, {0, 2000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
    long bad = 0;
    long long until = now_ms() + 3000;
    for (int i = 0; alarms < 20 && now_ms() < until; i++) {
        if (RAW3(SYS_getppid, 0, 0, 0) != getppid()) bad++;
        if (RAW3(SYS_write, pfd[1], "z", 1) != 1 || RAW3(SYS_read, pfd[0], buf, 1) != 1) bad++;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("raw calls under a 2 ms SIGALRM: %ld wrong results, handler ran: %s\n", bad, alarms >= 20 ? "yes" : "no");

    /* 5. SIGSYS blocked by the program */
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGSYS);
    CHECK(sigprocmask(SIG_BLOCK, &m, NULL) == 0, "sigprocmask");
    r = RAW3(SYS_write, pfd[1], "q", 1);
    r2 = RAW3(SYS_read, pfd[0], buf, 1);
    printf("raw write+read with SIGSYS blocked: %ld %ld\n", r, r2);
    sigprocmask(SIG_UNBLOCK, &m, NULL);

    /* 6. a fork child's raw read */
    int cp[2];
    CHECK(pipe(cp) == 0, "pipe");
    if (nowait) CHECK(write(cp[1], "ping", 4) == 4, "write");
    pid_t c = fork();
    if (c == 0) {
        char b[8] = {0};
        long k = RAW3(SYS_read, cp[0], b, sizeof b);
        _exit(k == 4 && memcmp(b, "ping", 4) == 0 ? 0 : 3);
    }
    usleep(20 * 1000);
    if (!nowait) CHECK(write(cp[1], "ping", 4) == 4, "write");
    int st = 0;
    CHECK(waitpid(c, &st, 0) == c, "waitpid");
    printf("fork child's raw read: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    atomic_store(&stop, 1);
    pthread_join(tk, NULL);
    return 0;
}
