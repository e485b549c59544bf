//! Per-green-thread scheduling policy and priority.
//!
//! Every green thread runs on the hub's OS thread, so a policy set for one of them
//! cannot be the kernel's without changing it for all. It is kept in the control block
//! and reported back by `pthread_getschedparam`, as natively; the kernel is asked only
//! for its verdict (`EPERM` without the privilege, `EINVAL` out of range) by applying
//! the setting to the OS thread and restoring the previous one at once. The main
//! thread's own setting is the OS thread's, as before.

use crate::sys::real;
use core::ffi::c_int;

/// The kernel's answer to setting (policy, priority), without keeping it.
pub fn probe(os: libc::pthread_t, policy: c_int, priority: c_int) -> c_int {
    let mut old_policy: c_int = 0;
    let mut old = libc::sched_param { sched_priority: 0 };
    let new = libc::sched_param { sched_priority: priority };
    // SAFETY: real pthread calls on a live OS thread with valid out-pointers.
    unsafe {
        let r = real::pthread_getschedparam(os, &mut old_policy, &mut old);
        if r != 0 {
            return r;
        }
        let r = real::pthread_setschedparam(os, policy, &new);
        if r == 0 {
            real::pthread_setschedparam(os, old_policy, &old);
        }
        r
    }
}

/// What `pthread_getschedparam` reports for green thread `g`.
///
/// # Safety
/// `g` must be a live green control block.
pub unsafe fn get(g: *mut super::Green, os: libc::pthread_t, policy: *mut c_int, param: *mut libc::sched_param) -> c_int {
    // SAFETY: per contract; policy/param are the program's out-parameters.
    unsafe {
        match (*g).sched {
            Some((p, prio)) => {
                *policy = p;
                (*param).sched_priority = prio;
                0
            }
            None => real::pthread_getschedparam(os, policy, param),
        }
    }
}

/// `pthread_setschedparam` for green thread `g` (not the main thread).
///
/// # Safety
/// `g` must be a live green control block.
pub unsafe fn set(g: *mut super::Green, os: libc::pthread_t, policy: c_int, priority: c_int) -> c_int {
    let r = probe(os, policy, priority);
    if r == 0 {
        // SAFETY: per contract.
        unsafe { (*g).sched = Some((policy, priority)) };
    }
    r
}
