//! `res_*` DNS queries (resolv.h), served by the offload pool.
//!
//! A query waits on a UDP/TCP exchange inside libc, out of the shim's reach, so it runs
//! whole on a pool thread while the green thread parks. The resolver state must stay the
//! caller's: a program that customised `_res` (name servers, options, retries) after
//! `res_init` expects its query to use them, and a pool thread's own `_res` is a fresh
//! one read from /etc/resolv.conf. So every call is made as its `res_n*` form with an
//! explicit state: the caller's `_res` (`__res_state()` on the hub thread, initialised
//! on first use as glibc does) or the state the program passed.
//!
//! A `res_state` is not safe for concurrent use, and green threads share the OS thread's
//! `_res` (natively each thread has its own): calls on one state are serialised — a
//! second green thread querying through the same state parks until the first is done.
//! Queries through different states run in parallel on the pool.
//!
//! The real functions are found on first use (`res_nquery`, or `__res_nquery` where
//! glibc still keeps them in libresolv), not at start-up: most programs never link them.

use crate::green::Reason;
use crate::offload;
use crate::sync::parking_lot;
use crate::sys;
use core::ffi::{c_char, c_int, c_uchar, c_void};
use crate::sys::real::Lazy;

unsafe extern "C" {
    fn __res_state() -> *mut c_void;
    fn __h_errno_location() -> *mut c_int;
}

/// `RES_INIT` in `res_state.options`, which follows two ints.
const RES_INIT: u64 = 1;
const OPTIONS_OFFSET: usize = 8;
/// h_errno for "the resolver itself failed".
const NETDB_INTERNAL: c_int = -1;

static NQUERY: Lazy = Lazy::new(c"res_nquery", c"__res_nquery");
static NSEARCH: Lazy = Lazy::new(c"res_nsearch", c"__res_nsearch");
static NQUERYDOMAIN: Lazy = Lazy::new(c"res_nquerydomain", c"__res_nquerydomain");
static NSEND: Lazy = Lazy::new(c"res_nsend", c"__res_nsend");
static INIT: Lazy = Lazy::new(c"__res_init", c"res_init");

type QueryFn = unsafe extern "C" fn(*mut c_void, *const c_char, c_int, c_int, *mut c_uchar, c_int) -> c_int;
type QueryDomainFn = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, c_int, c_int, *mut c_uchar, c_int) -> c_int;
type SendFn = unsafe extern "C" fn(*mut c_void, *const c_uchar, c_int, *mut c_uchar, c_int) -> c_int;
type InitFn = unsafe extern "C" fn() -> c_int;

/// States with a call in progress (hub threads only; pool threads never).
static BUSY: crate::sys::Shared<Vec<usize>> = crate::sys::Shared::new(Vec::new());

/// In a fork's child.
pub fn after_fork_child() {
    BUSY.after_fork_child();
}

/// Park key for a state: odd, so it never equals a pthread object's (aligned) address.
fn key(statp: *mut c_void) -> usize {
    statp as usize | 1
}

/// Takes the state for one call, parking while another green thread uses it.
fn acquire(statp: *mut c_void) {
    let s = statp as usize;
    loop {
        let took = BUSY.with(|busy| {
            let free = !busy.contains(&s);
            if free {
                busy.push(s);
            }
            free
        });
        if took {
            return;
        }
        let still_busy = || BUSY.with(|busy| busy.contains(&s));
        parking_lot::park(key(statp), still_busy, || {}, None, Reason::Mutex);
    }
}

fn release(statp: *mut c_void) {
    BUSY.with(|busy| busy.retain(|&b| b != statp as usize));
    parking_lot::unpark_one(key(statp));
}

/// The calling thread's implicit `_res`, initialised (as glibc's `res_query` does) if
/// the program never called `res_init`.
fn implicit_state() -> Option<*mut c_void> {
    // SAFETY: glibc's accessor for this thread's resolver state.
    let statp = unsafe { __res_state() };
    // SAFETY: options is a u64 at a fixed offset of the public struct __res_state.
    let options = unsafe { *(statp as *const u8).add(OPTIONS_OFFSET).cast::<u64>() };
    if options & RES_INIT == 0 {
        let init: InitFn = {
            // SAFETY: the address of glibc's res_init, which has this signature.
            unsafe { core::mem::transmute(INIT.get()?) }
        };
        // Reads /etc/resolv.conf: file I/O, inline like any other read.
        // SAFETY: plain call of the real res_init.
        unsafe { init() };
    }
    Some(statp)
}

/// Pointers only dereferenced by the real function on a pool thread while the caller
/// is parked.
#[derive(Clone, Copy)]
struct P<T>(T);
// SAFETY: the caller's frame (and the program's buffers) outlive the offloaded call.
unsafe impl<T> Send for P<T> {}

