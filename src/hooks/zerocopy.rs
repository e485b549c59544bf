//! Zero-copy transfers: `sendfile`, `splice`, `tee`, `vmsplice`, `copy_file_range`.
//!
//! None of them takes a per-call "do not wait" flag for a socket, and splice-family calls
//! have one only for their pipe side (`SPLICE_F_NONBLOCK`). Each end of a transfer is
//! therefore made non-blocking the cheapest way it allows:
//!
//! | end                                   | how it is kept from blocking                   |
//! |---------------------------------------|------------------------------------------------|
//! | pipe / FIFO                           | `SPLICE_F_NONBLOCK` on the call                |
//! | socket whose description only this fd holds (created here, not shared) | O_NONBLOCK for the span of the one call |
//! | regular file, block device            | never waits for readiness (inline, as `read`)  |
//! | anything else (inherited socket, tty) | `sendfile`: copied through a buffer with the shim's parking `write`; splice: wait for `poll` first |
//!
//! On `EAGAIN` the thread parks on whichever end `poll` says is not ready, with that
//! socket's SO_RCVTIMEO/SO_SNDTIMEO, and retries. A program-set O_NONBLOCK on either end,
//! or its own `SPLICE_F_NONBLOCK` when the pipe is what is not ready, returns `EAGAIN`
//! as natively. A blocking `sendfile` to a socket transfers everything up to the count
//! or end of file, as the kernel does for a blocking socket.

use crate::fd::io::{self as fio, Dir, Plan};
use crate::fd::table::{self, FdEntry, Kind};
use crate::green::Reason;
use crate::hub::{self, Hub};
use crate::sys::{self, Errno, encode, sc};
use core::ffi::{c_int, c_uint};

const SPLICE_F_NONBLOCK: c_uint = 2;
/// Largest chunk `sendfile` copies through a buffer when the kernel cannot do it
/// without blocking.
const COPY_CHUNK: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Never waits for readiness (regular file).
    Ready,
    /// A pipe: `SPLICE_F_NONBLOCK` covers it.
    Pipe,
    /// A socket no other fd or process holds: O_NONBLOCK is set for the span of the
    /// one call (`table::with_nonblocking`), so nobody can observe it.
    Transient,
    /// Must be ready (per `poll`) before the real call, which may then block briefly.
    PollFirst,
}

#[derive(Clone, Copy)]
struct End {
    fd: c_int,
    e: *mut FdEntry,
    dir: Dir,
    mode: Mode,
}

impl End {
    fn ready(&self) -> bool {
        let ev = if self.dir == Dir::Read { libc::POLLIN } else { libc::POLLOUT };
        // An error or hang-up counts as ready: the call itself then reports it.
        !sys::poll_now(self.fd, ev).is_ok_and(|r| r == 0)
    }

    fn timeout_ns(&self) -> u64 {
        // SAFETY: hub thread owns the entry.
        unsafe { if self.dir == Dir::Read { (*self.e).rcvtimeo } else { (*self.e).sndtimeo } }
    }
}

/// How one end of a transfer is kept from blocking, or None if the program made it
/// non-blocking itself (the call then passes through untouched).
fn end(fd: c_int, e: *mut FdEntry, dir: Dir) -> Option<End> {
    if table::program_nonblocking(fd, e) {
        return None;
    }
    // SAFETY: hub thread owns the entry.
    let (kind, fifo) = unsafe { ((*e).kind, (*e).fifo) };
    let mode = match kind {
        Kind::NotPollable | Kind::Unknown => Mode::Ready,
        _ if fifo => Mode::Pipe,
        // SAFETY: hub thread owns the entry.
        Kind::Socket if unsafe { table::exclusive(e) } => Mode::Transient,
        _ => Mode::PollFirst,
    };
    Some(End { fd, e, dir, mode })
}

/// Parks on `x` until it is ready (or the deadline, a close, a signal).
fn wait(h: *mut Hub, x: &End, deadline: &mut Option<Option<u64>>) -> Result<(), Errno> {
    let d = *deadline.get_or_insert_with(|| fio::deadline_after(x.timeout_ns()));
    let reason = if x.dir == Dir::Read { Reason::Read } else { Reason::Write };
    match fio::park_on(h, x.fd, x.e, x.dir, d, reason) {
        Ok(w) => fio::woke(w, Errno::EAGAIN),
        // epoll cannot watch it: let the real call block.
        Err(_) => Ok(()),
    }
}

