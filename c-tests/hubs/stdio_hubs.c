/* stdio_hubs: four threads (two per hub under GREENSHIM_HUBS=2) write records to one
 * fully buffered FILE at once, through fwrite, fputs and fputc, then print through puts
 * and putchar to stdout (a file): natively glibc's FILE lock keeps every call whole.
 * With several hubs the shim copies into the buffer itself under that same lock
 * (trylock), so no record may be torn, lost or doubled, and every byte of the fputc
 * and putchar runs is counted.
 *
 * stdout: per-check summaries, the same natively and under the shim.
 */
#include "../common.h"
#include <pthread.h>

#define THREADS 4
#define RECORDS 50000

static FILE *out;
static void check_records(const char *path, FILE *report);

static void *writer(void *arg) {
    long id = (long)arg;
    char rec[64];
    for (int i = 0; i < RECORDS; i++) {
        int n = snprintf(rec, sizeof rec, "T%ld %06d abcdefghijklmnopqrstuvwxyz\n", id, i);
        switch (i % 3) {
        case 0: CHECK(fwrite(rec, 1, (size_t)n, out) == (size_t)n, "fwrite"); break;
        case 1: CHECK(fputs(rec, out) >= 0, "fputs"); break;
        default: CHECK(fputc('\n', out) == '\n', "fputc"); break; /* an empty line */
        }
    }
    for (int i = 0; i < RECORDS / 10; i++) {
        snprintf(rec, sizeof rec, "P%ld %06d", id, i);
        CHECK(puts(rec) >= 0, "puts");
    }
    return NULL;
}

/* Checks the file of records: every line is a whole record of a thread, each thread's
 * numbered records come in order with none missing, and the one-character lines add up. */
static void check_records(const char *path, FILE *report) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "reopen");
    char line[128];
    long next[THREADS] = {0}, hashes = 0, bad = 0, lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        long id;
        int seq;
        char tail[64];
        if (strcmp(line, "\n") == 0) {
            hashes++;
            continue;
        }
        if (sscanf(line, "T%ld %d %63s", &id, &seq, tail) != 3 || id < 0 || id >= THREADS || strcmp(tail, "abcdefghijklmnopqrstuvwxyz") != 0) {
            bad++;
            continue;
        }
        /* Records of kind 2 are the empty lines: skip their numbers. */
        while (next[id] % 3 == 2) next[id]++;
        if (seq != next[id]) bad++;
        next[id] = seq + 1;
    }
    fclose(f);
    fprintf(report, "records file: %ld lines, %ld malformed or out of order, %ld empty lines\n", lines, bad, hashes);
}

/* Checks what puts wrote: whole lines, each thread's in order, none missing. */
static void check_puts(const char *path, FILE *report) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "reopen");
    char line[128];
    long next[THREADS] = {0}, bad = 0, lines = 0;
    while (fgets(line, sizeof line, f)) {
        long id;
        int seq;
        lines++;
        if (sscanf(line, "P%ld %d", &id, &seq) != 2 || id < 0 || id >= THREADS || seq != next[id] || strlen(line) != 10) {
            bad++;
            continue;
        }
        next[id]++;
    }
    fclose(f);
    fprintf(report, "puts to stdout: %ld lines, %ld malformed or out of order\n", lines, bad);
}

int main(void) {
    char path[64], path2[64];
    snprintf(path, sizeof path, "/tmp/greenshim-stdio-hubs-%d", (int)getpid());
    snprintf(path2, sizeof path2, "/tmp/greenshim-stdio-hubs-out-%d", (int)getpid());
    /* stdout goes to a file for the puts records (their order is the scheduler's); the
     * summaries go to the real stdout. */
    fflush(stdout);
    int saved = dup(1);
    CHECK(saved >= 0, "dup");
    CHECK(freopen(path2, "w", stdout) != NULL, "freopen");
    FILE *report = fdopen(saved, "w");
    CHECK(report != NULL, "fdopen");
    out = fopen(path, "w");
    CHECK(out != NULL, "fopen");
    CHECK(setvbuf(out, NULL, _IOFBF, 8192) == 0, "setvbuf");
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, writer, (void *)i) == 0, "create");
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK(fclose(out) == 0, "fclose");
    CHECK(fflush(stdout) == 0, "fflush");
    check_records(path, report);
    check_puts(path2, report);
    unlink(path);
    unlink(path2);
    fclose(report);
    return 0;
}
