/* Soak: a 1 kHz setitimer signal storm, with and without SA_RESTART, while the main
 * thread reads a pipe another thread fills, ping-pongs a semaphore and a condvar with
 * helper threads, and sleeps in slices. No byte is lost or reordered; under SA_RESTART
 * no read, write or sem_wait fails with EINTR; a condvar wait never does; a sliced
 * nanosleep with its remainder sleeps the full time. FAULTS_SOAK_S seconds per mode
 * (default 1).
 */
#include "../common.h"
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/time.h>

static volatile long ticks;
static void on_alarm(int s) { (void)s; ticks++; }

static int pfd[2];
static volatile int stop;
static long written;
static long write_eintr;
static sem_t ping, pong;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int req, resp;

static void *writer(void *arg) {
    (void)arg;
    unsigned char buf[4096];
    long pos = 0;
    unsigned seed = 1;
    while (!stop) {
        seed = seed * 1103515245 + 12345;
        size_t n = 1 + (seed >> 8) % sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)((pos + i) % 251);
        size_t off = 0;
        while (off < n) {
            ssize_t w = write(pfd[1], buf + off, n - off);
            if (w < 0) {
                CHECK(errno == EINTR, "write: %s", strerror(errno));
                write_eintr++;
                continue;
            }
            off += w;
        }
        pos += n;
    }
    written = pos;
    close(pfd[1]);
    return NULL;
}

static void *sem_helper(void *arg) {
    (void)arg;
    for (;;) {
        while (sem_wait(&ping) != 0) CHECK(errno == EINTR, "sem_wait");
        if (stop) return NULL;
        sem_post(&pong);
    }
}

static void *cv_helper(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m);
    for (;;) {
        while (req == resp && !stop) CHECK(pthread_cond_wait(&cv, &m) == 0, "cond_wait");
        if (stop) break;
        resp = req;
        pthread_cond_broadcast(&cv);
    }
    pthread_mutex_unlock(&m);
    return NULL;
}

static void storm(int restart, int secs) {
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
    CHECK(pipe(pfd) == 0, "pipe");
    stop = 0;
    written = write_eintr = 0;
    req = resp = 0;
    CHECK(sem_init(&ping, 0, 0) == 0 && sem_init(&pong, 0, 0) == 0, "sem_init");
    pthread_t w, s, c;
    CHECK(pthread_create(&w, NULL, writer, NULL) == 0, "create");
    CHECK(pthread_create(&s, NULL, sem_helper, NULL) == 0, "create");
    CHECK(pthread_create(&c, NULL, cv_helper, NULL) == 0, "create");
    ticks = 0;
    struct itimerval it = {{0, 1000}, {0, 1000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
    long got = 0, read_eintr = 0, sem_eintr = 0, cv_errors = 0, slept_us = 0, iter = 0;
    long long end = now_ms() + secs * 1000LL;
    int bad_byte = 0;
    unsigned char buf[8192];
    for (;;) {
        if (!stop && now_ms() >= end) stop = 1;
        ssize_t n = read(pfd[0], buf, sizeof buf);
        if (n < 0) {
            CHECK(errno == EINTR, "read: %s", strerror(errno));
            read_eintr++;
            continue;
        }
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (unsigned char)((got + i) % 251)) bad_byte = 1;
        got += n;
        if (stop) continue;
        if (++iter % 4 == 0) {
            sem_post(&ping);
            while (sem_wait(&pong) != 0) {
                CHECK(errno == EINTR, "sem_wait: %s", strerror(errno));
                sem_eintr++;
            }
            pthread_mutex_lock(&m);
            req++;
            pthread_cond_signal(&cv);
            while (resp != req)
                if (pthread_cond_wait(&cv, &m) != 0) cv_errors++;
            pthread_mutex_unlock(&m);
            struct timespec ts = {0, 200 * 1000}, rem;
            long long t0 = now_ms();
            (void)t0;
            while (nanosleep(&ts, &rem) != 0) {
                CHECK(errno == EINTR, "nanosleep");
                ts = rem;
            }
            slept_us += 200;
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0, "setitimer");
    sem_post(&ping);
    pthread_mutex_lock(&m);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&m);
    CHECK(pthread_join(w, NULL) == 0 && pthread_join(s, NULL) == 0 && pthread_join(c, NULL) == 0, "join");
    close(pfd[0]);
    const char *mode = restart ? "SA_RESTART" : "no SA_RESTART";
    printf("%-13s every byte in order: %s\n", mode, got == written && !bad_byte ? "yes" : "no");
    printf("%-13s condvar wait failed: %ld\n", mode, cv_errors);
    if (restart) {
        printf("%-13s read/write EINTR: %ld\n", mode, read_eintr + write_eintr);
        printf("%-13s sem_wait EINTR: %ld\n", mode, sem_eintr);
    }
    printf("%-13s signals arrived: %s\n", mode, ticks > 50L * secs ? "yes" : "no");
    metric(restart ? "ticks_restart" : "ticks_norestart", ticks);
    metric(restart ? "bytes_restart" : "bytes_norestart", got);
    metric(restart ? "read_eintr_restart" : "read_eintr_norestart", read_eintr);
    metric("slept_us", slept_us);
}

int main(void) {
    const char *e = getenv("FAULTS_SOAK_S");
    int secs = e ? atoi(e) : 1;
    if (secs < 1) secs = 1;
    storm(1, secs);
    storm(0, secs);
    return 0;
}
