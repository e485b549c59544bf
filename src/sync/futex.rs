//! `syscall(SYS_futex, …)`, `futex_waitv` and the 6.7+ `futex_wait`/`futex_wake`, served
//! for green threads: Rust's std (every `Mutex`, `Condvar`, channel, `park`), libstdc++'s
//! `atomic::wait`, `<semaphore>`, `<latch>`, `<barrier>`, abseil and others wait here.
//!
//! Private futexes (`FUTEX_PRIVATE_FLAG`) live only in this process, so they are served
//! entirely by the [`parking_lot`], keyed by address: the value check runs under the
//! bucket lock, so a wake that changes the word first either makes the wait return
//! `EAGAIN` or finds the waiter, as in the kernel. OS threads without a hub (offload
//! workers, threads made before the shim) park in the same lot, so wakes cross in both
//! directions.
//!
//! Shared futexes (no private flag) may be woken by another process through the
//! kernel, so they stay kernel futexes: a wait that would block runs on an offload
//! thread (`offload::run_waiting`) while the green thread parks, and a wake goes to the
//! kernel and, for whatever count is left, to the lot (the kernel matches a private and
//! a shared operation on the same anonymous memory, and so do we).
//!
//! | op                         | served by                                              |
//! |----------------------------|--------------------------------------------------------|
//! | WAIT, WAIT_BITSET          | lot (private) · offload thread → kernel (shared)       |
//! | WAKE, WAKE_BITSET          | lot (private) · kernel, then lot (shared)              |
//! | REQUEUE, CMP_REQUEUE        | lot (private) · kernel (shared)                        |
//! | WAKE_OP                    | atomic op on the word, then lot wakes · kernel (shared) |
//! | LOCK_PI, LOCK_PI2, TRYLOCK_PI, UNLOCK_PI | lot, owner = the caller's (virtual) tid  |
//! | WAIT_REQUEUE_PI, CMP_REQUEUE_PI, FD | ENOSYS                                       |
//!
//! A wake from a signal handler on the hub's thread must not take a bucket lock the
//! interrupted code may hold: it is queued (lock-free) and done by the hub as soon as
//! it regains control ([`run_deferred`]).

use crate::green::Reason;
use crate::hub;
use crate::sync::parking_lot::{self, Parked};
use crate::sys::{self, Errno};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

const WAIT: u32 = 0;
const WAKE: u32 = 1;
const REQUEUE: u32 = 3;
const CMP_REQUEUE: u32 = 4;
const WAKE_OP: u32 = 5;
const LOCK_PI: u32 = 6;
const UNLOCK_PI: u32 = 7;
const TRYLOCK_PI: u32 = 8;
const WAIT_BITSET: u32 = 9;
const WAKE_BITSET: u32 = 10;
const WAIT_REQUEUE_PI: u32 = 11;
const LOCK_PI2: u32 = 13;
const PRIVATE: u32 = 128;
const CLOCK_REALTIME: u32 = 256;
const CMD_MASK: u32 = !(PRIVATE | CLOCK_REALTIME);

/// PI word bits. Green thread ids start at 2^30, where the kernel keeps OWNER_DIED, so
/// the shim's owner field is the 31 low bits (the shim never sets OWNER_DIED).
const PI_WAITERS: u32 = 0x8000_0000;
const PI_OWNER: u32 = 0x7fff_ffff;

/// Shared-futex waits now running in the kernel (on offload threads): while any
/// exist, a private wake that leaves count unused also asks the kernel.
static KERNEL_WAITERS: AtomicUsize = AtomicUsize::new(0);

type Res = Result<usize, Errno>;

fn word<'a>(addr: usize) -> &'a AtomicU32 {
    // SAFETY: the caller checked alignment and non-null; the program promises the
    // futex word is mapped memory, as the kernel requires (it would answer EFAULT).
    unsafe { &*(addr as *const AtomicU32) }
}

fn check_addr(addr: usize) -> Result<(), Errno> {
    if addr % 4 != 0 {
        Err(Errno(libc::EINVAL))
    } else if addr < 4096 {
        Err(Errno(libc::EFAULT))
    } else {
        Ok(())
    }
}

