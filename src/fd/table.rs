//! Per-fd state, indexed by fd number: what the program believes about the fd (its own
//! O_NONBLOCK, socket timeouts), what the shim knows (kind, kernel flags, epoll
//! registration) and who is parked on it.
//!
//! | `kind`        | how a blocking call on it is served                             |
//! |---------------|-----------------------------------------------------------------|
//! | `Unknown`     | classified on first use (`fstat` + `F_GETFL`): fds inherited    |
//! |               | from before start-up, or opened by libc internally              |
//! | `NotPollable` | regular file, directory, block device: passed through           |
//! | `Socket`      | `RWF_NOWAIT` / `MSG_DONTWAIT` per call; `accept` after `poll(0)`|
//! |               | (see `hooks::net` for accept and connect)                       |
//! | `Pollable`    | pipe, FIFO, tty, eventfd, …: `RWF_NOWAIT` per call, else        |
//! |               | `poll(0)` first (`no_nowait`)                                   |
//!
//! The shim never leaves a flag the program did not set on an open file description:
//! a description may be shared with other processes (a shell, a child after `fork` or
//! `exec`, a process it was sent to) and with glibc's own internal calls, and every one
//! of them would see it. Each would-block call is made non-blocking per call instead.
//!
//! Slots live in lazily allocated chunks of 1024, so a 1M-fd limit costs nothing until
//! used. All access is from the hub's OS thread.

use crate::green::{Green, Wake};
use crate::hub;
use crate::sys::{self, Errno, sc};
use core::sync::atomic::{AtomicPtr, Ordering};

const CHUNK: usize = 1024;
const CHUNKS: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Unknown,
    NotPollable,
    Socket,
    Pollable,
}

pub struct FdEntry {
    pub kind: Kind,
    /// O_NONBLOCK as the program set it: the shim then passes every call through.
    pub user_nb: bool,
    /// Opened with O_DIRECT: reads and writes go to the device every time.
    pub direct: bool,
    /// A regular file or block device (GREENSHIM_FILE_IO=offload serves these on the
    /// offload pool).
    pub regular: bool,
    /// A pipe or FIFO: splice/tee/vmsplice can make their pipe side non-blocking per
    /// call with SPLICE_F_NONBLOCK.
    pub fifo: bool,
    /// For sockets: SO_TYPE (`SOCK_STREAM`, `SOCK_DGRAM`, …), 0 until known.
    pub sotype: i32,
    /// Hubs (bit = hub index) whose epoll instance holds a registration under
    /// `generation`: each hub registers the fds its own threads wait on.
    pub registered: u64,
    /// Guards the waiter lists and `registered` against other hubs (a spin lock held
    /// for a few instructions, never across a park).
    lock: core::sync::atomic::AtomicBool,
    /// `RWF_NOWAIT` is not supported: test with `poll(0)` before the real call.
    pub no_nowait: bool,
    /// The open file description was created by this process and has not been shared
    /// with another process since (no fork): the cached `user_nb` is then the truth.
    /// Otherwise another process may flip O_NONBLOCK on it, and the kernel flag is
    /// checked before parking.
    pub private: bool,
    /// Another fd number may name the same open file description (dup, dup2, F_DUPFD):
    /// a change of the program's O_NONBLOCK must reach it too.
    pub shared: bool,
    /// Bumped whenever the number is closed or reclassified; tags epoll data.
    pub generation: u32,
    /// SO_RCVTIMEO / SO_SNDTIMEO in ns (0 = none).
    pub rcvtimeo: u64,
    pub sndtimeo: u64,
    pub readers: Vec<(*mut Green, u64)>,
    pub writers: Vec<(*mut Green, u64)>,
}

impl FdEntry {
    const fn new() -> FdEntry {
        FdEntry {
            kind: Kind::Unknown,
            user_nb: false,
            regular: false,
            direct: false,
            fifo: false,
            sotype: 0,
            registered: 0,
            lock: core::sync::atomic::AtomicBool::new(false),
            no_nowait: false,
            private: false,
            shared: false,
            generation: 0,
            rcvtimeo: 0,
            sndtimeo: 0,
            readers: Vec::new(),
            writers: Vec::new(),
        }
    }
}

static TABLE: [AtomicPtr<FdEntry>; CHUNKS] = [const { AtomicPtr::new(core::ptr::null_mut()) }; CHUNKS];

