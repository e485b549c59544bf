//! Green-aware `pthread_mutex_t`, in glibc's own memory layout.
//!
//! glibc's `pthread_mutex_init` and static initializers fill in the type (`__kind`); the
//! shim then uses the lock word, owner and count fields itself, parking contended lockers
//! in the parking lot instead of on a futex:
//!
//! | field (offset)   | meaning here                                                |
//! |------------------|-------------------------------------------------------------|
//! | `__lock` (0)     | 0 unlocked · 1 locked · 2 locked and someone may be parked  |
//! | `__count` (4)    | recursion depth beyond the first lock (recursive type)      |
//! | `__owner` (8)    | owner id: kernel tid for OS threads, ≥ 2^30 for green ones  |
//! | `__kind` (16)    | glibc's type and flag bits, read only                       |
//!
//! Process-shared, robust, priority-inheritance and priority-protect mutexes pass
//! through to glibc (their lock word is shared with other processes or the kernel).
//! Uncontended lock/unlock is one compare-and-swap and one swap.

use crate::green::Reason;
use crate::sync::parking_lot::{self, Parked};
use crate::sync::self_id;
use core::sync::atomic::{AtomicI32, Ordering};

pub const KIND_MASK: i32 = 3;
/// PSHARED (128) | ROBUST (16) | PRIO_INHERIT (32) | PRIO_PROTECT (64).
pub const PASS_THROUGH_BITS: i32 = 128 | 16 | 32 | 64;
const NORMAL: i32 = 0;
const RECURSIVE: i32 = 1;
const ERRORCHECK: i32 = 2;

#[inline(always)]
fn word(m: *mut libc::pthread_mutex_t) -> &'static AtomicI32 {
    // SAFETY: offset 0 of a pthread_mutex_t is the 4-byte-aligned int lock word.
    unsafe { &*(m as *const AtomicI32) }
}
#[inline(always)]
fn count(m: *mut libc::pthread_mutex_t) -> *mut u32 {
    (m as usize + 4) as *mut u32
}
#[inline(always)]
fn owner(m: *mut libc::pthread_mutex_t) -> &'static AtomicI32 {
    // SAFETY: offset 8 is the int owner field, 4-byte aligned.
    unsafe { &*((m as usize + 8) as *const AtomicI32) }
}
#[inline(always)]
pub fn kind(m: *mut libc::pthread_mutex_t) -> i32 {
    // SAFETY: offset 16 is the int kind field; written only by init/destroy.
    unsafe { core::ptr::read_volatile((m as usize + 16) as *const i32) }
}

/// Whether the shim handles this mutex itself.
#[inline(always)]
pub fn is_ours(m: *mut libc::pthread_mutex_t) -> bool {
    kind(m) & PASS_THROUGH_BITS == 0
}

/// Locks `m`; `deadline` (monotonic ns) makes it a timed lock. Returns a pthread error code.
pub fn lock(m: *mut libc::pthread_mutex_t, deadline: Option<u64>) -> i32 {
    let me = self_id() as i32;
    let k = kind(m) & KIND_MASK;
    if k != NORMAL && owner(m).load(Ordering::Relaxed) == me {
        if k == RECURSIVE {
            // SAFETY: only the owner touches the count.
            unsafe {
                if *count(m) == u32::MAX {
                    return libc::EAGAIN;
                }
                *count(m) += 1;
            }
            return 0;
        }
        if k == ERRORCHECK {
            return libc::EDEADLK;
        }
    }
    let w = word(m);
    if w.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
        let r = lock_contended(m, w, deadline);
        if r != 0 {
            return r;
        }
    }
    owner(m).store(me, Ordering::Relaxed);
    if k == RECURSIVE {
        // SAFETY: we own the mutex now.
        unsafe { *count(m) = 1 };
    }
    0
}

#[cold]
fn lock_contended(m: *mut libc::pthread_mutex_t, w: &AtomicI32, deadline: Option<u64>) -> i32 {
    // Drepper's "mutex 3": mark the word 2 (waiters may exist) before parking.
    let mut c = w.load(Ordering::Relaxed);
    if c != 2 {
        c = w.swap(2, Ordering::Acquire);
    }
    while c != 0 {
        if parking_lot::park(m as usize, || w.load(Ordering::Relaxed) == 2, || {}, deadline, Reason::Mutex) == Parked::TimedOut {
            return if w.compare_exchange(0, 2, Ordering::Acquire, Ordering::Relaxed).is_ok() { 0 } else { libc::ETIMEDOUT };
        }
        c = w.swap(2, Ordering::Acquire);
    }
    0
}

pub fn trylock(m: *mut libc::pthread_mutex_t) -> i32 {
    let me = self_id() as i32;
    let k = kind(m) & KIND_MASK;
    if k == RECURSIVE && owner(m).load(Ordering::Relaxed) == me {
        // SAFETY: only the owner touches the count.
        unsafe { *count(m) += 1 };
        return 0;
    }
    if word(m).compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
        return libc::EBUSY;
    }
    owner(m).store(me, Ordering::Relaxed);
    if k == RECURSIVE {
        // SAFETY: we own the mutex now.
        unsafe { *count(m) = 1 };
    }
    0
}

pub fn unlock(m: *mut libc::pthread_mutex_t) -> i32 {
    let k = kind(m) & KIND_MASK;
    if k != NORMAL {
        let me = self_id() as i32;
        if owner(m).load(Ordering::Relaxed) != me || word(m).load(Ordering::Relaxed) == 0 {
            return libc::EPERM;
        }
        if k == RECURSIVE {
            // SAFETY: we own the mutex.
            unsafe {
                *count(m) -= 1;
                if *count(m) != 0 {
                    return 0;
                }
            }
        }
    }
    owner(m).store(0, Ordering::Relaxed);
    if word(m).swap(0, Ordering::Release) == 2 {
        parking_lot::unpark_one(m as usize);
    }
    0
}

/// For condvar waits: fully releases the mutex and returns the recursion depth to restore.
pub fn unlock_for_wait(m: *mut libc::pthread_mutex_t) -> u32 {
    let depth = if kind(m) & KIND_MASK == RECURSIVE {
        // SAFETY: the caller owns the mutex.
        unsafe { core::mem::replace(&mut *count(m), 1) }
    } else {
        1
    };
    unlock(m);
    depth
}

/// Re-acquires after a condvar wait, restoring the recursion depth.
pub fn relock_after_wait(m: *mut libc::pthread_mutex_t, depth: u32) {
    lock(m, None);
    if kind(m) & KIND_MASK == RECURSIVE {
        // SAFETY: we own the mutex again.
        unsafe { *count(m) = depth };
    }
}

/// Whether the caller owns `m` (errorcheck/recursive condvar-wait checks).
pub fn owned_by_caller(m: *mut libc::pthread_mutex_t) -> bool {
    owner(m).load(Ordering::Relaxed) == self_id() as i32
}