/// Reads a timeout the kernel would: EINVAL unless 0 ≤ nsec < 1e9 and sec ≥ 0.
fn read_timeout(p: usize) -> Result<Option<libc::timespec>, Errno> {
    if p == 0 {
        return Ok(None);
    }
    // SAFETY: the program passes a timespec (EFAULT natively if it is not mapped).
    let ts = unsafe { core::ptr::read_unaligned(p as *const libc::timespec) };
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno(libc::EINVAL));
    }
    Ok(Some(ts))
}

/// `syscall(SYS_futex, uaddr, op, val, timeout_or_val2, uaddr2, val3)`.
pub fn futex(uaddr: usize, op: u32, val: u32, arg4: usize, uaddr2: usize, val3: u32) -> Res {
    let cmd = op & CMD_MASK;
    let private = op & PRIVATE != 0;
    // The kernel reads and checks the timeout before anything else.
    let timeout = match cmd {
        WAIT | WAIT_BITSET | LOCK_PI | LOCK_PI2 | WAIT_REQUEUE_PI => read_timeout(arg4)?,
        _ => None,
    };
    if op & CLOCK_REALTIME != 0 && !matches!(cmd, WAIT_BITSET | WAIT_REQUEUE_PI | LOCK_PI2) {
        return Err(Errno(libc::ENOSYS));
    }
    // A "shared" futex on memory no other process can map (private anonymous or
    // copied-on-write pages) is keyed by the kernel exactly like a private one: libstdc++
    // 12's atomic waits are such. Waits and requeues there are served in the lot;
    // wakes also ask the kernel (cheap), in case the word is shared after all.
    let private = private
        || (matches!(cmd, WAIT | WAIT_BITSET | REQUEUE | CMP_REQUEUE | WAKE_OP)
            && hub::local().is_some()
            && check_addr(uaddr).is_ok()
            && !page_is_shared(uaddr)
            && (!matches!(cmd, REQUEUE | CMP_REQUEUE | WAKE_OP) || (check_addr(uaddr2).is_ok() && !page_is_shared(uaddr2))));
    if !private {
        return shared(uaddr, op, val, arg4, uaddr2, val3);
    }
    let realtime = op & CLOCK_REALTIME != 0;
    match cmd {
        WAIT => wait(uaddr, val, timeout.map(|t| sys::now_ns().saturating_add(sys::ts_to_ns(&t))), !0),
        WAIT_BITSET => {
            let clock = if realtime { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC };
            wait(uaddr, val, timeout.map(|t| sys::abs_to_monotonic(clock, &t)), val3)
        }
        WAKE => wake(uaddr, val as i32, !0),
        WAKE_BITSET => wake(uaddr, val as i32, val3),
        REQUEUE => requeue(uaddr, uaddr2, val as i32, arg4 as u32 as i32, None),
        CMP_REQUEUE => requeue(uaddr, uaddr2, val as i32, arg4 as u32 as i32, Some(val3)),
        WAKE_OP => wake_op(uaddr, uaddr2, val as i32, arg4 as u32 as i32, val3),
        LOCK_PI => lock_pi(uaddr, timeout.map(|t| sys::abs_to_monotonic(libc::CLOCK_REALTIME, &t)), false),
        LOCK_PI2 => {
            let clock = if realtime { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC };
            lock_pi(uaddr, timeout.map(|t| sys::abs_to_monotonic(clock, &t)), false)
        }
        TRYLOCK_PI => lock_pi(uaddr, None, true),
        UNLOCK_PI => unlock_pi(uaddr),
        _ => Err(Errno(libc::ENOSYS)),
    }
}

