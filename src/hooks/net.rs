//! Sockets: creation, accept, connect, the recv/send family, socket timeouts.

use crate::fd::io::{self as fio, Dir, Plan};
use crate::fd::table;
use crate::green::{Reason, Wake};
use crate::hub;
use crate::sys::{self, Errno, encode, sc};
use core::ffi::{c_int, c_void};
use libc::{msghdr, sockaddr, socklen_t};

unsafe extern "C" {
    fn __chk_fail() -> !;
}

/// SOCK_TYPE_MASK: the type bits of `socket`'s second argument.
const SOCK_TYPE_MASK: c_int = 0xf;

#[unsafe(no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int {
    // The socket is created exactly as asked: every would-block call on it is made
    // non-blocking per call, so its description never carries a flag the program did
    // not set (a child it is handed to, and glibc's own writes, see it as created).
    // SAFETY: no memory arguments.
    let r = unsafe { sc!(libc::SYS_socket, domain, ty, proto) };
    if let (Ok(fd), Some(_)) = (r, hub::local()) {
        table::created_socket(fd as i32, ty & SOCK_TYPE_MASK, ty & libc::SOCK_NONBLOCK != 0, 0, 0);
    }
    encode(r) as c_int
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn socketpair(domain: c_int, ty: c_int, proto: c_int, sv: *mut c_int) -> c_int {
    // SAFETY: sv points to two ints (the program's call).
    let r = unsafe { sc!(libc::SYS_socketpair, domain, ty, proto, sv) };
    if r.is_ok() && hub::local().is_some() {
        let nb = ty & libc::SOCK_NONBLOCK != 0;
        // SAFETY: the kernel filled both.
        unsafe {
            table::created_socket(*sv, ty & SOCK_TYPE_MASK, nb, 0, 0);
            table::created_socket(*sv.add(1), ty & SOCK_TYPE_MASK, nb, 0, 0);
        }
    }
    encode(r) as c_int
}

/// `accept` has no per-call "do not wait" flag. It is called only once `poll(0)` says a
/// connection is pending. On a listener only this process holds, nothing can take the
/// connection between the two calls (one hub runs one thing at a time). A listener
/// shared with another process (inherited, or held by a forked child) may lose that
/// race to it, and the accept would then wait for the next connection: there the accept
/// itself runs on the offload pool, so only the calling thread waits, as natively.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    crate::hub::cancel::point(|| {
        let raw = || {
            // SAFETY: the program's own arguments.
            unsafe { sc!(libc::SYS_accept4, fd, addr, len, flags) }
        };
        let mut timeouts = (0, 0);
        let r = match fio::prepare(fd) {
            Plan::Green(h, e) => {
                // SAFETY: hub thread owns the table.
                timeouts = unsafe { ((*e).rcvtimeo, (*e).sndtimeo) };
                fio::run(
                    h,
                    fd,
                    e,
                    Dir::Read,
                    Reason::Accept,
                    || {
                        // SAFETY: hub thread owns the table.
                        if unsafe { (*e).private } {
                            // SAFETY: e is fd's slot.
                            return unsafe {
                                table::test_then_call(e, || {
                                    if sys::poll_now(fd, libc::POLLIN)? == 0 {
                                        return Err(Errno::EAGAIN);
                                    }
                                    raw()
                                })
                            };
                        }
                        if sys::poll_now(fd, libc::POLLIN)? == 0 {
                            return Err(Errno::EAGAIN);
                        }
                        let a = (addr as usize, len as usize);
                        // SAFETY: the program's own arguments; they outlive the parked call.
                        crate::offload::run_waiting(move || unsafe { sc!(libc::SYS_accept4, fd, a.0, a.1, flags) })
                    },
                    raw,
                )
            }
            Plan::Bypass(why) => {
                fio::bypassed("accept", fd, why);
                raw()
            }
        };
        if let (Ok(n), Some(_)) = (r, hub::local()) {
            // An accepted socket is a stream like its listener and starts with the
            // listener's timeouts (the kernel copies them).
            let nb = flags & libc::SOCK_NONBLOCK != 0;
            let ty = table::peek(fd).map(|e| {
                // SAFETY: hub thread owns the table.
                unsafe { (*e).sotype }
            });
            table::created_socket(n as i32, ty.unwrap_or(0), nb, timeouts.0, timeouts.1);
        }
        encode(r) as c_int
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { accept4(fd, addr, len, 0) }
}

