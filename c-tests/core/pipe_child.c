/* pipe_child: a (shimmed) parent feeds an UNshimmed child through pipes.
 *
 * Why: O_NONBLOCK lives on the open file description, which is shared
 * across fork/exec. If greenshim set O_NONBLOCK on pipe ends behind the
 * program's back, a child exec'ed without the shim would see a
 * non-blocking stdin/stdout and get spurious EAGAIN. Also exercises two
 * threads doing blocking pipe I/O concurrently.
 *
 * Parent: creates two pipes, forks (before any thread); the child dup2()s
 * them onto 0/1, unsetenv("LD_PRELOAD") and re-execs /proc/self/exe with
 * argv[1] = "child". The parent then runs a writer thread (1 MiB of
 * deterministic data, variable chunks) and a reader thread (collects the
 * child's output) at the same time, joins them and waitpid()s.
 * Child mode: checks F_GETFL of fds 0 and 1 has no O_NONBLOCK, copies stdin
 * to stdout with plain blocking read/write (so the parent must read while
 * writing, a pipe holds only 64 KiB), then appends a trailer line
 *   "stdin_nonblock=0 stdout_nonblock=0 len=<n> hash=<fnv1a>\n".
 * The parent checks the echo is byte-identical and the trailer matches.
 *
 * argv modes: none (normal run), "child" (internal: the unshimmed child).
 * stdout: "child saw blocking stdin, checksum ok\n"
 * metrics: os_threads_max (parent, after creating both threads), wall_ms.
 */
#undef _GNU_SOURCE /* common.h defines it; avoid a redefinition warning */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>

#define TOTAL (1024 * 1024)

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}
#define FNV0 0xcbf29ce484222325ULL

static void write_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        CHECK(w > 0, "write: %s", strerror(errno));
        p += w; n -= (size_t)w;
    }
}

static int child_mode(void) {
    int in_nb = (fcntl(0, F_GETFL) & O_NONBLOCK) != 0;
    int out_nb = (fcntl(1, F_GETFL) & O_NONBLOCK) != 0;
    unsigned char buf[8192];
    uint64_t h = FNV0;
    size_t len = 0;
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
        h = fnv(h, buf, (size_t)n);
        len += (size_t)n;
        write_all(1, buf, (size_t)n);
    }
    CHECK(n == 0, "child read: %s", strerror(errno));
    char line[128];
    int l = snprintf(line, sizeof line, "stdin_nonblock=%d stdout_nonblock=%d len=%zu hash=%016llx\n",
                     in_nb, out_nb, len, (unsigned long long)h);
    write_all(1, (unsigned char *)line, (size_t)l);
    return 0;
}

static unsigned char *sent, *got;
static size_t got_len;
static int to_child, from_child;

static void *writer(void *arg) {
    (void)arg;
    size_t off = 0, chunk = 1;
    while (off < TOTAL) {
        chunk = chunk * 7 % 40000 + 1; /* 1 .. 40000 bytes, deterministic */
        if (chunk > TOTAL - off) chunk = TOTAL - off;
        write_all(to_child, sent + off, chunk);
        off += chunk;
    }
    close(to_child); /* EOF for the child */
    return NULL;
}

static void *reader(void *arg) {
    (void)arg;
    size_t cap = TOTAL + 4096;
    ssize_t n;
    while ((n = read(from_child, got + got_len, cap - got_len)) > 0) {
        got_len += (size_t)n;
        CHECK(got_len < cap, "child sent too much");
    }
    CHECK(n == 0, "parent read: %s", strerror(errno));
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child_mode();

    int in[2], out[2]; /* in: parent -> child stdin, out: child stdout -> parent */
    CHECK(pipe(in) == 0 && pipe(out) == 0, "pipe: %s", strerror(errno));
    fflush(NULL);
    long long t0 = now_ms();
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]); close(in[1]); close(out[0]); close(out[1]);
        unsetenv("LD_PRELOAD");
        execl("/proc/self/exe", argv[0], "child", (char *)NULL);
        fprintf(stderr, "FAIL: exec: %s\n", strerror(errno));
        _exit(1);
    }
    close(in[0]); close(out[1]);
    to_child = in[1];
    from_child = out[0];

    sent = malloc(TOTAL);
    got = malloc(TOTAL + 4096);
    CHECK(sent && got, "malloc");
    uint32_t s = 12345;
    for (size_t i = 0; i < TOTAL; i++) { s = s * 1103515245u + 12345u; sent[i] = (unsigned char)(s >> 16); }

    pthread_t w, r;
    CHECK(pthread_create(&r, NULL, reader, NULL) == 0, "create reader");
    CHECK(pthread_create(&w, NULL, writer, NULL) == 0, "create writer");
    metric("os_threads_max", os_threads());
    CHECK(pthread_join(w, NULL) == 0 && pthread_join(r, NULL) == 0, "join");
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
    metric("wall_ms", now_ms() - t0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status 0x%x)", status);

    CHECK(got_len > TOTAL, "child output too short: %zu", got_len);
    CHECK(memcmp(got, sent, TOTAL) == 0, "echoed data differs");
    char expect[128];
    snprintf(expect, sizeof expect, "stdin_nonblock=0 stdout_nonblock=0 len=%d hash=%016llx\n",
             TOTAL, (unsigned long long)fnv(FNV0, sent, TOTAL));
    CHECK(got_len - TOTAL == strlen(expect) && memcmp(got + TOTAL, expect, strlen(expect)) == 0,
          "child trailer: got \"%.*s\" want \"%s\"", (int)(got_len - TOTAL), (char *)got + TOTAL, expect);
    printf("child saw blocking stdin, checksum ok\n");
    return 0;
}