/// Runs `attempt` (the call with its pipe ends non-blocking) until it gives anything
/// but `EAGAIN`, parking on whichever end is not ready in between.
fn transfer(h: *mut Hub, ends: &[End], user_nonblock: bool, mut attempt: impl FnMut() -> Result<usize, Errno>) -> Result<usize, Errno> {
    let mut deadline = None;
    let mut first = true;
    loop {
        if let Some(x) = ends.iter().find(|x| x.mode == Mode::PollFirst && !x.ready()) {
            wait(h, x, &mut deadline)?;
            continue;
        }
        match attempt() {
            Err(Errno::EAGAIN) => {}
            r => {
                if first {
                    // SAFETY: hub thread.
                    unsafe { hub::tick_fast_op(h) };
                }
                return r;
            }
        }
        first = false;
        match ends.iter().find(|x| x.mode != Mode::Ready && !x.ready()) {
            // The program asked for a non-blocking pipe side: EAGAIN is its answer.
            Some(x) if x.mode == Mode::Pipe && user_nonblock => return Err(Errno::EAGAIN),
            Some(x) => wait(h, x, &mut deadline)?,
            // Both ends look ready yet the kernel said EAGAIN (a pipe with less room
            // than a page, a socket below its low-water mark): back off briefly.
            // SAFETY: hub thread.
            None => unsafe {
                hub::sleep_until(h, sys::now_ns() + 1_000_000);
            },
        }
    }
}

/// The hub and the table entries of two fds, or None when the call should pass through.
fn both(a: c_int, b: c_int) -> Option<(*mut Hub, *mut FdEntry, *mut FdEntry)> {
    let h = hub::local()?;
    Some((h, table::lookup(a)?, table::lookup(b)?))
}

fn raw_sendfile(out: c_int, inp: c_int, off: *mut libc::off_t, count: usize) -> Result<usize, Errno> {
    // SAFETY: the program's own arguments.
    unsafe { sc!(libc::SYS_sendfile, out, inp, off, count) }
}

