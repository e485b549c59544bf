/* dl_walk_blocks: a dl_iterate_phdr callback that blocks (reads a pipe) while another
 * thread dlopens a library. glibc holds its list lock across the callbacks and dlopen
 * takes it to add the new object, so natively the dlopen returns only after the walk
 * has finished; a third thread writes the pipe 100 ms after the dlopen started (it does
 * not need the loader itself, so natively nothing deadlocks). The callback also creates
 * and joins a thread. Then the same with dlclose of a loaded library, and the other way
 * round: a walk that does not block proceeds while a constructor blocks (glibc's
 * dlopen does not hold the list lock while constructors run), and a child forked
 * meanwhile uses the loader (glibc resets its locks in the child; so must the shim).
 *
 * argv[1]: libpark_plain.so (no blocking constructor)
 * argv[2]: libpark_pipe.so (constructor reads a byte from $PARKING_CTOR_FD) */
#include "../common.h"
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/wait.h>

static int walk_pipe[2], ctor_pipe[2];
static sem_t walk_started, loader_started;
static atomic_int step;
static int walk_end_step, loader_end_step, walk_objects;
static const char *lib_plain, *lib_pipe;
static void *closing;

static void *helper(void *arg) { return (void *)((long)arg + 1); }

static int blocking_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)info, (void)size;
    int *n = data;
    if ((*n)++ == 0) {
        pthread_t t;
        void *r = 0;
        CHECK(pthread_create(&t, 0, helper, (void *)41L) == 0 && pthread_join(t, &r) == 0 && (long)r == 42, "thread in callback");
        metric("os_threads_max", os_threads());
        sem_post(&walk_started);
        char c;
        CHECK(read(walk_pipe[0], &c, 1) == 1, "read walk pipe");
        /* Still inside the walk (glibc keeps its lock until the last callback). */
        walk_end_step = atomic_fetch_add(&step, 1);
    }
    return 0;
}

static void *walker(void *arg) {
    (void)arg;
    int n = 0;
    dl_iterate_phdr(blocking_cb, &n);
    walk_objects = n;
    return 0;
}

static void *opener(void *arg) {
    sem_wait(&walk_started);
    sem_post(&loader_started);
    if (arg) {
        CHECK(dlclose(closing) == 0, "dlclose: %s", dlerror());
    } else {
        void *h = dlopen(lib_plain, RTLD_NOW);
        CHECK(h, "dlopen: %s", dlerror());
        closing = h;
    }
    loader_end_step = atomic_fetch_add(&step, 1);
    return 0;
}

static void *writer(void *arg) {
    (void)arg;
    sem_wait(&loader_started);
    usleep(100000);
    CHECK(write(walk_pipe[1], "x", 1) == 1, "write");
    return 0;
}

static void round_trip(const char *what, void *close) {
    pthread_t t[3];
    atomic_store(&step, 0);
    /* The writer first: natively, creating a thread needs the loader's TLS lock, which
     * a dlopen that waits for the blocked walk holds (glibc 2.36), so a writer created
     * after the opener started could never be created. */
    CHECK(pthread_create(&t[2], 0, writer, 0) == 0, "create");
    CHECK(pthread_create(&t[0], 0, walker, 0) == 0, "create");
    CHECK(pthread_create(&t[1], 0, opener, close) == 0, "create");
    for (int i = 0; i < 3; i++) pthread_join(t[i], 0);
    printf("%s returned after the blocked walk ended: %s (walk saw %s objects)\n", what,
           loader_end_step > walk_end_step ? "yes" : "no", walk_objects >= 3 ? "all" : "too few");
}

static atomic_int ctor_done;

static void *ctor_loader(void *arg) {
    (void)arg;
    void *h = dlopen(lib_pipe, RTLD_NOW);
    CHECK(h, "dlopen: %s", dlerror());
    atomic_store(&ctor_done, 1);
    dlclose(h);
    return 0;
}

static int count_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)info, (void)size;
    ++*(int *)data;
    return 0;
}

int main(int argc, char **argv) {
    CHECK(argc == 3, "usage: dl_walk_blocks libpark_plain.so libpark_pipe.so");
    lib_plain = argv[1], lib_pipe = argv[2];
    CHECK(pipe(walk_pipe) == 0 && pipe(ctor_pipe) == 0, "pipe");
    sem_init(&walk_started, 0, 0);
    sem_init(&loader_started, 0, 0);
    round_trip("dlopen", 0);
    round_trip("dlclose", (void *)1);

    char fd[16];
    snprintf(fd, sizeof fd, "%d", ctor_pipe[0]);
    setenv("PARKING_CTOR_FD", fd, 1);
    pthread_t t;
    CHECK(pthread_create(&t, 0, ctor_loader, 0) == 0, "create");
    usleep(50000);
    int walks = 0;
    for (int i = 0; i < 20; i++) {
        int n = 0;
        dl_iterate_phdr(count_cb, &n);
        walks += n >= 3;
    }
    int during = !atomic_load(&ctor_done);
    /* fork while the constructor blocks: the child (only this thread) uses the loader. */
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        void *h = dlopen(lib_plain, RTLD_NOW);
        int n = 0;
        dl_iterate_phdr(count_cb, &n);
        _exit(h && dlsym(h, "lib_value") && dlclose(h) == 0 && n >= 3 ? 0 : 1);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    during = during && !atomic_load(&ctor_done);
    CHECK(write(ctor_pipe[1], "x", 1) == 1, "write");
    pthread_join(t, 0);
    printf("20 walks finished while a constructor blocked: %s\n", during && walks == 20 ? "yes" : "no");
    printf("a fork child used the loader meanwhile: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");
    metric("os_threads_max", os_threads());
    return 0;
}