/// `connect` has no per-call "do not wait" flag either. On a socket whose description
/// only this fd holds, it is issued with O_NONBLOCK set for that one system call
/// (nobody else can see the flag), and the thread parks until the connection is
/// established or fails. A socket shared with another process is connected on the
/// offload pool instead. A Unix socket whose listener's backlog is full answers
/// `EAGAIN` when non-blocking where the blocking call waits: the thread retries on a
/// short back-off.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    crate::hub::cancel::point(|| {
        // SAFETY: the program's own arguments.
        let raw = || unsafe { sc!(libc::SYS_connect, fd, addr, len) };
        let Plan::Green(h, e) = fio::prepare(fd) else { return encode(raw()) as c_int };
        // SAFETY: hub thread owns the table.
        let (exclusive, timeout) = unsafe { (table::exclusive(e), (*e).sndtimeo) };
        if !exclusive {
            if table::program_nonblocking(fd, e) {
                // Made non-blocking by its owner (glibc's resolver and nscd sockets,
                // opened inside libc): the call does not wait, as natively.
                return encode(raw()) as c_int;
            }
            // SAFETY: the program's own arguments; they outlive the parked call.
            let a = (addr as usize, len);
            return encode(crate::offload::run_waiting(move || unsafe { sc!(libc::SYS_connect, fd, a.0, a.1) })) as c_int;
        }
        let deadline = fio::deadline_after(timeout);
        let mut backoff = 1_000_000u64;
        loop {
            match table::with_nonblocking(fd, raw) {
                Err(Errno(libc::EINPROGRESS)) => break,
                Err(Errno::EAGAIN) if addr_family(addr, len) == Some(libc::AF_UNIX as u16) => {
                    let now = sys::now_ns();
                    if deadline.is_some_and(|d| now >= d) {
                        return encode(Err(Errno::EAGAIN)) as c_int;
                    }
                    let until = deadline.map_or(now + backoff, |d| d.min(now + backoff));
                    backoff = (backoff * 2).min(20_000_000);
                    // SAFETY: hub thread.
                    match unsafe { hub::sleep_until(h, until) } {
                        Wake::Interrupted => return encode(Err(Errno::EINTR)) as c_int,
                        _ => continue,
                    }
                }
                r => return encode(r) as c_int,
            }
        }
        loop {
            match fio::park_on(h, fd, e, Dir::Write, deadline, Reason::Connect) {
                Ok(Wake::FdReady) | Ok(Wake::Notified) => {}
                Ok(Wake::Timeout) => return encode(Err(Errno(libc::EINPROGRESS))) as c_int,
                Ok(Wake::Closed) => return encode(Err(Errno::EBADF)) as c_int,
                Ok(Wake::Interrupted) => return encode(Err(Errno::EINTR)) as c_int,
                Err(e) => return encode(Err(e)) as c_int,
            }
            if sys::poll_now(fd, libc::POLLOUT).unwrap_or(libc::POLLOUT) == 0 {
                continue;
            }
            return match table::sockopt_int(fd, libc::SO_ERROR) {
                Err(e) => encode(Err(e)) as c_int,
                Ok(err) if err != 0 => encode(Err(Errno(err))) as c_int,
                Ok(_) => 0,
            };
        }
    })
}

/// The address family of a `connect` target, if the length covers it.
fn addr_family(addr: *const sockaddr, len: socklen_t) -> Option<u16> {
    // SAFETY: the kernel already read `len` bytes of it; sa_family is the first field.
    (!addr.is_null() && len as usize >= 2).then(|| unsafe { (*addr).sa_family })
}

