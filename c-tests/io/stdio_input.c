/* stdio_input: stdio input functions (fgets, getline, getdelim, fread, getc,
 * fgetc, getc_unlocked, ungetc, getchar, fscanf, and on a wide-oriented stream
 * fgetws and fgetwc; a prompt flushed before reading stdin) on pipes and sockets that
 * another thread fills slowly.
 *
 * Why: glibc's stdio refills a FILE's buffer with its internal read, which
 * an LD_PRELOAD shim cannot interpose; under greenshim that read would block
 * the one OS thread, so the writer thread (the only source of the data)
 * could never run and the program would deadlock (alarm(60) then kills it).
 * The shim must hook the stdio functions themselves and park the green
 * thread until the fd is readable whenever glibc would read. Every case has
 * a writer thread that writes in pieces with sleeps between them, including
 * pieces that end mid-line while a FILE's buffer still holds the start of
 * that line, and a ticker thread (usleep 5 ms) that must tick >= 3 times
 * during the reads. Two checks also catch a shim that parks when it should
 * not: data already in the FILE's buffer (a second line, a char pushed back
 * with ungetc) must be returned while the writer waits for the reader to
 * have consumed it (the writer gives up after 2 s so this fails rather than
 * hangs). Output is the same however the data is split, so stdout is
 * deterministic.
 *
 * Cases (argv[1] names one; default all, in this order):
 *   fgets    fdopen(pipe, "r"): lines split across writes ("hel" | "lo\n"),
 *            a partial line left in the buffer ("beta\ngam" | "ma\n"), a line
 *            longer than the 16-byte buffer (returned in pieces), two lines
 *            in one write, a last line without '\n' (in two pieces, the second
 *            ended by EOF), then NULL + feof.
 *   getline  getline on lines split across writes (one of 300 bytes, more
 *            than getline's first allocation), then getdelim(';') tokens and
 *            a final token ended by EOF, then -1 + feof.
 *   fread    fread(1, 100) fed 30+30+40 bytes -> 100; fread(1, 10000) fed
 *            4 x 2500 bytes (glibc reads straight into the caller's buffer
 *            for requests >= its buffer size) -> 10000; fread(7, 5) fed 10+7
 *            bytes then EOF -> 2 items + feof.
 *   getc     one char per write read by getc / fgetc / getc_unlocked (an
 *            inline that calls __uflow); ungetc of the last char and of
 *            another char, re-read from the pushback buffer while the writer
 *            waits; the rest, then EOF.
 *   stdin    a pipe dup2'ed onto fd 0 (no prompt is printed or flushed):
 *            getchar() then fgets(stdin) until EOF; fd 0 is restored after.
 *   socket   a socketpair; a reader thread writes requests with a FILE from
 *            fdopen(dup(fd), "w") and reads replies with fgets on
 *            fdopen(fd, "r") while the peer answers in pieces; then EOF.
 *   fscanf   fscanf(fp, "%d %d") on "12 34\n" written whole after 50 ms.
 *   regular  no regression on FILEs that need no waiting: a temp file
 *            (fgets, getline, fread, fscanf, getc/ungetc, a 100 KB fgets
 *            loop), fmemopen (no fd at all), /dev/null.
 *
 * stdout (deterministic), all cases:
 *   fgets: 6 "alpha\n"
 *   fgets: 6 "hello\n"
 *   fgets: 5 "beta\n"
 *   fgets: 6 "gamma\n"
 *   fgets: 15 "0123456789abcde"
 *   fgets: 15 "fghijklmnopqrst"
 *   fgets: 11 "uvwxyzABCD\n"
 *   fgets: 4 "two\n"
 *   fgets: 6 "lines\n"
 *   fgets: 15 "last line witho"
 *   fgets: 10 "ut newline"
 *   fgets: NULL feof=1 ferror=0
 *   fgets: second line of one write returned from the buffer: yes
 *   getline: 11 "first line\n"
 *   getline: 7 "second\n"
 *   getline: 11 "third line\n"
 *   getline: 301 bytes, pattern ok
 *   getdelim: 2 "a;"
 *   getdelim: 3 "bb;"
 *   getdelim: 4 "ccc;"
 *   getdelim: 2 "dd"
 *   getdelim: -1 feof=1 ferror=0
 *   fread(1, 100): 100 items, bytes ok
 *   fread(1, 10000): 10000 items, bytes ok
 *   fread(7, 5): 2 items "ABCDEFGHIJKLMN" feof=1 ferror=0
 *   getc/fgetc/getc_unlocked: "getc"
 *   ungetc('c') then getc: 'c' (from the pushback, no new data)
 *   ungetc('X') then fgetc: 'X' (from the pushback, no new data)
 *   rest: "!\n" then EOF feof=1
 *   stdin getchar: 'x'
 *   stdin fgets: 3 "yz\n"
 *   stdin fgets: 12 "second line\n"
 *   stdin fgets: NULL feof=1
 *   socket fgets: 7 "pong 0\n"
 *   socket fgets: 7 "pong 1\n"
 *   socket fgets: 7 "pong 2\n"
 *   socket fgets: 15 "socket goodbye\n"
 *   socket fgets: NULL feof=1
 *   fscanf: 2 items: 12 34
 *   regular fgets: 6 "first\n"
 *   regular getline: 7 "second\n"
 *   regular fread: 6 "third\n"
 *   regular fscanf: 2 items: 56 78
 *   regular getc/ungetc: 'z' 'z' then EOF feof=1
 *   regular fgets loop: 10000 lines, 100000 bytes, sum 49995000
 *   fmemopen fgets: 4 "mem\n"
 *   fmemopen fscanf: 2 items: 9 10
 *   /dev/null fgetc: EOF feof=1
 * metrics: os_threads_max, ticks_<case> (ticks during the reads of each case
 *          but regular), case_<case>_ms (wall time of each case).
 */
