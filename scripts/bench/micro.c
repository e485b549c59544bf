/* micro: greenshim micro-benchmarks (cases 1-4 of the benchmark suite).
 *
 *   micro CASE N [STACK_KIB]
 *
 * Prints one line "RESULT key=value ..." on stdout; the driver (bench.py) parses
 * it. Every case runs the same code natively and under LD_PRELOAD=libgreenshim.so.
 * No thread ever spins on another without calling a blocking function, so the
 * cooperative (one OS thread) schedule under the shim cannot deadlock.
 *
 * cases (ns_per_op is per create+join / per round trip / per operation):
 *   create_join      N sequential pthread_create + pthread_join of an empty thread
 *   condvar_pp       N round trips: two threads hand a turn flag back and forth
 *                    under one mutex and two condition variables
 *   mutex_handoff    N round trips: two threads pass ownership through a ring of
 *                    three mutexes (each step, each thread blocks in
 *                    pthread_mutex_lock until the other unlocks)
 *   sem_pp           N round trips over two POSIX semaphores
 *   yield_pp         N round trips: each thread waits for its turn calling
 *                    sched_yield() in between
 *   pipe_pp          N round trips of one byte over two pipes
 *   fast_pipe        N x (write 1 byte, read 1 byte) on one pipe (always ready)
 *   fast_sock        same on an AF_UNIX socketpair
 *   fast_devzero     N x read(1 byte) from /dev/zero
 *   fast_pipe/fast_sock/file_cached N nowait: the same with every call made
 *                    non-blocking by the program itself (preadv2/pwritev2 RWF_NOWAIT)
 *   mutex_uncont     N x pthread_mutex_lock + unlock, no other thread
 *   stream_sendfile  N MiB sent with sendfile (from a 16 MiB file, repeatedly) over an
 *                    AF_UNIX socketpair to a thread reading 256 KiB at a time
 *                    (ns_per_op is per MiB)
 *   stream_fgets     N lines of 64 bytes written by one thread in 64 KiB writes to a
 *                    pipe and read by another with fgets (ns_per_op is per line)
 *   sleepers         N threads each nanosleep(1 s), then joined; STACK_KIB = 0
 *                    keeps the default attributes, else pthread_attr_setstacksize
 *
 * The fast-path and uncontended cases run inside one created thread (main joins
 * it), so under the shim they run as a green thread, as real programs do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static long N;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Short name of the errno values pthread_create and friends return. */
static const char *errno_name(int e) {
    switch (e) {
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EDEADLK: return "EDEADLK";
    default: return strerror(e);
    }
}

/* Prints s with blanks as '+' (RESULT values hold no spaces; the driver undoes it). */
static void put_word(const char *s) {
    for (; *s; s++) putchar(*s == ' ' ? '+' : *s);
}

static void die(const char *what) {
    const char *e = errno_name(errno);
    printf("RESULT failed=1 error=");
    put_word(what);
    putchar(':');
    put_word(e);
    putchar('\n');
    fflush(stdout);
    exit(3);
}

static void check(int rc, const char *what) {
    if (rc != 0) {
        errno = rc;
        die(what);
    }
}

