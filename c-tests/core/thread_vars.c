/* thread_vars: per-thread storage as natively. 20 threads each write their name into a
 * `static __thread char buf[64]` and add to a `static __thread long counter` around
 * usleep() calls, and check both after every sleep (1,000 checks); errno set before a
 * sleep is still the thread's own after it; an initialised __thread variable starts at
 * its initialiser in every new thread; pthread_self and the address of a __thread
 * variable differ between threads. Under the shim each green thread has TLS of its
 * own (GREENSHIM_TLS=per-green, the default); with GREENSHIM_TLS=shared they share it.
 */
#include "../common.h"
#include <pthread.h>
#include <stdint.h>

#define THREADS 20
#define ROUNDS 50

static __thread char buf[64];
static __thread long counter;
static __thread int initialised = 12345;
static long mismatches;
static uintptr_t addrs[THREADS];

static void *worker(void *arg) {
    long id = (long)arg;
    if (initialised != 12345) mismatches++;
    initialised = (int)id;
    addrs[id] = (uintptr_t)&counter;
    snprintf(buf, sizeof buf, "thread-%ld", id);
    char want[64];
    snprintf(want, sizeof want, "thread-%ld", id);
    for (int i = 0; i < ROUNDS; i++) {
        counter += id;
        errno = (int)(1000 + id);
        usleep(1000 + (id * 37) % 500);
        if (errno != 1000 + id) mismatches++;
        if (strcmp(buf, want) != 0) mismatches++;
        if (counter != id * (i + 1)) mismatches++;
        if (initialised != id) mismatches++;
    }
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0, "create");
    metric("os_threads_max", os_threads());
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    int distinct = 1;
    for (int i = 0; i < THREADS; i++)
        for (int j = i + 1; j < THREADS; j++)
            if (addrs[i] == addrs[j]) distinct = 0;
    printf("%d threads x %d rounds: %ld mismatches, distinct addresses: %s\n", THREADS, ROUNDS, mismatches,
           distinct ? "yes" : "no");
    printf("main thread's variables untouched: %s\n", counter == 0 && buf[0] == 0 && initialised == 12345 ? "yes" : "no");
    return mismatches == 0 && distinct ? 0 : 1;
}
