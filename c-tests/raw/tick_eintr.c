/* tick_eintr: a thread that alternates computing (3 to 7 ms, no call) with raw timed
 * waits that the kernel never restarts after a signal handler (nanosleep, poll,
 * epoll_wait and a futex wait with a timeout, each made with the `syscall`
 * instruction, so no hook sees them), beside two threads that compute throughout.
 * Preemption's ticks must not end those waits with EINTR: natively nothing does.
 * Under the shim without the raw layer, the waits block their hub; a tick is sent only
 * to a hub thread that is running, and a wait entered just as a tick arrives is the
 * one way left for it to fail (counted in the stats as "system calls a tick ended
 * with EINTR").
 *
 * stdout: how many waits were made and how many failed with EINTR.
 */
#include "../common.h"
#include "../compute_mix.h"
#include "raw_syscall.h"
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

static atomic_int stop;

static void *compute(void *arg) {
    (void)arg;
    struct mix m = {1469598103934665603ULL, 0.5, 0};
    while (!atomic_load(&stop)) mix_round(&m);
    return NULL;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    pthread_t c[2];
    for (int k = 0; k < 2; k++) CHECK(pthread_create(&c[k], NULL, compute, NULL) == 0, "create");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1");
    static int word;
    unsigned seed = 12345;
    int made = 0, eintr = 0, other = 0;
    for (int i = 0; i < rounds; i++) {
        /* Compute for 3 to 7 ms: around a preemption period, so waits begin at every
         * phase of the ticks. */
        seed = seed * 1103515245 + 12345;
        double until = now_s() + 0.003 + (seed >> 16) % 4000 * 1e-6;
        struct mix m = {seed, 0.25, 0};
        while (now_s() < until) mix_round(&m);
        long r;
        struct timespec ts = {0, 1000000};
        switch (i % 4) {
        case 0: r = RAW3(SYS_nanosleep, &ts, 0, 0); break;
        case 1: r = RAW3(SYS_poll, 0, 0, 1); break;
        case 2: {
            struct epoll_event ev;
            r = raw6(SYS_epoll_wait, ep, (long)&ev, 1, 1, 0, 0);
            break;
        }
        default: r = raw6(SYS_futex, (long)&word, FUTEX_WAIT_PRIVATE, 0, (long)&ts, 0, 0); break;
        }
        made++;
        if (r == -EINTR) eintr++;
        else if (r < 0 && r != -ETIMEDOUT) other++;
    }
    atomic_store(&stop, 1);
    for (int k = 0; k < 2; k++) pthread_join(c[k], NULL);
    printf("raw timed waits made: %d, ended by EINTR: %d, other errors: %d\n", made, eintr, other);
    return 0;
}
