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
    crate::hub::cancel::point(|| {
        match fio::prepare(fd) {
            Plan::Green(h, e) => {
                let iov = libc::iovec { iov_base: buf, iov_len: n };
                encode(fio::readv(h, fd, e, &iov, 1))
            }
            Plan::Bypass(fio::Bypass::NotPollable) => {
                let iov = libc::iovec { iov_base: buf, iov_len: n };
                encode(fio::file_readv(fd, &iov, 1, -1))
            }
            Plan::Bypass(why) => {
                fio::bypassed("read", fd, why);
                // SAFETY: the program's own arguments.
                encode(unsafe { sc!(libc::SYS_read, fd, buf, n) })
            }
        }
    })
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
    crate::hub::cancel::point(|| {
        match fio::prepare(fd) {
            Plan::Green(h, e) => encode(fio::readv(h, fd, e, iov, cnt)),
            Plan::Bypass(fio::Bypass::NotPollable) => encode(fio::file_readv(fd, iov, cnt, -1)),
            Plan::Bypass(why) => {
                fio::bypassed("readv", fd, why);
                // SAFETY: the program's own arguments.
                encode(unsafe { sc!(libc::SYS_readv, fd, iov, cnt) })
            }
        }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: usize) -> isize {
    crate::hub::cancel::point(|| {
        match fio::prepare(fd) {
            Plan::Green(h, e) => {
                let iov = libc::iovec { iov_base: buf as *mut c_void, iov_len: n };
                encode(fio::writev(h, fd, e, &iov, 1))
            }
            Plan::Bypass(fio::Bypass::NotPollable) => {
                let iov = libc::iovec { iov_base: buf as *mut c_void, iov_len: n };
                encode(fio::file_writev(fd, &iov, 1, -1))
            }
            Plan::Bypass(why) => {
                fio::bypassed("write", fd, why);
                // SAFETY: the program's own arguments.
                encode(unsafe { sc!(libc::SYS_write, fd, buf, n) })
            }
        }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, cnt: c_int) -> isize {
    crate::hub::cancel::point(|| {
        match fio::prepare(fd) {
            Plan::Green(h, e) => encode(fio::writev(h, fd, e, iov, cnt)),
            Plan::Bypass(fio::Bypass::NotPollable) => encode(fio::file_writev(fd, iov, cnt, -1)),
            Plan::Bypass(why) => {
                fio::bypassed("writev", fd, why);
                // SAFETY: the program's own arguments.
                encode(unsafe { sc!(libc::SYS_writev, fd, iov, cnt) })
            }
        }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    crate::hub::cancel::point(|| {
        if let Some(h) = hub::local() {
            // SAFETY: hub thread.
            if unsafe { (*h).reactor.owns(fd) } || (hub::hub_count() > 1 && hub::owned_by_a_hub(fd)) {
                // The hub's own fds are not the program's to close: report it as not open.
                crate::debug!("close({fd}) refused: it is the hub's epoll/eventfd");
                Errno::EBADF.set();
                return -1;
            }
            table::closing(fd);
        }
        encode(sys::close(fd)) as c_int
    })
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
        // The number is free as far as the program knows: move the hub's fd away.
        if unsafe { (*h).reactor.owns(new) } && unsafe { (*h).reactor.move_off(new) }.is_err() {
            Errno(libc::EMFILE).set();
            return -1;
        }
        if hub::hub_count() > 1 && hub::owned_by_a_hub(new) && hub::move_off_other(new).is_err() {
            Errno(libc::EMFILE).set();
            return -1;
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
            // The kernel closed what `new` named: only now (a failed dup2 changes
            // nothing) wake its waiters and forget its state.
            table::closing(new);
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
                // The kernel's flags are the program's own: only refresh the cache.
                // SAFETY: hub thread owns the table.
                unsafe { (*e).user_nb = fl as i32 & libc::O_NONBLOCK != 0 };
            }
            encode(r)
        }
        libc::F_SETFL => {
            let r = sys::fcntl(fd, cmd, arg);
            if r.is_ok() {
                if let Some(e) = table::lookup(fd) {
                    // SAFETY: hub thread owns the table.
                    unsafe { (*e).direct = arg as i32 & libc::O_DIRECT != 0 };
                    table::set_user_nonblocking(fd, e, arg as i32 & libc::O_NONBLOCK != 0);
                }
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
            table::created(*fds, Kind::Pollable, nb);
            table::created(*fds.add(1), Kind::Pollable, nb);
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

// ---- open: FIFOs ---------------------------------------------------------------------------

/// `open` of a FIFO without O_NONBLOCK waits until the other end is opened (by a
/// thread of this program, often). Such opens run on the offload pool; every other open
/// is the plain syscall, after one `fstatat` — only made while other green threads
/// exist, when a block would stall them.
fn open_impl(dirfd: c_int, path: *const core::ffi::c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    if let Some(fd) = super::procfs::open(dirfd, path, flags) {
        return fd;
    }
    // SAFETY: the program's own arguments.
    let raw = move || unsafe { sc!(libc::SYS_openat, dirfd, path, flags | libc::O_LARGEFILE, mode) };
    let Some(h) = hub::local() else { return encode(raw()) as c_int };
    let raw = move || {
        let r = raw();
        if let Ok(fd) = r {
            table::fresh(fd as c_int);
        }
        r
    };
    let may_wait = flags & (libc::O_NONBLOCK | libc::O_PATH) == 0
        && flags & libc::O_ACCMODE != libc::O_RDWR
        && flags & (libc::O_CREAT | libc::O_EXCL) != libc::O_CREAT | libc::O_EXCL
        // SAFETY: hub thread.
        && unsafe { !hub::only_program_thread(h) };
    if !may_wait {
        return encode(raw()) as c_int;
    }
    // SAFETY: a zeroed stat is a valid out-buffer; path is the program's C string.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    let at = if flags & libc::O_NOFOLLOW != 0 { libc::AT_SYMLINK_NOFOLLOW } else { 0 };
    // SAFETY: as above.
    let is_fifo = unsafe { sc!(libc::SYS_newfstatat, dirfd, path, &mut st as *mut libc::stat, at) }.is_ok()
        && st.st_mode & libc::S_IFMT == libc::S_IFIFO;
    if !is_fifo {
        return encode(raw()) as c_int;
    }
    let (p, f) = (path as usize, flags);
    // SAFETY: the path outlives the parked call.
    let r = crate::offload::run_waiting(move || unsafe { sc!(libc::SYS_openat, dirfd, p, f | libc::O_LARGEFILE, mode) });
    if let Ok(fd) = r {
        table::fresh(fd as c_int);
    }
    encode(r) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn open(path: *const core::ffi::c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    crate::hub::cancel::point(|| {
        open_impl(libc::AT_FDCWD, path, flags, mode)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn open64(path: *const core::ffi::c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    crate::hub::cancel::point(|| {
        open_impl(libc::AT_FDCWD, path, flags, mode)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn openat(dirfd: c_int, path: *const core::ffi::c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    crate::hub::cancel::point(|| {
        open_impl(dirfd, path, flags, mode)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn openat64(dirfd: c_int, path: *const core::ffi::c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    crate::hub::cancel::point(|| {
        open_impl(dirfd, path, flags, mode)
    })
}

/// What glibc's fortified open does for O_CREAT without a mode: report and abort.
fn invalid_open() -> ! {
    sys::write_all_stderr(b"*** invalid open call: O_CREAT or O_TMPFILE without mode ***: terminated\n");
    // SAFETY: abort never returns.
    unsafe { libc::abort() }
}

/// Fortified `open` (no mode: O_CREAT without one is the error glibc checks for).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __open_2(path: *const core::ffi::c_char, flags: c_int) -> c_int {
    if flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE {
        invalid_open();
    }
    open_impl(libc::AT_FDCWD, path, flags, 0)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __open64_2(path: *const core::ffi::c_char, flags: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { __open_2(path, flags) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __openat_2(dirfd: c_int, path: *const core::ffi::c_char, flags: c_int) -> c_int {
    if flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE {
        invalid_open();
    }
    open_impl(dirfd, path, flags, 0)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __openat64_2(dirfd: c_int, path: *const core::ffi::c_char, flags: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { __openat_2(dirfd, path, flags) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn creat(path: *const core::ffi::c_char, mode: libc::mode_t) -> c_int {
    crate::hub::cancel::point(|| {
        open_impl(libc::AT_FDCWD, path, libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC, mode)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn creat64(path: *const core::ffi::c_char, mode: libc::mode_t) -> c_int {
    crate::hub::cancel::point(|| {
        open_impl(libc::AT_FDCWD, path, libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC, mode)
    })
}

// ---- positioned I/O --------------------------------------------------------------------------

/// Positioned reads and writes only work on seekable files, which never wait for
/// readiness: served as GREENSHIM_FILE_IO says (see `fio::file_readv`).
fn positioned(fd: c_int, nr: i64, b: usize, c: usize, d: usize, f: usize) -> isize {
    // SAFETY: the program's own arguments; its buffers outlive a parked call.
    let call = move || unsafe { sys::syscall6(nr, fd as usize, b, c, d, 0, f) };
    // A negative offset is the kernel's EINVAL; to preadv2/pwritev2 (the shim's paths)
    // -1 would mean "the current position" instead.
    if hub::local().is_none() || (d as i64) < 0 || table::lookup(fd).is_none() {
        return encode(call());
    }
    let one = |b: usize, n: usize| libc::iovec { iov_base: b as *mut c_void, iov_len: n };
    match nr {
        libc::SYS_pread64 => encode(fio::file_readv(fd, &one(b, c), 1, d as i64)),
        libc::SYS_preadv => encode(fio::file_readv(fd, b as *const libc::iovec, c as c_int, d as i64)),
        libc::SYS_pwrite64 => encode(fio::file_writev(fd, &one(b, c), 1, d as i64)),
        libc::SYS_pwritev => encode(fio::file_writev(fd, b as *const libc::iovec, c as c_int, d as i64)),
        _ => encode(call()),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pread(fd: c_int, buf: *mut c_void, n: usize, off: i64) -> isize {
    crate::hub::cancel::point(|| {
        positioned(fd, libc::SYS_pread64, buf as usize, n, off as usize, 0)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pread64(fd: c_int, buf: *mut c_void, n: usize, off: i64) -> isize {
    crate::hub::cancel::point(|| {
        positioned(fd, libc::SYS_pread64, buf as usize, n, off as usize, 0)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __pread_chk(fd: c_int, buf: *mut c_void, n: usize, off: i64, buflen: usize) -> isize {
    if n > buflen {
        // SAFETY: glibc's fortify failure handler; never returns.
        unsafe { __chk_fail() }
    }
    positioned(fd, libc::SYS_pread64, buf as usize, n, off as usize, 0)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __pread64_chk(fd: c_int, buf: *mut c_void, n: usize, off: i64, buflen: usize) -> isize {
    // SAFETY: forwarded.
    unsafe { __pread_chk(fd, buf, n, off, buflen) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwrite(fd: c_int, buf: *const c_void, n: usize, off: i64) -> isize {
    crate::hub::cancel::point(|| {
        positioned(fd, libc::SYS_pwrite64, buf as usize, n, off as usize, 0)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwrite64(fd: c_int, buf: *const c_void, n: usize, off: i64) -> isize {
    crate::hub::cancel::point(|| {
        positioned(fd, libc::SYS_pwrite64, buf as usize, n, off as usize, 0)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn preadv(fd: c_int, iov: *const libc::iovec, cnt: c_int, off: i64) -> isize {
    crate::hub::cancel::point(|| {
        positioned(fd, libc::SYS_preadv, iov as usize, cnt as usize, off as usize, 0)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn preadv64(fd: c_int, iov: *const libc::iovec, cnt: c_int, off: i64) -> isize {
    crate::hub::cancel::point(|| {
        positioned(fd, libc::SYS_preadv, iov as usize, cnt as usize, off as usize, 0)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwritev(fd: c_int, iov: *const libc::iovec, cnt: c_int, off: i64) -> isize {
    crate::hub::cancel::point(|| {
        positioned(fd, libc::SYS_pwritev, iov as usize, cnt as usize, off as usize, 0)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwritev64(fd: c_int, iov: *const libc::iovec, cnt: c_int, off: i64) -> isize {
    crate::hub::cancel::point(|| {
        positioned(fd, libc::SYS_pwritev, iov as usize, cnt as usize, off as usize, 0)
    })
}

/// preadv2/pwritev2: at offset -1 on a pipe, socket or tty they are readv/writev with
/// flags, served like them (RWF_NOWAIT per try, park on EAGAIN); else positioned.
fn rw_v2(fd: c_int, nr: i64, dir: fio::Dir, iov: *const libc::iovec, cnt: c_int, off: i64, flags: c_int) -> isize {
    // SAFETY: the program's own arguments.
    let raw = |f: c_int| unsafe { sys::syscall6(nr, fd as usize, iov as usize, cnt as usize, off as usize, 0, f as usize) };
    if off != -1 || flags & sys::RWF_NOWAIT != 0 {
        return positioned(fd, nr, iov as usize, cnt as usize, off as usize, flags as usize);
    }
    match fio::prepare(fd) {
        Plan::Green(h, e) => {
            let (reason, ev) = if dir == fio::Dir::Read { (crate::green::Reason::Read, libc::POLLIN) } else { (crate::green::Reason::Write, libc::POLLOUT) };
            let attempt = || {
                // SAFETY: hub thread owns the entry.
                if unsafe { !(*e).no_nowait } {
                    match raw(flags | sys::RWF_NOWAIT) {
                        // SAFETY: as above.
                        Err(Errno(libc::EOPNOTSUPP)) => unsafe { (*e).no_nowait = true },
                        r => return r,
                    }
                }
                // SAFETY: e is fd's slot.
                unsafe {
                    table::test_then_call(e, || {
                        if sys::poll_now(fd, ev)? == 0 {
                            return Err(Errno::EAGAIN);
                        }
                        raw(flags)
                    })
                }
            };
            encode(fio::run(h, fd, e, dir, reason, attempt, || raw(flags)))
        }
        _ => positioned(fd, nr, iov as usize, cnt as usize, off as usize, flags as usize),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn preadv2(fd: c_int, iov: *const libc::iovec, cnt: c_int, off: i64, flags: c_int) -> isize {
    crate::hub::cancel::point(|| {
        rw_v2(fd, libc::SYS_preadv2, fio::Dir::Read, iov, cnt, off, flags)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn preadv64v2(fd: c_int, iov: *const libc::iovec, cnt: c_int, off: i64, flags: c_int) -> isize {
    crate::hub::cancel::point(|| {
        rw_v2(fd, libc::SYS_preadv2, fio::Dir::Read, iov, cnt, off, flags)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwritev2(fd: c_int, iov: *const libc::iovec, cnt: c_int, off: i64, flags: c_int) -> isize {
    crate::hub::cancel::point(|| {
        rw_v2(fd, libc::SYS_pwritev2, fio::Dir::Write, iov, cnt, off, flags)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pwritev64v2(fd: c_int, iov: *const libc::iovec, cnt: c_int, off: i64, flags: c_int) -> isize {
    crate::hub::cancel::point(|| {
        rw_v2(fd, libc::SYS_pwritev2, fio::Dir::Write, iov, cnt, off, flags)
    })
}

// ---- fds created and closed elsewhere ------------------------------------------------------

/// Forgets what the table knew about a number the kernel just returned.
fn fresh_fd(r: Result<usize, Errno>) -> c_int {
    if let (Ok(fd), Some(_)) = (r, hub::local()) {
        table::fresh(fd as c_int);
    }
    encode(r) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn eventfd(init: libc::c_uint, flags: c_int) -> c_int {
    // SAFETY: no memory arguments.
    fresh_fd(unsafe { sc!(libc::SYS_eventfd2, init, flags) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn timerfd_create(clock: c_int, flags: c_int) -> c_int {
    // SAFETY: no memory arguments.
    fresh_fd(unsafe { sc!(libc::SYS_timerfd_create, clock, flags) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn signalfd(fd: c_int, mask: *const libc::sigset_t, flags: c_int) -> c_int {
    // SAFETY: the program's sigset (the kernel copies 8 bytes of it).
    let r = unsafe { sc!(libc::SYS_signalfd4, fd, mask, 8, flags) };
    if fd != -1 {
        return encode(r) as c_int;
    }
    fresh_fd(r)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn inotify_init() -> c_int {
    // SAFETY: no arguments.
    fresh_fd(unsafe { sc!(libc::SYS_inotify_init1, 0) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn inotify_init1(flags: c_int) -> c_int {
    // SAFETY: no memory arguments.
    fresh_fd(unsafe { sc!(libc::SYS_inotify_init1, flags) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
    if size <= 0 {
        return encode(Err(Errno(libc::EINVAL))) as c_int;
    }
    // SAFETY: no memory arguments.
    fresh_fd(unsafe { sc!(libc::SYS_epoll_create1, 0) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
    // SAFETY: no memory arguments.
    fresh_fd(unsafe { sc!(libc::SYS_epoll_create1, flags) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn memfd_create(name: *const core::ffi::c_char, flags: libc::c_uint) -> c_int {
    // SAFETY: the program's name string.
    fresh_fd(unsafe { sc!(libc::SYS_memfd_create, name, flags) })
}

/// glibc closes a FILE's fd with its internal close: forget the fd first.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fclose(fp: *mut libc::FILE) -> c_int {
    // SAFETY: the program's FILE; pending output on a pipe or socket is written with
    // the parking write first.
    let unflushed = unsafe { crate::hooks::stdio::output::before_fclose(fp) };
    if !fp.is_null() && hub::local().is_some() {
        // SAFETY: the program's FILE.
        let fd = unsafe { libc::fileno(fp) };
        if fd >= 0 {
            table::closing(fd);
        }
    }
    // SAFETY: forwarded.
    let r = unsafe { sys::real::fclose(fp) };
    match unflushed {
        Some(e) if r == 0 => {
            e.set();
            libc::EOF
        }
        _ => r,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn closedir(d: *mut libc::DIR) -> c_int {
    if !d.is_null() && hub::local().is_some() {
        // SAFETY: the program's DIR.
        let fd = unsafe { libc::dirfd(d) };
        if fd >= 0 {
            table::closing(fd);
        }
    }
    // SAFETY: forwarded.
    unsafe { sys::real::closedir(d) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close_range(first: libc::c_uint, last: libc::c_uint, flags: c_int) -> c_int {
    if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 && hub::local().is_some() {
        table::closing_range(first, last);
    }
    // The hubs' epoll fds and eventfds do not exist natively: "close every fd" (a
    // daemon's closefrom(3)) closes the ranges around them. An empty range goes to the
    // kernel as it is, for its EINVAL.
    if first > last {
        // SAFETY: no memory arguments.
        return encode(unsafe { sc!(libc::SYS_close_range, first, last, flags) }) as c_int;
    }
    let mut own = [0i32; 2 * hub::MAX_HUBS];
    let n = hub::own_fds(&mut own);
    let mut lo = first as u64;
    for &fd in &own[..n] {
        let fd = fd as u64;
        if fd < lo || fd > last as u64 {
            continue;
        }
        if fd > lo {
            // SAFETY: no memory arguments.
            if let Err(e) = unsafe { sc!(libc::SYS_close_range, lo, fd - 1, flags) } {
                e.set();
                return -1;
            }
        }
        lo = fd + 1;
    }
    if lo > last as u64 {
        return 0;
    }
    // SAFETY: no memory arguments.
    encode(unsafe { sc!(libc::SYS_close_range, lo, last, flags) }) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn closefrom(low: c_int) {
    // SAFETY: forwarded.
    unsafe { close_range(low.max(0) as libc::c_uint, libc::c_uint::MAX, 0) };
}
