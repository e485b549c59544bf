/* When no OS thread can be started (here: RLIMIT_AS leaves no room for an 8 MiB
 * thread stack), calls the shim serves on its offload threads (fsync, a user lookup)
 * still complete, as natively, instead of ending the program.
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/resource.h>

static long vm_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld", &v) == 1) break;
    if (f) fclose(f);
    return v;
}

static int fd;
static int results[2];

static void *worker(void *arg) {
    long i = (long)arg;
    if (i == 0) results[0] = fsync(fd);
    else {
        struct passwd pw, *out = NULL;
        char buf[1024];
        results[1] = getpwuid_r(0, &pw, buf, sizeof buf, &out) == 0 && out != NULL ? 0 : -1;
    }
    return NULL;
}

int main(void) {
    char path[] = "/tmp/greenshim-faults-XXXXXX";
    fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    unlink(path);
    CHECK(write(fd, "data", 4) == 4, "write");
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    /* Room for small stacks, not for an 8 MiB default one. */
    struct rlimit r = {(rlim_t)(vm_kib() + 2048) * 1024, RLIM_INFINITY};
    CHECK(setrlimit(RLIMIT_AS, &r) == 0, "setrlimit");
    pthread_t big;
    int e = pthread_create(&big, NULL, worker, (void *)5L);
    if (e == 0) pthread_join(big, NULL);
    printf("an 8 MiB-stack thread can be created: %s\n", e == 0 ? "yes" : "no");
    pthread_t t[2];
    for (long i = 0; i < 2; i++) CHECK(pthread_create(&t[i], &a, worker, (void *)i) == 0, "create %ld", i);
    for (int i = 0; i < 2; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    printf("fsync from a thread: %d, user lookup from a thread: %d\n", results[0], results[1]);
    return 0;
}
