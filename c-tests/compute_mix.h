/* The preemption tests' two parts: integer and floating-point work whose result
 * depends on every step (a thread switched out in the middle whose registers, flags or
 * vector state were not restored exactly ends with another hash or sum), and a ticker
 * that sleeps 1 ms at a time and measures its worst gap. */
#pragma once
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

struct mix {
    unsigned long long h;
    double x, y;
};

/* 20,000 steps of an FNV-style hash and a summed logistic map. */
static inline void mix_round(struct mix *m) {
    unsigned long long h = m->h;
    double x = m->x, y = m->y;
    for (int i = 0; i < 20000; i++) {
        h = (h ^ (unsigned long long)i) * 1099511628211ULL;
        x = x * 3.7 * (1.0 - x);
        y += x;
    }
    m->h = h, m->x = x, m->y = y;
}

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Ticks (1 ms sleeps, counted in *ticks) until *stop; returns the worst gap in ms. */
static inline int tick_until(atomic_int *stop, atomic_long *ticks) {
    double worst = 0, t = now_s();
    while (!atomic_load(stop)) {
        usleep(1000);
        double u = now_s();
        if (u - t > worst) worst = u - t;
        t = u;
        atomic_fetch_add(ticks, 1);
    }
    return (int)(worst * 1000);
}
