/* Memory stays flat: (1) 100k poll round trips between two threads with a 60 s
 * timeout each (every wait ends at once; its timer must not linger until the
 * deadline); (2) 300 threads with 512 KiB stacks that each touch 400 KiB, all joined:
 * the stacks' pages go back to the kernel. RSS growth is printed as METRIC and
 * checked against generous bounds (natively: well under 1 MiB and 2 MiB).
 */
#include "../common.h"
#include <poll.h>
#include <pthread.h>

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &v) == 1) break;
    if (f) fclose(f);
    return v;
}

static int ab[2], ba[2];
static int rounds;

static void wait_in(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, 60000) == 1, "poll");
    char c;
    CHECK(read(fd, &c, 1) == 1, "read");
}

static void *echo(void *arg) {
    (void)arg;
    for (int i = 0; i < rounds; i++) {
        wait_in(ab[0]);
        CHECK(write(ba[1], "y", 1) == 1, "write");
    }
    return NULL;
}

static void *toucher(void *arg) {
    (void)arg;
    volatile char buf[400 * 1024];
    memset((char *)buf, 1, sizeof buf);
    return (void *)(long)buf[12345];
}

static void round_trips(int n) {
    rounds = n;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, echo, NULL) == 0, "create");
    for (int i = 0; i < n; i++) {
        CHECK(write(ab[1], "x", 1) == 1, "write");
        wait_in(ba[0]);
    }
    CHECK(pthread_join(t, NULL) == 0, "join");
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    CHECK(pipe(ab) == 0 && pipe(ba) == 0, "pipe");
    round_trips(5000); /* warm-up */
    long before = rss_kib();
    round_trips(n);
    long grew = rss_kib() - before;
    metric("poll_round_trips_rss_growth_kib", grew);
    printf("%d poll round trips with 60 s timeouts: memory flat: %s\n", n, grew < 2048 ? "yes" : "no");

    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 512 * 1024);
    pthread_t t[300];
    before = rss_kib();
    for (int i = 0; i < 300; i++) CHECK(pthread_create(&t[i], &a, toucher, NULL) == 0, "create %d", i);
    for (int i = 0; i < 300; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    grew = rss_kib() - before;
    metric("joined_stacks_rss_growth_kib", grew);
    printf("300 threads x 400 KiB of stack, joined: stacks returned: %s\n", grew < 16 * 1024 ? "yes" : "no");
    return 0;
}
