// C++20 threads and synchronization: std::thread, mutex/condition_variable,
// atomic::wait/notify, counting_semaphore, latch, barrier, jthread + stop_token,
// thread_local. libstdc++ waits in futexes through syscall(SYS_futex).
#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <latch>
#include <mutex>
#include <numeric>
#include <semaphore>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
static int os_max = 0;

static void sample() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("Threads:", 0) == 0) os_max = std::max(os_max, std::stoi(line.substr(8)));
}

std::mutex &m2();
static void mutex_condvar() {
    std::mutex m;
    std::condition_variable cv;
    std::vector<int> q;
    long total = 0;
    std::thread producer([&] {
        for (int i = 0; i < 1000; i++) {
            { std::lock_guard g(m); q.push_back(i); }
            cv.notify_one();
            if (i % 100 == 0) std::this_thread::sleep_for(1ms);
        }
    });
    int got = 0;
    while (got < 1000) {
        std::unique_lock g(m);
        cv.wait(g, [&] { return !q.empty(); });
        for (int v : q) total += v, got++;
        q.clear();
    }
    producer.join();
    std::unique_lock g(m);
    auto t0 = std::chrono::steady_clock::now();
    bool r = cv.wait_for(g, 50ms, [] { return false; });
    printf("mutex/condvar: %d items, sum %ld, wait_for timed out %d after >= 50 ms %d\n", got, total, !r,
           std::chrono::steady_clock::now() - t0 >= 50ms);

    long counter = 0;
    std::vector<std::thread> ts;
    for (int t = 0; t < 16; t++)
        ts.emplace_back([&] {
            for (int i = 0; i < 5000; i++) {
                std::lock_guard g2(m2());
                counter++;
            }
        });
    sample();
    for (auto &t : ts) t.join();
    printf("mutex: counter %ld\n", counter);
}

std::mutex &m2() { static std::mutex m; return m; }

static void atomic_wait() {
    std::atomic<int> flag{0};
    std::atomic<int> woken{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 10; i++)
        ts.emplace_back([&] {
            flag.wait(0);
            woken++;
        });
    std::this_thread::sleep_for(20ms);
    flag = 1;
    flag.notify_all();
    for (auto &t : ts) t.join();
    printf("atomic wait/notify_all: woken %d\n", woken.load());

    // Ping-pong with notify_one.
    std::atomic<int> turn{0};
    std::thread other([&] {
        for (int i = 0; i < 5000; i++) {
            turn.wait(2 * i);
            turn.store(2 * i + 2);
            turn.notify_one();
        }
    });
    for (int i = 0; i < 5000; i++) {
        turn.store(2 * i + 1);
        turn.notify_one();
        turn.wait(2 * i + 1);
    }
    other.join();
    printf("atomic ping-pong: %d\n", turn.load());
}

static void semaphores() {
    std::counting_semaphore<8> sem(3);
    std::atomic<int> inside{0}, peak{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < 12; i++)
        ts.emplace_back([&] {
            sem.acquire();
            int n = ++inside;
            int p = peak.load();
            while (n > p && !peak.compare_exchange_weak(p, n)) {}
            std::this_thread::sleep_for(5ms);
            --inside;
            sem.release();
        });
    for (auto &t : ts) t.join();
    std::binary_semaphore b(0);
    auto t0 = std::chrono::steady_clock::now();
    bool got = b.try_acquire_for(40ms);
    printf("counting_semaphore: peak %d of 3; try_acquire_for got %d after >= 40 ms %d\n", peak.load(), got,
           std::chrono::steady_clock::now() - t0 >= 40ms);
    std::thread rel([&] { std::this_thread::sleep_for(10ms); b.release(); });
    printf("binary_semaphore: try_acquire_for got %d\n", b.try_acquire_for(10s));
    rel.join();
}

static void latch_barrier() {
    std::latch done(8);
    std::atomic<int> sum{0};
    std::vector<std::thread> ts;
    for (int i = 1; i <= 8; i++)
        ts.emplace_back([&, i] {
            std::this_thread::sleep_for(std::chrono::milliseconds(i));
            sum += i;
            done.count_down();
        });
    done.wait();
    printf("latch: sum %d\n", sum.load());
    for (auto &t : ts) t.join();
    ts.clear();

    int phases = 0;
    std::barrier bar(6, [&]() noexcept { phases++; });
    for (int i = 0; i < 6; i++)
        ts.emplace_back([&, i] {
            for (int r = 0; r < 10; r++) {
                if ((i + r) % 3 == 0) std::this_thread::sleep_for(1ms);
                bar.arrive_and_wait();
            }
        });
    for (auto &t : ts) t.join();
    printf("barrier: %d phases\n", phases);
}

static void jthreads() {
    std::mutex m;
    std::condition_variable_any cv;
    std::atomic<int> loops{0};
    {
        std::jthread worker([&](std::stop_token st) {
            std::unique_lock g(m);
            while (!st.stop_requested()) {
                loops++;
                cv.wait(g, st, [] { return false; });
            }
        });
        std::jthread sleeper([](std::stop_token st) {
            while (!st.stop_requested()) std::this_thread::sleep_for(2ms);
        });
        std::this_thread::sleep_for(30ms);
        std::stop_callback cb(worker.get_stop_token(), [] { printf("jthread: stop callback ran\n"); });
        worker.request_stop();
    }  // sleeper is stopped and joined here
    printf("jthread: worker looped %d time(s)\n", loops.load());
}

thread_local int tl_counter = 100;

static void thread_locals() {
    std::vector<std::thread> ts;
    std::vector<int> seen(6);
    for (int i = 0; i < 6; i++)
        ts.emplace_back([&, i] {
            for (int k = 0; k < i; k++) {
                tl_counter++;
                std::this_thread::sleep_for(1ms);
            }
            seen[i] = tl_counter;
        });
    for (auto &t : ts) t.join();
    printf("thread_local:");
    for (int v : seen) printf(" %d", v);
    printf(" main %d\n", tl_counter);
}

int main() {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    mutex_condvar();
    atomic_wait();
    semaphores();
    latch_barrier();
    jthreads();
    thread_locals();
    sample();
    fprintf(stderr, "METRIC os_threads_max=%d\n", os_max);
    return 0;
}
