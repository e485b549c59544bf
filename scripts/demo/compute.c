/* Two threads compute (an integer recurrence, no system call) while main waits for
 * them. Prints "wall_ms peak_os_threads" like the other demo programs; the result is
 * checked against a single-threaded run of the same work. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STEPS 300000000L

static unsigned long work(unsigned long x) {
    for (long i = 0; i < STEPS; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}
static void *run(void *arg) { return (void *)work((unsigned long)arg); }

static int os_threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    if (f) fclose(f);
    return n;
}

int main(void) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pthread_t t[2];
    for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, run, (void *)(i + 1));
    struct timespec pause = {0, 100000000};
    nanosleep(&pause, NULL); /* let them start, then look */
    int peak = os_threads();
    void *r[2];
    for (int i = 0; i < 2; i++) pthread_join(t[i], &r[i]);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if ((unsigned long)r[0] != work(1) || (unsigned long)r[1] != work(2)) {
        fprintf(stderr, "wrong result\n");
        return 1;
    }
    printf("%ld %d\n", (long)((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000), peak);
    return 0;
}
