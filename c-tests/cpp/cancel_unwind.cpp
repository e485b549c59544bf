// cancel_unwind: C++ destructors during glibc's forced unwind. A thread with RAII objects
// in its start routine and in nested calls is cancelled while blocked (sem_wait, read,
// condition_variable::wait) or calls pthread_exit: the destructors run innermost first,
// a catch (...) that rethrows and a catch (abi::__forced_unwind &) that rethrows see the
// unwind pass, pthread_cleanup_push (the C++ form) runs in order with the destructors,
// thread_local objects are destroyed after the unwind, and joiners see
// PTHREAD_CANCELED or the exit value. Output is the same natively and under the shim.
#include <condition_variable>
#include <cstdio>
#include <cxxabi.h>
#include <mutex>
#include <pthread.h>
#include <semaphore.h>
#include <string>
#include <unistd.h>

static sem_t started, never;
static int pipefd[2];
static std::mutex mu;
static std::condition_variable cv;

struct Noisy {
    std::string name;
    explicit Noisy(std::string n) : name(std::move(n)) {}
    ~Noisy() { std::printf("  ~%s\n", name.c_str()); }
};

struct PerThread {
    std::string name = "unset";
    ~PerThread() { std::printf("  ~thread_local(%s)\n", name.c_str()); }
};
static thread_local PerThread tl;

static void say(void *what) { std::printf("  cleanup handler: %s\n", static_cast<const char *>(what)); }

static void blocked_in_sem() {
    Noisy n("inner (sem_wait)");
    sem_post(&started);
    sem_wait(&never);
}

static void *sem_thread(void *) {
    tl.name = "sem";
    Noisy a("start routine's object");
    try {
        Noisy b("in try");
        pthread_cleanup_push(say, (void *)"between the objects");
        blocked_in_sem();
        pthread_cleanup_pop(0);
    } catch (...) {
        std::printf("  catch (...) sees the unwind, rethrows\n");
        throw;
    }
    return nullptr;
}

static void *read_thread(void *) {
    tl.name = "read";
    Noisy a("outer");
    try {
        Noisy b("inner (read)");
        sem_post(&started);
        char c;
        ssize_t r = read(pipefd[0], &c, 1);
        std::printf("  read returned %zd (not reached)\n", r);
    } catch (abi::__forced_unwind &) {
        std::printf("  catch (abi::__forced_unwind &), rethrows\n");
        throw;
    }
    return nullptr;
}

static void *cv_thread(void *) {
    tl.name = "condition_variable";
    Noisy a("outer");
    std::unique_lock<std::mutex> lk(mu);
    Noisy b("holding the lock");
    sem_post(&started);
    cv.wait(lk, [] { return false; });
    return nullptr;
}

static void deep(int n) {
    Noisy x("frame " + std::to_string(n));
    if (n < 3)
        deep(n + 1);
    else
        pthread_exit(reinterpret_cast<void *>(7));
}

static void *exit_thread(void *) {
    tl.name = "exit";
    Noisy a("start routine's object");
    try {
        deep(1);
    } catch (abi::__forced_unwind &) {
        std::printf("  catch (abi::__forced_unwind &) in the start routine, rethrows\n");
        throw;
    }
    return nullptr;
}

static void run(const char *name, void *(*fn)(void *), bool cancel) {
    std::printf("%s:\n", name);
    std::fflush(stdout);
    pthread_t t;
    pthread_create(&t, nullptr, fn, nullptr);
    if (cancel) {
        sem_wait(&started);
        usleep(20000);
        pthread_cancel(t);
    }
    void *ret = nullptr;
    pthread_join(t, &ret);
    if (ret == PTHREAD_CANCELED)
        std::printf("  joined: PTHREAD_CANCELED\n");
    else
        std::printf("  joined: %ld\n", reinterpret_cast<long>(ret));
    std::fflush(stdout);
}

int main() {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    sem_init(&started, 0, 0);
    sem_init(&never, 0, 0);
    if (pipe(pipefd) != 0) return 1;
    run("cancelled in sem_wait", sem_thread, true);
    run("cancelled in read", read_thread, true);
    run("cancelled in condition_variable::wait", cv_thread, true);
    {
        std::unique_lock<std::mutex> lk(mu, std::try_to_lock);
        std::printf("mutex %s after the cancelled wait\n", lk.owns_lock() ? "free" : "still held");
    }
    run("pthread_exit three frames deep", exit_thread, false);
    return 0;
}
