/* file_io: regular-file writes and reads from 4 threads while a ticker runs; the data
 * read back is checked. Run under the shim both inline (default) and with
 * GREENSHIM_FILE_IO=offload, where each read/write runs on the offload pool.
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>

#define SIZE (4 << 20)
static char path[64];
static volatile int stop;
static int ticks;

static void *ticker(void *arg) {
    (void)arg;
    while (!stop) {
        usleep(1000);
        ticks++;
    }
    return NULL;
}

static void *reader(void *arg) {
    unsigned long long *sum = arg;
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0, "open");
    char buf[4096];
    ssize_t r;
    unsigned long long h = 1469598103934665603ULL;
    size_t total = 0;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < r; i++) h = (h ^ (unsigned char)buf[i]) * 1099511628211ULL;
        total += r;
    }
    CHECK(r == 0 && total == SIZE, "read %zu bytes", total);
    close(fd);
    *sum = h;
    return NULL;
}

int main(void) {
    snprintf(path, sizeof path, "/tmp/greenshim-fileio-%d", getpid());
    pthread_t tk, rd[4];
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create");
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    CHECK(fd >= 0, "create file");
    char block[8192];
    for (int i = 0; i < SIZE / (int)sizeof block; i++) {
        for (size_t j = 0; j < sizeof block; j++) block[j] = (char)(i * 31 + j * 7);
        CHECK(write(fd, block, sizeof block) == (ssize_t)sizeof block, "write");
    }
    CHECK(fsync(fd) == 0, "fsync");
    close(fd);
    unsigned long long sums[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&rd[i], NULL, reader, &sums[i]) == 0, "create");
    metric("os_threads_max", os_threads());
    for (int i = 0; i < 4; i++) pthread_join(rd[i], NULL);
    stop = 1;
    pthread_join(tk, NULL);
    unlink(path);
    for (int i = 1; i < 4; i++) CHECK(sums[i] == sums[0], "reader %d saw different data", i);
    printf("4 readers read %d bytes each, checksum %016llx\n", SIZE, sums[0]);
    return 0;
}
