//! glibc's double-underscore aliases of hooked calls (`__read`, `__poll`, …), still
//! exported for binaries linked long ago, plus `pthread_yield`.

use crate::hooks::{io, net, poll, process, time};
use core::ffi::{c_char, c_int, c_void};

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __read(fd: c_int, buf: *mut c_void, n: usize) -> isize {
    // SAFETY: forwarded.
    unsafe { io::read(fd, buf, n) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __write(fd: c_int, buf: *const c_void, n: usize) -> isize {
    // SAFETY: forwarded.
    unsafe { io::write(fd, buf, n) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __open(path: *const c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { io::open64(path, flags, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __open64(path: *const c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { io::open64(path, flags, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __pread64(fd: c_int, buf: *mut c_void, n: usize, off: i64) -> isize {
    // SAFETY: forwarded.
    unsafe { io::pread64(fd, buf, n, off) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __pwrite64(fd: c_int, buf: *const c_void, n: usize, off: i64) -> isize {
    // SAFETY: forwarded.
    unsafe { io::pwrite64(fd, buf, n, off) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __connect(fd: c_int, addr: *const libc::sockaddr, len: libc::socklen_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { net::connect(fd, addr, len) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __send(fd: c_int, buf: *const c_void, n: usize, flags: c_int) -> isize {
    // SAFETY: forwarded.
    unsafe { net::send(fd, buf, n, flags) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __poll(fds: *mut libc::pollfd, n: libc::nfds_t, timeout: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { poll::poll(fds, n, timeout) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __select(nfds: c_int, rd: *mut libc::fd_set, wr: *mut libc::fd_set, ex: *mut libc::fd_set, tv: *mut libc::timeval) -> c_int {
    // SAFETY: forwarded.
    unsafe { poll::select(nfds, rd, wr, ex, tv) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __wait(status: *mut c_int) -> libc::pid_t {
    // SAFETY: forwarded.
    unsafe { process::wait(status) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __waitpid(pid: libc::pid_t, status: *mut c_int, options: c_int) -> libc::pid_t {
    // SAFETY: forwarded.
    unsafe { process::waitpid(pid, status, options) }
}

/// The old name of `sched_yield`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_yield() -> c_int {
    // SAFETY: forwarded.
    unsafe { time::sched_yield() }
}