/* "Key:  value kB" from /proc/self/status, -1 if absent. */
static long status_field(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, k) == 0 && line[k] == ':') {
            v = strtol(line + k + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static void result_ns(double secs, long ops) {
    printf("RESULT ns_per_op=%.2f ops=%ld secs=%.4f os_threads=%ld\n", secs * 1e9 / ops, ops, secs,
           status_field("Threads"));
}

/* ---- create_join ---- */
static void *empty(void *arg) { return arg; }

static void bench_create_join(void) {
    /* warm-up: first thread creation maps stacks, initializes the hub, ... */
    for (int i = 0; i < 100; i++) {
        pthread_t t;
        check(pthread_create(&t, NULL, empty, NULL), "pthread_create");
        check(pthread_join(t, NULL), "pthread_join");
    }
    double t0 = now_s();
    for (long i = 0; i < N; i++) {
        pthread_t t;
        void *r;
        check(pthread_create(&t, NULL, empty, (void *)i), "pthread_create");
        check(pthread_join(t, &r), "pthread_join");
        if (r != (void *)i) die("bad join value");
    }
    result_ns(now_s() - t0, N);
}

/* ---- two-thread ping-pongs ---- */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv[2] = {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};
static int turn;
static pthread_mutex_t ring[3] = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
                                  PTHREAD_MUTEX_INITIALIZER};
static int ready_pipe[2];
static sem_t sems[2];
static _Atomic int yturn;
static int pa[2], pb[2];

static void *condvar_peer(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    for (long i = 0; i < N; i++) {
        while (turn != 1) pthread_cond_wait(&cv[1], &mu);
        turn = 0;
        pthread_cond_signal(&cv[0]);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void condvar_main(void) {
    pthread_mutex_lock(&mu);
    for (long i = 0; i < N; i++) {
        turn = 1;
        pthread_cond_signal(&cv[1]);
        while (turn != 0) pthread_cond_wait(&cv[0], &mu);
    }
    pthread_mutex_unlock(&mu);
}

/* Ring of three mutexes. main holds ring[0], ring[1]; the peer holds ring[2].
 * Step k: main unlocks ring[k%3] then locks ring[(k+2)%3];
 *         peer locks ring[k%3] then unlocks ring[(k+2)%3].
 * main's lock in step k waits for the peer's unlock in step k, which follows the
 * peer's lock that waits for main's unlock: one step = one round trip. */
static void *mutex_peer(void *arg) {
    (void)arg;
    pthread_mutex_lock(&ring[2]);
    if (write(ready_pipe[1], "r", 1) != 1) die("ready write");
    for (long k = 0; k < N; k++) {
        pthread_mutex_lock(&ring[k % 3]);
        pthread_mutex_unlock(&ring[(k + 2) % 3]);
    }
    pthread_mutex_unlock(&ring[(N - 1) % 3]);
    return NULL;
}

static void mutex_main_prepare(void) {
    pthread_mutex_lock(&ring[0]);
    pthread_mutex_lock(&ring[1]);
}

static void mutex_main(void) {
    for (long k = 0; k < N; k++) {
        pthread_mutex_unlock(&ring[k % 3]);
        pthread_mutex_lock(&ring[(k + 2) % 3]);
    }
    pthread_mutex_unlock(&ring[N % 3]);
    pthread_mutex_unlock(&ring[(N + 1) % 3]);
}

static void *sem_peer(void *arg) {
    (void)arg;
    for (long i = 0; i < N; i++) {
        while (sem_wait(&sems[1]) != 0) {}
        sem_post(&sems[0]);
    }
    return NULL;
}

static void sem_main(void) {
    for (long i = 0; i < N; i++) {
        sem_post(&sems[1]);
        while (sem_wait(&sems[0]) != 0) {}
    }
}

static void *yield_peer(void *arg) {
    (void)arg;
    for (long i = 0; i < N; i++) {
        while (atomic_load_explicit(&yturn, memory_order_acquire) != 1) sched_yield();
        atomic_store_explicit(&yturn, 0, memory_order_release);
    }
    return NULL;
}

static void yield_main(void) {
    for (long i = 0; i < N; i++) {
        atomic_store_explicit(&yturn, 1, memory_order_release);
        while (atomic_load_explicit(&yturn, memory_order_acquire) != 0) sched_yield();
    }
}

static void *pipe_peer(void *arg) {
    (void)arg;
    char c;
    for (long i = 0; i < N; i++) {
        if (read(pa[0], &c, 1) != 1) die("peer read");
        c++;
        if (write(pb[1], &c, 1) != 1) die("peer write");
    }
    return NULL;
}

static void pipe_main(void) {
    char c;
    for (long i = 0; i < N; i++) {
        char s = (char)i;
        if (write(pa[1], &s, 1) != 1) die("write");
        if (read(pb[0], &c, 1) != 1) die("read");
        if (c != (char)(s + 1)) die("pipe_pp: wrong byte");
    }
}

static void bench_pingpong(void *(*peer)(void *), void (*body)(void), void (*prepare)(void)) {
    pthread_t t;
    if (prepare) prepare();
    if (pipe(ready_pipe) != 0) die("pipe");
    check(pthread_create(&t, NULL, peer, NULL), "pthread_create");
    if (peer == mutex_peer) {
        char c;
        if (read(ready_pipe[0], &c, 1) != 1) die("ready read");
    }
    long thr = status_field("Threads");
    double t0 = now_s();
    body();
    double dt = now_s() - t0;
    check(pthread_join(t, NULL), "pthread_join");
    printf("RESULT ns_per_op=%.2f ops=%ld secs=%.4f os_threads=%ld\n", dt * 1e9 / N, N, dt, thr);
}

/* ---- fast paths (run in one created thread) ---- */
/* `micro fast_pipe N nowait` (and file_cached): the program itself makes every read and
 * write non-blocking per call, as the shim must without a hidden O_NONBLOCK
 * (preadv2/pwritev2 with RWF_NOWAIT): the kernel's floor for the shim's pipe and file
 * paths, measured natively. */
static int nowait_floor;

static ssize_t rd(int fd, void *b, size_t n) {
    struct iovec v = {b, n};
    return nowait_floor ? preadv2(fd, &v, 1, -1, RWF_NOWAIT) : read(fd, b, n);
}

static ssize_t wr(int fd, const void *b, size_t n) {
    struct iovec v = {(void *)b, n};
    return nowait_floor ? pwritev2(fd, &v, 1, -1, RWF_NOWAIT) : write(fd, b, n);
}

static ssize_t prd(int fd, void *b, size_t n, off_t off) {
    struct iovec v = {b, n};
    return nowait_floor ? preadv2(fd, &v, 1, off, RWF_NOWAIT) : pread(fd, b, n, off);
}

static const char *fast_case;

/* dl_walk: the loader's entry cost (the shim's loader lock), not the walk: stop at the
 * first object, as libgcc's unwinder often does once it finds the pc's object. */
static int first_object(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    *(uintptr_t *)data += info->dlpi_addr;
    return 1;
}
static double fast_secs;
static long fast_threads;

static void *fast_thread(void *arg) {
    (void)arg;
    char c = 'x';
    int fds[2];
    if (strcmp(fast_case, "fast_pipe") == 0) {
        if (pipe(fds) != 0) die("pipe");
    } else if (strcmp(fast_case, "fast_sock") == 0) {
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) die("socketpair");
    } else if (strcmp(fast_case, "fast_tcp") == 0) {
        /* socket() + connect() + accept() on loopback: the sockets the shim used to
         * create with a hidden O_NONBLOCK, now plain blocking ones served per call. */
        int l = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof a;
        if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
            getsockname(l, (struct sockaddr *)&a, &al))
            die("listen");
        fds[1] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[1] < 0 || connect(fds[1], (struct sockaddr *)&a, sizeof a)) die("connect");
        fds[0] = accept(l, NULL, NULL);
        if (fds[0] < 0) die("accept");
        close(l);
    } else if (strcmp(fast_case, "fast_devzero") == 0) {
        fds[0] = open("/dev/zero", O_RDONLY);
        if (fds[0] < 0) die("open /dev/zero");
        fds[1] = -1;
    }
    double t0;
    fast_threads = status_field("Threads");
    if (strcmp(fast_case, "dl_walk") == 0) {
        uintptr_t sink = 0;
        for (int i = 0; i < 1000; i++) dl_iterate_phdr(first_object, &sink);
        t0 = now_s();
        for (long i = 0; i < N; i++) dl_iterate_phdr(first_object, &sink);
        if (sink == 1) die("sink");
    } else if (strcmp(fast_case, "mutex_uncont") == 0) {
        pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        for (int i = 0; i < 1000; i++) {
            pthread_mutex_lock(&m);
            pthread_mutex_unlock(&m);
        }
        t0 = now_s();
        for (long i = 0; i < N; i++) {
            pthread_mutex_lock(&m);
            pthread_mutex_unlock(&m);
        }
    } else if (fds[1] < 0) {
        for (int i = 0; i < 1000; i++)
            if (read(fds[0], &c, 1) != 1) die("read");
        t0 = now_s();
        for (long i = 0; i < N; i++)
            if (read(fds[0], &c, 1) != 1) die("read");
    } else {
        for (int i = 0; i < 1000; i++)
            if (wr(fds[1], &c, 1) != 1 || rd(fds[0], &c, 1) != 1) die("write/read");
        t0 = now_s();
        for (long i = 0; i < N; i++)
            if (wr(fds[1], &c, 1) != 1 || rd(fds[0], &c, 1) != 1) die("write/read");
    }
    fast_secs = now_s() - t0;
    return NULL;
}

