//! The one place a blocking fd operation becomes a park: try the call without blocking;
//! on `EAGAIN` park the green thread until epoll reports the fd (or a timeout, a close,
//! a signal); try again. A ready operation costs exactly its own syscall.

use crate::fd::table::{self, FdEntry, Kind};
use crate::green::{Reason, Wake};
use crate::hub::{self, Hub};
use crate::sys::{self, Errno, RWF_NOWAIT, sc};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Read,
    Write,
}

/// Why a hooked call went straight to the kernel (trace log only).
#[derive(Clone, Copy, Debug)]
pub enum Bypass {
    NoHub,
    UnknownFd,
    NotPollable,
    UserNonblocking,
}

/// Result of [`prepare`]: serve the call on the hub, or pass it through (and why).
pub enum Plan {
    Green(*mut Hub, *mut FdEntry),
    Bypass(Bypass),
}

pub use crate::config::FileIo;

static FILE_IO: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(FileIo::Auto as u8);

/// Sets the GREENSHIM_FILE_IO policy.
pub fn set_file_io(mode: FileIo) {
    FILE_IO.store(mode as u8, core::sync::atomic::Ordering::Relaxed);
}

fn file_io() -> FileIo {
    match FILE_IO.load(core::sync::atomic::Ordering::Relaxed) {
        0 => FileIo::Inline,
        2 => FileIo::Offload,
        _ => FileIo::Auto,
    }
}

/// Whether a not-pollable fd's calls without a per-call non-blocking form
/// (`copy_file_range`, `sendfile` from it) go to the offload pool.
#[inline]
pub fn offload_file(fd: i32) -> bool {
    // SAFETY: hub thread (callers checked); the slot exists.
    let Some(e) = table::peek(fd) else { return false };
    // SAFETY: as above.
    let (regular, direct) = unsafe { ((*e).regular, (*e).direct) };
    regular && (file_io() == FileIo::Offload || (file_io() == FileIo::Auto && direct))
}

/// Only the calling thread exists: waiting inline stalls nobody.
fn alone(h: *mut Hub) -> bool {
    // SAFETY: h is this thread's hub.
    unsafe { hub::only_program_thread(h) }
}

/// A read of a regular file or block device (`offset` -1: at the file position), as
/// GREENSHIM_FILE_IO says. A page-cache hit costs one system call either way.
pub fn file_readv(fd: i32, iov: *const libc::iovec, cnt: i32, offset: i64) -> Result<usize, Errno> {
    let (iv, o) = (iov as usize, offset);
    // SAFETY: the program's own buffers; they outlive a parked offloaded call.
    // One buffer goes through read/pread64: the kernel's iovec import costs ~65 ns a call.
    let blocking = move |iov: usize, cnt: i32, off: i64| unsafe {
        if cnt == 1 {
            let v = &*(iov as *const libc::iovec);
            if off == -1 { sc!(libc::SYS_read, fd, v.iov_base, v.iov_len) } else { sc!(libc::SYS_pread64, fd, v.iov_base, v.iov_len, off) }
        } else if off == -1 {
            sc!(libc::SYS_readv, fd, iov, cnt)
        } else {
            sc!(libc::SYS_preadv, fd, iov, cnt, off, 0)
        }
    };
    let (Some(h), Some(e)) = (hub::local(), table::peek(fd)) else { return blocking(iv, cnt, o) };
    // SAFETY: hub thread owns the table.
    let (regular, direct, no_nowait) = unsafe { ((*e).regular, (*e).direct, (*e).no_nowait) };
    match file_io() {
        _ if !regular => blocking(iv, cnt, o),
        FileIo::Inline => blocking(iv, cnt, o),
        FileIo::Offload => crate::offload::run(move || blocking(iv, cnt, o)),
        FileIo::Auto if direct || no_nowait => crate::offload::run(move || blocking(iv, cnt, o)),
        FileIo::Auto if alone(h) => blocking(iv, cnt, o),
        FileIo::Auto => {
            // SAFETY: the program's own arguments.
            let first = unsafe { sc!(libc::SYS_preadv2, fd, iov, cnt, offset, 0, RWF_NOWAIT) };
            match first {
                Err(Errno::EAGAIN) => crate::offload::run(move || blocking(iv, cnt, o)),
                Err(Errno(libc::EOPNOTSUPP)) => {
                    if memory_backed(fd) {
                        // /proc, /sys, cgroup files and the like: generated on read,
                        // never waiting for a disk. Served inline from now on.
                        // SAFETY: hub thread owns the table.
                        unsafe { (*e).regular = false };
                        return blocking(iv, cnt, o);
                    }
                    // SAFETY: hub thread owns the table.
                    unsafe { (*e).no_nowait = true };
                    crate::offload::run(move || blocking(iv, cnt, o))
                }
                Ok(n) if n > 0 => {
                    // Part of the range was cached: a regular file's read returns all of
                    // it (or up to end of file), so fetch the rest where it may wait.
                    // SAFETY: iov has cnt entries.
                    let orig = unsafe { core::slice::from_raw_parts(iov, cnt.max(0) as usize) };
                    let total: usize = orig.iter().map(|v| v.iov_len).sum();
                    if n >= total {
                        return Ok(n);
                    }
                    let rest = advanced(orig, n);
                    let (rp, rc) = (rest.as_ptr() as usize, rest.len() as i32);
                    let ro = if o == -1 { -1 } else { o + n as i64 };
                    match crate::offload::run(move || blocking(rp, rc, ro)) {
                        Ok(k) => Ok(n + k),
                        Err(_) => Ok(n),
                    }
                }
                r => r,
            }
        }
    }
}

