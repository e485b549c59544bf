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

/// Handler runs on hub 0's thread (or a thread of no hub): those that can interrupt
/// the main thread's wait. Hubs beyond the first take only signals directed at one of
/// their threads, which must not end main's call.
static MAIN_COUNT: AtomicU64 = AtomicU64::new(0);

/// Number of handler runs so far.
pub fn count() -> u64 {
    COUNT.load(Ordering::Acquire)
}

/// Number of handler runs that count for the main thread (see `MAIN_COUNT`).
pub fn main_count() -> u64 {
    MAIN_COUNT.load(Ordering::Acquire)
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
    if !crate::hub::on_extra_hub() {
        PENDING.fetch_or(1 << n, Ordering::AcqRel);
        MAIN_COUNT.fetch_add(1, Ordering::AcqRel);
    }
    COUNT.fetch_add(1, Ordering::AcqRel);
}

/// Forgets handlers that ran before the root parked (a signal that arrives before a
/// blocking call starts does not interrupt it, natively either).
pub fn clear_pending() {
    PENDING.store(0, Ordering::Relaxed);
}

/// Takes the record: None if no handler ran, else whether every handler that ran was
/// installed with SA_RESTART. The flags are the kernel's, read now: whatever API set
/// them (`siginterrupt`, a library's own `sigaction`), the kernel's decides, as natively.
pub fn take_pending() -> Option<bool> {
    if PENDING.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let bits = PENDING.swap(0, Ordering::AcqRel);
    if bits == 0 {
        return None;
    }
    let mut restart = true;
    for n in 1..NSIG {
        if bits & (1 << n) != 0 && !kernel_restarts(n as c_int) {
            restart = false;
        }
    }
    Some(restart)
}

/// Whether the kernel's action for `sig` carries SA_RESTART.
fn kernel_restarts(sig: c_int) -> bool {
    // SAFETY: a zeroed kernel sigaction is a valid out-buffer; a null new action only reads.
    let mut k: [usize; 4] = [0; 4];
    // SAFETY: as above; the kernel's struct is handler, flags, restorer, mask (8 bytes).
    match unsafe { crate::sys::sc!(libc::SYS_rt_sigaction, sig, 0usize, k.as_mut_ptr(), 8) } {
        Ok(_) => k[1] as c_int & libc::SA_RESTART != 0,
        Err(_) => USER_FLAGS[sig as usize].load(Ordering::Relaxed) & libc::SA_RESTART != 0,
    }
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

/// The program's action for the signal the shim owns (hog watchdog), kept here instead
/// of in the kernel: (handler or SIG_DFL/SIG_IGN, flags, mask).
static OWNED_LOCK: crate::sys::SpinLock = crate::sys::SpinLock::new();
struct OwnedAction(core::cell::UnsafeCell<Option<libc::sigaction>>);
// SAFETY: accessed under OWNED_LOCK only (never from a handler).
unsafe impl Sync for OwnedAction {}
static OWNED_ACTION: OwnedAction = OwnedAction(core::cell::UnsafeCell::new(None));

/// The shim has taken `sig` (kernel action replaced): `old` is what the program had.
pub fn adopt_program_action(sig: c_int, old: &libc::sigaction) {
    let mut a = *old;
    if a.sa_sigaction == trampoline as *const () as usize {
        a.sa_sigaction = USER_HANDLER[sig as usize].load(Ordering::Acquire);
        a.sa_flags = USER_FLAGS[sig as usize].load(Ordering::Acquire);
    } else {
        USER_HANDLER[sig as usize].store(a.sa_sigaction, Ordering::Release);
        USER_FLAGS[sig as usize].store(a.sa_flags, Ordering::Release);
    }
    OWNED_LOCK.lock();
    // SAFETY: under the lock.
    unsafe { *OWNED_ACTION.0.get() = Some(a) };
    OWNED_LOCK.unlock();
}

/// `sigaction` on the signal the shim owns: the program's action is recorded and
/// reported, the kernel's stays the shim's.
fn owned_sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    OWNED_LOCK.lock();
    // SAFETY: under the lock; act and old are the program's pointers (null or valid).
    unsafe {
        let cur = &mut *OWNED_ACTION.0.get();
        if let Some(o) = old.as_mut() {
            *o = cur.unwrap_or_else(|| core::mem::zeroed());
        }
        if let Some(a) = act.as_ref() {
            *cur = Some(*a);
            USER_FLAGS[sig as usize].store(a.sa_flags, Ordering::Release);
            USER_HANDLER[sig as usize].store(a.sa_sigaction, Ordering::Release);
        }
    }
    OWNED_LOCK.unlock();
    0
}

