//! Green-aware `pthread_cond_t`. The shim never uses glibc's condvar algorithm for
//! process-private condvars (so which glibc symbol version a program linked against does
//! not matter); it keeps glibc's flag word so the clock set by `pthread_condattr_setclock`
//! and the process-shared flag stay where glibc's `pthread_cond_init` put them:
//!
//! | field (offset)     | meaning here                                                |
//! |--------------------|-------------------------------------------------------------|
//! | `__g_refs[0]` (16) | number of waiters (so `signal` with none is one load)       |
//! | `__wrefs` (36)     | glibc flags: bit 0 process-shared, bit 1 CLOCK_MONOTONIC    |
//!
//! Waiters park in the parking lot keyed by the condvar's address; the mutex is released
//! only after the waiter is queued, so a signal sent under the mutex is never lost.

use crate::green::Reason;
use crate::sync::mutex;
use crate::sync::parking_lot::{self, Parked};
use core::sync::atomic::{AtomicU32, Ordering};

const SHARED_BIT: u32 = 1;
const MONOTONIC_BIT: u32 = 2;

fn waiters(c: *mut libc::pthread_cond_t) -> &'static AtomicU32 {
    // SAFETY: offset 16 is a 4-byte-aligned unsigned int inside the 48-byte condvar.
    unsafe { &*((c as usize + 16) as *const AtomicU32) }
}

fn flags(c: *mut libc::pthread_cond_t) -> u32 {
    // SAFETY: offset 36 is glibc's __wrefs flag word.
    unsafe { core::ptr::read_volatile((c as usize + 36) as *const u32) }
}

/// Whether the shim handles this condvar itself (not process-shared).
pub fn is_ours(c: *mut libc::pthread_cond_t) -> bool {
    flags(c) & SHARED_BIT == 0
}

/// The clock `pthread_cond_timedwait` measures its absolute deadline against.
pub fn clock(c: *mut libc::pthread_cond_t) -> libc::clockid_t {
    if flags(c) & MONOTONIC_BIT != 0 { libc::CLOCK_MONOTONIC } else { libc::CLOCK_REALTIME }
}

/// Waits; `deadline` in monotonic ns. Returns 0, ETIMEDOUT or EPERM.
pub fn wait(c: *mut libc::pthread_cond_t, m: *mut libc::pthread_mutex_t, deadline: Option<u64>) -> i32 {
    let k = mutex::kind(m) & mutex::KIND_MASK;
    if k != 0 && !mutex::owned_by_caller(m) {
        return libc::EPERM;
    }
    let n = waiters(c);
    n.fetch_add(1, Ordering::Relaxed);
    let mut depth = 1;
    let r = parking_lot::park(c as usize, || true, || depth = mutex::unlock_for_wait(m), deadline, Reason::Condvar);
    n.fetch_sub(1, Ordering::Relaxed);
    mutex::relock_after_wait(m, depth);
    match r {
        Parked::TimedOut => libc::ETIMEDOUT,
        _ => 0,
    }
}

/// Parks as a waiter of `c`; `release` (run once this thread is queued) releases its
/// mutex (a foreign mutex, see `sync::foreign`).
pub fn park_waiter(c: *mut libc::pthread_cond_t, deadline: Option<u64>, release: impl FnOnce()) -> Parked {
    let n = waiters(c);
    n.fetch_add(1, Ordering::Relaxed);
    let r = parking_lot::park(c as usize, || true, release, deadline, Reason::Condvar);
    n.fetch_sub(1, Ordering::Relaxed);
    r
}

pub fn signal(c: *mut libc::pthread_cond_t) -> i32 {
    if waiters(c).load(Ordering::Relaxed) != 0 {
        parking_lot::unpark_one(c as usize);
    }
    0
}

pub fn broadcast(c: *mut libc::pthread_cond_t) -> i32 {
    if waiters(c).load(Ordering::Relaxed) != 0 {
        parking_lot::unpark_all(c as usize);
    }
    0
}
