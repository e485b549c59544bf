/* A thread-per-connection server holding 1000 concurrent clients: the server (parent)
 * starts one thread per accepted connection; the client process (child) opens all
 * 1000 connections first, then each sends a line and reads the reply. Prints
 * "<ms> <server peak OS threads>". */
#include "../../c-tests/common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define N 1000
static int peak;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *serve(void *arg) {
    int c = (int)(long)arg;
    char buf[256];
    ssize_t r;
    int n = os_threads();
    pthread_mutex_lock(&mu);
    if (n > peak) peak = n;
    pthread_mutex_unlock(&mu);
    while ((r = read(c, buf, sizeof buf)) > 0) CHECK(write(c, buf, r) == r, "echo");
    close(c);
    return NULL;
}

static void client(int port) {
    static int fds[N];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(connect(fds[i], (struct sockaddr *)&a, sizeof a) == 0, "connect %d: %s", i, strerror(errno));
    }
    usleep(300000); /* all 1000 connections open at once */
    for (int i = 0; i < N; i++) CHECK(write(fds[i], "ping\n", 5) == 5, "send");
    for (int i = 0; i < N; i++) {
        char b[8];
        CHECK(read(fds[i], b, 5) == 5 && memcmp(b, "ping\n", 5) == 0, "reply %d", i);
        close(fds[i]);
    }
    _exit(0);
}

int main(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, N) == 0, "listen");
    getsockname(l, (struct sockaddr *)&a, &len);
    long long t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) client(ntohs(a.sin_port));
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 64 * 1024);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < N; i++) {
        int c = accept(l, NULL, NULL);
        CHECK(c >= 0, "accept");
        pthread_t t;
        CHECK(pthread_create(&t, &at, serve, (void *)(long)c) == 0, "create");
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "client failed");
    printf("%lld %d\n", now_ms() - t0, peak);
    return 0;
}