/// The slot for `fd`, allocating its chunk on first touch. None for numbers out of range.
pub fn slot(fd: i32) -> Option<*mut FdEntry> {
    if fd < 0 {
        return None;
    }
    let (c, i) = (fd as usize / CHUNK, fd as usize % CHUNK);
    let chunk = TABLE.get(c)?;
    let mut p = chunk.load(Ordering::Acquire);
    if p.is_null() {
        let v: Box<[FdEntry]> = (0..CHUNK).map(|_| FdEntry::new()).collect();
        p = Box::into_raw(v) as *mut FdEntry;
        chunk.store(p, Ordering::Release);
    }
    // SAFETY: i < CHUNK and the chunk holds CHUNK entries.
    Some(unsafe { p.add(i) })
}

/// The slot for `fd` if its chunk exists (no allocation).
pub fn peek(fd: i32) -> Option<*mut FdEntry> {
    if fd < 0 {
        return None;
    }
    let (c, i) = (fd as usize / CHUNK, fd as usize % CHUNK);
    let p = TABLE.get(c)?.load(Ordering::Acquire);
    // SAFETY: as in slot.
    if p.is_null() { None } else { Some(unsafe { p.add(i) }) }
}

/// Classifies an fd the shim has not seen created (inherited, or opened inside libc).
pub fn classify(fd: i32, e: *mut FdEntry) -> Result<(), Errno> {
    // SAFETY: st is a valid out-buffer.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: fstat writes into st.
    unsafe { sc!(libc::SYS_fstat, fd, &mut st as *mut libc::stat) }?;
    let fl = sys::fcntl(fd, libc::F_GETFL, 0)? as i32;
    let mut kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => Kind::Socket,
        libc::S_IFREG | libc::S_IFDIR | libc::S_IFBLK | libc::S_IFLNK => Kind::NotPollable,
        _ => Kind::Pollable,
    };
    let mut registered = 0u64;
    if st.st_mode & libc::S_IFMT == libc::S_IFCHR {
        // Character devices without a poll method (/dev/null, /dev/zero, /dev/urandom)
        // are always ready: epoll refuses them, and they are served like files. Others
        // (ttys) stay registered from now on.
        if let Some(h) = hub::local() {
            let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET) as u32;
            // SAFETY: hub thread; e is this fd's slot.
            let next_gen = unsafe { (*e).generation.wrapping_add(1) };
            // SAFETY: as above.
            match unsafe { (*h).reactor.ctl(libc::EPOLL_CTL_ADD, fd, events, fd as u32 as u64 | (next_gen as u64) << 32) } {
                Err(Errno(libc::EPERM)) => kind = Kind::NotPollable,
                // SAFETY: h is this thread's hub.
                Ok(()) => registered = 1u64 << unsafe { (*h).index },
                Err(_) => {}
            }
        }
    }
    // SAFETY: e is this fd's slot; the lock guards the waiter lists.
    unsafe {
        reset(e);
        (*e).kind = kind;
        (*e).registered |= registered;
        (*e).regular = matches!(st.st_mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFBLK);
        (*e).fifo = st.st_mode & libc::S_IFMT == libc::S_IFIFO;
        (*e).user_nb = fl & libc::O_NONBLOCK != 0;
        (*e).direct = fl & libc::O_DIRECT != 0;
        if kind == Kind::Socket {
            (*e).sotype = sockopt_int(fd, libc::SO_TYPE).unwrap_or(0);
            (*e).rcvtimeo = sockopt_timeout(fd, libc::SO_RCVTIMEO);
            (*e).sndtimeo = sockopt_timeout(fd, libc::SO_SNDTIMEO);
        }
    }
    Ok(())
}

/// An integer SOL_SOCKET option.
pub fn sockopt_int(fd: i32, name: i32) -> Result<i32, Errno> {
    let mut v: i32 = 0;
    let mut l = core::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: v/l are valid out-parameters.
    unsafe { sc!(libc::SYS_getsockopt, fd, libc::SOL_SOCKET, name, &mut v as *mut i32, &mut l as *mut libc::socklen_t) }?;
    Ok(v)
}

/// SO_RCVTIMEO / SO_SNDTIMEO as the kernel holds it, in ns (0 = none).
pub fn sockopt_timeout(fd: i32, name: i32) -> u64 {
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    let mut l = core::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: tv/l are valid out-parameters.
    match unsafe { sc!(libc::SYS_getsockopt, fd, libc::SOL_SOCKET, name, &mut tv as *mut libc::timeval, &mut l as *mut libc::socklen_t) } {
        Ok(_) => timeval_ns(&tv),
        Err(_) => 0,
    }
}

