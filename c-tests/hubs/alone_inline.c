/* alone_inline: with GREENSHIM_HUBS=2, main is the only thread on hub 0 while it waits
 * on something the kernel alone can end: a process-shared semaphore, then the open of
 * a FIFO for reading. A thread on hub 1 then starts two threads; placement puts the
 * second on hub 0 (fewest threads), and that one posts the semaphore / opens the FIFO
 * for writing. Natively each wait ends at once. Had main's wait blocked hub 0's OS
 * thread ("nothing else on this hub"), the thread placed there could never run, and
 * the program would hang.
 *
 * stdout: how each wait ended.
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>

static sem_t *sem;
static char fifo[64];
static atomic_int stop;
static int phase; /* 0: semaphore, 1: FIFO */

static void *idler(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) usleep(1000);
    return NULL;
}

static void *ender(void *arg) {
    (void)arg;
    if (phase == 0) {
        CHECK(sem_post(sem) == 0, "sem_post");
    } else {
        int fd = open(fifo, O_WRONLY);
        CHECK(fd >= 0, "open fifo for writing");
        CHECK(write(fd, "x", 1) == 1, "write");
        close(fd);
    }
    return NULL;
}

/* On hub 1: waits until main is waiting, then starts the idler (stays here) and the
 * ender (placed on hub 0). */
static void *starter(void *arg) {
    (void)arg;
    usleep(50 * 1000);
    pthread_t i, e;
    CHECK(pthread_create(&i, NULL, idler, NULL) == 0, "create idler");
    CHECK(pthread_create(&e, NULL, ender, NULL) == 0, "create ender");
    pthread_join(e, NULL);
    atomic_store(&stop, 1);
    pthread_join(i, NULL);
    return NULL;
}

int main(void) {
    sem = mmap(NULL, sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sem != MAP_FAILED, "mmap");
    CHECK(sem_init(sem, 1, 0) == 0, "sem_init");
    snprintf(fifo, sizeof fifo, "/tmp/greenshim-alone-%d", (int)getpid());
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
    for (phase = 0; phase < 2; phase++) {
        atomic_store(&stop, 0);
        pthread_t s;
        CHECK(pthread_create(&s, NULL, starter, NULL) == 0, "create starter");
        if (phase == 0) {
            CHECK(sem_wait(sem) == 0, "sem_wait");
            printf("process-shared semaphore: posted by a thread placed on main's hub\n");
        } else {
            int fd = open(fifo, O_RDONLY);
            CHECK(fd >= 0, "open fifo for reading");
            char c = 0;
            CHECK(read(fd, &c, 1) == 1, "read");
            close(fd);
            printf("FIFO open: writer placed on main's hub, read '%c'\n", c);
        }
        pthread_join(s, NULL);
    }
    unlink(fifo);
    return 0;
}
