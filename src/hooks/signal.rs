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
/// Handlers run so far: the root remembers the count when it parks, and is interrupted
/// when it moves.
static COUNT: AtomicU64 = AtomicU64::new(0);

/// Number of handler runs so far.
pub fn count() -> u64 {
    COUNT.load(Ordering::Acquire)
}

extern "C" fn trampoline(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let n = sig as usize;
    if n >= NSIG {
        return;
    }
    let h = USER_HANDLER[n].load(Ordering::Acquire);
    let flags = USER_FLAGS[n].load(Ordering::Acquire);
    if h > 1 {
        // While the handler runs, hooks pass straight through (hub::local is None).
        let recorded = crate::hub::handler_enter();
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
        crate::hub::handler_exit(recorded);
    }
    PENDING.fetch_or(1 << n, Ordering::AcqRel);
    COUNT.fetch_add(1, Ordering::AcqRel);
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

/// The root's kernel mask as last read, valid while ROOT_MASK_VALID: pthread_create
/// copies it into every green thread, and a syscall per create would be a third of its
/// cost. Every mask change the root makes goes through the hooks below, which invalidate.
struct MaskCache(core::cell::UnsafeCell<libc::sigset_t>);
// SAFETY: only the hub thread reads or writes it (pthread_create and the mask hooks on
// the hub's root).
unsafe impl Sync for MaskCache {}
// SAFETY: an all-zero sigset_t is the empty set.
static ROOT_MASK: MaskCache = MaskCache(core::cell::UnsafeCell::new(unsafe { core::mem::zeroed() }));
static ROOT_MASK_VALID: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The calling thread's signal mask: virtual for a green thread, the kernel's for the root.
///
/// # Safety
/// `h` must be the calling OS thread's hub.
pub unsafe fn current_mask(h: *mut crate::hub::Hub) -> libc::sigset_t {
    // SAFETY: h is this thread's hub; current is live; the cache is hub-thread only.
    unsafe {
        let g = crate::hub::current(h);
        if !(*g).is_root {
            return (*g).sigmask;
        }
        if !ROOT_MASK_VALID.load(Ordering::Relaxed) {
            *ROOT_MASK.0.get() = kernel_mask();
            ROOT_MASK_VALID.store(true, Ordering::Relaxed);
        }
        *ROOT_MASK.0.get()
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
    let h = crate::hub::local_identity()?;
    // SAFETY: h is this thread's hub.
    let g = unsafe { crate::hub::current(h) };
    // SAFETY: current is live.
    (!unsafe { (*g).is_root }).then_some(g)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_sigmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int {
    match green_running() {
        Some(g) => virtual_sigmask(g, how, set, old),
        None => {
            ROOT_MASK_VALID.store(false, Ordering::Relaxed);
            // SAFETY: forwarded.
            unsafe { real::pthread_sigmask(how, set, old) }
        }
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
        None => {
            ROOT_MASK_VALID.store(false, Ordering::Relaxed);
            // SAFETY: forwarded.
            unsafe { real::sigprocmask(how, set, old) }
        }
    }
}

// ---- waiting for signals -----------------------------------------------------------------

/// Parks the root until a signal handler runs (counted from `baseline`).
fn park_root_until_signal(h: *mut crate::hub::Hub, baseline: u64) {
    // SAFETY: h is this thread's hub and the caller is its root.
    unsafe {
        (*h).signal_baseline = Some(baseline);
        let (g, generation) = crate::hub::prepare_park(h);
        crate::hub::park(h, g, generation, None, crate::green::Reason::Signal);
    }
}

fn root_hub() -> Option<*mut crate::hub::Hub> {
    let h = crate::hub::local()?;
    // SAFETY: h is this thread's hub.
    unsafe { (*crate::hub::current(h)).is_root }.then_some(h)
}

/// Green threads other than main parked in `pause`/`sigsuspend` (hub thread only), with
/// the mask `sigsuspend` waits under. A process-directed signal goes to the main thread
/// (the hub's OS thread, whose mask is main's), so these wake only for a signal sent to
/// them with `pthread_kill` that has a handler and that their mask lets through.
struct Pausers(core::cell::UnsafeCell<Vec<(*mut crate::green::Green, u64, Option<libc::sigset_t>)>>);
// SAFETY: only touched from the hub's OS thread.
unsafe impl Sync for Pausers {}
static PAUSERS: Pausers = Pausers(core::cell::UnsafeCell::new(Vec::new()));

/// Parks a green thread other than main until `wake_paused` picks it.
fn park_pauser(h: *mut crate::hub::Hub, mask: Option<libc::sigset_t>) {
    // SAFETY: hub thread; the entry is removed before this frame returns.
    unsafe {
        let (g, generation) = crate::hub::prepare_park(h);
        (*PAUSERS.0.get()).push((g, generation, mask));
        crate::hub::park(h, g, generation, None, crate::green::Reason::Signal);
        (*PAUSERS.0.get()).retain(|p| p.0 != g);
    }
}

/// `pthread_kill(t, sig)` was delivered for green thread `g`: if it is paused and `sig`
/// has a handler its mask does not block, its `pause`/`sigsuspend` returns EINTR.
pub fn wake_paused(g: *mut crate::green::Green, sig: c_int) {
    if sig <= 0 || sig as usize >= NSIG || USER_HANDLER[sig as usize].load(Ordering::Acquire) <= 1 {
        return;
    }
    // SAFETY: hub thread (pthread_kill runs in a green thread of this hub).
    unsafe {
        let list = &*PAUSERS.0.get();
        if let Some(&(_, generation, mask)) = list.iter().find(|p| p.0 == g) {
            if mask.is_some_and(|m| libc::sigismember(&m, sig) == 1) {
                return;
            }
            crate::hub::try_wake(g, generation, crate::green::Wake::Interrupted);
        }
    }
}

/// In a forked child only the forking thread exists.
pub fn after_fork_child() {
    // SAFETY: single-threaded child, before any other code runs.
    unsafe { (*PAUSERS.0.get()).clear() };
}

/// `pause`: park until a handler runs (main thread) or a signal is sent to this thread
/// (others); then -1/EINTR as natively.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pause() -> c_int {
    match (root_hub(), crate::hub::local()) {
        (Some(h), _) => park_root_until_signal(h, count()),
        (None, Some(h)) => park_pauser(h, None),
        // SAFETY: no arguments.
        (None, None) => return crate::sys::encode(unsafe { crate::sys::sc!(libc::SYS_pause) }) as c_int,
    }
    crate::sys::set_errno(libc::EINTR);
    -1
}

/// `sigsuspend`: on the main thread, swap the kernel mask and park until a handler runs.
/// The baseline is taken before the mask changes, so a signal the new mask lets through
/// at once still counts. Other green threads park until `wake_paused`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigsuspend(mask: *const libc::sigset_t) -> c_int {
    let Some(h) = root_hub() else {
        if let (Some(h), false) = (crate::hub::local(), mask.is_null()) {
            // SAFETY: the program's sigset.
            park_pauser(h, Some(unsafe { *mask }));
            crate::sys::set_errno(libc::EINTR);
            return -1;
        }
        // SAFETY: the program's own mask.
        return crate::sys::encode(unsafe { crate::sys::sc!(libc::SYS_rt_sigsuspend, mask, 8) }) as c_int;
    };
    let baseline = count();
    // SAFETY: a zeroed sigset_t is valid; mask is the program's sigset.
    let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
    ROOT_MASK_VALID.store(false, Ordering::Relaxed);
    // SAFETY: as above.
    unsafe { real::pthread_sigmask(libc::SIG_SETMASK, mask, &mut old) };
    if count() == baseline {
        park_root_until_signal(h, baseline);
    }
    // SAFETY: restoring the mask saved above.
    unsafe { real::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut()) };
    crate::sys::set_errno(libc::EINTR);
    -1
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __sigsuspend(mask: *const libc::sigset_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { sigsuspend(mask) }
}

/// glibc's common body of the `sigpause` forms: wait with `sig` removed from the
/// current mask (`is_sig`), or with the old BSD mask word.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __sigpause(sig_or_mask: c_int, is_sig: c_int) -> c_int {
    // SAFETY: a zeroed sigset_t is valid; pthread_sigmask (the hook) reads the calling
    // thread's mask.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    unsafe {
        if is_sig != 0 {
            pthread_sigmask(libc::SIG_BLOCK, core::ptr::null(), &mut set);
            if libc::sigdelset(&mut set, sig_or_mask) != 0 {
                return -1;
            }
        } else {
            libc::sigemptyset(&mut set);
            for n in 1..32 {
                if sig_or_mask & (1 << (n - 1)) != 0 {
                    libc::sigaddset(&mut set, n);
                }
            }
        }
        sigsuspend(&set)
    }
}

