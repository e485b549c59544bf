/* The raw futex ABI through syscall(SYS_futex), as Rust's std, libstdc++ and abseil use
 * it: results and errno of every op, checked against the native kernel's. */
#include "../common.h"
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef FUTEX_LOCK_PI2
#define FUTEX_LOCK_PI2 13
#endif

static long fx(void *u, int op, uint32_t val, const void *ts_or_val2, void *u2, uint32_t val3) {
    return syscall(SYS_futex, u, op, val, ts_or_val2, u2, val3);
}

/* Prints "name: ret errno" (errno only on failure). */
static void show(const char *name, long r) {
    if (r < 0) printf("%s: -1 %s\n", name, strerrorname_np(errno));
    else printf("%s: %ld\n", name, r);
}

static atomic_uint word1, word2, ready;
static atomic_int woken_count;

static void *waiter(void *arg) {
    int op = (int)(intptr_t)arg;
    atomic_fetch_add(&ready, 1);
    long r;
    if ((op & 0xffff & FUTEX_CMD_MASK) == FUTEX_WAIT_BITSET)
        r = fx(&word1, op & 0xffff, 0, NULL, NULL, (op >> 16) ? 2 : 1); /* bitset in the high bits of arg */
    else
        r = fx(&word1, op & 0xffff, 0, NULL, NULL, 0);
    if (r == 0) atomic_fetch_add(&woken_count, 1);
    return NULL;
}

static void wait_parked(int n) {
    while ((int)atomic_load(&ready) < n) usleep(1000);
    usleep(30000); /* let them reach the kernel / parking lot */
}

static void start(pthread_t *t, int n, int op) {
    atomic_store(&ready, 0);
    atomic_store(&woken_count, 0);
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, waiter, (void *)(intptr_t)op);
    wait_parked(n);
}