/// Whether `fd` is on a file system whose files live in memory or are generated on
/// read (procfs, sysfs, cgroup, debugfs, tracefs, tmpfs, ramfs, configfs, …): a read
/// there never waits for a device, whatever `RWF_NOWAIT` support it has.
fn memory_backed(fd: i32) -> bool {
    // SAFETY: a zeroed statfs is a valid out-buffer.
    let mut st: libc::statfs = unsafe { core::mem::zeroed() };
    // SAFETY: st is live for the call.
    if unsafe { sc!(libc::SYS_fstatfs, fd, &mut st as *mut libc::statfs) }.is_err() {
        return false;
    }
    const MAGICS: [i64; 11] = [
        0x9fa0,     // proc
        0x6265_6572, // sysfs
        0x27e0eb,   // cgroup
        0x6367_7270, // cgroup2
        0x6462_6720, // debugfs
        0x7472_6163, // tracefs
        0x0102_1994, // tmpfs
        0x8584_58f6, // ramfs
        0x6265_6570, // configfs
        0x7363_6673, // securityfs
        0xcafe_4a11, // bpf
    ];
    MAGICS.contains(&(st.f_type as i64))
}

/// A write to a regular file or block device, as GREENSHIM_FILE_IO says: buffered writes
/// land in the page cache (inline, unless `offload`); O_DIRECT writes wait for the
/// device (offloaded under `auto`).
pub fn file_writev(fd: i32, iov: *const libc::iovec, cnt: i32, offset: i64) -> Result<usize, Errno> {
    let (iv, o) = (iov as usize, offset);
    // SAFETY: the program's own buffers; they outlive a parked offloaded call.
    let blocking = move || unsafe {
        if cnt == 1 {
            let v = &*(iv as *const libc::iovec);
            if o == -1 { sc!(libc::SYS_write, fd, v.iov_base, v.iov_len) } else { sc!(libc::SYS_pwrite64, fd, v.iov_base, v.iov_len, o) }
        } else if o == -1 {
            sc!(libc::SYS_writev, fd, iv, cnt)
        } else {
            sc!(libc::SYS_pwritev, fd, iv, cnt, o, 0)
        }
    };
    if hub::local().is_some() && offload_file(fd) { crate::offload::run(blocking) } else { blocking() }
}

