/* N threads each fetch a page from the slow local HTTP server over a blocking socket.
 * Prints "<ms> <peak OS threads>". */
#include "../../c-tests/common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

static int port, peak, okcount;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *fetch(void *arg) {
    (void)arg;
    int n = os_threads();
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(s, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
    const char *req = "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    CHECK(write(s, req, strlen(req)) == (ssize_t)strlen(req), "write");
    char buf[4096];
    size_t got = 0;
    ssize_t r;
    while ((r = read(s, buf + got, sizeof buf - got - 1)) > 0) got += r;
    buf[got] = 0;
    close(s);
    pthread_mutex_lock(&mu);
    if (n > peak) peak = n;
    if (strstr(buf, "hello from the slow server")) okcount++;
    pthread_mutex_unlock(&mu);
    return NULL;
}

int main(int argc, char **argv) {
    CHECK(argc == 3, "usage: fetch PORT N");
    port = atoi(argv[1]);
    int n = atoi(argv[2]);
    pthread_t *t = calloc(n, sizeof *t);
    long long t0 = now_ms();
    for (int i = 0; i < n; i++) CHECK(pthread_create(&t[i], NULL, fetch, NULL) == 0, "create");
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    CHECK(okcount == n, "%d of %d fetches ok", okcount, n);
    printf("%lld %d\n", now_ms() - t0, peak);
    return 0;
}
