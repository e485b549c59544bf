/* stdin_read: read all of stdin in one thread while another thread ticks.
 *
 * Why: stdin is an inherited fd whose open file description is shared with
 * whoever feeds it (the harness, a shell). greenshim must make blocking
 * reads on it park only the green thread (the ticker keeps running) without
 * leaving O_NONBLOCK set on that shared description. We check both the
 * program-visible flags (fcntl F_GETFL) and the kernel's real flags
 * (/proc/self/fdinfo/0, which an fcntl interposer cannot hide), before the
 * reads and after EOF.
 *
 * Usage: seq 1 100000 | stdin_read   (any stdin works; output depends on it)
 * stdout: "bytes=<n> checksum=<fnv1a-64 hex>\nticks=10\n"
 *   for `seq 1 100000`: "bytes=588895 checksum=3df31f14828f07aa\nticks=10\n"
 * metrics: os_threads_max (main, after creating both threads), wall_ms.
 */
#undef _GNU_SOURCE /* common.h defines it; avoid a redefinition warning */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>

static size_t nbytes;
static uint64_t hash = 0xcbf29ce484222325ULL;
static int ticks;

/* O_NONBLOCK as the kernel sees it (the "flags:" line is octal). */
static int kernel_nonblock(int fd) {
    char path[64], line[128];
    unsigned flags = 0;
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open %s: %s", path, strerror(errno));
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "flags: %o", &flags) == 1) break;
    fclose(f);
    return (flags & O_NONBLOCK) != 0;
}

static void check_blocking(const char *when) {
    int fl = fcntl(0, F_GETFL);
    CHECK(fl >= 0, "F_GETFL: %s", strerror(errno));
    CHECK(!(fl & O_NONBLOCK), "stdin O_NONBLOCK visible via F_GETFL %s", when);
    CHECK(!kernel_nonblock(0), "stdin O_NONBLOCK set in the kernel (fdinfo) %s", when);
}

static void *reader(void *arg) {
    (void)arg;
    unsigned char buf[4096];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) hash = (hash ^ buf[i]) * 0x100000001b3ULL;
        nbytes += (size_t)n;
    }
    CHECK(n == 0, "read stdin: %s", strerror(errno));
    return NULL;
}

static void *ticker(void *arg) {
    (void)arg;
    for (int i = 0; i < 10; i++) {
        CHECK(usleep(10000) == 0, "usleep: %s", strerror(errno));
        ticks++;
    }
    return NULL;
}

int main(void) {
    check_blocking("before reading");
    long long t0 = now_ms();
    pthread_t r, t;
    CHECK(pthread_create(&r, NULL, reader, NULL) == 0, "create reader");
    CHECK(pthread_create(&t, NULL, ticker, NULL) == 0, "create ticker");
    metric("os_threads_max", os_threads());
    CHECK(pthread_join(r, NULL) == 0 && pthread_join(t, NULL) == 0, "join");
    metric("wall_ms", now_ms() - t0);
    check_blocking("after EOF");
    printf("bytes=%zu checksum=%016llx\nticks=%d\n", nbytes, (unsigned long long)hash, ticks);
    return 0;
}
