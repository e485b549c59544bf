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

// ---- signal masks ----------------------------------------------------------------------
//
// All green threads share one OS thread and so one kernel signal mask. A green thread's
// pthread_sigmask/sigprocmask therefore changes only its own virtual mask (reported back
// consistently); the kernel mask stays the root's. Blocking signals in worker threads
// so that the main thread handles them (CPython's faulthandler watchdog does exactly
// that) then keeps working: had the watchdog's call reached the kernel, it would have
// blocked every signal for the whole process.

fn kernel_mask() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is valid; a null new set only reads the mask.
    let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    let _ = unsafe { crate::sys::sc!(libc::SYS_rt_sigprocmask, libc::SIG_BLOCK, 0usize, &mut old as *mut libc::sigset_t, 8) };
    old
}

/// The calling thread's signal mask: virtual for a green thread, the kernel's for the root.
///
/// # Safety
/// `h` must be the calling OS thread's hub.
pub unsafe fn current_mask(h: *mut crate::hub::Hub) -> libc::sigset_t {
    // SAFETY: h is this thread's hub; current is live.
    unsafe {
        let g = crate::hub::current(h);
        if (*g).is_root { kernel_mask() } else { (*g).sigmask }
    }
}

/// Applies `how`/`set` to a green thread's virtual mask. Returns an error number.
fn virtual_sigmask(g: *mut crate::green::Green, how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int {
    // SAFETY: g is the running green thread; set/old are null or the program's sigsets.
    unsafe {
        if !old.is_null() {
            *old = (*g).sigmask;
        }
        let Some(set) = set.as_ref() else { return 0 };
        let m = &mut (*g).sigmask;
        match how {
            libc::SIG_BLOCK | libc::SIG_UNBLOCK => {
                for sig in 1..NSIG as c_int {
                    if libc::sigismember(set, sig) == 1 {
                        if how == libc::SIG_BLOCK {
                            libc::sigaddset(m, sig);
                        } else {
                            libc::sigdelset(m, sig);
                        }
                    }
                }
            }
            libc::SIG_SETMASK => *m = *set,
            _ => return libc::EINVAL,
        }
        // As in the kernel, SIGKILL and SIGSTOP cannot be blocked.
        libc::sigdelset(m, libc::SIGKILL);
        libc::sigdelset(m, libc::SIGSTOP);
    }
    0
}

fn green_running() -> Option<*mut crate::green::Green> {
    let h = crate::hub::local()?;
    // SAFETY: h is this thread's hub.
    let g = unsafe { crate::hub::current(h) };
    // SAFETY: current is live.
    (!unsafe { (*g).is_root }).then_some(g)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_sigmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int {
    match green_running() {
        Some(g) => virtual_sigmask(g, how, set, old),
        // SAFETY: forwarded.
        None => unsafe { real::pthread_sigmask(how, set, old) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigprocmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int {
    match green_running() {
        Some(g) => match virtual_sigmask(g, how, set, old) {
            0 => 0,
            e => {
                crate::sys::set_errno(e);
                -1
            }
        },
        // SAFETY: forwarded.
        None => unsafe { real::sigprocmask(how, set, old) },
    }
}