#include "../common.h"
#include <fcntl.h>
#include <pthread.h>
#include <locale.h>
#include <wchar.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- helpers */

static int stop_ticker;
static int ticks;
static int os_max;

static int get_ticks(void) { return __atomic_load_n(&ticks, __ATOMIC_SEQ_CST); }

static void sample_threads(void) {
    int n = os_threads();
    if (n > __atomic_load_n(&os_max, __ATOMIC_SEQ_CST)) __atomic_store_n(&os_max, n, __ATOMIC_SEQ_CST);
}

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        CHECK(usleep(5000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

static void msleep(int ms) { CHECK(usleep((useconds_t)ms * 1000) == 0, "usleep: %s", strerror(errno)); }

static void write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        CHECK(w > 0, "write: %s", w < 0 ? strerror(errno) : "0 bytes");
        c += w;
        n -= (size_t)w;
    }
}

/* Print s as a C string literal ("\n" escaped). */
static void put_quoted(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            fputs("\\n", stdout);
        else
            putchar(s[i]);
    }
    putchar('"');
}

/* The reader sets the flag once it has consumed data that was already in the
 * FILE's buffer (or pushback); the writer waits for it (2 s at most) before
 * writing more. */
static int reader_flag;
static void set_flag(void) { __atomic_store_n(&reader_flag, 1, __ATOMIC_SEQ_CST); }

/* A writer's script: write data after delay_ms, or (data == NULL) wait for
 * the reader's flag. The writer closes fd after the last step. */
struct step {
    int delay_ms;
    const char *data;
    size_t len; /* 0: strlen(data) */
};

struct script {
    int fd;
    const struct step *steps;
    int n;
    int flag_ok; /* set by the writer: the flag came in time */
};

static void *writer(void *arg) {
    struct script *s = arg;
    s->flag_ok = 1;
    for (int i = 0; i < s->n; i++) {
        const struct step *st = &s->steps[i];
        if (st->delay_ms) msleep(st->delay_ms);
        if (st->data) {
            write_all(s->fd, st->data, st->len ? st->len : strlen(st->data));
        } else {
            int waited = 0;
            while (!__atomic_load_n(&reader_flag, __ATOMIC_SEQ_CST) && waited < 2000) {
                msleep(2);
                waited += 2;
            }
            if (!__atomic_load_n(&reader_flag, __ATOMIC_SEQ_CST)) s->flag_ok = 0;
            __atomic_store_n(&reader_flag, 0, __ATOMIC_SEQ_CST);
        }
    }
    CHECK(close(s->fd) == 0, "close: %s", strerror(errno));
    return NULL;
}

