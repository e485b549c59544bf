/* "hog": a thread named "spinner" computes for 1.2 s without any call that could switch
 * while a thread named "ticker" would like to tick every 10 ms.
 * "polite": the same work cut into pieces with sched_yield between them, and threads
 * that sleep and exchange bytes over a pipe: never 100 ms without a switch.
 * "repeat": the spinner hogs three times in a row with a short sleep between.
 * "syscall": the spinner sleeps 600 ms in a raw nanosleep system call, which the shim
 * does not see (the OS thread blocks); it must not be interrupted (rem stays zero). */
#include "../common.h"
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>

static const char *mode;
static volatile unsigned long sink;
static int pipefd[2];

__attribute__((noinline)) static void spin_hard(long long ms) {
    long long end = now_ms() + ms;
    while (now_ms() < end)
        for (int i = 0; i < 10000; i++)
            sink += i;
}

static void *spinner(void *a) {
    (void)a;
    pthread_setname_np(pthread_self(), "spinner");
    if (strcmp(mode, "hog") == 0) {
        spin_hard(1200);
    } else if (strcmp(mode, "repeat") == 0) {
        for (int i = 0; i < 3; i++) {
            spin_hard(400);
            usleep(20000);
        }
    } else if (strcmp(mode, "syscall") == 0) {
        struct timespec ts = {0, 600000000}, rem = {0, 0};
        long r = syscall(SYS_nanosleep, &ts, &rem);
        CHECK(r == 0 && rem.tv_sec == 0 && rem.tv_nsec == 0, "nanosleep %ld errno %d", r, errno);
    } else {
        for (int i = 0; i < 120; i++) {
            spin_hard(5);
            sched_yield();
        }
    }
    return NULL;
}

static void *ticker(void *a) {
    (void)a;
    pthread_setname_np(pthread_self(), "ticker");
    for (int i = 0; i < 20; i++) {
        usleep(10000);
        CHECK(write(pipefd[1], "t", 1) == 1, "write");
    }
    return NULL;
}

static void *counter(void *a) {
    (void)a;
    char c;
    int n = 0;
    while (n < 20 && read(pipefd[0], &c, 1) == 1)
        n++;
    return (void *)(long)n;
}

int main(int argc, char **argv) {
    mode = argc > 1 ? argv[1] : "hog";
    CHECK(pipe(pipefd) == 0, "pipe");
    pthread_t a, b, c;
    CHECK(pthread_create(&a, NULL, spinner, NULL) == 0, "create");
    CHECK(pthread_create(&b, NULL, ticker, NULL) == 0, "create");
    CHECK(pthread_create(&c, NULL, counter, NULL) == 0, "create");
    void *n;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_join(c, &n);
    printf("%s: ticks %ld\n", mode, (long)n);
    return 0;
}
