//! Calls epoll cannot watch, served by the offload pool (`crate::offload`): name
//! resolution, fsync, blocking file locks, `system`, `pclose`. errno (and h_errno) are
//! thread-local, so each is captured on the worker and set again on the caller.

use crate::offload;
use crate::sys::{self, real, sc};
use core::ffi::{c_char, c_int, c_void};

unsafe extern "C" {
    fn __h_errno_location() -> *mut c_int;
    fn inet_pton(af: c_int, src: *const c_char, dst: *mut c_void) -> c_int;
}

/// Offloads `f` and carries errno back.
fn offload_errno<R: Send>(f: impl FnOnce() -> R) -> R {
    let (r, e) = offload::run(|| {
        sys::set_errno(0);
        let r = f();
        (r, sys::errno())
    });
    sys::set_errno(e);
    r
}

/// Offloads `f` and carries errno and h_errno back.
fn offload_h_errno<R: Send>(f: impl FnOnce() -> R) -> R {
    let (r, h) = offload_errno(|| {
        let r = f();
        // SAFETY: glibc's per-thread h_errno location.
        (r, unsafe { *__h_errno_location() })
    });
    let e = sys::errno();
    // SAFETY: as above, on the calling thread.
    unsafe { *__h_errno_location() = h };
    sys::set_errno(e);
    r
}

/// Name lookups (getaddrinfo, gethostbyname…): with GREENSHIM_RAW=catch they run on the
/// calling green thread itself — their DNS exchange (socket, sendmmsg, poll, recvfrom
/// inside libc) is caught and parks it, so no pool thread is needed, and the lookup
/// uses the caller's own resolver state (`_res`, per thread natively) as natively.
/// Otherwise they go to the offload pool.
fn lookup_errno<R: Send>(f: impl FnOnce() -> R) -> R {
    if crate::raw::catching() && crate::hub::local().is_some() {
        return real::as_program(f);
    }
    offload_errno(f)
}

/// [`lookup_errno`] for the calls that report through h_errno.
fn lookup_h_errno<R: Send>(f: impl FnOnce() -> R) -> R {
    if crate::raw::catching() && crate::hub::local().is_some() {
        return real::as_program(f);
    }
    offload_h_errno(f)
}

/// Raw pointers are only dereferenced by the real function on the worker while the
/// caller is parked, so they are effectively borrowed across threads.
#[derive(Clone, Copy)]
struct P<T>(T);
// SAFETY: see above — the caller's frame outlives the offloaded call.
unsafe impl<T> Send for P<T> {}

/// A numeric address (or none) resolves without any I/O: no need for a pool thread.
fn is_numeric_host(node: *const c_char) -> bool {
    if node.is_null() {
        return true;
    }
    let mut buf = [0u8; 16];
    // SAFETY: node is a C string; buf has room for an in6_addr.
    unsafe {
        inet_pton(libc::AF_INET, node, buf.as_mut_ptr().cast()) == 1
            || inet_pton(libc::AF_INET6, node, buf.as_mut_ptr().cast()) == 1
    }
}

