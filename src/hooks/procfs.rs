//! The kernel's thread count, as the program would see it natively.
//!
//! Green threads are not kernel tasks: `/proc/self/stat`'s field 20 (`num_threads`)
//! counts the hub's OS thread once, and the shim's own offload threads too. Programs
//! read it to learn whether they are multi-threaded — CPython 3.12+ warns on `os.fork()`
//! from a multi-threaded process after reading it — so an open of `/proc/self/stat` (or
//! `/proc/<own pid>/stat`; by `open`/`openat` or `fopen`) while the count differs gets a
//! snapshot in a memfd with the count the native process would have: the program's
//! green threads (the root included unless it is gone) plus the OS threads that are
//! neither the hub's nor the shim's. The snapshot is taken even when the counts agree
//! at open: the kernel fills the file at `read`, and the read itself may start an
//! offload thread. Opened off the hub's thread, the file is the kernel's.
//!
//! `/proc/self/status` (`Threads:`) and `/proc/self/task` stay the kernel's view of OS
//! threads: they are how one shows that green threads share one OS thread (greenshim's
//! own tests read `Threads:`), see docs/CAVEATS.md.

use crate::hub;
use crate::sys::{self, real};
use core::ffi::{c_char, c_int};

/// Whether `path` names the calling process's stat file.
fn is_own_stat(path: *const c_char) -> bool {
    if path.is_null() {
        return false;
    }
    // SAFETY: the program's NUL-terminated path.
    let p = unsafe { core::ffi::CStr::from_ptr(path) }.to_bytes();
    let Some(rest) = p.strip_prefix(b"/proc/") else { return false };
    let Some(slash) = rest.iter().position(|&c| c == b'/') else { return false };
    let (who, file) = rest.split_at(slash);
    if file != b"/stat" {
        return false;
    }
    who == b"self" || {
        // SAFETY: getpid has no arguments.
        let pid = unsafe { sys::sc!(libc::SYS_getpid) }.unwrap_or(0);
        !who.is_empty() && who.iter().all(u8::is_ascii_digit) && who.iter().fold(0usize, |a, c| a * 10 + (c - b'0') as usize) == pid
    }
}

/// Reads the real file into `buf`; the number of bytes read.
fn read_real(path: *const c_char, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: NUL-terminated path.
    let fd = unsafe { sys::sc!(libc::SYS_openat, libc::AT_FDCWD, path, libc::O_RDONLY | libc::O_CLOEXEC) }.ok()? as c_int;
    let mut n = 0;
    while n < buf.len() {
        // SAFETY: reads into the rest of buf.
        match unsafe { sys::sc!(libc::SYS_read, fd, buf.as_mut_ptr().add(n), buf.len() - n) } {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let _ = sys::close(fd);
    Some(n)
}

/// Where field 20 (num_threads) of a stat line is: (start, end).
fn count_span(text: &[u8]) -> Option<(usize, usize)> {
    // Fields after the command name (which may hold spaces and parentheses) start with
    // field 3.
    let mut i = text.iter().rposition(|&c| c == b')')? + 1;
    let mut span = (i, i);
    for _ in 3..=20 {
        while text.get(i) == Some(&b' ') {
            i += 1;
        }
        let f = i;
        while text.get(i).is_some_and(|&c| c != b' ' && c != b'\n') {
            i += 1;
        }
        if f == i {
            return None;
        }
        span = (f, i);
    }
    text[span.0..span.1].iter().all(u8::is_ascii_digit).then_some(span)
}

fn parse(d: &[u8]) -> usize {
    d.iter().fold(0, |a, c| a * 10 + (c - b'0') as usize)
}

/// An fd on a snapshot of `path` with the native thread count, or None to open the real
/// file (no hub on this thread, or anything failed).
fn virtual_fd(path: *const c_char, cloexec: bool) -> Option<c_int> {
    if !is_own_stat(path) {
        return None;
    }
    // Only on the hub's thread, where its counters can be read.
    let Some(h) = hub::local() else {
        crate::debug!("procfs: /proc/self/stat read off the hub's thread: the kernel's count");
        return None;
    };
    let mut buf = [0u8; 4096];
    let n = read_real(path, &mut buf)?;
    let text = &buf[..n];
    let (s, e) = count_span(text)?;
    let kernel = parse(&text[s..e]);
    // SAFETY: h is this OS thread's hub.
    let green = unsafe { hub::program_threads(h) };
    // The hubs' OS threads run the program's threads, counted in `green`.
    let others = kernel.saturating_sub(hub::hub_count() + crate::offload::os_threads());
    let native = others + green;
    crate::debug!("procfs: /proc/self/stat counts {kernel} OS threads, {} the shim's; {green} green: {native} as natively", crate::offload::os_threads());
    let mut digits = [0u8; 20];
    let mut k = digits.len();
    let mut v = native;
    loop {
        k -= 1;
        digits[k] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let flags = if cloexec { libc::MFD_CLOEXEC } else { 0 };
    // SAFETY: NUL-terminated name.
    let fd = unsafe { sys::sc!(libc::SYS_memfd_create, c"greenshim-proc".as_ptr(), flags) }.ok()? as c_int;
    let parts: [&[u8]; 3] = [&text[..s], &digits[k..], &text[e..]];
    for part in parts {
        let mut off = 0;
        while off < part.len() {
            // SAFETY: writes from a live slice.
            match unsafe { sys::sc!(libc::SYS_write, fd, part.as_ptr().add(off), part.len() - off) } {
                Ok(w) if w > 0 => off += w,
                _ => {
                    let _ = sys::close(fd);
                    return None;
                }
            }
        }
    }
    // SAFETY: rewinds the fd just made.
    let _ = unsafe { sys::sc!(libc::SYS_lseek, fd, 0, libc::SEEK_SET) };
    crate::fd::table::fresh(fd);
    Some(fd)
}

/// For the `open` hooks: the snapshot fd, if this is a read-only open of the process's
/// stat file on the hub's thread.
pub fn open(dirfd: c_int, path: *const c_char, flags: c_int) -> Option<c_int> {
    let _ = dirfd;
    if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & (libc::O_PATH | libc::O_DIRECTORY) != 0 {
        return None;
    }
    virtual_fd(path, flags & libc::O_CLOEXEC != 0)
}

fn fopen_impl(path: *const c_char, mode: *const c_char, real_fopen: unsafe fn(*const c_char, *const c_char) -> *mut libc::FILE) -> *mut libc::FILE {
    // SAFETY: the program's NUL-terminated mode.
    let m = if mode.is_null() { &b""[..] } else { unsafe { core::ffi::CStr::from_ptr(mode) }.to_bytes() };
    if m.first() == Some(&b'r') && !m.contains(&b'+') {
        if let Some(fd) = virtual_fd(path, m.contains(&b'e')) {
            // SAFETY: fd is ours, mode the program's.
            let fp = unsafe { libc::fdopen(fd, mode) };
            if !fp.is_null() {
                return fp;
            }
            let _ = sys::close(fd);
        }
    }
    // SAFETY: forwarded.
    unsafe { real_fopen(path, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    fopen_impl(path, mode, real::fopen)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    fopen_impl(path, mode, real::fopen64)
}
