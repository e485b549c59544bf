//! C11 `<threads.h>`. glibc implements `thrd_create`, `mtx_lock`, `cnd_wait`, `tss_get`…
//! with internal calls to its pthread functions, which bypass the hooks: `thrd_create`
//! would start a real OS thread. Each is mapped here onto the hooked pthread function it
//! stands for (the types are glibc's pthread objects under other names) and its result
//! onto the C11 codes exactly as glibc maps them. `mtx_init`, `mtx_destroy` and `tss`
//! key numbers need nothing from the shim and stay glibc's.

use crate::hooks::{sync as s, thread as t, time};
use core::ffi::{c_int, c_void};
use libc::{pthread_cond_t, pthread_mutex_t, pthread_t, timespec};

const THRD_SUCCESS: c_int = 0;
const THRD_BUSY: c_int = 1;
const THRD_ERROR: c_int = 2;
const THRD_NOMEM: c_int = 3;
const THRD_TIMEDOUT: c_int = 4;

/// glibc's mapping of a pthread result to a C11 one.
fn map(e: c_int) -> c_int {
    match e {
        0 => THRD_SUCCESS,
        libc::ENOMEM => THRD_NOMEM,
        libc::ETIMEDOUT => THRD_TIMEDOUT,
        libc::EBUSY => THRD_BUSY,
        _ => THRD_ERROR,
    }
}

type ThrdStart = unsafe extern "C" fn(*mut c_void) -> c_int;

struct Start {
    f: ThrdStart,
    arg: *mut c_void,
}

/// A C11 thread returns an int; pthread_join hands it back as a pointer-sized value.
extern "C" fn c11_start(p: *mut c_void) -> *mut c_void {
    // SAFETY: p is the Box made by thrd_create, consumed exactly once here.
    let st = unsafe { Box::from_raw(p as *mut Start) };
    // SAFETY: the program's start function and argument.
    let r = unsafe { (st.f)(st.arg) };
    r as isize as *mut c_void
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn thrd_create(thr: *mut pthread_t, f: ThrdStart, arg: *mut c_void) -> c_int {
    let st = Box::into_raw(Box::new(Start { f, arg }));
    // SAFETY: forwarded to the pthread_create hook; st is freed by c11_start or below.
    let r = unsafe { t::pthread_create(thr, core::ptr::null(), c11_start, st.cast()) };
    if r != 0 {
        // SAFETY: the thread was not started, so st is still ours.
        drop(unsafe { Box::from_raw(st) });
    }
    map(r)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn thrd_join(thr: pthread_t, res: *mut c_int) -> c_int {
    let mut v: *mut c_void = core::ptr::null_mut();
    // SAFETY: forwarded.
    let r = unsafe { t::pthread_join(thr, &mut v) };
    if r == 0 && !res.is_null() {
        // SAFETY: the program's out-parameter.
        unsafe { *res = v as isize as c_int };
    }
    map(r)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn thrd_exit(res: c_int) -> ! {
    // SAFETY: forwarded.
    unsafe { t::pthread_exit(res as isize as *mut c_void) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn thrd_detach(thr: pthread_t) -> c_int {
    // SAFETY: forwarded.
    map(unsafe { t::pthread_detach(thr) })
}

#[unsafe(no_mangle)]
pub extern "C" fn thrd_current() -> pthread_t {
    t::pthread_self()
}

#[unsafe(no_mangle)]
pub extern "C" fn thrd_equal(a: pthread_t, b: pthread_t) -> c_int {
    t::pthread_equal(a, b)
}

/// 0 when slept through, -1 when a signal interrupted it, another negative on error.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thrd_sleep(dur: *const timespec, rem: *mut timespec) -> c_int {
    // SAFETY: forwarded.
    match unsafe { time::nanosleep(dur, rem) } {
        0 => 0,
        _ if crate::sys::errno() == libc::EINTR => -1,
        _ => -2,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn thrd_yield() {
    // SAFETY: forwarded.
    unsafe { time::sched_yield() };
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtx_lock(m: *mut pthread_mutex_t) -> c_int {
    // SAFETY: forwarded; mtx_t is glibc's pthread_mutex_t.
    map(unsafe { s::pthread_mutex_lock(m) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtx_trylock(m: *mut pthread_mutex_t) -> c_int {
    // SAFETY: forwarded.
    map(unsafe { s::pthread_mutex_trylock(m) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtx_timedlock(m: *mut pthread_mutex_t, abs: *const timespec) -> c_int {
    // SAFETY: forwarded.
    map(unsafe { s::pthread_mutex_timedlock(m, abs) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn mtx_unlock(m: *mut pthread_mutex_t) -> c_int {
    // SAFETY: forwarded.
    map(unsafe { s::pthread_mutex_unlock(m) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cnd_init(c: *mut pthread_cond_t) -> c_int {
    // SAFETY: forwarded; cnd_t is glibc's pthread_cond_t.
    map(unsafe { s::pthread_cond_init(c, core::ptr::null()) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cnd_destroy(c: *mut pthread_cond_t) {
    // SAFETY: forwarded.
    unsafe { s::pthread_cond_destroy(c) };
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cnd_signal(c: *mut pthread_cond_t) -> c_int {
    // SAFETY: forwarded.
    map(unsafe { s::pthread_cond_signal(c) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cnd_broadcast(c: *mut pthread_cond_t) -> c_int {
    // SAFETY: forwarded.
    map(unsafe { s::pthread_cond_broadcast(c) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cnd_wait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t) -> c_int {
    // SAFETY: forwarded.
    map(unsafe { s::pthread_cond_wait(c, m) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn cnd_timedwait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t, abs: *const timespec) -> c_int {
    // SAFETY: forwarded.
    map(unsafe { s::pthread_cond_timedwait(c, m, abs) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn call_once(flag: *mut libc::pthread_once_t, f: extern "C" fn()) {
    // SAFETY: forwarded; once_flag is glibc's pthread_once_t.
    unsafe { s::pthread_once(flag, f) };
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn tss_create(key: *mut libc::pthread_key_t, dtor: Option<unsafe extern "C" fn(*mut c_void)>) -> c_int {
    // SAFETY: forwarded; tss_t is glibc's pthread_key_t.
    map(unsafe { t::pthread_key_create(key, dtor) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn tss_delete(key: libc::pthread_key_t) {
    // SAFETY: forwarded.
    unsafe { t::pthread_key_delete(key) };
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn tss_get(key: libc::pthread_key_t) -> *mut c_void {
    // SAFETY: forwarded.
    unsafe { t::pthread_getspecific(key) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn tss_set(key: libc::pthread_key_t, v: *mut c_void) -> c_int {
    // SAFETY: forwarded.
    map(unsafe { t::pthread_setspecific(key, v) })
}
