/* Soak: for FAULTS_SOAK_S seconds (default 2), churn threads (create, exit, join),
 * loopback connections (connect, echo, close) and timed waits (condvar with a 60 s
 * timeout that is signalled at once, poll with a 60 s timeout). RSS after the first
 * fifth (warm-up) and at the end must stay within 10 % (+1 MiB for allocator noise).
 */
#include "../common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &v) == 1) break;
    if (f) fclose(f);
    return v;
}

static int lfd;
static struct sockaddr_in addr;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int flag;

static void *serve(void *arg) {
    int c = (int)(long)arg;
    char buf[64];
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0)
        if (write(c, buf, n) != n) break;
    close(c);
    return NULL;
}

static void *acceptor(void *arg) {
    (void)arg;
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) {
            if (errno == EINVAL || errno == EBADF) return NULL; /* shut down */
            continue;
        }
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        CHECK(pthread_create(&t, &a, serve, (void *)(long)c) == 0, "create");
        pthread_attr_destroy(&a);
    }
}

static void *signaller(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m);
    flag = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&m);
    return NULL;
}

static void one_round(void) {
    /* A connection: connect, echo, close. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0, "socket");
    CHECK(connect(s, (struct sockaddr *)&addr, sizeof addr) == 0, "connect: %s", strerror(errno));
    CHECK(write(s, "ping", 4) == 4, "write");
    char buf[4];
    struct pollfd p = {s, POLLIN, 0};
    CHECK(poll(&p, 1, 60000) == 1, "poll");
    CHECK(read(s, buf, 4) == 4, "read");
    close(s);
    /* A timed condvar wait ended at once by a new thread. */
    pthread_t t;
    pthread_mutex_lock(&m);
    flag = 0;
    CHECK(pthread_create(&t, NULL, signaller, NULL) == 0, "create");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    while (!flag) CHECK(pthread_cond_timedwait(&cv, &m, &ts) == 0, "timedwait");
    pthread_mutex_unlock(&m);
    CHECK(pthread_join(t, NULL) == 0, "join");
}

int main(void) {
    const char *e = getenv("FAULTS_SOAK_S");
    int secs = e ? atoi(e) : 2;
    if (secs < 1) secs = 1;
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(lfd, (struct sockaddr *)&addr, sizeof addr) == 0, "bind");
    socklen_t len = sizeof addr;
    CHECK(getsockname(lfd, (struct sockaddr *)&addr, &len) == 0, "getsockname");
    CHECK(listen(lfd, 128) == 0, "listen");
    pthread_t acc;
    CHECK(pthread_create(&acc, NULL, acceptor, NULL) == 0, "create");
    long long start = now_ms(), warm_end = start + secs * 200LL, end = start + secs * 1000LL;
    long before = -1, rounds = 0;
    while (now_ms() < end) {
        one_round();
        rounds++;
        if (before < 0 && now_ms() >= warm_end) before = rss_kib();
    }
    long after = rss_kib();
    shutdown(lfd, SHUT_RDWR);
    CHECK(pthread_join(acc, NULL) == 0, "join acceptor");
    metric("churn_rounds", rounds);
    metric("churn_rss_before_kib", before);
    metric("churn_rss_after_kib", after);
    long allowed = before / 10 + 1024;
    printf("churn soak: memory flat after warm-up: %s\n", after - before <= allowed ? "yes" : "no");
    if (after - before > allowed) fprintf(stderr, "FAIL: RSS %ld -> %ld KiB\n", before, after);
    return after - before <= allowed ? 0 : 1;
}
