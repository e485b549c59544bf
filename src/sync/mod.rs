//! Green-aware synchronization: every pthread and semaphore wait parks in the
//! [`parking_lot`] instead of blocking the OS thread.

pub mod barrier;
pub mod condvar;
pub mod deferred;
pub mod foreign;
pub mod futex;
pub mod keys;
pub mod loader;
pub mod mutex;
pub mod once;
pub mod parking_lot;
pub mod rwlock;
pub mod sem;

use core::cell::Cell;

thread_local! {
    /// Kernel tid of an OS thread that owns no hub, cached (0 = not yet read).
    static OS_TID: Cell<u32> = const { Cell::new(0) };
}

/// The id a lock word records as owner: the green thread's id on the hub, else the
/// kernel tid (as glibc records it).
#[inline(always)]
pub fn self_id() -> u32 {
    match crate::hub::local() {
        // SAFETY: h is this thread's hub; current is live.
        Some(h) => unsafe { (*crate::hub::current(h)).id },
        None => OS_TID.with(|t| {
            if t.get() == 0 {
                t.set(crate::sys::gettid() as u32);
            }
            t.get()
        }),
    }
}
