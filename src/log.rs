//! Diagnostics on stderr, never stdout, and only when asked (`GREENSHIM_LOG`).
//!
//! Messages are formatted into a fixed stack buffer and written with a raw `write(2)`
//! syscall: no allocation, no stdio lock, nothing that can re-enter a hook.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering};

pub use crate::config::Level;

static LEVEL: AtomicU8 = AtomicU8::new(Level::Error as u8);

pub fn set_level(l: Level) {
    LEVEL.store(l as u8, Ordering::Relaxed);
}

#[inline(always)]
pub fn enabled(l: Level) -> bool {
    LEVEL.load(Ordering::Relaxed) >= l as u8
}

/// A fixed-size line buffer; output longer than it is cut, never allocated.
pub struct LineBuf {
    buf: [u8; 512],
    len: usize,
}

impl LineBuf {
    pub fn new() -> Self {
        LineBuf { buf: [0; 512], len: 0 }
    }
    pub fn flush_line(&mut self) {
        if self.len == self.buf.len() {
            self.buf[self.len - 1] = b'\n';
        } else {
            self.buf[self.len] = b'\n';
            self.len += 1;
        }
        crate::sys::write_all_stderr(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl Default for LineBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes one line `greenshim: <args>` to stderr.
pub fn emit(args: fmt::Arguments<'_>) {
    let mut b = LineBuf::new();
    let _ = b.write_str("greenshim: ");
    let _ = b.write_fmt(args);
    b.flush_line();
}

/// Prints one line made of byte pieces and exits with status 2 (configuration and
/// start-up failures: the program must not start half-shimmed).
pub fn fatal_parts(parts: &[&[u8]]) -> ! {
    for p in parts {
        crate::sys::write_all_stderr(p);
    }
    crate::sys::write_all_stderr(b"\n");
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(2) }
}

#[macro_export]
macro_rules! trace {
    ($($t:tt)*) => { if $crate::log::enabled($crate::log::Level::Trace) { $crate::log::emit(format_args!($($t)*)) } };
}
#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => { if $crate::log::enabled($crate::log::Level::Debug) { $crate::log::emit(format_args!($($t)*)) } };
}
#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { if $crate::log::enabled($crate::log::Level::Warn) { $crate::log::emit(format_args!($($t)*)) } };
}
