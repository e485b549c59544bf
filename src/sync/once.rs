//! Green-aware `pthread_once`, in glibc's encoding:
//!
//! | value            | meaning                                                    |
//! |------------------|------------------------------------------------------------|
//! | `0`              | not run                                                    |
//! | `1 \| generation` | running, started in the process of that fork generation |
//! | `2`              | done                                                       |
//!
//! A thread that blocks inside the init routine parks; the others park on the once's
//! address until it finishes. The fork generation (a multiple of 4, bumped in every
//! fork child) tells a child that the initialiser was a thread of its parent, which does
//! not exist there: the child runs the init itself, as glibc does, instead of waiting
//! forever.

use crate::green::Reason;
use crate::sync::parking_lot;
use core::sync::atomic::{AtomicI32, Ordering};

static FORK_GENERATION: AtomicI32 = AtomicI32::new(0);

/// In a fork child: onces left running by the parent's threads become claimable.
pub fn after_fork_child() {
    FORK_GENERATION.fetch_add(4, Ordering::Relaxed);
}

pub fn call(o: *mut libc::pthread_once_t, init: extern "C" fn()) -> i32 {
    // SAFETY: pthread_once_t is a 4-byte-aligned int.
    let s = unsafe { &*(o as *const AtomicI32) };
    let running = 1 | FORK_GENERATION.load(Ordering::Relaxed);
    loop {
        match s.load(Ordering::Acquire) {
            // Not run, or left running by a thread of a parent process.
            v if v & 3 == 0 || (v & 3 == 1 && v != running) => {
                if s.compare_exchange(v, running, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    init();
                    s.store(2, Ordering::Release);
                    parking_lot::unpark_all(o as usize);
                    return 0;
                }
            }
            v if v & 3 == 2 => return 0,
            _ => {
                parking_lot::park(o as usize, || s.load(Ordering::Acquire) == running, || {}, None, Reason::Once);
            }
        }
    }
}
