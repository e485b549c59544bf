//! read/write family, close, dup, fcntl, ioctl, pipe.

use crate::fd::io::{self as fio, Plan};
use crate::fd::table::{self, Kind};
use crate::hub;
use crate::sys::{self, Errno, encode, sc};
use core::ffi::{c_int, c_void};

unsafe extern "C" {
    fn __chk_fail() -> !;
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: usize) -> isize {
    match fio::prepare(fd) {
        Plan::Green(h, e) => {
            let iov = libc::iovec { iov_base: buf, iov_len: n };
            encode(fio::readv(h, fd, e, &iov, 1))
        }
        Plan::Bypass(fio::Bypass::NotPollable) if fio::offload_file(fd) => {
            let a = (fd as usize, buf as usize, n);
            // SAFETY: the program's own arguments; its buffers outlive the parked call.
            encode(crate::offload::run(move || unsafe { sc!(libc::SYS_read, a.0, a.1, a.2) }))
        }
        Plan::Bypass(why) => {
            fio::bypassed("read", fd, why);
            // SAFETY: the program's own arguments.
            encode(unsafe { sc!(libc::SYS_read, fd, buf, n) })
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __read_chk(fd: c_int, buf: *mut c_void, n: usize, buflen: usize) -> isize {
    if n > buflen {
        // SAFETY: glibc's fortify failure handler; never returns.
        unsafe { __chk_fail() }
    }
    // SAFETY: forwarded.
    unsafe { read(fd, buf, n) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> isize {
    match fio::prepare(fd) {
        Plan::Green(h, e) => encode(fio::readv(h, fd, e, iov, cnt)),
        Plan::Bypass(fio::Bypass::NotPollable) if fio::offload_file(fd) => {
            let a = (fd as usize, iov as usize, cnt as usize);
            // SAFETY: the program's own arguments; its buffers outlive the parked call.
            encode(crate::offload::run(move || unsafe { sc!(libc::SYS_readv, a.0, a.1, a.2) }))
        }
        Plan::Bypass(why) => {
            fio::bypassed("readv", fd, why);
            // SAFETY: the program's own arguments.
            encode(unsafe { sc!(libc::SYS_readv, fd, iov, cnt) })
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: usize) -> isize {
    match fio::prepare(fd) {
        Plan::Green(h, e) => {
            let iov = libc::iovec { iov_base: buf as *mut c_void, iov_len: n };
            encode(fio::writev(h, fd, e, &iov, 1))
        }
        Plan::Bypass(fio::Bypass::NotPollable) if fio::offload_file(fd) => {
            let a = (fd as usize, buf as usize, n);
            // SAFETY: the program's own arguments; its buffers outlive the parked call.
            encode(crate::offload::run(move || unsafe { sc!(libc::SYS_write, a.0, a.1, a.2) }))
        }
        Plan::Bypass(why) => {
            fio::bypassed("write", fd, why);
            // SAFETY: the program's own arguments.
            encode(unsafe { sc!(libc::SYS_write, fd, buf, n) })
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> isize {
    match fio::prepare(fd) {
        Plan::Green(h, e) => encode(fio::writev(h, fd, e, iov, cnt)),
        Plan::Bypass(fio::Bypass::NotPollable) if fio::offload_file(fd) => {
            let a = (fd as usize, iov as usize, cnt as usize);
            // SAFETY: the program's own arguments; its buffers outlive the parked call.
            encode(crate::offload::run(move || unsafe { sc!(libc::SYS_writev, a.0, a.1, a.2) }))
        }
        Plan::Bypass(why) => {
            fio::bypassed("writev", fd, why);
            // SAFETY: the program's own arguments.
            encode(unsafe { sc!(libc::SYS_writev, fd, iov, cnt) })
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if let Some(h) = hub::local() {
        // SAFETY: hub thread.
        if unsafe { (*h).reactor.owns(fd) } {
            // The hub's own fds are not the program's to close: report it as not open.
            crate::debug!("close({fd}) refused: it is the hub's epoll/eventfd");
            Errno::EBADF.set();
            return -1;
        }
        table::closing(fd);
    }
    encode(sys::close(fd)) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: no memory arguments.
    let r = unsafe { sc!(libc::SYS_dup, fd) };
    if let (Ok(n), Some(_)) = (r, hub::local()) {
        table::duplicated(fd, n as i32);
    }
    encode(r) as c_int
}

unsafe fn dup_onto(old: c_int, new: c_int, flags: c_int) -> c_int {
    let h = hub::local();
    if let Some(h) = h {
        // SAFETY: hub thread.
        if unsafe { (*h).reactor.owns(new) } {
            Errno::EBADF.set();
            return -1;
        }
        if old != new {
            table::closing(new);
        }
    }
    // SAFETY: no memory arguments.
    let r = unsafe { sc!(libc::SYS_dup3, old, new, flags) };
    let r = match r {
        // dup2(fd, fd) is valid (returns fd if open); dup3 rejects it.
        Err(Errno(libc::EINVAL)) if old == new && flags == -1 => sys::fcntl(old, libc::F_GETFD, 0).map(|_| old as usize),
        r => r,
    };
    if let (Ok(n), Some(_)) = (r, h) {
        if old != new {
            table::duplicated(old, n as i32);
        }
    }
    encode(r) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old == new {
        // SAFETY: no memory arguments.
        return encode(sys::fcntl(old, libc::F_GETFD, 0).map(|_| old as usize)) as c_int;
    }
    // SAFETY: forwarded.
    unsafe { dup_onto(old, new, 0) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { dup_onto(old, new, flags) }
}

/// fcntl with the program's view of O_NONBLOCK.
fn fcntl_impl(fd: c_int, cmd: c_int, arg: usize) -> isize {
    if hub::local().is_none() {
        return encode(sys::fcntl(fd, cmd, arg));
    }
    match cmd {
        libc::F_GETFL => {
            let r = sys::fcntl(fd, cmd, arg);
            if let (Ok(fl), Some(e)) = (r, table::lookup(fd)) {
                // Only a socket the shim made non-blocking differs from the kernel's view.
                // SAFETY: hub thread owns the table.
                let (shim_nb, user_nb) = unsafe { ((*e).shim_nb, (*e).user_nb) };
                if shim_nb {
                    let fl = (fl as i32 & !libc::O_NONBLOCK) | if user_nb { libc::O_NONBLOCK } else { 0 };
                    return fl as isize;
                }
                // SAFETY: as above.
                unsafe { (*e).user_nb = fl as i32 & libc::O_NONBLOCK != 0 };
            }
            encode(r)
        }
        libc::F_SETFL => {
            let Some(e) = table::lookup(fd) else { return encode(sys::fcntl(fd, cmd, arg)) };
            // SAFETY: hub thread owns the table.
            let shim_nb = unsafe { (*e).shim_nb };
            // A socket the shim made non-blocking stays so in the kernel.
            let kernel_arg = if shim_nb { arg | libc::O_NONBLOCK as usize } else { arg };
            let r = sys::fcntl(fd, cmd, kernel_arg);
            if r.is_ok() {
                table::set_user_nonblocking(fd, e, arg as i32 & libc::O_NONBLOCK != 0);
            }
            encode(r)
        }
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let r = sys::fcntl(fd, cmd, arg);
            if let Ok(n) = r {
                table::duplicated(fd, n as i32);
            }
            encode(r)
        }
        libc::F_SETLKW | libc::F_OFD_SETLKW => crate::hooks::offloaded::fcntl_lock_wait(fd, cmd, arg),
        _ => encode(sys::fcntl(fd, cmd, arg)),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_impl(fd, cmd, arg) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    fcntl_impl(fd, cmd, arg) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn ioctl(fd: c_int, req: libc::c_ulong, arg: usize) -> c_int {
    if req == libc::FIONBIO && arg != 0 && hub::local().is_some() {
        if let Some(e) = table::lookup(fd) {
            // SAFETY: FIONBIO takes a pointer to int (checked non-null); hub thread.
            unsafe {
                let on = *(arg as *const c_int) != 0;
                if (*e).shim_nb {
                    // The kernel flag is already set by the shim; only the view changes.
                    table::set_user_nonblocking(fd, e, on);
                    return 0;
                }
                let r = sc!(libc::SYS_ioctl, fd, req, arg);
                if r.is_ok() {
                    table::set_user_nonblocking(fd, e, on);
                }
                return encode(r) as c_int;
            }
        }
    }
    // SAFETY: the program's own request and argument.
    encode(unsafe { sc!(libc::SYS_ioctl, fd, req, arg) }) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
    // SAFETY: fds points to two ints (the program's call).
    let r = unsafe { sc!(libc::SYS_pipe2, fds, flags) };
    if r.is_ok() && hub::local().is_some() {
        let nb = flags & libc::O_NONBLOCK != 0;
        // SAFETY: the kernel filled both.
        unsafe {
            table::created(*fds, Kind::Pollable, nb, nb);
            table::created(*fds.add(1), Kind::Pollable, nb, nb);
            table::mark_fifo(*fds);
            table::mark_fifo(*fds.add(1));
        }
    }
    encode(r) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pipe(fds: *mut c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { pipe2(fds, 0) }
}
