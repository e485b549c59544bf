// stdio_exceptions: glibc's internal locks with a thread control block per green thread.
// 40 writer threads share one FILE (a pipe, fdopen'ed) and write numbered lines, some
// in flockfile sections that span a sleep and a C++ exception thrown and caught inside
// the section; a reader thread reads every line back with fgets on another FILE; 40
// other threads throw and catch exceptions (which look up unwind tables under the
// loader's lock) around sleeps; 4 threads walk the loaded modules with
// dl_iterate_phdr, sleeping inside the callback (holding the loader's lock) while the
// others throw. Every line must arrive whole and exactly once, every exception must be
// caught, nothing may deadlock; the summary is the same natively and under the shim.
#include <cstdio>
#include <cstring>
#include <link.h>
#include <pthread.h>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

static const int WRITERS = 40, LINES = 50, THROWERS = 40, THROWS = 50, WALKERS = 4;
static FILE *out, *in;
static long caught[THROWERS];
static long walked[WALKERS];

struct Guard {
    long *n;
    ~Guard() { ++*n; }
};

static void thrower_depth(int d, long id) {
    if (d == 0) throw std::runtime_error("thrown by " + std::to_string(id));
    thrower_depth(d - 1, id);
}

static void *writer(void *arg) {
    long id = reinterpret_cast<long>(arg);
    for (int i = 0; i < LINES; i++) {
        if (i % 10 == 3) {
            flockfile(out);
            std::fprintf(out, "w%ld l%d ", id, i);
            usleep(200);
            long dummy = 0;
            try {
                Guard g{&dummy};
                thrower_depth(3, id);
            } catch (const std::exception &e) {
                std::fprintf(out, "[%s] ", std::strncmp(e.what(), "thrown", 6) == 0 ? "caught" : "?");
            }
            std::fprintf(out, "end\n");
            funlockfile(out);
        } else {
            std::fprintf(out, "w%ld l%d plain end\n", id, i);
        }
        if (i % 5 == 0) usleep(100);
    }
    return nullptr;
}

static void *thrower(void *arg) {
    long id = reinterpret_cast<long>(arg);
    for (int i = 0; i < THROWS; i++) {
        try {
            Guard g{&caught[id]};
            usleep(50);
            thrower_depth(i % 7, id);
        } catch (const std::runtime_error &) {
        }
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

static long lines_read, bad_lines;
static std::vector<int> seen(WRITERS *LINES);

static void *reader(void *) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, in)) {
        long w;
        int l;
        char rest[200];
        lines_read++;
        if (std::sscanf(buf, "w%ld l%d %199[^\n]", &w, &l, rest) != 3 || w < 0 || w >= WRITERS || l < 0 || l >= LINES ||
            (std::strcmp(rest, "plain end") != 0 && std::strcmp(rest, "[caught] end") != 0)) {
            bad_lines++;
            continue;
        }
        seen[w * LINES + l]++;
    }
    return nullptr;
}

int main() {
    int p[2];
    if (pipe(p) != 0) return 1;
    out = fdopen(p[1], "w");
    in = fdopen(p[0], "r");
    setvbuf(out, nullptr, _IOLBF, 0);
    pthread_t r, w[WRITERS], t[THROWERS], k[WALKERS];
    pthread_create(&r, nullptr, reader, nullptr);
    for (long i = 0; i < WRITERS; i++) pthread_create(&w[i], nullptr, writer, reinterpret_cast<void *>(i));
    for (long i = 0; i < THROWERS; i++) pthread_create(&t[i], nullptr, thrower, reinterpret_cast<void *>(i));
    for (long i = 0; i < WALKERS; i++) pthread_create(&k[i], nullptr, walker, reinterpret_cast<void *>(i));
    for (auto &x : w) pthread_join(x, nullptr);
    for (auto &x : t) pthread_join(x, nullptr);
    for (auto &x : k) pthread_join(x, nullptr);
    std::fclose(out);
    pthread_join(r, nullptr);
    std::fclose(in);
    long once = 0, total_caught = 0, walks_ok = 0;
    for (int v : seen) once += v == 1;
    for (long c : caught) total_caught += c;
    for (long v : walked) walks_ok += v > 0 && v % 10 == 0;
    std::printf("lines read %ld, malformed %ld, each line exactly once %ld of %d\n", lines_read, bad_lines, once, WRITERS * LINES);
    std::printf("exceptions caught %ld of %d\n", total_caught, THROWERS * THROWS);
    std::printf("walkers that saw every module each time: %ld of %d\n", walks_ok, WALKERS);
    return !(bad_lines == 0 && once == WRITERS * LINES && total_caught == THROWERS * THROWS && walks_ok == WALKERS);
}
