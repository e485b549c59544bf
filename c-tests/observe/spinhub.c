/* Several hubs (GREENSHIM_HUBS=2): a green thread that is running right now on a hub
 * beyond the first, beside parked ones, while a debugger or the self-dump looks.
 *
 * Threads, in creation order (the shim's placement with two hubs: the hub with the
 * fewest threads, main counted on hub 0, the creating hub on a tie):
 *   1 "piper"   (hub 1) parks on a pipe read in wait_on_pipe();
 *   2 "locker"  (hub 0) parks on a mutex in wait_on_mutex();
 *   3 "spinner" (hub 1) naps once in nap_first() (its last switch), then spins in
 *               spin_here() until main says stop (at most 60 s).
 * Then main prints "ready" and waits for a line on stdin:
 *   "park": in fgets (parked, hub 0 idle);
 *   "spin": spinning in main_spins(), which looks at stdin with ioctl(FIONREAD) (no
 *           call that could switch), then fgets;
 *   "spin0": in fgets, after creating 4 "spinner0" (hub 0, a tie), which prints
 *           "ready" itself and spins in spin_in_calls() until stdin has a byte: a
 *           green thread running on hub 0 while main is parked there.
 * On the line, everything is released and joined. stdout is the same natively. */
#include "../common.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>

static int pipefd[2];
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static atomic_int spinning, stop;
static volatile unsigned long sink;

__attribute__((noinline)) static void wait_on_pipe(void) {
    char c;
    ssize_t n = read(pipefd[0], &c, 1);
    CHECK(n == 1, "read %zd", n);
    sink++;
}
__attribute__((noinline)) static void wait_on_mutex(void) {
    pthread_mutex_lock(&held);
    sink++;
    pthread_mutex_unlock(&held);
}
/* Spins without any call until `stop` (or a bounded number of rounds). */
__attribute__((noinline)) static void spin_here(void) {
    atomic_store(&spinning, 1);
    /* No call at all (a debugger that stops it always finds it here, not in the vDSO's
     * clock_gettime): bounded by rounds instead of a clock. */
    for (unsigned long k = 1; !atomic_load_explicit(&stop, memory_order_relaxed) && k < 2000000; k++) {
        for (int i = 0; i < 100000; i++)
            sink += i;
    }
}
/* Main's (or spinner0's) spin: until stdin has a byte, `stop` (natively main may have
 * read the line already), or 60 s. */
__attribute__((noinline)) static void main_spins(void) {
    long long end = now_ms() + 60000;
    int n = 0;
    while (now_ms() < end && !atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int i = 0; i < 100000; i++)
            sink += i;
        if (ioctl(0, FIONREAD, &n) == 0 && n > 0)
            break;
    }
}

static void *reader(void *a) { (void)a; pthread_setname_np(pthread_self(), "piper"); wait_on_pipe(); return NULL; }
static void *locker(void *a) { (void)a; pthread_setname_np(pthread_self(), "locker"); wait_on_mutex(); return NULL; }
/* Switches out once before spinning: its saved context (stale while it spins) is here. */
__attribute__((noinline)) static void nap_first(void) {
    usleep(1000);
    sink++;
}
static void *spinner(void *a) {
    (void)a;
    pthread_setname_np(pthread_self(), "spinner");
    nap_first();
    spin_here();
    return NULL;
}
/* spinner0's spin: mostly inside ioctl(FIONREAD) system calls, so that a debugger
 * usually stops its OS thread in one (a case where the registers gdb sets and restores
 * must go to frame 0), until stdin has a byte, `stop`, or 60 s. */
__attribute__((noinline)) static void spin_in_calls(void) {
    long long end = now_ms() + 60000;
    int n = 0;
    for (unsigned long k = 1; !atomic_load_explicit(&stop, memory_order_relaxed); k++) {
        if (ioctl(0, FIONREAD, &n) == 0 && n > 0)
            break;
        if (k % 100000 == 0 && now_ms() > end)
            break;
    }
}
static void say_ready(void) {
    printf("ready\n");
    fflush(stdout);
}
static void *spinner0(void *a) {
    (void)a;
    pthread_setname_np(pthread_self(), "spinner0");
    say_ready();
    spin_in_calls();
    return NULL;
}

int main(int argc, char **argv) {
    const char *mode = argc == 2 ? argv[1] : "";
    CHECK(strcmp(mode, "park") == 0 || strcmp(mode, "spin") == 0 || strcmp(mode, "spin0") == 0, "usage: spinhub park|spin|spin0");
    CHECK(pipe(pipefd) == 0, "pipe");
    pthread_mutex_lock(&held);
    pthread_t t[3];
    void *(*fns[3])(void *) = {reader, locker, spinner};
    for (int i = 0; i < 3; i++) {
        CHECK(pthread_create(&t[i], NULL, fns[i], NULL) == 0, "create");
        usleep(100000); /* let each reach its wait (the spinner: start spinning) */
    }
    for (int i = 0; i < 3000 && !atomic_load(&spinning); i++)
        usleep(1000);
    CHECK(atomic_load(&spinning), "the spinner did not start");
    pthread_t t4;
    if (strcmp(mode, "spin0") == 0)
        CHECK(pthread_create(&t4, NULL, spinner0, NULL) == 0, "create");
    else
        say_ready();
    if (strcmp(mode, "spin") == 0)
        main_spins();
    char line[64];
    CHECK(fgets(line, sizeof line, stdin) != NULL, "stdin");
    atomic_store(&stop, 1);
    pthread_mutex_unlock(&held);
    CHECK(write(pipefd[1], "x", 1) == 1, "write");
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    if (strcmp(mode, "spin0") == 0)
        pthread_join(t4, NULL);
    printf("done\n");
    return 0;
}
