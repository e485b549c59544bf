/* stat_threads: /proc/self/stat's num_threads (field 20) counts the program's threads,
 * as natively.
 *
 * Why: programs read it to learn whether they are multi-threaded. CPython 3.12+ reads
 * it in os.fork() to warn "This process is multi-threaded, use of fork() may lead to
 * deadlocks"; under the shim the kernel saw one OS thread for every green thread, the
 * warning never came and test_threading's test_dummy_thread_after_fork and
 * test_main_thread_after_fork_from_nonmain_thread failed. Read here through fopen,
 * open/read and /proc/<pid>/stat; in the parent with 3 waiting threads, after they are
 * joined, and in fork children made by main and by one of the threads (a child has one
 * thread).
 *
 * stdout (deterministic): the counts at each step.
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>

static int field20(const char *text) {
    const char *p = strrchr(text, ')');
    CHECK(p != NULL, "no ')' in stat: %s", text);
    p++;
    for (int field = 3; field < 20; field++) {
        while (*p == ' ') p++;
        while (*p && *p != ' ') p++;
    }
    return atoi(p);
}

static int via_fopen(void) {
    FILE *f = fopen("/proc/self/stat", "r");
    CHECK(f != NULL, "fopen: %s", strerror(errno));
    char buf[2048];
    CHECK(fgets(buf, sizeof buf, f) != NULL, "fgets");
    fclose(f);
    return field20(buf);
}

static int via_open(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    char buf[2048];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    CHECK(n > 0, "read: %s", strerror(errno));
    buf[n] = 0;
    close(fd);
    return field20(buf);
}

static void report(const char *when) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)getpid());
    int a = via_fopen();
    int b = via_open("/proc/self/stat");
    int c = via_open(path);
    printf("%s: fopen %d, open %d, by pid %d\n", when, a, b, c);
    fflush(stdout);
}

/* After pthread_join the kernel may still count the joined thread for a moment
 * natively (its tid is cleared before it leaves the thread group): wait for it. */
static void settle(int expect) {
    for (int i = 0; i < 1000 && via_fopen() != expect; i++) usleep(1000);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int started, go;

static void fork_and_report(const char *who) {
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        char when[64];
        snprintf(when, sizeof when, "child of %s", who);
        report(when);
        _exit(0);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
}

static void *worker(void *arg) {
    pthread_mutex_lock(&mu);
    started++;
    pthread_cond_broadcast(&cv);
    while (!go) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    if (arg) fork_and_report("a thread");
    return NULL;
}

int main(void) {
    report("start");
    pthread_t t[3];
    for (long i = 0; i < 3; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)(long)(i == 0)) == 0, "create");
    pthread_mutex_lock(&mu);
    while (started < 3) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    report("3 threads waiting");
    fork_and_report("main");
    pthread_mutex_lock(&mu);
    go = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < 3; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    settle(1);
    report("joined");
    return 0;
}
