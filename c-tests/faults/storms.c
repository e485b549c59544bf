/* Storms, each with a deterministic outcome:
 *  - EMFILE: at a low fd limit, 4 client threads connect/echo/close 100 times each
 *    against an accepting server; socket() and accept() fail with EMFILE along the
 *    way and are retried; every exchange completes (recovery).
 *  - ECONNRESET: 100 clients send and reset (SO_LINGER 0) against a
 *    thread-per-connection server; every server thread ends (reset or EOF), the
 *    server keeps serving.
 *  - fork: 4 threads fork 10 children each while 4 others are parked on a condvar;
 *    every child's status comes back, the parked threads wake when told.
 *  - fds above 65536 with a raised RLIMIT_NOFILE: a thread reads a pipe end dup'ed
 *    to 70000 while another writes it.
 */
#include "../common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>

static struct sockaddr_in addr;
static int lfd;
static long resets, eofs, emfile_seen;
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;

static int listener(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0, "socket");
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(s, (struct sockaddr *)&addr, sizeof addr) == 0, "bind");
    socklen_t len = sizeof addr;
    CHECK(getsockname(s, (struct sockaddr *)&addr, &len) == 0, "getsockname");
    CHECK(listen(s, 256) == 0, "listen");
    return s;
}

/* ---- EMFILE ---- */
static volatile int storm_on;

static void *echo_conn(void *arg) {
    int c = (int)(long)arg;
    char b[8];
    ssize_t n;
    while ((n = read(c, b, sizeof b)) > 0)
        if (write(c, b, n) != n) break;
    close(c);
    return NULL;
}

/* Opens sockets until EMFILE, closes them, again, while storm_on. */
static void *fd_hog(void *arg) {
    (void)arg;
    int held[8];
    while (storm_on) {
        int k = 0;
        while (k < 8) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            if (s < 0) {
                CHECK(errno == EMFILE, "socket: %s", strerror(errno));
                __atomic_fetch_add(&emfile_seen, 1, __ATOMIC_RELAXED);
                break;
            }
            held[k++] = s;
        }
        usleep(100);
        while (k > 0) close(held[--k]);
        sched_yield();
    }
    return NULL;
}

static void emfile_storm(void) {
    lfd = listener();
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(c, (struct sockaddr *)&addr, sizeof addr) == 0, "connect");
    int a = accept(lfd, NULL, NULL);
    CHECK(a >= 0, "accept");
    pthread_t echo;
    CHECK(pthread_create(&echo, NULL, echo_conn, (void *)(long)a) == 0, "create");
    struct rlimit old, r;
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0, "getrlimit");
    int lowest = 0;
    while (fcntl(lowest, F_GETFD) >= 0) lowest++;
    r = old;
    r.rlim_cur = lowest + 12;
    CHECK(setrlimit(RLIMIT_NOFILE, &r) == 0, "setrlimit");
    storm_on = 1;
    pthread_t hogs[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&hogs[i], NULL, fd_hog, NULL) == 0, "create");
    int echoes = 0;
    for (int i = 0; i < 200; i++) {
        char b[2];
        if (write(c, "hi", 2) == 2 && read(c, b, 2) == 2) echoes++;
        usleep(200);
    }
    storm_on = 0;
    for (int i = 0; i < 4; i++) CHECK(pthread_join(hogs[i], NULL) == 0, "join");
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0, "setrlimit");
    close(c);
    CHECK(pthread_join(echo, NULL) == 0, "join");
    /* Recovery: new connections are accepted again. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0 && connect(s, (struct sockaddr *)&addr, sizeof addr) == 0, "connect after");
    int a2 = accept(lfd, NULL, NULL);
    close(s);
    close(a2);
    close(lfd);
    metric("emfile_seen", emfile_seen);
    printf("EMFILE storm: hit the limit: %s, 200 echoes on an open connection meanwhile: %d, accepts again: %s\n",
           emfile_seen > 0 ? "yes" : "no", echoes, a2 >= 0 ? "yes" : "no");
}

/* ---- ECONNRESET ---- */
static void *conn_thread(void *arg) {
    int c = (int)(long)arg;
    char b[256];
    ssize_t n;
    while ((n = read(c, b, sizeof b)) > 0) {}
    pthread_mutex_lock(&cm);
    if (n < 0) {
        CHECK(errno == ECONNRESET, "read: %s", strerror(errno));
        resets++;
    } else
        eofs++;
    pthread_mutex_unlock(&cm);
    close(c);
    return NULL;
}

