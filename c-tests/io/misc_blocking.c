/* misc_blocking: assorted blocking calls must park only the calling thread.
 *
 * Why: besides read/recv/poll, a thread can block in many other calls: opening a
 * FIFO, reading an eventfd/timerfd/signalfd/inotify fd, recvmmsg, System V and
 * POSIX message queues and semaphores, storage syncs, record locks held by
 * another process. Under greenshim each must park only the calling green thread
 * (on the hub, or on the offload pool) while the other threads keep running.
 * In every sub-case a ticker thread (usleep 10 ms, running all along) must tick
 * at least 3 times while the call blocks (~10 ticks natively), and in most a
 * partner thread (after 100 ms) is the only way the call can complete, so a shim
 * that blocks the OS thread deadlocks (alarm(60) kills it) or fails a check.
 *   a. FIFOs: open(O_RDONLY) blocks until a writer opens ("fifo-read");
 *      open(O_WRONLY) blocks until a reader opens ("fifo-write"); openat(dirfd,
 *      O_RDONLY) likewise ("fifo-openat"). The content must come through whole.
 *      fopen(O_RDONLY) + fgets ("fopen") goes through glibc's internal open and
 *      read, which no preload can hook: only run when named explicitly.
 *   b. read() on an eventfd, until another thread writes 5 ("eventfd").
 *   c. read() on a timerfd armed for 150 ms: 1 expiration ("timerfd").
 *   d. read() on a signalfd for SIGUSR1 (blocked in every thread: main blocks it
 *      before creating any), until another thread kill()s the process
 *      ("signalfd").
 *   e. read() on an inotify fd watching a directory for IN_CREATE, until
 *      another thread creates a file there ("inotify").
 *   f. recvmmsg(vlen 4, MSG_WAITFORONE) on a UDP socket on 127.0.0.1, until
 *      another thread sendmmsg()s 3 datagrams; recvmmsg is called again until
 *      all 3 are in, since the first call may return after the first datagram
 *      ("recvmmsg").
 *   g. System V IPC (IPC_PRIVATE, removed at exit): msgrcv until another
 *      thread msgsnd()s ("msgrcv"); semop(-1) on a semaphore at 0 until another
 *      thread semop(+1)s ("semop"); semtimedop(-1) with a 100 ms timeout on a
 *      semaphore at 0 fails with EAGAIN after >= 90 ms ("semtimedop").
 *   h. POSIX message queue /greenshim-test-<pid> (unlinked right after
 *      mq_open, so it cannot leak):
 *      mq_receive until another thread mq_send()s ("mq_receive");
 *      mq_timedreceive with a 100 ms timeout on the empty queue fails with
 *      ETIMEDOUT after >= 90 ms ("mq_timedreceive").
 *   i. sync, syncfs, fsync, msync(MS_SYNC) of a shared mapping (the file then
 *      holds the bytes written through the mapping), tcdrain on a pty slave
 *      (the master reads what was written): all return 0 ("sync"). These do
 *      not wait for another thread, so the ticker is only measured (metric).
 *   j. Record locks held by another process: a child takes an fcntl write lock
 *      on a file, holds it 150 ms and releases it; meanwhile a thread blocks in
 *      lockf64(F_LOCK) ("lockf64"), and again with lockf(F_LOCK) ("lockf").
 *   l. Many waits at once: 10 threads open 10 FIFOs for reading before 10 others
 *      open them for writing 100 ms later; 6 threads take an exclusive flock on one
 *      file in turn (each holds it 20 ms). More waiters than offload threads: each
 *      needs another thread of this program to end its wait.
 *   k. User and group lookups (getpwnam_r, getpwuid_r, getgrgid_r, getgrnam_r,
 *      getgrouplist, an unknown user) from 20 threads, then getpwuid/getgrnam:
 *      same answers as natively (the shim serves them on its offload pool).
 * A hang ends with SIGALRM after 60 s: the handler removes the System V objects
 * and the temp dir, prints "FAIL: ... sub-case <name> still blocked" and exits 1.
 * argv[1] (optional) runs a single sub-case: its letter (its default entries)
 * or an entry's name; by default every default entry runs.
 *
 * stdout (deterministic; all sub-cases):
 *   "fifo open(O_RDONLY) waited for the writer: fifo ok\n"
 *   "fifo open(O_WRONLY) waited for the reader: fifo reverse ok\n"
 *   "fifo openat(O_RDONLY) waited for the writer: fifo openat ok\n"
 *   "eventfd read: 5\n"
 *   "timerfd read: 1 expiration\n"
 *   "signalfd read: SIGUSR1 from this process\n"
 *   "inotify read: IN_CREATE created.txt\n"
 *   "recvmmsg: 3 datagrams: one two three\n"
 *   "msgrcv: type 1 \"sysv msg ok\"\n"
 *   "semop(-1) returned 0 after the other thread's semop(+1)\n"
 *   "semtimedop(-1) on a zero semaphore: -1 EAGAIN after the timeout\n"
 *   "mq_receive: \"posix mq ok\" priority 3\n"
 *   "mq_timedreceive on an empty queue: -1 ETIMEDOUT after the timeout\n"
 *   "sync, syncfs, fsync: 0\n"
 *   "msync(MS_SYNC): 0, file holds \"msync ok\"\n"
 *   "tcdrain on a pty slave: 0, master read \"tcdrain ok\"\n"
 *   "lockf64 acquired after the other process released it\n"
 *   "lockf acquired after the other process released it\n"
 *   "nss: 20 of 20 threads got root's passwd, group and group list; ..."
 *   "10 FIFO readers opened before their writers: got abcdefghij\n"
 *   "6 threads took an exclusive flock in turn, each waiting for the previous holder\n"
 *   ("fopen on a FIFO waited for the writer: fifo fopen ok\n" when run by name)
 * metrics: os_threads_max; per blocking call <name>_ms and <name>_ticks
 *          (fifo_read, fifo_write, fifo_openat, eventfd, timerfd, signalfd,
 *          inotify, recvmmsg, msgrcv, semop, semtimedop, mq_receive,
 *          mq_timedreceive, sync, lockf64, lockf, fopen); recvmmsg_first_count.
 */