/// FUTEX_WAIT / WAIT_BITSET on a private word; `deadline` in monotonic ns.
pub fn wait(uaddr: usize, val: u32, deadline: Option<u64>, bits: u32) -> Res {
    check_addr(uaddr)?;
    if bits == 0 {
        return Err(Errno(libc::EINVAL));
    }
    let w = word(uaddr);
    let reason = if deadline.is_some() { Reason::FutexTimed } else { Reason::Futex };
    match parking_lot::park_bits(uaddr, bits, || w.load(Ordering::SeqCst) == val, || {}, deadline, reason) {
        Parked::Unparked => Ok(0),
        Parked::Invalid => Err(Errno::EAGAIN),
        Parked::TimedOut => Err(Errno(libc::ETIMEDOUT)),
        Parked::Interrupted => Err(Errno::EINTR),
    }
}

/// FUTEX_WAKE / WAKE_BITSET on a private word: the number woken.
pub fn wake(uaddr: usize, n: i32, bits: u32) -> Res {
    check_addr(uaddr)?;
    if bits == 0 {
        return Err(Errno(libc::EINVAL));
    }
    let max = n.max(0) as usize;
    if in_handler() {
        return Ok(defer_wake(uaddr, max, bits));
    }
    let k = parking_lot::unpark_bits(uaddr, max, bits);
    if k < max.max(1) && KERNEL_WAITERS.load(Ordering::Acquire) > 0 {
        // A shared wait on the same word sleeps in the kernel (see module docs).
        return Ok(k + kernel_wake(uaddr, (max.max(1) - k) as i32, bits, true));
    }
    Ok(k)
}

fn kernel_wake(uaddr: usize, n: i32, bits: u32, shared: bool) -> usize {
    let op = if shared { WAKE_BITSET } else { WAKE_BITSET | PRIVATE };
    // SAFETY: a futex wake never blocks; the word's address is the program's.
    unsafe { sys::syscall6(libc::SYS_futex, uaddr, op as usize, n as usize, 0, 0, bits as usize) }.unwrap_or(0)
}

fn requeue(uaddr: usize, uaddr2: usize, n_wake: i32, n_move: i32, cmp: Option<u32>) -> Res {
    check_addr(uaddr)?;
    check_addr(uaddr2)?;
    if n_wake < 0 || n_move < 0 {
        return Err(Errno(libc::EINVAL));
    }
    let w = word(uaddr);
    let validate = || cmp.is_none_or(|v| w.load(Ordering::SeqCst) == v);
    parking_lot::requeue(uaddr, uaddr2, validate, n_wake as usize, n_move as usize).ok_or(Errno::EAGAIN)
}

/// FUTEX_WAKE_OP: `*uaddr2 = op(*uaddr2, oparg)`, wake `n` on `uaddr`, and if the old
/// value of `*uaddr2` passes the comparison, wake `n2` on `uaddr2`. The operation on
/// the word comes before both wakes, so a waiter on `uaddr2` either saw the old value
/// while queued (and is found) or sees the new one (EAGAIN).
fn wake_op(uaddr: usize, uaddr2: usize, n: i32, n2: i32, encoded: u32) -> Res {
    check_addr(uaddr)?;
    check_addr(uaddr2)?;
    let op = (encoded >> 28) & 7;
    let cmp = (encoded >> 24) & 15;
    let mut oparg = (((encoded >> 12) & 0xfff) as i32) << 20 >> 20;
    let cmparg = ((encoded & 0xfff) as i32) << 20 >> 20;
    if encoded & (8 << 28) != 0 {
        oparg = 1 << (oparg & 31);
    }
    let oparg = oparg as u32;
    let w2 = word(uaddr2);
    let f = |v: u32| -> u32 {
        match op {
            0 => oparg,
            1 => v.wrapping_add(oparg),
            2 => v | oparg,
            3 => v & !oparg,
            _ => v ^ oparg,
        }
    };
    if op > 4 {
        return Err(Errno(libc::ENOSYS));
    }
    let old = w2.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| Some(f(v))).unwrap_or_else(|v| v) as i32;
    let pass = match cmp {
        0 => old == cmparg,
        1 => old != cmparg,
        2 => old < cmparg,
        3 => old <= cmparg,
        4 => old > cmparg,
        5 => old >= cmparg,
        _ => return Err(Errno(libc::ENOSYS)),
    };
    if in_handler() {
        let mut k = defer_wake(uaddr, n.max(0) as usize, !0);
        if pass {
            k += defer_wake(uaddr2, n2.max(0) as usize, !0);
        }
        return Ok(k);
    }
    let mut k = parking_lot::unpark_bits(uaddr, n.max(0) as usize, !0);
    if pass {
        k += parking_lot::unpark_bits(uaddr2, n2.max(0) as usize, !0);
    }
    Ok(k)
}