static void bench_fast(const char *name) {
    pthread_t t;
    fast_case = name;
    check(pthread_create(&t, NULL, fast_thread, NULL), "pthread_create");
    check(pthread_join(t, NULL), "pthread_join");
    printf("RESULT ns_per_op=%.2f ops=%ld secs=%.4f os_threads=%ld\n", fast_secs * 1e9 / N, N, fast_secs,
           fast_threads);
}

/* ---- regular files: cached and uncached reads, with a second thread alive ---- */
static _Atomic int file_done;

static void *file_idler(void *arg) {
    (void)arg;
    while (!atomic_load(&file_done)) usleep(2000);
    return NULL;
}

/* N reads of 4 KiB (cached: the file stays in the page cache) or of 1 MiB after the
 * file was dropped from the page cache (uncached), from a 64 MiB file in build/. */
static void bench_file(int cached) {
    char path[] = "build/bench/file_XXXXXX";
    int f = mkstemp(path);
    if (f < 0) die("mkstemp");
    unlink(path);
    static char chunk[1 << 20];
    memset(chunk, 'f', sizeof chunk);
    const long size = 64L << 20;
    for (long w = 0; w < size; w += sizeof chunk)
        if (write(f, chunk, sizeof chunk) != (ssize_t)sizeof chunk) die("write");
    if (fsync(f)) die("fsync");
    pthread_t t;
    check(pthread_create(&t, NULL, file_idler, NULL), "pthread_create");
    long threads = status_field("Threads");
    size_t len = cached ? 4096 : sizeof chunk;
    long per_pass = size / (long)len;
    double t0 = now_s();
    for (long i = 0; i < N; i++) {
        if (!cached && i % per_pass == 0 && posix_fadvise(f, 0, 0, POSIX_FADV_DONTNEED)) die("fadvise");
        if (prd(f, chunk, len, (off_t)(i % per_pass) * (off_t)len) != (ssize_t)len) die("pread");
    }
    double secs = now_s() - t0;
    atomic_store(&file_done, 1);
    check(pthread_join(t, NULL), "pthread_join");
    close(f);
    printf("RESULT ns_per_op=%.2f ops=%ld secs=%.4f os_threads=%ld\n", secs * 1e9 / N, N, secs, threads);
}

