/* deadlock: main holds a mutex and joins a thread that waits for that mutex. Nothing
 * can ever wake either of them; natively the process just hangs. Under the shim the
 * same happens, but stderr first reports which thread waits on what (like gevent's
 * LoopExit). An alarm ends the process after 2 s either way (SIGALRM, default action).
 */
#include "../common.h"
#include <pthread.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static void *locker(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
    return NULL;
}

int main(void) {
    alarm(2);
    pthread_t t;
    pthread_mutex_lock(&m);
    CHECK(pthread_create(&t, NULL, locker, NULL) == 0, "create");
    pthread_join(t, NULL);
    fprintf(stderr, "FAIL: the deadlock resolved itself\n");
    return 1;
}