#define FLAG_WAIT {0, NULL, 0}

/* Starts a writer on a fresh pipe; returns the read end as a FILE. */
static FILE *start_pipe(struct script *s, const struct step *steps, int n, pthread_t *th) {
    int p[2];
    CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
    FILE *fp = fdopen(p[0], "r");
    CHECK(fp != NULL, "fdopen: %s", strerror(errno));
    s->fd = p[1];
    s->steps = steps;
    s->n = n;
    __atomic_store_n(&reader_flag, 0, __ATOMIC_SEQ_CST);
    CHECK(pthread_create(th, NULL, writer, s) == 0, "create writer");
    sample_threads();
    return fp;
}

static void check_ticks(const char *name, int t0) {
    int t = get_ticks() - t0;
    char m[64];
    snprintf(m, sizeof m, "ticks_%s", name);
    metric(m, t);
    CHECK(t >= 3, "case %s: the ticker ticked only %d times during the reads", name, t);
}

/* ------------------------------------------------------------------ cases */

static void case_fgets(void) {
    static const struct step steps[] = {
        {0, "alpha\n", 0},
        {20, "hel", 0}, /* fgets finds the buffer empty, then needs more */
        {30, "lo\n", 0},
        {20, "beta\ngam", 0}, /* "gam" stays in the buffer after "beta\n" */
        {30, "ma\n", 0},
        {20, "0123456789abcdefghijklmno", 0}, /* 40 chars + '\n' in two writes; */
        {20, "pqrstuvwxyzABCD\n", 0},          /* the 2nd 15-byte piece spans both */
        {20, "two\nlines\n", 0},
        FLAG_WAIT, /* "lines\n" must come from the buffer */
        {20, "last line without newline", 0},
    };
    struct script s;
    pthread_t th;
    FILE *fp = start_pipe(&s, steps, (int)(sizeof steps / sizeof steps[0]), &th);
    int t0 = get_ticks();
    char buf[16];
    for (;;) {
        char *r = fgets(buf, sizeof buf, fp);
        if (!r) break;
        CHECK(r == buf, "fgets returned another pointer");
        size_t n = strlen(buf);
        printf("fgets: %zu ", n);
        put_quoted(buf, n);
        putchar('\n');
        if (strcmp(buf, "lines\n") == 0) set_flag();
    }
    printf("fgets: NULL feof=%d ferror=%d\n", feof(fp) != 0, ferror(fp) != 0);
    CHECK(feof(fp) && !ferror(fp), "fgets ended without EOF: %s", strerror(errno));
    check_ticks("fgets", t0);
    CHECK(pthread_join(th, NULL) == 0, "join writer");
    CHECK(s.flag_ok, "fgets did not return \"lines\\n\" (already in the FILE's buffer) within 2 s");
    printf("fgets: second line of one write returned from the buffer: yes\n");
    fclose(fp);
}

static char long_line[302];

