//! pthread_create and every pthread call that names a thread: green handles are served
//! here, anything else goes to glibc.

use crate::green::{self, Green, Reason, State, StartFn};
use crate::hub;
use crate::sync::{keys, parking_lot};
use crate::sys::{self, real};
use core::ffi::{c_char, c_int, c_void};
use libc::{pthread_attr_t, pthread_t, timespec};

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_create(t: *mut pthread_t, attr: *const pthread_attr_t, start: StartFn, arg: *mut c_void) -> c_int {
    let Some(h) = hub::local() else {
        crate::trace!("pthread_create passes through: no hub on this OS thread");
        // SAFETY: forwarded.
        return unsafe { real::pthread_create(t, attr, start, arg) };
    };
    // SAFETY: h is this thread's hub; attr is null or a valid attribute object.
    unsafe {
        let mut size = (*h).default_stack;
        let mut detached = false;
        let mut program_stack = None;
        if !attr.is_null() {
            // glibc keeps an unset stack size as 0 in the attribute (offset 32 of struct
            // pthread_attr); pthread_attr_getstacksize would report its own default
            // instead, hiding GREENSHIM_STACK_SIZE.
            let raw_size = *((attr as usize + 32) as *const usize);
            if raw_size != 0 {
                size = raw_size;
            }
            // ATTR_FLAG_DETACHSTATE (bit 0 of the flags int at offset 8).
            let flags = *((attr as usize + 8) as *const i32);
            detached = flags & 1 != 0;
            // ATTR_FLAG_STACKADDR (0x8): pthread_attr_setstack gave the stack; glibc
            // keeps its top at offset 24 and its size at 32.
            if flags & 0x8 != 0 {
                let top = *((attr as usize + 24) as *const usize);
                match green::stack::StackMem::program(top.wrapping_sub(raw_size), raw_size) {
                    Some(s) => program_stack = Some(s),
                    None => return libc::EINVAL,
                }
            }
        }
        // The new thread's scheduling: explicit in the attributes (flag
        // ATTR_FLAG_NOTINHERITSCHED 0x2; policy at offset 4, priority at 0), checked with
        // the kernel as pthread_create does; else the creator's.
        let creator = hub::current(h);
        let mut sched = if (*creator).is_root { None } else { (*creator).sched };
        if !attr.is_null() && *((attr as usize + 8) as *const i32) & 0x2 != 0 {
            let (policy, prio) = (*((attr as usize + 4) as *const i32), *(attr as *const i32));
            let r = green::sched::probe(hub_os_thread(), policy, prio);
            if r != 0 {
                return r;
            }
            sched = Some((policy, prio));
        }
        match hub::spawn(h, start, arg, size.max(16 << 10), detached, program_stack, sched, t) {
            Some(_) => 0,
            None => libc::EAGAIN,
        }
    }
}

/// Waits for green thread `g` to exit; `deadline` in monotonic ns.
fn wait_exit(g: *mut Green, deadline: Option<u64>) -> c_int {
    // SAFETY: g is a green control block (never freed).
    let exited = || unsafe { (*g).state == State::Exited };
    while !exited() {
        match parking_lot::park(g as usize, || !exited(), || {}, deadline, Reason::Join) {
            parking_lot::Parked::TimedOut if !exited() => return libc::ETIMEDOUT,
            // A cancellation of the joiner: its cancellation point acts on it.
            parking_lot::Parked::Interrupted if hub::cancel::woke() => return libc::EINTR,
            _ => {}
        }
    }
    0
}

