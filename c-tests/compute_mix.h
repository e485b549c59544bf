/* Integer and floating-point work whose result depends on every step, for the
 * preemption tests: a thread switched out in the middle whose registers, flags or
 * vector state were not restored exactly ends with another hash or sum. */
#pragma once
#include <time.h>

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
