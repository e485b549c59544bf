//! The hub's epoll instance and its eventfd waker.
//!
//! Both are opened on first need — the first park that another thread may end, the first
//! registration, the first wait without a deadline — not at start-up: a program that
//! never waits on anything (most single-threaded commands) never has the two extra fds
//! in its /proc/self/fd, which programs list (CPython's subprocess tests do). Until
//! then a timed wait of the main thread alone is a plain `clock_nanosleep`.
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
    /// The fds could not be opened (the process is at its fd limit): the hub runs
    /// without them until an open succeeds (see `wait`).
    pub degraded: bool,
}

/// How long a degraded hub sleeps at most before it looks at remote wakes again.
const DEGRADED_NAP_NS: u64 = 2_000_000;

impl Reactor {
    /// A reactor whose fds are not open yet (see the module doc).
    pub fn new() -> Reactor {
        Reactor { epfd: -1, evfd: -1, events: Box::new([libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS]), pwait2: true, broken: None, degraded: false }
    }

    pub fn is_open(&self) -> bool {
        self.epfd >= 0
    }

    /// Opens the epoll instance and the eventfd if not yet done.
    pub fn open(&mut self) -> Result<(), Errno> {
        if self.is_open() {
            return Ok(());
        }
        match Self::make() {
            Ok((epfd, evfd)) => {
                self.epfd = epfd;
                self.evfd = evfd;
                self.degraded = false;
                Ok(())
            }
            Err(e) => {
                if !self.degraded {
                    crate::warn!("cannot open the hub's epoll fd and eventfd ({}): at the fd limit; waiting without them", e.0);
                }
                self.degraded = true;
                Err(e)
            }
        }
    }

    fn make() -> Result<(i32, i32), Errno> {
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
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: WAKER_TOKEN };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        if let Err(e) = unsafe { sc!(libc::SYS_epoll_ctl, epfd, libc::EPOLL_CTL_ADD, evfd, &mut ev as *mut libc::epoll_event) } {
            let _ = sys::close(epfd);
            let _ = sys::close(evfd);
            return Err(e);
        }
        Ok((epfd, evfd))
    }

    /// Closes both fds (fork child, rebuild); the next need opens new ones.
    pub fn close(&mut self) {
        if self.is_open() {
            let _ = sys::close(self.epfd);
            let _ = sys::close(self.evfd);
        }
        self.epfd = -1;
        self.evfd = -1;
    }

    /// Drops both numbers without closing them (the program already closed them).
    pub fn forget(&mut self) {
        self.epfd = -1;
        self.evfd = -1;
    }

    pub fn ctl(&mut self, op: i32, fd: i32, events: u32, data: u64) -> Result<(), Errno> {
        self.open()?;
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        unsafe { sc!(libc::SYS_epoll_ctl, self.epfd, op, fd, &mut ev as *mut libc::epoll_event) }.map(|_| ())
    }

    /// Waits for events; `timeout_ns` None = forever. Returns the number of events in
    /// `self.events`.
    pub fn wait(&mut self, timeout_ns: Option<u64>) -> usize {
        if !self.is_open() {
            // Not needed yet — or needed and the process is at its fd limit (degraded):
            // then fd waits block their OS thread (their registration failed) and the
            // hub naps at most DEGRADED_NAP_NS between looks at remote wakes, which
            // have no eventfd to announce them, retrying the open each time.
            let need = timeout_ns.is_none() || self.degraded;
            if !need || self.open().is_err() {
                let nap = match timeout_ns {
                    Some(0) => return 0,
                    Some(ns) if !self.degraded => ns,
                    Some(ns) => ns.min(DEGRADED_NAP_NS),
                    None => DEGRADED_NAP_NS,
                };
                let ts = sys::ns_to_ts(nap);
                // SAFETY: ts is valid; no remainder wanted (EINTR just returns).
                let _ = unsafe { sc!(libc::SYS_clock_nanosleep, libc::CLOCK_MONOTONIC, 0, &ts as *const libc::timespec, 0) };
                return 0;
            }
        }
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

    /// The program wants `fd`, one of the hub's numbers (dup2 onto it): give the hub's
    /// file another number. The eventfd's epoll registration is tied to its open file,
    /// which stays open, so it keeps reporting under the same token.
    pub fn move_off(&mut self, fd: i32) -> Result<(), Errno> {
        let moved = sys::fcntl(fd, libc::F_DUPFD_CLOEXEC, (fd + 1) as usize)
            .or_else(|_| sys::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3))? as i32;
        if fd == self.epfd {
            self.epfd = moved;
        } else {
            self.evfd = moved;
        }
        let _ = sys::close(fd);
        Ok(())
    }

    pub fn owns(&self, fd: i32) -> bool {
        self.is_open() && (fd == self.epfd || fd == self.evfd)
    }
}
