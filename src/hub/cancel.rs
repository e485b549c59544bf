//! Thread cancellation and `pthread_exit` for green threads, as glibc does them: a
//! forced unwind (`_Unwind_ForcedUnwind`) that runs `pthread_cleanup_push` handlers and
//! C++ destructors frame by frame, then the thread's exit.
//!
//! glibc's own `__pthread_unwind` cannot be used: it keeps the exception object in the
//! real `struct pthread` (shared by every green thread on the OS thread), and at the end
//! of the stack it longjmps to the OS thread's `start_thread`. So the shim runs its own
//! unwind with the same stop function as glibc's `unwind_stop`, with two differences:
//! the exception object is the green thread's, and when the unwind reaches the frame
//! that called the start routine ([`Green::unwind_base`]) the thread finishes there
//! (thread-local destructors, key destructors, result) and its stack is abandoned, as
//! with any exit. The handler chains (`cleanup_jmp_buf`, `cleanup`) live in the green
//! thread's own copy of the control block (green::tls), where glibc's macros put them;
//! a C handler continues the unwind with `__pthread_unwind_next`, which the shim hooks.
//!
//! Cancellation points: a hook that is one brackets its work with [`enter`] and
//! [`leave`]. `enter` acts on a pending request; while inside, a park for a
//! cancellable reason ends (or is skipped) with `Wake::Interrupted` when a request comes,
//! the hook's ordinary interrupted path undoes its registrations (a condvar wait retakes
//! its mutex), and `leave` acts. Needs per-green TLS (`GREENSHIM_TLS=per-green`).

use super::{Hub, current, local};
use crate::green::cancel::{ASYNC, DISABLED, EXITING, PENDING, UnwindException, due};
use crate::green::{Green, Reason, State, Wake, tls};
use core::ffi::{c_int, c_void};
use core::sync::atomic::Ordering;

type StopFn = unsafe extern "C" fn(c_int, c_int, u64, *mut UnwindException, *mut c_void, *mut c_void) -> c_int;

unsafe extern "C" {
    fn _Unwind_ForcedUnwind(exc: *mut UnwindException, stop: StopFn, param: *mut c_void) -> c_int;
    fn _Unwind_GetCFA(ctx: *mut c_void) -> usize;
    fn longjmp(env: *mut c_void, val: c_int) -> !;
}

const UA_END_OF_STACK: c_int = 16;
/// `PTHREAD_CANCELED`.
pub const CANCELED: *mut c_void = usize::MAX as *mut c_void;
/// `struct pthread_unwind_buf`: the jmp_buf (8 words, then `mask_was_saved`), then
/// `priv.data.prev` and `priv.data.cleanup`.
const JB_RSP: usize = 6 * 8;
const BUF_PREV: usize = 72;
const BUF_CLEANUP: usize = 80;
/// `struct _pthread_cleanup_buffer`: routine, arg, canceltype, prev.
const CB_PREV: usize = 24;
/// tcbhead_t.pointer_guard.
const POINTER_GUARD: usize = 0x30;

/// Whether green threads can be cancelled and unwound here (their handler chains are
/// their own only with per-green TLS).
pub fn supported() -> bool {
    tls::enabled() && tls::cleanup_fields().0 != 0
}

/// The running green thread (not the root), when the caller owns the hub.
#[inline]
pub fn current_green() -> Option<(*mut Hub, *mut Green)> {
    let h = local()?;
    // SAFETY: h is this thread's hub; current is live.
    let g = unsafe { current(h) };
    // SAFETY: g is live.
    if unsafe { (*g).is_root } { None } else { Some((h, g)) }
}

/// Reasons whose park is a cancellation point (never an offloaded call: its worker
/// writes into the parked frame).
pub fn cancellable(r: Reason) -> bool {
    matches!(
        r,
        Reason::Read | Reason::Write | Reason::Accept | Reason::Connect | Reason::Poll | Reason::Sleep | Reason::Condvar
            | Reason::Semaphore | Reason::Join | Reason::Signal | Reason::TimedWait
    )
}

/// Called by `hub::park` before it switches: whether this park must not happen because
/// a cancellation is to be acted on (the caller then sees `Interrupted`).
///
/// # Safety
/// `g` is the running thread.
#[inline]
pub unsafe fn skip_park(g: *mut Green, reason: Reason) -> bool {
    // SAFETY: g is the running thread.
    unsafe {
        if (*g).at_point == 0 || !cancellable(reason) || !due((*g).cancel.load(Ordering::Acquire)) {
            return false;
        }
        (*g).cancel_woke = true;
        true
    }
}

/// Called by `hub::park` after the thread woke.
///
/// # Safety
/// `g` is the running thread.
#[inline]
pub unsafe fn after_park(g: *mut Green, why: Wake) {
    // SAFETY: g is the running thread.
    unsafe {
        if why == Wake::Interrupted && (*g).at_point != 0 && due((*g).cancel.load(Ordering::Acquire)) {
            (*g).cancel_woke = true;
        }
    }
}