static long ms_since(struct timespec *a) {
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static void on_usr1(int s) { (void)s; }
static void *wake_from_handler_word;
static void on_usr2(int s) {
    (void)s;
    atomic_store((atomic_uint *)wake_from_handler_word, 1);
    fx(wake_from_handler_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_t t[8];
    struct timespec rel = {0, 30 * 1000000}, bad = {0, 1000000000}, neg = {-1, 0};
    struct timespec t0;

    /* Errors and immediate returns. */
    atomic_store(&word1, 5);
    show("wait wrong value", fx(&word1, FUTEX_WAIT_PRIVATE, 4, NULL, NULL, 0));
    show("wait bad timespec", fx(&word1, FUTEX_WAIT_PRIVATE, 5, &bad, NULL, 0));
    show("wait negative timespec", fx(&word1, FUTEX_WAIT_PRIVATE, 5, &neg, NULL, 0));
    show("wait unaligned", fx((char *)&word1 + 1, FUTEX_WAIT_PRIVATE, 5, &rel, NULL, 0));
    show("wait_bitset zero mask", fx(&word1, FUTEX_WAIT_BITSET_PRIVATE, 5, NULL, NULL, 0));
    show("wake_bitset zero mask", fx(&word1, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0));
    show("wait with CLOCK_REALTIME", fx(&word1, FUTEX_WAIT_PRIVATE | FUTEX_CLOCK_REALTIME, 5, &rel, NULL, 0));
    show("wake with CLOCK_REALTIME", fx(&word1, FUTEX_WAKE_PRIVATE | FUTEX_CLOCK_REALTIME, 1, NULL, NULL, 0));
    show("unknown op", fx(&word1, 99 | FUTEX_PRIVATE_FLAG, 0, NULL, NULL, 0));
    show("wake nobody", fx(&word1, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0));
    show("requeue negative count", fx(&word1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)(intptr_t)-1, &word2, 5));
    show("cmp_requeue wrong value", fx(&word1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1, &word2, 4));
    show("wake_op bad op", fx(&word1, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1, &word2, 7u << 28));

    /* Timeouts: relative for WAIT, absolute for WAIT_BITSET (both clocks). */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    show("wait relative timeout", fx(&word1, FUTEX_WAIT_PRIVATE, 5, &rel, NULL, 0));
    printf("  waited >= 30 ms: %d\n", ms_since(&t0) >= 30);
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_nsec += 30000000;
    if (abs.tv_nsec >= 1000000000) abs.tv_sec++, abs.tv_nsec -= 1000000000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    show("wait_bitset monotonic deadline", fx(&word1, FUTEX_WAIT_BITSET_PRIVATE, 5, &abs, NULL, FUTEX_BITSET_MATCH_ANY));
    printf("  waited >= 29 ms: %d\n", ms_since(&t0) >= 29);
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_nsec += 30000000;
    if (abs.tv_nsec >= 1000000000) abs.tv_sec++, abs.tv_nsec -= 1000000000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    show("wait_bitset realtime deadline", fx(&word1, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 5, &abs, NULL, FUTEX_BITSET_MATCH_ANY));
    printf("  waited >= 29 ms: %d\n", ms_since(&t0) >= 29);
    struct timespec past = {1, 0};
    show("wait_bitset deadline in the past", fx(&word1, FUTEX_WAIT_BITSET_PRIVATE, 5, &past, NULL, FUTEX_BITSET_MATCH_ANY));

    /* Wake counts. */
    atomic_store(&word1, 0);
    start(t, 5, FUTEX_WAIT_PRIVATE);
    show("wake 2 of 5", fx(&word1, FUTEX_WAKE_PRIVATE, 2, NULL, NULL, 0));
    show("wake 0 (wakes one)", fx(&word1, FUTEX_WAKE_PRIVATE, 0, NULL, NULL, 0));
    show("wake all", fx(&word1, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0));
    for (int i = 0; i < 5; i++) pthread_join(t[i], NULL);
    printf("  woken waiters: %d\n", atomic_load(&woken_count));

    /* Bitsets: 3 waiters on bit 0, 3 on bit 1. */
    atomic_store(&ready, 0);
    atomic_store(&woken_count, 0);
    for (int i = 0; i < 6; i++) pthread_create(&t[i], NULL, waiter, (void *)(intptr_t)(FUTEX_WAIT_BITSET_PRIVATE | ((i % 2) << 16)));
    wait_parked(6);
    show("wake_bitset bit 1", fx(&word1, FUTEX_WAKE_BITSET_PRIVATE, INT32_MAX, NULL, NULL, 2));
    show("wake_bitset bit 0, max 2", fx(&word1, FUTEX_WAKE_BITSET_PRIVATE, 2, NULL, NULL, 1));
    show("wake_bitset any", fx(&word1, FUTEX_WAKE_BITSET_PRIVATE, INT32_MAX, NULL, NULL, FUTEX_BITSET_MATCH_ANY));
    for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);

    /* Requeue: 6 waiters on word1; wake 1, move 3 to word2; then wake word2. */
    start(t, 6, FUTEX_WAIT_PRIVATE);
    show("cmp_requeue wake 1 move 3", fx(&word1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)3, &word2, 0));
    show("wake word2 all", fx(&word2, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0));
    show("requeue wake 0 move all", fx(&word1, FUTEX_REQUEUE_PRIVATE, 0, (void *)100, &word2, 0));
    show("wake word2 again", fx(&word2, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0));
    show("wake word1 (none left)", fx(&word1, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0));
    for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);

    /* WAKE_OP: word2 += 1 (old 0); wake 2 on word1; wake on word2 if old == 0. */
    atomic_store(&word2, 0);
    start(t, 4, FUTEX_WAIT_PRIVATE);
    show("wake_op add, cmp eq 0", fx(&word1, FUTEX_WAKE_OP_PRIVATE, 2, (void *)5, &word2, FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 0)));
    printf("  word2 now %u\n", atomic_load(&word2));
    show("wake_op or shift, cmp gt 5", fx(&word1, FUTEX_WAKE_OP_PRIVATE, 1, (void *)5, &word2, FUTEX_OP((FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT), 4, FUTEX_OP_CMP_GT, 5)));
    printf("  word2 now %u\n", atomic_load(&word2));
    show("wake rest", fx(&word1, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0));
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);

    /* PI: owner is gettid(); contention sets FUTEX_WAITERS; unlock by a non-owner fails. */
    static atomic_uint pi;
    atomic_store(&pi, 0);
    show("trylock_pi free", fx(&pi, FUTEX_TRYLOCK_PI_PRIVATE, 0, NULL, NULL, 0));
    printf("  owner is me: %d\n", (atomic_load(&pi) & FUTEX_TID_MASK) == (unsigned)gettid());
    show("lock_pi again (deadlock)", fx(&pi, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0));
    show("unlock_pi", fx(&pi, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0));
    printf("  word after unlock: %u\n", atomic_load(&pi));
    show("unlock_pi not owner", fx(&pi, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0));

    /* A signal handler's wake reaches a waiting thread. */
    struct sigaction sa = {0};
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);
    static atomic_uint hw;
    wake_from_handler_word = &hw;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (fork() == 0) {
        usleep(50000);
        kill(getppid(), SIGUSR2);
        _exit(0);
    }
    long r;
    struct timespec ten = {10, 0};
    while (atomic_load(&hw) == 0 && (r = fx(&hw, FUTEX_WAIT_PRIVATE, 0, &ten, NULL, 0)) != 0 && errno != EAGAIN && errno != EINTR) {}
    printf("handler wake: word %u, in time %d\n", atomic_load(&hw), ms_since(&t0) < 5000);
    wait(NULL);

    /* EINTR: a handled signal interrupts the main thread's timed wait. */
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    if (fork() == 0) {
        usleep(50000);
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    show("timed wait interrupted", fx(&word1, FUTEX_WAIT_PRIVATE, atomic_load(&word1), &ten, NULL, 0));
    wait(NULL);

    /* Shared futex in MAP_SHARED memory, woken by another process. */
    atomic_uint *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    *shared = 0;
    pid_t kid = fork();
    if (kid == 0) {
        usleep(50000);
        atomic_store(shared, 1);
        syscall(SYS_futex, shared, FUTEX_WAKE, 1, NULL, NULL, 0);
        _exit(0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (atomic_load(shared) == 0) fx(shared, FUTEX_WAIT, 0, &ten, NULL, 0);
    printf("cross-process wake: word %u, in time %d\n", atomic_load(shared), ms_since(&t0) < 5000);
    waitpid(kid, NULL, 0);

    metric("os_threads_max", os_threads());
    return 0;
}
