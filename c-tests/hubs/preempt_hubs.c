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
#include <pthread.h>
#include <stdatomic.h>

static atomic_int stop;
static atomic_long ticks[2];
static int worst_ms[2];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Integer and floating-point work whose result depends on every step. */
static void *compute(void *arg) {
    long k = (long)arg;
    unsigned long long h = 1469598103934665603ULL + (unsigned long long)k;
    double x = 0.5 - k * 0.01, y = 0;
    long rounds = 0;
    char *line = NULL;
    double t0 = now_s();
    while (rounds < 2000 || now_s() - t0 < 0.4) {
        for (int i = 0; i < 20000; i++) {
            h = (h ^ (unsigned long long)i) * 1099511628211ULL;
            x = x * 3.7 * (1.0 - x);
            y += x;
        }
        rounds++;
        if (rounds == 2000) {
            /* Printed by main: the order the computations finish in is not the program's. */
            line = malloc(128);
            CHECK(line != NULL, "malloc");
            snprintf(line, 128, "computation %ld after 2000 rounds: hash %016llx, sum %.6f\n", k, h, y);
        }
    }
    return line;
}

static void *ticker(void *arg) {
    long k = (long)arg;
    double worst = 0, t = now_s();
    while (!atomic_load(&stop)) {
        usleep(1000);
        double u = now_s();
        if (u - t > worst) worst = u - t;
        t = u;
        atomic_fetch_add(&ticks[k], 1);
    }
    worst_ms[k] = (int)(worst * 1000);
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
