/* execl_variadic: execl, execlp and execle with more arguments than fit in registers,
 * and what an exec'd child inherits.
 *
 * Why: the execl family is variadic, so greenshim interposes it with a trampoline
 * that must pass every argument (stack ones included) through untouched; and, like
 * execve, it must clear the O_NONBLOCK the shim keeps hidden on sockets it created,
 * so the new program sees the blocking socket the old one believed it had.
 *   1. a thread creates a TCP listening socket (blocking, not close-on-exec) and forks
 *      a child that execl()s this program with 9 arguments: "check", the fd, and
 *      seven words; the child prints its arguments and whether the fd is O_NONBLOCK;
 *   2. the same through execle() with an environment of its own;
 *   3. execlp("printf", ...) with 8 arguments found on PATH.
 * Threads (a ticker) run meanwhile, so the shim is active in the parent.
 *
 * stdout (deterministic):
 *   "check: 7 words: w1 w2 w3 w4 w5 w6 w7; socket blocking\n"
 *   "check: 7 words: e1 e2 e3 e4 e5 e6 e7; socket blocking; GS_ENV=execle\n"
 *   "p1-p2-p3-p4-p5-p6\n"
 * metrics: os_threads_max.
 */
#include "../common.h"
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>

static volatile int stop;
static void *ticker(void *arg) {
    (void)arg;
    while (!stop) CHECK(usleep(5000) == 0, "usleep");
    return NULL;
}

static int check_child(int argc, char **argv) {
    CHECK(argc == 10, "child got %d arguments", argc);
    int fd = atoi(argv[2]);
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0, "fcntl: %s", strerror(errno));
    printf("check: 7 words:");
    for (int i = 3; i < 10; i++) printf("%s%s", i == 3 ? " " : " ", argv[i]);
    printf("; socket %s", fl & O_NONBLOCK ? "NON-BLOCKING" : "blocking");
    const char *e = getenv("GS_ENV");
    if (e) printf("; GS_ENV=%s", e);
    printf("\n");
    return 0;
}

static void wait_ok(pid_t p) {
    int st;
    CHECK(waitpid(p, &st, 0) == p, "waitpid: %s", strerror(errno));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "check") == 0) return check_child(argc, argv);
    alarm(60);
    pthread_t tk;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0, "socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 4) == 0, "bind/listen");
    char fdnum[16];
    snprintf(fdnum, sizeof fdnum, "%d", s);
    int os_max = os_threads();

    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        execl("/proc/self/exe", "x", "check", fdnum, "w1", "w2", "w3", "w4", "w5", "w6", "w7", (char *)NULL);
        _exit(9);
    }
    wait_ok(p);

    fflush(stdout);
    p = fork();
    if (p == 0) {
        char *env[] = {"GS_ENV=execle", NULL};
        execle("/proc/self/exe", "x", "check", fdnum, "e1", "e2", "e3", "e4", "e5", "e6", "e7", (char *)NULL, env);
        _exit(9);
    }
    wait_ok(p);

    fflush(stdout);
    p = fork();
    if (p == 0) {
        execlp("printf", "printf", "%s-%s-%s-%s-%s-%s\n", "p1", "p2", "p3", "p4", "p5", "p6", (char *)NULL);
        _exit(9);
    }
    wait_ok(p);

    stop = 1;
    CHECK(pthread_join(tk, NULL) == 0, "join");
    metric("os_threads_max", os_max);
    return 0;
}