/* ---- streams: sendfile, stdio ---- */
#include <sys/sendfile.h>
static int stream_fd[2];
static long stream_bytes;

static void *sendfile_reader(void *arg) {
    (void)arg;
    static char buf[256 * 1024];
    long got = 0;
    while (got < stream_bytes) {
        ssize_t n = read(stream_fd[1], buf, sizeof buf);
        if (n <= 0) die("read");
        got += n;
    }
    return NULL;
}

static void bench_sendfile(void) {
    char path[] = "/tmp/greenshim_bench_XXXXXX";
    int f = mkstemp(path);
    if (f < 0) die("mkstemp");
    unlink(path);
    static char chunk[1 << 20];
    memset(chunk, 'z', sizeof chunk);
    for (int i = 0; i < 16; i++)
        if (write(f, chunk, sizeof chunk) != (ssize_t)sizeof chunk) die("write");
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, stream_fd) != 0) die("socketpair");
    stream_bytes = N << 20;
    pthread_t t;
    double t0 = now_s();
    check(pthread_create(&t, NULL, sendfile_reader, NULL), "pthread_create");
    long threads = status_field("Threads");
    long sent = 0;
    while (sent < stream_bytes) {
        off_t off = 0;
        long want = stream_bytes - sent < (16L << 20) ? stream_bytes - sent : (16L << 20);
        ssize_t n = sendfile(stream_fd[0], f, &off, (size_t)want);
        if (n <= 0) die("sendfile");
        sent += n;
    }
    check(pthread_join(t, NULL), "pthread_join");
    double secs = now_s() - t0;
    printf("RESULT ns_per_op=%.2f ops=%ld secs=%.4f os_threads=%ld\n", secs * 1e9 / N, N, secs, threads);
}

static void *fgets_writer(void *arg) {
    (void)arg;
    static char block[64 * 1024];
    for (size_t i = 0; i < sizeof block; i += 64) {
        memset(block + i, 'a' + (int)(i / 64 % 26), 63);
        block[i + 63] = '\n';
    }
    long lines = 0;
    while (lines < N) {
        long k = N - lines < 1024 ? N - lines : 1024;
        size_t len = (size_t)k * 64;
        for (size_t done = 0; done < len;) {
            ssize_t n = write(stream_fd[1], block + done, len - done);
            if (n <= 0) die("write");
            done += (size_t)n;
        }
        lines += k;
    }
    close(stream_fd[1]);
    return NULL;
}

