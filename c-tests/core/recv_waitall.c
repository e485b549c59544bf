/* recv_waitall: recv(MSG_WAITALL) waits for the whole amount even when it arrives in
 * pieces (a writer thread sends 100-byte chunks 30 ms apart), and at EOF the bytes
 * received so far are returned.
 */
#include "../common.h"
#include <pthread.h>
#include <sys/socket.h>

static int sv[2];

static void *writer(void *arg) {
    (void)arg;
    char chunk[100];
    for (int i = 0; i < 6; i++) {
        memset(chunk, 'a' + i, sizeof chunk);
        usleep(30000);
        CHECK(send(sv[1], chunk, sizeof chunk, 0) == (ssize_t)sizeof chunk, "send");
    }
    usleep(30000);
    CHECK(send(sv[1], "tail", 4, 0) == 4, "send");
    shutdown(sv[1], SHUT_WR);
    return NULL;
}

int main(void) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, writer, NULL) == 0, "create");
    metric("os_threads_max", os_threads());
    char buf[512];
    ssize_t r = recv(sv[0], buf, 300, MSG_WAITALL);
    CHECK(r == 300 && buf[0] == 'a' && buf[299] == 'c', "waitall got %zd", r);
    printf("recv(300, MSG_WAITALL) over three 100-byte sends: %zd\n", r);
    r = recv(sv[0], buf, 200, MSG_WAITALL);
    CHECK(r == 200 && buf[0] == 'd' && buf[199] == 'e', "second waitall got %zd", r);
    printf("recv(200, MSG_WAITALL): 200\n");
    r = recv(sv[0], buf, 500, MSG_WAITALL);
    CHECK(r == 104, "at EOF waitall got %zd", r);
    printf("recv(500, MSG_WAITALL) until EOF: %zd\n", r);
    pthread_join(t, NULL);
    return 0;
}
