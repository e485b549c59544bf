/* A stack given with pthread_attr_setstack is the one the thread runs on (programs put
 * guard pages or data next to it on purpose), and pthread_getattr_np reports it.
 */
#include "../common.h"
#include <pthread.h>
#include <sys/mman.h>

#define SIZE (256 * 1024)
static char *region;

static void *where(void *arg) {
    (void)arg;
    char local;
    pthread_attr_t a;
    void *addr;
    size_t size;
    CHECK(pthread_getattr_np(pthread_self(), &a) == 0, "getattr");
    CHECK(pthread_attr_getstack(&a, &addr, &size) == 0, "getstack");
    pthread_attr_destroy(&a);
    printf("thread runs on the given stack: %s\n", &local >= region && &local < region + SIZE ? "yes" : "no");
    printf("pthread_getattr_np reports it: %s\n", (char *)addr == region && size == SIZE ? "yes" : "no");
    return NULL;
}

int main(void) {
    /* A PROT_NONE page below the stack, as programs with their own guard do. */
    char *m = mmap(NULL, SIZE + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED, "mmap");
    CHECK(mprotect(m, 4096, PROT_NONE) == 0, "mprotect");
    region = m + 4096;
    pthread_attr_t a;
    pthread_attr_init(&a);
    CHECK(pthread_attr_setstack(&a, region, SIZE) == 0, "setstack");
    for (int i = 0; i < 3; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, &a, where, NULL) == 0, "create");
        CHECK(pthread_join(t, NULL) == 0, "join");
    }
    pthread_attr_destroy(&a);
    return 0;
}