static void case_getline(void) {
    for (int i = 0; i < 300; i++) long_line[i] = (char)('a' + i % 26);
    long_line[300] = '\n';
    static struct step steps[] = {
        {0, "first li", 0},
        {20, "ne\nsecond\nthi", 0},
        {20, "rd line\n", 0},
        {20, NULL, 100}, /* long_line[0..100) */
        {20, NULL, 100},
        {20, NULL, 101},
        {20, "a;bb", 0},
        {20, ";ccc;", 0},
        {20, "dd", 0},
    };
    steps[3].data = long_line;
    steps[4].data = long_line + 100;
    steps[5].data = long_line + 200;
    struct script s;
    pthread_t th;
    FILE *fp = start_pipe(&s, steps, (int)(sizeof steps / sizeof steps[0]), &th);
    int t0 = get_ticks();
    char *line = NULL;
    size_t cap = 0;
    for (int i = 0; i < 4; i++) {
        ssize_t n = getline(&line, &cap, fp);
        CHECK(n > 0, "getline %d returned %zd (%s)", i, n, strerror(errno));
        CHECK((size_t)n == strlen(line), "getline length %zd vs strlen %zu", n, strlen(line));
        if (i < 3) {
            printf("getline: %zd ", n);
            put_quoted(line, (size_t)n);
            putchar('\n');
        } else {
            CHECK(n == 301 && memcmp(line, long_line, 301) == 0, "long line: %zd bytes, content differs", n);
            CHECK(cap > 301, "getline capacity %zu", cap);
            printf("getline: %zd bytes, pattern ok\n", n);
        }
    }
    ssize_t n;
    while ((n = getdelim(&line, &cap, ';', fp)) > 0) {
        printf("getdelim: %zd ", n);
        put_quoted(line, (size_t)n);
        putchar('\n');
    }
    printf("getdelim: %zd feof=%d ferror=%d\n", n, feof(fp) != 0, ferror(fp) != 0);
    CHECK(n == -1 && feof(fp) && !ferror(fp), "getdelim ended without EOF: %s", strerror(errno));
    check_ticks("getline", t0);
    CHECK(pthread_join(th, NULL) == 0, "join writer");
    free(line);
    fclose(fp);
}

static char pat100[100], pat10k[10000];

static void case_fread(void) {
    for (int i = 0; i < 100; i++) pat100[i] = (char)(i * 7 + 1);
    for (int i = 0; i < 10000; i++) pat10k[i] = (char)(i * 13 + i / 256);
    static struct step steps[] = {
        {0, NULL, 30},
        {20, NULL, 30},
        {20, NULL, 40},
        {20, NULL, 2500},
        {20, NULL, 2500},
        {20, NULL, 2500},
        {20, NULL, 2500},
        {20, "ABCDEFGHIJ", 0},
        {20, "KLMNOPQ", 0},
    };
    steps[0].data = pat100;
    steps[1].data = pat100 + 30;
    steps[2].data = pat100 + 60;
    for (int i = 0; i < 4; i++) steps[3 + i].data = pat10k + 2500 * i;
    struct script s;
    pthread_t th;
    FILE *fp = start_pipe(&s, steps, (int)(sizeof steps / sizeof steps[0]), &th);
    int t0 = get_ticks();
    static char buf[10000];
    size_t r = fread(buf, 1, 100, fp);
    CHECK(r == 100, "fread(1, 100) returned %zu (feof %d ferror %d)", r, feof(fp), ferror(fp));
    CHECK(memcmp(buf, pat100, 100) == 0, "fread(1, 100): bytes differ");
    printf("fread(1, 100): %zu items, bytes ok\n", r);
    r = fread(buf, 1, 10000, fp);
    CHECK(r == 10000, "fread(1, 10000) returned %zu (feof %d ferror %d)", r, feof(fp), ferror(fp));
    CHECK(memcmp(buf, pat10k, 10000) == 0, "fread(1, 10000): bytes differ");
    printf("fread(1, 10000): %zu items, bytes ok\n", r);
    memset(buf, 0, 64);
    r = fread(buf, 7, 5, fp);
    printf("fread(7, 5): %zu items ", r);
    put_quoted(buf, r * 7);
    printf(" feof=%d ferror=%d\n", feof(fp) != 0, ferror(fp) != 0);
    CHECK(r == 2 && memcmp(buf, "ABCDEFGHIJKLMN", 14) == 0, "fread(7, 5) returned %zu items", r);
    CHECK(feof(fp) && !ferror(fp), "fread(7, 5) ended without EOF");
    check_ticks("fread", t0);
    CHECK(pthread_join(th, NULL) == 0, "join writer");
    fclose(fp);
}

