/* A system call made with the `syscall` instruction in the program's own code: no
 * libc symbol the shim could interpose (Syscall User Dispatch sees it). Returns the
 * kernel's result: -errno on failure. Always inlined, so each calling function is a
 * call site of its own (the report lists call sites). */
#pragma once

static inline __attribute__((always_inline)) long raw6(long n, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#define RAW3(n, a, b, c) raw6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
