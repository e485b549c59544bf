/* steal_wake: main starts thread C and waits for it (under GREENSHIM_HUBS=2, C is on
 * hub 1 and hub 0 goes to sleep in epoll). C sleeps 50 ms, creates thread X — placed
 * on C's own hub, loads being equal — and then computes about a second without a call.
 * Natively X runs at once on the other CPU and ends long before C's computation. Under
 * the shim the sleeping hub 0 is woken at X's creation and takes X (hub::steal) rather
 * than X waiting for C.
 * metrics: compute_ms (C's computation), x_ms (X created to X done).
 */
#undef _GNU_SOURCE
#include "../common.h"
#include <pthread.h>

static unsigned long spin(unsigned long x, long n) {
    for (long i = 0; i < n; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}

static long compute_iters;
static long long x_done;

static void *x_thread(void *arg) {
    unsigned long x = spin((unsigned long)arg, 100000);
    x_done = now_ms();
    return (void *)(x | 1);
}

static void *c_thread(void *arg) {
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    pthread_t x;
    long long t0 = now_ms();
    CHECK(pthread_create(&x, NULL, x_thread, arg) == 0, "create X");
    unsigned long r = spin((unsigned long)arg, compute_iters);
    long long end = now_ms();
    CHECK(pthread_join(x, NULL) == 0, "join X");
    printf("X finished before C's computation ended: %s\n", x_done < end ? "yes" : "no");
    metric("compute_ms", end - t0);
    metric("x_ms", x_done - t0);
    return (void *)(r | 1);
}

int main(void) {
    long long c0 = now_ms();
    unsigned long probe = spin(1, 20000000L);
    long long took = now_ms() - c0;
    if (took < 1) took = 1;
    compute_iters = 20000000L * 1000 / took;
    pthread_t c;
    CHECK(pthread_create(&c, NULL, c_thread, (void *)probe) == 0, "create C");
    CHECK(pthread_join(c, NULL) == 0, "join C");
    return 0;
}