/// Decides how a potentially blocking call on `fd` is served.
#[inline]
pub fn prepare(fd: i32) -> Plan {
    let Some(h) = hub::local() else { return Plan::Bypass(Bypass::NoHub) };
    let Some(e) = table::lookup(fd) else { return Plan::Bypass(Bypass::UnknownFd) };
    // SAFETY: hub thread owns the table.
    unsafe {
        if (*e).kind == Kind::NotPollable {
            return Plan::Bypass(Bypass::NotPollable);
        }
        if (*e).user_nb && table::nonblock_cached(e) {
            return Plan::Bypass(Bypass::UserNonblocking);
        }
    }
    Plan::Green(h, e)
}

/// Logs a pass-through with its reason when tracing.
#[inline]
pub fn bypassed(call: &str, fd: i32, why: Bypass) {
    crate::trace!("{call}({fd}) passes through: {why:?}");
}

/// Parks the current thread until `fd` is ready in `dir`. Returns why it woke, or
/// Err when epoll cannot watch the fd (the caller then blocks for real).
pub fn park_on(h: *mut Hub, fd: i32, e: *mut FdEntry, dir: Dir, deadline: Option<u64>, reason: Reason) -> Result<Wake, Errno> {
    if let Err(err) = table::ensure_registered(h, fd, e) {
        // SAFETY: hub thread.
        if unsafe { (*h).reactor.degraded } {
            return Ok(degraded_nap(h, deadline, reason));
        }
        return Err(err);
    }
    // SAFETY: hub thread; the entry's waiter lists are only touched here and by dispatch.
    unsafe {
        // A socket call with a timeout is never restarted after a handler (signal(7)).
        let timeout = if dir == Dir::Read { (*e).rcvtimeo } else { (*e).sndtimeo };
        let reason = if timeout != 0 && reason.on_signal() == crate::green::OnSignal::InterruptUnlessRestart { Reason::TimedWait } else { reason };
        let (g, generation) = hub::prepare_park(h);
        (*g).wait_obj = fd as usize;
        table::add_waiter(e, dir == Dir::Read, g, generation);
        let why = hub::park(h, g, generation, deadline, reason);
        if matches!(why, Wake::Timeout | Wake::Interrupted) {
            table::forget_waiter(e, g);
        }
        Ok(why)
    }
}

/// At the fd limit the hub has no epoll fd to watch `fd` with: instead of blocking the
/// OS thread (and every other thread with it), nap a millisecond and report the fd
/// ready so the caller tries its call again; `Timeout` once `deadline` has passed.
pub fn degraded_nap(h: *mut Hub, deadline: Option<u64>, reason: Reason) -> Wake {
    let nap = sys::now_ns().saturating_add(1_000_000);
    let until = deadline.map_or(nap, |d| d.min(nap));
    // SAFETY: h is this thread's hub.
    let why = unsafe {
        let (g, generation) = hub::prepare_park(h);
        hub::park(h, g, generation, Some(until), reason)
    };
    match why {
        Wake::Timeout if deadline.is_some_and(|d| sys::now_ns() >= d) => Wake::Timeout,
        Wake::Timeout => Wake::FdReady,
        w => w,
    }
}

/// Deadline from a socket timeout (0 = none).
#[inline]
pub fn deadline_after(ns: u64) -> Option<u64> {
    (ns != 0).then(|| sys::now_ns().saturating_add(ns))
}

/// Runs `attempt` (a non-blocking try) until it gives anything but `EAGAIN`, parking in
/// between. `blocking` is the real blocking call, used when epoll cannot watch the fd.
pub fn run(
    h: *mut Hub,
    fd: i32,
    e: *mut FdEntry,
    dir: Dir,
    reason: Reason,
    mut attempt: impl FnMut() -> Result<usize, Errno>,
    blocking: impl FnOnce() -> Result<usize, Errno>,
) -> Result<usize, Errno> {
    // SAFETY: hub thread owns the entry.
    let timeout = unsafe { if dir == Dir::Read { (*e).rcvtimeo } else { (*e).sndtimeo } };
    let mut deadline = None;
    let mut first = true;
    loop {
        match attempt() {
            Err(Errno::EAGAIN) => {}
            r => {
                if first {
                    // SAFETY: hub thread.
                    unsafe { hub::tick_fast_op(h) };
                }
                return r;
            }
        }
        if first {
            // A description shared with another process may have been made
            // non-blocking there: then EAGAIN is the program's answer.
            if table::program_nonblocking(fd, e) {
                return Err(Errno::EAGAIN);
            }
            deadline = deadline_after(timeout);
            first = false;
        }
        match park_on(h, fd, e, dir, deadline, reason) {
            Ok(w) => woke(w, Errno::EAGAIN)?,
            Err(_) => return blocking(),
        }
    }
}