/// Flags with which a receive never waits natively: the kernel answers at once.
const NEVER_WAITS: c_int = libc::MSG_DONTWAIT | libc::MSG_ERRQUEUE | libc::MSG_OOB;

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvfrom(fd: c_int, buf: *mut c_void, n: usize, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> isize {
    crate::hub::cancel::point(|| {
        let raw = |f: c_int| {
            // SAFETY: the program's own arguments.
            unsafe { sc!(libc::SYS_recvfrom, fd, buf, n, f, addr, len) }
        };
        if flags & NEVER_WAITS != 0 {
            return encode(raw(flags));
        }
        match fio::prepare(fd) {
            Plan::Green(h, e) if flags & libc::MSG_WAITALL != 0 && table::is_stream(fd, e) => {
                if flags & libc::MSG_PEEK != 0 {
                    return encode(peek_waitall(h, fd, e, n, || raw(flags | libc::MSG_DONTWAIT)));
                }
                encode(recv_waitall(h, fd, e, buf, n, flags, addr, len))
            }
            Plan::Green(h, e) => encode(fio::run(h, fd, e, Dir::Read, Reason::Read, || raw(flags | libc::MSG_DONTWAIT), || raw(flags))),
            Plan::Bypass(why) => {
                fio::bypassed("recv", fd, why);
                encode(raw(flags))
            }
        }
    })
}

/// MSG_WAITALL: a blocking recv waits for all `n` bytes (on a stream) unless the peer
/// closes, an error or a signal comes first, or a timeout expires; then it returns what
/// it has. With MSG_DONTWAIT added the kernel returns what is there at once, so collect.
#[allow(clippy::too_many_arguments)]
fn recv_waitall(
    h: *mut crate::hub::Hub,
    fd: c_int,
    e: *mut table::FdEntry,
    buf: *mut c_void,
    n: usize,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> Result<usize, Errno> {
    let mut got = 0usize;
    loop {
        let at = (buf as usize + got) as *mut c_void;
        let want = n - got;
        let r = fio::run(
            h,
            fd,
            e,
            Dir::Read,
            Reason::Read,
            // SAFETY: the rest of the program's buffer.
            || unsafe { sc!(libc::SYS_recvfrom, fd, at, want, flags | libc::MSG_DONTWAIT, addr, len) },
            // SAFETY: as above, blocking.
            || unsafe { sc!(libc::SYS_recvfrom, fd, at, want, flags, addr, len) },
        );
        match r {
            Ok(0) => return Ok(got),
            Ok(k) => {
                got += k;
                if got >= n {
                    return Ok(got);
                }
            }
            Err(err) => return if got > 0 { Ok(got) } else { Err(err) },
        }
    }
}


#[unsafe(no_mangle)]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: usize, flags: c_int) -> isize {
    // SAFETY: forwarded.
    unsafe { recvfrom(fd, buf, n, flags, core::ptr::null_mut(), core::ptr::null_mut()) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __recv_chk(fd: c_int, buf: *mut c_void, n: usize, buflen: usize, flags: c_int) -> isize {
    if n > buflen {
        // SAFETY: never returns.
        unsafe { __chk_fail() }
    }
    // SAFETY: forwarded.
    unsafe { recvfrom(fd, buf, n, flags, core::ptr::null_mut(), core::ptr::null_mut()) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: usize,
    buflen: usize,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> isize {
    if n > buflen {
        // SAFETY: never returns.
        unsafe { __chk_fail() }
    }
    // SAFETY: forwarded.
    unsafe { recvfrom(fd, buf, n, flags, addr, len) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> isize {
    crate::hub::cancel::point(|| {
        let raw = |f: c_int| {
            // SAFETY: the program's own arguments.
            unsafe { sc!(libc::SYS_recvmsg, fd, msg, f) }
        };
        if flags & NEVER_WAITS != 0 {
            return encode(raw(flags));
        }
        match fio::prepare(fd) {
            Plan::Green(h, e) if flags & libc::MSG_WAITALL != 0 && table::is_stream(fd, e) => {
                if flags & libc::MSG_PEEK != 0 {
                    // SAFETY: msg is the program's valid msghdr.
                    let n = unsafe { iov_total((*msg).msg_iov, (*msg).msg_iovlen as usize) };
                    return encode(peek_waitall(h, fd, e, n, || raw(flags | libc::MSG_DONTWAIT)));
                }
                // SAFETY: msg is the program's valid msghdr.
                encode(unsafe { recvmsg_waitall(h, fd, e, msg, flags) })
            }
            Plan::Green(h, e) => encode(fio::run(h, fd, e, Dir::Read, Reason::Read, || raw(flags | libc::MSG_DONTWAIT), || raw(flags))),
            Plan::Bypass(why) => {
                fio::bypassed("recvmsg", fd, why);
                encode(raw(flags))
            }
        }
    })
}

/// Total length of an iovec array.
///
/// # Safety
/// `iov` has `cnt` entries.
unsafe fn iov_total(iov: *const libc::iovec, cnt: usize) -> usize {
    if iov.is_null() {
        return 0;
    }
    // SAFETY: per contract.
    unsafe { core::slice::from_raw_parts(iov, cnt) }.iter().map(|v| v.iov_len).sum()
}

/// `recvmsg(MSG_WAITALL)` on a stream: the whole amount, collected across arrivals
/// into the rest of the iovec, as the blocking call does. Ancillary data ends the
/// collection (the kernel stops at a message carrying it, too); what was received
/// when an error, a signal, a timeout or end of stream comes is returned.
///
/// # Safety
/// `msg` is the program's valid msghdr; hub thread.
unsafe fn recvmsg_waitall(h: *mut crate::hub::Hub, fd: c_int, e: *mut table::FdEntry, msg: *mut msghdr, flags: c_int) -> Result<usize, Errno> {
    // SAFETY: per contract.
    let (iov, cnt) = unsafe { ((*msg).msg_iov as *const libc::iovec, (*msg).msg_iovlen as usize) };
    // SAFETY: as above.
    let total = unsafe { iov_total(iov, cnt) };
    let attempt = |m: *mut msghdr, f: c_int| {
        // SAFETY: m is the program's header or a copy pointing into its buffers.
        fio::run(h, fd, e, Dir::Read, Reason::Read, || unsafe { sc!(libc::SYS_recvmsg, fd, m, f | libc::MSG_DONTWAIT) }, || unsafe {
            sc!(libc::SYS_recvmsg, fd, m, f)
        })
    };
    let first = attempt(msg, flags)?;
    // SAFETY: the kernel filled the program's header.
    if first == 0 || first >= total || unsafe { (*msg).msg_controllen } != 0 {
        return Ok(first);
    }
    // SAFETY: iov has cnt entries.
    let orig: Vec<libc::iovec> = unsafe { core::slice::from_raw_parts(iov, cnt) }.to_vec();
    let mut got = first;
    while got < total {
        let mut rest = fio::advanced(&orig, got);
        // SAFETY: a copy of the program's header for the rest of its buffers.
        let mut m = unsafe { *msg };
        m.msg_iov = rest.as_mut_ptr();
        m.msg_iovlen = rest.len() as _;
        m.msg_control = core::ptr::null_mut();
        m.msg_controllen = 0;
        m.msg_name = core::ptr::null_mut();
        m.msg_namelen = 0;
        match attempt(&mut m, flags) {
            Ok(0) | Err(_) => break,
            Ok(k) => got += k,
        }
        // SAFETY: the program's header.
        unsafe { (*msg).msg_flags = m.msg_flags };
    }
    Ok(got)
}

/// `MSG_PEEK | MSG_WAITALL` on a stream: the blocking call waits until `n` bytes can be
/// peeked (or the stream ends); peek again after each arrival.
fn peek_waitall(h: *mut crate::hub::Hub, fd: c_int, e: *mut table::FdEntry, n: usize, mut peek: impl FnMut() -> Result<usize, Errno>) -> Result<usize, Errno> {
    // SAFETY: hub thread owns the entry.
    let deadline = fio::deadline_after(unsafe { (*e).rcvtimeo });
    loop {
        let r = fio::run(h, fd, e, Dir::Read, Reason::Read, &mut peek, || Err(Errno::EAGAIN));
        let k = match r {
            Ok(k) if k > 0 && k < n => k,
            r => return r,
        };
        // Nothing more will come once the peer has shut down its side.
        let hup = sys::poll_now(fd, libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR).unwrap_or(libc::POLLHUP);
        if hup != 0 {
            return Ok(k);
        }
        match fio::park_on(h, fd, e, Dir::Read, deadline, Reason::Read) {
            Ok(w) => {
                if fio::woke(w, Errno::EAGAIN).is_err() {
                    return Ok(k);
                }
            }
            Err(_) => return Ok(k),
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(fd: c_int, buf: *const c_void, n: usize, flags: c_int, addr: *const sockaddr, len: socklen_t) -> isize {
    crate::hub::cancel::point(|| {
        if flags & libc::MSG_DONTWAIT != 0 {
            // SAFETY: the program's own arguments.
            return encode(unsafe { sc!(libc::SYS_sendto, fd, buf, n, flags, addr, len) });
        }
        match fio::prepare(fd) {
            Plan::Green(h, e) => {
                let iov = libc::iovec { iov_base: buf as *mut c_void, iov_len: n };
                let send = |iov: *const libc::iovec, f: c_int| {
                    // SAFETY: iov is one live iovec inside the program's buffer.
                    unsafe { sc!(libc::SYS_sendto, fd, (*iov).iov_base, (*iov).iov_len, f, addr, len) }
                };
                encode(fio::write_all(h, fd, e, &iov, 1, n, |v, _| send(v, flags | libc::MSG_DONTWAIT), |v, _| send(v, flags)))
            }
            Plan::Bypass(why) => {
                fio::bypassed("send", fd, why);
                // SAFETY: the program's own arguments.
                encode(unsafe { sc!(libc::SYS_sendto, fd, buf, n, flags, addr, len) })
            }
        }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: usize, flags: c_int) -> isize {
    // SAFETY: forwarded.
    unsafe { sendto(fd, buf, n, flags, core::ptr::null(), 0) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> isize {
    crate::hub::cancel::point(|| {
        let raw = |m: *const msghdr, f: c_int| {
            // SAFETY: m is the program's msghdr or a copy pointing into its buffers.
            unsafe { sc!(libc::SYS_sendmsg, fd, m, f) }
        };
        if hub::local().is_some() {
            // SAFETY: the program's msghdr; hub thread.
            unsafe { table::sent_rights(msg) };
        }
        if flags & libc::MSG_DONTWAIT != 0 {
            return encode(raw(msg, flags));
        }
        match fio::prepare(fd) {
            Plan::Green(h, e) => {
                // SAFETY: msg is the program's valid msghdr.
                let (iov, cnt) = unsafe { ((*msg).msg_iov as *const libc::iovec, (*msg).msg_iovlen as i32) };
                // SAFETY: iov has cnt entries.
                let total: usize = unsafe { core::slice::from_raw_parts(iov, cnt.max(0) as usize) }.iter().map(|v| v.iov_len).sum();
                let with = |v: *const libc::iovec, c: i32, f: c_int, first: bool| {
                    // SAFETY: copy of the program's header; control data is sent only once.
                    let mut m = unsafe { *msg };
                    m.msg_iov = v as *mut libc::iovec;
                    m.msg_iovlen = c as _;
                    if !first {
                        m.msg_control = core::ptr::null_mut();
                        m.msg_controllen = 0;
                    }
                    raw(&m, f)
                };
                encode(fio::write_all(
                    h,
                    fd,
                    e,
                    iov,
                    cnt,
                    total,
                    |v, c| with(v, c, flags | libc::MSG_DONTWAIT, v == iov),
                    |v, c| with(v, c, flags, v == iov),
                ))
            }
            Plan::Bypass(why) => {
                fio::bypassed("sendmsg", fd, why);
                encode(raw(msg, flags))
            }
        }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int {
    // SAFETY: the program's own arguments.
    let r = unsafe { sc!(libc::SYS_setsockopt, fd, level, name, val, len) };
    if r.is_ok() && level == libc::SOL_SOCKET && (name == libc::SO_RCVTIMEO || name == libc::SO_SNDTIMEO) && hub::local().is_some() {
        if let Some(e) = table::lookup(fd) {
            if len as usize >= core::mem::size_of::<libc::timeval>() {
                // SAFETY: the kernel accepted val as a timeval.
                let ns = table::timeval_ns(unsafe { &*(val as *const libc::timeval) });
                // SAFETY: hub thread owns the table.
                unsafe {
                    if name == libc::SO_RCVTIMEO {
                        (*e).rcvtimeo = ns;
                    } else {
                        (*e).sndtimeo = ns;
                    }
                }
            }
        }
    }
    encode(r) as c_int
}

/// `recvmmsg`: waits for the first datagram like `recvmsg`; then, as the kernel does,
/// keeps waiting until `vlen` are in unless MSG_WAITFORONE is set or the timeout (checked
/// after each arrival, as natively) has passed. The timeout is updated with the time left.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmmsg(fd: c_int, vec: *mut libc::mmsghdr, vlen: libc::c_uint, flags: c_int, timeout: *mut libc::timespec) -> c_int {
    crate::hub::cancel::point(|| {
        let raw = |v: *mut libc::mmsghdr, n: libc::c_uint, f: c_int, t: *mut libc::timespec| {
            // SAFETY: the program's own vector (or its tail) and timeout.
            unsafe { sc!(libc::SYS_recvmmsg, fd, v, n, f, t) }
        };
        if flags & libc::MSG_DONTWAIT != 0 || vlen == 0 {
            return encode(raw(vec, vlen, flags, timeout)) as c_int;
        }
        let Plan::Green(h, e) = fio::prepare(fd) else { return encode(raw(vec, vlen, flags, timeout)) as c_int };
        // SAFETY: the program's timespec, if any.
        let deadline = (!timeout.is_null()).then(|| crate::sys::now_ns().saturating_add(crate::sys::ts_to_ns(unsafe { &*timeout })));
        let mut got: libc::c_uint = 0;
        let null = core::ptr::null_mut();
        let r = loop {
            // SAFETY: got < vlen, so the tail is inside the program's vector.
            let tail = unsafe { vec.add(got as usize) };
            let n = vlen - got;
            match fio::run(h, fd, e, Dir::Read, Reason::Read, || raw(tail, n, flags | libc::MSG_DONTWAIT, null), || raw(tail, n, flags, null)) {
                Ok(k) => got += k as libc::c_uint,
                Err(err) if got == 0 => break Err(err),
                Err(_) => break Ok(got as usize),
            }
            if got >= vlen || flags & libc::MSG_WAITFORONE != 0 || deadline.is_some_and(|d| crate::sys::now_ns() >= d) {
                break Ok(got as usize);
            }
        };
        if let Some(d) = deadline {
            // SAFETY: non-null (deadline exists).
            unsafe { *timeout = crate::sys::ns_to_ts(d.saturating_sub(crate::sys::now_ns())) };
        }
        encode(r) as c_int
    })
}

/// `sendmmsg`: each message is sent as a blocking `sendmsg` would, parking while the
/// socket is full; stops at the first error after at least one was sent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmmsg(fd: c_int, vec: *mut libc::mmsghdr, vlen: libc::c_uint, flags: c_int) -> c_int {
    crate::hub::cancel::point(|| {
        let raw = |v: *mut libc::mmsghdr, n: libc::c_uint, f: c_int| {
            // SAFETY: the program's own vector (or its tail).
            unsafe { sc!(libc::SYS_sendmmsg, fd, v, n, f) }
        };
        if flags & libc::MSG_DONTWAIT != 0 || vlen == 0 {
            return encode(raw(vec, vlen, flags)) as c_int;
        }
        let Plan::Green(h, e) = fio::prepare(fd) else { return encode(raw(vec, vlen, flags)) as c_int };
        let mut done: libc::c_uint = 0;
        while done < vlen {
            // SAFETY: done < vlen.
            let tail = unsafe { vec.add(done as usize) };
            let n = vlen - done;
            match fio::run(h, fd, e, Dir::Write, Reason::Write, || raw(tail, n, flags | libc::MSG_DONTWAIT), || raw(tail, n, flags)) {
                Ok(0) => break,
                Ok(k) => done += k as libc::c_uint,
                Err(err) if done == 0 => return encode(Err(err)) as c_int,
                Err(_) => break,
            }
        }
        done as c_int
    })
}
