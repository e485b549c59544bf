/* Shared bits of the two C "hello" HTTP/1.1 servers of greenshim's benchmark suite. */
#ifndef BENCH_HTTP_COMMON_H
#define BENCH_HTTP_COMMON_H
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "Hello, world\n";
#define RESPONSE_LEN (sizeof RESPONSE - 1)

#define BACKLOG 4096

/* Listening socket on 127.0.0.1:port; exits on failure. */
static int listen_on(int port, int extra_flags) {
    int s = socket(AF_INET, SOCK_STREAM | extra_flags, 0);
    int one = 1;
    struct sockaddr_in a;
    if (s < 0) { perror("socket"); exit(1); }
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); exit(1); }
    if (listen(s, BACKLOG) != 0) { perror("listen"); exit(1); }
    return s;
}

/* Number of complete requests (ended by an empty line) at the start of buf[0..len);
 * *used is set to the bytes they take. Requests have no body (wrk sends GETs). */
static int complete_requests(const char *buf, size_t len, size_t *used) {
    int n = 0;
    size_t off = 0;
    for (;;) {
        const char *end = memmem(buf + off, len - off, "\r\n\r\n", 4);
        if (!end) break;
        off = (size_t)(end - buf) + 4;
        n++;
    }
    *used = off;
    return n;
}
/* The thread-per-connection accept loop of thread_server and file_server: one detached
 * thread (default attributes otherwise) runs serve(fd) per accepted connection. */
static inline int accept_loop(int ls, void *(*serve)(void *), const char *name) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) { usleep(1000); continue; }
            perror("accept");
            return 1;
        }
        pthread_t t;
        int rc = pthread_create(&t, &attr, serve, (void *)(long)c);
        if (rc != 0) {
            fprintf(stderr, "%s: pthread_create: %s\n", name, strerror(rc));
            close(c);
        }
    }
}
#endif
