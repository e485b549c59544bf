//! poll: try with a zero timeout; if nothing is ready, park on every polled fd at once
//! (edge-triggered epoll registrations, woken by any of them) and try again.

use crate::fd::table;
use crate::hooks::signal;
use crate::green::{Reason, Wake};
use crate::hub;
use crate::sys::{self, Errno, encode, sc};
use core::ffi::c_int;
use libc::{nfds_t, pollfd};

unsafe extern "C" {
    fn __chk_fail() -> !;
}

fn raw_poll(fds: *mut pollfd, n: nfds_t, timeout_ms: c_int) -> Result<usize, Errno> {
    // SAFETY: fds has n entries (the program's call).
    crate::raw::retry_tick_eintr(|| unsafe { sc!(libc::SYS_poll, fds, n, timeout_ms) })
}

/// Serves a poll with a relative timeout in ns (None = forever).
pub fn poll_for(fds: *mut pollfd, n: nfds_t, timeout: Option<u64>) -> Result<usize, Errno> {
    hub::tick_local();
    let r = raw_poll(fds, n, 0);
    if !matches!(r, Ok(0)) || timeout == Some(0) {
        return r;
    }
    let Some(h) = hub::local() else {
        let ms = timeout.map_or(-1, |ns| ns.div_ceil(1_000_000).min(i32::MAX as u64) as c_int);
        return raw_poll(fds, n, ms);
    };
    let deadline = timeout.map(|ns| sys::now_ns().saturating_add(ns));
    // SAFETY: fds has n entries.
    let list = unsafe { core::slice::from_raw_parts(fds, n as usize) };
    loop {
        // SAFETY: hub thread; waiter lists are touched only on this thread.
        unsafe {
            let (g, generation) = hub::prepare_park(h);
            let mut degraded = false;
            for p in list {
                let Some(e) = (p.fd >= 0).then(|| table::lookup(p.fd)).flatten() else { continue };
                if table::ensure_registered(h, p.fd, e).is_err() {
                    // epoll cannot watch it; poll(2) reports such fds ready at once, so
                    // we only get here for odd devices: wait for real. Or the hub has
                    // no epoll fd (fd limit): nap and poll again.
                    hub::cancel_park(g);
                    for q in list {
                        if let Some(e) = table::peek(q.fd) {
                            table::forget_waiter(e, g);
                        }
                    }
                    if (*h).reactor.degraded {
                        degraded = true;
                        break;
                    }
                    let ms = deadline.map_or(-1, |d| d.saturating_sub(sys::now_ns()).div_ceil(1_000_000) as c_int);
                    return raw_poll(fds, n, ms);
                }
                if p.events & (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP) != 0 {
                    table::add_waiter(e, true, g, generation);
                }
                if p.events & libc::POLLOUT != 0 {
                    table::add_waiter(e, false, g, generation);
                }
                if p.events & (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP | libc::POLLOUT) == 0 {
                    // Only errors/hangup are of interest: those wake readers.
                    table::add_waiter(e, true, g, generation);
                }
            }
            let why = if degraded {
                crate::fd::io::degraded_nap(h, deadline, Reason::Poll)
            } else {
                hub::park(h, g, generation, deadline, Reason::Poll)
            };
            for p in list {
                if let Some(e) = table::peek(p.fd) {
                    table::forget_waiter(e, g);
                }
            }
            match why {
                Wake::Interrupted => return Err(Errno::EINTR),
                Wake::Timeout => return raw_poll(fds, n, 0),
                _ => {}
            }
        }
        let r = raw_poll(fds, n, 0);
        if !matches!(r, Ok(0)) {
            return r;
        }
        if deadline.is_some_and(|d| sys::now_ns() >= d) {
            return Ok(0);
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int {
    crate::hub::cancel::point(|| {
        let t = (timeout >= 0).then(|| timeout as u64 * 1_000_000);
        encode(poll_for(fds, n, t)) as c_int
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __poll_chk(fds: *mut pollfd, n: nfds_t, timeout: c_int, fdslen: usize) -> c_int {
    if fdslen / core::mem::size_of::<pollfd>() < n as usize {
        // SAFETY: never returns.
        unsafe { __chk_fail() }
    }
    // SAFETY: forwarded.
    unsafe { poll(fds, n, timeout) }
}

/// A timespec timeout in ns, or None if the kernel would refuse it (EINVAL).
fn valid_timeout(ts: &libc::timespec) -> Option<u64> {
    (ts.tv_sec >= 0 && (0..1_000_000_000).contains(&ts.tv_nsec)).then(|| sys::ts_to_ns(ts))
}

// ---- select ----------------------------------------------------------------------------

/// select(2) served by the poll machinery: the fd_sets become pollfds and back, with
/// Linux's mapping (readable = IN|HUP|ERR, writable = OUT|ERR, exceptional = PRI).
fn select_for(nfds: c_int, rd: *mut libc::fd_set, wr: *mut libc::fd_set, ex: *mut libc::fd_set, timeout: Option<u64>) -> Result<usize, Errno> {
    if nfds < 0 {
        return Err(Errno(libc::EINVAL));
    }
    // Linux clamps nfds to the size of the process's fd table; an fd_set holds
    // FD_SETSIZE bits, past which there is nothing the program could have set.
    let nfds = nfds.min(libc::FD_SETSIZE as c_int);
    hub::tick_local();
    let isset = |s: *mut libc::fd_set, fd: c_int| {
        // SAFETY: s is null or the program's fd_set; fd < FD_SETSIZE.
        !s.is_null() && unsafe { libc::FD_ISSET(fd, s) }
    };
    let mut fds = Vec::new();
    for fd in 0..nfds {
        let mut ev = 0;
        if isset(rd, fd) {
            ev |= libc::POLLIN;
        }
        if isset(wr, fd) {
            ev |= libc::POLLOUT;
        }
        if isset(ex, fd) {
            ev |= libc::POLLPRI;
        }
        if ev != 0 {
            fds.push(pollfd { fd, events: ev, revents: 0 });
        }
    }
    poll_for(fds.as_mut_ptr(), fds.len() as nfds_t, timeout)?;
    if fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        return Err(Errno::EBADF);
    }
    for s in [rd, wr, ex] {
        if !s.is_null() {
            // SAFETY: the program's fd_set.
            unsafe { libc::FD_ZERO(s) };
        }
    }
    let mut n = 0;
    for p in &fds {
        let mut mark = |s: *mut libc::fd_set, hit: bool| {
            if hit && !s.is_null() {
                // SAFETY: the program's fd_set; fd < nfds ≤ FD_SETSIZE.
                unsafe { libc::FD_SET(p.fd, s) };
                n += 1;
            }
        };
        mark(rd, p.events & libc::POLLIN != 0 && p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0);
        mark(wr, p.events & libc::POLLOUT != 0 && p.revents & (libc::POLLOUT | libc::POLLERR) != 0);
        mark(ex, p.events & libc::POLLPRI != 0 && p.revents & libc::POLLPRI != 0);
    }
    Ok(n)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn select(nfds: c_int, rd: *mut libc::fd_set, wr: *mut libc::fd_set, ex: *mut libc::fd_set, tv: *mut libc::timeval) -> c_int {
    crate::hub::cancel::point(|| {
        if hub::local().is_none() {
            // SAFETY: the program's own arguments.
            return encode(crate::raw::retry_tick_eintr(|| unsafe { sc!(libc::SYS_select, nfds, rd, wr, ex, tv) })) as c_int;
        }
        // SAFETY: tv is null or the program's timeval.
        let timeout = unsafe { tv.as_ref() }.map(|t| {
            // Linux carries whole seconds out of tv_usec; what is left negative is EINVAL.
            let (sec, usec) = (t.tv_sec.saturating_add(t.tv_usec / 1_000_000), t.tv_usec % 1_000_000);
            if sec < 0 || usec < 0 { None } else { Some((sec as u64).saturating_mul(1_000_000_000).saturating_add(usec as u64 * 1000)) }
        });
        if timeout == Some(None) {
            return encode(Err(Errno(libc::EINVAL))) as c_int;
        }
        let timeout = timeout.flatten();
        let start = sys::now_ns();
        let r = select_for(nfds, rd, wr, ex, timeout);
        // SAFETY: tv is null or the program's timeval (read above).
        if let (Some(t), Some(total)) = (unsafe { tv.as_mut() }, timeout) {
            // Linux reports the time not slept.
            let left = total.saturating_sub(sys::now_ns() - start);
            t.tv_sec = (left / 1_000_000_000) as i64;
            t.tv_usec = ((left % 1_000_000_000) / 1000) as i64;
        }
        encode(r) as c_int
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    rd: *mut libc::fd_set,
    wr: *mut libc::fd_set,
    ex: *mut libc::fd_set,
    ts: *const libc::timespec,
    mask: *const libc::sigset_t,
) -> c_int {
    crate::hub::cancel::point(|| {
        if hub::local().is_none() {
            let data: [usize; 2] = [mask as usize, 8];
            // SAFETY: the program's own arguments; data is pselect6's {sigset*, size} pair.
            return encode(unsafe { sc!(libc::SYS_pselect6, nfds, rd, wr, ex, ts, if mask.is_null() { 0 } else { data.as_ptr() as usize }) }) as c_int;
        }
        // SAFETY: ts is null or the program's timespec.
        let timeout = match unsafe { ts.as_ref() } {
            None => None,
            Some(t) => match valid_timeout(t) {
                Some(ns) => Some(ns),
                None => return encode(Err(Errno(libc::EINVAL))) as c_int,
            },
        };
        encode(signal::with_wait_mask(mask, || select_for(nfds, rd, wr, ex, timeout))) as c_int
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn ppoll(fds: *mut pollfd, n: nfds_t, ts: *const libc::timespec, mask: *const libc::sigset_t) -> c_int {
    crate::hub::cancel::point(|| {
        if hub::local().is_none() {
            // SAFETY: the program's own arguments.
            return encode(unsafe { sc!(libc::SYS_ppoll, fds, n, ts, mask, 8) }) as c_int;
        }
        // SAFETY: ts is null or the program's timespec.
        let timeout = match unsafe { ts.as_ref() } {
            None => None,
            Some(t) => match valid_timeout(t) {
                Some(ns) => Some(ns),
                None => return encode(Err(Errno(libc::EINVAL))) as c_int,
            },
        };
        encode(signal::with_wait_mask(mask, || poll_for(fds, n, timeout))) as c_int
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __ppoll_chk(fds: *mut pollfd, n: nfds_t, ts: *const libc::timespec, mask: *const libc::sigset_t, fdslen: usize) -> c_int {
    if fdslen / core::mem::size_of::<pollfd>() < n as usize {
        // SAFETY: never returns.
        unsafe { __chk_fail() }
    }
    // SAFETY: forwarded.
    unsafe { ppoll(fds, n, ts, mask) }
}

// ---- the program's own epoll -------------------------------------------------------------

/// epoll_wait on the program's epoll instance: an epoll fd is itself pollable, so the
/// green thread parks on it (readable = events pending) in the hub's epoll.
fn epoll_wait_for(epfd: c_int, events: *mut libc::epoll_event, max: c_int, timeout: Option<u64>) -> Result<usize, Errno> {
    // SAFETY: the program's own arguments; zero timeout never blocks.
    let try_now = || crate::raw::retry_tick_eintr(|| unsafe { sc!(libc::SYS_epoll_wait, epfd, events, max, 0) });
    hub::tick_local();
    let r = try_now();
    if !matches!(r, Ok(0)) || timeout == Some(0) {
        return r;
    }
    let Some(h) = hub::local() else {
        let ms = timeout.map_or(-1, |ns| ns.div_ceil(1_000_000).min(i32::MAX as u64) as c_int);
        // SAFETY: the program's own arguments.
        return crate::raw::retry_tick_eintr(|| unsafe { sc!(libc::SYS_epoll_wait, epfd, events, max, ms) });
    };
    let Some(e) = table::lookup(epfd) else { return Err(Errno::EBADF) };
    let deadline = timeout.map(|ns| sys::now_ns().saturating_add(ns));
    loop {
        match crate::fd::io::park_on(h, epfd, e, crate::fd::io::Dir::Read, deadline, Reason::Poll) {
            Ok(Wake::FdReady) | Ok(Wake::Notified) => {}
            Ok(Wake::Timeout) => return try_now(),
            Ok(Wake::Closed) => return Err(Errno::EBADF),
            Ok(Wake::Interrupted) => return Err(Errno::EINTR),
            Err(_) => {
                let ms = deadline.map_or(-1, |d| d.saturating_sub(sys::now_ns()).div_ceil(1_000_000) as c_int);
                // SAFETY: the program's own arguments.
                return crate::raw::retry_tick_eintr(|| unsafe { sc!(libc::SYS_epoll_wait, epfd, events, max, ms) });
            }
        }
        let r = try_now();
        if !matches!(r, Ok(0)) {
            return r;
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_wait(epfd: c_int, events: *mut libc::epoll_event, max: c_int, timeout: c_int) -> c_int {
    crate::hub::cancel::point(|| {
        let t = (timeout >= 0).then(|| timeout as u64 * 1_000_000);
        encode(epoll_wait_for(epfd, events, max, t)) as c_int
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_pwait(epfd: c_int, events: *mut libc::epoll_event, max: c_int, timeout: c_int, mask: *const libc::sigset_t) -> c_int {
    crate::hub::cancel::point(|| {
        let t = (timeout >= 0).then(|| timeout as u64 * 1_000_000);
        encode(signal::with_wait_mask(mask, || epoll_wait_for(epfd, events, max, t))) as c_int
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn epoll_pwait2(epfd: c_int, events: *mut libc::epoll_event, max: c_int, ts: *const libc::timespec, mask: *const libc::sigset_t) -> c_int {
    crate::hub::cancel::point(|| {
        // SAFETY: ts is null or the program's timespec.
        let t = match unsafe { ts.as_ref() } {
            None => None,
            Some(t) => match valid_timeout(t) {
                Some(ns) => Some(ns),
                None => return encode(Err(Errno(libc::EINVAL))) as c_int,
            },
        };
        encode(signal::with_wait_mask(mask, || epoll_wait_for(epfd, events, max, t))) as c_int
    })
}
