//! The hub's epoll instance and its eventfd waker.
//!
//! fds are registered once, edge-triggered for both directions, on the first `EAGAIN`
//! (see `fd::table`), and stay registered until closed. Each registration carries the
//! fd number and the fd slot's generation, so an event for a number that was closed and
//! reused is recognised as stale and dropped.

use crate::sys::{self, Errno, sc};

/// epoll data value reserved for the eventfd.
pub const WAKER_TOKEN: u64 = u64::MAX;
pub const MAX_EVENTS: usize = 256;

/// Moves `fd` to a high number (just below the soft fd limit, at least 64), close-on-exec;
/// keeps it where it is if that fails.
fn move_high(fd: i32) -> i32 {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: r is a valid out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    let soft = if r.rlim_cur == libc::RLIM_INFINITY { 1 << 20 } else { r.rlim_cur as usize };
    let base = soft.saturating_sub(32).clamp(64, 1 << 20);
    match sys::fcntl(fd, libc::F_DUPFD_CLOEXEC, base) {
        Ok(high) => {
            let _ = sys::close(fd);
            high as i32
        }
        Err(_) => fd,
    }
}

pub struct Reactor {
    pub epfd: i32,
    pub evfd: i32,
    pub events: Box<[libc::epoll_event; MAX_EVENTS]>,
    /// Whether `epoll_pwait2` (ns timeouts) is available; else `epoll_wait` (ms, rounded up).
    pwait2: bool,
    /// Set when epoll_wait failed for a reason other than a signal.
    pub broken: Option<Errno>,
}

impl Reactor {
    pub fn new() -> Result<Reactor, Errno> {
        // SAFETY: plain flags.
        let epfd = unsafe { sc!(libc::SYS_epoll_create1, libc::EPOLL_CLOEXEC) }? as i32;
        // SAFETY: plain flags.
        let evfd = match unsafe { sc!(libc::SYS_eventfd2, 0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) } {
            Ok(fd) => fd as i32,
            Err(e) => {
                let _ = sys::close(epfd);
                return Err(e);
            }
        };
        // Keep the hub's fds out of the program's way: programs expect their first
        // open() to return 3, and print or pass fd numbers.
        let (epfd, evfd) = (move_high(epfd), move_high(evfd));
        let r = Reactor { epfd, evfd, events: Box::new([libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS]), pwait2: true, broken: None };
        r.ctl(libc::EPOLL_CTL_ADD, evfd, libc::EPOLLIN as u32, WAKER_TOKEN)?;
        Ok(r)
    }

    pub fn ctl(&self, op: i32, fd: i32, events: u32, data: u64) -> Result<(), Errno> {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        unsafe { sc!(libc::SYS_epoll_ctl, self.epfd, op, fd, &mut ev as *mut libc::epoll_event) }.map(|_| ())
    }

    /// Waits for events; `timeout_ns` None = forever. Returns the number of events in
    /// `self.events`.
    pub fn wait(&mut self, timeout_ns: Option<u64>) -> usize {
        loop {
            let r = if self.pwait2 {
                let ts = timeout_ns.map(sys::ns_to_ts);
                let tsp = ts.as_ref().map_or(core::ptr::null(), |t| t as *const libc::timespec);
                // SAFETY: events buffer holds MAX_EVENTS entries; tsp is null or valid; no sigmask.
                let r = unsafe { sc!(libc::SYS_epoll_pwait2, self.epfd, self.events.as_mut_ptr(), MAX_EVENTS, tsp, 0, 8) };
                if r == Err(Errno(libc::ENOSYS)) {
                    self.pwait2 = false;
                    continue;
                }
                r
            } else {
                let ms = match timeout_ns {
                    None => -1i64,
                    Some(ns) => ns.div_ceil(1_000_000).min(i32::MAX as u64) as i64,
                };
                // SAFETY: events buffer holds MAX_EVENTS entries.
                unsafe { sc!(libc::SYS_epoll_wait, self.epfd, self.events.as_mut_ptr(), MAX_EVENTS, ms) }
            };
            match r {
                Ok(n) => return n,
                Err(Errno::EINTR) => return 0,
                Err(e) => {
                    // The program closed the hub's epoll fd behind the shim's back
                    // (close_range, closefrom): the caller rebuilds the reactor.
                    self.broken = Some(e);
                    return 0;
                }
            }
        }
    }

    /// Empties the eventfd counter after a wake-up.
    pub fn drain_waker(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64.
        let _ = unsafe { sc!(libc::SYS_read, self.evfd, &mut v as *mut u64, 8) };
    }

    pub fn owns(&self, fd: i32) -> bool {
        fd == self.epfd || fd == self.evfd
    }
}
