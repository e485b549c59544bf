/* robust_condvar: a condvar ping-pong between two threads (one per hub under
 * GREENSHIM_HUBS=2) whose mutex is robust, then process-shared (mutexes the shim
 * leaves to glibc) while the condvar is private (the shim's): 20,000 turns each. The
 * waiter must be queued on the condvar before the mutex is released, or a thread on the
 * other hub can take the mutex and signal in between, and the turn is lost: a hang (the
 * test's timeout ends it).
 *
 * stdout: the turns each pair completed.
 */
#include "../common.h"
#include <pthread.h>

static pthread_mutex_t mu;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn;
static const int ROUNDS = 20000;

static void *player(void *arg) {
    int me = (int)(long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_mutex_lock(&mu) == 0, "lock");
        while (turn != me) CHECK(pthread_cond_wait(&cv, &mu) == 0, "wait");
        turn = !me;
        CHECK(pthread_cond_signal(&cv) == 0, "signal");
        CHECK(pthread_mutex_unlock(&mu) == 0, "unlock");
    }
    return NULL;
}

static void play(const char *what, int robust, int shared) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    if (robust) pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (shared) pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    CHECK(pthread_mutex_init(&mu, &a) == 0, "init");
    turn = 0;
    pthread_t t[2];
    for (long k = 0; k < 2; k++) CHECK(pthread_create(&t[k], NULL, player, (void *)k) == 0, "create");
    for (int k = 0; k < 2; k++) CHECK(pthread_join(t[k], NULL) == 0, "join");
    pthread_mutex_destroy(&mu);
    printf("%s mutex, private condvar: %d turns each\n", what, ROUNDS);
}

int main(void) {
    play("robust", 1, 0);
    play("process-shared", 0, 1);
    return 0;
}
