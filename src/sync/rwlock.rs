//! Green-aware `pthread_rwlock_t`, reader-preferring like glibc's default.
//!
//! | field (offset)        | meaning here                                            |
//! |-----------------------|---------------------------------------------------------|
//! | `__readers` (0)       | 0 free · n readers · `WRITER` write-locked              |
//! | `__writers` (4)       | 1 when a thread may be parked (unlock must unpark)      |
//! | `__cur_writer` (24)   | id of the write owner (EDEADLK on relock)               |
//! | `__shared` (28)       | glibc's process-shared flag: non-zero passes through    |

use crate::green::Reason;
use crate::sync::parking_lot::{self, Parked};
use crate::sync::self_id;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

const WRITER: u32 = u32::MAX;

fn state(l: *mut libc::pthread_rwlock_t) -> &'static AtomicU32 {
    // SAFETY: offset 0 of the 56-byte rwlock is a 4-byte-aligned unsigned int.
    unsafe { &*(l as *const AtomicU32) }
}
fn parked(l: *mut libc::pthread_rwlock_t) -> &'static AtomicU32 {
    // SAFETY: offset 4 is an unsigned int.
    unsafe { &*((l as usize + 4) as *const AtomicU32) }
}
fn writer(l: *mut libc::pthread_rwlock_t) -> &'static AtomicI32 {
    // SAFETY: offset 24 is an int.
    unsafe { &*((l as usize + 24) as *const AtomicI32) }
}

pub fn is_ours(l: *mut libc::pthread_rwlock_t) -> bool {
    // SAFETY: offset 28 is glibc's __shared int.
    unsafe { core::ptr::read_volatile((l as usize + 28) as *const i32) == 0 }
}

pub fn try_read(l: *mut libc::pthread_rwlock_t) -> i32 {
    let s = state(l);
    let mut v = s.load(Ordering::Relaxed);
    loop {
        if v == WRITER {
            return libc::EBUSY;
        }
        if v == WRITER - 1 {
            return libc::EAGAIN;
        }
        match s.compare_exchange_weak(v, v + 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return 0,
            Err(x) => v = x,
        }
    }
}

pub fn try_write(l: *mut libc::pthread_rwlock_t) -> i32 {
    if state(l).compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed).is_ok() {
        writer(l).store(self_id() as i32, Ordering::Relaxed);
        0
    } else {
        libc::EBUSY
    }
}

fn acquire(l: *mut libc::pthread_rwlock_t, write: bool, deadline: Option<u64>) -> i32 {
    let me = self_id() as i32;
    if state(l).load(Ordering::Relaxed) == WRITER && writer(l).load(Ordering::Relaxed) == me {
        return libc::EDEADLK;
    }
    loop {
        let r = if write { try_write(l) } else { try_read(l) };
        if r != libc::EBUSY {
            return r;
        }
        // The flag and the state are two words: a waiter stores the flag then loads the
        // state, an unlock stores the state then reads the flag. All four SeqCst (the
        // store an `xchg` on x86), so at least one side sees the other's write — with
        // Relaxed a waiter on another hub could load the state before its flag store was
        // visible, miss the unlock, and the unlock miss the flag: a reader parked for
        // good on a free lock (seen once in `cross_hub` with two hubs).
        let busy = || {
            parked(l).store(1, Ordering::SeqCst);
            let v = state(l).load(Ordering::SeqCst);
            if write { v != 0 } else { v == WRITER }
        };
        if parking_lot::park(l as usize, busy, || {}, deadline, Reason::RwLock) == Parked::TimedOut {
            let r = if write { try_write(l) } else { try_read(l) };
            return if r == 0 { 0 } else { libc::ETIMEDOUT };
        }
    }
}

pub fn read(l: *mut libc::pthread_rwlock_t, deadline: Option<u64>) -> i32 {
    acquire(l, false, deadline)
}

pub fn write(l: *mut libc::pthread_rwlock_t, deadline: Option<u64>) -> i32 {
    acquire(l, true, deadline)
}

pub fn unlock(l: *mut libc::pthread_rwlock_t) -> i32 {
    let s = state(l);
    let v = s.load(Ordering::Relaxed);
    let now_free = if v == WRITER {
        writer(l).store(0, Ordering::Relaxed);
        s.store(0, Ordering::SeqCst);
        true
    } else if v == 0 {
        return libc::EPERM;
    } else {
        s.fetch_sub(1, Ordering::SeqCst) == 1
    };
    // SeqCst: see `acquire`.
    if now_free && parked(l).swap(0, Ordering::SeqCst) != 0 {
        parking_lot::unpark_all(l as usize);
    }
    0
}
