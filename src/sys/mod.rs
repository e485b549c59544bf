//! The shim's own window onto the kernel.
//!
//! Inside a preloaded library every call to `read`, `write`, `nanosleep`, … binds to
//! the library's *own* exported hooks (see docs/ARCHITECTURE.md, "The library catches its
//! own calls"). So the runtime never calls libc for anything it hooks: it issues raw
//! system calls from here, and reaches the real libc functions it cannot replace with a
//! syscall (pthread, semaphores) through the table in [`real`].

pub mod real;
pub mod raw;

pub use raw::*;

/// An error number as the kernel returns it (positive).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Errno(pub i32);

impl Errno {
    pub const EAGAIN: Errno = Errno(libc::EAGAIN);
    pub const EINTR: Errno = Errno(libc::EINTR);
    pub const EBADF: Errno = Errno(libc::EBADF);

    /// Sets the calling thread's `errno` to this value.
    #[inline]
    pub fn set(self) {
        set_errno(self.0)
    }
}

/// Reads the calling OS thread's `errno`.
#[inline]
pub fn errno() -> i32 {
    // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Writes the calling OS thread's `errno`.
#[inline]
pub fn set_errno(e: i32) {
    // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() = e }
}

/// Encodes a `Result` the way a libc syscall wrapper returns it: the value, or -1 with errno.
#[inline]
pub fn encode(r: Result<usize, Errno>) -> isize {
    match r {
        Ok(v) => v as isize,
        Err(e) => {
            e.set();
            -1
        }
    }
}

/// The OS thread's control block (`header.self`, `%fs:16`): glibc's `THREAD_SELF`,
/// equal to the real `pthread_self()`. One load, no call: the hooks' "am I on the hub's
/// OS thread?" test. A green thread's own TLS area keeps the real control block there
/// (green::tls), so this is the same for every green thread of the hub.
#[inline(always)]
pub fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: on x86-64 glibc %fs:16 always holds tcbhead_t.self.
    unsafe { core::arch::asm!("mov {}, fs:16", out(reg) tp, options(nostack, readonly, preserves_flags)) };
    tp
}

/// Monotonic clock in nanoseconds (vDSO; `clock_gettime` is not hooked).
#[inline]
pub fn now_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Any clock in nanoseconds.
#[inline]
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer; clock_gettime is not interposed by the shim.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts_to_ns(&ts)
}

/// Converts a (non-negative) timespec to nanoseconds, saturating.
#[inline]
pub fn ts_to_ns(ts: &libc::timespec) -> u64 {
    if ts.tv_sec < 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec.max(0) as u64)
}

/// Converts nanoseconds to a timespec.
#[inline]
pub fn ns_to_ts(ns: u64) -> libc::timespec {
    libc::timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 }
}

/// Turns an absolute deadline on `clock` into one on the monotonic clock, the only
/// clock the hub's timers use.
pub fn abs_to_monotonic(clock: libc::clockid_t, abs: &libc::timespec) -> u64 {
    let target = ts_to_ns(abs);
    if clock == libc::CLOCK_MONOTONIC {
        return target;
    }
    let now_c = clock_ns(clock);
    now_ns().saturating_add(target.saturating_sub(now_c))
}

/// A tiny test-and-test-and-set lock for the runtime's own short critical sections
/// (parking-lot buckets). Never held across a park or a call
/// that can allocate.
pub struct SpinLock {
    locked: core::sync::atomic::AtomicBool,
}

impl SpinLock {
    pub const fn new() -> Self {
        SpinLock { locked: core::sync::atomic::AtomicBool::new(false) }
    }

    #[inline]
    pub fn lock(&self) {
        use core::sync::atomic::Ordering::*;
        let mut spins = 0u32;
        loop {
            if !self.locked.swap(true, Acquire) {
                return;
            }
            while self.locked.load(Relaxed) {
                spins += 1;
                if spins < 100 {
                    core::hint::spin_loop();
                } else {
                    // The holder is another OS thread that was descheduled; let it run.
                    raw::sched_yield();
                }
            }
        }
    }

    /// Takes the lock if it is free (for a signal handler, which must not spin on a lock
    /// the code it interrupted may hold).
    #[inline]
    pub fn try_lock(&self) -> bool {
        !self.locked.swap(true, core::sync::atomic::Ordering::Acquire)
    }

    /// Releases the lock whoever holds it (a fork's child, where the holder does not exist).
    pub fn force_unlock(&self) {
        self.locked.store(false, core::sync::atomic::Ordering::Release);
    }

    #[inline]
    pub fn unlock(&self) {
        self.locked.store(false, core::sync::atomic::Ordering::Release);
    }
}

/// Whether the program is CPython (its C API is in the global scope).
pub fn is_cpython() -> bool {
    // SAFETY: NUL-terminated name; dlsym is not hooked.
    !unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"Py_IsInitialized".as_ptr()) }.is_null()
}

/// CPUs this process may use, as Go and Tokio count them: the affinity mask, capped by
/// the cgroup's CPU quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us`), rounded up; at least 1.
/// Start-up only (before the hub: plain std file reads).
pub fn usable_cpus() -> usize {
    // SAFETY: a zeroed cpu_set_t is valid; the kernel fills it.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    // SAFETY: set is a valid out-buffer of the size given.
    let affinity = if unsafe { libc::sched_getaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &mut set) } == 0 {
        // SAFETY: set was filled.
        (unsafe { libc::CPU_COUNT(&set) } as usize).max(1)
    } else {
        1
    };
    affinity.min(cgroup_cpu_quota().unwrap_or(usize::MAX)).clamp(1, 64)
}

fn cgroup_cpu_quota() -> Option<usize> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let v2 = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/");
    let quota = |q: i64, period: i64| (q > 0 && period > 0).then(|| ((q + period - 1) / period) as usize);
    for dir in [format!("/sys/fs/cgroup{}", v2.trim_end_matches('/')), "/sys/fs/cgroup".to_string()] {
        if let Ok(s) = std::fs::read_to_string(format!("{dir}/cpu.max")) {
            let mut it = s.split_whitespace();
            let (q, p) = (it.next().unwrap_or("max"), it.next().unwrap_or("100000"));
            return match (q.parse::<i64>(), p.parse::<i64>()) {
                (Ok(q), Ok(p)) => quota(q, p),
                _ => None,
            };
        }
    }
    let q = std::fs::read_to_string("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").ok()?.trim().parse::<i64>().ok()?;
    let p = std::fs::read_to_string("/sys/fs/cgroup/cpu/cpu.cfs_period_us").ok()?.trim().parse::<i64>().ok()?;
    quota(q, p)
}

/// State shared by every hub's thread: a value behind a spin lock, reached only through
/// [`Shared::with`] (never held across a park, never taken in a signal handler).
pub struct Shared<T> {
    lock: SpinLock,
    v: core::cell::UnsafeCell<T>,
}

// SAFETY: the value is only reached under the lock; the shim keeps only plain data and
// pointers to memory it never frees in it.
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub const fn new(v: T) -> Self {
        Shared { lock: SpinLock::new(), v: core::cell::UnsafeCell::new(v) }
    }

    /// Runs `f` on the value under the lock.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.lock.lock();
        // SAFETY: under the lock; the reference does not escape `f`.
        let r = f(unsafe { &mut *self.v.get() });
        self.lock.unlock();
        r
    }

    /// In a fork's child: the holder (another thread) does not exist there.
    pub fn after_fork_child(&self) {
        self.lock.force_unlock();
    }
}