/// A signal on the owned number that the shim did not send: what the program's action
/// would have done. Runs in the signal handler.
pub fn forward_owned(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let h = USER_HANDLER[sig as usize].load(Ordering::Acquire);
    if h == libc::SIG_IGN {
        return;
    }
    if h == libc::SIG_DFL && crate::selfdump::request() {
        return; // a dump request (see selfdump)
    }
    if h == libc::SIG_DFL {
        // The default action of a real-time signal ends the process: restore it and
        // send the signal again; it is delivered when this handler returns.
        let dfl: [usize; 4] = [0; 4];
        // SAFETY: a kernel sigaction with SIG_DFL; raw syscalls only.
        unsafe {
            let _ = crate::sys::sc!(libc::SYS_rt_sigaction, sig, dfl.as_ptr(), 0usize, 8);
            let _ = crate::sys::sc!(libc::SYS_tgkill, crate::sys::getpid(), crate::sys::gettid(), sig);
        }
        return;
    }
    trampoline(sig, info, ctx);
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    if sig != 0 && sig == crate::hog::owned_signal() {
        return owned_sigaction(sig, act, old);
    }
    if sig == libc::SIGSYS {
        // Under GREENSHIM_RAW the kernel's SIGSYS action is the shim's; the program's is
        // kept (and obeyed) by crate::raw.
        if let Some(r) = crate::raw::program_sigaction(act, old) {
            return r;
        }
    }
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
        // The shim's stack-overflow reporter is not the program's: SIGSEGV shows its
        // default action until the program installs its own.
        // SAFETY: old is null or the program's out-parameter, just filled.
        if let Some(o) = unsafe { old.as_mut() } {
            if sig == libc::SIGSEGV && crate::green::overflow::is_our_handler(o.sa_sigaction) {
                o.sa_sigaction = libc::SIG_DFL;
                o.sa_flags = 0;
                // SAFETY: sa_mask is a valid sigset.
                unsafe { libc::sigemptyset(&mut o.sa_mask) };
            }
        }
    }
    r
}

/// `sigaltstack`: the shim's own alternate stack (for reporting green-stack overflows)
/// reads as none, as natively; a stack the program installs replaces it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigaltstack(ss: *const libc::stack_t, old: *mut libc::stack_t) -> c_int {
    // SAFETY: the program's own arguments.
    let r = unsafe { crate::sys::sc!(libc::SYS_sigaltstack, ss, old) };
    if r.is_ok() {
        // SAFETY: old is null or the program's out-parameter, just filled.
        if let Some(o) = unsafe { old.as_mut() } {
            if crate::green::overflow::is_our_alt_stack(o.ss_sp) && o.ss_flags & libc::SS_ONSTACK == 0 {
                o.ss_sp = core::ptr::null_mut();
                o.ss_size = 0;
                o.ss_flags = libc::SS_DISABLE;
            }
        }
    }
    crate::sys::encode(r) as c_int
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

// glibc implements the System V and X/Open installers below with its internal
// sigaction, which no interposer sees: each is rebuilt here on the hooked `sigaction`
// (so the handler runs behind the trampoline and the previous handler reported is the
// program's) and the hooked mask calls (so a green thread's `sighold` is its own).

/// Installs `handler` with `flags` and an empty mask; returns the previous handler.
fn install(sig: c_int, handler: libc::sighandler_t, flags: c_int) -> libc::sighandler_t {
    // SAFETY: zeroed sigactions are valid; fields set below.
    let (mut a, mut old): (libc::sigaction, libc::sigaction) = unsafe { (core::mem::zeroed(), core::mem::zeroed()) };
    a.sa_sigaction = handler;
    a.sa_flags = flags;
    // SAFETY: forwarded to the hook with valid structs.
    if unsafe { sigaction(sig, &a, &mut old) } != 0 {
        return libc::SIG_ERR;
    }
    old.sa_sigaction
}

/// `signal()` under `-std=c99` and friends: one-shot, not deferred, not restarted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysv_signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    if handler == libc::SIG_ERR || sig <= 0 || sig as usize >= NSIG {
        crate::sys::set_errno(libc::EINVAL);
        return libc::SIG_ERR;
    }
    install(sig, handler, libc::SA_RESETHAND | libc::SA_NODEFER)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __sysv_signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: forwarded.
    unsafe { sysv_signal(sig, handler) }
}

