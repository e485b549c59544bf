/* Clock and select edge cases: a sleep on the process CPU clock ends when the other
 * threads have burnt that much CPU; the thread CPU clock is refused (EINVAL); select
 * carries tv_usec >= 1000000 into seconds and clamps nfds above FD_SETSIZE, as Linux.
 */
#include "../common.h"
#include <pthread.h>
#include <sys/select.h>

static volatile int stop;
static int pfd[2];

static void *burn(void *arg) {
    (void)arg;
    /* Green threads are not preempted: the burner yields now and then, as any
     * thread that also does I/O would. */
    volatile unsigned long x = 0;
    while (!stop)
        if (++x % 100000 == 0) sched_yield();
    return NULL;
}

static void *writer(void *arg) {
    (void)arg;
    usleep(50 * 1000);
    CHECK(write(pfd[1], "x", 1) == 1, "write");
    return NULL;
}

static int select_read(int nfds, long sec, long usec) {
    fd_set r;
    FD_ZERO(&r);
    FD_SET(pfd[0], &r);
    struct timeval tv = {sec, usec};
    int n = select(nfds, &r, NULL, NULL, &tv);
    return n < 0 ? -errno : n;
}

int main(void) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, burn, NULL) == 0, "create");
    struct timespec ts = {0, 50 * 1000 * 1000};
    long long t0 = now_ms();
    int r = clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &ts, NULL);
    printf("clock_nanosleep(PROCESS_CPUTIME, 50 ms): %d\n", r);
    struct timespec now;
    CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now) == 0, "gettime");
    now.tv_nsec += 30 * 1000 * 1000;
    if (now.tv_nsec >= 1000000000) now.tv_sec++, now.tv_nsec -= 1000000000;
    r = clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, TIMER_ABSTIME, &now, NULL);
    printf("clock_nanosleep(PROCESS_CPUTIME, absolute): %d\n", r);
    clockid_t own;
    CHECK(clock_getcpuclockid(0, &own) == 0, "getcpuclockid");
    r = clock_nanosleep(own, 0, &ts, NULL);
    printf("clock_nanosleep(clock_getcpuclockid(0)): %d\n", r);
    metric("cpu_sleeps_ms", now_ms() - t0);
    stop = 1;
    CHECK(pthread_join(t, NULL) == 0, "join");
    r = clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ts, NULL);
    printf("clock_nanosleep(THREAD_CPUTIME): %s\n", r == EINVAL ? "EINVAL" : strerror(r));

    CHECK(pipe(pfd) == 0, "pipe");
    CHECK(pthread_create(&t, NULL, writer, NULL) == 0, "create");
    printf("select tv_usec=2000000: %d\n", select_read(pfd[0] + 1, 0, 2000000));
    CHECK(pthread_join(t, NULL) == 0, "join");
    char c;
    CHECK(read(pfd[0], &c, 1) == 1, "read");
    CHECK(pthread_create(&t, NULL, writer, NULL) == 0, "create");
    printf("select nfds=5000: %d\n", select_read(5000, 2, 0));
    CHECK(pthread_join(t, NULL) == 0, "join");
    printf("select tv_usec=-1: %s\n", select_read(pfd[0] + 1, 0, -1) == -EINVAL ? "EINVAL" : "other");
    printf("select tv_sec=-1: %s\n", select_read(pfd[0] + 1, -1, 0) == -EINVAL ? "EINVAL" : "other");
    printf("select nfds=-1: %s\n", select_read(-1, 0, 0) == -EINVAL ? "EINVAL" : "other");
    return 0;
}
