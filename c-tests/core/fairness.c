/* fairness: a thread whose fd is always ready (a pipe it writes and reads itself) must
 * not starve a thread waiting for a 20 ms timer: under the shim, the I/O loop is sent
 * to the back of the queue after a budget of non-blocking operations and the hub
 * fires due timers first (gevent's pywsgi lacks this and starves connections).
 */
#include "../common.h"
#include <pthread.h>

static volatile int woke;

static void *sleeper(void *arg) {
    (void)arg;
    usleep(20000);
    woke = 1;
    return NULL;
}

int main(void) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, sleeper, NULL) == 0, "create");
    usleep(1000); /* let the sleeper start its sleep */
    metric("os_threads_max", os_threads());
    long long t0 = now_ms();
    char c = 'x';
    long ops = 0;
    while (!woke && now_ms() - t0 < 5000) {
        CHECK(write(p[1], &c, 1) == 1 && read(p[0], &c, 1) == 1, "pipe io");
        ops++;
    }
    long long ms = now_ms() - t0;
    CHECK(woke, "the sleeper did not wake within 5 s of busy I/O (%ld ops)", ops);
    CHECK(ms < 1000, "the sleeper woke only after %lld ms", ms);
    metric("wake_ms", ms);
    pthread_join(t, NULL);
    printf("sleeper woke while the I/O loop ran\n");
    return 0;
}