fn one_signal(sig: c_int) -> Option<libc::sigset_t> {
    // SAFETY: a zeroed sigset_t is valid.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: set is valid.
    (unsafe { libc::sigaddset(&mut set, sig) } == 0).then_some(set)
}

/// Changes the calling thread's mask for one signal (through the hook: virtual for a
/// green thread); returns whether it was blocked before.
fn mask_one(how: c_int, sig: c_int) -> Result<bool, ()> {
    let set = one_signal(sig).ok_or(())?;
    // SAFETY: a zeroed sigset_t is a valid out-buffer.
    let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: forwarded to the hook with valid sets.
    match unsafe { pthread_sigmask(how, &set, &mut old) } {
        // SAFETY: old was filled.
        0 => Ok(unsafe { libc::sigismember(&old, sig) } == 1),
        e => {
            crate::sys::set_errno(e);
            Err(())
        }
    }
}

/// SIG_HOLD in <signal.h>.
const SIG_HOLD: libc::sighandler_t = 2;

/// System V `sigset`: SIG_HOLD blocks the signal; anything else installs it (no
/// SA_RESTART) and unblocks it. Returns SIG_HOLD if the signal was blocked, else the
/// previous handler.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigset(sig: c_int, disp: libc::sighandler_t) -> libc::sighandler_t {
    if sig <= 0 || sig as usize >= NSIG || disp == libc::SIG_ERR {
        crate::sys::set_errno(libc::EINVAL);
        return libc::SIG_ERR;
    }
    if disp == SIG_HOLD {
        let Ok(was_blocked) = mask_one(libc::SIG_BLOCK, sig) else { return libc::SIG_ERR };
        // SAFETY: a zeroed sigaction is a valid out-buffer.
        let mut old: libc::sigaction = unsafe { core::mem::zeroed() };
        // SAFETY: reads the action through the hook.
        if unsafe { sigaction(sig, core::ptr::null(), &mut old) } != 0 {
            return libc::SIG_ERR;
        }
        return if was_blocked { SIG_HOLD } else { old.sa_sigaction };
    }
    let prev = install(sig, disp, 0);
    if prev == libc::SIG_ERR {
        return prev;
    }
    match mask_one(libc::SIG_UNBLOCK, sig) {
        Ok(true) => SIG_HOLD,
        Ok(false) => prev,
        Err(()) => libc::SIG_ERR,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sighold(sig: c_int) -> c_int {
    if mask_one(libc::SIG_BLOCK, sig).is_ok() { 0 } else { -1 }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigrelse(sig: c_int) -> c_int {
    if mask_one(libc::SIG_UNBLOCK, sig).is_ok() { 0 } else { -1 }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigignore(sig: c_int) -> c_int {
    if install(sig, libc::SIG_IGN, 0) == libc::SIG_ERR { -1 } else { 0 }
}

/// `siginterrupt(sig, 1)` drops SA_RESTART from the current action, `(sig, 0)` adds it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn siginterrupt(sig: c_int, interrupt: c_int) -> c_int {
    // SAFETY: a zeroed sigaction is a valid out-buffer.
    let mut a: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: reads and rewrites the action through the hook.
    unsafe {
        if sigaction(sig, core::ptr::null(), &mut a) != 0 {
            return -1;
        }
        if interrupt != 0 {
            a.sa_flags &= !libc::SA_RESTART;
        } else {
            a.sa_flags |= libc::SA_RESTART;
        }
        sigaction(sig, &a, core::ptr::null_mut())
    }
}

// ---- signal masks ----------------------------------------------------------------------
//
// All green threads share one OS thread and so one kernel signal mask. A green thread's
// pthread_sigmask/sigprocmask therefore changes only its own virtual mask (reported back
// consistently); the kernel mask stays the root's. Blocking signals in worker threads
// so that the main thread handles them (CPython's faulthandler watchdog does exactly
// that) then keeps working: had the watchdog's call reached the kernel, it would have
// blocked every signal for the whole process.

/// On the OS thread of a hub beyond the first: blocks every signal a process may be
/// sent, so process-directed signals land on hub 0 (the main thread's, as with one hub);
/// signals the kernel directs at the thread that caused them (faults, SIGPIPE, SIGXFSZ,
/// SIGSYS) stay deliverable. A thread-directed signal for a green thread here is
/// unblocked for its one delivery (see `send_to_green`).
pub fn block_async_signals(keep: c_int) {
    // SAFETY: a zeroed sigset_t is valid; filled below.
    let mut set: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: set is valid.
    unsafe {
        libc::sigfillset(&mut set);
        // `keep`: the hog watchdog's signal, which it directs at each hub thread.
        for s in [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP, libc::SIGSYS, libc::SIGPIPE, libc::SIGXFSZ, keep] {
            if s == 0 {
                continue;
            }
            libc::sigdelset(&mut set, s);
        }
        let _ = crate::sys::sc!(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &set as *const libc::sigset_t, 0usize, 8);
    }
}

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
            let mut m = kernel_mask();
            root_view(&mut m, ROOT_HIDDEN_BLOCKED.load(Ordering::Relaxed));
            *ROOT_MASK.0.get() = m;
            ROOT_MASK_VALID.store(true, Ordering::Relaxed);
        }
        *ROOT_MASK.0.get()
    }
}