/// FUTEX_LOCK_PI(2) / TRYLOCK_PI with the caller's tid (a green thread's virtual tid) as
/// owner. Natively the kernel hands the lock to the top waiter at unlock; here the
/// unlock frees the word and wakes one waiter, which takes it unless another thread took
/// it first (one hub runs one thread at a time, so priority inheritance has nothing to
/// boost). A waiter sets FUTEX_WAITERS so that the owner's unlock comes here.
fn lock_pi(uaddr: usize, deadline: Option<u64>, try_only: bool) -> Res {
    check_addr(uaddr)?;
    let w = word(uaddr);
    let me = super::self_id() & PI_OWNER;
    loop {
        let v = w.load(Ordering::SeqCst);
        let owner = v & PI_OWNER;
        if owner == 0 {
            let new = if parking_lot::has_waiters(uaddr) { me | PI_WAITERS } else { me };
            if w.compare_exchange(v, new, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                return Ok(0);
            }
            continue;
        }
        if owner == me {
            return Err(Errno(libc::EDEADLK));
        }
        if try_only {
            return Err(Errno::EAGAIN);
        }
        let expect = v | PI_WAITERS;
        if v != expect && w.compare_exchange(v, expect, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            continue;
        }
        if parking_lot::park(uaddr, || w.load(Ordering::SeqCst) == expect, || {}, deadline, Reason::Mutex) == Parked::TimedOut {
            return Err(Errno(libc::ETIMEDOUT));
        }
    }
}

fn unlock_pi(uaddr: usize) -> Res {
    check_addr(uaddr)?;
    let w = word(uaddr);
    let v = w.load(Ordering::SeqCst);
    if v & PI_OWNER != super::self_id() & PI_OWNER {
        return Err(Errno(libc::EPERM));
    }
    w.store(0, Ordering::SeqCst);
    parking_lot::unpark_one(uaddr);
    Ok(0)
}

/// Shared futexes: the kernel's, waited for off the hub (see module docs).
fn shared(uaddr: usize, op: u32, val: u32, arg4: usize, uaddr2: usize, val3: u32) -> Res {
    let cmd = op & CMD_MASK;
    // SAFETY: the program's own futex call, unchanged.
    let call = || unsafe { sys::syscall6(libc::SYS_futex, uaddr, op as usize, val as usize, arg4, uaddr2, val3 as usize) };
    match cmd {
        WAIT | WAIT_BITSET | LOCK_PI | LOCK_PI2 | WAIT_REQUEUE_PI => {
            if hub::local().is_some() && matches!(cmd, WAIT | WAIT_BITSET) {
                check_addr(uaddr)?;
                if word(uaddr).load(Ordering::SeqCst) != val {
                    return Err(Errno::EAGAIN);
                }
            }
            KERNEL_WAITERS.fetch_add(1, Ordering::AcqRel);
            // run_waiting calls inline off the hub (an OS thread of its own may block).
            let r = crate::offload::run_waiting(call);
            KERNEL_WAITERS.fetch_sub(1, Ordering::AcqRel);
            r
        }
        WAKE | WAKE_BITSET => {
            let n = (val as i32).max(1) as usize;
            let k = call()?;
            let bits = if cmd == WAKE { !0 } else { val3 };
            if k < n && !in_handler() {
                return Ok(k + parking_lot::unpark_bits(uaddr, n - k, bits));
            }
            Ok(k)
        }
        _ => call(),
    }
}

