/* time_slices: threads that keep making hooked calls that never wait must not starve the
 * others. Each case runs a spinner in the main thread until a helper thread (which
 * needs a timer, a pipe event or another process's exit to make progress) sets a flag.
 * Natively the kernel time-slices them; under the shim the spinner is sent to the back
 * of the ready queue after its slice, and due timers and fd events are collected first.
 *   1. sched_yield() loop while a thread sleeps 30 ms;
 *   2. poll() that always finds an fd ready, while a thread waits on a pipe that a
 *      third thread writes after a 30 ms sleep;
 *   3. waitpid(WNOHANG) loop on a child that lives until a thread writes its pipe;
 *   4. pthread_mutex_trylock loop on a mutex a sleeping thread holds for 30 ms.
 * A watchdog alarm fails the program instead of hanging.
 */
#include "../common.h"
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

static volatile int flag;
static int p[2], q[2];
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static void *sleeper(void *arg) {
    (void)arg;
    usleep(30000);
    flag = 1;
    return NULL;
}

static void *pipe_reader(void *arg) {
    (void)arg;
    char c;
    CHECK(read(q[0], &c, 1) == 1, "read");
    flag = 1;
    return NULL;
}

static void *late_writer(void *arg) {
    (void)arg;
    usleep(30000);
    CHECK(write(q[1], "x", 1) == 1, "write");
    return NULL;
}

static void *holder(void *arg) {
    (void)arg;
    pthread_mutex_lock(&m);
    flag = 2;
    usleep(30000);
    pthread_mutex_unlock(&m);
    return NULL;
}

static void watchdog(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: a spinning thread starved the others (watchdog)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

int main(void) {
    signal(SIGALRM, watchdog);
    alarm(20);
    pthread_t a, b;
    long spins;

    flag = 0;
    CHECK(pthread_create(&a, NULL, sleeper, NULL) == 0, "create");
    metric("os_threads_max", os_threads());
    for (spins = 0; !flag; spins++) sched_yield();
    pthread_join(a, NULL);
    printf("sched_yield spinner: the sleeping thread woke\n");

    flag = 0;
    CHECK(pipe(p) == 0 && pipe(q) == 0, "pipe");
    CHECK(write(p[1], "r", 1) == 1, "write");
    CHECK(pthread_create(&a, NULL, pipe_reader, NULL) == 0, "create");
    CHECK(pthread_create(&b, NULL, late_writer, NULL) == 0, "create");
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    for (spins = 0; !flag; spins++) CHECK(poll(&pf, 1, 1000) == 1, "poll");
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("poll-ready spinner: the pipe reader got its byte\n");

    flag = 0;
    int gate[2];
    CHECK(pipe(gate) == 0, "pipe");
    pid_t child = fork();
    CHECK(child >= 0, "fork");
    if (child == 0) {
        char c;
        close(gate[1]);
        (void)!read(gate[0], &c, 1);
        _exit(7);
    }
    close(gate[0]);
    int st = 0;
    CHECK(pthread_create(&a, NULL, sleeper, NULL) == 0, "create");
    pid_t got = 0;
    for (spins = 0; got == 0; spins++) {
        got = waitpid(child, &st, WNOHANG);
        CHECK(got >= 0, "waitpid: %s", strerror(errno));
        if (flag == 1) {
            CHECK(write(gate[1], "g", 1) == 1, "write");
            flag = 3;
        }
    }
    pthread_join(a, NULL);
    printf("waitpid(WNOHANG) spinner: child exited with %d\n", WEXITSTATUS(st));

    flag = 0;
    CHECK(pthread_create(&a, NULL, holder, NULL) == 0, "create");
    while (flag != 2) sched_yield();
    for (spins = 0; pthread_mutex_trylock(&m) != 0; spins++) {
    }
    pthread_mutex_unlock(&m);
    pthread_join(a, NULL);
    printf("trylock spinner: got the mutex after its holder slept\n");
    return 0;
}
