// cancel_swallow: a thread cancelled in sem_wait catches the forced unwind with
// catch (...) and does not rethrow. glibc aborts the process with "FATAL: exception not
// rethrown" when the catch block ends; so must the shim (same message, SIGABRT).
#include <cstdio>
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

static sem_t started, never;

static void *victim(void *) {
    try {
        sem_post(&started);
        sem_wait(&never);
    } catch (...) {
        std::printf("caught the unwind, not rethrowing\n");
        std::fflush(stdout);
    }
    std::printf("not reached\n");
    return nullptr;
}

int main() {
    sem_init(&started, 0, 0);
    sem_init(&never, 0, 0);
    pthread_t t;
    pthread_create(&t, nullptr, victim, nullptr);
    sem_wait(&started);
    usleep(20000);
    pthread_cancel(t);
    pthread_join(t, nullptr);
    std::printf("joined (not reached)\n");
    return 0;
}