/// Whether the page holding `addr` may be mapped by another process: a file page or
/// shared anonymous memory (`/proc/self/pagemap` bit 61), or unknown. Private anonymous
/// pages (the heap, stacks, copied-on-write data) are not.
fn page_is_shared(addr: usize) -> bool {
    const PATH: &[u8] = b"/proc/self/pagemap\0";
    // SAFETY: raw open/pread/close on a path literal and a local buffer.
    unsafe {
        let Ok(fd) = sys::sc!(libc::SYS_openat, libc::AT_FDCWD, PATH.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) else { return true };
        let mut e = 0u64;
        let r = sys::sc!(libc::SYS_pread64, fd, &mut e as *mut u64, 8, (addr / 4096) * 8);
        let _ = sys::close(fd as i32);
        // Present (bit 63), not swapped (62), and not a file or shared page (61).
        !(r == Ok(8) && e >> 63 & 1 == 1 && e >> 61 & 3 == 0)
    }
}

// ---- futex_waitv and the futex2 calls -------------------------------------------------

/// `struct futex_waitv`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct WaitV {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

const FUTEX2_SIZE_MASK: u32 = 3;
const FUTEX2_SIZE_U32: u32 = 2;
const FUTEX2_PRIVATE: u32 = 128;

/// `futex_waitv(waiters, n, flags, abs_timeout, clock)`: the index of a woken futex.
/// Served in the lot when every futex is a private 32-bit one and the caller is a green
/// thread; otherwise the kernel's (off the hub).
pub fn waitv(list: usize, n: u32, flags: u32, timeout: usize, clock: i32) -> Res {
    // SAFETY: the program's own call, unchanged.
    let call = || unsafe { sys::syscall6(libc::SYS_futex_waitv, list, n as usize, flags as usize, timeout, clock as usize, 0) };
    if flags != 0 || n == 0 || n as usize > parking_lot::MAX_MANY || list == 0 {
        return call();
    }
    if clock != libc::CLOCK_MONOTONIC && clock != libc::CLOCK_REALTIME {
        return Err(Errno(libc::EINVAL));
    }
    // SAFETY: the program passes n entries (EFAULT natively otherwise).
    let ws = unsafe { core::slice::from_raw_parts(list as *const WaitV, n as usize) };
    for w in ws {
        if w.reserved != 0 || w.flags & !(FUTEX2_SIZE_MASK | FUTEX2_PRIVATE) != 0 || w.flags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32 {
            return Err(Errno(libc::EINVAL));
        }
        if w.uaddr % 4 != 0 || w.val > u32::MAX as u64 {
            return Err(Errno(libc::EINVAL));
        }
    }
    let deadline = read_timeout(timeout)?.map(|t| sys::abs_to_monotonic(clock, &t));
    if hub::local().is_none() || ws.iter().any(|w| w.flags & FUTEX2_PRIVATE == 0) {
        if hub::local().is_none() {
            return call();
        }
        KERNEL_WAITERS.fetch_add(1, Ordering::AcqRel);
        let r = crate::offload::run_waiting(call);
        KERNEL_WAITERS.fetch_sub(1, Ordering::AcqRel);
        return r;
    }
    let mut keys = [0usize; parking_lot::MAX_MANY];
    for (k, w) in keys.iter_mut().zip(ws) {
        *k = w.uaddr as usize;
    }
    let reason = if deadline.is_some() { Reason::FutexTimed } else { Reason::Futex };
    match parking_lot::park_many(&keys[..ws.len()], |i| word(ws[i].uaddr as usize).load(Ordering::SeqCst) == ws[i].val as u32, deadline, reason) {
        Ok(i) => Ok(i),
        Err(Parked::Invalid) => Err(Errno::EAGAIN),
        Err(Parked::Interrupted) => Err(Errno::EINTR),
        Err(_) => Err(Errno(libc::ETIMEDOUT)),
    }
}

/// Linux 6.7's `futex_wake(uaddr, mask, n, flags)`.
pub fn futex2_wake(uaddr: usize, mask: u64, n: i32, flags: u32) -> Res {
    if flags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32 || flags & !(FUTEX2_SIZE_MASK | FUTEX2_PRIVATE) != 0 || mask as u32 == 0 {
        return Err(Errno(libc::EINVAL));
    }
    if flags & FUTEX2_PRIVATE == 0 {
        return shared(uaddr, WAKE_BITSET, n as u32, 0, 0, mask as u32);
    }
    wake(uaddr, n, mask as u32)
}

