/* compute: N threads (argv[1], default 2) each run a fixed integer recurrence that
 * never makes a system call, then main joins them and prints the combined result.
 * Under GREENSHIM_HUBS=2 the threads spread over both hubs' OS threads and run side
 * by side (bench/ measures the wall time; here only the result and placement count).
 * metrics: wall_ms.
 */
#undef _GNU_SOURCE
#include "../common.h"
#include <pthread.h>

static void *work(void *arg) {
    unsigned long x = (unsigned long)arg + 1;
    for (long i = 0; i < 50000000L; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    return (void *)x;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2;
    if (n < 1 || n > 64) n = 2;
    pthread_t t[64];
    long long t0 = now_ms();
    for (int i = 0; i < n; i++) CHECK(pthread_create(&t[i], NULL, work, (void *)(long)i) == 0, "create");
    unsigned long s = 0;
    for (int i = 0; i < n; i++) {
        void *r;
        pthread_join(t[i], &r);
        s ^= (unsigned long)r;
    }
    printf("%d threads: %lx\n", n, s);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
