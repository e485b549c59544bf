/* preempt: a thread that computes for 400 ms without any call beside a ticker thread
 * that sleeps 1 ms at a time. Natively the kernel time-slices them; under the shim with
 * GREENSHIM_PREEMPT the computing thread is switched out at a safe point every few ms,
 * so the ticker's worst gap stays within a few slices (METRIC worst_gap_ms), and the
 * computation's result is exact (its registers, flags and vector state survive).
 *
 * stdout: the computation's results and whether the ticker ran.
 */
#include "../common.h"
#include "../compute_mix.h"
#include <pthread.h>
#include <stdatomic.h>

static atomic_int stop;
static atomic_long ticks;

/* Integer and floating-point work whose result depends on every step. */
static void *compute(void *arg) {
    (void)arg;
    struct mix m = {1469598103934665603ULL, 0.5, 0};
    long rounds = 0;
    double t0 = now_s();
    while (rounds < 4000 || now_s() - t0 < 0.4) {
        mix_round(&m);
        rounds++;
        if (rounds == 4000) {
            printf("after 4000 rounds: hash %016llx, sum %.6f\n", m.h, m.y);
            fflush(stdout);
        }
    }
    return NULL;
}

static void *ticker(void *arg) {
    (void)arg;
    fprintf(stderr, "METRIC worst_gap_ms=%d\n", tick_until(&stop, &ticks));
    return NULL;
}

int main(void) {
    pthread_t c, t;
    CHECK(pthread_create(&t, NULL, ticker, NULL) == 0, "create");
    usleep(5000);
    CHECK(pthread_create(&c, NULL, compute, NULL) == 0, "create");
    pthread_join(c, NULL);
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("ticker ran beside the computation: %s\n", atomic_load(&ticks) > 10 ? "yes" : "no");
    return 0;
}