/// Joins a green thread: EDEADLK on self, EINVAL if detached, else waits and reaps.
fn join_green(g: *mut Green, ret: *mut *mut c_void, deadline: Option<u64>, try_only: bool) -> c_int {
    let h = hub::local();
    // SAFETY: g is a green control block; the hub is only touched on its own thread.
    unsafe {
        if h.is_some_and(|h| hub::current(h) == g) {
            return libc::EDEADLK;
        }
        if (*g).state == State::Free {
            return libc::ESRCH;
        }
        if (*g).detached {
            return libc::EINVAL;
        }
        if try_only && (*g).state != State::Exited {
            return libc::EBUSY;
        }
        let r = wait_exit(g, deadline);
        if r != 0 {
            return r;
        }
        if !ret.is_null() {
            *ret = (*g).retval;
        }
        if let Some(h) = h {
            hub::release(h, g);
        } else {
            (*g).detached = true;
        }
    }
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_join(t: pthread_t, ret: *mut *mut c_void) -> c_int {
    // SAFETY: t is a handle the program got from pthread_create/pthread_self.
    match unsafe { green::from_handle(t) } {
        Some(g) => hub::cancel::point(|| join_green(g, ret, None, false)),
        // SAFETY: forwarded.
        None => unsafe { real::pthread_join(t, ret) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_tryjoin_np(t: pthread_t, ret: *mut *mut c_void) -> c_int {
    // SAFETY: as in pthread_join.
    match unsafe { green::from_handle(t) } {
        Some(g) => join_green(g, ret, None, true),
        // SAFETY: forwarded.
        None => unsafe { real::pthread_tryjoin_np(t, ret) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_clockjoin_np(t: pthread_t, ret: *mut *mut c_void, clock: c_int, abs: *const timespec) -> c_int {
    // SAFETY: as in pthread_join; abs is null or a valid timespec.
    match unsafe { green::from_handle(t) } {
        Some(g) => {
            // SAFETY: abs is null or the program's timespec.
            let abs = unsafe { abs.as_ref() };
            if abs.is_some_and(|a| !(0..1_000_000_000).contains(&a.tv_nsec)) {
                return libc::EINVAL;
            }
            hub::cancel::point(|| join_green(g, ret, abs.map(|a| sys::abs_to_monotonic(clock, a)), false))
        }
        // SAFETY: forwarded.
        None => unsafe { real::pthread_clockjoin_np(t, ret, clock, abs) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_timedjoin_np(t: pthread_t, ret: *mut *mut c_void, abs: *const timespec) -> c_int {
    // SAFETY: forwarded.
    unsafe { pthread_clockjoin_np(t, ret, libc::CLOCK_REALTIME, abs) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_detach(t: pthread_t) -> c_int {
    // SAFETY: as in pthread_join.
    match unsafe { green::from_handle(t) } {
        // SAFETY: g is a green control block (never freed); the hub is only touched on its thread.
        Some(g) => unsafe {
            if (*g).state == State::Free {
                return libc::ESRCH;
            }
            if (*g).detached {
                return libc::EINVAL;
            }
            (*g).detached = true;
            if (*g).state == State::Exited {
                if let Some(h) = hub::local() {
                    hub::release(h, g);
                }
            }
            0
        },
        // SAFETY: forwarded.
        None => unsafe { real::pthread_detach(t) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_exit(ret: *mut c_void) -> ! {
    if let Some(h) = hub::local() {
        // SAFETY: h is this thread's hub.
        unsafe {
            let g = hub::current(h);
            if !(*g).is_root {
                hub::cancel::exit(h, g, ret);
            }
            hub::exit_root(h);
        }
    }
    // SAFETY: forwarded; the real pthread_exit does not return.
    unsafe { real::pthread_exit(ret) };
    unreachable!()
}

#[unsafe(no_mangle)]
pub extern "C" fn pthread_self() -> pthread_t {
    if let Some(h) = hub::local_identity() {
        // SAFETY: h is this thread's hub.
        let g = unsafe { hub::current(h) };
        // SAFETY: current is live.
        if unsafe { !(*g).is_root } {
            return g as pthread_t;
        }
    }
    // glibc's pthread_self is the thread pointer.
    sys::thread_pointer() as pthread_t
}

#[unsafe(no_mangle)]
pub extern "C" fn pthread_equal(a: pthread_t, b: pthread_t) -> c_int {
    (a == b) as c_int
}

/// The real pthread_t of the OS thread that runs the calling green thread (for calls
/// that act on it); the caller's own elsewhere.
fn hub_os_thread() -> pthread_t {
    match hub::local_identity() {
        // SAFETY: hubs are never freed once installed.
        Some(h) => unsafe { (*h).tp as pthread_t },
        None => sys::thread_pointer() as pthread_t,
    }
}

fn alive(g: *mut Green) -> bool {
    // SAFETY: control blocks are never freed.
    unsafe { (*g).state != State::Free }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_kill(t: pthread_t, sig: c_int) -> c_int {
    // SAFETY: as in pthread_join.
    match unsafe { green::from_handle(t) } {
        Some(g) => {
            if !alive(g) {
                return libc::ESRCH;
            }
            if sig == 0 {
                return 0;
            }
            // A signal for a green thread is delivered to the OS thread that runs it,
            // and ends the target's interruptible wait as natively.
            crate::hooks::signal::send_to_green(g, sig, hub_os_thread())
        }
        // SAFETY: forwarded.
        None => unsafe { real::pthread_kill(t, sig) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_getattr_np(t: pthread_t, attr: *mut pthread_attr_t) -> c_int {
    // SAFETY: as in pthread_join; attr is the program's out-parameter.
    match unsafe { green::from_handle(t) } {
        // SAFETY: g is a green control block; attr is the program's attribute object.
        Some(g) => unsafe {
            if !alive(g) {
                return libc::ESRCH;
            }
            let r = libc::pthread_attr_init(attr);
            if r != 0 {
                return r;
            }
            if let Some(s) = (*g).stack {
                libc::pthread_attr_setstack(attr, s.bottom() as *mut c_void, s.usable());
                libc::pthread_attr_setguardsize(attr, if s.guard { green::stack::PAGE } else { 0 });
            }
            if (*g).detached {
                libc::pthread_attr_setdetachstate(attr, libc::PTHREAD_CREATE_DETACHED);
            }
            0
        },
        // SAFETY: forwarded.
        None => unsafe { real::pthread_getattr_np(t, attr) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_setname_np(t: pthread_t, name: *const c_char) -> c_int {
    // SAFETY: as in pthread_join; name is a C string.
    match unsafe { green::from_handle(t) } {
        // SAFETY: g is a green control block; name is the program's C string.
        Some(g) => unsafe {
            let s = core::ffi::CStr::from_ptr(name).to_bytes();
            if s.len() > 15 {
                return libc::ERANGE;
            }
            (*g).name = [0; 16];
            (&mut (*g).name)[..s.len()].copy_from_slice(s);
            0
        },
        // SAFETY: forwarded.
        None => unsafe { real::pthread_setname_np(t, name) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_getname_np(t: pthread_t, buf: *mut c_char, len: usize) -> c_int {
    // SAFETY: as in pthread_join; buf has len bytes.
    match unsafe { green::from_handle(t) } {
        // SAFETY: g is a green control block; buf holds len bytes.
        Some(g) => unsafe {
            let n = (*g).name.iter().position(|&b| b == 0).unwrap_or(15);
            if len < n + 1 {
                return libc::ERANGE;
            }
            core::ptr::copy_nonoverlapping((*g).name.as_ptr(), buf as *mut u8, n);
            *buf.add(n) = 0;
            0
        },
        // SAFETY: forwarded.
        None => unsafe { real::pthread_getname_np(t, buf, len) },
    }
}

/// Calls on a green handle that act on "the thread's" OS-level attributes (CPU clock,
/// scheduling, affinity) apply to the OS thread that runs it.
macro_rules! on_os_thread {
    ($name:ident ( $($arg:ident : $ty:ty),* )) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(t: pthread_t, $($arg: $ty),*) -> c_int {
            // SAFETY: as in pthread_join.
            let t = match unsafe { green::from_handle(t) } {
                Some(g) if !alive(g) => return libc::ESRCH,
                Some(_) => hub_os_thread(),
                None => t,
            };
            // SAFETY: forwarded to a real thread.
            unsafe { real::$name(t, $($arg),*) }
        }
    };
}

on_os_thread!(pthread_getcpuclockid(clock: *mut libc::clockid_t));

/// A green thread other than main, alive: its scheduling setting is its own (green::sched).
fn sched_target(t: pthread_t) -> Result<Option<*mut Green>, c_int> {
    // SAFETY: as in pthread_join.
    match unsafe { green::from_handle(t) } {
        Some(g) if !alive(g) => Err(libc::ESRCH),
        // SAFETY: g is a live control block.
        Some(g) if !unsafe { (*g).is_root } => Ok(Some(g)),
        _ => Ok(None),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_setschedparam(t: pthread_t, policy: c_int, param: *const libc::sched_param) -> c_int {
    match sched_target(t) {
        Err(e) => e,
        // SAFETY: g is live; param is the program's sched_param.
        Ok(Some(g)) => unsafe { green::sched::set(g, hub_os_thread(), policy, (*param).sched_priority) },
        // SAFETY: forwarded to a real thread (main's is the OS thread's).
        Ok(None) => unsafe { real::pthread_setschedparam(if green::from_handle(t).is_some() { hub_os_thread() } else { t }, policy, param) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_getschedparam(t: pthread_t, policy: *mut c_int, param: *mut libc::sched_param) -> c_int {
    match sched_target(t) {
        Err(e) => e,
        // SAFETY: g is live; the out-parameters are the program's.
        Ok(Some(g)) => unsafe { green::sched::get(g, hub_os_thread(), policy, param) },
        // SAFETY: forwarded to a real thread.
        Ok(None) => unsafe { real::pthread_getschedparam(if green::from_handle(t).is_some() { hub_os_thread() } else { t }, policy, param) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_setschedprio(t: pthread_t, prio: c_int) -> c_int {
    match sched_target(t) {
        Err(e) => e,
        Ok(Some(g)) => {
            let mut policy = 0;
            let mut param = libc::sched_param { sched_priority: 0 };
            // SAFETY: g is live; valid out-pointers.
            unsafe {
                let r = green::sched::get(g, hub_os_thread(), &mut policy, &mut param);
                if r != 0 {
                    return r;
                }
                green::sched::set(g, hub_os_thread(), policy, prio)
            }
        }
        // SAFETY: forwarded to a real thread.
        Ok(None) => unsafe { real::pthread_setschedprio(if green::from_handle(t).is_some() { hub_os_thread() } else { t }, prio) },
    }
}
on_os_thread!(pthread_setaffinity_np(size: usize, set: *const libc::cpu_set_t));
on_os_thread!(pthread_getaffinity_np(size: usize, set: *mut libc::cpu_set_t));

/// `pthread_cancel` of a green thread: deferred (acted on at cancellation points) or
/// asynchronous, as glibc; see hub::cancel. Needs per-green TLS (else ENOTSUP).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cancel(t: pthread_t) -> c_int {
    // SAFETY: as in pthread_join.
    match unsafe { green::from_handle(t) } {
        Some(g) if !alive(g) => libc::ESRCH,
        // SAFETY: g is a live control block.
        Some(g) => unsafe { hub::cancel::request(g) },
        // SAFETY: forwarded.
        None => unsafe { real::pthread_cancel(t) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_setcancelstate(state: c_int, old: *mut c_int) -> c_int {
    if hub::cancel::current_green().is_some() {
        return hub::cancel::set_state(state, old);
    }
    // SAFETY: forwarded.
    unsafe { real::pthread_setcancelstate(state, old) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_setcanceltype(kind: c_int, old: *mut c_int) -> c_int {
    if hub::cancel::current_green().is_some() {
        return hub::cancel::set_type(kind, old);
    }
    // SAFETY: forwarded.
    unsafe { real::pthread_setcanceltype(kind, old) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_testcancel() {
    if hub::cancel::current_green().is_some() {
        return hub::cancel::test();
    }
    // SAFETY: forwarded.
    unsafe { real::pthread_testcancel() }
}

/// Called by the expansion of C's `pthread_cleanup_push` after its handler ran during an
/// unwind: on a green thread the shim's unwind continues (hub::cancel).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __pthread_unwind_next(buf: *mut c_void) {
    if let Some((h, g)) = hub::cancel::current_green() {
        if hub::cancel::supported() {
            // SAFETY: buf is the program's unwind buffer being unwound on g.
            unsafe { hub::cancel::unwind_next(h, g, buf as usize) }
        }
    }
    // SAFETY: forwarded.
    unsafe { real::__pthread_unwind_next(buf) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_key_create(key: *mut libc::pthread_key_t, dtor: Option<unsafe extern "C" fn(*mut c_void)>) -> c_int {
    // SAFETY: forwarded; key is the program's out-parameter.
    let r = unsafe { real::pthread_key_create(key, dtor) };
    if r == 0 {
        // SAFETY: filled by glibc.
        keys::created(unsafe { *key }, dtor);
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_key_delete(key: libc::pthread_key_t) -> c_int {
    // SAFETY: forwarded.
    let r = unsafe { real::pthread_key_delete(key) };
    if r == 0 {
        keys::deleted(key);
    }
    r
}

/// Registers a thread-local's destructor (C++ `thread_local`, Rust `thread_local!`):
/// a green thread's run when it exits, on its own stack and TLS area (see green::tls),
/// as glibc runs an OS thread's when it exits.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __cxa_thread_atexit_impl(dtor: green::TlsDtor, obj: *mut c_void, dso: *mut c_void) -> c_int {
    match green_current() {
        Some(g) if green::tls::enabled() => {
            // SAFETY: g is the running green thread.
            unsafe { (*g).tls_dtors.push((dtor, obj)) };
            0
        }
        // SAFETY: forwarded.
        _ => unsafe { real::__cxa_thread_atexit_impl(dtor, obj, dso) },
    }
}

#[inline]
fn green_current() -> Option<*mut Green> {
    let h = hub::local_identity()?;
    // SAFETY: h is this thread's hub.
    let g = unsafe { hub::current(h) };
    // SAFETY: current is live.
    (!unsafe { (*g).is_root }).then_some(g)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_getspecific(key: libc::pthread_key_t) -> *mut c_void {
    match green_current() {
        // SAFETY: g is the running green thread.
        Some(g) => unsafe { keys::get(g, key) },
        // SAFETY: forwarded.
        None => unsafe { real::pthread_getspecific(key) },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_setspecific(key: libc::pthread_key_t, v: *const c_void) -> c_int {
    match green_current() {
        // SAFETY: g is the running green thread.
        Some(g) => unsafe { keys::set(g, key, v) },
        // SAFETY: forwarded.
        None => unsafe { real::pthread_setspecific(key, v) },
    }
}

/// A green thread's kernel-style thread id: its green id (≥ 2^30, never a real tid), so
/// ids stay distinct per thread as natively (CPython's `threading.get_native_id`).
/// Kernel calls that take a tid (tgkill, sched_setaffinity) do not accept it.
fn virtual_tid() -> Option<libc::pid_t> {
    green_current().map(|g| {
        // SAFETY: g is the running green thread.
        unsafe { (*g).id as libc::pid_t }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn gettid() -> libc::pid_t {
    virtual_tid().unwrap_or_else(sys::gettid)
}

/// Linux 6.7's futex2 calls (not in every libc crate's tables).
const SYS_FUTEX_WAKE: libc::c_long = 454;
const SYS_FUTEX_WAIT: libc::c_long = 455;

/// `syscall(2)`: `SYS_gettid` is answered by the shim (see [`gettid`]) and the futex
/// calls are served by sync::futex (Rust's std, libstdc++ and abseil wait there); every
/// other number goes to the kernel unchanged. Defined with six fixed word arguments: on
/// x86-64 the variadic integer arguments arrive in the same registers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn syscall(n: libc::c_long, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, a6: usize) -> libc::c_long {
    use crate::sync::futex;
    // Without a hub (GREENSHIM_DISABLE, or before the constructor) nothing parks in the
    // shim, so futexes stay the kernel's.
    let served = !hub::global().is_null();
    match n {
        libc::SYS_futex if served => return sys::encode(futex::futex(a1, a2 as u32, a3 as u32, a4, a5, a6 as u32)) as libc::c_long,
        libc::SYS_futex_waitv if served => return sys::encode(futex::waitv(a1, a2 as u32, a3 as u32, a4, a5 as i32)) as libc::c_long,
        SYS_FUTEX_WAKE if served => return sys::encode(futex::futex2_wake(a1, a2 as u64, a3 as i32, a4 as u32)) as libc::c_long,
        SYS_FUTEX_WAIT if served => return sys::encode(futex::futex2_wait(a1, a2 as u64, a3 as u64, a4 as u32, a5, a6 as i32)) as libc::c_long,
        libc::SYS_gettid => {
            if let Some(t) = virtual_tid() {
                return t as libc::c_long;
            }
        }
        _ => {}
    }
    // SAFETY: the program's own system call and arguments.
    sys::encode(unsafe { sys::syscall6(n, a1, a2, a3, a4, a5, a6) }) as libc::c_long
}
