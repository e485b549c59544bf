/* The gevent tutorial's first example, as plain C threads: three tasks that each
 * sleep 1 s. Sequentially 3 s; in threads 1 s. Prints "<ms> <peak OS threads>". */
#include "../../c-tests/common.h"
#include <pthread.h>

static int peak;
static void *task(void *arg) {
    (void)arg;
    int n = os_threads();
    if (n > peak) peak = n;
    sleep(1);
    return NULL;
}

int main(int argc, char **argv) {
    int seq = argc > 1 && strcmp(argv[1], "seq") == 0;
    long long t0 = now_ms();
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        if (seq) task(NULL);
        else pthread_create(&t[i], NULL, task, NULL);
    }
    if (!seq)
        for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    printf("%lld %d\n", now_ms() - t0, peak);
    return 0;
}
