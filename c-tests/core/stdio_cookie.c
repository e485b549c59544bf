/* stdio_cookie: a fopencookie stream whose write function blocks (it sleeps between
 * bytes) shared by 10 threads writing 20 lines each through an unbuffered FILE. glibc
 * calls the function with the FILE's lock held, so natively each line goes through
 * whole; under the shim the function parks, and the other green threads (which share
 * the lock's owner, the OS thread) must still wait for the FILE. Also a read function
 * that blocks, read by 4 threads with fgets: each gets whole lines. */
#include "../common.h"
#include <pthread.h>

static char sink[1 << 16];
static size_t sink_len;
static FILE *out, *in;
static const char *source = "alpha line\nbeta line\ngamma line\ndelta line\n";
static size_t source_pos, source_len;

static ssize_t slow_write(void *c, const char *b, size_t n) {
    (void)c;
    for (size_t i = 0; i < n; i++) {
        sink[sink_len++] = b[i];
        if (i % 4 == 0) usleep(50);
    }
    return (ssize_t)n;
}

static ssize_t slow_read(void *c, char *b, size_t n) {
    (void)c;
    usleep(200);
    size_t k = 0;
    /* Hand out three bytes at a time: a line takes several calls. */
    while (k < n && k < 3 && source_pos < source_len) b[k++] = source[source_pos++];
    return (ssize_t)k;
}

static void *writer(void *a) {
    long id = (long)a;
    for (int i = 0; i < 20; i++) fprintf(out, "thread %ld line %d end\n", id, i);
    return NULL;
}

static int whole_lines;
static void *reader(void *a) {
    (void)a;
    char line[64];
    if (fgets(line, sizeof line, in) && strlen(line) > 5 && strcmp(line + strlen(line) - 6, " line\n") == 0) __atomic_add_fetch(&whole_lines, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

int main(void) {
    cookie_io_functions_t wio = {.write = slow_write};
    out = fopencookie(NULL, "w", wio);
    CHECK(out, "fopencookie");
    setvbuf(out, NULL, _IONBF, 0);
    pthread_t t[10];
    for (long i = 0; i < 10; i++) CHECK(pthread_create(&t[i], NULL, writer, (void *)i) == 0, "create");
    metric("os_threads_max", os_threads());
    for (int i = 0; i < 10; i++) pthread_join(t[i], NULL);
    CHECK(fclose(out) == 0, "fclose");
    int lines = 0, bad = 0;
    char *s = sink, *line;
    while ((line = strsep(&s, "\n")) && *line) {
        long a;
        int b;
        char e[8];
        lines++;
        if (sscanf(line, "thread %ld line %d %7s", &a, &b, e) != 3 || strcmp(e, "end") != 0) bad++;
    }
    printf("written lines %d, torn %d\n", lines, bad);

    source_len = strlen(source);
    cookie_io_functions_t rio = {.read = slow_read};
    in = fopencookie(NULL, "r", rio);
    CHECK(in, "fopencookie");
    setvbuf(in, NULL, _IONBF, 0);
    pthread_t r[4];
    for (long i = 0; i < 4; i++) CHECK(pthread_create(&r[i], NULL, reader, NULL) == 0, "create");
    for (int i = 0; i < 4; i++) pthread_join(r[i], NULL);
    CHECK(fclose(in) == 0, "fclose");
    printf("whole lines read %d of 4\n", whole_lines);
    return bad != 0 || whole_lines != 4;
}
