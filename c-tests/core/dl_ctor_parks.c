/* dl_ctor_parks: constructors and destructors that block inside the loader, while
 * other threads enter it. glibc runs them holding its loader lock, so natively no two
 * threads are ever inside them at once, and every other dlopen/dlclose/dlsym/dladdr
 * waits. Under the shim every green thread has the OS thread's tid, which glibc's
 * recursive lock records as owner: the shim must keep the second green thread out.
 *
 * argv[1]: libpark_sleep.so (constructor sleeps 20 ms, creates and joins a thread,
 *          dlopens argv[3] itself: recursion in one thread)
 * argv[2]: libpark_pipe.so (constructor reads a byte a writer thread sends 2 ms after
 *          it asks)
 * argv[3]: libpark_plain.so (no blocking)
 * 20 threads: 8 dlopen/dlsym/dlclose argv[1], 4 argv[2], 4 libm.so.6 (a bare name) and
 * argv[3], 4 walk the modules with dl_iterate_phdr and call dladdr. The program
 * exports probe_enter/probe_exit (-rdynamic), which the libraries call. */
#include "../common.h"
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t owner;
static int depth;
static long overlaps, ctors, dtors, bad_values, bad_walks;
static const char *lib_sleep, *lib_pipe, *lib_plain;
static int pipefd[2];
static atomic_int stop_writer, wanted;

void probe_want_byte(void) { atomic_fetch_add(&wanted, 1); }

void probe_enter(const char *what) {
    pthread_mutex_lock(&mu);
    if (depth > 0 && !pthread_equal(owner, pthread_self())) overlaps++;
    if (depth == 0) owner = pthread_self();
    depth++;
    if (what[0] == 'c') ctors++; else dtors++;
    pthread_mutex_unlock(&mu);
}

void probe_exit(const char *what) {
    (void)what;
    pthread_mutex_lock(&mu);
    depth--;
    pthread_mutex_unlock(&mu);
}

static void use_lib(const char *path, int expect) {
    void *h = dlopen(path, RTLD_NOW);
    CHECK(h, "dlopen %s: %s", path, dlerror());
    int (*v)(void) = (int (*)(void))dlsym(h, "lib_value");
    CHECK(v, "dlsym lib_value: %s", dlerror());
    int got = v();
    Dl_info info;
    if (got != expect || !dladdr((void *)v, &info) || !info.dli_fname || !strstr(info.dli_fname, "libpark")) {
        pthread_mutex_lock(&mu);
        bad_values++;
        pthread_mutex_unlock(&mu);
    }
    usleep(1000);
    CHECK(dlclose(h) == 0, "dlclose: %s", dlerror());
}

static void *sleeper_user(void *arg) {
    (void)arg;
    for (int i = 0; i < 4; i++) use_lib(lib_sleep, 7);
    return 0;
}

static void *pipe_user(void *arg) {
    (void)arg;
    for (int i = 0; i < 4; i++) use_lib(lib_pipe, 8);
    return 0;
}

static void *other_user(void *arg) {
    (void)arg;
    for (int i = 0; i < 6; i++) {
        void *m = dlopen("libm.so.6", RTLD_NOW);
        CHECK(m, "dlopen libm: %s", dlerror());
        double (*cosp)(double) = (double (*)(double))dlsym(m, "cos");
        CHECK(cosp && cosp(0.0) == 1.0, "cos");
        dlclose(m);
        use_lib(lib_plain, 9);
        usleep(500);
    }
    return 0;
}

static int count_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    if (info->dlpi_phnum == 0) return 1;
    ++*(int *)data;
    return 0;
}

static void *walker(void *arg) {
    (void)arg;
    for (int i = 0; i < 50; i++) {
        int n = 0;
        dl_iterate_phdr(count_cb, &n);
        Dl_info info;
        if (n < 3 || !dladdr((void *)walker, &info)) {
            pthread_mutex_lock(&mu);
            bad_walks++;
            pthread_mutex_unlock(&mu);
        }
        if (i == 25) metric("os_threads_max", os_threads());
        usleep(1000);
    }
    return 0;
}

static void *pipe_writer(void *arg) {
    (void)arg;
    int written = 0;
    while (!atomic_load(&stop_writer)) {
        if (atomic_load(&wanted) > written) {
            usleep(2000);
            CHECK(write(pipefd[1], "x", 1) == 1, "write");
            written++;
        } else {
            usleep(500);
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    CHECK(argc == 4, "usage: dl_ctor_parks libpark_sleep.so libpark_pipe.so libpark_plain.so");
    lib_sleep = argv[1], lib_pipe = argv[2], lib_plain = argv[3];
    CHECK(pipe(pipefd) == 0, "pipe");
    char fd[16];
    snprintf(fd, sizeof fd, "%d", pipefd[0]);
    setenv("PARKING_CTOR_FD", fd, 1);
    setenv("PARKING_NESTED", lib_plain, 1);
    pthread_t w;
    CHECK(pthread_create(&w, 0, pipe_writer, 0) == 0, "create writer");
    long long t0 = now_ms();
    pthread_t t[20];
    for (int i = 0; i < 20; i++) {
        void *(*f)(void *) = i < 8 ? sleeper_user : i < 12 ? pipe_user : i < 16 ? other_user : walker;
        CHECK(pthread_create(&t[i], 0, f, 0) == 0, "create");
    }
    for (int i = 0; i < 20; i++) pthread_join(t[i], 0);
    atomic_store(&stop_writer, 1);
    pthread_join(w, 0);
    metric("wall_ms", now_ms() - t0);
    metric("ctor_runs", ctors);
    metric("os_threads_max", os_threads());
    printf("overlapping constructors/destructors: %ld\n", overlaps);
    printf("every constructor run had its destructor: %s\n", ctors == dtors && ctors >= 3 ? "yes" : "no");
    printf("bad lookups %ld, bad walks %ld\n", bad_values, bad_walks);
    CHECK(overlaps == 0 && ctors == dtors && bad_values == 0 && bad_walks == 0, "see stdout");
    return 0;
}