static void case_getc(void) {
    static const struct step steps[] = {
        {0, "g", 0}, {15, "e", 0}, {15, "t", 0}, {15, "c", 0},
        FLAG_WAIT, /* the reader re-reads ungetc'ed chars meanwhile */
        {15, "!", 0}, {15, "\n", 0},
    };
    struct script s;
    pthread_t th;
    FILE *fp = start_pipe(&s, steps, (int)(sizeof steps / sizeof steps[0]), &th);
    int t0 = get_ticks();
    char got[5] = {0};
    for (int i = 0; i < 4; i++) {
        int c = i % 3 == 0 ? getc(fp) : i % 3 == 1 ? fgetc(fp) : getc_unlocked(fp);
        CHECK(c != EOF, "char %d: EOF (feof %d ferror %d)", i, feof(fp), ferror(fp));
        got[i] = (char)c;
    }
    printf("getc/fgetc/getc_unlocked: \"%s\"\n", got);
    CHECK(strcmp(got, "getc") == 0, "read \"%s\"", got);
    /* The buffer is empty and the writer writes nothing more until the flag:
     * the pushed-back chars must be returned without waiting for the fd. */
    CHECK(ungetc('c', fp) == 'c', "ungetc('c')");
    int c = getc(fp);
    printf("ungetc('c') then getc: '%c' (from the pushback, no new data)\n", c);
    CHECK(c == 'c', "got %d", c);
    CHECK(ungetc('X', fp) == 'X', "ungetc('X')");
    c = fgetc(fp);
    printf("ungetc('X') then fgetc: '%c' (from the pushback, no new data)\n", c);
    CHECK(c == 'X', "got %d", c);
    set_flag();
    char rest[8];
    int n = 0;
    while ((c = getc_unlocked(fp)) != EOF) {
        CHECK(n < 7, "too many chars");
        rest[n++] = (char)c;
    }
    printf("rest: ");
    put_quoted(rest, (size_t)n);
    printf(" then EOF feof=%d\n", feof(fp) != 0);
    CHECK(n == 2 && memcmp(rest, "!\n", 2) == 0 && feof(fp) && !ferror(fp), "rest: %d chars", n);
    check_ticks("getc", t0);
    CHECK(pthread_join(th, NULL) == 0, "join writer");
    CHECK(s.flag_ok, "ungetc'ed chars were not returned within 2 s without new data on the fd");
    fclose(fp);
}

static void case_stdin(void) {
    static const struct step steps[] = {
        {20, "x", 0}, {20, "yz\n", 0}, {20, "second ", 0}, {20, "line\n", 0},
    };
    int saved = dup(0);
    CHECK(saved >= 0, "dup(0): %s", strerror(errno));
    int p[2];
    CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
    CHECK(dup2(p[0], 0) == 0, "dup2: %s", strerror(errno));
    close(p[0]);
    clearerr(stdin);
    struct script s = {.fd = p[1], .steps = steps, .n = (int)(sizeof steps / sizeof steps[0])};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, writer, &s) == 0, "create writer");
    sample_threads();
    int t0 = get_ticks();
    int c = getchar();
    printf("stdin getchar: '%c'\n", c);
    CHECK(c == 'x', "getchar returned %d", c);
    char buf[64];
    while (fgets(buf, sizeof buf, stdin)) {
        printf("stdin fgets: %zu ", strlen(buf));
        put_quoted(buf, strlen(buf));
        putchar('\n');
    }
    printf("stdin fgets: NULL feof=%d\n", feof(stdin) != 0);
    CHECK(feof(stdin) && !ferror(stdin), "fgets(stdin) ended without EOF");
    check_ticks("stdin", t0);
    CHECK(pthread_join(th, NULL) == 0, "join writer");
    CHECK(dup2(saved, 0) == 0, "restore fd 0: %s", strerror(errno));
    close(saved);
    clearerr(stdin);
}

static int sock_peer;

/* Answers each "ping N\n" with "pong N\n" in two pieces, then says goodbye. */
static void *sock_server(void *arg) {
    (void)arg;
    char req[16];
    for (int i = 0; i < 3; i++) {
        size_t got = 0;
        while (got < 7) {
            ssize_t r = read(sock_peer, req + got, 7 - got);
            CHECK(r > 0, "server read: %s", r < 0 ? strerror(errno) : "EOF");
            got += (size_t)r;
        }
        char want[8];
        snprintf(want, sizeof want, "ping %d\n", i);
        CHECK(memcmp(req, want, 7) == 0, "request %d: %.7s", i, req);
        msleep(20);
        write_all(sock_peer, "po", 2);
        msleep(20);
        char tail[8];
        snprintf(tail, sizeof tail, "ng %d\n", i);
        write_all(sock_peer, tail, strlen(tail));
    }
    msleep(20);
    write_all(sock_peer, "socket ", 7);
    msleep(20);
    write_all(sock_peer, "goodbye\n", 8);
    msleep(20);
    CHECK(close(sock_peer) == 0, "close: %s", strerror(errno));
    return NULL;
}