/// What the end of a park on an fd means for the blocking call: try again (ready, or
/// woken), or fail as the native call would — `on_timeout` when its deadline passed,
/// `EBADF` when another thread closed the fd, `EINTR` when a handler interrupted it.
#[inline]
pub fn woke(w: Wake, on_timeout: Errno) -> Result<(), Errno> {
    match w {
        Wake::FdReady | Wake::Notified => Ok(()),
        Wake::Timeout => Err(on_timeout),
        Wake::Closed => Err(Errno::EBADF),
        Wake::Interrupted => Err(Errno::EINTR),
    }
}

/// One non-blocking vectored read: `RWF_NOWAIT`, or `poll(0)` + read where unsupported.
pub fn try_readv(fd: i32, e: *mut FdEntry, iov: *const libc::iovec, cnt: i32) -> Result<usize, Errno> {
    // SAFETY: hub thread owns e; iov/cnt come from the program's call.
    unsafe {
        if cnt == 1 && (*e).sotype == libc::SOCK_STREAM && (*e).kind == Kind::Socket {
            // On a stream socket read(2) is recv(2) without flags, and recvfrom with one
            // buffer skips the iovec import that preadv2 pays (~65 ns a call here).
            let v = &*iov;
            return sc!(libc::SYS_recvfrom, fd, v.iov_base, v.iov_len, libc::MSG_DONTWAIT, 0usize, 0usize);
        }
        if !(*e).no_nowait {
            match sc!(libc::SYS_preadv2, fd, iov, cnt, -1isize, 0, RWF_NOWAIT) {
                Err(Errno(libc::EOPNOTSUPP)) => (*e).no_nowait = true,
                r => return r,
            }
        }
        if (*e).kind == Kind::Socket {
            return socket_msg(libc::SYS_recvmsg, fd, iov, cnt);
        }
        table::test_then_call(e, || {
            if sys::poll_now(fd, libc::POLLIN)? == 0 {
                return Err(Errno::EAGAIN);
            }
            sc!(libc::SYS_readv, fd, iov, cnt)
        })
    }
}

/// One non-blocking vectored write.
pub fn try_writev(fd: i32, e: *mut FdEntry, iov: *const libc::iovec, cnt: i32) -> Result<usize, Errno> {
    // SAFETY: as in try_readv.
    unsafe {
        if cnt == 1 && (*e).sotype == libc::SOCK_STREAM && (*e).kind == Kind::Socket {
            // write(2) on a stream socket is send(2) without flags (SIGPIPE included).
            let v = &*iov;
            return sc!(libc::SYS_sendto, fd, v.iov_base, v.iov_len, libc::MSG_DONTWAIT, 0usize, 0usize);
        }
        if !(*e).no_nowait {
            match sc!(libc::SYS_pwritev2, fd, iov, cnt, -1isize, 0, RWF_NOWAIT) {
                Err(Errno(libc::EOPNOTSUPP)) => (*e).no_nowait = true,
                r => return r,
            }
        }
        if (*e).kind == Kind::Socket {
            return socket_msg(libc::SYS_sendmsg, fd, iov, cnt);
        }
        table::test_then_call(e, || {
            if sys::poll_now(fd, libc::POLLOUT)? == 0 {
                return Err(Errno::EAGAIN);
            }
            sc!(libc::SYS_writev, fd, iov, cnt)
        })
    }
}

