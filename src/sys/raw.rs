//! Raw Linux x86-64 system calls for the runtime's own use and for hooks' pass-through.
//!
//! Every function returns `Result<usize, Errno>`; none touches `errno`.

use super::Errno;
use core::arch::asm;

/// Issues a system call with up to six arguments.
///
/// # Safety
/// The caller must pass arguments that are valid for system call `n` (pointers into
/// live memory of the right size).
#[inline(always)]
pub unsafe fn syscall6(n: i64, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, a6: usize) -> Result<usize, Errno> {
    let ret: isize;
    // SAFETY: the x86-64 syscall ABI: rax = number, args in rdi, rsi, rdx, r10, r8, r9;
    // rcx and r11 are clobbered. Argument validity is the caller's contract.
    unsafe {
        asm!("syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a1, in("rsi") a2, in("rdx") a3, in("r10") a4, in("r8") a5, in("r9") a6,
            lateout("rcx") _, lateout("r11") _,
            options(nostack, preserves_flags));
    }
    if (-4095..0).contains(&ret) { Err(Errno(-ret as i32)) } else { Ok(ret as usize) }
}

macro_rules! sc {
    ($n:expr) => { $crate::sys::raw::syscall6($n as i64, 0, 0, 0, 0, 0, 0) };
    ($n:expr, $a:expr) => { $crate::sys::raw::syscall6($n as i64, $a as usize, 0, 0, 0, 0, 0) };
    ($n:expr, $a:expr, $b:expr) => { $crate::sys::raw::syscall6($n as i64, $a as usize, $b as usize, 0, 0, 0, 0) };
    ($n:expr, $a:expr, $b:expr, $c:expr) => { $crate::sys::raw::syscall6($n as i64, $a as usize, $b as usize, $c as usize, 0, 0, 0) };
    ($n:expr, $a:expr, $b:expr, $c:expr, $d:expr) => { $crate::sys::raw::syscall6($n as i64, $a as usize, $b as usize, $c as usize, $d as usize, 0, 0) };
    ($n:expr, $a:expr, $b:expr, $c:expr, $d:expr, $e:expr) => { $crate::sys::raw::syscall6($n as i64, $a as usize, $b as usize, $c as usize, $d as usize, $e as usize, 0) };
    ($n:expr, $a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr) => { $crate::sys::raw::syscall6($n as i64, $a as usize, $b as usize, $c as usize, $d as usize, $e as usize, $f as usize) };
}
pub(crate) use sc;

/// `RWF_NOWAIT`: per-call non-blocking read/write, no flag on the open file description.
pub const RWF_NOWAIT: i32 = 0x8;

/// (st_dev, st_ino) of fd 2 when the shim started; (0, 0) if fd 2 was not open.
static STDERR_ID: [core::sync::atomic::AtomicU64; 2] = [const { core::sync::atomic::AtomicU64::new(0) }; 2];

fn fd_identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: a zeroed stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: st is live for the call.
    unsafe { sc!(libc::SYS_fstat, fd, &mut st as *mut libc::stat) }.ok().map(|_| (st.st_dev, st.st_ino))
}

/// Records which file fd 2 is (called first thing in the constructor): the shim's
/// diagnostics go there and nowhere else.
pub fn remember_stderr() {
    let (dev, ino) = fd_identity(2).unwrap_or((0, 0));
    STDERR_ID[0].store(dev, core::sync::atomic::Ordering::Relaxed);
    STDERR_ID[1].store(ino, core::sync::atomic::Ordering::Relaxed);
}

/// Whether fd 2 is still the stderr found at start (not closed, not the program's own
/// socket or log file dup'ed onto 2 since).
fn stderr_is_original() -> bool {
    let want = (STDERR_ID[0].load(core::sync::atomic::Ordering::Relaxed), STDERR_ID[1].load(core::sync::atomic::Ordering::Relaxed));
    want != (0, 0) && fd_identity(2) == Some(want)
}

/// Writes a diagnostic to stderr — only if fd 2 is still the stderr found at start.
pub fn write_all_stderr(buf: &[u8]) {
    if !stderr_is_original() {
        return;
    }
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: the slice is live for the duration of the call.
        match unsafe { sc!(libc::SYS_write, 2, buf[off..].as_ptr(), buf.len() - off) } {
            Ok(0) | Err(_) => return,
            Ok(n) => off += n,
        }
    }
}

pub fn sched_yield() {
    // SAFETY: no arguments.
    let _ = unsafe { sc!(libc::SYS_sched_yield) };
}

pub fn gettid() -> i32 {
    // SAFETY: no arguments.
    unsafe { sc!(libc::SYS_gettid) }.unwrap_or(0) as i32
}

pub fn close(fd: i32) -> Result<usize, Errno> {
    // SAFETY: closing a number has no memory-safety preconditions.
    unsafe { sc!(libc::SYS_close, fd) }
}

pub fn fcntl(fd: i32, cmd: i32, arg: usize) -> Result<usize, Errno> {
    // SAFETY: cmd/arg are forwarded as the caller got them; the kernel validates them.
    unsafe { sc!(libc::SYS_fcntl, fd, cmd, arg) }
}

/// One `poll` with a zero timeout: "is it ready right now?".
pub fn poll_now(fd: i32, events: i16) -> Result<i16, Errno> {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: p is one valid pollfd.
    crate::raw::retry_tick_eintr(|| unsafe { sc!(libc::SYS_poll, &mut p as *mut libc::pollfd, 1, 0) }).map(|_| p.revents)
}

pub fn futex_wait(word: &core::sync::atomic::AtomicU32, expected: u32, timeout: Option<&libc::timespec>) -> Result<usize, Errno> {
    let ts = timeout.map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: word is a live u32; ts is null or a valid timespec.
    unsafe { sc!(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG, expected, ts) }
}

pub fn futex_wake(word: &core::sync::atomic::AtomicU32, n: i32) {
    // SAFETY: word is a live u32.
    let _ = unsafe { sc!(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG, n) };
}

pub fn eventfd_signal(fd: i32) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64.
    let _ = unsafe { sc!(libc::SYS_write, fd, &one as *const u64, 8) };
}

/// OS threads in this process ("Threads:" in /proc/self/status), read with raw syscalls.
pub fn os_thread_count() -> usize {
    let mut buf = [0u8; 2048];
    // SAFETY: NUL-terminated path; buf is a live buffer.
    let fd = match unsafe { sc!(libc::SYS_openat, libc::AT_FDCWD, c"/proc/self/status".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) } {
        Ok(fd) => fd as i32,
        Err(_) => return 1,
    };
    // SAFETY: reads into buf.
    let n = unsafe { sc!(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()) }.unwrap_or(0);
    let _ = close(fd);
    let text = &buf[..n];
    let key = b"Threads:";
    text.windows(key.len()).position(|w| w == key).map_or(1, |i| {
        text[i + key.len()..].iter().skip_while(|c| c.is_ascii_whitespace()).take_while(|c| c.is_ascii_digit()).fold(0, |a, c| a * 10 + (c - b'0') as usize)
    })
}

pub fn getpid() -> i32 {
    // SAFETY: no arguments.
    unsafe { sc!(libc::SYS_getpid) }.unwrap_or(0) as i32
}