/// `sendfile` to an end the kernel cannot make non-blocking: read the file at the
/// transfer's position and write with the shim's parking `write`, then move the file
/// position (or `*off`) past what was written, as the kernel would.
fn sendfile_by_copy(h: *mut Hub, out: c_int, eo: *mut FdEntry, inp: c_int, off: *mut libc::off_t, count: usize) -> Result<usize, Errno> {
    let start = if off.is_null() {
        // SAFETY: no memory arguments.
        unsafe { sc!(libc::SYS_lseek, inp, 0, libc::SEEK_CUR) }? as i64
    } else {
        // SAFETY: off points to the program's offset.
        unsafe { *off }
    };
    let mut buf = vec![0u8; count.min(COPY_CHUNK)];
    let mut done = 0usize;
    let mut err = None;
    while done < count {
        let want = (count - done).min(buf.len());
        // SAFETY: buf has want bytes of room.
        let n = match unsafe { sc!(libc::SYS_pread64, inp, buf.as_mut_ptr(), want, start + done as i64) } {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                err = Some(e);
                break;
            }
        };
        let iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: n };
        match fio::writev(h, out, eo, &iov, 1) {
            Ok(w) => {
                done += w;
                if w < n {
                    break;
                }
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let end = start + done as i64;
    if off.is_null() {
        // SAFETY: no memory arguments.
        let _ = unsafe { sc!(libc::SYS_lseek, inp, end, libc::SEEK_SET) };
    } else {
        // SAFETY: as above.
        unsafe { *off = end };
    }
    match err {
        Some(e) if done == 0 => Err(e),
        _ => Ok(done),
    }
}

fn sendfile_impl(out: c_int, inp: c_int, off: *mut libc::off_t, count: usize) -> Result<usize, Errno> {
    let (h, eo) = match fio::prepare(out) {
        Plan::Green(h, eo) => (h, eo),
        Plan::Bypass(fio::Bypass::NotPollable) if fio::offload_file(out) => {
            let a = (out as usize, inp as usize, off as usize);
            // SAFETY: the program's own arguments; they outlive the parked call.
            return crate::offload::run(move || unsafe { sc!(libc::SYS_sendfile, a.0, a.1, a.2, count) });
        }
        Plan::Bypass(why) => {
            fio::bypassed("sendfile", out, why);
            return raw_sendfile(out, inp, off, count);
        }
    };
    let Some(ei) = table::lookup(inp) else { return raw_sendfile(out, inp, off, count) };
    let Some(o) = end(out, eo, Dir::Write) else { return raw_sendfile(out, inp, off, count) };
    let Some(i) = end(inp, ei, Dir::Read) else { return raw_sendfile(out, inp, off, count) };
    match o.mode {
        // To a pipe the kernel splices once and returns what fit: the same call with
        // SPLICE_F_NONBLOCK, which has the same offset rules.
        Mode::Pipe => transfer(h, &[i, o], false, || {
            // SAFETY: the program's own arguments; off_t and loff_t are both i64 here.
            unsafe { sc!(libc::SYS_splice, inp, off, out, 0usize, count, SPLICE_F_NONBLOCK) }
        }),
        // A blocking socket takes everything up to the count or end of file.
        Mode::Transient => {
            let mut done = 0usize;
            while done < count {
                match transfer(h, &[i, o], false, || table::with_nonblocking(out, || raw_sendfile(out, inp, off, count - done))) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(done)
        }
        Mode::Ready => raw_sendfile(out, inp, off, count),
        Mode::PollFirst => match sendfile_by_copy(h, out, eo, inp, off, count) {
            // Not a seekable file (a pipe as the source): wait for readiness, then block.
            Err(Errno(libc::ESPIPE)) => transfer(h, &[i, o], false, || raw_sendfile(out, inp, off, count)),
            r => r,
        },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendfile(out: c_int, inp: c_int, off: *mut libc::off_t, count: usize) -> isize {
    encode(sendfile_impl(out, inp, off, count))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendfile64(out: c_int, inp: c_int, off: *mut libc::off_t, count: usize) -> isize {
    encode(sendfile_impl(out, inp, off, count))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn splice(fd_in: c_int, off_in: *mut i64, fd_out: c_int, off_out: *mut i64, len: usize, flags: c_uint) -> isize {
    let raw = |f: c_uint| {
        // SAFETY: the program's own arguments.
        unsafe { sc!(libc::SYS_splice, fd_in, off_in, fd_out, off_out, len, f) }
    };
    let Some((h, ei, eo)) = both(fd_in, fd_out) else { return encode(raw(flags)) };
    let (Some(i), Some(o)) = (end(fd_in, ei, Dir::Read), end(fd_out, eo, Dir::Write)) else { return encode(raw(flags)) };
    if i.mode != Mode::Pipe && o.mode != Mode::Pipe {
        // Not a pipe on either side: the kernel refuses it (EINVAL) without waiting.
        return encode(raw(flags));
    }
    // The socket side, if any, has no per-call flag of its own.
    let socket_side = [i, o].into_iter().find(|x| x.mode == Mode::Transient).map(|x| x.fd);
    encode(transfer(h, &[i, o], flags & SPLICE_F_NONBLOCK != 0, || match socket_side {
        Some(s) => table::with_nonblocking(s, || raw(flags | SPLICE_F_NONBLOCK)),
        None => raw(flags | SPLICE_F_NONBLOCK),
    }))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn tee(fd_in: c_int, fd_out: c_int, len: usize, flags: c_uint) -> isize {
    let raw = |f: c_uint| {
        // SAFETY: no memory arguments.
        unsafe { sc!(libc::SYS_tee, fd_in, fd_out, len, f) }
    };
    let Some((h, ei, eo)) = both(fd_in, fd_out) else { return encode(raw(flags)) };
    let (Some(i), Some(o)) = (end(fd_in, ei, Dir::Read), end(fd_out, eo, Dir::Write)) else { return encode(raw(flags)) };
    if i.mode != Mode::Pipe || o.mode != Mode::Pipe {
        return encode(raw(flags));
    }
    encode(transfer(h, &[i, o], flags & SPLICE_F_NONBLOCK != 0, || raw(flags | SPLICE_F_NONBLOCK)))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn vmsplice(fd: c_int, iov: *const libc::iovec, cnt: usize, flags: c_uint) -> isize {
    let raw = |f: c_uint| {
        // SAFETY: the program's own arguments.
        unsafe { sc!(libc::SYS_vmsplice, fd, iov, cnt, f) }
    };
    let Some(h) = hub::local() else { return encode(raw(flags)) };
    let Some(e) = table::lookup(fd) else { return encode(raw(flags)) };
    // The pipe's read end moves data into memory, its write end out of it.
    let dir = match sys::fcntl(fd, libc::F_GETFL, 0) {
        Ok(fl) if fl as c_int & libc::O_ACCMODE == libc::O_RDONLY => Dir::Read,
        _ => Dir::Write,
    };
    let Some(x) = end(fd, e, dir) else { return encode(raw(flags)) };
    if x.mode != Mode::Pipe {
        return encode(raw(flags));
    }
    encode(transfer(h, &[x], flags & SPLICE_F_NONBLOCK != 0, || raw(flags | SPLICE_F_NONBLOCK)))
}

/// Between regular files only: nothing to wait for but storage, so it runs inline like
/// `read`, or on the offload pool under GREENSHIM_FILE_IO=offload.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn copy_file_range(fd_in: c_int, off_in: *mut i64, fd_out: c_int, off_out: *mut i64, len: usize, flags: c_uint) -> isize {
    let a = (fd_in as usize, off_in as usize, fd_out as usize, off_out as usize);
    // SAFETY: the program's own arguments; they outlive the parked call.
    let call = move || unsafe { sc!(libc::SYS_copy_file_range, a.0, a.1, a.2, a.3, len, flags) };
    if hub::local().is_some() && fio::offload_file(fd_in) {
        encode(crate::offload::run(call))
    } else {
        encode(call())
    }
}