/// `read`/`write` on a socket are `recvmsg`/`sendmsg` without flags: the same with
/// MSG_DONTWAIT never waits (for a socket whose family lacks `RWF_NOWAIT`).
///
/// # Safety
/// iov/cnt come from the program's call.
unsafe fn socket_msg(nr: i64, fd: i32, iov: *const libc::iovec, cnt: i32) -> Result<usize, Errno> {
    // SAFETY: a zeroed msghdr is valid; it only points at the program's iovec.
    let mut m: libc::msghdr = unsafe { core::mem::zeroed() };
    m.msg_iov = iov as *mut libc::iovec;
    m.msg_iovlen = cnt.max(0) as _;
    // SAFETY: per contract.
    unsafe { sc!(nr, fd, &mut m as *mut libc::msghdr, libc::MSG_DONTWAIT) }
}

/// A blocking read as the program expects it.
pub fn readv(h: *mut Hub, fd: i32, e: *mut FdEntry, iov: *const libc::iovec, cnt: i32) -> Result<usize, Errno> {
    run(h, fd, e, Dir::Read, Reason::Read, || try_readv(fd, e, iov, cnt), || {
        // SAFETY: the program's own arguments.
        unsafe { sc!(libc::SYS_readv, fd, iov, cnt) }
    })
}

/// A blocking write as the program expects it: on a stream everything is written unless
/// an error (or timeout, or signal) comes first, in which case the count so far is
/// returned. Datagram and small pipe writes are all-or-nothing in the kernel anyway.
pub fn writev(h: *mut Hub, fd: i32, e: *mut FdEntry, iov: *const libc::iovec, cnt: i32) -> Result<usize, Errno> {
    // SAFETY: iov has cnt entries (the program's call).
    let total: usize = unsafe { core::slice::from_raw_parts(iov, cnt.max(0) as usize) }.iter().map(|v| v.iov_len).sum();
    write_all(h, fd, e, iov, cnt, total, |iov, cnt| try_writev(fd, e, iov, cnt), |iov, cnt| {
        // SAFETY: the program's own (possibly advanced) buffers.
        unsafe { sc!(libc::SYS_writev, fd, iov, cnt) }
    })
}

/// The shared "transfer everything" loop for write/writev/send/sendmsg.
#[allow(clippy::too_many_arguments)]
pub fn write_all(
    h: *mut Hub,
    fd: i32,
    e: *mut FdEntry,
    iov: *const libc::iovec,
    cnt: i32,
    total: usize,
    mut attempt: impl FnMut(*const libc::iovec, i32) -> Result<usize, Errno>,
    blocking: impl Fn(*const libc::iovec, i32) -> Result<usize, Errno>,
) -> Result<usize, Errno> {
    let first = run(h, fd, e, Dir::Write, Reason::Write, || attempt(iov, cnt), || blocking(iov, cnt))?;
    if first >= total || first == 0 {
        return Ok(first);
    }
    // Partial write: continue from a private copy of the iovec array.
    // SAFETY: iov has cnt entries.
    let orig: Vec<libc::iovec> = unsafe { core::slice::from_raw_parts(iov, cnt as usize) }.to_vec();
    let mut done = first;
    loop {
        let v = advanced(&orig, done);
        match run(h, fd, e, Dir::Write, Reason::Write, || attempt(v.as_ptr(), v.len() as i32), || blocking(v.as_ptr(), v.len() as i32)) {
            Ok(0) => return Ok(done),
            Ok(n) => {
                done += n;
                if done >= total {
                    return Ok(done);
                }
            }
            Err(_) => return Ok(done),
        }
    }
}

/// The buffers of `orig` without their first `skip` bytes.
pub fn advanced(orig: &[libc::iovec], mut skip: usize) -> Vec<libc::iovec> {
    let mut out = Vec::with_capacity(orig.len());
    for iv in orig {
        if skip >= iv.iov_len {
            skip -= iv.iov_len;
            continue;
        }
        out.push(libc::iovec { iov_base: (iv.iov_base as usize + skip) as *mut libc::c_void, iov_len: iv.iov_len - skip });
        skip = 0;
    }
    out
}