static int sock_fd;
static char sock_lines[8][32];
static int sock_nlines, sock_eof;

static void *sock_client(void *arg) {
    (void)arg;
    FILE *in = fdopen(sock_fd, "r");
    CHECK(in != NULL, "fdopen r: %s", strerror(errno));
    int wfd = dup(sock_fd);
    CHECK(wfd >= 0, "dup: %s", strerror(errno));
    FILE *out = fdopen(wfd, "w");
    CHECK(out != NULL, "fdopen w: %s", strerror(errno));
    char buf[32];
    for (int i = 0; i < 3; i++) {
        CHECK(fprintf(out, "ping %d\n", i) == 7, "fprintf");
        CHECK(fflush(out) == 0, "fflush: %s", strerror(errno));
        CHECK(fgets(buf, sizeof buf, in) != NULL, "fgets reply %d: feof %d ferror %d", i, feof(in), ferror(in));
        snprintf(sock_lines[sock_nlines++], sizeof sock_lines[0], "%s", buf);
    }
    while (fgets(buf, sizeof buf, in)) {
        CHECK(sock_nlines < 8, "too many lines");
        snprintf(sock_lines[sock_nlines++], sizeof sock_lines[0], "%s", buf);
    }
    sock_eof = feof(in) != 0 && !ferror(in);
    fclose(out);
    fclose(in);
    return NULL;
}

static void case_socket(void) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    sock_fd = sv[0];
    sock_peer = sv[1];
    sock_nlines = 0;
    pthread_t srv, cli;
    CHECK(pthread_create(&srv, NULL, sock_server, NULL) == 0, "create server");
    int t0 = get_ticks();
    CHECK(pthread_create(&cli, NULL, sock_client, NULL) == 0, "create client");
    sample_threads();
    CHECK(pthread_join(cli, NULL) == 0, "join client");
    for (int i = 0; i < sock_nlines; i++) {
        printf("socket fgets: %zu ", strlen(sock_lines[i]));
        put_quoted(sock_lines[i], strlen(sock_lines[i]));
        putchar('\n');
    }
    printf("socket fgets: NULL feof=%d\n", sock_eof);
    CHECK(sock_nlines == 4 && strcmp(sock_lines[3], "socket goodbye\n") == 0, "%d lines", sock_nlines);
    CHECK(sock_eof, "fgets on the socket ended without EOF");
    check_ticks("socket", t0);
    CHECK(pthread_join(srv, NULL) == 0, "join server");
}

static void case_fscanf(void) {
    /* Whole in one write: scanf's internal reads may not be parkable when a
     * number arrives in pieces, so only test the simple case. */
    static const struct step steps[] = {{50, "12 34\n", 0}};
    struct script s;
    pthread_t th;
    FILE *fp = start_pipe(&s, steps, 1, &th);
    int t0 = get_ticks();
    int a = 0, b = 0;
    int r = fscanf(fp, "%d %d", &a, &b);
    printf("fscanf: %d items: %d %d\n", r, a, b);
    CHECK(r == 2 && a == 12 && b == 34, "fscanf returned %d", r);
    check_ticks("fscanf", t0);
    CHECK(pthread_join(th, NULL) == 0, "join writer");
    fclose(fp);
}

static void case_wide(void) {
    /* Wide-oriented stream: whole lines per write (a multibyte character split
     * across writes would be read by glibc itself). */
    static const struct step steps[] = {{50, "caf\xc3\xa9 one\n", 0}, {30, "two\n", 0}, {30, "x", 0}};
    struct script s;
    pthread_t th;
    FILE *fp = start_pipe(&s, steps, 3, &th);
    CHECK(fwide(fp, 1) > 0, "fwide");
    int t0 = get_ticks();
    wchar_t line[32];
    CHECK(fgetws(line, 32, fp) == line, "fgetws: %s", strerror(errno));
    printf("fgetws: %zu wide chars, 4th is U+%04X\n", wcslen(line), (unsigned)line[3]);
    wint_t c;
    int n = 0;
    while ((c = fgetwc(fp)) != WEOF) n++;
    printf("fgetwc: %d more wide chars, then WEOF feof=%d\n", n, feof(fp) != 0);
    check_ticks("wide", t0);
    CHECK(pthread_join(th, NULL) == 0, "join writer");
    fclose(fp);
}

