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
//! | [`hog`]   | `GREENSHIM_HOG_MS`: the watchdog for threads that run without switching |

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
pub(crate) mod stats;
pub(crate) mod symbolize;
pub(crate) mod sync;
pub(crate) mod sys;
