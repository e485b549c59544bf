//! Wake-ups requested from a signal handler, finished by the hub.
//!
//! A handler may call `sem_post` (POSIX lists it as async-signal-safe) at any
//! instruction of the hub's thread — also while the interrupted code holds the
//! parking-lot bucket lock that `sem_post` would need, or is in the middle of the ready
//! queue. So a handler never touches either: it records the semaphore's parking-lot key
//! in a fixed table of atomics and writes the hub's eventfd; the hub, back in its own
//! context, wakes every waiter on each recorded key ([`run`]). Waking them all is safe
//! because a semaphore waiter re-checks the value and parks again if it lost the race.
//!
//! | slot value | meaning                                        |
//! |------------|------------------------------------------------|
//! | 0          | free                                           |
//! | key        | waiters on `key` are to be woken by the hub    |
//!
//! When every slot is taken, `OVERFLOW` asks the hub to wake every parked semaphore
//! waiter instead.

use crate::sync::parking_lot;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const SLOTS: usize = 64;

static KEYS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static OVERFLOW: AtomicBool = AtomicBool::new(false);
/// Some slot may be in use (the hub's cheap check).
static ANY: AtomicBool = AtomicBool::new(false);

/// Asks the hub to wake the waiters on `key`. Async-signal-safe: atomics and one
/// `write`, no lock, no allocation.
pub fn request(key: usize) {
    let mut placed = false;
    for slot in KEYS.iter() {
        let v = slot.load(Ordering::Acquire);
        if v == key {
            placed = true;
            break;
        }
        if v == 0 && slot.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            placed = true;
            break;
        }
    }
    if !placed {
        OVERFLOW.store(true, Ordering::Release);
    }
    ANY.store(true, Ordering::Release);
    let h = crate::hub::global();
    if !h.is_null() {
        // SAFETY: h is the installed hub; notify only reads its eventfd number.
        unsafe { crate::hub::notify(h) };
    }
}

/// Hub side: wakes the waiters of every recorded key. Must run in the hub's own context
/// (not in a handler).
pub fn run() {
    if !ANY.load(Ordering::Acquire) {
        return;
    }
    ANY.store(false, Ordering::Release);
    for slot in KEYS.iter() {
        if slot.load(Ordering::Relaxed) != 0 {
            let key = slot.swap(0, Ordering::AcqRel);
            if key != 0 {
                parking_lot::unpark_all(key);
            }
        }
    }
    if OVERFLOW.swap(false, Ordering::AcqRel) {
        parking_lot::unpark_all_semaphore_waiters();
    }
}

/// In a forked child, requests made in the parent are the parent's.
pub fn after_fork_child() {
    for slot in KEYS.iter() {
        slot.store(0, Ordering::Relaxed);
    }
    OVERFLOW.store(false, Ordering::Relaxed);
    ANY.store(false, Ordering::Relaxed);
}