#include "../common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <grp.h>
#include <pwd.h>
#include <termios.h>

#define DELAY_US 100000 /* the partner acts after 100 ms */
#define MIN_BLOCK_MS 80 /* so a blocked call must last at least this long */
#define MIN_TICKS 3

static char dir[64];
/* paths inside dir, set once before any thread starts */
static char fifo_p[160], watched_p[160], created_p[160], sync_p[160], lock_p[160];
static volatile int stop_ticker;
static int ticks;
static int os_max;
static char result[256]; /* the text a sub-case's threads produced */

static int get_ticks(void) { return __atomic_load_n(&ticks, __ATOMIC_SEQ_CST); }

static void note_threads(void) {
    int n = os_threads();
    if (n > os_max) os_max = n;
}

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        CHECK(usleep(10000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void delay(void) { CHECK(usleep(DELAY_US) == 0, "usleep: %s", strerror(errno)); }

/* A window around one blocking call: how long it took and how often the ticker
 * ticked meanwhile. */
struct window {
    int ticks;
    long long ms;
};

static struct window win_start(void) {
    struct window w = {get_ticks(), now_ms()};
    return w;
}

static void win_end(struct window w, const char *name, long long min_ms, int check_ticks) {
    long long dt = now_ms() - w.ms;
    int t = get_ticks() - w.ticks;
    char m[64];
    snprintf(m, sizeof m, "%s_ms", name);
    metric(m, dt);
    snprintf(m, sizeof m, "%s_ticks", name);
    metric(m, t);
    CHECK(dt >= min_ms, "%s returned after %lld ms, want >= %lld", name, dt, min_ms);
    CHECK(dt < 10000, "%s took %lld ms", name, dt);
    if (check_ticks)
        CHECK(t >= MIN_TICKS, "ticker only ticked %d times while %s blocked for %lld ms", t, name, dt);
}

/* Runs blocker and (if any) partner as two threads and joins them. */
static void run2(void *(*blocker)(void *), void *(*partner)(void *)) {
    pthread_t b, p;
    result[0] = 0;
    CHECK(pthread_create(&b, NULL, blocker, NULL) == 0, "create blocker");
    if (partner) CHECK(pthread_create(&p, NULL, partner, NULL) == 0, "create partner");
    note_threads();
    CHECK(pthread_join(b, NULL) == 0, "join blocker");
    if (partner) CHECK(pthread_join(p, NULL) == 0, "join partner");
}

static void read_all(int fd, char *buf, size_t cap) {
    size_t got = 0;
    for (;;) {
        CHECK(got + 1 < cap, "too much data");
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        CHECK(r >= 0, "read: %s", strerror(errno));
        if (r == 0) break;
        got += (size_t)r;
    }
    buf[got] = 0;
}

static void write_str(int fd, const char *s) {
    size_t n = strlen(s);
    CHECK(write(fd, s, n) == (ssize_t)n, "write: %s", strerror(errno));
}

static void chomp(char *s) {
    size_t n = strlen(s);
    if (n && s[n - 1] == '\n') s[n - 1] = 0;
}

/* ---- a. FIFOs ----------------------------------------------------------- */

static void make_fifo(void) {
    if (mkfifo(fifo_p, 0600) != 0) CHECK(errno == EEXIST, "mkfifo: %s", strerror(errno));
}

static void fifo_late_writer(const char *text) {
    delay();
    int fd = open(fifo_p, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open fifo O_WRONLY: %s", strerror(errno));
    write_str(fd, text);
    close(fd);
}

static void *fifo_writer_ok(void *arg) {
    (void)arg;
    fifo_late_writer("fifo ok\n");
    return NULL;
}

static void *fifo_writer_openat(void *arg) {
    (void)arg;
    fifo_late_writer("fifo openat ok\n");
    return NULL;
}

static void *fifo_writer_fopen(void *arg) {
    (void)arg;
    fifo_late_writer("fifo fopen ok\n");
    return NULL;
}

static void *fifo_read_blocker(void *arg) {
    (void)arg;
    struct window w = win_start();
    int fd = open(fifo_p, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open fifo O_RDONLY: %s", strerror(errno));
    win_end(w, "fifo_read", MIN_BLOCK_MS, 1);
    read_all(fd, result, sizeof result);
    close(fd);
    return NULL;
}

static void case_fifo_read(void) {
    make_fifo();
    run2(fifo_read_blocker, fifo_writer_ok);
    CHECK(strcmp(result, "fifo ok\n") == 0, "fifo reader got \"%s\"", result);
    chomp(result);
    printf("fifo open(O_RDONLY) waited for the writer: %s\n", result);
}

static void *fifo_write_blocker(void *arg) {
    (void)arg;
    struct window w = win_start();
    int fd = open(fifo_p, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open fifo O_WRONLY: %s", strerror(errno));
    win_end(w, "fifo_write", MIN_BLOCK_MS, 1);
    write_str(fd, "fifo reverse ok\n");
    close(fd);
    return NULL;
}

static void *fifo_late_reader(void *arg) {
    (void)arg;
    delay();
    int fd = open(fifo_p, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open fifo O_RDONLY: %s", strerror(errno));
    read_all(fd, result, sizeof result);
    close(fd);
    return NULL;
}

static void case_fifo_write(void) {
    make_fifo();
    run2(fifo_write_blocker, fifo_late_reader);
    CHECK(strcmp(result, "fifo reverse ok\n") == 0, "fifo reader got \"%s\"", result);
    chomp(result);
    printf("fifo open(O_WRONLY) waited for the reader: %s\n", result);
}

static void *fifo_openat_blocker(void *arg) {
    (void)arg;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0, "open dir: %s", strerror(errno));
    struct window w = win_start();
    int fd = openat(dfd, "fifo", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "openat fifo O_RDONLY: %s", strerror(errno));
    win_end(w, "fifo_openat", MIN_BLOCK_MS, 1);
    read_all(fd, result, sizeof result);
    close(fd);
    close(dfd);
    return NULL;
}

static void case_fifo_openat(void) {
    make_fifo();
    run2(fifo_openat_blocker, fifo_writer_openat);
    CHECK(strcmp(result, "fifo openat ok\n") == 0, "fifo reader got \"%s\"", result);
    chomp(result);
    printf("fifo openat(O_RDONLY) waited for the writer: %s\n", result);
}

static void *fopen_blocker(void *arg) {
    (void)arg;
    struct window w = win_start();
    FILE *f = fopen(fifo_p, "re");
    CHECK(f, "fopen fifo: %s", strerror(errno));
    win_end(w, "fopen", MIN_BLOCK_MS, 1);
    CHECK(fgets(result, sizeof result, f), "fgets: %s", strerror(errno));
    fclose(f);
    return NULL;
}

static void case_fopen(void) {
    make_fifo();
    run2(fopen_blocker, fifo_writer_fopen);
    CHECK(strcmp(result, "fifo fopen ok\n") == 0, "fopen reader got \"%s\"", result);
    chomp(result);
    printf("fopen on a FIFO waited for the writer: %s\n", result);
}

/* ---- b. eventfd --------------------------------------------------------- */

static int efd;
static uint64_t efd_value;

static void *eventfd_blocker(void *arg) {
    (void)arg;
    struct window w = win_start();
    ssize_t r = read(efd, &efd_value, sizeof efd_value);
    CHECK(r == 8, "read eventfd: %zd (%s)", r, strerror(errno));
    win_end(w, "eventfd", MIN_BLOCK_MS, 1);
    return NULL;
}

static void *eventfd_partner(void *arg) {
    (void)arg;
    delay();
    uint64_t v = 5;
    CHECK(write(efd, &v, sizeof v) == 8, "write eventfd: %s", strerror(errno));
    return NULL;
}

static void case_eventfd(void) {
    efd = eventfd(0, EFD_CLOEXEC);
    CHECK(efd >= 0, "eventfd: %s", strerror(errno));
    run2(eventfd_blocker, eventfd_partner);
    CHECK(efd_value == 5, "eventfd read %llu, want 5", (unsigned long long)efd_value);
    printf("eventfd read: %llu\n", (unsigned long long)efd_value);
    close(efd);
}

/* ---- c. timerfd --------------------------------------------------------- */

static uint64_t expirations;

static void *timerfd_blocker(void *arg) {
    (void)arg;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    CHECK(tfd >= 0, "timerfd_create: %s", strerror(errno));
    struct itimerspec its = {.it_value = {0, 150000000}};
    struct window w = win_start();
    CHECK(timerfd_settime(tfd, 0, &its, NULL) == 0, "timerfd_settime: %s", strerror(errno));
    ssize_t r = read(tfd, &expirations, sizeof expirations);
    CHECK(r == 8, "read timerfd: %zd (%s)", r, strerror(errno));
    win_end(w, "timerfd", 140, 1);
    close(tfd);
    return NULL;
}

static void case_timerfd(void) {
    run2(timerfd_blocker, NULL);
    CHECK(expirations == 1, "timerfd read %llu expirations, want 1", (unsigned long long)expirations);
    printf("timerfd read: %llu expiration\n", (unsigned long long)expirations);
}

/* ---- d. signalfd -------------------------------------------------------- */

static int sfd;
static struct signalfd_siginfo ssi;

static void *signalfd_blocker(void *arg) {
    (void)arg;
    struct window w = win_start();
    ssize_t r = read(sfd, &ssi, sizeof ssi);
    CHECK(r == (ssize_t)sizeof ssi, "read signalfd: %zd (%s)", r, strerror(errno));
    win_end(w, "signalfd", MIN_BLOCK_MS, 1);
    return NULL;
}

static void *signalfd_partner(void *arg) {
    (void)arg;
    delay();
    CHECK(kill(getpid(), SIGUSR1) == 0, "kill: %s", strerror(errno));
    return NULL;
}

static void case_signalfd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sfd = signalfd(-1, &set, SFD_CLOEXEC);
    CHECK(sfd >= 0, "signalfd: %s", strerror(errno));
    run2(signalfd_blocker, signalfd_partner);
    CHECK(ssi.ssi_signo == SIGUSR1, "signalfd read signal %u, want SIGUSR1", ssi.ssi_signo);
    CHECK(ssi.ssi_pid == (uint32_t)getpid(), "signal sent by pid %u, want %d", ssi.ssi_pid, (int)getpid());
    printf("signalfd read: SIG%s from this process\n", sigabbrev_np((int)ssi.ssi_signo));
    close(sfd);
}

/* ---- e. inotify --------------------------------------------------------- */

static int ifd;
static char ibuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
static ssize_t ilen;

static void *inotify_blocker(void *arg) {
    (void)arg;
    struct window w = win_start();
    ilen = read(ifd, ibuf, sizeof ibuf);
    CHECK(ilen > 0, "read inotify: %zd (%s)", ilen, strerror(errno));
    win_end(w, "inotify", MIN_BLOCK_MS, 1);
    return NULL;
}

static void *inotify_partner(void *arg) {
    (void)arg;
    delay();
    int fd = open(created_p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    CHECK(fd >= 0, "create file: %s", strerror(errno));
    close(fd);
    return NULL;
}

static void case_inotify(void) {
    const char *wd = watched_p;
    CHECK(mkdir(wd, 0700) == 0 || errno == EEXIST, "mkdir: %s", strerror(errno));
    ifd = inotify_init1(IN_CLOEXEC);
    CHECK(ifd >= 0, "inotify_init1: %s", strerror(errno));
    CHECK(inotify_add_watch(ifd, wd, IN_CREATE) >= 0, "inotify_add_watch: %s", strerror(errno));
    run2(inotify_blocker, inotify_partner);
    const struct inotify_event *ev = (const struct inotify_event *)ibuf;
    CHECK(ilen == (ssize_t)(sizeof *ev + ev->len), "inotify read %zd bytes, want one event", ilen);
    CHECK(ev->mask == IN_CREATE, "inotify mask %#x, want IN_CREATE", ev->mask);
    CHECK(ev->len > 0 && strcmp(ev->name, "created.txt") == 0, "inotify name \"%s\"", ev->len ? ev->name : "");
    printf("inotify read: IN_CREATE %s\n", ev->name);
    close(ifd);
    unlink(created_p);
    rmdir(wd);
}

/* ---- f. recvmmsg / sendmmsg --------------------------------------------- */

static int urecv, usend;
static struct sockaddr_in uaddr;
static char dgrams[4][32];
static int ndgrams, first_count;

static void *recvmmsg_blocker(void *arg) {
    (void)arg;
    struct mmsghdr msgs[4];
    struct iovec iov[4];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 4; i++) {
        iov[i].iov_base = dgrams[i];
        iov[i].iov_len = sizeof dgrams[i] - 1;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    struct window w = win_start();
    int n = recvmmsg(urecv, msgs, 4, MSG_WAITFORONE, NULL);
    CHECK(n > 0, "recvmmsg: %d (%s)", n, strerror(errno));
    win_end(w, "recvmmsg", MIN_BLOCK_MS, 1);
    first_count = n;
    int got = n;
    /* the first call may have returned after the first datagram only */
    while (got < 3) {
        n = recvmmsg(urecv, msgs + got, 4 - got, MSG_WAITFORONE, NULL);
        CHECK(n > 0, "recvmmsg: %d (%s)", n, strerror(errno));
        got += n;
    }
    for (int i = 0; i < got; i++) dgrams[i][msgs[i].msg_len] = 0;
    ndgrams = got;
    return NULL;
}

static void *sendmmsg_partner(void *arg) {
    (void)arg;
    static const char *texts[3] = {"one", "two", "three"};
    struct mmsghdr msgs[3];
    struct iovec iov[3];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 3; i++) {
        iov[i].iov_base = (void *)texts[i];
        iov[i].iov_len = strlen(texts[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &uaddr;
        msgs[i].msg_hdr.msg_namelen = sizeof uaddr;
    }
    delay();
    int n = sendmmsg(usend, msgs, 3, 0);
    CHECK(n == 3, "sendmmsg: %d (%s)", n, strerror(errno));
    return NULL;
}

static void case_recvmmsg(void) {
    urecv = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    usend = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(urecv >= 0 && usend >= 0, "socket: %s", strerror(errno));
    uaddr.sin_family = AF_INET;
    uaddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(urecv, (struct sockaddr *)&uaddr, sizeof uaddr) == 0, "bind: %s", strerror(errno));
    socklen_t len = sizeof uaddr;
    CHECK(getsockname(urecv, (struct sockaddr *)&uaddr, &len) == 0, "getsockname: %s", strerror(errno));
    run2(recvmmsg_blocker, sendmmsg_partner);
    metric("recvmmsg_first_count", first_count);
    CHECK(ndgrams == 3, "received %d datagrams, want 3", ndgrams);
    printf("recvmmsg: %d datagrams: %s %s %s\n", ndgrams, dgrams[0], dgrams[1], dgrams[2]);
    close(urecv);
    close(usend);
}

/* ---- g. System V message queue and semaphores ---------------------------- */

static int qid = -1, semid = -1;
static struct {
    long mtype;
    char mtext[64];
} rmsg;
static ssize_t rmsg_len;

union semun_arg {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

static void *msgrcv_blocker(void *arg) {
    (void)arg;
    struct window w = win_start();
    rmsg_len = msgrcv(qid, &rmsg, sizeof rmsg.mtext, 1, 0);
    CHECK(rmsg_len > 0, "msgrcv: %zd (%s)", rmsg_len, strerror(errno));
    win_end(w, "msgrcv", MIN_BLOCK_MS, 1);
    return NULL;
}

static void *msgsnd_partner(void *arg) {
    (void)arg;
    struct {
        long mtype;
        char mtext[64];
    } m = {1, "sysv msg ok"};
    delay();
    CHECK(msgsnd(qid, &m, strlen(m.mtext) + 1, 0) == 0, "msgsnd: %s", strerror(errno));
    return NULL;
}

static void case_msgrcv(void) {
    qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    CHECK(qid >= 0, "msgget: %s", strerror(errno));
    run2(msgrcv_blocker, msgsnd_partner);
    CHECK(rmsg.mtype == 1 && rmsg_len == 12 && strcmp(rmsg.mtext, "sysv msg ok") == 0, "msgrcv got type %ld \"%s\"",
          rmsg.mtype, rmsg.mtext);
    printf("msgrcv: type %ld \"%s\"\n", rmsg.mtype, rmsg.mtext);
    CHECK(msgctl(qid, IPC_RMID, NULL) == 0, "msgctl IPC_RMID: %s", strerror(errno));
    qid = -1;
}

static void make_sem(void) {
    semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    CHECK(semid >= 0, "semget: %s", strerror(errno));
    union semun_arg a = {.val = 0};
    CHECK(semctl(semid, 0, SETVAL, a) == 0, "semctl SETVAL: %s", strerror(errno));
}

static void remove_sem(void) {
    CHECK(semctl(semid, 0, IPC_RMID) == 0, "semctl IPC_RMID: %s", strerror(errno));
    semid = -1;
}

static void *semop_blocker(void *arg) {
    (void)arg;
    struct sembuf op = {0, -1, 0};
    struct window w = win_start();
    CHECK(semop(semid, &op, 1) == 0, "semop(-1): %s", strerror(errno));
    win_end(w, "semop", MIN_BLOCK_MS, 1);
    return NULL;
}

static void *semop_partner(void *arg) {
    (void)arg;
    struct sembuf op = {0, 1, 0};
    delay();
    CHECK(semop(semid, &op, 1) == 0, "semop(+1): %s", strerror(errno));
    return NULL;
}

static void case_semop(void) {
    make_sem();
    run2(semop_blocker, semop_partner);
    int v = semctl(semid, 0, GETVAL);
    CHECK(v == 0, "semaphore value %d after -1/+1, want 0", v);
    printf("semop(-1) returned 0 after the other thread's semop(+1)\n");
    remove_sem();
}

static void *semtimedop_blocker(void *arg) {
    (void)arg;
    struct sembuf op = {0, -1, 0};
    struct timespec ts = {0, 100000000};
    struct window w = win_start();
    int r = semtimedop(semid, &op, 1, &ts);
    int e = errno;
    CHECK(r == -1 && e == EAGAIN, "semtimedop returned %d (%s), want -1 EAGAIN", r, strerror(e));
    win_end(w, "semtimedop", 90, 1);
    return NULL;
}

static void case_semtimedop(void) {
    make_sem();
    run2(semtimedop_blocker, NULL);
    printf("semtimedop(-1) on a zero semaphore: -1 EAGAIN after the timeout\n");
    remove_sem();
}

/* ---- h. POSIX message queue --------------------------------------------- */

static char mq_name[64];
static mqd_t mq = (mqd_t)-1;
static char mq_buf[128];
static ssize_t mq_len;
static unsigned mq_prio;

static void open_mq(void) {
    if (mq != (mqd_t)-1) return;
    snprintf(mq_name, sizeof mq_name, "/greenshim-test-%d", (int)getpid());
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mq = mq_open(mq_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
    CHECK(mq != (mqd_t)-1, "mq_open %s: %s", mq_name, strerror(errno));
    /* the queue lives on while open: unlinked at once, it cannot leak */
    CHECK(mq_unlink(mq_name) == 0, "mq_unlink: %s", strerror(errno));
}

static void *mq_receive_blocker(void *arg) {
    (void)arg;
    struct window w = win_start();
    mq_len = mq_receive(mq, mq_buf, sizeof mq_buf, &mq_prio);
    CHECK(mq_len > 0, "mq_receive: %zd (%s)", mq_len, strerror(errno));
    win_end(w, "mq_receive", MIN_BLOCK_MS, 1);
    return NULL;
}

static void *mq_send_partner(void *arg) {
    (void)arg;
    delay();
    CHECK(mq_send(mq, "posix mq ok", 12, 3) == 0, "mq_send: %s", strerror(errno));
    return NULL;
}

static void case_mq_receive(void) {
    open_mq();
    run2(mq_receive_blocker, mq_send_partner);
    CHECK(mq_len == 12 && strcmp(mq_buf, "posix mq ok") == 0 && mq_prio == 3, "mq_receive got %zd bytes \"%s\" prio %u",
          mq_len, mq_buf, mq_prio);
    printf("mq_receive: \"%s\" priority %u\n", mq_buf, mq_prio);
}

static void *mq_timedreceive_blocker(void *arg) {
    (void)arg;
    struct timespec abs;
    CHECK(clock_gettime(CLOCK_REALTIME, &abs) == 0, "clock_gettime");
    abs.tv_nsec += 100000000;
    if (abs.tv_nsec >= 1000000000) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000;
    }
    struct window w = win_start();
    ssize_t r = mq_timedreceive(mq, mq_buf, sizeof mq_buf, NULL, &abs);
    int e = errno;
    CHECK(r == -1 && e == ETIMEDOUT, "mq_timedreceive returned %zd (%s), want -1 ETIMEDOUT", r, strerror(e));
    win_end(w, "mq_timedreceive", 90, 1);
    return NULL;
}

static void case_mq_timedreceive(void) {
    open_mq();
    run2(mq_timedreceive_blocker, NULL);
    printf("mq_timedreceive on an empty queue: -1 ETIMEDOUT after the timeout\n");
}

/* ---- i. sync, syncfs, fsync, msync, tcdrain ------------------------------ */

static char sync_lines[3][128];

static void *sync_worker(void *arg) {
    (void)arg;
    struct window w = win_start();
    sync();
    int fd = open(sync_p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0, "open: %s", strerror(errno));
    CHECK(ftruncate(fd, 4096) == 0, "ftruncate: %s", strerror(errno));
    CHECK(syncfs(fd) == 0, "syncfs: %s", strerror(errno));
    CHECK(fsync(fd) == 0, "fsync: %s", strerror(errno));
    snprintf(sync_lines[0], sizeof sync_lines[0], "sync, syncfs, fsync: 0");

    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
    memcpy(p, "msync ok", 8);
    int r = msync(p, 4096, MS_SYNC);
    CHECK(r == 0, "msync: %s", strerror(errno));
    CHECK(munmap(p, 4096) == 0, "munmap: %s", strerror(errno));
    char back[16] = {0};
    CHECK(pread(fd, back, 8, 0) == 8, "pread: %s", strerror(errno));
    CHECK(strcmp(back, "msync ok") == 0, "file holds \"%s\" after msync", back);
    snprintf(sync_lines[1], sizeof sync_lines[1], "msync(MS_SYNC): %d, file holds \"%s\"", r, back);
    close(fd);

    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(m >= 0, "posix_openpt: %s", strerror(errno));
    CHECK(grantpt(m) == 0, "grantpt: %s", strerror(errno));
    CHECK(unlockpt(m) == 0, "unlockpt: %s", strerror(errno));
    char *sname = ptsname(m);
    CHECK(sname, "ptsname: %s", strerror(errno));
    int s = open(sname, O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(s >= 0, "open %s: %s", sname, strerror(errno));
    struct termios tio;
    CHECK(tcgetattr(s, &tio) == 0, "tcgetattr: %s", strerror(errno));
    cfmakeraw(&tio);
    CHECK(tcsetattr(s, TCSANOW, &tio) == 0, "tcsetattr: %s", strerror(errno));
    write_str(s, "tcdrain ok");
    r = tcdrain(s);
    CHECK(r == 0, "tcdrain: %s", strerror(errno));
    char got[32];
    size_t n = 0;
    while (n < 10) {
        ssize_t k = read(m, got + n, 10 - n);
        CHECK(k > 0, "read pty master: %zd (%s)", k, strerror(errno));
        n += (size_t)k;
    }
    got[n] = 0;
    CHECK(strcmp(got, "tcdrain ok") == 0, "pty master read \"%s\"", got);
    snprintf(sync_lines[2], sizeof sync_lines[2], "tcdrain on a pty slave: %d, master read \"%s\"", r, got);
    close(s);
    close(m);
    win_end(w, "sync", 0, 0); /* nothing to wait for: ticks are only reported */
    return NULL;
}

static void case_sync(void) {
    run2(sync_worker, NULL);
    for (int i = 0; i < 3; i++) printf("%s\n", sync_lines[i]);
    unlink(sync_p);
}

/* ---- j. lockf64 / lockf against another process's lock ------------------- */

static int lock_use64;

static void *lockf_blocker(void *arg) {
    (void)arg;
    int fd = open(lock_p, O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0, "open: %s", strerror(errno));
    const char *name = lock_use64 ? "lockf64" : "lockf";
    struct window w = win_start();
    int r = lock_use64 ? lockf64(fd, F_LOCK, 0) : lockf(fd, F_LOCK, 0);
    CHECK(r == 0, "%s(F_LOCK): %s", name, strerror(errno));
    win_end(w, name, MIN_BLOCK_MS, 1);
    r = lock_use64 ? lockf64(fd, F_ULOCK, 0) : lockf(fd, F_ULOCK, 0);
    CHECK(r == 0, "%s(F_ULOCK): %s", name, strerror(errno));
    close(fd);
    return NULL;
}

static void run_lockf(int use64) {
    const char *path = lock_p;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHECK(fd >= 0, "open: %s", strerror(errno));
    write_str(fd, "lock me\n");
    close(fd);
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int cfd = open(path, O_RDWR);
        if (cfd < 0) _exit(2);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
        if (fcntl(cfd, F_SETLK, &fl) != 0) _exit(3);
        if (write(p[1], "L", 1) != 1) _exit(4);
        usleep(150000);
        fl.l_type = F_UNLCK;
        if (fcntl(cfd, F_SETLK, &fl) != 0) _exit(5);
        _exit(0);
    }
    close(p[1]);
    char c;
    CHECK(read(p[0], &c, 1) == 1 && c == 'L', "the child did not take the lock");
    close(p[0]);
    lock_use64 = use64;
    run2(lockf_blocker, NULL);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
    printf("%s acquired after the other process released it\n", use64 ? "lockf64" : "lockf");
    unlink(path);
}

static void case_lockf64(void) { run_lockf(1); }
static void case_lockf(void) { run_lockf(0); }

/* ---- driver ------------------------------------------------------------- */

struct subcase {
    char letter;
    const char *name;
    void (*run)(void);
    int by_default;
};

/* ---- l. many waits at once: 10 FIFO pairs, a chain of 6 flock waiters ---------- */
#define NPAIRS 10
static char many_p[NPAIRS][200];
static char many_got[NPAIRS];

static void *many_reader(void *arg) {
    int i = (int)(long)arg;
    int fd = open(many_p[i], O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open %s: %s", many_p[i], strerror(errno));
    char c = 0;
    CHECK(read(fd, &c, 1) == 1, "read fifo %d", i);
    many_got[i] = c;
    close(fd);
    return NULL;
}

static void *many_writer(void *arg) {
    int i = (int)(long)arg;
    delay();
    int fd = open(many_p[i], O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open %s for writing: %s", many_p[i], strerror(errno));
    char c = (char)('a' + i);
    CHECK(write(fd, &c, 1) == 1, "write fifo %d", i);
    close(fd);
    return NULL;
}

static void case_fifo_many(void) {
    pthread_t r[NPAIRS], w[NPAIRS];
    for (int i = 0; i < NPAIRS; i++) {
        snprintf(many_p[i], sizeof many_p[i], "%s/many%d", dir, i);
        CHECK(mkfifo(many_p[i], 0600) == 0, "mkfifo: %s", strerror(errno));
    }
    struct window win = win_start();
    for (long i = 0; i < NPAIRS; i++) CHECK(pthread_create(&r[i], NULL, many_reader, (void *)i) == 0, "create");
    for (long i = 0; i < NPAIRS; i++) CHECK(pthread_create(&w[i], NULL, many_writer, (void *)i) == 0, "create");
    note_threads();
    for (int i = 0; i < NPAIRS; i++) CHECK(pthread_join(r[i], NULL) == 0 && pthread_join(w[i], NULL) == 0, "join");
    win_end(win, "fifo_many", MIN_BLOCK_MS, 1);
    printf("10 FIFO readers opened before their writers: got ");
    for (int i = 0; i < NPAIRS; i++) putchar(many_got[i]);
    printf("\n");
    for (int i = 0; i < NPAIRS; i++) unlink(many_p[i]);
}

#define NCHAIN 6
static int chain_order[NCHAIN], chain_n;

static void *chain_locker(void *arg) {
    int i = (int)(long)arg;
    int fd = open(lock_p, O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0, "open lock file: %s", strerror(errno));
    CHECK(flock(fd, LOCK_EX) == 0, "flock: %s", strerror(errno));
    chain_order[__atomic_fetch_add(&chain_n, 1, __ATOMIC_SEQ_CST)] = i;
    CHECK(usleep(20000) == 0, "usleep");
    CHECK(flock(fd, LOCK_UN) == 0, "unlock: %s", strerror(errno));
    close(fd);
    return NULL;
}

static void case_flock_chain(void) {
    int fd = open(lock_p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHECK(fd >= 0, "create lock file: %s", strerror(errno));
    close(fd);
    chain_n = 0;
    pthread_t t[NCHAIN];
    struct window win = win_start();
    for (long i = 0; i < NCHAIN; i++) CHECK(pthread_create(&t[i], NULL, chain_locker, (void *)i) == 0, "create");
    note_threads();
    for (int i = 0; i < NCHAIN; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    win_end(win, "flock_chain", 100, 1);
    CHECK(chain_n == NCHAIN, "%d lockers got the lock", chain_n);
    printf("6 threads took an exclusive flock in turn, each waiting for the previous holder\n");
}

/* ---- k. user and group lookups (NSS) from 20 threads ------------------------ */
static int nss_ok[20];

static void *nss_thread(void *arg) {
    int i = (int)(long)arg;
    char buf[4096];
    struct passwd pw, *pr = NULL;
    struct group gr, *grr = NULL;
    int ok = getpwnam_r("root", &pw, buf, sizeof buf, &pr) == 0 && pr && pr->pw_uid == 0;
    ok = ok && getpwuid_r(0, &pw, buf, sizeof buf, &pr) == 0 && pr && strcmp(pr->pw_name, "root") == 0;
    ok = ok && getgrgid_r(0, &gr, buf, sizeof buf, &grr) == 0 && grr && strcmp(grr->gr_name, "root") == 0;
    ok = ok && getgrnam_r("root", &gr, buf, sizeof buf, &grr) == 0 && grr && grr->gr_gid == 0;
    gid_t groups[64];
    int ng = 64;
    ok = ok && getgrouplist("root", 0, groups, &ng) >= 1 && ng >= 1 && groups[0] == 0;
    ok = ok && getpwnam_r("no-such-user-greenshim", &pw, buf, sizeof buf, &pr) == 0 && pr == NULL;
    nss_ok[i] = ok;
    return NULL;
}

static void case_nss(void) {
    pthread_t t[20];
    for (long i = 0; i < 20; i++) CHECK(pthread_create(&t[i], NULL, nss_thread, (void *)i) == 0, "create");
    note_threads();
    for (int i = 0; i < 20; i++) CHECK(pthread_join(t[i], NULL) == 0, "join");
    int good = 0;
    for (int i = 0; i < 20; i++) good += nss_ok[i];
    struct passwd *p = getpwuid(0);
    struct group *g = getgrnam("root");
    printf("nss: %d of 20 threads got root's passwd, group and group list; getpwuid(0) -> %s, getgrnam(root) -> %d\n",
           good, p ? p->pw_name : "NULL", g ? (int)g->gr_gid : -1);
    CHECK(good == 20, "%d threads failed a lookup", 20 - good);
}

static const struct subcase cases[] = {
    {'a', "fifo-read", case_fifo_read, 1},
    {'a', "fifo-write", case_fifo_write, 1},
    {'a', "fifo-openat", case_fifo_openat, 1},
    {'a', "fopen", case_fopen, 0},
    {'b', "eventfd", case_eventfd, 1},
    {'c', "timerfd", case_timerfd, 1},
    {'d', "signalfd", case_signalfd, 1},
    {'e', "inotify", case_inotify, 1},
    {'f', "recvmmsg", case_recvmmsg, 1},
    {'g', "msgrcv", case_msgrcv, 1},
    {'g', "semop", case_semop, 1},
    {'g', "semtimedop", case_semtimedop, 1},
    {'h', "mq_receive", case_mq_receive, 1},
    {'h', "mq_timedreceive", case_mq_timedreceive, 1},
    {'i', "sync", case_sync, 1},
    {'j', "lockf64", case_lockf64, 1},
    {'j', "lockf", case_lockf, 1},
    {'k', "nss", case_nss, 1},
    {'l', "fifo-many", case_fifo_many, 1},
    {'l', "flock-chain", case_flock_chain, 1},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

/* Only async-signal-safe calls: also run from the SIGALRM handler. */
static void cleanup(void) {
    if (qid >= 0) msgctl(qid, IPC_RMID, NULL);
    if (semid >= 0) semctl(semid, 0, IPC_RMID);
    if (dir[0]) {
        unlink(fifo_p);
        unlink(created_p);
        rmdir(watched_p);
        unlink(sync_p);
        unlink(lock_p);
        rmdir(dir);
    }
}

static const char *volatile current_case = "setup";

/* A hang: remove the System V objects (they would outlive the process) and the
 * temp dir, say which sub-case hung, and fail. */
static void on_alarm(int sig) {
    (void)sig;
    cleanup();
    const char *parts[3] = {"FAIL: misc_blocking: sub-case ", current_case, " still blocked after 60 s\n"};
    for (int i = 0; i < 3; i++)
        if (write(2, parts[i], strlen(parts[i])) < 0) break;
    _exit(1);
}

int main(int argc, char **argv) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction: %s", strerror(errno));
    alarm(60);
    const char *only = argc > 1 ? argv[1] : NULL;
    int selected[NCASES], nsel = 0;
    for (int i = 0; i < NCASES; i++) {
        int on = only ? (strcmp(only, cases[i].name) == 0 ||
                         (only[0] == cases[i].letter && only[1] == 0 && cases[i].by_default))
                      : cases[i].by_default;
        selected[i] = on;
        nsel += on;
    }
    CHECK(nsel > 0, "no sub-case named \"%s\"", only);

    /* SIGUSR1 stays pending for the signalfd: blocked before any thread exists */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0, "pthread_sigmask");

    snprintf(dir, sizeof dir, "/tmp/greenshim-misc-XXXXXX");
    CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    snprintf(fifo_p, sizeof fifo_p, "%s/fifo", dir);
    snprintf(watched_p, sizeof watched_p, "%s/watched", dir);
    snprintf(created_p, sizeof created_p, "%s/watched/created.txt", dir);
    snprintf(sync_p, sizeof sync_p, "%s/sync.dat", dir);
    snprintf(lock_p, sizeof lock_p, "%s/lock.dat", dir);
    atexit(cleanup);

    pthread_t tk;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create ticker");
    note_threads();
    for (int i = 0; i < NCASES; i++) {
        if (!selected[i]) continue;
        current_case = cases[i].name;
        cases[i].run();
    }
    current_case = "teardown";

    if (mq != (mqd_t)-1) {
        CHECK(mq_close(mq) == 0, "mq_close: %s", strerror(errno));
        mq = (mqd_t)-1;
    }
    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(tk, NULL) == 0, "join ticker");
    metric("os_threads_max", os_max);
    return 0;
}