/// Whether the running green thread's last park at a cancellation point ended for a
/// cancellation (its point will act on it).
pub fn woke() -> bool {
    // SAFETY: g is the running green thread.
    current_green().is_some_and(|(_, g)| unsafe { (*g).cancel_woke })
}

/// Start of a cancellation point: acts on a pending request, else marks the thread
/// inside one. Returns the thread it marked (null: none; pass it to [`leave`]).
#[inline]
pub fn enter() -> *mut Green {
    let Some((h, g)) = current_green() else { return core::ptr::null_mut() };
    // SAFETY: g is the running green thread.
    unsafe {
        if due((*g).cancel.load(Ordering::Acquire)) && supported() {
            act(h, g);
        }
        (*g).at_point += 1;
    }
    g
}

/// End of a cancellation point: acts if its wait ended for a cancellation.
#[inline]
pub fn leave(g: *mut Green) {
    if g.is_null() {
        return;
    }
    // SAFETY: g is the running green thread (the one `enter` marked, on its own stack).
    unsafe {
        (*g).at_point -= 1;
        if (*g).cancel_woke {
            (*g).cancel_woke = false;
            if due((*g).cancel.load(Ordering::Acquire)) {
                if let Some((h, _)) = current_green() {
                    act(h, g);
                }
            }
        }
    }
}

/// Runs `f` as a cancellation point.
#[inline]
pub fn point<R>(f: impl FnOnce() -> R) -> R {
    let g = enter();
    let r = f();
    leave(g);
    r
}

/// After `sched_yield`: the asynchronous type acts on a request that came while the
/// thread waited its turn (natively it would have acted wherever the thread was).
pub fn after_yield() {
    if let Some((h, g)) = current_green() {
        // SAFETY: g is the running green thread.
        unsafe {
            let c = (*g).cancel.load(Ordering::Acquire);
            if c & ASYNC != 0 && due(c) && supported() {
                act(h, g);
            }
        }
    }
}

/// `pthread_testcancel`.
pub fn test() {
    if let Some((h, g)) = current_green() {
        // SAFETY: g is the running green thread.
        if unsafe { due((*g).cancel.load(Ordering::Acquire)) } && supported() {
            // SAFETY: as above.
            unsafe { act(h, g) };
        }
    }
}

/// Acts on a cancellation: exit with `PTHREAD_CANCELED`.
unsafe fn act(h: *mut Hub, g: *mut Green) -> ! {
    // SAFETY: forwarded.
    unsafe { exit(h, g, CANCELED) }
}

/// `pthread_cancel` on green thread `g` (alive). Returns 0, or ENOTSUP without per-green TLS.
///
/// # Safety
/// `g` is a green control block.
pub unsafe fn request(g: *mut Green) -> c_int {
    if !supported() {
        crate::warn!("pthread_cancel on a green thread needs GREENSHIM_TLS=per-green (ENOTSUP)");
        return libc::ENOTSUP;
    }
    // SAFETY: g is a control block (never freed).
    unsafe {
        let old = (*g).cancel.fetch_or(PENDING, Ordering::AcqRel);
        if old & (PENDING | EXITING) != 0 || (*g).state == State::Exited {
            return 0;
        }
        if old & DISABLED != 0 {
            return 0;
        }
        match current_green() {
            Some((h, me)) if me == g => {
                if old & ASYNC != 0 {
                    act(h, g);
                }
            }
            _ => {
                // Parked at a cancellation point (either type: a green thread only
                // stops in hooks): end its wait; it acts when it leaves the point.
                if (*g).state == State::Parked && (*g).at_point != 0 && cancellable((*g).reason) {
                    super::try_wake(g, (*g).park_gen, Wake::Interrupted);
                }
            }
        }
    }
    0
}

/// `pthread_setcancelstate` for the running green thread.
pub fn set_state(state: c_int, old: *mut c_int) -> c_int {
    set_flag(DISABLED, state, PTHREAD_CANCEL_DISABLE, PTHREAD_CANCEL_ENABLE, old)
}

/// `pthread_setcanceltype` for the running green thread.
pub fn set_type(kind: c_int, old: *mut c_int) -> c_int {
    set_flag(ASYNC, kind, PTHREAD_CANCEL_ASYNCHRONOUS, PTHREAD_CANCEL_DEFERRED, old)
}

const PTHREAD_CANCEL_ENABLE: c_int = 0;
const PTHREAD_CANCEL_DISABLE: c_int = 1;
const PTHREAD_CANCEL_DEFERRED: c_int = 0;
const PTHREAD_CANCEL_ASYNCHRONOUS: c_int = 1;

fn set_flag(bit: u32, v: c_int, on: c_int, off: c_int, old: *mut c_int) -> c_int {
    if v != on && v != off {
        return libc::EINVAL;
    }
    let Some((h, g)) = current_green() else { return -1 };
    // SAFETY: g is the running green thread; old is null or the program's int.
    unsafe {
        let prev = if v == on { (*g).cancel.fetch_or(bit, Ordering::AcqRel) } else { (*g).cancel.fetch_and(!bit, Ordering::AcqRel) };
        if !old.is_null() {
            *old = if prev & bit != 0 { on } else { off };
        }
        // As glibc: enabling (or switching to asynchronous) with a request pending and
        // the asynchronous type acts at once.
        let now = (*g).cancel.load(Ordering::Acquire);
        if now & ASYNC != 0 && due(now) && supported() {
            act(h, g);
        }
    }
    0
}