/// A socket timeout in ns, as the kernel reads a timeval (negative parts count as 0).
pub fn timeval_ns(tv: &libc::timeval) -> u64 {
    (tv.tv_sec.max(0) as u64).saturating_mul(1_000_000_000).saturating_add(tv.tv_usec.max(0) as u64 * 1000)
}

/// Looks up `fd` for a potentially blocking call, classifying it on first use.
#[inline]
pub fn lookup(fd: i32) -> Option<*mut FdEntry> {
    let e = slot(fd)?;
    // SAFETY: hub thread owns the table.
    if unsafe { (*e).kind } == Kind::Unknown && classify(fd, e).is_err() {
        return None;
    }
    Some(e)
}

/// Records an fd the program just created through a hooked call.
pub fn created(fd: i32, kind: Kind, user_nb: bool) {
    if let Some(e) = slot(fd) {
        // SAFETY: hub thread owns the table.
        unsafe {
            reset(e);
            (*e).kind = kind;
            (*e).user_nb = user_nb;
            (*e).private = true;
        }
    }
}

/// Records a socket the program just created (`socket`, `socketpair`, `accept`), with
/// its type and the timeouts it starts with (an accepted socket inherits its
/// listener's, as in the kernel).
pub fn created_socket(fd: i32, sotype: i32, user_nb: bool, rcvtimeo: u64, sndtimeo: u64) {
    created(fd, Kind::Socket, user_nb);
    if let Some(e) = peek(fd) {
        // SAFETY: hub thread owns the table.
        unsafe {
            (*e).sotype = sotype;
            (*e).rcvtimeo = rcvtimeo;
            (*e).sndtimeo = sndtimeo;
        }
    }
}

/// Whether the socket is a byte stream (MSG_WAITALL collects across arrivals); a
/// socket of unknown type is asked once.
pub fn is_stream(fd: i32, e: *mut FdEntry) -> bool {
    // SAFETY: hub thread owns the table.
    unsafe {
        if (*e).sotype == 0 {
            (*e).sotype = sockopt_int(fd, libc::SO_TYPE).unwrap_or(-1);
        }
        (*e).sotype == libc::SOCK_STREAM
    }
}

/// Whether only this process, through this one fd number, holds the open file
/// description: created here, not duplicated, not inherited by a child, not sent away.
/// Nobody else can then observe a flag that lives for the span of one system call.
///
/// # Safety
/// Hub thread only.
#[inline]
pub unsafe fn exclusive(e: *mut FdEntry) -> bool {
    // SAFETY: per contract.
    unsafe { (*e).private && !(*e).shared }
}

/// Runs `call` (one system call) with O_NONBLOCK set on the description and clears it
/// again, for calls that have no per-call non-blocking form (`connect`, `sendfile` and
/// `splice` on a socket). Only for descriptions [`exclusive`] to this fd: no other
/// process or fd can see the flag in between. Err(flag error) if it cannot be set.
pub fn with_nonblocking(fd: i32, call: impl FnOnce() -> Result<usize, Errno>) -> Result<usize, Errno> {
    let fl = sys::fcntl(fd, libc::F_GETFL, 0)?;
    sys::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK as usize)?;
    let r = call();
    let _ = sys::fcntl(fd, libc::F_SETFL, fl);
    r
}

