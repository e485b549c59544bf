/* preempt_hubs: preemption on every hub. Two tickers that sleep 1 ms at a time and
 * four threads that compute for 400 ms each without any call. With GREENSHIM_HUBS=2
 * placement puts a ticker and two computations on each hub; natively the kernel
 * time-slices them. Under GREENSHIM_PREEMPT each hub's own timer switches its
 * computations out at safe points, so both tickers' worst gaps stay within a few
 * slices (METRIC worst_gap_ms, the larger of the two) instead of the 800 ms their
 * hub's computations would take; every computation's result is exact.
 *
 * stdout: the computations' results and whether both tickers ran.
 */
#include "../common.h"
#include "../compute_mix.h"
#include <pthread.h>
#include <stdatomic.h>

static atomic_int stop;
static atomic_long ticks[2];
static int worst_ms[2];

/* Integer and floating-point work whose result depends on every step. */
static void *compute(void *arg) {
    long k = (long)arg;
    struct mix m = {1469598103934665603ULL + (unsigned long long)k, 0.5 - k * 0.01, 0};
    long rounds = 0;
    char *line = NULL;
    double t0 = now_s();
    while (rounds < 2000 || now_s() - t0 < 0.4) {
        mix_round(&m);
        rounds++;
        if (rounds == 2000) {
            /* Printed by main: the order the computations finish in is not the program's. */
            line = malloc(128);
            CHECK(line != NULL, "malloc");
            snprintf(line, 128, "computation %ld after 2000 rounds: hash %016llx, sum %.6f\n", k, m.h, m.y);
        }
    }
    return line;
}

static void *ticker(void *arg) {
    long k = (long)arg;
    worst_ms[k] = tick_until(&stop, &ticks[k]);
    return NULL;
}

int main(void) {
    pthread_t t[2], c[4];
    for (long k = 0; k < 2; k++) CHECK(pthread_create(&t[k], NULL, ticker, (void *)k) == 0, "create");
    usleep(5000);
    for (long k = 0; k < 4; k++) CHECK(pthread_create(&c[k], NULL, compute, (void *)k) == 0, "create");
    for (int k = 0; k < 4; k++) {
        void *r;
        pthread_join(c[k], &r);
        fputs(r ? (char *)r : "computation ended early\n", stdout);
        free(r);
    }
    atomic_store(&stop, 1);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    printf("both tickers ran beside the computations: %s\n", atomic_load(&ticks[0]) > 10 && atomic_load(&ticks[1]) > 10 ? "yes" : "no");
    metric("worst_gap_ms", worst_ms[0] > worst_ms[1] ? worst_ms[0] : worst_ms[1]);
    return 0;
}
