//! Synchronization objects whose word the shim does not own: process-shared mutexes,
//! condvars, rwlocks and barriers, and robust, priority-inheritance and
//! priority-protect mutexes. Another process (with or without the shim) or the kernel
//! (robust lists, PI futexes) reads and writes their words with glibc's own protocol,
//! so glibc's functions do the work — but never a blocking one on the hub's thread:
//!
//! | object | acquire | wake-up latency when another process releases |
//! |---|---|---|
//! | mutex (shared, robust, PI, PP) | glibc `trylock`; on `EBUSY` park on the mutex's address with a back-off deadline (50 µs doubling to 5 ms) and try again; a release by a green thread of this process unparks at once | ≤ the back-off (≤ 5 ms) |
//! | rwlock (shared) | `tryrdlock`/`trywrlock`, same back-off | ≤ 5 ms |
//! | condvar (shared) with a normal mutex | glibc's `pthread_cond_*wait` on the offload pool (an OS thread of its own when the pool is busy) | the kernel's |
//! | condvar (shared, or with a robust/PI/PP mutex) otherwise | release the mutex, park for the back-off, take the mutex again: a spurious wake-up, which POSIX allows and every correct caller loops on | ≤ 5 ms |
//! | barrier (shared) | glibc's `pthread_barrier_wait` on the offload pool | the kernel's |
//! | semaphore (shared, named) | glibc's `sem_*wait` on the offload pool (`hooks::sync`) | the kernel's |
//!
//! glibc records the *kernel* tid as a mutex's owner, and every green thread of a hub
//! has the same one: to glibc, all of them are one thread (a second green thread's
//! lock of a recursive mutex would succeed; an error-checking one would say
//! `EDEADLK`). So the shim keeps which green thread holds each such mutex (`OWNERS`,
//! touched only on the hub's thread) and lets glibc see only the holder's calls.

use crate::green::Reason;
use crate::hub;
use crate::sync::parking_lot;
use crate::sys::{self, real};
use libc::{pthread_mutex_t, pthread_rwlock_t, timespec};

const BACKOFF_MIN_NS: u64 = 50_000;
const BACKOFF_MAX_NS: u64 = 5_000_000;
/// Mutex type bits (`__kind`): recursive 1, error-checking 2; robust 16.
const KIND_MASK: i32 = 3;
const ROBUST: i32 = 16;
const PI_PP: i32 = 32 | 64;

/// (mutex address, green thread holding it) for foreign mutexes held on the hub.
static OWNERS: crate::sys::Shared<Vec<(usize, usize)>> = crate::sys::Shared::new(Vec::new());

/// In a fork's child.
pub fn after_fork_child() {
    OWNERS.after_fork_child();
}

fn owner_of(m: *mut pthread_mutex_t) -> Option<usize> {
    OWNERS.with(|v| v.iter().find(|(a, _)| *a == m as usize).map(|(_, g)| *g))
}

fn set_owner(m: *mut pthread_mutex_t, g: Option<usize>) {
    OWNERS.with(|v| {
        v.retain(|(a, _)| *a != m as usize);
        if let Some(g) = g {
            v.push((m as usize, g));
        }
    })
}

fn me(h: *mut hub::Hub) -> usize {
    // SAFETY: h is this thread's hub.
    unsafe { hub::current(h) as usize }
}

fn kind(m: *mut pthread_mutex_t) -> i32 {
    // SAFETY: offset 16 is glibc's `__kind`.
    unsafe { core::ptr::read_volatile((m as usize + 16) as *const i32) }
}

/// glibc's owner field (kernel tid of the holder, 0 when free).
fn glibc_owner(m: *mut pthread_mutex_t) -> i32 {
    // SAFETY: offset 8 is glibc's `__owner`.
    unsafe { core::ptr::read_volatile((m as usize + 8) as *const i32) }
}

/// Parks on `key` until a green thread of this process releases it, the back-off
/// passes, or `deadline`; doubles the back-off. Err(ETIMEDOUT) once the deadline passed.
fn back_off(key: usize, still_busy: impl FnOnce() -> bool, backoff: &mut u64, deadline: Option<u64>) -> Result<(), i32> {
    let now = sys::now_ns();
    if deadline.is_some_and(|d| now >= d) {
        return Err(libc::ETIMEDOUT);
    }
    let until = deadline.map_or(now + *backoff, |d| d.min(now + *backoff));
    *backoff = (*backoff * 2).min(BACKOFF_MAX_NS);
    parking_lot::park(key, still_busy, || {}, Some(until), Reason::Mutex);
    Ok(())
}