static void *reset_server(void *arg) {
    long want = (long)arg;
    pthread_t *ts = calloc(want, sizeof *ts);
    for (long i = 0; i < want; i++) {
        int c = accept(lfd, NULL, NULL);
        CHECK(c >= 0, "accept: %s", strerror(errno));
        CHECK(pthread_create(&ts[i], NULL, conn_thread, (void *)(long)c) == 0, "create");
    }
    for (long i = 0; i < want; i++) CHECK(pthread_join(ts[i], NULL) == 0, "join");
    free(ts);
    return NULL;
}

static void reset_storm(void) {
    lfd = listener();
    pthread_t srv;
    CHECK(pthread_create(&srv, NULL, reset_server, (void *)100L) == 0, "create");
    for (int i = 0; i < 100; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(connect(s, (struct sockaddr *)&addr, sizeof addr) == 0, "connect");
        CHECK(write(s, "data", 4) == 4, "write");
        struct linger l = {1, 0};
        CHECK(setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0, "linger");
        close(s);
    }
    CHECK(pthread_join(srv, NULL) == 0, "join");
    close(lfd);
    metric("resets", resets);
    printf("ECONNRESET storm: 100 server threads ended (reset or EOF): %s\n", resets + eofs == 100 ? "yes" : "no");
}

/* ---- fork ---- */
static pthread_mutex_t fm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fcv = PTHREAD_COND_INITIALIZER;
static int release_parked;

static void *parked(void *arg) {
    (void)arg;
    pthread_mutex_lock(&fm);
    while (!release_parked) pthread_cond_wait(&fcv, &fm);
    pthread_mutex_unlock(&fm);
    return NULL;
}

static void *forker(void *arg) {
    long base = (long)arg, sum = 0;
    for (int i = 0; i < 10; i++) {
        pid_t p = fork();
        CHECK(p >= 0, "fork");
        if (p == 0) _exit((int)(base + i));
        int st;
        CHECK(waitpid(p, &st, 0) == p && WIFEXITED(st), "waitpid");
        sum += WEXITSTATUS(st);
    }
    return (void *)sum;
}

static void fork_storm(void) {
    pthread_t p[4], f[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&p[i], NULL, parked, NULL) == 0, "create");
    for (long i = 0; i < 4; i++) CHECK(pthread_create(&f[i], NULL, forker, (void *)(i * 10)) == 0, "create");
    long total = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        CHECK(pthread_join(f[i], &r) == 0, "join");
        total += (long)r;
    }
    pthread_mutex_lock(&fm);
    release_parked = 1;
    pthread_cond_broadcast(&fcv);
    pthread_mutex_unlock(&fm);
    for (int i = 0; i < 4; i++) CHECK(pthread_join(p[i], NULL) == 0, "join");
    printf("fork storm: sum of 40 child statuses %ld, parked threads woke: yes\n", total);
}

/* ---- high fds ---- */
static void *high_writer(void *arg) {
    int fd = (int)(long)arg;
    usleep(20 * 1000);
    CHECK(write(fd, "hi", 2) == 2, "write");
    return NULL;
}

static void high_fds(void) {
    struct rlimit r;
    CHECK(getrlimit(RLIMIT_NOFILE, &r) == 0, "getrlimit");
    if (r.rlim_max < 70010) {
        printf("fds above 65536: hard limit too low here, skipped\n");
        return;
    }
    struct rlimit old = r;
    r.rlim_cur = r.rlim_max;
    CHECK(setrlimit(RLIMIT_NOFILE, &r) == 0, "setrlimit");
    int p[2];
    CHECK(pipe(p) == 0, "pipe");
    CHECK(dup2(p[0], 70000) == 70000 && dup2(p[1], 70001) == 70001, "dup2");
    close(p[0]);
    close(p[1]);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, high_writer, (void *)70001L) == 0, "create");
    char b[2];
    ssize_t n = read(70000, b, 2);
    CHECK(pthread_join(t, NULL) == 0, "join");
    close(70000);
    close(70001);
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0, "setrlimit");
    printf("fds above 65536: read through fd 70000: %zd\n", n);
}

int main(void) {
    long long t0 = now_ms();
    emfile_storm();
    metric("emfile_ms", now_ms() - t0);
    t0 = now_ms();
    reset_storm();
    metric("reset_ms", now_ms() - t0);
    t0 = now_ms();
    fork_storm();
    metric("fork_ms", now_ms() - t0);
    high_fds();
    return 0;
}
