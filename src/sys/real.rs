//! The real libc functions behind the hooks the runtime cannot replace with a raw syscall.
//!
//! Each entry is resolved with `dlsym(RTLD_NEXT)` (or `dlvsym` where glibc has several
//! versions: the condvar functions exist as GLIBC_2.2.5 and GLIBC_2.3.2 and routing to the
//! wrong one corrupts memory). [`resolve_all`] runs in the constructor and names any
//! missing symbol; before that, each entry resolves itself on first use, without locks,
//! because hooks are called before the constructor (by the loader, by other libraries'
//! constructors).

use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use libc::{pthread_attr_t, pthread_t, timespec};

fn lookup(name: &[u8], version: Option<&[u8]>) -> usize {
    // SAFETY: name and version are NUL-terminated literals; dlsym/dlvsym are not hooked.
    unsafe {
        match version {
            Some(v) => libc::dlvsym(libc::RTLD_NEXT, name.as_ptr().cast(), v.as_ptr().cast()) as usize,
            None => libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) as usize,
        }
    }
}

fn missing(name: &[u8]) -> ! {
    crate::log::fatal_parts(&[b"greenshim: cannot resolve the real libc symbol ", &name[..name.len() - 1], b"; is this a glibc system?"]);
}

/// Set by [`as_program`] for the next real call on the hub thread only.
static AS_PROGRAM: AtomicBool = AtomicBool::new(false);

/// Runs `f`, which makes exactly one call through this table first (before any other),
/// with the raw-syscall selector as the caller has it, instead of ALLOW: that call is
/// the program's own, made inline on its green thread (a name lookup under
/// GREENSHIM_RAW=catch), so its system calls inside libc are trapped and parked.
pub fn as_program<R>(f: impl FnOnce() -> R) -> R {
    AS_PROGRAM.store(true, Ordering::Relaxed);
    let r = f();
    AS_PROGRAM.store(false, Ordering::Relaxed);
    r
}

