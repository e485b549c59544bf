/* parking_ctor: a shared library whose constructor and destructor block inside the
 * loader (glibc runs them holding its loader lock), for the loader-lock tests
 * (core/dl_ctor_parks.c, core/dl_walk_blocks.c, cpp/loader_exceptions.cpp).
 *
 * Built several ways (-D at compile time):
 *   (none)    constructor sleeps 20 ms, then creates and joins a thread, and dlopens,
 *             uses and dlcloses the library named by $PARKING_NESTED (if set): a
 *             constructor that itself enters the loader again;
 *   USE_PIPE  constructor asks the program for a byte (probe_want_byte) and reads it
 *             from the fd in $PARKING_CTOR_FD (blocks until another thread writes it);
 *   PLAIN     constructor and destructor do not block.
 * The destructor sleeps 5 ms (not PLAIN). Entry and exit are reported to the program's
 * probe_enter/probe_exit when it exports them (-rdynamic; weak here). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

void probe_enter(const char *what) __attribute__((weak));
void probe_exit(const char *what) __attribute__((weak));
void probe_want_byte(void) __attribute__((weak));

#ifndef LIB_VALUE
#define LIB_VALUE 7
#endif

static int ready;

int lib_value(void) { return ready ? LIB_VALUE : -1; }

#if !defined(PLAIN) && !defined(USE_PIPE)
static void *helper(void *arg) { return (void *)((long)arg * 2); }
#endif

__attribute__((constructor)) static void ctor(void) {
    if (probe_enter) probe_enter("ctor");
#if defined(USE_PIPE)
    const char *fd = getenv("PARKING_CTOR_FD");
    char c;
    if (probe_want_byte) probe_want_byte();
    if (fd && read(atoi(fd), &c, 1) != 1) abort();
#elif !defined(PLAIN)
    usleep(20000);
    pthread_t t;
    void *r = 0;
    if (pthread_create(&t, 0, helper, (void *)21L) != 0 || pthread_join(t, &r) != 0 || (long)r != 42) abort();
    const char *nested = getenv("PARKING_NESTED");
    if (nested) {
        void *h = dlopen(nested, RTLD_NOW);
        if (!h) abort();
        int (*v)(void) = (int (*)(void))dlsym(h, "lib_value");
        if (!v || v() < 0) abort();
        usleep(1000);
        dlclose(h);
    }
#endif
    ready = 1;
    if (probe_exit) probe_exit("ctor");
}

__attribute__((destructor)) static void dtor(void) {
    if (probe_enter) probe_enter("dtor");
#if !defined(PLAIN)
    usleep(5000);
#endif
    ready = 0;
    if (probe_exit) probe_exit("dtor");
}
