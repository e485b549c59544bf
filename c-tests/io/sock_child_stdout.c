/* sock_child_stdout: a socket handed to a child as its stdout (posix_spawn,
 * fork+exec, vfork+exec), 8 MiB to a slow reader.
 *
 * Why: O_NONBLOCK lives on the open file description, which a child shares.
 * A shim that puts a hidden O_NONBLOCK on the sockets the program creates makes
 * a child writing to such a socket (dd, head: programs that expect a blocking
 * stdout) fail with EAGAIN as soon as the reader is slower than the writer;
 * natively every byte arrives.
 * For each way of starting the child (posix_spawn with a dup2 file action;
 * fork + dup2 + execve; vfork + dup2 + execve), each socket kind (a TCP
 * connection over 127.0.0.1 made with socket()/connect()/accept(): once the
 * connected socket, once the accepted one as the child's stdout; and an
 * AF_UNIX socketpair) and each child environment (LD_PRELOAD set empty: the
 * child runs without the shim; the parent's environment: the shim inherited
 * when the parent runs under it), the child is
 *     dd if=DATA bs=65536 count=128      (spawn, vfork)
 *     head -c 8388608 DATA               (fork)
 * with its stdout on the socket, while a reader thread in the parent drains
 * the peer slowly (200 ms before the first read, then 1 ms every 16 reads of
 * 64 KiB). DATA is an 8 MiB file with a deterministic pattern. Checked: the
 * child exits 0, exactly 8388608 bytes arrive, their FNV-1a 64 checksum equals
 * the file's, and F_GETFL of the parent's socket shows no O_NONBLOCK afterwards.
 * Every case runs; failures are reported on stderr, exit 1 at the end.
 * A 20 s alarm watchdog fails on a hang.
 *
 * Result under the shim that kept a hidden O_NONBLOCK on sockets (commit
 * 896db20): vfork+exec with the connected TCP socket fails, child with and
 * without the shim (dd: "Resource temporarily unavailable", ~3.9 MiB of 8 MiB
 * arrive); the other cases pass there (its exec hook cleared the flag).
 *
 * stdout (deterministic): one line per case.
 * metrics: os_threads_max, wall_ms.
 */
#include "../common.h"
#include "../net.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define SIZE (8 * 1024 * 1024)

extern char **environ;

static int os_max;
static int failures;
static char data_path[] = "/tmp/greenshim-sock-child-XXXXXX";
static uint64_t data_sum;

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: watchdog: sock_child_stdout hung for 20 s\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    unlink(data_path);
    _exit(1);
}

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}
#define FNV0 14695981039346656037ULL

static void make_data(void) {
    int fd = mkstemp(data_path);
    CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
    static unsigned char block[65536];
    data_sum = FNV0;
    for (int k = 0; k < SIZE / 65536; k++) {
        for (int i = 0; i < 65536; i++) block[i] = (unsigned char)(i * 7 + (i >> 8) + k * 13);
        CHECK(write(fd, block, sizeof block) == (ssize_t)sizeof block, "write data: %s", strerror(errno));
        data_sum = fnv(data_sum, block, sizeof block);
    }
    CHECK(close(fd) == 0, "close: %s", strerror(errno));
}


struct reader {
    int fd;
    long long n;
    uint64_t sum;
};

static void *slow_reader(void *arg) {
    struct reader *r = arg;
    static unsigned char buf[65536];
    r->sum = FNV0;
    CHECK(usleep(200000) == 0, "usleep: %s", strerror(errno));
    for (int reads = 1;; reads++) {
        ssize_t k = recv(r->fd, buf, sizeof buf, 0);
        CHECK(k >= 0, "reader recv: %s", strerror(errno));
        if (k == 0) break;
        r->sum = fnv(r->sum, buf, (size_t)k);
        r->n += k;
        if (reads % 16 == 0) CHECK(usleep(1000) == 0, "usleep: %s", strerror(errno));
        if (reads == 4) {
            int t = os_threads();
            if (t > os_max) os_max = t;
        }
    }
    return NULL;
}

