//! Green-aware unnamed POSIX semaphores (`sem_t`), in glibc's layout so that a semaphore
//! touched by glibc before the shim started keeps working:
//!
//! | field (offset)  | meaning                                                      |
//! |-----------------|--------------------------------------------------------------|
//! | `data` (0, u64) | low 32 bits: value · high 32 bits: waiters (may be parked)   |
//! | `private` (8)   | glibc's LLL_PRIVATE (0) for process-private, 128 if shared   |
//!
//! Shared (and named) semaphores pass through to glibc. CPython's `threading.Lock` is one
//! of these, waited on with `sem_clockwait(CLOCK_MONOTONIC)`.

use crate::green::Reason;
use crate::sync::parking_lot::{self, Parked};
use core::sync::atomic::{AtomicU64, Ordering};

const WAITER: u64 = 1 << 32;

fn data(s: *mut libc::sem_t) -> &'static AtomicU64 {
    // SAFETY: sem_t is 32 bytes, 8-byte aligned; offset 0 is glibc's 64-bit data word.
    unsafe { &*(s as *const AtomicU64) }
}

pub fn is_ours(s: *mut libc::sem_t) -> bool {
    // SAFETY: offset 8 is glibc's `private` int.
    unsafe { core::ptr::read_volatile((s as usize + 8) as *const i32) == 0 }
}

pub fn trywait(s: *mut libc::sem_t) -> bool {
    let d = data(s);
    let mut v = d.load(Ordering::Relaxed);
    loop {
        if v & 0xffff_ffff == 0 {
            return false;
        }
        match d.compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(x) => v = x,
        }
    }
}

/// Waits; `deadline` in monotonic ns. Err(errno) on timeout or interruption.
pub fn wait(s: *mut libc::sem_t, deadline: Option<u64>) -> Result<(), i32> {
    if trywait(s) {
        return Ok(());
    }
    let d = data(s);
    d.fetch_add(WAITER, Ordering::Relaxed);
    let r = loop {
        if trywait(s) {
            break Ok(());
        }
        // Linux restarts an untimed futex wait under SA_RESTART, never a timed one.
        let reason = if deadline.is_some() { Reason::TimedWait } else { Reason::Semaphore };
        match parking_lot::park(s as usize, || d.load(Ordering::Relaxed) & 0xffff_ffff == 0, || {}, deadline, reason) {
            Parked::TimedOut => break if trywait(s) { Ok(()) } else { Err(libc::ETIMEDOUT) },
            Parked::Interrupted => break Err(libc::EINTR),
            _ => {}
        }
    };
    d.fetch_sub(WAITER, Ordering::Relaxed);
    r
}

pub fn post(s: *mut libc::sem_t) -> Result<(), i32> {
    let d = data(s);
    let mut v = d.load(Ordering::Relaxed);
    loop {
        if v & 0xffff_ffff == i32::MAX as u64 {
            return Err(libc::EOVERFLOW);
        }
        match d.compare_exchange_weak(v, v + 1, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(x) => v = x,
        }
    }
    if v >> 32 != 0 {
        if crate::hub::in_signal_handler() {
            // The handler may have interrupted the hub holding this key's bucket lock:
            // leave the wake to the hub (see sync::deferred).
            crate::sync::deferred::request(s as usize);
        } else {
            parking_lot::unpark_one(s as usize);
        }
    }
    Ok(())
}

pub fn value(s: *mut libc::sem_t) -> i32 {
    (data(s).load(Ordering::Relaxed) & 0xffff_ffff) as i32
}
