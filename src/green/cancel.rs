//! A green thread's cancellation state, as glibc keeps it in `struct pthread`
//! (`cancelhandling`, `exc`); the unwinding itself is `hub::cancel`.

/// A cancellation request is pending.
pub const PENDING: u32 = 1;
/// `PTHREAD_CANCEL_DISABLE`.
pub const DISABLED: u32 = 2;
/// `PTHREAD_CANCEL_ASYNCHRONOUS`.
pub const ASYNC: u32 = 4;
/// The thread is exiting (pthread_exit or acting on a cancellation): no more requests.
pub const EXITING: u32 = 8;

/// libgcc's `struct _Unwind_Exception` (x86-64: 32 bytes, 16-aligned).
#[repr(C, align(16))]
pub struct UnwindException {
    pub class: u64,
    pub cleanup: Option<unsafe extern "C" fn(i32, *mut UnwindException)>,
    pub private: [usize; 2],
}

impl UnwindException {
    pub const fn new() -> UnwindException {
        UnwindException { class: 0, cleanup: None, private: [0; 2] }
    }
}

impl Default for UnwindException {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether flags `c` ask for the thread to act on a cancellation now (at a point).
#[inline]
pub fn due(c: u32) -> bool {
    c & (PENDING | DISABLED | EXITING) == PENDING
}
