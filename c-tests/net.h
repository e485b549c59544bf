/* Loopback socket helpers shared by the test programs (see common.h for the contract). */
#ifndef GREENSHIM_TEST_NET_H
#define GREENSHIM_TEST_NET_H
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* A connected TCP pair on 127.0.0.1, made with socket()+connect() and accept():
 * sv[0] is the accepted socket if `accepted`, else the connected one; sv[1] the other. */
static inline void loopback_pair(int sv[2], int accepted) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(ls >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK(bind(ls, (struct sockaddr *)&a, sizeof a) == 0, "bind: %s", strerror(errno));
    CHECK(listen(ls, 1) == 0, "listen: %s", strerror(errno));
    CHECK(getsockname(ls, (struct sockaddr *)&a, &al) == 0, "getsockname: %s", strerror(errno));
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c >= 0, "socket: %s", strerror(errno));
    CHECK(connect(c, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
    int s = accept(ls, NULL, NULL);
    CHECK(s >= 0, "accept: %s", strerror(errno));
    close(ls);
    sv[0] = accepted ? s : c;
    sv[1] = accepted ? c : s;
}
#endif