/// Runs `call` on the pool with `statp` held, carrying errno and h_errno back.
fn offloaded(statp: Option<*mut c_void>, call: impl FnOnce(*mut c_void) -> c_int + Send) -> c_int {
    let Some(statp) = statp else {
        // SAFETY: this thread's h_errno.
        unsafe { *__h_errno_location() = NETDB_INTERNAL };
        sys::set_errno(libc::ENOSYS);
        return -1;
    };
    if crate::hub::local().is_none() {
        // An OS thread outside the shim (a pool worker, a thread from before start-up).
        return call(statp);
    }
    acquire(statp);
    let s = P(statp);
    let (r, e, h) = offload::run(move || {
        let s = s;
        sys::set_errno(0);
        let r = call(s.0);
        // SAFETY: the pool thread's h_errno, just set by the resolver.
        (r, sys::errno(), unsafe { *__h_errno_location() })
    });
    release(statp);
    // SAFETY: this thread's h_errno.
    unsafe { *__h_errno_location() = h };
    sys::set_errno(e);
    r
}

fn query(l: &Lazy, statp: Option<*mut c_void>, name: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int) -> c_int {
    let f = l.get();
    let a = P((name, ans));
    offloaded(statp.filter(|_| f.is_some()), move |s| {
        let a = a;
        // SAFETY: f is res_nquery/res_nsearch, which have this signature.
        let f: QueryFn = unsafe { core::mem::transmute(f.unwrap_or_default()) };
        // SAFETY: the program's own arguments.
        unsafe { f(s, a.0.0, class, ty, a.0.1, len) }
    })
}

fn querydomain(statp: Option<*mut c_void>, name: *const c_char, domain: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int) -> c_int {
    let f = NQUERYDOMAIN.get();
    let a = P((name, domain, ans));
    offloaded(statp.filter(|_| f.is_some()), move |s| {
        let a = a;
        // SAFETY: f is res_nquerydomain.
        let f: QueryDomainFn = unsafe { core::mem::transmute(f.unwrap_or_default()) };
        // SAFETY: the program's own arguments.
        unsafe { f(s, a.0.0, a.0.1, class, ty, a.0.2, len) }
    })
}

fn send(statp: Option<*mut c_void>, msg: *const c_uchar, msglen: c_int, ans: *mut c_uchar, len: c_int) -> c_int {
    let f = NSEND.get();
    let a = P((msg, ans));
    offloaded(statp.filter(|_| f.is_some()), move |s| {
        let a = a;
        // SAFETY: f is res_nsend.
        let f: SendFn = unsafe { core::mem::transmute(f.unwrap_or_default()) };
        // SAFETY: the program's own arguments.
        unsafe { f(s, a.0.0, msglen, a.0.1, len) }
    })
}

/// Defines a hook under both names glibc has used for it (`res_x` since 2.34, `__res_x`
/// in libresolv before): old binaries import the latter.
macro_rules! both_names {
    ($a:ident, $b:ident, ($($arg:ident : $ty:ty),*), $body:expr) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $a($($arg: $ty),*) -> c_int { $body }
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $b($($arg: $ty),*) -> c_int { $body }
    };
}

both_names!(res_query, __res_query, (name: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int),
    query(&NQUERY, implicit_state(), name, class, ty, ans, len));
both_names!(res_search, __res_search, (name: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int),
    query(&NSEARCH, implicit_state(), name, class, ty, ans, len));
both_names!(res_querydomain, __res_querydomain, (name: *const c_char, domain: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int),
    querydomain(implicit_state(), name, domain, class, ty, ans, len));
both_names!(res_send, __res_send, (msg: *const c_uchar, msglen: c_int, ans: *mut c_uchar, len: c_int),
    send(implicit_state(), msg, msglen, ans, len));
both_names!(res_nquery, __res_nquery, (statp: *mut c_void, name: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int),
    query(&NQUERY, Some(statp), name, class, ty, ans, len));
both_names!(res_nsearch, __res_nsearch, (statp: *mut c_void, name: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int),
    query(&NSEARCH, Some(statp), name, class, ty, ans, len));
both_names!(res_nquerydomain, __res_nquerydomain, (statp: *mut c_void, name: *const c_char, domain: *const c_char, class: c_int, ty: c_int, ans: *mut c_uchar, len: c_int),
    querydomain(Some(statp), name, domain, class, ty, ans, len));
both_names!(res_nsend, __res_nsend, (statp: *mut c_void, msg: *const c_uchar, msglen: c_int, ans: *mut c_uchar, len: c_int),
    send(Some(statp), msg, msglen, ans, len));