/// `pthread_mutex_lock`/`timedlock` on a foreign mutex (`deadline` in monotonic ns).
pub fn mutex_lock(m: *mut pthread_mutex_t, deadline: Option<u64>) -> i32 {
    let Some(h) = hub::local() else {
        // SAFETY: forwarded (no hub: this OS thread may block).
        return unsafe { real::pthread_mutex_lock(m) };
    };
    let me = me(h);
    let mut backoff = BACKOFF_MIN_NS;
    loop {
        match owner_of(m) {
            Some(o) if o == me => {
                return match kind(m) & KIND_MASK {
                    // SAFETY: glibc counts the recursion (its owner is this OS thread).
                    1 => unsafe { real::pthread_mutex_trylock(m) },
                    2 => libc::EDEADLK,
                    // A normal mutex locked twice by its holder deadlocks natively;
                    // a timed lock times out.
                    _ => match back_off(m as usize, || true, &mut backoff, deadline) {
                        Err(e) => e,
                        Ok(()) => continue,
                    },
                };
            }
            Some(o) => {
                // Another green thread of this process holds it: its unlock unparks us.
                if let Err(e) = back_off(m as usize, || owner_of(m) == Some(o), &mut backoff, deadline) {
                    return e;
                }
                continue;
            }
            None => {}
        }
        // SAFETY: the program's mutex; trylock never blocks.
        match unsafe { real::pthread_mutex_trylock(m) } {
            r @ (0 | libc::EOWNERDEAD) => {
                set_owner(m, Some(me));
                return r;
            }
            libc::EBUSY => {
                if let Err(e) = back_off(m as usize, || true, &mut backoff, deadline) {
                    return e;
                }
            }
            r => return r,
        }
    }
}

/// `pthread_mutex_trylock` on a foreign mutex.
pub fn mutex_trylock(m: *mut pthread_mutex_t) -> i32 {
    let Some(h) = hub::local() else {
        // SAFETY: forwarded.
        return unsafe { real::pthread_mutex_trylock(m) };
    };
    let me = me(h);
    match owner_of(m) {
        Some(o) if o != me => return libc::EBUSY,
        Some(_) if kind(m) & KIND_MASK != 1 => return libc::EBUSY,
        _ => {}
    }
    // SAFETY: forwarded; never blocks.
    let r = unsafe { real::pthread_mutex_trylock(m) };
    if r == 0 || r == libc::EOWNERDEAD {
        set_owner(m, Some(me));
    }
    r
}

/// `pthread_mutex_unlock` on a foreign mutex.
pub fn mutex_unlock(m: *mut pthread_mutex_t) -> i32 {
    let Some(h) = hub::local() else {
        // SAFETY: forwarded.
        return unsafe { real::pthread_mutex_unlock(m) };
    };
    let me = me(h);
    match owner_of(m) {
        // Held by another green thread: glibc would accept the unlock (same OS thread);
        // natively a checking mutex refuses it.
        Some(o) if o != me && (kind(m) & (KIND_MASK | ROBUST | PI_PP)) != 0 => return libc::EPERM,
        _ => {}
    }
    // SAFETY: forwarded.
    let r = unsafe { real::pthread_mutex_unlock(m) };
    // SAFETY: the root's id is the hub thread's kernel tid, glibc's owner for all of us.
    let tid = unsafe { (*(*h).root).id } as i32;
    if r == 0 && glibc_owner(m) != tid {
        // Fully released (a recursive one keeps its owner until the last unlock).
        set_owner(m, None);
        parking_lot::unpark_one(m as usize);
    }
    r
}

/// The green thread holding `m` gives it up for a condvar wait it cannot do itself:
/// forget the holder and let this process's waiters try again.
fn release_for_wait(m: *mut pthread_mutex_t) {
    set_owner(m, None);
    parking_lot::unpark_all(m as usize);
}

