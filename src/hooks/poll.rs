//! poll: try with a zero timeout; if nothing is ready, park on every polled fd at once
//! (edge-triggered epoll registrations, woken by any of them) and try again.

use crate::fd::table;
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
    unsafe { sc!(libc::SYS_poll, fds, n, timeout_ms) }
}

/// Serves a poll with a relative timeout in ns (None = forever).
pub fn poll_for(fds: *mut pollfd, n: nfds_t, timeout: Option<u64>) -> Result<usize, Errno> {
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
            for p in list {
                let Some(e) = (p.fd >= 0).then(|| table::lookup(p.fd)).flatten() else { continue };
                if table::ensure_registered(h, p.fd, e).is_err() {
                    // epoll cannot watch it; poll(2) reports such fds ready at once, so
                    // we only get here for odd devices: wait for real.
                    hub::cancel_park(g);
                    for q in list {
                        if let Some(e) = table::peek(q.fd) {
                            table::forget_waiter(e, g);
                        }
                    }
                    let ms = deadline.map_or(-1, |d| d.saturating_sub(sys::now_ns()).div_ceil(1_000_000) as c_int);
                    return raw_poll(fds, n, ms);
                }
                if p.events & (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP) != 0 {
                    (*e).readers.push((g, generation));
                }
                if p.events & libc::POLLOUT != 0 {
                    (*e).writers.push((g, generation));
                }
                if p.events & (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP | libc::POLLOUT) == 0 {
                    // Only errors/hangup are of interest: those wake readers.
                    (*e).readers.push((g, generation));
                }
            }
            let why = hub::park(h, g, generation, deadline, Reason::Poll);
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
    let t = (timeout >= 0).then(|| timeout as u64 * 1_000_000);
    encode(poll_for(fds, n, t)) as c_int
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
