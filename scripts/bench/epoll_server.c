/* epoll_server PORT: the same HTTP/1.1 keep-alive "hello" server written by hand as one
 * thread around epoll (level-triggered, non-blocking sockets): the reference the
 * thread-per-connection server under greenshim is compared with. */
#include "http_common.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>

struct conn {
    int fd;
    size_t have;
    size_t pending; /* response bytes still to write (when the socket buffer was full) */
    char buf[4096];
};

static int ep;

static void drop(struct conn *c) {
    close(c->fd);
    free(c);
}

/* Writes what is pending; returns -1 on error, 0 when all written, 1 when it would block. */
static int flush(struct conn *c) {
    while (c->pending) {
        size_t off = RESPONSE_LEN - (c->pending % RESPONSE_LEN ? c->pending % RESPONSE_LEN : RESPONSE_LEN);
        ssize_t w = write(c->fd, RESPONSE + off, RESPONSE_LEN - off);
        if (w < 0) return errno == EAGAIN ? 1 : -1;
        c->pending -= (size_t)w;
    }
    return 0;
}

static void on_readable(struct conn *c) {
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
        if (r == 0 || (r < 0 && errno != EAGAIN)) { drop(c); return; }
        if (r < 0) break;
        c->have += (size_t)r;
        size_t used;
        int n = complete_requests(c->buf, c->have, &used);
        memmove(c->buf, c->buf + used, c->have - used);
        c->have -= used;
        c->pending += (size_t)n * RESPONSE_LEN;
        int f = flush(c);
        if (f < 0) { drop(c); return; }
        if (f > 0) {
            struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return;
        }
        if (c->have == sizeof c->buf) { drop(c); return; }
        if ((size_t)r < sizeof c->buf) break;
    }
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: epoll_server PORT\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    int ls = listen_on(atoi(argv[1]), SOCK_NONBLOCK);
    ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0) break;
                    c = calloc(1, sizeof *c);
                    c->fd = fd;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
            } else if (evs[i].events & EPOLLOUT) {
                int f = flush(c);
                if (f < 0) drop(c);
                else if (f == 0) {
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
                    on_readable(c);
                }
            } else {
                on_readable(c);
            }
        }
    }
}
