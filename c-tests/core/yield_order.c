/* yield_order: the gevent.sleep(0) example with sched_yield().
 *
 * Why: under greenshim sched_yield() must switch to the next runnable green
 * thread, so two threads that yield after each step strictly alternate.
 * foo and bar each loop 3 times, appending "foo<i>"/"bar<i>" to a shared
 * mutex-protected log and calling sched_yield() after every step.
 * Natively the interleaving is up to the kernel, so stdout only says
 * "done"; the order goes to stderr as one line, which the harness checks
 * (under the shim only) against "ORDER foo0 bar0 foo1 bar1 foo2 bar2".
 * Self-checks (both ways): 6 entries, each thread's own entries in order.
 *
 * stdout: "done\n"
 * stderr: "ORDER <6 entries>\n"
 * metrics: os_threads_max (main, after creating both threads), wall_ms.
 */
#undef _GNU_SOURCE /* common.h defines it; avoid a redefinition warning */
#include "../common.h"
#include <pthread.h>
#include <sched.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char order[6][16];
static int n;

static void *worker(void *arg) {
    const char *name = arg;
    for (int i = 0; i < 3; i++) {
        pthread_mutex_lock(&mu);
        snprintf(order[n++], sizeof order[0], "%s%d", name, i);
        pthread_mutex_unlock(&mu);
        sched_yield();
    }
    return NULL;
}

int main(void) {
    long long t0 = now_ms();
    pthread_t foo, bar;
    CHECK(pthread_create(&foo, NULL, worker, "foo") == 0, "create foo");
    CHECK(pthread_create(&bar, NULL, worker, "bar") == 0, "create bar");
    metric("os_threads_max", os_threads());
    CHECK(pthread_join(foo, NULL) == 0 && pthread_join(bar, NULL) == 0, "join");
    metric("wall_ms", now_ms() - t0);

    fprintf(stderr, "ORDER");
    for (int i = 0; i < n; i++) fprintf(stderr, " %s", order[i]);
    fprintf(stderr, "\n");
    CHECK(n == 6, "%d entries", n);
    int next_foo = 0, next_bar = 0;
    for (int i = 0; i < 6; i++) {
        char want[16];
        int is_foo = order[i][0] == 'f';
        snprintf(want, sizeof want, "%s%d", is_foo ? "foo" : "bar", is_foo ? next_foo++ : next_bar++);
        CHECK(strcmp(order[i], want) == 0, "entry %d is %s, want %s", i, order[i], want);
    }
    printf("done\n");
    return 0;
}
