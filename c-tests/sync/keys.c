/* keys: thread-specific data must follow the green thread, not the OS thread.
 * - 20 threads each set key1 to their own malloc'd value, park (usleep +
 *   sched_yield) and then still see their own value (never another's);
 * - key1's destructor runs exactly once per thread with that thread's value;
 * - key2's destructor re-sets the value on its first call, so POSIX
 *   (PTHREAD_DESTRUCTOR_ITERATIONS) requires it to run a second time;
 * - a key deleted while a thread still holds a value: pthread_key_delete
 *   returns 0 and its destructor never runs;
 * - main's own key1 value is untouched by the other threads.
 * All counts are checked by main after the joins. */
#include "../common.h"
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>

#define N 20

static pthread_key_t key1, key2, key3;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER; /* protects the counters */
static int dtor1_calls[N], dtor2_calls[N], dtor3_calls, own_value_ok, os_max;

struct val { int id; int runs; };

static void dtor1(void *p) {
    struct val *v = p;
    pthread_mutex_lock(&m);
    if (v->id >= 0 && v->id < N) dtor1_calls[v->id]++;
    pthread_mutex_unlock(&m);
    free(v);
}

static void dtor2(void *p) {
    struct val *v = p;
    pthread_mutex_lock(&m);
    dtor2_calls[v->id]++;
    pthread_mutex_unlock(&m);
    if (++v->runs == 1) CHECK(pthread_setspecific(key2, v) == 0, "re-set in destructor");
    else free(v);
}

static void dtor3(void *p) {
    (void)p;
    pthread_mutex_lock(&m);
    dtor3_calls++;
    pthread_mutex_unlock(&m);
}

static void *worker(void *arg) {
    int id = (int)(long)arg;
    CHECK(pthread_getspecific(key1) == NULL, "fresh thread %d sees non-NULL key1", id);
    struct val *v1 = malloc(sizeof *v1), *v2 = malloc(sizeof *v2);
    CHECK(v1 && v2, "malloc");
    *v1 = (struct val){id, 0};
    *v2 = (struct val){id, 0};
    CHECK(pthread_setspecific(key1, v1) == 0, "setspecific key1");
    CHECK(pthread_setspecific(key2, v2) == 0, "setspecific key2");
    usleep(1000 * (N - id)); /* park; others set their values meanwhile */
    int n = os_threads();
    sched_yield();
    struct val *g1 = pthread_getspecific(key1), *g2 = pthread_getspecific(key2);
    pthread_mutex_lock(&m);
    if (g1 == v1 && g1->id == id && g2 == v2 && g2->id == id) own_value_ok++;
    if (n > os_max) os_max = n;
    pthread_mutex_unlock(&m);
    return NULL;
}

static sem_t set3, deleted3;

static void *key3_holder(void *arg) {
    (void)arg;
    CHECK(pthread_setspecific(key3, &key3) == 0, "setspecific key3");
    sem_post(&set3);
    while (sem_wait(&deleted3) != 0) CHECK(errno == EINTR, "sem_wait");
    return NULL;
}

int main(void) {
    pthread_t t[N];
    long long t0 = now_ms();
    struct val main_val = {-1, 0};

    CHECK(pthread_key_create(&key1, dtor1) == 0, "key_create 1");
    CHECK(pthread_key_create(&key2, dtor2) == 0, "key_create 2");
    CHECK(pthread_key_create(&key3, dtor3) == 0, "key_create 3");
    CHECK(pthread_setspecific(key1, &main_val) == 0, "main setspecific");

    for (long i = 0; i < N; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0, "create");
    for (int i = 0; i < N; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");

    CHECK(own_value_ok == N, "%d of %d threads saw their own values", own_value_ok, N);
    printf("%d threads saw their own key values after parking\n", own_value_ok);
    int total1 = 0, total2 = 0;
    for (int i = 0; i < N; i++) {
        CHECK(dtor1_calls[i] == 1, "key1 destructor for thread %d ran %d times", i, dtor1_calls[i]);
        CHECK(dtor2_calls[i] == 2, "key2 destructor for thread %d ran %d times", i, dtor2_calls[i]);
        total1 += dtor1_calls[i];
        total2 += dtor2_calls[i];
    }
    printf("key1 destructor: %d calls, once per thread with its own value\n", total1);
    printf("key2 destructor re-setting its value: %d calls, twice per thread\n", total2);

    pthread_t h;
    sem_init(&set3, 0, 0);
    sem_init(&deleted3, 0, 0);
    CHECK(pthread_create(&h, NULL, key3_holder, NULL) == 0, "create");
    while (sem_wait(&set3) != 0) CHECK(errno == EINTR, "sem_wait");
    int rc = pthread_key_delete(key3);
    CHECK(rc == 0, "key_delete rc %d", rc);
    sem_post(&deleted3);
    CHECK(pthread_join(h, NULL) == 0, "join");
    CHECK(dtor3_calls == 0, "deleted key's destructor ran %d times", dtor3_calls);
    printf("pthread_key_delete: %d, destructor calls after delete: %d\n", rc, dtor3_calls);

    CHECK(pthread_getspecific(key1) == &main_val && main_val.id == -1, "main's key1 value changed");
    CHECK(pthread_getspecific(key2) == NULL, "main's key2 value not NULL");
    printf("main's own values unaffected\n");
    CHECK(pthread_setspecific(key1, NULL) == 0, "clear main value");
    CHECK(pthread_key_delete(key1) == 0 && pthread_key_delete(key2) == 0, "key_delete");

    metric("os_threads_max", os_max);
    metric("wall_ms", now_ms() - t0);
    return 0;
}