/// A numeric service (or none) needs no /etc/services lookup.
fn is_numeric_service(service: *const c_char) -> bool {
    // SAFETY: service is null or a C string.
    service.is_null() || unsafe { core::ffi::CStr::from_ptr(service) }.to_bytes().iter().all(u8::is_ascii_digit)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getaddrinfo(node: *const c_char, service: *const c_char, hints: *const libc::addrinfo, res: *mut *mut libc::addrinfo) -> c_int {
    if is_numeric_host(node) && is_numeric_service(service) {
        // SAFETY: forwarded; resolves without I/O.
        return unsafe { real::getaddrinfo(node, service, hints, res) };
    }
    let a = P((node, service, hints, res));
    // SAFETY: forwarded; pointers stay valid while the caller is parked.
    lookup_errno(move || unsafe {
        let a = a;
        real::getaddrinfo(a.0.0, a.0.1, a.0.2, a.0.3)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getnameinfo(
    sa: *const libc::sockaddr,
    salen: libc::socklen_t,
    host: *mut c_char,
    hostlen: libc::socklen_t,
    serv: *mut c_char,
    servlen: libc::socklen_t,
    flags: c_int,
) -> c_int {
    let numeric = libc::NI_NUMERICHOST | libc::NI_NUMERICSERV;
    if flags & numeric == numeric || (host.is_null() && flags & libc::NI_NUMERICSERV != 0) || (serv.is_null() && flags & libc::NI_NUMERICHOST != 0) {
        // SAFETY: forwarded; numeric conversion needs no I/O.
        return unsafe { real::getnameinfo(sa, salen, host, hostlen, serv, servlen, flags) };
    }
    let a = P((sa, host, serv));
    // SAFETY: forwarded.
    lookup_errno(move || unsafe {
        let a = a;
        real::getnameinfo(a.0.0, salen, a.0.1, hostlen, a.0.2, servlen, flags)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut libc::hostent {
    let a = P(name);
    // SAFETY: forwarded; the result points to glibc's process-wide static buffer.
    lookup_h_errno(move || P(unsafe { real::gethostbyname({ a }.0) })).0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyname2(name: *const c_char, af: c_int) -> *mut libc::hostent {
    let a = P(name);
    // SAFETY: forwarded.
    lookup_h_errno(move || P(unsafe { real::gethostbyname2({ a }.0, af) })).0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyaddr(addr: *const c_void, len: libc::socklen_t, ty: c_int) -> *mut libc::hostent {
    let a = P(addr);
    // SAFETY: forwarded.
    lookup_h_errno(move || P(unsafe { real::gethostbyaddr({ a }.0, len, ty) })).0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyname_r(
    name: *const c_char,
    ret: *mut libc::hostent,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut libc::hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let a = P((name, ret, buf, result, h_errnop));
    // SAFETY: forwarded.
    lookup_errno(move || unsafe {
        let a = a;
        real::gethostbyname_r(a.0.0, a.0.1, a.0.2, buflen, a.0.3, a.0.4)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    ret: *mut libc::hostent,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut libc::hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let a = P((name, ret, buf, result, h_errnop));
    // SAFETY: forwarded.
    lookup_errno(move || unsafe {
        let a = a;
        real::gethostbyname2_r(a.0.0, af, a.0.1, a.0.2, buflen, a.0.3, a.0.4)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn gethostbyaddr_r(
    addr: *const c_void,
    len: libc::socklen_t,
    ty: c_int,
    ret: *mut libc::hostent,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut libc::hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let a = P((addr, ret, buf, result, h_errnop));
    // SAFETY: forwarded.
    lookup_errno(move || unsafe {
        let a = a;
        real::gethostbyaddr_r(a.0.0, len, ty, a.0.1, a.0.2, buflen, a.0.3, a.0.4)
    })
}

/// A raw syscall that may block for long on storage: offloaded.
fn offload_syscall(n: i64, a: usize, b: usize, c: usize) -> c_int {
    // SAFETY: the program's own arguments.
    sys::encode(offload::run(move || unsafe { sys::syscall6(n, a, b, c, 0, 0, 0) })) as c_int
}

/// A raw syscall that waits for another party (a lock holder, a terminal's reader),
/// which may be a thread of this program: never queued behind other such waits.
fn waiting_syscall(n: i64, a: usize, b: usize, c: usize) -> c_int {
    // SAFETY: the program's own arguments.
    sys::encode(offload::run_waiting(move || unsafe { sys::syscall6(n, a, b, c, 0, 0, 0) })) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fsync(fd: c_int) -> c_int {
    crate::hub::cancel::point(|| {
        offload_syscall(libc::SYS_fsync, fd as usize, 0, 0)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdatasync(fd: c_int) -> c_int {
    crate::hub::cancel::point(|| {
        offload_syscall(libc::SYS_fdatasync, fd as usize, 0, 0)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn flock(fd: c_int, op: c_int) -> c_int {
    if op & libc::LOCK_NB != 0 || op & libc::LOCK_UN != 0 {
        // Non-blocking tries and unlocks never wait.
        // SAFETY: no memory arguments.
        return sys::encode(unsafe { sc!(libc::SYS_flock, fd, op) }) as c_int;
    }
    waiting_syscall(libc::SYS_flock, fd as usize, op as usize, 0)
}

/// fcntl's waiting lock commands (F_SETLKW, F_OFD_SETLKW), called from the fcntl hook.
pub fn fcntl_lock_wait(fd: c_int, cmd: c_int, arg: usize) -> isize {
    // An unlock never waits.
    // SAFETY: F_SETLKW's argument is the program's struct flock (checked non-null).
    if arg != 0 && unsafe { (*(arg as *const libc::flock)).l_type } == libc::F_UNLCK as i16 {
        return sys::encode(sys::fcntl(fd, cmd, arg));
    }
    waiting_syscall(libc::SYS_fcntl, fd as usize, cmd as usize, arg) as isize
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn lockf(fd: c_int, cmd: c_int, len: libc::off_t) -> c_int {
    // lockf is fcntl with a write lock over [current offset, +len).
    // SAFETY: a zeroed flock is valid.
    let mut fl: libc::flock = unsafe { core::mem::zeroed() };
    fl.l_whence = libc::SEEK_CUR as i16;
    fl.l_len = len;
    fl.l_type = if cmd == libc::F_ULOCK { libc::F_UNLCK } else { libc::F_WRLCK } as i16;
    let p = &mut fl as *mut libc::flock;
    match cmd {
        libc::F_ULOCK => sys::encode(sys::fcntl(fd, libc::F_SETLK, p as usize)) as c_int,
        libc::F_LOCK => waiting_syscall(libc::SYS_fcntl, fd as usize, libc::F_SETLKW as usize, p as usize),
        libc::F_TLOCK => match sys::fcntl(fd, libc::F_SETLK, p as usize) {
            Err(e) if e.0 == libc::EAGAIN => sys::encode(Err(sys::Errno(libc::EACCES))) as c_int,
            r => sys::encode(r) as c_int,
        },
        libc::F_TEST => match sys::fcntl(fd, libc::F_GETLK, p as usize) {
            // SAFETY: p points to fl, filled by the kernel.
            Ok(_) if unsafe { (*p).l_type } == libc::F_UNLCK as i16 => 0,
            Ok(_) => sys::encode(Err(sys::Errno(libc::EACCES))) as c_int,
            Err(e) => sys::encode(Err(e)) as c_int,
        },
        _ => sys::encode(Err(sys::Errno(libc::EINVAL))) as c_int,
    }
}

/// `system`, as glibc builds it, with the wait parked: SIGINT and SIGQUIT ignored in
/// the process while any `system` runs, SIGCHLD blocked in the calling thread (so a
/// SIGCHLD handler that reaps every child cannot take this one first), `/bin/sh -c cmd`
/// started with `posix_spawn` with the caller's own signal mask and SIGINT/SIGQUIT at
/// their defaults, and `waitpid` for it — the hooked one, which parks instead of
/// blocking every green thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn system(cmd: *const c_char) -> c_int {
    if cmd.is_null() || crate::hub::local().is_none() {
        // SAFETY: system(NULL) only checks for a shell; off the hub, glibc's own.
        return unsafe { real::system(cmd) };
    }
    // SAFETY: plain libc calls on valid, local structures; cmd is the program's string.
    unsafe {
        ignore_intr_quit(true);
        let (mut chld, mut omask): (libc::sigset_t, libc::sigset_t) = (core::mem::zeroed(), core::mem::zeroed());
        libc::sigemptyset(&mut chld);
        libc::sigaddset(&mut chld, libc::SIGCHLD);
        crate::hooks::signal::pthread_sigmask(libc::SIG_BLOCK, &chld, &mut omask);

        let mut attr: libc::posix_spawnattr_t = core::mem::zeroed();
        libc::posix_spawnattr_init(&mut attr);
        let mut def: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut def);
        if !SAVED_IGN[0].load(core::sync::atomic::Ordering::Relaxed) {
            libc::sigaddset(&mut def, libc::SIGINT);
        }
        if !SAVED_IGN[1].load(core::sync::atomic::Ordering::Relaxed) {
            libc::sigaddset(&mut def, libc::SIGQUIT);
        }
        libc::posix_spawnattr_setsigdefault(&mut attr, &def);
        libc::posix_spawnattr_setsigmask(&mut attr, &omask);
        libc::posix_spawnattr_setflags(&mut attr, (libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETSIGMASK) as _);
        let argv: [*const c_char; 4] = [c"sh".as_ptr(), c"-c".as_ptr(), cmd, core::ptr::null()];
        unsafe extern "C" {
            static environ: *const *mut c_char;
        }
        let mut pid: libc::pid_t = 0;
        let e = real::posix_spawn(&mut pid, c"/bin/sh".as_ptr(), core::ptr::null(), &attr, argv.as_ptr() as _, environ);
        libc::posix_spawnattr_destroy(&mut attr);
        let mut status: c_int = 0;
        let mut err = 0;
        if e == 0 {
            loop {
                let r = crate::hooks::process::waitpid(pid, &mut status, 0);
                if r == pid {
                    break;
                }
                if r < 0 && sys::errno() == libc::EINTR {
                    continue;
                }
                // Another waiter took the child (a SIGCHLD handler while another thread
                // left SIGCHLD unblocked, as natively).
                status = -1;
                err = sys::errno();
                break;
            }
        } else {
            status = 127 << 8;
        }
        ignore_intr_quit(false);
        crate::hooks::signal::pthread_sigmask(libc::SIG_SETMASK, &omask, core::ptr::null_mut());
        if err != 0 {
            sys::set_errno(err);
        }
        status
    }
}

/// How many `system` calls are running, and whether SIGINT/SIGQUIT were ignored before
/// the first of them (then the child keeps them ignored).
static SYSTEM_RUNNING: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
static SAVED_IGN: [core::sync::atomic::AtomicBool; 2] = [const { core::sync::atomic::AtomicBool::new(false) }; 2];
static SAVED_ACT: [core::sync::atomic::AtomicPtr<libc::sigaction>; 2] =
    [const { core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()) }; 2];

/// The first `system` saves SIGINT's and SIGQUIT's actions and ignores both; the last
/// puts them back (glibc's reference count, on the hub thread: no lock needed).
unsafe fn ignore_intr_quit(start: bool) {
    use core::sync::atomic::Ordering::Relaxed;
    let sigs = [libc::SIGINT, libc::SIGQUIT];
    // SAFETY: sigaction through the hook with valid structures; the saved actions are
    // boxed while any system() runs.
    unsafe {
        if start {
            if SYSTEM_RUNNING.fetch_add(1, Relaxed) == 0 {
                for (i, sig) in sigs.iter().enumerate() {
                    let mut ign: libc::sigaction = core::mem::zeroed();
                    ign.sa_sigaction = libc::SIG_IGN;
                    let old = Box::into_raw(Box::new(core::mem::zeroed::<libc::sigaction>()));
                    crate::hooks::signal::sigaction(*sig, &ign, old);
                    SAVED_IGN[i].store((*old).sa_sigaction == libc::SIG_IGN, Relaxed);
                    SAVED_ACT[i].store(old, Relaxed);
                }
            }
        } else if SYSTEM_RUNNING.fetch_sub(1, Relaxed) == 1 {
            for (i, sig) in sigs.iter().enumerate() {
                let old = SAVED_ACT[i].swap(core::ptr::null_mut(), Relaxed);
                if !old.is_null() {
                    crate::hooks::signal::sigaction(*sig, old, core::ptr::null_mut());
                    drop(Box::from_raw(old));
                }
            }
        }
    }
}

/// `pclose` waits for the child of `popen` inside glibc: offloaded as well.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pclose(f: *mut libc::FILE) -> c_int {
    if !f.is_null() && crate::hub::local().is_some() {
        // SAFETY: the program's FILE from popen.
        let fd = unsafe { libc::fileno(f) };
        if fd >= 0 {
            crate::fd::table::closing(fd);
        }
    }
    let a = P(f);
    // SAFETY: forwarded.
    offload_errno(move || unsafe { real::pclose({ a }.0) })
}

/// Writes back every dirty page of every filesystem: offloaded.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sync() {
    // SAFETY: no arguments.
    let _ = offload::run(|| unsafe { sc!(libc::SYS_sync) });
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn syncfs(fd: c_int) -> c_int {
    offload_syscall(libc::SYS_syncfs, fd as usize, 0, 0)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sync_file_range(fd: c_int, off: i64, n: i64, flags: libc::c_uint) -> c_int {
    // SAFETY: no memory arguments.
    sys::encode(offload::run(move || unsafe { sc!(libc::SYS_sync_file_range, fd, off, n, flags) })) as c_int
}

/// `msync(MS_SYNC)` waits for storage; `MS_ASYNC` and `MS_INVALIDATE` alone do not.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn msync(addr: *mut c_void, len: usize, flags: c_int) -> c_int {
    crate::hub::cancel::point(|| {
        if flags & libc::MS_SYNC == 0 {
            // SAFETY: the program's own mapping.
            return sys::encode(unsafe { sc!(libc::SYS_msync, addr, len, flags) }) as c_int;
        }
        offload_syscall(libc::SYS_msync, addr as usize, len, flags as usize)
    })
}

/// `tcdrain` waits until a terminal has transmitted its output (on a pty: until the
/// other side, maybe a thread of this program, has read it): offloaded.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tcdrain(fd: c_int) -> c_int {
    crate::hub::cancel::point(|| {
        waiting_syscall(libc::SYS_ioctl, fd as usize, libc::TCSBRK as usize, 1)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn lockf64(fd: c_int, cmd: c_int, len: libc::off_t) -> c_int {
    // SAFETY: forwarded; off_t is 64-bit here.
    unsafe { lockf(fd, cmd, len) }
}

static AIO_SUSPEND: real::Lazy = real::Lazy::new(c"aio_suspend", c"aio_suspend64");
static GAI_SUSPEND: real::Lazy = real::Lazy::new(c"gai_suspend", c"gai_suspend");
type SuspendFn = unsafe extern "C" fn(*const *const c_void, c_int, *const libc::timespec) -> c_int;

/// aio_suspend/gai_suspend wait inside libc for requests its helper threads complete.
fn suspend_offloaded(l: &real::Lazy, list: *const *const c_void, n: c_int, ts: *const libc::timespec) -> c_int {
    let Some(f) = l.get() else {
        sys::set_errno(libc::ENOSYS);
        return -1;
    };
    // SAFETY: f is the libc function with this signature.
    let f: SuspendFn = unsafe { core::mem::transmute(f) };
    let a = P((list, ts));
    // SAFETY: forwarded; the program's arrays outlive the parked call.
    offload_errno(move || unsafe {
        let a = a;
        f(a.0.0, n, a.0.1)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn aio_suspend(list: *const *const c_void, n: c_int, ts: *const libc::timespec) -> c_int {
    crate::hub::cancel::point(|| {
        suspend_offloaded(&AIO_SUSPEND, list, n, ts)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn aio_suspend64(list: *const *const c_void, n: c_int, ts: *const libc::timespec) -> c_int {
    crate::hub::cancel::point(|| {
        suspend_offloaded(&AIO_SUSPEND, list, n, ts)
    })
}

/// gai_suspend returns EAI_* codes, not -1/errno.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gai_suspend(list: *const *const c_void, n: c_int, ts: *const libc::timespec) -> c_int {
    match GAI_SUSPEND.get() {
        None => libc::EAI_SYSTEM,
        Some(_) => suspend_offloaded(&GAI_SUSPEND, list, n, ts),
    }
}

// ---- user and group lookups (NSS) ----------------------------------------------------------
// With the `files` backend these read /etc; with LDAP, sssd or systemd-userdbd they make
// network or socket round trips inside libc. Offloaded either way: a few µs on a pool
// thread against a possibly unbounded stall of every green thread.

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpwnam(name: *const c_char) -> *mut libc::passwd {
    let a = P(name);
    // SAFETY: forwarded; the result points to glibc's process-wide static buffer.
    offload_errno(move || P(unsafe { real::getpwnam({ a }.0) })).0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpwuid(uid: libc::uid_t) -> *mut libc::passwd {
    // SAFETY: forwarded.
    offload_errno(move || P(unsafe { real::getpwuid(uid) })).0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpwnam_r(name: *const c_char, pw: *mut libc::passwd, buf: *mut c_char, len: usize, res: *mut *mut libc::passwd) -> c_int {
    let a = P((name, pw, buf, res));
    // SAFETY: forwarded; the program's buffers outlive the parked call.
    offload_errno(move || unsafe {
        let a = a;
        real::getpwnam_r(a.0.0, a.0.1, a.0.2, len, a.0.3)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpwuid_r(uid: libc::uid_t, pw: *mut libc::passwd, buf: *mut c_char, len: usize, res: *mut *mut libc::passwd) -> c_int {
    let a = P((pw, buf, res));
    // SAFETY: as above.
    offload_errno(move || unsafe {
        let a = a;
        real::getpwuid_r(uid, a.0.0, a.0.1, len, a.0.2)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getgrnam(name: *const c_char) -> *mut libc::group {
    let a = P(name);
    // SAFETY: forwarded; static result buffer.
    offload_errno(move || P(unsafe { real::getgrnam({ a }.0) })).0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getgrgid(gid: libc::gid_t) -> *mut libc::group {
    // SAFETY: forwarded.
    offload_errno(move || P(unsafe { real::getgrgid(gid) })).0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getgrnam_r(name: *const c_char, gr: *mut libc::group, buf: *mut c_char, len: usize, res: *mut *mut libc::group) -> c_int {
    let a = P((name, gr, buf, res));
    // SAFETY: as above.
    offload_errno(move || unsafe {
        let a = a;
        real::getgrnam_r(a.0.0, a.0.1, a.0.2, len, a.0.3)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getgrgid_r(gid: libc::gid_t, gr: *mut libc::group, buf: *mut c_char, len: usize, res: *mut *mut libc::group) -> c_int {
    let a = P((gr, buf, res));
    // SAFETY: as above.
    offload_errno(move || unsafe {
        let a = a;
        real::getgrgid_r(gid, a.0.0, a.0.1, len, a.0.2)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn getgrouplist(user: *const c_char, group: libc::gid_t, groups: *mut libc::gid_t, n: *mut c_int) -> c_int {
    let a = P((user, groups, n));
    // SAFETY: as above.
    offload_errno(move || unsafe {
        let a = a;
        real::getgrouplist(a.0.0, group, a.0.1, a.0.2)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn initgroups(user: *const c_char, group: libc::gid_t) -> c_int {
    let a = P(user);
    // SAFETY: forwarded.
    offload_errno(move || unsafe { real::initgroups({ a }.0, group) })
}

/// A break on a serial line lasts a quarter of a second or more.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tcsendbreak(fd: c_int, duration: c_int) -> c_int {
    // SAFETY: forwarded.
    offload_errno(move || unsafe { real::tcsendbreak(fd, duration) })
}
