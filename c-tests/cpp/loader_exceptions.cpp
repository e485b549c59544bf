// loader_exceptions: C++ exceptions while another thread holds the loader in a blocking
// constructor. One thread dlopens argv[1] (libpark_pipe.so, whose constructor reads a
// pipe: glibc holds its loader lock meanwhile); 20 threads throw and catch 200
// exceptions each through a few frames with destructors, around sleeps, and 2 threads
// walk the loaded modules with dl_iterate_phdr (sleeping in the callback). Natively
// none of them waits for the constructor (unwinding finds its tables with
// _dl_find_object or dl_iterate_phdr, neither of which takes the lock the constructor
// holds); only when they are all done does main write the pipe. Under the shim the
// throwers and walkers must not be kept out by the shim's own loader lock either.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdexcept>
#include <string>
#include <unistd.h>

static const int THROWERS = 20, THROWS = 200, WALKERS = 2;
static long caught[THROWERS], destroyed[THROWERS], walked[WALKERS];
static std::atomic<int> loaded{0};
static int value = -1;

struct Guard {
    long *n;
    ~Guard() { ++*n; }
};

static void deep(int d, long id) {
    Guard g{&destroyed[id]};
    if (d == 0) throw std::runtime_error("thrown by " + std::to_string(id));
    deep(d - 1, id);
}

static void *thrower(void *arg) {
    long id = reinterpret_cast<long>(arg);
    for (int i = 0; i < THROWS; i++) {
        try {
            deep(i % 5, id);
        } catch (const std::runtime_error &e) {
            if (std::string(e.what()) == "thrown by " + std::to_string(id)) caught[id]++;
        }
        if (i % 20 == 0) usleep(200);
    }
    return nullptr;
}

static int walk_cb(struct dl_phdr_info *, size_t, void *p) {
    usleep(100);
    ++*static_cast<long *>(p);
    return 0;
}

static void *walker(void *arg) {
    long id = reinterpret_cast<long>(arg);
    for (int i = 0; i < 10; i++) dl_iterate_phdr(walk_cb, &walked[id]);
    return nullptr;
}

static void *loader(void *arg) {
    void *h = dlopen(static_cast<const char *>(arg), RTLD_NOW);
    if (!h) {
        std::fprintf(stderr, "FAIL: dlopen: %s\n", dlerror());
        std::exit(1);
    }
    auto v = reinterpret_cast<int (*)()>(dlsym(h, "lib_value"));
    value = v ? v() : -2;
    loaded = 1;
    dlclose(h);
    return nullptr;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "FAIL: usage: loader_exceptions libpark_pipe.so\n");
        return 1;
    }
    int p[2];
    if (pipe(p) != 0) return 1;
    setenv("PARKING_CTOR_FD", std::to_string(p[0]).c_str(), 1);
    pthread_t l, t[THROWERS], w[WALKERS];
    pthread_create(&l, nullptr, loader, argv[1]);
    usleep(50000);
    for (long i = 0; i < THROWERS; i++) pthread_create(&t[i], nullptr, thrower, reinterpret_cast<void *>(i));
    for (long i = 0; i < WALKERS; i++) pthread_create(&w[i], nullptr, walker, reinterpret_cast<void *>(i));
    for (auto &x : t) pthread_join(x, nullptr);
    for (auto &x : w) pthread_join(x, nullptr);
    bool waiting = loaded == 0;
    if (write(p[1], "x", 1) != 1) return 1;
    pthread_join(l, nullptr);
    long all = 0, dtors = 0;
    for (int i = 0; i < THROWERS; i++) all += caught[i], dtors += destroyed[i];
    bool walks = true;
    for (long n : walked) walks = walks && n >= 30;
    std::printf("caught %ld of %d, destructors %ld\n", all, THROWERS * THROWS, dtors);
    std::printf("throwers and walkers finished while the constructor waited: %s (walks %s)\n", waiting ? "yes" : "no", walks ? "ok" : "short");
    std::printf("library value after its constructor: %d\n", value);
    return all == THROWERS * THROWS && waiting && walks && value == 8 ? 0 : 1;
}
