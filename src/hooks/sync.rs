//! Mutexes, condvars, semaphores, rwlocks, barriers, once, spinlocks. Process-shared
//! objects (and robust/PI/PP mutexes) are served by glibc without ever blocking the
//! hub (`sync::foreign`).

use crate::hub;
use crate::sync::{barrier, condvar, foreign, mutex, once, rwlock, sem};
use crate::sys::{self, Errno, real};
use crate::green::Reason;
use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, Ordering};
use libc::{clockid_t, pthread_cond_t, pthread_mutex_t, pthread_rwlock_t, sem_t, timespec};

/// Converts an absolute deadline on `clock` to monotonic ns; Err(EINVAL) if malformed.
fn deadline(clock: clockid_t, abs: *const timespec) -> Result<u64, c_int> {
    // SAFETY: abs is the program's timespec.
    let Some(a) = (unsafe { abs.as_ref() }) else { return Err(libc::EINVAL) };
    if !(0..1_000_000_000).contains(&a.tv_nsec) || !matches!(clock, libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC) {
        return Err(libc::EINVAL);
    }
    Ok(sys::abs_to_monotonic(clock, a))
}

// ---- mutex -------------------------------------------------------------------------

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_lock(m: *mut pthread_mutex_t) -> c_int {
    if !mutex::is_ours(m) {
        return foreign::mutex_lock(m, None);
    }
    mutex::lock(m, None)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_trylock(m: *mut pthread_mutex_t) -> c_int {
    if !mutex::is_ours(m) {
        hub::tick_local();
        return foreign::mutex_trylock(m);
    }
    hub::tick_local();
    mutex::trylock(m)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_clocklock(m: *mut pthread_mutex_t, clock: clockid_t, abs: *const timespec) -> c_int {
    if !mutex::is_ours(m) {
        if hub::local().is_none() {
            // SAFETY: forwarded.
            return unsafe { real::pthread_mutex_clocklock(m, clock, abs) };
        }
        return match deadline(clock, abs) {
            Ok(d) => foreign::mutex_lock(m, Some(d)),
            Err(e) => e,
        };
    }
    if mutex::trylock(m) == 0 {
        return 0;
    }
    match deadline(clock, abs) {
        Ok(d) => mutex::lock(m, Some(d)),
        Err(e) => e,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_timedlock(m: *mut pthread_mutex_t, abs: *const timespec) -> c_int {
    // SAFETY: forwarded.
    unsafe { pthread_mutex_clocklock(m, libc::CLOCK_REALTIME, abs) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_mutex_unlock(m: *mut pthread_mutex_t) -> c_int {
    if !mutex::is_ours(m) {
        return foreign::mutex_unlock(m);
    }
    mutex::unlock(m)
}

// ---- condvar -----------------------------------------------------------------------

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_init(c: *mut pthread_cond_t, a: *const libc::pthread_condattr_t) -> c_int {
    // glibc's init records the clock and the shared flag where condvar::clock reads them.
    // SAFETY: forwarded.
    unsafe { real::pthread_cond_init(c, a) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_destroy(c: *mut pthread_cond_t) -> c_int {
    if !condvar::is_ours(c) {
        // SAFETY: forwarded.
        return unsafe { real::pthread_cond_destroy(c) };
    }
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_wait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t) -> c_int {
    crate::hub::cancel::point(|| {
        if !condvar::is_ours(c) || !mutex::is_ours(m) {
            return foreign::cond_wait(c, m, libc::CLOCK_REALTIME, core::ptr::null(), None);
        }
        condvar::wait(c, m, None)
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_clockwait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t, clock: clockid_t, abs: *const timespec) -> c_int {
    crate::hub::cancel::point(|| {
        if !condvar::is_ours(c) || !mutex::is_ours(m) {
            return match deadline(clock, abs) {
                Ok(d) => foreign::cond_wait(c, m, clock, abs, Some(d)),
                Err(e) => e,
            };
        }
        match deadline(clock, abs) {
            Ok(d) => condvar::wait(c, m, Some(d)),
            Err(e) => e,
        }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_timedwait(c: *mut pthread_cond_t, m: *mut pthread_mutex_t, abs: *const timespec) -> c_int {
    crate::hub::cancel::point(|| {
        if !condvar::is_ours(c) || !mutex::is_ours(m) {
            let clock = condvar::clock(c);
            return match deadline(clock, abs) {
                Ok(d) => foreign::cond_wait(c, m, clock, abs, Some(d)),
                Err(e) => e,
            };
        }
        match deadline(condvar::clock(c), abs) {
            Ok(d) => condvar::wait(c, m, Some(d)),
            Err(e) => e,
        }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_signal(c: *mut pthread_cond_t) -> c_int {
    if !condvar::is_ours(c) {
        // SAFETY: forwarded.
        return unsafe { real::pthread_cond_signal(c) };
    }
    condvar::signal(c)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_cond_broadcast(c: *mut pthread_cond_t) -> c_int {
    if !condvar::is_ours(c) {
        // SAFETY: forwarded.
        return unsafe { real::pthread_cond_broadcast(c) };
    }
    condvar::broadcast(c)
}

// ---- semaphores (errno-style returns) ------------------------------------------------

fn sem_result(r: Result<(), c_int>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => {
            Errno(e).set();
            -1
        }
    }
}

/// A wait on a process-shared semaphore (`sem_open`, `sem_init(s, 1, n)`): another
/// process may post it, through the kernel futex, which epoll cannot watch. Natively
/// only the calling thread waits; here the wait runs on the offload pool (an OS thread
/// of its own when the pool is busy) while the green thread parks, so the hub keeps
/// running — the post may well depend on another green thread of this process.
fn shared_sem_wait(s: *mut sem_t, clock: clockid_t, abs: Option<timespec>) -> c_int {
    if hub::local().is_none() {
        // SAFETY: the program's semaphore and deadline.
        return unsafe {
            match abs {
                None => real::sem_wait(s),
                Some(a) => real::sem_clockwait(s, clock, &a),
            }
        };
    }
    // SAFETY: the program's semaphore.
    if unsafe { real::sem_trywait(s) } == 0 {
        return 0;
    }
    // The wait runs in slices of at most 10 ms so that a signal handler, which ends it
    // with EINTR natively (the kernel never restarts a timed one; an untimed one unless
    // SA_RESTART), can end it here too: the parked thread raises `cancel`.
    let cancel = AtomicBool::new(false);
    let p = s as usize;
    let c = &cancel as *const AtomicBool as usize;
    let wait = move || {
        // SAFETY: `cancel` outlives the call (run_waiting_interruptible waits for it).
        let cancel = unsafe { &*(c as *const AtomicBool) };
        loop {
            if cancel.load(Ordering::Acquire) {
                return (-1, libc::EINTR);
            }
            let slice_end = sys::clock_ns(clock).saturating_add(10_000_000);
            let (until, last) = match abs {
                Some(a) => {
                    let d = (a.tv_sec.max(0) as u64).saturating_mul(1_000_000_000).saturating_add(a.tv_nsec.max(0) as u64);
                    if a.tv_nsec < 0 || a.tv_nsec >= 1_000_000_000 {
                        // glibc's own check, and its error.
                        // SAFETY: the program's semaphore and deadline.
                        return (unsafe { real::sem_clockwait(p as *mut sem_t, clock, &a) }, sys::errno());
                    }
                    (d.min(slice_end), d <= slice_end)
                }
                None => (slice_end, false),
            };
            let ts = timespec { tv_sec: (until / 1_000_000_000) as libc::time_t, tv_nsec: (until % 1_000_000_000) as libc::c_long };
            sys::set_errno(0);
            // SAFETY: the program's semaphore; ts is live.
            let r = unsafe { real::sem_clockwait(p as *mut sem_t, clock, &ts) };
            let e = sys::errno();
            if r == 0 || e != libc::ETIMEDOUT || last {
                return (r, e);
            }
        }
    };
    let reason = if abs.is_some() { Reason::TimedWait } else { Reason::Semaphore };
    let (r, e) = crate::offload::run_waiting_interruptible(wait, reason, &cancel);
    sys::set_errno(e);
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_wait(s: *mut sem_t) -> c_int {
    crate::hub::cancel::point(|| {
        if !sem::is_ours(s) {
            // SAFETY: forwarded (on a pool thread when the hub would block).
            return shared_sem_wait(s, libc::CLOCK_MONOTONIC, None);
        }
        sem_result(sem::wait(s, None))
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_trywait(s: *mut sem_t) -> c_int {
    if !sem::is_ours(s) {
        // SAFETY: forwarded.
        return unsafe { real::sem_trywait(s) };
    }
    hub::tick_local();
    sem_result(if sem::trywait(s) { Ok(()) } else { Err(libc::EAGAIN) })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_clockwait(s: *mut sem_t, clock: clockid_t, abs: *const timespec) -> c_int {
    crate::hub::cancel::point(|| {
        if !sem::is_ours(s) {
            if abs.is_null() {
                // SAFETY: forwarded: glibc reports the bad pointer its own way.
                return unsafe { real::sem_clockwait(s, clock, abs) };
            }
            // SAFETY: the program's deadline.
            return shared_sem_wait(s, clock, Some(unsafe { *abs }));
        }
        if sem::trywait(s) {
            return 0;
        }
        sem_result(deadline(clock, abs).and_then(|d| sem::wait(s, Some(d))))
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_timedwait(s: *mut sem_t, abs: *const timespec) -> c_int {
    crate::hub::cancel::point(|| {
        if !sem::is_ours(s) {
            if abs.is_null() {
                // SAFETY: forwarded: glibc reports the bad pointer its own way.
                return unsafe { real::sem_timedwait(s, abs) };
            }
            // SAFETY: the program's deadline.
            return shared_sem_wait(s, libc::CLOCK_REALTIME, Some(unsafe { *abs }));
        }
        // SAFETY: forwarded.
        unsafe { sem_clockwait(s, libc::CLOCK_REALTIME, abs) }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_getvalue(s: *mut sem_t, v: *mut c_int) -> c_int {
    // Both layouts keep the value in the low 32 bits of the first word.
    // SAFETY: v is the program's out-parameter.
    unsafe { *v = sem::value(s) };
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sem_post(s: *mut sem_t) -> c_int {
    if !sem::is_ours(s) {
        // SAFETY: forwarded.
        return unsafe { real::sem_post(s) };
    }
    sem_result(sem::post(s))
}

// ---- rwlock --------------------------------------------------------------------------

macro_rules! rw_hooks {
    ($lock:ident, $try:ident, $timed:ident, $clock:ident, $imp:path, $tryimp:path, $write:expr) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $lock(l: *mut pthread_rwlock_t) -> c_int {
            if !rwlock::is_ours(l) {
                return foreign::rwlock_lock(l, $write, None);
            }
            $imp(l, None)
        }
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $try(l: *mut pthread_rwlock_t) -> c_int {
            if !rwlock::is_ours(l) {
                // SAFETY: forwarded.
                return unsafe { real::$try(l) };
            }
            $tryimp(l)
        }
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $clock(l: *mut pthread_rwlock_t, clock: clockid_t, abs: *const timespec) -> c_int {
            if !rwlock::is_ours(l) {
                if hub::local().is_none() {
                    // SAFETY: forwarded.
                    return unsafe { real::$clock(l, clock, abs) };
                }
                return match deadline(clock, abs) {
                    Ok(d) => foreign::rwlock_lock(l, $write, Some(d)),
                    Err(e) => e,
                };
            }
            if $tryimp(l) == 0 {
                return 0;
            }
            match deadline(clock, abs) {
                Ok(d) => $imp(l, Some(d)),
                Err(e) => e,
            }
        }
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $timed(l: *mut pthread_rwlock_t, abs: *const timespec) -> c_int {
            // SAFETY: forwarded.
            unsafe { $clock(l, libc::CLOCK_REALTIME, abs) }
        }
    };
}

rw_hooks!(pthread_rwlock_rdlock, pthread_rwlock_tryrdlock, pthread_rwlock_timedrdlock, pthread_rwlock_clockrdlock, rwlock::read, rwlock::try_read, false);
rw_hooks!(pthread_rwlock_wrlock, pthread_rwlock_trywrlock, pthread_rwlock_timedwrlock, pthread_rwlock_clockwrlock, rwlock::write, rwlock::try_write, true);

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_rwlock_unlock(l: *mut pthread_rwlock_t) -> c_int {
    if !rwlock::is_ours(l) {
        return foreign::rwlock_unlock(l);
    }
    rwlock::unlock(l)
}

// ---- barrier, once, spin ---------------------------------------------------------------

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_barrier_wait(b: *mut libc::pthread_barrier_t) -> c_int {
    if !barrier::is_ours(b) {
        return foreign::barrier_wait(b);
    }
    barrier::wait(b)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_once(o: *mut libc::pthread_once_t, init: extern "C" fn()) -> c_int {
    once::call(o, init)
}

fn spin_word(l: *mut libc::pthread_spinlock_t) -> &'static core::sync::atomic::AtomicI32 {
    // SAFETY: pthread_spinlock_t is a 4-byte-aligned int.
    unsafe { &*(l as *const core::sync::atomic::AtomicI32) }
}

/// Spin locks use the shim's own encoding (0 free, 1 held) through every entry point:
/// glibc's x86-64 encoding (1 free, decremented to lock) is never mixed in.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_spin_init(l: *mut libc::pthread_spinlock_t, _pshared: c_int) -> c_int {
    spin_word(l).store(0, core::sync::atomic::Ordering::Release);
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_spin_destroy(_l: *mut libc::pthread_spinlock_t) -> c_int {
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_spin_trylock(l: *mut libc::pthread_spinlock_t) -> c_int {
    use core::sync::atomic::Ordering::*;
    if spin_word(l).compare_exchange(0, 1, Acquire, Relaxed).is_ok() { 0 } else { libc::EBUSY }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_spin_unlock(l: *mut libc::pthread_spinlock_t) -> c_int {
    spin_word(l).store(0, core::sync::atomic::Ordering::Release);
    0
}

/// A spin lock whose holder may be a parked green thread: after a short spin, yield to
/// the hub so the holder can run and release it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_spin_lock(l: *mut libc::pthread_spinlock_t) -> c_int {
    use core::sync::atomic::Ordering::*;
    let w = spin_word(l);
    let mut spins = 0u32;
    loop {
        if w.load(Relaxed) == 0 && w.compare_exchange(0, 1, Acquire, Relaxed).is_ok() {
            return 0;
        }
        spins += 1;
        if spins < 64 {
            core::hint::spin_loop();
            continue;
        }
        spins = 0;
        match hub::local() {
            // SAFETY: h is this thread's hub.
            Some(h) => unsafe { hub::yield_now(h) },
            None => sys::sched_yield(),
        }
    }
}
