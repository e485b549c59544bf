/* old_condvar: a binary linked against glibc's old condvar ABI (pthread_cond_*@GLIBC_2.2.5,
 * as programs built before glibc 2.3.2 are) ping-pongs 1000 times with another thread.
 * Under the shim the unversioned hooks must serve these references too, or the old
 * glibc implementation would block the only OS thread.
 */
#include "../common.h"
#include <pthread.h>

__asm__(".symver pthread_cond_wait,pthread_cond_wait@GLIBC_2.2.5");
__asm__(".symver pthread_cond_signal,pthread_cond_signal@GLIBC_2.2.5");
__asm__(".symver pthread_cond_init,pthread_cond_init@GLIBC_2.2.5");

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c;
static int ready, n, peak;

static void *partner(void *arg) {
    (void)arg;
    peak = os_threads();
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&m);
        while (!ready) pthread_cond_wait(&c, &m);
        ready = 0;
        n++;
        pthread_cond_signal(&c);
        pthread_mutex_unlock(&m);
    }
    return NULL;
}

int main(void) {
    CHECK(pthread_cond_init(&c, NULL) == 0, "init");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, partner, NULL) == 0, "create");
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&m);
        ready = 1;
        pthread_cond_signal(&c);
        while (ready) pthread_cond_wait(&c, &m);
        pthread_mutex_unlock(&m);
    }
    pthread_join(t, NULL);
    metric("os_threads_max", peak);
    CHECK(n == 1000, "n=%d", n);
    printf("1000 round trips through the GLIBC_2.2.5 condvar ABI\n");
    return 0;
}