/// Reads the word at `off` from the green thread's control block copy.
unsafe fn tcb_word(g: *mut Green, off: usize) -> usize {
    // SAFETY: per-green TLS is on (supported), so g has an area; off is a measured field.
    unsafe { *(((*g).tls.as_ref().expect("tls area").tp + off) as *const usize) }
}

/// `pthread_exit` from green thread `g` (running): unwinds its stack, running cleanup
/// handlers and destructors, then finishes it with `retval`. Without unwind support (or
/// if the unwinder cannot walk the stack) the thread finishes at once.
///
/// # Safety
/// `g` is the running green thread of hub `h`.
pub unsafe fn exit(h: *mut Hub, g: *mut Green, retval: *mut c_void) -> ! {
    // SAFETY: as documented.
    unsafe {
        (*g).cancel.fetch_or(EXITING, Ordering::AcqRel);
        (*g).exit_value = retval;
        if !supported() || (*g).unwind_base == 0 {
            crate::sync::loader::release_all();
            super::exit_green(h, retval);
        }
        let target = tcb_word(g, tls::cleanup_fields().0);
        unwind(h, g, target)
    }
}

/// `__pthread_unwind_next`: a C cleanup handler ran; continue with the outer buffer.
///
/// # Safety
/// `buf` is the program's `__pthread_unwind_buf_t` being unwound; `g` is running.
pub unsafe fn unwind_next(h: *mut Hub, g: *mut Green, buf: usize) -> ! {
    // SAFETY: as documented.
    unsafe { unwind(h, g, *((buf + BUF_PREV) as *const usize)) }
}

unsafe extern "C" fn not_rethrown(_: i32, _: *mut UnwindException) {
    // As glibc's unwind_cleanup: a C++ catch(...) swallowed the forced unwind.
    crate::sys::write_all_stderr(b"FATAL: exception not rethrown\n");
    // SAFETY: abort never returns.
    unsafe { libc::abort() }
}

unsafe fn unwind(h: *mut Hub, g: *mut Green, target: usize) -> ! {
    // SAFETY: g is running; its exception object lives in its control block.
    unsafe {
        (*g).exc = UnwindException { class: 0, cleanup: Some(not_rethrown), private: [0; 2] };
        _Unwind_ForcedUnwind(&mut (*g).exc, stop, target as *mut c_void);
        // The unwinder could not walk the stack: finish without it.
        crate::sync::loader::release_all();
        super::exit_green(h, (*g).exit_value)
    }
}

/// glibc's `unwind_stop` for a green stack: runs old-style handlers the frame leaves,
/// longjmps into the innermost `pthread_cleanup_push` frame once reached, and finishes
/// the thread at the start routine's caller.
unsafe extern "C" fn stop(_v: c_int, actions: c_int, _class: u64, _exc: *mut UnwindException, ctx: *mut c_void, param: *mut c_void) -> c_int {
    let Some((h, g)) = current_green() else { return 0 };
    let buf = param as usize;
    // SAFETY: ctx is the unwinder's live context; buf is 0 or a registered
    // pthread_unwind_buf on this stack; the handler lists are in g's control block.
    unsafe {
        let cfa = _Unwind_GetCFA(ctx);
        // Loader locks taken by hook frames the unwind leaves (a constructor that exits).
        crate::sync::loader::release_unwound(cfa);
        let at_base = actions & UA_END_OF_STACK != 0 || cfa >= (*g).unwind_base;
        let jump = buf != 0 && {
            let guard = tcb_word(g, POINTER_GUARD);
            let sp = (*((buf + JB_RSP) as *const usize)).rotate_right(17) ^ guard;
            cfa >= sp || at_base
        };
        let old_off = tls::cleanup_fields().1;
        if old_off != 0 {
            let mut curp = tcb_word(g, old_off);
            let oldp = if buf != 0 { *((buf + BUF_CLEANUP) as *const usize) } else { 0 };
            let mut ran = false;
            while curp != 0 && curp != oldp && (jump || at_base || curp < cfa) {
                let next = *((curp + CB_PREV) as *const usize);
                let routine = *(curp as *const Option<unsafe extern "C" fn(*mut c_void)>);
                if let Some(f) = routine {
                    f(*((curp + 8) as *const *mut c_void));
                }
                curp = next;
                ran = true;
            }
            if ran {
                *(((*g).tls.as_ref().expect("tls area").tp + old_off) as *mut usize) = curp;
            }
        }
        if jump {
            longjmp(buf as *mut c_void, 1);
        }
        if at_base {
            super::exit_green(h, (*g).exit_value);
        }
    }
    0
}