/// The fds named in SCM_RIGHTS messages the program sends: their descriptions are now
/// held by another process too.
///
/// # Safety
/// `msg` is a valid msghdr whose control buffer the kernel accepted. Hub thread only.
pub unsafe fn sent_rights(msg: *const libc::msghdr) {
    // SAFETY: per contract; CMSG_* walk the program's control buffer within its length.
    unsafe {
        if (*msg).msg_control.is_null() || (*msg).msg_controllen == 0 {
            return;
        }
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const i32;
                let n = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / core::mem::size_of::<i32>();
                for k in 0..n {
                    if let Some(x) = peek(data.add(k).read_unaligned()) {
                        (*x).private = false;
                    }
                }
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
}

/// Marks a pipe end the program just created.
pub fn mark_fifo(fd: i32) {
    if let Some(e) = peek(fd) {
        // SAFETY: hub thread owns the table.
        unsafe { (*e).fifo = true };
    }
}

/// Forgets everything about a slot (new generation).
///
/// # Safety
/// Hub thread only; nobody may be parked on it.
pub unsafe fn reset(e: *mut FdEntry) {
    // SAFETY: per contract.
    unsafe {
        lock(e);
        reset_locked(e);
        unlock(e);
    }
}

/// Takes the slot's lock (waiter lists, registrations).
///
/// # Safety
/// `e` must be a slot of the table.
#[inline]
pub unsafe fn lock(e: *mut FdEntry) {
    // SAFETY: slots are never freed.
    let l = unsafe { &(*e).lock };
    while l.swap(true, Ordering::Acquire) {
        while l.load(Ordering::Relaxed) {
            core::hint::spin_loop();
        }
    }
}

/// # Safety
/// The caller holds `e`'s lock.
#[inline]
pub unsafe fn unlock(e: *mut FdEntry) {
    // SAFETY: slots are never freed.
    unsafe { (*e).lock.store(false, Ordering::Release) };
}

/// Runs a readiness test and the call it allows (`poll(0)` then `accept`, or a read on
/// a device without `RWF_NOWAIT`) so that no other hub's thread can take what the test
/// saw in between: with one hub nothing else runs between the two calls; with several
/// they run under the slot's lock (two system calls that do not block).
///
/// # Safety
/// `e` must be a slot of the table.
pub unsafe fn test_then_call(e: *mut FdEntry, f: impl FnOnce() -> Result<usize, Errno>) -> Result<usize, Errno> {
    if hub::hub_count() <= 1 {
        return f();
    }
    // SAFETY: per contract.
    unsafe {
        lock(e);
        let r = f();
        unlock(e);
        r
    }
}

/// Adds a parked thread to the fd's readers or writers.
///
/// # Safety
/// `e` must be a slot of the table.
pub unsafe fn add_waiter(e: *mut FdEntry, read: bool, g: *mut Green, generation: u64) {
    // SAFETY: per contract; under the slot's lock.
    unsafe {
        lock(e);
        if read {
            (*e).readers.push((g, generation));
        } else {
            (*e).writers.push((g, generation));
        }
        unlock(e);
    }
}

/// `reset` under the slot's lock, held by the caller.
unsafe fn reset_locked(e: *mut FdEntry) {
    // SAFETY: per contract.
    unsafe {
        let generation = (*e).generation.wrapping_add(1);
        let (r, w) = (core::mem::take(&mut (*e).readers), core::mem::take(&mut (*e).writers));
        let fresh = FdEntry::new();
        (*e).kind = fresh.kind;
        (*e).user_nb = fresh.user_nb;
        (*e).direct = fresh.direct;
        (*e).regular = fresh.regular;
        (*e).fifo = fresh.fifo;
        (*e).sotype = fresh.sotype;
        (*e).registered = 0;
        (*e).no_nowait = fresh.no_nowait;
        (*e).private = fresh.private;
        (*e).shared = fresh.shared;
        (*e).rcvtimeo = 0;
        (*e).sndtimeo = 0;
        (*e).generation = generation;
        // Keep the vectors' capacity for the next user of this number.
        (*e).readers = r;
        (*e).writers = w;
        (*e).readers.clear();
        (*e).writers.clear();
    }
}

/// The fd is about to be closed (or replaced by dup2): wake everyone parked on it with
/// EBADF and drop the epoll registration before the number can be reused.
pub fn closing(fd: i32) {
    let Some(e) = peek(fd) else { return };
    // SAFETY: e is this fd's slot; waiters are woken and registrations dropped under
    // its lock (try_wake only queues: it takes no lock of the table's).
    unsafe {
        lock(e);
        for (g, generation) in (*e).readers.drain(..) {
            hub::try_wake(g, generation, Wake::Closed);
        }
        for (g, generation) in (*e).writers.drain(..) {
            hub::try_wake(g, generation, Wake::Closed);
        }
        if (*e).registered != 0 {
            hub::epoll_forget(fd, (*e).registered);
        }
        reset_locked(e);
        unlock(e);
    }
}

/// A number the kernel just handed out (open, eventfd, …): whatever the table holds for
/// it describes an fd that libc closed behind the shim's back (fclose, closedir use
/// glibc's internal close). Forget it, so the new fd is classified on first use.
#[inline]
pub fn fresh(fd: i32) {
    if let Some(e) = peek(fd) {
        // SAFETY: hub thread owns the table.
        if unsafe { (*e).kind != Kind::Unknown || (*e).registered != 0 } {
            closing(fd);
        }
    }
}

/// close_range/closefrom: [`closing`] for every known fd in `first..=last`.
pub fn closing_range(first: u32, last: u32) {
    for (c, chunk) in TABLE.iter().enumerate() {
        let base = (c * CHUNK) as u64;
        if chunk.load(Ordering::Acquire).is_null() || base + CHUNK as u64 <= first as u64 || base > last as u64 {
            continue;
        }
        for i in 0..CHUNK {
            let fd = base + i as u64;
            if fd >= first as u64 && fd <= last as u64 {
                fresh(fd as i32);
            }
        }
    }
}

/// Copies what the program believes about `from` to `to` (dup, dup2, F_DUPFD): O_NONBLOCK
/// belongs to the open file description, which the two numbers now share.
pub fn duplicated(from: i32, to: i32) {
    let Some(src) = lookup(from) else { return };
    if let Some(dst) = slot(to) {
        // SAFETY: hub thread owns the table; src != dst (the kernel rejected that case).
        unsafe {
            reset(dst);
            (*dst).kind = (*src).kind;
            (*dst).regular = (*src).regular;
            (*dst).direct = (*src).direct;
            (*dst).fifo = (*src).fifo;
            (*dst).user_nb = (*src).user_nb;
            (*dst).sotype = (*src).sotype;
            (*dst).private = (*src).private;
            (*dst).no_nowait = (*src).no_nowait;
            (*dst).rcvtimeo = (*src).rcvtimeo;
            (*dst).sndtimeo = (*src).sndtimeo;
            (*dst).shared = true;
            (*src).shared = true;
        }
    }
}

/// Records the program's O_NONBLOCK for `fd` and for every other fd number naming the
/// same open file description (found with kcmp(KCMP_FILE) among fds marked shared).
pub fn set_user_nonblocking(fd: i32, e: *mut FdEntry, on: bool) {
    // SAFETY: hub thread owns the table.
    unsafe {
        (*e).user_nb = on;
        if !(*e).shared {
            return;
        }
    }
    let pid = std::process::id() as usize;
    for (c, chunk) in TABLE.iter().enumerate() {
        let p = chunk.load(Ordering::Acquire);
        if p.is_null() {
            continue;
        }
        for i in 0..CHUNK {
            let other = (c * CHUNK + i) as i32;
            // SAFETY: i < CHUNK; hub thread.
            let o = unsafe { &mut *p.add(i) };
            if other == fd || !o.shared || o.kind == Kind::Unknown {
                continue;
            }
            // SAFETY: kcmp takes no pointers for KCMP_FILE.
            let same = unsafe { sc!(libc::SYS_kcmp, pid, pid, 0 /* KCMP_FILE */, fd, other) };
            if same == Ok(0) {
                o.user_nb = on;
            }
        }
    }
}

/// Registers `fd` with the hub's epoll (once, edge-triggered, both directions).
/// Err(EPERM) means epoll cannot watch it: the caller must block for real.
pub fn ensure_registered(h: *mut hub::Hub, fd: i32, e: *mut FdEntry) -> Result<(), Errno> {
    // SAFETY: h is this thread's hub; e is this fd's slot.
    unsafe {
        let bit = 1u64 << (*h).index;
        if (*e).registered & bit != 0 {
            return Ok(());
        }
        lock(e);
        let r = register_locked(h, fd, e, bit);
        unlock(e);
        r
    }
}

unsafe fn register_locked(h: *mut hub::Hub, fd: i32, e: *mut FdEntry, bit: u64) -> Result<(), Errno> {
    // SAFETY: per the caller: h is this thread's hub, e's lock is held.
    unsafe {
        if (*e).registered & bit != 0 {
            return Ok(());
        }
        let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLPRI | libc::EPOLLET) as u32;
        let data = fd as u32 as u64 | ((*e).generation as u64) << 32;
        match (*h).reactor.ctl(libc::EPOLL_CTL_ADD, fd, events, data) {
            Ok(()) => {}
            // A stale registration for a description this number used to name.
            Err(Errno(libc::EEXIST)) => (*h).reactor.ctl(libc::EPOLL_CTL_MOD, fd, events, data)?,
            Err(e2) => {
                if e2 == Errno(libc::EPERM) {
                    (*e).kind = Kind::NotPollable;
                }
                return Err(e2);
            }
        }
        (*e).registered |= bit;
        Ok(())
    }
}