/// `pthread_cond_wait`/`clockwait` where the condvar is process-shared or the mutex is
/// foreign. `abs`/`clock` as the program passed them (null: no timeout); `deadline` the
/// same in monotonic ns.
pub fn cond_wait(c: *mut libc::pthread_cond_t, m: *mut pthread_mutex_t, clock: libc::clockid_t, abs: *const timespec, deadline: Option<u64>) -> i32 {
    let Some(h) = hub::local() else {
        // SAFETY: forwarded.
        return unsafe { glibc_cond_wait(c, m, clock, abs) };
    };
    let me = me(h);
    let foreign_mutex = !crate::sync::mutex::is_ours(m);
    if foreign_mutex && owner_of(m) != Some(me) && kind(m) & (KIND_MASK | ROBUST | PI_PP) != 0 {
        return libc::EPERM;
    }
    let plain_shared = foreign_mutex && kind(m) & (KIND_MASK | ROBUST | PI_PP) == 0;
    if !crate::sync::condvar::is_ours(c) && plain_shared {
        // glibc's own wait on a pool thread: it releases and retakes the mutex there
        // (a normal mutex does not check its owner), so this process's other green
        // threads may take the mutex meanwhile.
        release_for_wait(m);
        let (cp, mp, ap) = (c as usize, m as usize, abs as usize);
        // SAFETY: the program's objects; they outlive the parked call.
        let r = crate::offload::run_waiting(move || unsafe {
            glibc_cond_wait(cp as *mut _, mp as *mut _, clock, ap as *const timespec)
        });
        set_owner(m, Some(me));
        return r;
    }
    // A spurious wake-up after the back-off: release, sleep, take the mutex again.
    let unlock = || if foreign_mutex { mutex_unlock(m) } else { crate::sync::mutex::unlock(m) };
    let relock = || if foreign_mutex { mutex_lock(m, None) } else { crate::sync::mutex::lock(m, None) };
    if crate::sync::condvar::is_ours(c) {
        // A private condvar (with a foreign mutex): its signal and broadcast unpark
        // this key, from this process only, so no back-off is needed. The mutex is
        // released only once this thread is queued (park's `before_sleep`): with
        // several hubs a thread on another hub may take it and signal at once. (The
        // unlock cannot fail here: an owner that is not the caller was refused above.)
        let mut r = 0;
        crate::sync::condvar::park_waiter(c, deadline, || r = unlock());
        if r != 0 {
            return r;
        }
    } else {
        let r = unlock();
        if r != 0 {
            return r;
        }
        // A process-shared condvar: glibc's signal from another process cannot reach
        // this key, so the wait is a back-off (a spurious wake-up, as POSIX allows).
        let now = sys::now_ns();
        let until = deadline.map_or(now + BACKOFF_MAX_NS, |d| d.min(now + BACKOFF_MAX_NS));
        parking_lot::park(c as usize, || true, || {}, Some(until), Reason::Condvar);
    }
    let r = relock();
    if r != 0 && r != libc::EOWNERDEAD {
        return r;
    }
    if deadline.is_some_and(|d| sys::now_ns() >= d) { libc::ETIMEDOUT } else { r }
}

/// glibc's condvar wait, timed when `abs` is not null.
///
/// # Safety
/// The program's own objects and timespec.
unsafe fn glibc_cond_wait(c: *mut libc::pthread_cond_t, m: *mut pthread_mutex_t, clock: libc::clockid_t, abs: *const timespec) -> i32 {
    // SAFETY: per contract.
    unsafe { if abs.is_null() { real::pthread_cond_wait(c, m) } else { real::pthread_cond_clockwait(c, m, clock, abs) } }
}

/// `pthread_rwlock_rdlock`/`wrlock` (and timed forms) on a process-shared rwlock.
pub fn rwlock_lock(l: *mut pthread_rwlock_t, write: bool, deadline: Option<u64>) -> i32 {
    // SAFETY: trylock never blocks.
    let attempt = || unsafe { if write { real::pthread_rwlock_trywrlock(l) } else { real::pthread_rwlock_tryrdlock(l) } };
    if hub::local().is_none() {
        // SAFETY: forwarded.
        return unsafe { if write { real::pthread_rwlock_wrlock(l) } else { real::pthread_rwlock_rdlock(l) } };
    }
    let mut backoff = BACKOFF_MIN_NS;
    loop {
        match attempt() {
            libc::EBUSY => {
                if let Err(e) = back_off(l as usize, || true, &mut backoff, deadline) {
                    return e;
                }
            }
            r => return r,
        }
    }
}

/// `pthread_rwlock_unlock` on a process-shared rwlock: wakes this process's waiters.
pub fn rwlock_unlock(l: *mut pthread_rwlock_t) -> i32 {
    // SAFETY: forwarded.
    let r = unsafe { real::pthread_rwlock_unlock(l) };
    if r == 0 && hub::local().is_some() {
        parking_lot::unpark_all(l as usize);
    }
    r
}

/// `pthread_barrier_wait` on a process-shared barrier: on the offload pool.
pub fn barrier_wait(b: *mut libc::pthread_barrier_t) -> i32 {
    if hub::local().is_none() {
        // SAFETY: forwarded.
        return unsafe { real::pthread_barrier_wait(b) };
    }
    let p = b as usize;
    // SAFETY: the program's barrier; it outlives the parked call.
    crate::offload::run_waiting(move || unsafe { real::pthread_barrier_wait(p as *mut _) })
}