macro_rules! reals {
    ($( $name:ident $(@ $ver:literal)? ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        #[allow(non_upper_case_globals)]
        mod slot { use super::*; $( pub static $name: AtomicUsize = AtomicUsize::new(0); )* }

        $(
            #[doc = concat!("Calls the real `", stringify!($name), "`.")]
            ///
            /// # Safety
            /// Same contract as the libc function of that name.
            #[inline]
            #[allow(clippy::missing_safety_doc, clippy::too_many_arguments, dead_code, non_snake_case)]
            pub unsafe fn $name($($arg: $ty),*) -> $ret {
                let mut p = slot::$name.load(Ordering::Relaxed);
                if p == 0 {
                    p = lookup(concat!(stringify!($name), "\0").as_bytes(), reals!(@ver $($ver)?));
                    if p == 0 { missing(concat!(stringify!($name), "\0").as_bytes()); }
                    slot::$name.store(p, Ordering::Relaxed);
                }
                // SAFETY: p is the address of the libc function with exactly this signature.
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { core::mem::transmute(p) };
                // What libc does on the shim's behalf is the shim's: its internal system
                // calls are not trapped as the program's (crate::raw) — unless the call
                // is the program's own, made inline ([`as_program`]).
                if AS_PROGRAM.load(Ordering::Relaxed) && AS_PROGRAM.swap(false, Ordering::Relaxed) {
                    // SAFETY: forwarded under the caller's contract.
                    return unsafe { f($($arg),*) };
                }
                let sel = crate::raw::swap_selector(crate::raw::ALLOW);
                // SAFETY: forwarded under the caller's contract.
                let r = unsafe { f($($arg),*) };
                crate::raw::restore_selector(sel);
                r
            }
        )*

        /// The address of glibc's vfork, once resolved (the vfork hook jumps to it).
        pub fn address_of_vfork() -> usize {
            slot::vfork.load(Ordering::Relaxed)
        }

        /// Resolves every entry now; exits naming the first symbol that is missing.
        pub fn resolve_all() {
            $(
                if slot::$name.load(Ordering::Relaxed) == 0 {
                    let p = lookup(concat!(stringify!($name), "\0").as_bytes(), reals!(@ver $($ver)?));
                    if p == 0 { missing(concat!(stringify!($name), "\0").as_bytes()); }
                    slot::$name.store(p, Ordering::Relaxed);
                }
            )*
        }
    };
    (@ver $v:literal) => { Some(concat!($v, "\0").as_bytes()) };
    (@ver) => { None };
}

type StartFn = extern "C" fn(*mut c_void) -> *mut c_void;

reals! {
    pthread_create(t: *mut pthread_t, attr: *const pthread_attr_t, f: StartFn, arg: *mut c_void) -> c_int;
    pthread_join(t: pthread_t, ret: *mut *mut c_void) -> c_int;
    __cxa_thread_atexit_impl(dtor: unsafe extern "C" fn(*mut c_void), obj: *mut c_void, dso: *mut c_void) -> c_int;
    pthread_tryjoin_np(t: pthread_t, ret: *mut *mut c_void) -> c_int;
    pthread_clockjoin_np(t: pthread_t, ret: *mut *mut c_void, clock: c_int, abs: *const timespec) -> c_int;
    pthread_detach(t: pthread_t) -> c_int;
    pthread_exit(ret: *mut c_void) -> ();
    pthread_kill(t: pthread_t, sig: c_int) -> c_int;
    pthread_getattr_np(t: pthread_t, attr: *mut pthread_attr_t) -> c_int;
    pthread_setname_np(t: pthread_t, name: *const c_char) -> c_int;
    pthread_getname_np(t: pthread_t, name: *mut c_char, len: usize) -> c_int;
    pthread_getcpuclockid(t: pthread_t, clock: *mut libc::clockid_t) -> c_int;
    pthread_setschedparam(t: pthread_t, policy: c_int, param: *const libc::sched_param) -> c_int;
    pthread_getschedparam(t: pthread_t, policy: *mut c_int, param: *mut libc::sched_param) -> c_int;
    pthread_setschedprio(t: pthread_t, prio: c_int) -> c_int;
    pthread_setaffinity_np(t: pthread_t, size: usize, set: *const libc::cpu_set_t) -> c_int;
    pthread_getaffinity_np(t: pthread_t, size: usize, set: *mut libc::cpu_set_t) -> c_int;
    pthread_cancel(t: pthread_t) -> c_int;
    pthread_setcancelstate(state: c_int, old: *mut c_int) -> c_int;
    pthread_setcanceltype(kind: c_int, old: *mut c_int) -> c_int;
    pthread_testcancel() -> ();
    __pthread_unwind_next(buf: *mut c_void) -> ();
    pthread_key_create(key: *mut libc::pthread_key_t, dtor: Option<unsafe extern "C" fn(*mut c_void)>) -> c_int;
    pthread_key_delete(key: libc::pthread_key_t) -> c_int;
    pthread_getspecific(key: libc::pthread_key_t) -> *mut c_void;
    pthread_setspecific(key: libc::pthread_key_t, v: *const c_void) -> c_int;
    pthread_mutex_lock(m: *mut libc::pthread_mutex_t) -> c_int;
    pthread_mutex_trylock(m: *mut libc::pthread_mutex_t) -> c_int;
    pthread_mutex_clocklock(m: *mut libc::pthread_mutex_t, clock: c_int, abs: *const timespec) -> c_int;
    pthread_mutex_unlock(m: *mut libc::pthread_mutex_t) -> c_int;
    pthread_cond_init @ "GLIBC_2.3.2" (c: *mut libc::pthread_cond_t, a: *const libc::pthread_condattr_t) -> c_int;
    pthread_cond_wait @ "GLIBC_2.3.2" (c: *mut libc::pthread_cond_t, m: *mut libc::pthread_mutex_t) -> c_int;
    pthread_cond_timedwait @ "GLIBC_2.3.2" (c: *mut libc::pthread_cond_t, m: *mut libc::pthread_mutex_t, abs: *const timespec) -> c_int;
    pthread_cond_clockwait (c: *mut libc::pthread_cond_t, m: *mut libc::pthread_mutex_t, clock: c_int, abs: *const timespec) -> c_int;
    pthread_cond_signal @ "GLIBC_2.3.2" (c: *mut libc::pthread_cond_t) -> c_int;
    pthread_cond_broadcast @ "GLIBC_2.3.2" (c: *mut libc::pthread_cond_t) -> c_int;
    pthread_cond_destroy @ "GLIBC_2.3.2" (c: *mut libc::pthread_cond_t) -> c_int;
    sem_wait(s: *mut libc::sem_t) -> c_int;
    sem_trywait(s: *mut libc::sem_t) -> c_int;
    sem_timedwait(s: *mut libc::sem_t, abs: *const timespec) -> c_int;
    sem_clockwait(s: *mut libc::sem_t, clock: c_int, abs: *const timespec) -> c_int;
    sem_post(s: *mut libc::sem_t) -> c_int;
    pthread_rwlock_rdlock(l: *mut libc::pthread_rwlock_t) -> c_int;
    pthread_rwlock_tryrdlock(l: *mut libc::pthread_rwlock_t) -> c_int;
    pthread_rwlock_clockrdlock(l: *mut libc::pthread_rwlock_t, clock: c_int, abs: *const timespec) -> c_int;
    pthread_rwlock_wrlock(l: *mut libc::pthread_rwlock_t) -> c_int;
    pthread_rwlock_trywrlock(l: *mut libc::pthread_rwlock_t) -> c_int;
    pthread_rwlock_clockwrlock(l: *mut libc::pthread_rwlock_t, clock: c_int, abs: *const timespec) -> c_int;
    pthread_rwlock_unlock(l: *mut libc::pthread_rwlock_t) -> c_int;
    pthread_barrier_wait(b: *mut libc::pthread_barrier_t) -> c_int;
    fork() -> libc::pid_t;
    vfork() -> libc::pid_t;
    getaddrinfo(node: *const c_char, service: *const c_char, hints: *const libc::addrinfo, res: *mut *mut libc::addrinfo) -> c_int;
    getnameinfo(sa: *const libc::sockaddr, salen: libc::socklen_t, host: *mut c_char, hostlen: libc::socklen_t, serv: *mut c_char, servlen: libc::socklen_t, flags: c_int) -> c_int;
    gethostbyname(name: *const c_char) -> *mut libc::hostent;
    gethostbyname2(name: *const c_char, af: c_int) -> *mut libc::hostent;
    gethostbyaddr(addr: *const c_void, len: libc::socklen_t, ty: c_int) -> *mut libc::hostent;
    gethostbyname_r(name: *const c_char, ret: *mut libc::hostent, buf: *mut c_char, buflen: usize, result: *mut *mut libc::hostent, h_errnop: *mut c_int) -> c_int;
    gethostbyname2_r(name: *const c_char, af: c_int, ret: *mut libc::hostent, buf: *mut c_char, buflen: usize, result: *mut *mut libc::hostent, h_errnop: *mut c_int) -> c_int;
    gethostbyaddr_r(addr: *const c_void, len: libc::socklen_t, ty: c_int, ret: *mut libc::hostent, buf: *mut c_char, buflen: usize, result: *mut *mut libc::hostent, h_errnop: *mut c_int) -> c_int;
    system(cmd: *const c_char) -> c_int;
    pclose(f: *mut libc::FILE) -> c_int;
    sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int;
    pthread_sigmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int;
    sigprocmask(how: c_int, set: *const libc::sigset_t, old: *mut libc::sigset_t) -> c_int;
    sigwait(set: *const libc::sigset_t, sig: *mut c_int) -> c_int;
    sigtimedwait(set: *const libc::sigset_t, info: *mut libc::siginfo_t, ts: *const libc::timespec) -> c_int;
    execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    execv(path: *const c_char, argv: *const *const c_char) -> c_int;
    fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
    execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    posix_spawn(pid: *mut libc::pid_t, path: *const c_char, fa: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    fgets(s: *mut c_char, n: c_int, fp: *mut libc::FILE) -> *mut c_char;
    fgets_unlocked(s: *mut c_char, n: c_int, fp: *mut libc::FILE) -> *mut c_char;
    fread(p: *mut c_void, size: usize, n: usize, fp: *mut libc::FILE) -> usize;
    fread_unlocked(p: *mut c_void, size: usize, n: usize, fp: *mut libc::FILE) -> usize;
    fgetc(fp: *mut libc::FILE) -> c_int;
    getc(fp: *mut libc::FILE) -> c_int;
    _IO_getc(fp: *mut libc::FILE) -> c_int;
    fgetc_unlocked(fp: *mut libc::FILE) -> c_int;
    getc_unlocked(fp: *mut libc::FILE) -> c_int;
    __uflow(fp: *mut libc::FILE) -> c_int;
    __underflow(fp: *mut libc::FILE) -> c_int;
    getdelim(line: *mut *mut c_char, cap: *mut usize, delim: c_int, fp: *mut libc::FILE) -> isize;
    fclose(fp: *mut libc::FILE) -> c_int;
    fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE;
    fopen64(path: *const c_char, mode: *const c_char) -> *mut libc::FILE;
    getpwnam(name: *const c_char) -> *mut libc::passwd;
    getpwuid(uid: libc::uid_t) -> *mut libc::passwd;
    getpwnam_r(name: *const c_char, pw: *mut libc::passwd, buf: *mut c_char, len: usize, res: *mut *mut libc::passwd) -> c_int;
    getpwuid_r(uid: libc::uid_t, pw: *mut libc::passwd, buf: *mut c_char, len: usize, res: *mut *mut libc::passwd) -> c_int;
    getgrnam(name: *const c_char) -> *mut libc::group;
    getgrgid(gid: libc::gid_t) -> *mut libc::group;
    getgrnam_r(name: *const c_char, gr: *mut libc::group, buf: *mut c_char, len: usize, res: *mut *mut libc::group) -> c_int;
    getgrgid_r(gid: libc::gid_t, gr: *mut libc::group, buf: *mut c_char, len: usize, res: *mut *mut libc::group) -> c_int;
    getgrouplist(user: *const c_char, group: libc::gid_t, groups: *mut libc::gid_t, n: *mut c_int) -> c_int;
    initgroups(user: *const c_char, group: libc::gid_t) -> c_int;
    tcsendbreak(fd: c_int, duration: c_int) -> c_int;
    popen(cmd: *const c_char, mode: *const c_char) -> *mut libc::FILE;
    fgetwc(fp: *mut libc::FILE) -> u32;
    getwc(fp: *mut libc::FILE) -> u32;
    fgetwc_unlocked(fp: *mut libc::FILE) -> u32;
    getwc_unlocked(fp: *mut libc::FILE) -> u32;
    fgetws(s: *mut libc::wchar_t, n: c_int, fp: *mut libc::FILE) -> *mut libc::wchar_t;
    fgetws_unlocked(s: *mut libc::wchar_t, n: c_int, fp: *mut libc::FILE) -> *mut libc::wchar_t;
    gets(s: *mut c_char) -> *mut c_char;
    closedir(d: *mut libc::DIR) -> c_int;
    posix_spawnp(pid: *mut libc::pid_t, path: *const c_char, fa: *const libc::posix_spawn_file_actions_t, attr: *const libc::posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
}

/// A real function most programs never use, resolved on first call rather than at
/// start-up (a missing one is then only an error for the program that calls it): the
/// first of `names` that `dlsym(RTLD_NEXT)` finds (glibc moved some functions between
/// libraries and names across versions).
pub struct Lazy {
    addr: AtomicUsize,
    names: [&'static core::ffi::CStr; 2],
}

impl Lazy {
    pub const fn new(a: &'static core::ffi::CStr, b: &'static core::ffi::CStr) -> Self {
        Lazy { addr: AtomicUsize::new(0), names: [a, b] }
    }

    /// The function's address, if any library provides it.
    pub fn get(&self) -> Option<usize> {
        let mut p = self.addr.load(Ordering::Relaxed);
        if p == 0 {
            for n in self.names {
                // SAFETY: n is NUL-terminated; dlsym is not hooked.
                p = unsafe { libc::dlsym(libc::RTLD_NEXT, n.as_ptr()) } as usize;
                if p != 0 {
                    break;
                }
            }
            self.addr.store(p, Ordering::Relaxed);
        }
        (p != 0).then_some(p)
    }
}
