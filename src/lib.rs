//! greenshim: gevent's monkey patching for any dynamically linked program.
//!
//! Loaded with `LD_PRELOAD`, this library interposes libc: `pthread_create` starts a
//! green thread (a stackful `corosensei` coroutine) on the process's hub instead of an
//! OS thread, and blocking calls park the calling green thread on the hub's epoll
//! reactor instead of blocking the OS thread. See docs/ARCHITECTURE.md.
//!
//! | module    | role                                                                  |
//! |-----------|-----------------------------------------------------------------------|
//! | [`init`]  | constructor: real symbols, configuration, hub                         |
//! | [`config`]| `GREENSHIM_*` variables, validated once                               |
//! | [`sys`]   | raw syscalls, the real-libc table, errno, clocks, spin lock           |
//! | [`hub`]   | scheduler (ready queue, run loop), reactor, timers                    |
//! | [`green`] | green-thread control blocks, stacks, per-thread TLS, overflow report  |
//! | [`sync`]  | parking lot, mutex, condvar, semaphore, rwlock, barrier, once, keys, futex |
//! | [`fd`]    | per-fd table and the try → EAGAIN → park → retry loop                 |
//! | [`hooks`] | the `extern "C"` symbols, by family                                   |
//! | [`stats`] | `GREENSHIM_STATS`, deadlock report                                    |
//! | [`hog`]   | `GREENSHIM_HOG_MS`: the watchdog for threads that run without switching (its thread also serves `GREENSHIM_DUMP`) |
//! | [`selfdump`] | the dump the program writes itself: `GREENSHIM_DUMP` file trigger, `SIGRTMAX-1` while the watchdog runs |
//! | [`raw`]   | `GREENSHIM_RAW`: raw system calls through Syscall User Dispatch       |

#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::missing_safety_doc)] // hooks carry libc's contracts

pub(crate) mod config;
pub(crate) mod fd;
pub(crate) mod green;
pub(crate) mod hog;
pub(crate) mod hooks;
pub(crate) mod hub;
pub(crate) mod init;
#[macro_use]
pub(crate) mod log;
pub(crate) mod offload;
pub(crate) mod selfdump;
pub(crate) mod raw;
pub(crate) mod raw_report;
pub(crate) mod stats;
pub(crate) mod symbolize;
pub(crate) mod sync;
pub(crate) mod sys;

/// The shim's own allocations (glibc malloc underneath) run with the raw-syscall
/// selector at ALLOW: malloc's internal system calls and lock waits are the shim's, not
/// the program's, and must never be parked on (see [`raw`]).
struct ShimAlloc;

// SAFETY: forwards every call to the System allocator unchanged.
unsafe impl core::alloc::GlobalAlloc for ShimAlloc {
    #[inline]
    unsafe fn alloc(&self, l: core::alloc::Layout) -> *mut u8 {
        let s = raw::swap_selector(raw::ALLOW);
        // SAFETY: forwarded.
        let p = unsafe { std::alloc::System.alloc(l) };
        raw::restore_selector(s);
        p
    }
    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, l: core::alloc::Layout) {
        let s = raw::swap_selector(raw::ALLOW);
        // SAFETY: forwarded.
        unsafe { std::alloc::System.dealloc(p, l) };
        raw::restore_selector(s);
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, l: core::alloc::Layout) -> *mut u8 {
        let s = raw::swap_selector(raw::ALLOW);
        // SAFETY: forwarded.
        let p = unsafe { std::alloc::System.alloc_zeroed(l) };
        raw::restore_selector(s);
        p
    }
    #[inline]
    unsafe fn realloc(&self, p: *mut u8, l: core::alloc::Layout, n: usize) -> *mut u8 {
        let s = raw::swap_selector(raw::ALLOW);
        // SAFETY: forwarded.
        let q = unsafe { std::alloc::System.realloc(p, l, n) };
        raw::restore_selector(s);
        q
    }
}

#[global_allocator]
static ALLOC: ShimAlloc = ShimAlloc;