static void bench_fgets(void) {
    if (pipe(stream_fd) != 0) die("pipe");
    FILE *fp = fdopen(stream_fd[0], "r");
    if (!fp) die("fdopen");
    pthread_t t;
    double t0 = now_s();
    check(pthread_create(&t, NULL, fgets_writer, NULL), "pthread_create");
    long threads = status_field("Threads");
    char line[128];
    long n = 0;
    while (fgets(line, sizeof line, fp)) n++;
    if (n != N) die("fgets line count");
    check(pthread_join(t, NULL), "pthread_join");
    double secs = now_s() - t0;
    printf("RESULT ns_per_op=%.2f ops=%ld secs=%.4f os_threads=%ld\n", secs * 1e9 / N, N, secs, threads);
    fclose(fp);
}

/* ---- sleepers ---- */
static _Atomic long alive, max_alive;

static void *sleeper(void *arg) {
    (void)arg;
    long a = atomic_fetch_add(&alive, 1) + 1;
    long m = atomic_load(&max_alive);
    while (a > m && !atomic_compare_exchange_weak(&max_alive, &m, a)) {}
    struct timespec ts = {1, 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    atomic_fetch_sub(&alive, 1);
    return NULL;
}

static void bench_sleepers(long stack_kib) {
    pthread_attr_t attr, *ap = NULL;
    if (stack_kib > 0) {
        pthread_attr_init(&attr);
        check(pthread_attr_setstacksize(&attr, (size_t)stack_kib * 1024), "pthread_attr_setstacksize");
        ap = &attr;
    }
    pthread_t *t = calloc((size_t)N, sizeof *t);
    if (!t) die("calloc");
    long base = status_field("VmRSS");
    double t0 = now_s();
    long created = 0;
    int err = 0;
    for (; created < N; created++) {
        err = pthread_create(&t[created], ap, sleeper, NULL);
        if (err) break;
    }
    double t_created = now_s() - t0;
    long threads = status_field("Threads");
    for (long i = 0; i < created; i++) check(pthread_join(t[i], NULL), "pthread_join");
    double wall = now_s() - t0;
    long hwm = status_field("VmHWM");
    if (err) {
        printf("RESULT failed=1 created=%ld wall_s=%.3f hwm_kib=%ld os_threads=%ld error=pthread_create:", created,
               wall, hwm, threads);
        put_word(errno_name(err));
        putchar('\n');
        fflush(stdout);
        exit(3);
    }
    printf("RESULT wall_s=%.3f create_s=%.3f base_kib=%ld hwm_kib=%ld kib_per_thread=%.2f os_threads=%ld "
           "max_alive=%ld\n",
           wall, t_created, base, hwm, (double)(hwm - base) / N, threads, (long)max_alive);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: micro CASE N [STACK_KIB]\n");
        return 2;
    }
    const char *c = argv[1];
    N = atol(argv[2]);
    if (N <= 0) return 2;
    nowait_floor = argc > 3 && !strcmp(argv[3], "nowait");
    setvbuf(stdout, NULL, _IOLBF, 0);
    sem_init(&sems[0], 0, 0);
    sem_init(&sems[1], 0, 0);
    if (pipe(pa) != 0 || pipe(pb) != 0) die("pipe");
    if (!strcmp(c, "create_join")) bench_create_join();
    else if (!strcmp(c, "condvar_pp")) bench_pingpong(condvar_peer, condvar_main, NULL);
    else if (!strcmp(c, "mutex_handoff")) bench_pingpong(mutex_peer, mutex_main, mutex_main_prepare);
    else if (!strcmp(c, "sem_pp")) bench_pingpong(sem_peer, sem_main, NULL);
    else if (!strcmp(c, "yield_pp")) bench_pingpong(yield_peer, yield_main, NULL);
    else if (!strcmp(c, "pipe_pp")) bench_pingpong(pipe_peer, pipe_main, NULL);
    else if (!strncmp(c, "fast_", 5) || !strcmp(c, "mutex_uncont") || !strcmp(c, "dl_walk")) bench_fast(c);
    else if (!strcmp(c, "stream_sendfile")) bench_sendfile();
    else if (!strcmp(c, "file_cached")) bench_file(1);
    else if (!strcmp(c, "file_uncached")) bench_file(0);
    else if (!strcmp(c, "stream_fgets")) bench_fgets();
    else if (!strcmp(c, "sleepers")) bench_sleepers(argc > 3 ? atol(argv[3]) : 0);
    else {
        fprintf(stderr, "micro: unknown case %s\n", c);
        return 2;
    }
    return 0;
}
