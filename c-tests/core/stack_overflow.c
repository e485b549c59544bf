/* stack_overflow: unbounded recursion in a thread must crash with SIGSEGV, as natively;
 * under the shim stderr also says it was a green stack overflow and how to raise the
 * stack size (GREENSHIM_STACK_SIZE / pthread_attr_setstacksize). Shim-only check.
 */
#include "../common.h"
#include <pthread.h>

static volatile int limit = 1 << 30; /* never reached: the stack runs out first */

static int depth(volatile char *prev, int n) {
    volatile char frame[512];
    frame[0] = (char)n;
    frame[511] = prev ? prev[0] : 0;
    if (n >= limit) return frame[0];
    return depth(frame, n + 1) + frame[100];
}

static void *recurse(void *arg) {
    (void)arg;
    return (void *)(long)depth(NULL, 0);
}

int main(void) {
    pthread_attr_t a;
    pthread_t t;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 128 * 1024);
    CHECK(pthread_create(&t, &a, recurse, NULL) == 0, "create");
    pthread_join(t, NULL);
    fprintf(stderr, "FAIL: recursion returned\n");
    return 1;
}