/// At start-up, after the raw layer and preemption are set up: a mask inherited across
/// exec that blocks a hidden signal (a parent that blocked every signal) is the
/// program's wish, kept as such; the kernel mask lets the signal through.
pub fn adopt_inherited_mask() {
    let m = kernel_mask();
    let mut wanted = 0u64;
    for sig in hidden_signals() {
        // SAFETY: m is a valid sigset.
        if sig != 0 && unsafe { libc::sigismember(&m, sig) } == 1 {
            wanted |= 1u64 << (sig - 1);
        }
    }
    if wanted != 0 {
        ROOT_HIDDEN_BLOCKED.fetch_or(wanted, Ordering::Relaxed);
        let _ = swap_kernel_mask(&kernel_safe(m));
    }
}

/// The calling thread's mask as the program sees it (hidden signals included), for a
/// new program image or a child that inherits the OS thread's kernel mask. None off a
/// hub (and in a vfork child).
pub fn program_mask() -> Option<libc::sigset_t> {
    let h = crate::hub::local()?;
    // SAFETY: h is this thread's hub.
    Some(unsafe { current_mask(h) })
}

/// Sets the calling OS thread's kernel mask to `m` as given (hidden signals too: for the
/// short span of an exec or a spawn), returning the previous one.
pub fn swap_kernel_mask(m: &libc::sigset_t) -> libc::sigset_t {
    ROOT_MASK_VALID.store(false, Ordering::Relaxed);
    // SAFETY: a zeroed sigset_t is valid.
    let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: valid sets; the kernel copies 8 bytes.
    let _ = unsafe { crate::sys::sc!(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, m as *const libc::sigset_t, &mut old as *mut libc::sigset_t, 8) };
    old
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

/// Signals the program wants blocked in its main thread's mask that the kernel mask of
/// a hub thread never blocks (bit `sig - 1`): SIGSYS under GREENSHIM_RAW (a dispatch
/// SIGSYS while blocked kills the process) and the shim's own signal
/// (`hog::owned_signal`: preemption's ticks and the watchdog's captures must get
/// through; a tick left pending would also be read by a `sigwait` on a full set). Mask
/// queries, and the masks green threads inherit from main, add them back from here.
static ROOT_HIDDEN_BLOCKED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The signals a hub thread's kernel mask never blocks now.
fn hidden_signals() -> [c_int; 2] {
    [if crate::raw::on() { libc::SIGSYS } else { 0 }, crate::hog::owned_signal()]
}

/// A copy of a set the program gives for a hub thread's kernel mask, without the
/// hidden signals (see ROOT_HIDDEN_BLOCKED).
fn kernel_safe(mut s: libc::sigset_t) -> libc::sigset_t {
    for sig in hidden_signals() {
        if sig != 0 {
            // SAFETY: s is a valid sigset.
            unsafe { libc::sigdelset(&mut s, sig) };
        }
    }
    s
}

/// [`kernel_safe`] for a `how`/`set` pair (nothing to remove from an unblocking set).
fn kernel_safe_for(how: c_int, set: *const libc::sigset_t) -> Option<libc::sigset_t> {
    // SAFETY: set is null or the program's sigset.
    let s = *unsafe { set.as_ref() }?;
    Some(if how != libc::SIG_UNBLOCK { kernel_safe(s) } else { s })
}

/// The root's mask change `how`/`set` (valid, about to be applied): what it means for
/// the hidden signals. Returns the ones wanted blocked before.
fn note_root_hidden(how: c_int, set: *const libc::sigset_t) -> u64 {
    let before = ROOT_HIDDEN_BLOCKED.load(Ordering::Relaxed);
    // SAFETY: set is null or the program's sigset.
    let Some(s) = (unsafe { set.as_ref() }) else { return before };
    let mut after = before;
    for sig in hidden_signals() {
        if sig == 0 {
            continue;
        }
        let bit = 1u64 << (sig - 1);
        // SAFETY: s is a valid sigset.
        let member = unsafe { libc::sigismember(s, sig) } == 1;
        match how {
            libc::SIG_BLOCK if member => after |= bit,
            libc::SIG_UNBLOCK if member => after &= !bit,
            libc::SIG_SETMASK if member => after |= bit,
            libc::SIG_SETMASK => after &= !bit,
            _ => {}
        }
    }
    ROOT_HIDDEN_BLOCKED.store(after, Ordering::Relaxed);
    before
}

/// Adds the hidden signals in `wanted` to a mask read from the kernel for the root.
fn root_view(m: &mut libc::sigset_t, wanted: u64) {
    for sig in hidden_signals() {
        if sig != 0 && wanted & (1u64 << (sig - 1)) != 0 {
            // SAFETY: m is a valid sigset.
            unsafe { libc::sigaddset(m, sig) };
        }
    }
}

/// A mask change of main's (the kernel's mask, through `real`, glibc's
/// `pthread_sigmask` or `sigprocmask`): the hidden signals stay out of the kernel's set
/// and in what the program reads back.
fn root_sigmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t, real: impl FnOnce(c_int, *const libc::sigset_t, *mut libc::sigset_t) -> c_int) -> c_int {
    ROOT_MASK_VALID.store(false, Ordering::Relaxed);
    let valid = matches!(how, libc::SIG_BLOCK | libc::SIG_UNBLOCK | libc::SIG_SETMASK) || set.is_null();
    let wanted = if valid { note_root_hidden(how, set) } else { ROOT_HIDDEN_BLOCKED.load(Ordering::Relaxed) };
    let set = kernel_safe_for(how, set);
    let r = real(how, set.as_ref().map_or(core::ptr::null(), |s| s as *const _), old);
    // SAFETY: old is null or the program's out-parameter, just filled.
    if let (0, Some(o)) = (r, unsafe { old.as_mut() }) {
        root_view(o, wanted);
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_sigmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int {
    match green_running() {
        Some(g) => virtual_sigmask(g, how, set, old),
        // SAFETY: forwarded.
        None => root_sigmask(how, set, old, |h, s, o| unsafe { real::pthread_sigmask(h, s, o) }),
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
        None => root_sigmask(how, set, old, |h, s, o| unsafe { real::sigprocmask(h, s, o) }),
    }
}

/// Runs a wait (`f`) under the signal mask a masked wait (`ppoll`, `pselect`,
/// `epoll_pwait*`) was given, then restores the caller's mask, as the kernel does. On
/// the main thread the kernel mask itself is swapped: a pending signal the new mask
/// unblocks is delivered at once and interrupts the wait (the baseline is taken before
/// the swap, as in `sigsuspend`); one it blocks waits until the call returns. Other
/// green threads swap their virtual mask.
pub fn with_wait_mask<R>(mask: *const libc::sigset_t, f: impl FnOnce() -> R) -> R {
    let Some(h) = crate::hub::local() else { return f() };
    if mask.is_null() {
        return f();
    }
    // SAFETY: h is this thread's hub; current is live; mask is the program's sigset.
    unsafe {
        let g = crate::hub::current(h);
        if !(*g).is_root {
            let saved = (*g).sigmask;
            (*g).sigmask = *mask;
            let r = f();
            (*g).sigmask = saved;
            return r;
        }
        let baseline = main_count();
        // SAFETY: a zeroed sigset_t is a valid out-buffer.
        let mut old: libc::sigset_t = core::mem::zeroed();
        ROOT_MASK_VALID.store(false, Ordering::Relaxed);
        let mask = kernel_safe(*mask);
        real::pthread_sigmask(libc::SIG_SETMASK, &mask, &mut old);
        (*h).signal_baseline = Some(baseline);
        let r = f();
        (*h).signal_baseline = None;
        real::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
        r
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
type Pauser = (*mut crate::green::Green, u64, Option<libc::sigset_t>);
static PAUSERS: crate::sys::Shared<Vec<Pauser>> = crate::sys::Shared::new(Vec::new());

/// Parks a green thread other than main until `wake_paused` picks it.
fn park_pauser(h: *mut crate::hub::Hub, mask: Option<libc::sigset_t>) {
    // SAFETY: hub thread; the entry is removed before this frame returns.
    unsafe {
        let (g, generation) = crate::hub::prepare_park(h);
        PAUSERS.with(|v| v.push((g, generation, mask)));
        crate::hub::park(h, g, generation, None, crate::green::Reason::Signal);
        PAUSERS.with(|v| v.retain(|p| p.0 != g));
    }
}

/// `pthread_kill` to green thread `g`: the handler runs on the hub's OS thread (`os`)
/// right away — with `sig` unblocked in the kernel for the moment of delivery if only
/// the main thread's mask blocks it, so that signals sent to different threads are
/// delivered one by one instead of merging into one pending signal. If a handler ran,
/// `g`'s interruptible wait ends with EINTR (or restarts, per the kernel's SA_RESTART),
/// and the main thread, which natively never saw the signal, is not interrupted.
pub fn send_to_green(g: *mut crate::green::Green, sig: c_int, os: libc::pthread_t) -> c_int {
    let Some(h) = crate::hub::local_identity() else {
        // SAFETY: forwarded to a real thread.
        return unsafe { real::pthread_kill(os, sig) };
    };
    // SAFETY: h is this thread's hub; g is a live control block; sets are valid.
    unsafe {
        let h0 = crate::hub::global();
        if h != h0 && g == (*h0).root {
            // The main thread, from another hub: its OS thread takes the signal, as
            // natively, and hub 0 interrupts its wait.
            return real::pthread_kill((*h0).tp as libc::pthread_t, sig);
        }
        let root = (*h).root;
        let target_blocks = !(*g).is_root && sig > 0 && (sig as usize) < NSIG && libc::sigismember(&(*g).sigmask, sig) == 1;
        let before = count();
        let before_main = main_count();
        let only_main_blocks = g != root && !target_blocks && sig > 0 && (sig as usize) < NSIG && libc::sigismember(&kernel_mask(), sig) == 1;
        let r = if let (true, Some(one)) = (only_main_blocks, one_signal(sig)) {
            // SAFETY: a zeroed sigset_t is a valid out-buffer.
            let mut old: libc::sigset_t = core::mem::zeroed();
            let _ = crate::sys::sc!(libc::SYS_rt_sigprocmask, libc::SIG_UNBLOCK, &one as *const libc::sigset_t, &mut old as *mut libc::sigset_t, 8);
            let r = real::pthread_kill(os, sig);
            let _ = crate::sys::sc!(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &old as *const libc::sigset_t, 0usize, 8);
            r
        } else {
            real::pthread_kill(os, sig)
        };
        let ran = count() - before;
        if r != 0 || ran == 0 || g == root {
            return r;
        }
        crate::hub::signals_seen_elsewhere(h, main_count() - before_main);
        if PAUSERS.with(|v| v.iter().any(|p| p.0 == g)) {
            // pause/sigsuspend: ends unless sigsuspend's mask blocks the signal.
            wake_paused(g, sig);
        } else if (*g).state == crate::green::State::Parked {
            let interrupt = match (*g).reason.on_signal() {
                crate::green::OnSignal::Interrupt => true,
                crate::green::OnSignal::InterruptUnlessRestart => !kernel_restarts(sig),
                crate::green::OnSignal::Ignore => false,
            };
            if interrupt {
                crate::hub::try_wake(g, (*g).park_gen, crate::green::Wake::Interrupted);
            }
        }
        r
    }
}

/// `pthread_kill(t, sig)` was delivered for green thread `g`: if it is paused and `sig`
/// has a handler its mask does not block, its `pause`/`sigsuspend` returns EINTR; if it
/// waits on a futex, the wait ends with EINTR as the kernel's would.
pub fn wake_paused(g: *mut crate::green::Green, sig: c_int) {
    if sig <= 0 || sig as usize >= NSIG || USER_HANDLER[sig as usize].load(Ordering::Acquire) <= 1 {
        return;
    }
    // SAFETY: hub thread (pthread_kill runs in a green thread of this hub).
    unsafe {
        if let Some((_, generation, mask)) = PAUSERS.with(|v| v.iter().find(|p| p.0 == g).copied()) {
            if mask.is_some_and(|m| libc::sigismember(&m, sig) == 1) {
                return;
            }
            crate::hub::try_wake(g, generation, crate::green::Wake::Interrupted);
            return;
        }
        // A futex wait ends with EINTR as in the kernel: always when timed, unless the
        // handler has SA_RESTART when not (the kernel restarts it then).
        use crate::green::{Reason, State};
        if (*g).state == State::Parked
            && matches!((*g).reason, Reason::Futex | Reason::FutexTimed)
            && libc::sigismember(&(*g).sigmask, sig) != 1
            && ((*g).reason == Reason::FutexTimed || USER_FLAGS[sig as usize].load(Ordering::Acquire) & libc::SA_RESTART == 0)
        {
            crate::hub::try_wake(g, (*g).park_gen, crate::green::Wake::Interrupted);
        }
    }
}

/// Sets the OS thread's kernel signal mask (a fork child started by a green thread).
pub fn apply_kernel_mask(mask: &libc::sigset_t) {
    ROOT_MASK_VALID.store(false, Ordering::Relaxed);
    let _ = note_root_hidden(libc::SIG_SETMASK, mask);
    let mask = &kernel_safe(*mask);
    // SAFETY: mask is a valid sigset; the kernel copies 8 bytes.
    let _ = unsafe { crate::sys::sc!(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, mask as *const libc::sigset_t, 0usize, 8) };
}

/// In a forked child only the forking thread exists.
pub fn after_fork_child() {
    PAUSERS.after_fork_child();
    PAUSERS.with(|v| v.clear());
}

/// `pause`: park until a handler runs (main thread) or a signal is sent to this thread
/// (others); then -1/EINTR as natively.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pause() -> c_int {
    crate::hub::cancel::point(|| {
        match (root_hub(), crate::hub::local()) {
            (Some(h), _) => park_root_until_signal(h, main_count()),
            (None, Some(h)) => park_pauser(h, None),
            // SAFETY: no arguments.
            (None, None) => return crate::sys::encode(unsafe { crate::sys::sc!(libc::SYS_pause) }) as c_int,
        }
        crate::sys::set_errno(libc::EINTR);
        -1
    })
}

/// `sigsuspend`: on the main thread, swap the kernel mask and park until a handler runs.
/// The baseline is taken before the mask changes, so a signal the new mask lets through
/// at once still counts. Other green threads park until `wake_paused`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigsuspend(mask: *const libc::sigset_t) -> c_int {
    crate::hub::cancel::point(|| {
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
        let baseline = main_count();
        // SAFETY: a zeroed sigset_t is valid; mask is the program's sigset.
        let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
        ROOT_MASK_VALID.store(false, Ordering::Relaxed);
        // SAFETY: mask is null or the program's sigset.
        let mask = unsafe { mask.as_ref() }.map(|m| kernel_safe(*m));
        // SAFETY: as above.
        unsafe { real::pthread_sigmask(libc::SIG_SETMASK, mask.as_ref().map_or(core::ptr::null(), |m| m as *const _), &mut old) };
        if main_count() == baseline {
            park_root_until_signal(h, baseline);
        }
        // SAFETY: restoring the mask saved above.
        unsafe { real::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut()) };
        crate::sys::set_errno(libc::EINTR);
        -1
    })
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
    // Natively the kernel takes an awaited signal for the waiter even if the thread had
    // it unblocked (a handler would otherwise run and the wait never see it): keep the
    // awaited signals blocked for the wait, so they stay pending for the signalfd.
    // SAFETY: a zeroed sigset_t is a valid out-buffer; set is the program's sigset.
    let mut saved: libc::sigset_t = unsafe { core::mem::zeroed() };
    ROOT_MASK_VALID.store(false, Ordering::Relaxed);
    // SAFETY: set is the program's sigset.
    let block = kernel_safe(unsafe { *set });
    // SAFETY: as above.
    let _ = unsafe { crate::sys::sc!(libc::SYS_rt_sigprocmask, libc::SIG_BLOCK, &block as *const libc::sigset_t, &mut saved as *mut libc::sigset_t, 8) };
    let r = wait_signal_blocked(set, info, timeout);
    // Unblock only what this wait blocked: the main thread may have changed its mask
    // while another thread waited.
    // SAFETY: a zeroed sigset_t is valid; set and saved are valid sets.
    unsafe {
        let mut added: libc::sigset_t = core::mem::zeroed();
        for sig in 1..NSIG as c_int {
            if libc::sigismember(set, sig) == 1 && libc::sigismember(&saved, sig) != 1 {
                libc::sigaddset(&mut added, sig);
            }
        }
        ROOT_MASK_VALID.store(false, Ordering::Relaxed);
        let _ = crate::sys::sc!(libc::SYS_rt_sigprocmask, libc::SIG_UNBLOCK, &added as *const libc::sigset_t, 0usize, 8);
    }
    r
}

fn wait_signal_blocked(set: *const libc::sigset_t, info: *mut libc::siginfo_t, timeout: Option<u64>) -> Result<c_int, crate::sys::Errno> {
    use crate::fd::{io as fio, table};
    use crate::green::Wake;
    use crate::sys::{self, Errno, sc};
    let h = crate::hub::local().expect("caller checked the hub");
    let deadline = timeout.map(|t| sys::now_ns().saturating_add(t));
    // SAFETY: set is the program's sigset; the kernel copies it.
    let fd = match unsafe { sc!(libc::SYS_signalfd4, -1isize, set, 8, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) } {
        Ok(fd) => fd as i32,
        // At the fd limit: natively sigwait needs no fd. Poll the pending signals with a
        // zero-timeout sigtimedwait, a millisecond apart.
        Err(e) if e.0 == libc::EMFILE || e.0 == libc::ENFILE => return wait_signal_polling(h, set, info, deadline),
        Err(e) => return Err(e),
    };
    table::created(fd, table::Kind::Pollable, false);
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
                        // si_code; glibc reports tgkill's SI_TKILL (raise) as SI_USER.
                        *raw.add(2) = if si.ssi_code == libc::SI_TKILL { libc::SI_USER } else { si.ssi_code };
                        *raw.add(4) = si.ssi_pid as i32; // si_pid
                        *raw.add(5) = si.ssi_uid as i32; // si_uid
                        // si_value (sigqueue), at offset 24 for queued and user signals.
                        *((info as *mut u8).add(24) as *mut u64) = si.ssi_ptr;
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

/// The sigwait family without a signalfd (see `wait_signal`).
fn wait_signal_polling(h: *mut crate::hub::Hub, set: *const libc::sigset_t, info: *mut libc::siginfo_t, deadline: Option<u64>) -> Result<c_int, crate::sys::Errno> {
    use crate::sys::{self, Errno, sc};
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    loop {
        // SAFETY: set and info are the program's; zero is a valid timespec.
        match unsafe { sc!(libc::SYS_rt_sigtimedwait, set, info, &zero as *const libc::timespec, 8) } {
            Ok(sig) => {
                // As glibc: tgkill's SI_TKILL (raise) reads as SI_USER.
                // SAFETY: info is null or the program's siginfo, just filled.
                if let Some(i) = unsafe { info.as_mut() } {
                    if i.si_code == libc::SI_TKILL {
                        i.si_code = libc::SI_USER;
                    }
                }
                return Ok(sig as c_int);
            }
            Err(Errno::EAGAIN) => {}
            Err(e) => return Err(e),
        }
        let now = sys::now_ns();
        if deadline.is_some_and(|d| now >= d) {
            return Err(Errno::EAGAIN);
        }
        let nap = now.saturating_add(1_000_000);
        // SAFETY: h is this thread's hub.
        if unsafe { crate::hub::sleep_until(h, deadline.map_or(nap, |d| d.min(nap))) } == crate::green::Wake::Interrupted {
            return Err(Errno::EINTR);
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigwait(set: *const libc::sigset_t, sig: *mut c_int) -> c_int {
    crate::hub::cancel::point(|| {
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
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigtimedwait(set: *const libc::sigset_t, info: *mut libc::siginfo_t, ts: *const libc::timespec) -> c_int {
    crate::hub::cancel::point(|| {
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
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sigwaitinfo(set: *const libc::sigset_t, info: *mut libc::siginfo_t) -> c_int {
    crate::hub::cancel::point(|| {
        // SAFETY: forwarded.
        unsafe { sigtimedwait(set, info, core::ptr::null()) }
    })
}
