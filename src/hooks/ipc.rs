//! Inter-process queues and semaphores.
//!
//! * POSIX message queues: on Linux an `mqd_t` is a file descriptor epoll can watch, so
//!   `mq_receive`/`mq_send` (and the timed forms) park on it like a socket, then make the
//!   call with an already-expired timeout so it can never block.
//! * System V `msgrcv`/`msgsnd`/`semop`/`semtimedop` have no fd: they are retried with
//!   `IPC_NOWAIT` under an exponential back-off (50 µs doubling to 10 ms) while the green
//!   thread sleeps. A waiter costs a pool thread nothing and can wait forever; the price
//!   is up to 10 ms of added latency on a long wait. A signal whose handler runs ends
//!   the wait with `EINTR`, as natively (these calls are never restarted).

use crate::fd::io::{self as fio, Dir};
use crate::fd::table;
use crate::green::{Reason, Wake};
use crate::hub;
use crate::sys::{self, Errno, encode, sc};
use core::ffi::{c_char, c_int, c_long, c_uint, c_void};

const BACKOFF_START_NS: u64 = 50_000;
const BACKOFF_MAX_NS: u64 = 10_000_000;

/// Retries `attempt` (the call with `IPC_NOWAIT`) while it reports `empty`, sleeping
/// with back-off in between, until `deadline` (monotonic ns) if any.
fn retry(mut attempt: impl FnMut() -> Result<usize, Errno>, empty: Errno, deadline: Option<u64>) -> Result<usize, Errno> {
    let Some(h) = hub::local() else { return attempt() };
    let mut pause = BACKOFF_START_NS;
    loop {
        match attempt() {
            Err(e) if e == empty => {}
            r => return r,
        }
        let now = sys::now_ns();
        let mut until = now + pause;
        if let Some(d) = deadline {
            if now >= d {
                return Err(Errno::EAGAIN);
            }
            until = until.min(d);
        }
        // SAFETY: hub thread.
        if unsafe { hub::sleep_until(h, until) } == Wake::Interrupted {
            return Err(Errno::EINTR);
        }
        pause = (pause * 2).min(BACKOFF_MAX_NS);
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn msgrcv(id: c_int, msgp: *mut c_void, size: usize, ty: c_long, flags: c_int) -> isize {
    crate::hub::cancel::point(|| {
        // SAFETY: the program's own arguments.
        let raw = |f: c_int| unsafe { sc!(libc::SYS_msgrcv, id, msgp, size, ty, f) };
        if flags & libc::IPC_NOWAIT != 0 {
            return encode(raw(flags));
        }
        encode(retry(|| raw(flags | libc::IPC_NOWAIT), Errno(libc::ENOMSG), None))
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn msgsnd(id: c_int, msgp: *const c_void, size: usize, flags: c_int) -> c_int {
    crate::hub::cancel::point(|| {
        // SAFETY: the program's own arguments.
        let raw = |f: c_int| unsafe { sc!(libc::SYS_msgsnd, id, msgp, size, f) };
        if flags & libc::IPC_NOWAIT != 0 {
            return encode(raw(flags)) as c_int;
        }
        encode(retry(|| raw(flags | libc::IPC_NOWAIT), Errno::EAGAIN, None)) as c_int
    })
}

fn semtimedop_impl(id: c_int, sops: *mut libc::sembuf, n: usize, timeout: *const libc::timespec) -> c_int {
    let raw = |ops: *mut libc::sembuf, t: *const libc::timespec| {
        // SAFETY: ops has n entries; t is null or a timespec.
        unsafe { sc!(libc::SYS_semtimedop, id, ops, n, t) }
    };
    // SAFETY: sops has n entries (the program's call); n is checked by the kernel first.
    let ops = if sops.is_null() || n == 0 || n > 4096 { None } else { Some(unsafe { core::slice::from_raw_parts(sops, n) }) };
    let Some(ops) = ops.filter(|o| o.iter().any(|s| s.sem_flg as c_int & libc::IPC_NOWAIT == 0)) else {
        return encode(raw(sops, timeout)) as c_int;
    };
    if hub::local().is_none() {
        return encode(raw(sops, timeout)) as c_int;
    }
    let deadline = if timeout.is_null() {
        None
    } else {
        // SAFETY: the program's timespec.
        let t = unsafe { &*timeout };
        if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
            return encode(Err(Errno(libc::EINVAL))) as c_int;
        }
        Some(sys::now_ns().saturating_add(sys::ts_to_ns(t)))
    };
    let mut nowait: Vec<libc::sembuf> = ops.to_vec();
    for s in &mut nowait {
        s.sem_flg |= libc::IPC_NOWAIT as libc::c_short;
    }
    let ptr = nowait.as_mut_ptr();
    encode(retry(|| raw(ptr, core::ptr::null()), Errno::EAGAIN, deadline)) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn semop(id: c_int, sops: *mut libc::sembuf, n: usize) -> c_int {
    semtimedop_impl(id, sops, n, core::ptr::null())
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn semtimedop(id: c_int, sops: *mut libc::sembuf, n: usize, timeout: *const libc::timespec) -> c_int {
    semtimedop_impl(id, sops, n, timeout)
}

/// An expired absolute timeout: the kernel then fails with ETIMEDOUT instead of waiting.
const EXPIRED: libc::timespec = libc::timespec { tv_sec: 0, tv_nsec: 0 };

/// mq_timedreceive / mq_timedsend: park on the queue's fd until `poll` says the call
/// can complete, then make it with an expired timeout.
fn mq_call(mqd: c_int, dir: Dir, abs: *const libc::timespec, raw: impl Fn(*const libc::timespec) -> Result<usize, Errno>) -> Result<usize, Errno> {
    let Some(h) = hub::local() else { return raw(abs) };
    match sys::fcntl(mqd, libc::F_GETFL, 0) {
        Ok(fl) if fl as c_int & libc::O_NONBLOCK == 0 => {}
        _ => return raw(abs),
    }
    let Some(e) = table::lookup(mqd) else { return raw(abs) };
    let deadline = if abs.is_null() {
        None
    } else {
        // SAFETY: the program's timespec.
        let t = unsafe { &*abs };
        if !(0..1_000_000_000).contains(&t.tv_nsec) {
            return Err(Errno(libc::EINVAL));
        }
        Some(sys::abs_to_monotonic(libc::CLOCK_REALTIME, t))
    };
    let ev = if dir == Dir::Read { libc::POLLIN } else { libc::POLLOUT };
    loop {
        if sys::poll_now(mqd, ev)? != 0 {
            match raw(&EXPIRED) {
                // Another process took the message (or the room) first.
                Err(Errno(libc::ETIMEDOUT)) => {}
                r => return r,
            }
        }
        if deadline.is_some_and(|d| sys::now_ns() >= d) {
            return Err(Errno(libc::ETIMEDOUT));
        }
        let reason = if dir == Dir::Read { Reason::Read } else { Reason::Write };
        match fio::park_on(h, mqd, e, dir, deadline, reason) {
            Ok(w) => fio::woke(w, Errno(libc::ETIMEDOUT))?,
            // epoll refuses it: the real call waits.
            Err(_) => return raw(abs),
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_timedreceive(mqd: c_int, buf: *mut c_char, len: usize, prio: *mut c_uint, abs: *const libc::timespec) -> isize {
    crate::hub::cancel::point(|| {
        encode(mq_call(mqd, Dir::Read, abs, |t| {
            // SAFETY: the program's own arguments.
            unsafe { sc!(libc::SYS_mq_timedreceive, mqd, buf, len, prio, t) }
        }))
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_receive(mqd: c_int, buf: *mut c_char, len: usize, prio: *mut c_uint) -> isize {
    crate::hub::cancel::point(|| {
        // SAFETY: forwarded.
        unsafe { mq_timedreceive(mqd, buf, len, prio, core::ptr::null()) }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_timedsend(mqd: c_int, msg: *const c_char, len: usize, prio: c_uint, abs: *const libc::timespec) -> c_int {
    crate::hub::cancel::point(|| {
        encode(mq_call(mqd, Dir::Write, abs, |t| {
            // SAFETY: the program's own arguments.
            unsafe { sc!(libc::SYS_mq_timedsend, mqd, msg, len, prio, t) }
        })) as c_int
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn mq_send(mqd: c_int, msg: *const c_char, len: usize, prio: c_uint) -> c_int {
    crate::hub::cancel::point(|| {
        // SAFETY: forwarded.
        unsafe { mq_timedsend(mqd, msg, len, prio, core::ptr::null()) }
    })
}
