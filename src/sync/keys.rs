//! Thread-specific data (`pthread_key_*`) virtualised per green thread.
//!
//! Keys themselves are allocated by glibc (so numbering and limits are native); the shim
//! records each key's destructor and a creation sequence number, because a green
//! thread's values live in its control block and a deleted-then-reused key must not
//! show stale values. The root (and any OS thread) keeps using glibc's own storage.

use crate::green::Green;
use core::ffi::c_void;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

pub const KEYS_MAX: usize = 1024;
const DESTRUCTOR_ITERATIONS: usize = 4;

static DTORS: [AtomicUsize; KEYS_MAX] = [const { AtomicUsize::new(0) }; KEYS_MAX];
/// Odd = live key, even = free; bumped at create and delete.
static SEQ: [AtomicU32; KEYS_MAX] = [const { AtomicU32::new(0) }; KEYS_MAX];

pub fn created(key: libc::pthread_key_t, dtor: Option<unsafe extern "C" fn(*mut c_void)>) {
    let k = key as usize;
    if k < KEYS_MAX {
        DTORS[k].store(dtor.map_or(0, |f| f as usize), Ordering::Relaxed);
        SEQ[k].fetch_add(1, Ordering::Release);
    }
}

pub fn deleted(key: libc::pthread_key_t) {
    if (key as usize) < KEYS_MAX {
        DTORS[key as usize].store(0, Ordering::Relaxed);
        SEQ[key as usize].fetch_add(1, Ordering::Release);
    }
}

fn live_seq(key: usize) -> Option<u32> {
    let s = SEQ.get(key)?.load(Ordering::Acquire);
    (s & 1 == 1).then_some(s)
}

/// # Safety
/// `g` must be the running green thread.
pub unsafe fn get(g: *mut Green, key: libc::pthread_key_t) -> *mut c_void {
    let k = key as usize;
    let Some(seq) = live_seq(k) else { return core::ptr::null_mut() };
    // SAFETY: g is the running thread; only it touches its own table.
    unsafe {
        let table = &(*g).specific;
        match table.get(k) {
            Some(&(s, v)) if s == seq => v,
            _ => core::ptr::null_mut(),
        }
    }
}

/// # Safety
/// `g` must be the running green thread.
pub unsafe fn set(g: *mut Green, key: libc::pthread_key_t, v: *const c_void) -> i32 {
    let k = key as usize;
    let Some(seq) = live_seq(k) else { return libc::EINVAL };
    // SAFETY: as in get.
    unsafe {
        let t = &mut (*g).specific;
        if t.len() <= k {
            t.resize(k + 1, (0, core::ptr::null_mut()));
        }
        t[k] = (seq, v as *mut c_void);
    }
    0
}

/// Runs destructors for the exiting green thread, repeating while values are re-set, as
/// POSIX specifies (at most PTHREAD_DESTRUCTOR_ITERATIONS rounds).
///
/// # Safety
/// `g` must be the running green thread, at its exit.
pub unsafe fn run_destructors(g: *mut Green) {
    for _ in 0..DESTRUCTOR_ITERATIONS {
        let mut ran = false;
        let mut k = 0;
        // SAFETY: g is the running thread; the table may grow while a destructor runs, so
        // it is re-borrowed each step.
        unsafe {
            while k < (*g).specific.len() {
                let (s, v) = (&(*g).specific)[k];
                let d = DTORS[k.min(KEYS_MAX - 1)].load(Ordering::Relaxed);
                if !v.is_null() && live_seq(k) == Some(s) {
                    (&mut (*g).specific)[k].1 = core::ptr::null_mut();
                    if d != 0 {
                        let f: unsafe extern "C" fn(*mut c_void) = core::mem::transmute(d);
                        f(v);
                        ran = true;
                    }
                }
                k += 1;
            }
        }
        if !ran {
            return;
        }
    }
}
