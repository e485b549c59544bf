/* Scheduling policy and priority are per thread: set through attributes (explicit
 * scheduling) or pthread_setschedparam/setschedprio, they are reported back for that
 * thread, and the main thread's own stays what it was. Out-of-range values fail with
 * EINVAL (and without privilege, EPERM) as natively.
 */
#include "../common.h"
#include <pthread.h>
#include <sched.h>

static volatile int go;

static int seen_policy, seen_priority;

static void *report_self(void *arg) {
    (void)arg;
    struct sched_param p;
    CHECK(pthread_getschedparam(pthread_self(), &seen_policy, &p) == 0, "get");
    seen_priority = p.sched_priority;
    return NULL;
}

static void *idle(void *arg) {
    (void)arg;
    while (!go) usleep(1000);
    return NULL;
}

static void show(const char *what, pthread_t t) {
    int policy;
    struct sched_param p;
    CHECK(pthread_getschedparam(t, &policy, &p) == 0, "get");
    printf("%s: policy %s priority %d\n", what, policy == SCHED_FIFO ? "FIFO" : policy == SCHED_RR ? "RR" : policy == SCHED_OTHER ? "OTHER" : "other", p.sched_priority);
}

int main(void) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&a, SCHED_FIFO);
    struct sched_param p = {.sched_priority = 10};
    pthread_attr_setschedparam(&a, &p);
    pthread_t t;
    int r = pthread_create(&t, &a, report_self, NULL);
    printf("create with SCHED_FIFO 10: %s\n", r == 0 ? "ok" : r == EPERM ? "EPERM" : strerror(r));
    if (r == 0) {
        CHECK(pthread_join(t, NULL) == 0, "join");
        printf("explicit attributes, seen by the thread: policy %s priority %d\n", seen_policy == SCHED_FIFO ? "FIFO" : "other", seen_priority);
    }

    CHECK(pthread_create(&t, NULL, idle, NULL) == 0, "create");
    p.sched_priority = 5;
    r = pthread_setschedparam(t, SCHED_RR, &p);
    printf("setschedparam RR 5: %s\n", r == 0 ? "ok" : r == EPERM ? "EPERM" : strerror(r));
    show("that thread", t);
    r = pthread_setschedprio(t, 7);
    printf("setschedprio 7: %s\n", r == 0 ? "ok" : r == EPERM ? "EPERM" : strerror(r));
    show("that thread", t);
    p.sched_priority = 1000;
    r = pthread_setschedparam(t, SCHED_FIFO, &p);
    printf("setschedparam FIFO 1000: %s\n", r == EINVAL ? "EINVAL" : r == 0 ? "ok" : strerror(r));
    show("main thread", pthread_self());
    go = 1;
    CHECK(pthread_join(t, NULL) == 0, "join");
    return 0;
}
