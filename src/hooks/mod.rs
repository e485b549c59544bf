//! The `extern "C"` symbols that interpose libc. Each hook decodes its arguments, asks
//! the runtime to serve the call (or passes it through with a named reason), and encodes
//! the C return: `-1` + errno, or a returned error code for `pthread_*`.
//!
//! Variadic functions (`fcntl`, `ioctl`, `open`) are defined with a fixed third
//! word-sized argument: on x86-64 an integer or pointer third argument arrives in the
//! same register either way, and stable Rust cannot define C variadics.

pub mod aliases;
pub mod c11;
pub mod dl;
pub mod io;
pub mod ipc;
pub mod net;
pub mod offloaded;
pub mod poll;
pub mod process;
pub mod procfs;
pub mod resolv;
pub mod signal;
pub mod stdio;
pub mod sync;
pub mod thread;
pub mod time;
pub mod variadic;
pub mod zerocopy;
