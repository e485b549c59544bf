/* signals: a handler that runs while the main thread is blocked makes the call fail
 * with EINTR as natively — read (without SA_RESTART), sleep (remaining time reported),
 * nanosleep, poll (EINTR even with SA_RESTART) — while under SA_RESTART a read keeps
 * waiting and completes. Another thread ticks meanwhile, so the shim's hub is busy
 * rather than idle when the signal lands. Linux hands a process-directed signal to
 * the main thread when it does not block it, so the native run is deterministic.
 */
#include "../common.h"
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

static volatile sig_atomic_t hits;
static void on_alarm(int sig) { (void)sig; hits++; }

static void handler(int restart) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
}

static void alarm_in_ms(int ms) {
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
}

static volatile int stop;
static void *ticker(void *arg) {
    (void)arg;
    while (!stop) usleep(5000);
    return NULL;
}

struct delayed { int fd; int ms; };
static void *write_later(void *arg) {
    struct delayed *d = arg;
    usleep(d->ms * 1000);
    CHECK(write(d->fd, "x", 1) == 1, "write");
    return NULL;
}

int main(void) {
    pthread_t tick;
    CHECK(pthread_create(&tick, NULL, ticker, NULL) == 0, "create ticker");
    usleep(10000);
    int threads = os_threads();
    int p[2];
    char c;

    /* read without SA_RESTART: EINTR */
    CHECK(pipe(p) == 0, "pipe");
    handler(0);
    alarm_in_ms(100);
    errno = 0;
    ssize_t r = read(p[0], &c, 1);
    CHECK(r == -1 && errno == EINTR, "read returned %zd errno %d", r, errno);
    printf("read, no SA_RESTART: EINTR\n");

    /* read with SA_RESTART: keeps waiting, gets the byte written at 300 ms */
    handler(1);
    struct delayed d = {p[1], 300};
    pthread_t w;
    CHECK(pthread_create(&w, NULL, write_later, &d) == 0, "create writer");
    alarm_in_ms(100);
    long long t0 = now_ms();
    r = read(p[0], &c, 1);
    CHECK(r == 1 && c == 'x', "restarted read returned %zd errno %d", r, errno);
    CHECK(now_ms() - t0 >= 250, "read returned too early");
    pthread_join(w, NULL);
    printf("read, SA_RESTART: restarted, got the byte\n");

    /* poll with SA_RESTART: still EINTR */
    struct pollfd pf = {p[0], POLLIN, 0};
    alarm_in_ms(100);
    errno = 0;
    int pr = poll(&pf, 1, -1);
    CHECK(pr == -1 && errno == EINTR, "poll returned %d errno %d", pr, errno);
    printf("poll, SA_RESTART: EINTR\n");

    /* sleep: returns the seconds left */
    handler(0);
    alarm_in_ms(100);
    unsigned left = sleep(3);
    CHECK(left >= 2 && left <= 3, "sleep left %u", left);
    printf("sleep(3) interrupted: %u s left\n", left);

    /* nanosleep: EINTR and the remaining time */
    struct timespec req = {2, 0}, rem = {0, 0};
    alarm_in_ms(100);
    errno = 0;
    int nr = nanosleep(&req, &rem);
    CHECK(nr == -1 && errno == EINTR, "nanosleep returned %d errno %d", nr, errno);
    CHECK(rem.tv_sec >= 1, "rem %ld", (long)rem.tv_sec);
    printf("nanosleep interrupted: EINTR, >= 1 s remaining\n");

    printf("handler ran %d times\n", (int)hits);
    stop = 1;
    pthread_join(tick, NULL);
    metric("os_threads_max", threads);
    return 0;
}
