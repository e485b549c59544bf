//! Green-aware `pthread_barrier_t`. glibc's `pthread_barrier_init` stores the count
//! (offset 8) and the shared flag (offset 12); the shim counts arrivals at offset 0 and
//! the round at offset 4, and parks waiters on the barrier's address until the round moves.

use crate::green::Reason;
use crate::sync::parking_lot;
use core::sync::atomic::{AtomicU32, Ordering};

fn field(b: *mut libc::pthread_barrier_t, off: usize) -> &'static AtomicU32 {
    // SAFETY: the 32-byte barrier holds 4-byte-aligned unsigned ints at 0, 4, 8, 12.
    unsafe { &*((b as usize + off) as *const AtomicU32) }
}

pub fn is_ours(b: *mut libc::pthread_barrier_t) -> bool {
    // glibc stores LLL_PRIVATE (0) for process-private barriers, LLL_SHARED (128) else.
    field(b, 12).load(Ordering::Relaxed) == 0
}

pub fn wait(b: *mut libc::pthread_barrier_t) -> i32 {
    let (arrived, round, count) = (field(b, 0), field(b, 4), field(b, 8).load(Ordering::Relaxed));
    let my_round = round.load(Ordering::Acquire);
    if arrived.fetch_add(1, Ordering::AcqRel) + 1 >= count {
        arrived.store(0, Ordering::Relaxed);
        round.fetch_add(1, Ordering::Release);
        parking_lot::unpark_all(b as usize);
        return libc::PTHREAD_BARRIER_SERIAL_THREAD;
    }
    while round.load(Ordering::Acquire) == my_round {
        parking_lot::park(b as usize, || round.load(Ordering::Acquire) == my_round, || {}, None, Reason::Barrier);
    }
    0
}
