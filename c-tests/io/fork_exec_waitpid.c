/* fork_exec_waitpid: many threads fork+exec and wait for their own child.
 *
 * Why: under greenshim fork/exec/waitpid from green threads must behave as
 * from OS threads: each waitpid(pid) parks only its caller and returns that
 * child's status; waits for "any child" / a process group park too; and the
 * shim's own bookkeeping (pidfds, hidden O_NONBLOCK) must not leak into the
 * exec'ed programs.
 *   1. 50 threads each fork and execv (even i) or execve (odd i)
 *      /bin/sh -c 'exit $0' <(i*37+5)%256>, then waitpid(pid, &st, 0):
 *      WEXITSTATUS must be the expected code;
 *   2. meanwhile a reaper thread posix_spawns 5 children
 *      (sh -c 'sleep 0.1; exit $0' <100+k>) into one new process group and
 *      reaps them with waitpid(-pgid, &st, 0): each pid once, right status;
 *      then waitpid(-pgid) fails with ECHILD;
 *   3. after that, a thread posix_spawns 5 more (exit 200+k) and reaps them
 *      with waitpid(-1, &st, 0), then waitpid(-1) fails with ECHILD;
 *   a ticker thread (usleep 5 ms) runs throughout and must tick.
 * A 10 s alarm watchdog fails on a hang.
 *
 * stdout (deterministic): see the printf calls.
 * metrics: os_threads_max (parent only, sampled by the threads after fork),
 *          ticks, wall_ms.
 */
#include "../common.h"
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#define NFORK 50
#define NSPAWN 5

extern char **environ;

static volatile int stop_ticker;
static int ticks;
static int os_max;
static int status_of[NFORK];

static void note_threads(void) {
    int n = os_threads();
    int cur = __atomic_load_n(&os_max, __ATOMIC_SEQ_CST);
    while (n > cur && !__atomic_compare_exchange_n(&os_max, &cur, n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: fork_exec_waitpid hung for 10 s\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        CHECK(usleep(5000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static int expected(int i) { return (i * 37 + 5) % 256; }

static void *forker(void *arg) {
    int i = (int)(long)arg;
    char code[16];
    snprintf(code, sizeof code, "%d", expected(i));
    char *argv[] = {"sh", "-c", "exit $0", code, NULL};
    pid_t pid = fork();
    CHECK(pid >= 0, "fork %d: %s", i, strerror(errno));
    if (pid == 0) {
        if (i % 2 == 0)
            execv("/bin/sh", argv);
        else
            execve("/bin/sh", argv, environ);
        _exit(127);
    }
    note_threads();
    int st;
    pid_t w = waitpid(pid, &st, 0);
    CHECK(w == pid, "thread %d: waitpid returned %d (%s), want %d", i, (int)w, strerror(errno), (int)pid);
    CHECK(WIFEXITED(st), "thread %d: child status 0x%x", i, st);
    status_of[i] = WEXITSTATUS(st);
    return NULL;
}

/* posix_spawn NSPAWN children "sleep <s>; exit <base+k>"; pgroup: -1 none,
 * 0 new group led by the first child. Returns their pids. */
static void spawn_children(pid_t *pids, int base, int new_group, const char *script) {
    for (int k = 0; k < NSPAWN; k++) {
        char code[16];
        snprintf(code, sizeof code, "%d", base + k);
        char *argv[] = {"sh", "-c", (char *)script, code, NULL};
        posix_spawnattr_t at;
        CHECK(posix_spawnattr_init(&at) == 0, "spawnattr_init");
        if (new_group) {
            CHECK(posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP) == 0, "setflags");
            CHECK(posix_spawnattr_setpgroup(&at, k == 0 ? 0 : pids[0]) == 0, "setpgroup");
        }
        int r = posix_spawn(&pids[k], "/bin/sh", NULL, &at, argv, environ);
        CHECK(r == 0, "posix_spawn %d: %s", k, strerror(r));
        posix_spawnattr_destroy(&at);
    }
}

/* Reaps NSPAWN children with waitpid(who); each pid exactly once. */
static void reap(pid_t who, const pid_t *pids, int base, const char *what) {
    int seen[NSPAWN] = {0};
    for (int n = 0; n < NSPAWN; n++) {
        int st;
        pid_t w = waitpid(who, &st, 0);
        CHECK(w > 0, "%s: waitpid(%d) returned %d (%s)", what, (int)who, (int)w, strerror(errno));
        int k = -1;
        for (int j = 0; j < NSPAWN; j++)
            if (pids[j] == w) k = j;
        CHECK(k >= 0, "%s: waitpid(%d) reaped pid %d, not one of ours", what, (int)who, (int)w);
        CHECK(!seen[k], "%s: pid %d reaped twice", what, (int)w);
        seen[k] = 1;
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == base + k, "%s: child %d status 0x%x, want exit %d", what, k, st,
              base + k);
    }
    int st;
    pid_t w = waitpid(who, &st, 0);
    CHECK(w == -1 && errno == ECHILD, "%s: waitpid(%d) after reaping all returned %d (%s), want ECHILD", what,
          (int)who, (int)w, strerror(errno));
}

static void *group_reaper(void *arg) {
    (void)arg;
    pid_t pids[NSPAWN];
    spawn_children(pids, 100, 1, "sleep 0.1; exit $0");
    note_threads();
    reap(-pids[0], pids, 100, "process group");
    return NULL;
}

static void *any_reaper(void *arg) {
    (void)arg;
    pid_t pids[NSPAWN];
    spawn_children(pids, 200, 0, "sleep 0.05; exit $0");
    note_threads();
    reap(-1, pids, 200, "any child");
    return NULL;
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(10);
    long long t0 = now_ms();
    pthread_t tk, gr, ar, ts[NFORK];
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create ticker");
    CHECK(pthread_create(&gr, NULL, group_reaper, NULL) == 0, "create group reaper");
    for (int i = 0; i < NFORK; i++)
        CHECK(pthread_create(&ts[i], NULL, forker, (void *)(long)i) == 0, "create forker %d", i);
    for (int i = 0; i < NFORK; i++) CHECK(pthread_join(ts[i], NULL) == 0, "join");
    CHECK(pthread_join(gr, NULL) == 0, "join group reaper");
    int sum = 0;
    for (int i = 0; i < NFORK; i++) {
        CHECK(status_of[i] == expected(i), "thread %d: exit status %d, want %d", i, status_of[i], expected(i));
        sum += status_of[i];
    }
    printf("%d threads: fork + execv/execve sh, waitpid(pid) got each child's status (sum %d)\n", NFORK, sum);
    printf("process group: %d posix_spawn children reaped with waitpid(-pgid), statuses 100..104, then ECHILD\n",
           NSPAWN);

    CHECK(pthread_create(&ar, NULL, any_reaper, NULL) == 0, "create any reaper");
    CHECK(pthread_join(ar, NULL) == 0, "join any reaper");
    printf("any child: %d posix_spawn children reaped with waitpid(-1), statuses 200..204, then ECHILD\n", NSPAWN);

    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(tk, NULL) == 0, "join ticker");
    long long wall = now_ms() - t0;
    alarm(0);
    metric("ticks", ticks);
    metric("wall_ms", wall);
    /* at least 150 ms of child sleeps passed; 5 ms ticks */
    CHECK(ticks >= 10, "ticker only ticked %d times in %lld ms", ticks, wall);
    printf("ticker ran during the waits: yes\n");
    metric("os_threads_max", os_max);
    return 0;
}
