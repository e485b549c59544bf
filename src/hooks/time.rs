//! Sleeping: every sleep parks the green thread on a hub timer.

use crate::green::Wake;
use crate::hub;
use crate::sys::{self, Errno, encode, sc};
use core::ffi::{c_int, c_uint};
use libc::{clockid_t, timespec};

fn valid(ts: &timespec) -> bool {
    ts.tv_sec >= 0 && (0..1_000_000_000).contains(&ts.tv_nsec)
}

/// Parks until the monotonic deadline. Err(EINTR) with the time left if a signal handler ran.
fn sleep_until(h: *mut hub::Hub, deadline: u64) -> Result<(), u64> {
    // SAFETY: h is this thread's hub.
    match unsafe { hub::sleep_until(h, deadline) } {
        Wake::Interrupted => Err(deadline.saturating_sub(sys::now_ns())),
        _ => Ok(()),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    crate::hub::cancel::point(|| {
        let Some(h) = hub::local() else {
            // SAFETY: the program's own arguments.
            return encode(unsafe { sc!(libc::SYS_nanosleep, req, rem) }) as c_int;
        };
        // SAFETY: req is the program's timespec (null faults natively too; report EFAULT).
        let Some(r) = (unsafe { req.as_ref() }) else { return encode(Err(Errno(libc::EFAULT))) as c_int };
        if !valid(r) {
            return encode(Err(Errno(libc::EINVAL))) as c_int;
        }
        match sleep_until(h, sys::now_ns().saturating_add(sys::ts_to_ns(r))) {
            Ok(()) => 0,
            Err(left) => {
                if !rem.is_null() {
                    // SAFETY: the program's out-parameter.
                    unsafe { *rem = sys::ns_to_ts(left) };
                }
                encode(Err(Errno::EINTR)) as c_int
            }
        }
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn __nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    // SAFETY: forwarded.
    unsafe { nanosleep(req, rem) }
}

/// clock_nanosleep returns the error number (errno untouched), like every clock_* call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clock_nanosleep(clock: clockid_t, flags: c_int, req: *const timespec, rem: *mut timespec) -> c_int {
    crate::hub::cancel::point(|| {
        let passthrough = || {
            // SAFETY: the program's own arguments.
            match unsafe { sc!(libc::SYS_clock_nanosleep, clock, flags, req, rem) } {
                Ok(_) => 0,
                Err(e) => e.0,
            }
        };
        if clock == libc::CLOCK_THREAD_CPUTIME_ID {
            // glibc refuses it before the kernel (which would say EOPNOTSUPP).
            return libc::EINVAL;
        }
        let Some(h) = hub::local() else { return passthrough() };
        let cpu = is_own_process_cpu_clock(clock);
        if !cpu && !matches!(clock, libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_TAI) {
            return passthrough();
        }
        // SAFETY: req is the program's timespec.
        let Some(r) = (unsafe { req.as_ref() }) else { return libc::EFAULT };
        if !valid(r) {
            return libc::EINVAL;
        }
        if cpu {
            return sleep_cpu(h, clock, flags, r, rem);
        }
        let abs = flags & libc::TIMER_ABSTIME != 0;
        let deadline = if abs { sys::abs_to_monotonic(clock, r) } else { sys::now_ns().saturating_add(sys::ts_to_ns(r)) };
        match sleep_until(h, deadline) {
            Ok(()) => 0,
            Err(left) => {
                if !abs && !rem.is_null() {
                    // SAFETY: the program's out-parameter.
                    unsafe { *rem = sys::ns_to_ts(left) };
                }
                libc::EINTR
            }
        }
    })
}

/// The process CPU-time clock (`CLOCK_PROCESS_CPUTIME_ID`, or `clock_getcpuclockid` of
/// this process). Thread CPU clocks are refused by the kernel (EINVAL) and pass through.
fn is_own_process_cpu_clock(clock: clockid_t) -> bool {
    if clock == libc::CLOCK_PROCESS_CPUTIME_ID {
        return true;
    }
    // The kernel's encoding: ((~pid) << 3) | CPUCLOCK_SCHED (2), bit 2 clear (not a thread).
    if clock >= 0 || clock & 7 != 2 {
        return false;
    }
    let pid = !(clock >> 3);
    // SAFETY: no arguments.
    pid == 0 || pid as i64 == unsafe { sc!(libc::SYS_getpid) }.map_or(-1, |p| p as i64)
}

/// Sleeping on the process CPU clock: the kernel's sleep would block the only OS thread,
/// and with it every thread whose work would advance the clock. Park instead, for at
/// least the CPU time still missing (one OS thread cannot burn it faster than the wall
/// clock), and re-read the clock.
fn sleep_cpu(h: *mut hub::Hub, clock: clockid_t, flags: c_int, r: &timespec, rem: *mut timespec) -> c_int {
    let abs = flags & libc::TIMER_ABSTIME != 0;
    let start = sys::clock_ns(clock);
    let target = if abs { sys::ts_to_ns(r) } else { start.saturating_add(sys::ts_to_ns(r)) };
    loop {
        let now = sys::clock_ns(clock);
        if now >= target {
            return 0;
        }
        let left = (target - now).max(50_000);
        if sleep_until(h, sys::now_ns().saturating_add(left)).is_err() {
            if !abs && !rem.is_null() {
                // SAFETY: the program's out-parameter.
                unsafe { *rem = sys::ns_to_ts(target.saturating_sub(sys::clock_ns(clock))) };
            }
            return libc::EINTR;
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sleep(secs: c_uint) -> c_uint {
    let req = timespec { tv_sec: secs as i64, tv_nsec: 0 };
    let mut rem = timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid in/out timespecs.
    if unsafe { nanosleep(&req, &mut rem) } == 0 {
        0
    } else {
        // Like glibc: whole seconds left, truncated.
        rem.tv_sec as c_uint
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn usleep(us: libc::useconds_t) -> c_int {
    let req = timespec { tv_sec: (us / 1_000_000) as i64, tv_nsec: (us % 1_000_000) as i64 * 1000 };
    // SAFETY: valid timespec.
    unsafe { nanosleep(&req, core::ptr::null_mut()) }
}

/// `gevent.sleep(0)`: every other ready green thread runs once before the caller resumes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sched_yield() -> c_int {
    match hub::local() {
        Some(h) => {
            // SAFETY: h is this thread's hub.
            unsafe { hub::yield_now(h) };
            hub::cancel::after_yield();
        }
        None => sys::sched_yield(),
    }
    0
}
