/* stats_known: a program whose scheduling counts are known, for GREENSHIM_STATS:
 * 7 threads are created and all alive at once (each sleeps 50 ms once), main joins
 * them (7 joins). */
#include "../common.h"
#include <pthread.h>

static void *nap(void *arg) {
    (void)arg;
    usleep(50000);
    return NULL;
}

int main(void) {
    pthread_t t[7];
    for (int i = 0; i < 7; i++) CHECK(pthread_create(&t[i], NULL, nap, NULL) == 0, "create");
    metric("os_threads_max", os_threads());
    for (int i = 0; i < 7; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    printf("7 threads joined\n");
    return 0;
}
