/* file_server PORT FILE [direct]: HTTP/1.1 keep-alive static-file server, one pthread per
 * connection, every request answered with the whole FILE read from disk with pread (in
 * 256 KiB chunks) and written to the socket: the "nginx with aio threads" shape. With
 * `direct` the file is opened O_DIRECT (every read goes to the disk, never the page cache),
 * so a shim that runs file reads inline on its one OS thread serialises every connection
 * behind each disk read; natively the reads of 100 connections overlap. */
#include "http_common.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#define CHUNK (256 * 1024)

static int file_fd;
static off_t file_size;
static char header[256];
static size_t header_len;

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_file(int fd, char *chunk) {
    if (write_all(fd, header, header_len) != 0) return -1;
    for (off_t off = 0; off < file_size;) {
        ssize_t r = pread(file_fd, chunk, CHUNK, off);
        if (r <= 0) return -1;
        if (write_all(fd, chunk, (size_t)r) != 0) return -1;
        off += r;
    }
    return 0;
}

static void *serve(void *arg) {
    int fd = (int)(long)arg;
    char buf[8192];
    char *chunk = NULL;
    size_t have = 0;
    if (posix_memalign((void **)&chunk, 4096, CHUNK) != 0) goto out;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        if (r <= 0) break;
        have += (size_t)r;
        size_t used;
        int n = complete_requests(buf, have, &used);
        for (int i = 0; i < n; i++)
            if (send_file(fd, chunk) != 0) goto out;
        memmove(buf, buf + used, have - used);
        have -= used;
        if (have == sizeof buf) break;
    }
out:
    free(chunk);
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: file_server PORT FILE [direct]\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    int direct = argc > 3 && strcmp(argv[3], "direct") == 0;
    file_fd = open(argv[2], O_RDONLY | (direct ? O_DIRECT : 0));
    if (file_fd < 0) { perror("open"); return 1; }
    struct stat st;
    if (fstat(file_fd, &st) != 0) { perror("fstat"); return 1; }
    file_size = st.st_size;
    header_len = (size_t)snprintf(header, sizeof header,
                                  "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                  "Content-Length: %lld\r\n\r\n", (long long)file_size);
    int ls = listen_on(atoi(argv[1]), 0);
    return accept_loop(ls, serve, "file_server");
}
