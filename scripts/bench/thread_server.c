/* thread_server PORT: HTTP/1.1 keep-alive "hello" server, one pthread per connection
 * (default thread attributes), blocking sockets. The classic design greenshim is meant
 * to make cheap; the benchmark runs it natively and under LD_PRELOAD=libgreenshim.so. */
#include "http_common.h"
#include <pthread.h>
#include <signal.h>

static void *serve(void *arg) {
    int fd = (int)(long)arg;
    char buf[8192];
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        if (r <= 0) break;
        have += (size_t)r;
        size_t used;
        int n = complete_requests(buf, have, &used);
        for (int i = 0; i < n; i++) {
            size_t off = 0;
            while (off < RESPONSE_LEN) {
                ssize_t w = write(fd, RESPONSE + off, RESPONSE_LEN - off);
                if (w <= 0) goto out;
                off += (size_t)w;
            }
        }
        memmove(buf, buf + used, have - used);
        have -= used;
        if (have == sizeof buf) break; /* oversized request */
    }
out:
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: thread_server PORT\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    int ls = listen_on(atoi(argv[1]), 0);
    return accept_loop(ls, serve, "thread_server");
}
