/* preempt_alone: timed waits that the kernel does not restart after a signal handler
 * (a pshared sem_timedwait, raw nanosleep, poll, select, epoll_wait and a shared futex
 * wait with a timeout) made by the main thread while it is the program's only thread:
 * first before any thread exists, then after a thread has computed for a while and
 * ended. Natively each times out (or sleeps) in full. Under GREENSHIM_PREEMPT the
 * shim makes such calls inline (nobody else can run), and a preemption tick landing
 * in one would end it early with EINTR: the ticks must stop while main is alone.
 *
 * stdout: each call's result and errno name.
 */
#include "../common.h"
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include "raw_syscall.h"

static const char *ename(int e) {
    switch (e) {
    case 0: return "0";
    case EINTR: return "EINTR";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EAGAIN: return "EAGAIN";
    default: return "other";
    }
}

static void report(const char *what, long r, int e) {
    printf("  %-28s %ld %s\n", what, r, r < 0 ? ename(e) : "");
}

static void round_of_waits(const char *when, sem_t *sem, unsigned *word, int ep) {
    printf("%s:\n", when);
    for (int rep = 0; rep < 3; rep++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 40 * 1000000;
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        errno = 0;
        long r = sem_timedwait(sem, &ts);
        if (rep == 0) report("sem_timedwait (pshared)", r, errno);
        else if (r != -1 || errno != ETIMEDOUT) report("sem_timedwait again", r, errno);

        struct timespec d = {0, 40 * 1000000};
        r = RAW3(SYS_nanosleep, &d, NULL, 0);
        if (rep == 0 || r != 0) report("raw nanosleep", r < 0 ? -1 : r, (int)-r);

        r = RAW3(SYS_poll, NULL, 0, 40);
        if (rep == 0 || r != 0) report("raw poll", r < 0 ? -1 : r, (int)-r);

        struct timeval tv = {0, 40000};
        errno = 0;
        r = select(0, NULL, NULL, NULL, &tv);
        if (rep == 0 || r != 0) report("select", r, errno);

        struct epoll_event ev;
        errno = 0;
        r = epoll_wait(ep, &ev, 1, 40);
        if (rep == 0 || r != 0) report("epoll_wait", r, errno);

        struct timespec rel = {0, 40 * 1000000};
        r = raw6(SYS_futex, (long)word, FUTEX_WAIT, 0, (long)&rel, 0, 0);
        if (rep == 0 || r != -ETIMEDOUT) report("raw futex wait (shared)", r < 0 ? -1 : r, (int)-r);
    }
}

static void *compute(void *arg) {
    (void)arg;
    volatile unsigned long x = 1;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do {
        for (int i = 0; i < 100000; i++) x = x * 6364136223846793005UL + 1;
        clock_gettime(CLOCK_MONOTONIC, &b);
    } while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 30);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    sem_t *sem = mmap(NULL, sizeof(sem_t) + 64, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sem != MAP_FAILED, "mmap");
    CHECK(sem_init(sem, 1, 0) == 0, "sem_init");
    unsigned *word = (unsigned *)(sem + 1);
    int ep = epoll_create1(0);
    CHECK(ep >= 0, "epoll_create1");
    round_of_waits("before any thread", sem, word, ep);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, compute, NULL) == 0, "create");
    pthread_join(t, NULL);
    round_of_waits("after a thread ended", sem, word, ep);
    return 0;
}
