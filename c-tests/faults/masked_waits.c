/* ppoll, pselect, epoll_pwait and epoll_pwait2 with a signal mask wait without
 * stopping the other threads (another thread's write ends a 3 s wait at once), and the
 * mask decides which signals interrupt them: a pending signal the mask unblocks
 * interrupts at once (EINTR), one it blocks waits until the call returns.
 */
#include "../common.h"
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/time.h>

static int pfd[2];
static volatile sig_atomic_t usr1, alrm;
static void on_usr1(int s) { (void)s; usr1++; }
static void on_alrm(int s) { (void)s; alrm++; }

static void *writer(void *arg) {
    (void)arg;
    usleep(100 * 1000);
    CHECK(write(pfd[1], "x", 1) == 1, "write");
    return NULL;
}

enum { PPOLL, PSELECT, EPOLL_PWAIT, EPOLL_PWAIT2 };
static const char *names[] = {"ppoll", "pselect", "epoll_pwait", "epoll_pwait2"};

/* One masked wait for pfd[0] readable, timeout in ms. */
static int masked_wait(int how, int ms, const sigset_t *mask) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    switch (how) {
    case PPOLL: {
        struct pollfd p = {pfd[0], POLLIN, 0};
        return ppoll(&p, 1, &ts, mask);
    }
    case PSELECT: {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(pfd[0], &r);
        return pselect(pfd[0] + 1, &r, NULL, NULL, &ts, mask);
    }
    default: {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = pfd[0]};
        CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev) == 0, "epoll_ctl");
        int r = how == EPOLL_PWAIT ? epoll_pwait(ep, &ev, 1, ms, mask) : epoll_pwait2(ep, &ev, 1, &ts, mask);
        int e = errno;
        close(ep);
        errno = e;
        return r;
    }
    }
}

static void *in_thread(void *arg) {
    int how = (int)(long)arg;
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR2);
    long long t0 = now_ms();
    int r = masked_wait(how, 3000, &m);
    CHECK(r == 1, "%s in a thread: %d (%s)", names[how], r, strerror(errno));
    CHECK(now_ms() - t0 < 2000, "%s in a thread waited %lld ms", names[how], now_ms() - t0);
    return NULL;
}

int main(void) {
    signal(SIGUSR1, on_usr1);
    signal(SIGALRM, on_alrm);
    for (int how = 0; how < 4; how++) {
        sigset_t m, cur;
        /* 1: other threads keep running. */
        CHECK(pipe(pfd) == 0, "pipe");
        pthread_t t;
        CHECK(pthread_create(&t, NULL, writer, NULL) == 0, "create");
        sigemptyset(&m);
        sigaddset(&m, SIGUSR2);
        long long t0 = now_ms();
        int r = masked_wait(how, 3000, &m);
        long long took = now_ms() - t0;
        CHECK(pthread_join(t, NULL) == 0, "join");
        printf("%-13s another thread's write: %d ready%s\n", names[how], r, took < 2000 ? "" : " (after the whole timeout)");
        close(pfd[0]);
        close(pfd[1]);

        /* 2: the same from a thread other than main. */
        CHECK(pipe(pfd) == 0, "pipe");
        pthread_t w, u;
        CHECK(pthread_create(&u, NULL, in_thread, (void *)(long)how) == 0, "create");
        CHECK(pthread_create(&w, NULL, writer, NULL) == 0, "create");
        CHECK(pthread_join(u, NULL) == 0 && pthread_join(w, NULL) == 0, "join");
        close(pfd[0]);
        close(pfd[1]);

        /* 3: a pending SIGUSR1 that the mask unblocks interrupts the wait. */
        CHECK(pipe(pfd) == 0, "pipe");
        sigemptyset(&m);
        sigaddset(&m, SIGUSR1);
        CHECK(sigprocmask(SIG_BLOCK, &m, NULL) == 0, "block");
        raise(SIGUSR1);
        CHECK(usr1 == 0, "blocked SIGUSR1 ran");
        sigemptyset(&m);
        errno = 0;
        r = masked_wait(how, 2000, &m);
        printf("%-13s pending signal the mask unblocks: %d %s, handler ran %d\n", names[how], r, r < 0 ? strerror(errno) : "", (int)usr1);
        CHECK(sigprocmask(SIG_BLOCK, NULL, &cur) == 0, "mask");
        printf("%-13s mask restored: %s\n", names[how], sigismember(&cur, SIGUSR1) ? "yes" : "no");
        sigaddset(&m, SIGUSR1);
        CHECK(sigprocmask(SIG_UNBLOCK, &m, NULL) == 0, "unblock");
        usr1 = 0;

        /* 4: a signal the mask blocks does not interrupt; it runs after the call. */
        sigemptyset(&m);
        sigaddset(&m, SIGALRM);
        alrm = 0;
        struct itimerval it = {{0, 0}, {0, 50 * 1000}};
        CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
        r = masked_wait(how, 300, &m);
        /* The handler runs when the call restores the mask, before it returns. */
        printf("%-13s signal the mask blocks: %d, then the handler ran %d\n", names[how], r, (int)alrm);
        close(pfd[0]);
        close(pfd[1]);
    }
    return 0;
}
