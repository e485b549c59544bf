//! Green-aware `pthread_once`: 0 not run · 1 running · 2 done (glibc's values, ignoring
//! its fork-generation bits). A thread that blocks inside the init routine parks; the
//! others park on the once's address until it finishes.

use crate::green::Reason;
use crate::sync::parking_lot;
use core::sync::atomic::{AtomicI32, Ordering};

pub fn call(o: *mut libc::pthread_once_t, init: extern "C" fn()) -> i32 {
    // SAFETY: pthread_once_t is a 4-byte-aligned int.
    let s = unsafe { &*(o as *const AtomicI32) };
    loop {
        match s.load(Ordering::Acquire) {
            v if v & 3 == 0 => {
                if s.compare_exchange(v, 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                    init();
                    s.store(2, Ordering::Release);
                    parking_lot::unpark_all(o as usize);
                    return 0;
                }
            }
            v if v & 3 == 2 => return 0,
            _ => {
                parking_lot::park(o as usize, || s.load(Ordering::Acquire) & 3 == 1, || {}, None, Reason::Once);
            }
        }
    }
}