/* Interactive prompt: stdout line-buffered, a prompt without a newline, then a
 * read of stdin. glibc flushes the prompt before it waits for input; a checker
 * thread only answers once it has seen the prompt, so a shim that waits first
 * deadlocks. stdout is temporarily a pipe the checker reads. */
static int prompt_out[2], prompt_in[2];

static void *prompt_checker(void *arg) {
    (void)arg;
    char got[64];
    size_t n = 0;
    while (n < 8) {
        ssize_t r = read(prompt_out[0], got + n, sizeof got - 1 - n);
        CHECK(r > 0, "checker read: %s", strerror(errno));
        n += (size_t)r;
    }
    got[n] = 0;
    CHECK(strcmp(got, "prompt: ") == 0, "checker saw \"%s\"", got);
    write_all(prompt_in[1], "answer\n", 7);
    close(prompt_in[1]);
    return NULL;
}

static void case_prompt(void) {
    fflush(stdout);
    int saved_out = dup(1), saved_in = dup(0);
    CHECK(saved_out >= 0 && saved_in >= 0, "dup");
    CHECK(pipe(prompt_out) == 0 && pipe(prompt_in) == 0, "pipe");
    CHECK(dup2(prompt_out[1], 1) == 1 && dup2(prompt_in[0], 0) == 0, "dup2");
    close(prompt_out[1]);
    close(prompt_in[0]);
    clearerr(stdin);
    setvbuf(stdout, NULL, _IOLBF, 0);
    setvbuf(stdin, NULL, _IOLBF, 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, prompt_checker, NULL) == 0, "create");
    int t0 = get_ticks();
    printf("prompt: ");
    char buf[32];
    char *r = fgets(buf, sizeof buf, stdin);
    CHECK(pthread_join(th, NULL) == 0, "join");
    fflush(stdout);
    CHECK(dup2(saved_out, 1) == 1 && dup2(saved_in, 0) == 0, "restore");
    close(saved_out);
    close(saved_in);
    close(prompt_out[0]);
    clearerr(stdin);
    CHECK(r && strcmp(buf, "answer\n") == 0, "fgets after the prompt");
    printf("prompt: flushed before the wait, answer \"answer\"\n");
    (void)t0;
}

