//! Signals: a handler that runs while the main thread is parked in an interruptible
//! call makes that call fail with `EINTR` (or restart it under `SA_RESTART`), as natively.
//!
//! The program's handlers are installed behind a trampoline that calls them and then
//! records that a handler ran. The hub checks the record whenever it regains control (a
//! coroutine suspended, or `epoll_pwait2` returned) and wakes the root with
//! `Wake::Interrupted` if its park can be interrupted. Process-directed signals are
//! handled on the hub's OS thread, whose native counterpart is the main thread: so the
//! main thread's call is the one interrupted, which is what CPython's Ctrl-C handling
//! (PEP 475) relies on. Parking never happens inside a handler: the trampoline only
//! calls the program's handler and sets an atomic.
//!
//! `sigaction`'s old-action output reports the program's own handler, never the trampoline.

use crate::sys::real;
use core::ffi::c_int;
use core::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};

const NSIG: usize = 65;

static USER_HANDLER: [AtomicUsize; NSIG] = [const { AtomicUsize::new(0) }; NSIG];
static USER_FLAGS: [AtomicI32; NSIG] = [const { AtomicI32::new(0) }; NSIG];
/// Bit n: a handler for signal n ran since the root last parked.
static PENDING: AtomicU64 = AtomicU64::new(0);

extern "C" fn trampoline(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let n = sig as usize;
    if n >= NSIG {
        return;
    }
    let h = USER_HANDLER[n].load(Ordering::Acquire);
    let flags = USER_FLAGS[n].load(Ordering::Acquire);
    if h > 1 {
        // SAFETY: h is the handler the program registered for this signal, with the
        // signature its SA_SIGINFO flag declares.
        unsafe {
            if flags & libc::SA_SIGINFO != 0 {
                let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut libc::c_void) = core::mem::transmute(h);
                f(sig, info, ctx);
            } else {
                let f: extern "C" fn(c_int) = core::mem::transmute(h);
                f(sig);
            }
        }
    }
    PENDING.fetch_or(1 << n, Ordering::AcqRel);
}

/// Forgets handlers that ran before the root parked (a signal that arrives before a
/// blocking call starts does not interrupt it, natively either).
pub fn clear_pending() {
    PENDING.store(0, Ordering::Relaxed);
}

/// Takes the record: None if no handler ran, else whether every handler that ran was
/// installed with SA_RESTART.
pub fn take_pending() -> Option<bool> {
    if PENDING.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let bits = PENDING.swap(0, Ordering::AcqRel);
    if bits == 0 {
        return None;
    }
    let mut restart = true;
    for (n, flags) in USER_FLAGS.iter().enumerate() {
        if bits & (1 << n) != 0 && flags.load(Ordering::Relaxed) & libc::SA_RESTART == 0 {
            restart = false;
        }
    }
    Some(restart)
}

fn wrap(sig: c_int, act: &libc::sigaction) -> libc::sigaction {
    let mut k = *act;
    let h = act.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN || sig <= 0 || sig as usize >= NSIG {
        return k;
    }
    USER_FLAGS[sig as usize].store(act.sa_flags, Ordering::Release);
    USER_HANDLER[sig as usize].store(h, Ordering::Release);
    k.sa_sigaction = trampoline as *const () as usize;
    k.sa_flags |= libc::SA_SIGINFO;
    k
}

/// Rewrites the kernel's view of an old action back into the program's.
fn unwrap(sig: c_int, old: *mut libc::sigaction, prev_handler: usize, prev_flags: c_int) {
    // SAFETY: old is null or the program's out-parameter, just filled by glibc.
    if let Some(o) = unsafe { old.as_mut() } {
        if o.sa_sigaction == trampoline as *const () as usize {
            o.sa_sigaction = prev_handler;
            o.sa_flags = prev_flags;
        }
    }
    let _ = sig;
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    let idx = (sig as usize).min(NSIG - 1);
    let (prev_h, prev_f) = (USER_HANDLER[idx].load(Ordering::Acquire), USER_FLAGS[idx].load(Ordering::Acquire));
    // SAFETY: act is null or the program's sigaction.
    let r = match unsafe { act.as_ref() } {
        Some(a) => {
            let k = wrap(sig, a);
            // SAFETY: forwarded with a valid sigaction.
            unsafe { real::sigaction(sig, &k, old) }
        }
        // SAFETY: forwarded.
        None => unsafe { real::sigaction(sig, act, old) },
    };
    if r == 0 {
        unwrap(sig, old, prev_h, prev_f);
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    // SAFETY: forwarded.
    unsafe { sigaction(sig, act, old) }
}

/// `signal()` with glibc's BSD semantics (SA_RESTART, handler stays installed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: a zeroed sigaction is valid; fields set below.
    let mut a: libc::sigaction = unsafe { core::mem::zeroed() };
    a.sa_sigaction = handler;
    a.sa_flags = libc::SA_RESTART;
    // SAFETY: a is valid; sa_mask is a plain sigset.
    unsafe { libc::sigemptyset(&mut a.sa_mask) };
    if sig > 0 && (sig as usize) < NSIG {
        // SAFETY: sa_mask is valid.
        unsafe { libc::sigaddset(&mut a.sa_mask, sig) };
    }
    // SAFETY: a zeroed sigaction is a valid out-buffer.
    let mut old: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: forwarded.
    if unsafe { sigaction(sig, &a, &mut old) } != 0 {
        return libc::SIG_ERR;
    }
    old.sa_sigaction
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn bsd_signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: forwarded.
    unsafe { signal(sig, handler) }
}
