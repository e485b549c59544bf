/* dlopen_ie_tls: a library with initial-exec thread-locals (c-tests/lib/ie_tls.c, path in
 * argv[1]) is dlopen'ed while 100 threads are parked; each then reads the library's
 * thread-locals (initialised values, zeroed array), writes its own values, sleeps, and
 * checks they are still its own. Main changes its own values first, and threads
 * created after the dlopen still start from the initial values. Natively glibc
 * initialises the block in every live thread; under the shim every green thread's
 * TLS copy must get it too. Then a thread dlopens a second copy of the library
 * (argv[2]) itself and reads its values at once, before anything parks. */
#include "../common.h"
#include <dlfcn.h>
#include <pthread.h>

#define THREADS 100

static long (*get_counter)(void);
static void (*set_counter)(long);
static const char *(*get_name)(void);
static void (*set_name_char)(char);
static int (*zero_sum)(void);
static void (*set_zero)(int);

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int loaded, parked;
static long bad_initial, bad_after;

static void check_thread(long id) {
    if (get_counter() != 4242 || strcmp(get_name(), "initial-exec") != 0 || zero_sum() != 0) {
        pthread_mutex_lock(&mu);
        bad_initial++;
        pthread_mutex_unlock(&mu);
    }
    set_counter(id);
    set_name_char((char)('A' + id % 26));
    set_zero((int)(id % 64));
    usleep(1000 + (id * 13) % 1000);
    if (get_counter() != id || get_name()[0] != (char)('A' + id % 26) || zero_sum() != (int)(id % 64)) {
        pthread_mutex_lock(&mu);
        bad_after++;
        pthread_mutex_unlock(&mu);
    }
}

static void *worker(void *arg) {
    pthread_mutex_lock(&mu);
    parked++;
    pthread_cond_broadcast(&cv);
    while (!loaded) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    check_thread((long)arg);
    return NULL;
}

static const char *second;
static void *opener(void *arg) {
    (void)arg;
    void *h = dlopen(second, RTLD_NOW);
    if (!h) return (void *)dlerror();
    long (*get)(void) = (long (*)(void))dlsym(h, "ie_get_counter");
    const char *(*name)(void) = (const char *(*)(void))dlsym(h, "ie_get_name");
    static char out[128];
    snprintf(out, sizeof out, "thread that dlopened the second copy sees counter=%ld name=%s", get ? get() : -99, name ? name() : "?");
    return out;
}

static void *late(void *arg) {
    check_thread((long)arg);
    return NULL;
}

int main(int argc, char **argv) {
    CHECK(argc == 3, "usage: dlopen_ie_tls LIBRARY COPY-OF-LIBRARY");
    second = argv[2];
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)(i + 1)) == 0, "create");
    pthread_mutex_lock(&mu);
    while (parked < THREADS) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    usleep(10000);

    void *h = dlopen(argv[1], RTLD_NOW);
    CHECK(h, "dlopen: %s", dlerror());
    *(void **)&get_counter = dlsym(h, "ie_get_counter");
    *(void **)&set_counter = dlsym(h, "ie_set_counter");
    *(void **)&get_name = dlsym(h, "ie_get_name");
    *(void **)&set_name_char = dlsym(h, "ie_set_name_char");
    *(void **)&zero_sum = dlsym(h, "ie_zero_sum");
    *(void **)&set_zero = dlsym(h, "ie_set_zero");
    CHECK(get_counter && set_counter && get_name && set_name_char && zero_sum && set_zero, "dlsym");
    printf("main sees counter=%ld name=%s zero_sum=%d\n", get_counter(), get_name(), zero_sum());
    set_counter(-1);
    set_name_char('m');
    set_zero(5);

    pthread_mutex_lock(&mu);
    loaded = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);

    pthread_t l[10];
    for (long i = 0; i < 10; i++) CHECK(pthread_create(&l[i], NULL, late, (void *)(1000 + i)) == 0, "create");
    metric("os_threads_max", os_threads());
    for (int i = 0; i < 10; i++) pthread_join(l[i], NULL);

    pthread_t o;
    void *msg;
    CHECK(pthread_create(&o, NULL, opener, NULL) == 0, "create");
    pthread_join(o, &msg);
    printf("%s\n", (const char *)msg);
    printf("parked threads: %d, initial values wrong in %ld, own values lost in %ld\n", THREADS, bad_initial, bad_after);
    printf("main still sees counter=%ld name=%s zero_sum=%d\n", get_counter(), get_name(), zero_sum());
    return bad_initial || bad_after;
}