/* environ, with LD_PRELOAD set empty when the child must run without the shim. */
static char **child_env(int shim_in_child) {
    static char *env[512];
    int n = 0;
    for (char **e = environ; *e && n < 500; e++)
        if (shim_in_child || strncmp(*e, "LD_PRELOAD=", 11) != 0) env[n++] = *e;
    if (!shim_in_child) env[n++] = "LD_PRELOAD=";
    env[n] = NULL;
    return env;
}

enum how { SPAWN, FORK, VFORK };
static const char *how_name[] = {"posix_spawn", "fork+exec", "vfork+exec"};

static pid_t start_child(enum how how, int sock, char **env) {
    char count_arg[] = "count=128", if_arg[64], size_arg[32];
    snprintf(if_arg, sizeof if_arg, "if=%s", data_path);
    snprintf(size_arg, sizeof size_arg, "%d", SIZE);
    char *dd[] = {"dd", if_arg, "bs=65536", count_arg, "status=none", NULL};
    char *head[] = {"head", "-c", size_arg, data_path, NULL};
    pid_t pid = -1;
    if (how == SPAWN) {
        posix_spawn_file_actions_t fa;
        CHECK(posix_spawn_file_actions_init(&fa) == 0, "file_actions_init");
        CHECK(posix_spawn_file_actions_adddup2(&fa, sock, 1) == 0, "adddup2");
        int e = posix_spawn(&pid, "/usr/bin/dd", &fa, NULL, dd, env);
        CHECK(e == 0, "posix_spawn: %s", strerror(e));
        posix_spawn_file_actions_destroy(&fa);
    } else if (how == FORK) {
        pid = fork();
        CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            if (dup2(sock, 1) != 1) _exit(126);
            execve("/usr/bin/head", head, env);
            _exit(127);
        }
    } else {
        pid = vfork();
        CHECK(pid >= 0, "vfork: %s", strerror(errno));
        if (pid == 0) {
            if (dup2(sock, 1) != 1) _exit(126);
            execve("/usr/bin/dd", dd, env);
            _exit(127);
        }
    }
    return pid;
}

enum kind { TCP_CONNECTED, TCP_ACCEPTED, SOCKETPAIR };
static const char *kind_name[] = {"tcp connected socket", "tcp accepted socket", "socketpair"};

static void one(enum how how, enum kind kind, int shim_in_child) {
    int sv[2];
    if (kind != SOCKETPAIR)
        loopback_pair(sv, kind == TCP_ACCEPTED);
    else
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    struct reader r = {.fd = sv[1]};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, slow_reader, &r) == 0, "pthread_create");
    pid_t pid = start_child(how, sv[0], child_env(shim_in_child));
    int st;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
    int fl = fcntl(sv[0], F_GETFL);
    CHECK(fl >= 0, "F_GETFL: %s", strerror(errno));
    CHECK(close(sv[0]) == 0, "close: %s", strerror(errno));
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    close(sv[1]);
    char label[160];
    snprintf(label, sizeof label, "%s, %s, child %s the shim", how_name[how], kind_name[kind],
             shim_in_child ? "with" : "without");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "FAIL: %s: child status 0x%x, %lld bytes arrived\n", label, st, r.n);
        failures++;
    } else if (r.n != SIZE) {
        fprintf(stderr, "FAIL: %s: %lld bytes arrived, want %d\n", label, r.n, SIZE);
        failures++;
    } else if (r.sum != data_sum) {
        fprintf(stderr, "FAIL: %s: checksum of the received bytes differs from the file's\n", label);
        failures++;
    } else if (fl & O_NONBLOCK) {
        fprintf(stderr, "FAIL: %s: F_GETFL shows O_NONBLOCK on the parent's socket\n", label);
        failures++;
    } else {
        printf("%s: exit 0, %d bytes, checksum matches, socket blocking\n", label, SIZE);
    }
    fflush(stdout);
}

int main(void) {
    signal(SIGALRM, on_alarm);
    alarm(20);
    long long t0 = now_ms();
    make_data();
    for (int how = SPAWN; how <= VFORK; how++)
        for (int kind = TCP_CONNECTED; kind <= SOCKETPAIR; kind++)
            for (int shim = 0; shim <= 1; shim++) one((enum how)how, (enum kind)kind, shim);
    unlink(data_path);
    metric("wall_ms", now_ms() - t0);
    metric("os_threads_max", os_max);
    CHECK(failures == 0, "%d case(s) failed", failures);
    return 0;
}