/// The BSD form: the argument is a mask word.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigpause(mask: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { __sigpause(mask, 0) }
}

/// The X/Open form `<signal.h>` maps `sigpause` to: the argument is a signal.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __xpg_sigpause(sig: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { __sigpause(sig, 1) }
}

/// sigwait family: a signalfd for the awaited (blocked) signals, parked on like any fd.
/// Returns the signal number, or Err(errno).
fn wait_signal(set: *const libc::sigset_t, info: *mut libc::siginfo_t, timeout: Option<u64>) -> Result<c_int, crate::sys::Errno> {
    use crate::fd::{io as fio, table};
    use crate::green::Wake;
    use crate::sys::{self, Errno, sc};
    let h = crate::hub::local().expect("caller checked the hub");
    // SAFETY: set is the program's sigset; the kernel copies it.
    let fd = unsafe { sc!(libc::SYS_signalfd4, -1isize, set, 8, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) }? as i32;
    table::created(fd, table::Kind::Pollable, false);
    let deadline = timeout.map(|t| sys::now_ns().saturating_add(t));
    let result = loop {
        // SAFETY: a zeroed signalfd_siginfo is valid; read fills it.
        let mut si: libc::signalfd_siginfo = unsafe { core::mem::zeroed() };
        // SAFETY: reads one record into si.
        match unsafe { sc!(libc::SYS_read, fd, &mut si as *mut libc::signalfd_siginfo, core::mem::size_of::<libc::signalfd_siginfo>()) } {
            Ok(_) => {
                if !info.is_null() {
                    // SAFETY: info is the program's siginfo; fill the common fields.
                    unsafe {
                        core::ptr::write_bytes(info as *mut u8, 0, core::mem::size_of::<libc::siginfo_t>());
                        let raw = info as *mut i32;
                        *raw = si.ssi_signo as i32; // si_signo
                        *raw.add(1) = si.ssi_errno; // si_errno
                        *raw.add(2) = si.ssi_code; // si_code
                        *raw.add(4) = si.ssi_pid as i32; // si_pid
                        *raw.add(5) = si.ssi_uid as i32; // si_uid
                    }
                }
                break Ok(si.ssi_signo as c_int);
            }
            Err(Errno::EAGAIN) => {}
            Err(e) => break Err(e),
        }
        if deadline.is_some_and(|d| sys::now_ns() >= d) {
            break Err(Errno::EAGAIN);
        }
        let Some(e) = table::slot(fd) else { break Err(Errno::EBADF) };
        match fio::park_on(h, fd, e, fio::Dir::Read, deadline, crate::green::Reason::Signal) {
            Ok(Wake::Timeout) => break Err(Errno::EAGAIN),
            Ok(Wake::Interrupted) => break Err(Errno::EINTR),
            Ok(_) => {}
            Err(e) => break Err(e),
        }
    };
    table::closing(fd);
    let _ = sys::close(fd);
    result
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigwait(set: *const libc::sigset_t, sig: *mut c_int) -> c_int {
    if crate::hub::local().is_none() {
        // SAFETY: forwarded.
        return unsafe { real::sigwait(set, sig) };
    }
    loop {
        match wait_signal(set, core::ptr::null_mut(), None) {
            Ok(s) => {
                // SAFETY: the program's out-parameter.
                unsafe { *sig = s };
                return 0;
            }
            Err(e) if e.0 == libc::EINTR => continue,
            Err(e) => return e.0,
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigtimedwait(set: *const libc::sigset_t, info: *mut libc::siginfo_t, ts: *const libc::timespec) -> c_int {
    if crate::hub::local().is_none() {
        // SAFETY: forwarded.
        return unsafe { real::sigtimedwait(set, info, ts) };
    }
    // SAFETY: ts is null or the program's timespec.
    let timeout = unsafe { ts.as_ref() }.map(crate::sys::ts_to_ns);
    match wait_signal(set, info, timeout) {
        Ok(s) => s,
        Err(e) => {
            e.set();
            -1
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigwaitinfo(set: *const libc::sigset_t, info: *mut libc::siginfo_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { sigtimedwait(set, info, core::ptr::null()) }
}
