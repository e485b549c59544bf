/* file_direct: regular-file reads under GREENSHIM_FILE_IO=auto (the default). A 4 MiB
 * file is read three ways while a ticker thread runs: from the page cache, after the
 * cache was dropped (POSIX_FADV_DONTNEED), and with O_DIRECT. The data must be the
 * same natively and under the shim; under the shim the uncached and O_DIRECT reads go
 * to the offload pool (the test checks the shim's statistics), so the ticker keeps
 * ticking while the disk works.
 *
 * stdout: the three checksums and the byte counts.
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#define SIZE (4L << 20)
#define BLOCK (1L << 20)

static atomic_int done;
static atomic_long ticks;

static void *ticker(void *arg) {
    (void)arg;
    while (!atomic_load(&done)) {
        usleep(1000);
        atomic_fetch_add(&ticks, 1);
    }
    return NULL;
}

static uint64_t sum(const unsigned char *p, long n, uint64_t h) {
    for (long i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static uint64_t read_all(int fd, unsigned char *buf, long *total) {
    uint64_t h = 1469598103934665603ULL;
    *total = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, BLOCK, *total);
        CHECK(n >= 0, "pread: %s", strerror(errno));
        if (n == 0) break;
        h = sum(buf, n, h);
        *total += n;
    }
    return h;
}

int main(void) {
    char path[] = "/var/tmp/greenshim_direct_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
    unlink(path);
    unsigned char *buf;
    CHECK(posix_memalign((void **)&buf, 4096, BLOCK) == 0, "posix_memalign");
    for (long off = 0; off < SIZE; off += BLOCK) {
        for (long i = 0; i < BLOCK; i++) buf[i] = (unsigned char)((off + i) * 7 + (off + i) / 4096);
        CHECK(write(fd, buf, BLOCK) == BLOCK, "write: %s", strerror(errno));
    }
    CHECK(fsync(fd) == 0, "fsync: %s", strerror(errno));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, ticker, NULL) == 0, "pthread_create");
    metric("os_threads_max", os_threads());

    long total;
    uint64_t cached = read_all(fd, buf, &total);
    printf("cached: %ld bytes, checksum %016llx\n", total, (unsigned long long)cached);
    CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0, "fadvise");
    uint64_t uncached = read_all(fd, buf, &total);
    printf("uncached: %ld bytes, checksum %016llx\n", total, (unsigned long long)uncached);

    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    int d = open(self, O_RDONLY | O_DIRECT);
    if (d < 0 && errno == EINVAL) {
        printf("O_DIRECT: not supported by this file system\n");
    } else {
        CHECK(d >= 0, "open O_DIRECT: %s", strerror(errno));
        uint64_t direct = read_all(d, buf, &total);
        printf("O_DIRECT: %ld bytes, checksum %016llx\n", total, (unsigned long long)direct);
        CHECK(direct == cached, "O_DIRECT data differs");
        close(d);
    }
    CHECK(cached == uncached, "uncached data differs");

    /* Positioned calls with a negative offset fail with EINVAL (the shim's preadv2 and
     * pwritev2 would read "at the current position" for -1); read/readv of one buffer
     * and of several advance the file position alike. */
    errno = 0;
    ssize_t r = pread(fd, buf, 16, -1);
    printf("pread(-1): %zd %s\n", r, r < 0 ? strerror(errno) : "");
    errno = 0;
    r = pwrite(fd, buf, 16, -1);
    printf("pwrite(-1): %zd %s\n", r, r < 0 ? strerror(errno) : "");
    struct iovec v[2] = {{buf, 10}, {buf + 10, 6}};
    errno = 0;
    r = preadv(fd, v, 2, -1);
    printf("preadv(-1): %zd %s\n", r, r < 0 ? strerror(errno) : "");
    CHECK(lseek(fd, 4096, SEEK_SET) == 4096, "lseek");
    CHECK(read(fd, buf, 100) == 100 && readv(fd, v, 2) == 16, "read/readv");
    printf("position after read+readv: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    atomic_store(&done, 1);
    pthread_join(t, NULL);
    metric("ticks", atomic_load(&ticks));
    close(fd);
    free(buf);
    return 0;
}