/// Linux 6.7's `futex_wait(uaddr, val, mask, flags, abs_timeout, clock)`.
pub fn futex2_wait(uaddr: usize, val: u64, mask: u64, flags: u32, timeout: usize, clock: i32) -> Res {
    if flags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32 || flags & !(FUTEX2_SIZE_MASK | FUTEX2_PRIVATE) != 0 || mask as u32 == 0 || val > u32::MAX as u64 {
        return Err(Errno(libc::EINVAL));
    }
    if clock != libc::CLOCK_MONOTONIC && clock != libc::CLOCK_REALTIME {
        return Err(Errno(libc::EINVAL));
    }
    let op = WAIT_BITSET | if clock == libc::CLOCK_REALTIME { CLOCK_REALTIME } else { 0 };
    if flags & FUTEX2_PRIVATE == 0 {
        return shared(uaddr, op, val as u32, timeout, 0, mask as u32);
    }
    futex(uaddr, op | PRIVATE, val as u32, timeout, 0, mask as u32)
}

// ---- wakes from signal handlers -----------------------------------------------------------

/// Is the caller a signal handler running on the hub's thread?
#[inline]
fn in_handler() -> bool {
    hub::local().is_none() && hub::local_identity().is_some()
}

const DEFERRED: usize = 64;
/// 0 free · 1 being written · 2 ready.
static SLOT_STATE: [AtomicU32; DEFERRED] = [const { AtomicU32::new(0) }; DEFERRED];
static SLOT_ADDR: [AtomicUsize; DEFERRED] = [const { AtomicUsize::new(0) }; DEFERRED];
static SLOT_COUNT: [AtomicUsize; DEFERRED] = [const { AtomicUsize::new(0) }; DEFERRED];
static SLOT_BITS: [AtomicU32; DEFERRED] = [const { AtomicU32::new(0) }; DEFERRED];
static ANY_DEFERRED: AtomicBool = AtomicBool::new(false);

/// Queues a wake for the hub (lock-free, allocation-free) and returns how many waiters it
/// is expected to wake (counted if the bucket is free, else 0).
fn defer_wake(uaddr: usize, max: usize, bits: u32) -> usize {
    let expected = parking_lot::try_count_waiters(uaddr, max, bits).unwrap_or(0);
    for i in 0..DEFERRED {
        if SLOT_STATE[i].compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            SLOT_ADDR[i].store(uaddr, Ordering::Relaxed);
            SLOT_COUNT[i].store(max, Ordering::Relaxed);
            SLOT_BITS[i].store(bits, Ordering::Relaxed);
            SLOT_STATE[i].store(2, Ordering::Release);
            ANY_DEFERRED.store(true, Ordering::Release);
            let h = hub::global();
            if !h.is_null() {
                // SAFETY: the hub is never freed; a write to its eventfd is signal-safe
                // (a closed reactor's fd is -1 and the write fails harmlessly).
                sys::eventfd_signal(unsafe { (*h).reactor.evfd });
            }
            return expected;
        }
    }
    // Every slot is taken: wake now (the bucket lock is free unless the handler
    // interrupted its holder; rare enough to accept).
    parking_lot::unpark_bits(uaddr, max, bits)
}

/// Runs wakes queued by signal handlers. Called by the hub whenever it regains control.
#[inline]
pub fn run_deferred() {
    if !ANY_DEFERRED.load(Ordering::Acquire) {
        return;
    }
    ANY_DEFERRED.store(false, Ordering::Release);
    for i in 0..DEFERRED {
        if SLOT_STATE[i].load(Ordering::Acquire) == 2 {
            let (a, n, b) = (SLOT_ADDR[i].load(Ordering::Relaxed), SLOT_COUNT[i].load(Ordering::Relaxed), SLOT_BITS[i].load(Ordering::Relaxed));
            SLOT_STATE[i].store(0, Ordering::Release);
            parking_lot::unpark_bits(a, n, b);
        }
    }
}