static void case_regular(void) {
    char path[] = "/tmp/greenshim_stdio_input_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
    const char *text = "first\nsecond\nthird\n56 78\nz";
    write_all(fd, text, strlen(text));
    close(fd);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL, "fopen %s: %s", path, strerror(errno));
    char buf[64];
    CHECK(fgets(buf, sizeof buf, fp) == buf, "fgets");
    printf("regular fgets: %zu ", strlen(buf));
    put_quoted(buf, strlen(buf));
    putchar('\n');
    CHECK(strcmp(buf, "first\n") == 0, "fgets got %s", buf);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, fp);
    printf("regular getline: %zd ", n);
    put_quoted(line, n > 0 ? (size_t)n : 0);
    putchar('\n');
    CHECK(n == 7 && strcmp(line, "second\n") == 0, "getline returned %zd", n);
    free(line);
    size_t r = fread(buf, 1, 6, fp);
    printf("regular fread: %zu ", r);
    put_quoted(buf, r);
    putchar('\n');
    CHECK(r == 6 && memcmp(buf, "third\n", 6) == 0, "fread returned %zu", r);
    int a = 0, b = 0;
    int k = fscanf(fp, "%d %d\n", &a, &b);
    printf("regular fscanf: %d items: %d %d\n", k, a, b);
    CHECK(k == 2 && a == 56 && b == 78, "fscanf returned %d", k);
    int c1 = getc(fp);
    CHECK(ungetc(c1, fp) == c1, "ungetc");
    int c2 = fgetc(fp);
    int c3 = getc_unlocked(fp);
    printf("regular getc/ungetc: '%c' '%c' then %s feof=%d\n", c1, c2, c3 == EOF ? "EOF" : "more", feof(fp) != 0);
    CHECK(c1 == 'z' && c2 == 'z' && c3 == EOF && feof(fp), "getc %d %d %d", c1, c2, c3);
    fclose(fp);

    /* 10000 lines "%09d\n" (100000 bytes): many buffer refills. */
    fp = fopen(path, "w");
    CHECK(fp != NULL, "fopen w: %s", strerror(errno));
    for (int i = 0; i < 10000; i++) fprintf(fp, "%09d\n", i);
    CHECK(fclose(fp) == 0, "fclose: %s", strerror(errno));
    fp = fopen(path, "r");
    CHECK(fp != NULL, "fopen r: %s", strerror(errno));
    long lines = 0, bytes = 0, sum = 0;
    while (fgets(buf, sizeof buf, fp)) {
        CHECK(atol(buf) == lines, "line %ld: %s", lines, buf);
        sum += atol(buf);
        bytes += (long)strlen(buf);
        lines++;
    }
    CHECK(feof(fp) && !ferror(fp), "fgets loop ended without EOF");
    printf("regular fgets loop: %ld lines, %ld bytes, sum %ld\n", lines, bytes, sum);
    CHECK(lines == 10000 && bytes == 100000, "lines %ld bytes %ld", lines, bytes);
    fclose(fp);
    CHECK(unlink(path) == 0, "unlink: %s", strerror(errno));

    /* fmemopen: a FILE without an fd (fileno() == -1). */
    char mem[] = "mem\n9 10\n";
    fp = fmemopen(mem, strlen(mem), "r");
    CHECK(fp != NULL, "fmemopen: %s", strerror(errno));
    CHECK(fgets(buf, sizeof buf, fp) == buf, "fmemopen fgets");
    printf("fmemopen fgets: %zu ", strlen(buf));
    put_quoted(buf, strlen(buf));
    putchar('\n');
    CHECK(strcmp(buf, "mem\n") == 0, "fmemopen fgets got %s", buf);
    k = fscanf(fp, "%d %d", &a, &b);
    printf("fmemopen fscanf: %d items: %d %d\n", k, a, b);
    CHECK(k == 2 && a == 9 && b == 10, "fmemopen fscanf returned %d", k);
    fclose(fp);

    fp = fopen("/dev/null", "r");
    CHECK(fp != NULL, "fopen /dev/null: %s", strerror(errno));
    int c = fgetc(fp);
    printf("/dev/null fgetc: %s feof=%d\n", c == EOF ? "EOF" : "a char", feof(fp) != 0);
    CHECK(c == EOF && feof(fp), "/dev/null fgetc returned %d", c);
    fclose(fp);
}

/* ------------------------------------------------------------------- main */

static const struct {
    const char *name;
    void (*fn)(void);
} cases[] = {
    {"fgets", case_fgets},   {"getline", case_getline}, {"fread", case_fread},   {"getc", case_getc},
    {"stdin", case_stdin},   {"socket", case_socket},   {"fscanf", case_fscanf}, {"wide", case_wide}, {"prompt", case_prompt}, {"regular", case_regular},
};

int main(int argc, char **argv) {
    alarm(60);
    CHECK(setlocale(LC_CTYPE, "C.UTF-8") != NULL, "no C.UTF-8 locale");
    const char *only = argc > 1 ? argv[1] : NULL;
    int found = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (!only || strcmp(only, cases[i].name) == 0) found = 1;
    CHECK(found, "unknown case %s", only);

    pthread_t tk;
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create ticker");
    sample_threads();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (only && strcmp(only, cases[i].name) != 0) continue;
        long long t0 = now_ms();
        cases[i].fn();
        char m[64];
        snprintf(m, sizeof m, "case_%s_ms", cases[i].name);
        metric(m, now_ms() - t0);
    }
    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(tk, NULL) == 0, "join ticker");
    metric("os_threads_max", os_max);
    return 0;
}