/// Dispatches one epoll event to the threads parked on its fd.
pub fn dispatch_event(data: u64, events: u32) {
    let (fd, generation) = (data as u32 as i32, (data >> 32) as u32);
    let Some(e) = peek(fd) else { return };
    // SAFETY: e is this fd's slot, under its lock; try_wake only queues.
    unsafe {
        lock(e);
        if (*e).generation != generation {
            unlock(e);
            return;
        }
        let rd = (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        let wr = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        if events & rd != 0 {
            for (g, generation) in (*e).readers.drain(..) {
                hub::try_wake(g, generation, Wake::FdReady);
            }
        }
        if events & wr != 0 {
            for (g, generation) in (*e).writers.drain(..) {
                hub::try_wake(g, generation, Wake::FdReady);
            }
        }
        unlock(e);
    }
}

/// Removes a thread's stale waiter entries (after a timeout or a signal).
///
/// # Safety
/// Hub thread only.
pub unsafe fn forget_waiter(e: *mut FdEntry, g: *mut Green) {
    // SAFETY: per contract; under the slot's lock.
    unsafe {
        lock(e);
        (*e).readers.retain(|&(x, _)| x != g);
        (*e).writers.retain(|&(x, _)| x != g);
        unlock(e);
    }
}

/// After a fork (in the parent): every description is now shared with the child.
pub fn after_fork_parent() {
    for c in TABLE.iter() {
        let p = c.load(Ordering::Acquire);
        if p.is_null() {
            continue;
        }
        for i in 0..CHUNK {
            // SAFETY: hub thread; i < CHUNK.
            unsafe { (*p.add(i)).private = false };
        }
    }
}

/// Whether the cached O_NONBLOCK view is authoritative for this fd.
///
/// # Safety
/// Hub thread only.
#[inline]
pub unsafe fn nonblock_cached(e: *mut FdEntry) -> bool {
    // SAFETY: per contract.
    unsafe { (*e).private }
}

/// The program-visible O_NONBLOCK, reading the kernel when the cache is not authoritative.
pub fn program_nonblocking(fd: i32, e: *mut FdEntry) -> bool {
    // SAFETY: hub thread owns the table.
    unsafe {
        if nonblock_cached(e) {
            return (*e).user_nb;
        }
    }
    let nb = sys::fcntl(fd, libc::F_GETFL, 0).map(|f| f as i32 & libc::O_NONBLOCK != 0).unwrap_or(false);
    // SAFETY: as above.
    unsafe { (*e).user_nb = nb };
    nb
}

/// In a forked child: the parent's epoll registrations and waiters do not exist here.
pub fn after_fork_child() {
    for c in TABLE.iter() {
        let p = c.load(Ordering::Acquire);
        if p.is_null() {
            continue;
        }
        for i in 0..CHUNK {
            // SAFETY: single-threaded child; i < CHUNK.
            unsafe {
                let e = p.add(i);
                (*e).registered = 0;
                (*e).lock.store(false, Ordering::Relaxed);
                (*e).private = false;
                (*e).generation = (*e).generation.wrapping_add(1);
                (*e).readers.clear();
                (*e).writers.clear();
            }
        }
    }
}

/// After the hub's epoll instance was recreated: forget every registration and register
/// again the fds someone is parked on (others register on their next EAGAIN).
pub fn reregister_all(h: *mut hub::Hub) {
    for (c, chunk) in TABLE.iter().enumerate() {
        let p = chunk.load(Ordering::Acquire);
        if p.is_null() {
            continue;
        }
        for i in 0..CHUNK {
            // SAFETY: hub thread; i < CHUNK.
            let e = unsafe { p.add(i) };
            // SAFETY: as above; under the slot's lock (h's bit is this hub's alone).
            unsafe {
                let bit = 1u64 << (*h).index;
                lock(e);
                (*e).registered &= !bit;
                let waited = !(*e).readers.is_empty() || !(*e).writers.is_empty();
                unlock(e);
                if waited {
                    let fd = (c * CHUNK + i) as i32;
                    if ensure_registered(h, fd, e).is_err() {
                        lock(e);
                        // The fd itself is gone too: wake its waiters with EBADF. Or the
                        // hub has no epoll fd (fd limit): wake them to retry their call,
                        // which then naps instead of parking (fd::io::degraded_nap).
                        let why = if (*h).reactor.degraded { crate::green::Wake::FdReady } else { crate::green::Wake::Closed };
                        for (g, generation) in (*e).readers.drain(..).chain((*e).writers.drain(..)).collect::<Vec<_>>() {
                            hub::try_wake(g, generation, why);
                        }
                        unlock(e);
                    }
                }
            }
        }
    }
}
