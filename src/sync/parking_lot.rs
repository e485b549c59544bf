//! An address-keyed wait queue: the one mechanism behind every wait that is not an fd or
//! a timer (mutex, condvar, semaphore, rwlock, barrier, once, join).
//!
//! A waiter is a node on its own stack, linked into one of 256 buckets chosen by hashing
//! the key. `park` runs the caller's `validate` under the bucket lock, so an unpark that
//! changes the state first either makes validation fail or finds the node: no lost
//! wake-up, even when the unparker is another OS thread. Bucket locks are spin locks
//! held for a few instructions; nothing allocates or parks while holding one.
//!
//! Two kinds of waiter share the queue: green threads (and the hub's root), woken through
//! the hub with their park generation; and OS threads that own no hub, which sleep on a
//! futex word in their node.
//!
//! | node field  | written by                       | read by                      |
//! |-------------|----------------------------------|------------------------------|
//! | links, key  | parker/unparker under bucket lock | bucket walkers (under lock) |
//! | `unparked`  | unparker under bucket lock        | parker after wake (lock)     |
//! | `os_word`   | unparker after unlock (OS kind)   | parker's futex wait          |

use crate::green::{Green, Reason, Wake};
use crate::hub;
use crate::sys::{self, SpinLock};
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicU32, Ordering};

const BUCKETS: usize = 256;

struct Node {
    key: usize,
    next: *mut Node,
    prev: *mut Node,
    green: *mut Green,
    generation: u64,
    /// Futex bitset (`FUTEX_WAIT_BITSET`); every other waiter matches all wakes (!0).
    bits: u32,
    unparked: bool,
    /// Why the waiter parked (lets [`unpark_all_semaphore_waiters`] pick its nodes).
    reason: Reason,
    /// OS-thread waiters: 0 = waiting, 1 = woken. The node may be freed as soon as the
    /// waiter sees 1, so the unparker writes it last.
    os_word: AtomicU32,
}

struct Bucket {
    lock: SpinLock,
    head: UnsafeCell<*mut Node>,
    tail: UnsafeCell<*mut Node>,
}

// SAFETY: head/tail are only accessed under `lock`.
unsafe impl Sync for Bucket {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Bucket = Bucket { lock: SpinLock::new(), head: UnsafeCell::new(null_mut()), tail: UnsafeCell::new(null_mut()) };
static TABLE: [Bucket; BUCKETS] = [EMPTY; BUCKETS];

#[inline]
fn bucket(key: usize) -> &'static Bucket {
    let h = (key as u64 >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56;
    &TABLE[h as usize]
}

/// Outcome of [`park`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Parked {
    /// Woken by an unpark on the key.
    Unparked,
    /// `validate` returned false: the caller re-checks its state.
    Invalid,
    TimedOut,
    Interrupted,
}

/// Links `n` at the tail. Caller holds the bucket lock.
unsafe fn link(b: &Bucket, n: *mut Node) {
    // SAFETY: under the bucket lock; n is live until unlinked.
    unsafe {
        (*n).next = null_mut();
        (*n).prev = *b.tail.get();
        if (*b.tail.get()).is_null() {
            *b.head.get() = n;
        } else {
            (**b.tail.get()).next = n;
        }
        *b.tail.get() = n;
    }
}

/// Unlinks `n`. Caller holds the bucket lock.
unsafe fn unlink(b: &Bucket, n: *mut Node) {
    // SAFETY: under the bucket lock; n is linked in b.
    unsafe {
        if (*n).prev.is_null() {
            *b.head.get() = (*n).next;
        } else {
            (*(*n).prev).next = (*n).next;
        }
        if (*n).next.is_null() {
            *b.tail.get() = (*n).prev;
        } else {
            (*(*n).next).prev = (*n).prev;
        }
    }
}

/// Parks the caller on `key` unless `validate` (run under the bucket lock) says the
/// awaited state already changed. `before_sleep` runs after the node is queued and the
/// lock dropped (a condvar releases its mutex there). `deadline` is monotonic ns.
pub fn park(key: usize, validate: impl FnOnce() -> bool, before_sleep: impl FnOnce(), deadline: Option<u64>, reason: Reason) -> Parked {
    park_bits(key, !0, validate, before_sleep, deadline, reason)
}

/// [`park`] with a futex bitset: only wakes whose bitset shares a bit with `bits` (see
/// [`unpark_bits`]) pick this waiter. A waiter may be moved to another key by
/// [`requeue`] while it sleeps.
pub fn park_bits(key: usize, bits: u32, validate: impl FnOnce() -> bool, before_sleep: impl FnOnce(), deadline: Option<u64>, reason: Reason) -> Parked {
    let b = bucket(key);
    let mut node = Node { key, next: null_mut(), prev: null_mut(), green: null_mut(), generation: 0, bits, unparked: false, reason, os_word: AtomicU32::new(0) };
    let np: *mut Node = &mut node;
    match hub::local() {
        Some(h) => {
            // SAFETY: h is this thread's hub; the node outlives its time in the queue
            // because this frame stays suspended until the node is unlinked.
            unsafe {
                let (g, generation) = hub::prepare_park(h);
                (*g).wait_obj = key;
                (*np).green = g;
                (*np).generation = generation;
                b.lock.lock();
                if !validate() {
                    b.lock.unlock();
                    hub::cancel_park(g);
                    return Parked::Invalid;
                }
                link(b, np);
                b.lock.unlock();
                before_sleep();
                let why = hub::park(h, g, generation, deadline, reason);
                if why == Wake::Notified {
                    return Parked::Unparked;
                }
                let b = lock_bucket_of(np);
                let r = if (*np).unparked {
                    Parked::Unparked
                } else {
                    unlink(b, np);
                    if why == Wake::Interrupted { Parked::Interrupted } else { Parked::TimedOut }
                };
                b.lock.unlock();
                r
            }
        }
        None => park_os(b, np, validate, before_sleep, deadline),
    }
}

fn park_os(b: &Bucket, np: *mut Node, validate: impl FnOnce() -> bool, before_sleep: impl FnOnce(), deadline: Option<u64>) -> Parked {
    // SAFETY: np points to the caller's live node; links change under the bucket lock.
    unsafe {
        b.lock.lock();
        if !validate() {
            b.lock.unlock();
            return Parked::Invalid;
        }
        link(b, np);
        b.lock.unlock();
        before_sleep();
        loop {
            if (*np).os_word.load(Ordering::Acquire) == 1 {
                return Parked::Unparked;
            }
            let rel = deadline.map(|d| sys::ns_to_ts(d.saturating_sub(sys::now_ns())));
            if let Some(ts) = &rel {
                if ts.tv_sec == 0 && ts.tv_nsec == 0 {
                    let b = lock_bucket_of(np);
                    if (*np).unparked {
                        b.lock.unlock();
                        // The unparker still has to store os_word: wait for it before the
                        // node (on this stack) goes away.
                        while (*np).os_word.load(Ordering::Acquire) == 0 {
                            let _ = sys::futex_wait(&(*np).os_word, 0, None);
                        }
                        return Parked::Unparked;
                    }
                    unlink(b, np);
                    b.lock.unlock();
                    return Parked::TimedOut;
                }
            }
            let _ = sys::futex_wait(&(*np).os_word, 0, rel.as_ref());
        }
    }
}

/// Locks the bucket that holds `n` now: [`requeue`] may have moved the node to another
/// key (it changes `key` holding both buckets' locks, so the key read under a bucket's
/// lock is stable).
unsafe fn lock_bucket_of(n: *mut Node) -> &'static Bucket {
    loop {
        // SAFETY: n is the caller's live node; key is re-read under the lock below.
        let k = unsafe { core::ptr::read_volatile(&(*n).key) };
        let b = bucket(k);
        b.lock.lock();
        // SAFETY: as above, now under the lock.
        if unsafe { (*n).key } == k {
            return b;
        }
        b.lock.unlock();
    }
}

/// Wakes up to `max` threads parked on `key` whose bitset shares a bit with `bits`,
/// FIFO (at least one if `max` is 0, as the kernel's futex wake does). Returns how
/// many were woken.
pub fn unpark_bits(key: usize, max: usize, bits: u32) -> usize {
    let b = bucket(key);
    let max = max.max(1);
    let mut total = 0;
    while total < max {
        let mut batch: [core::mem::MaybeUninit<(*mut Node, *mut Green, u64)>; 32] = [const { core::mem::MaybeUninit::uninit() }; 32];
        let mut k = 0;
        b.lock.lock();
        // SAFETY: as in unpark_one.
        unsafe {
            let mut n = *b.head.get();
            while !n.is_null() && k < batch.len() && total + k < max {
                let next = (*n).next;
                if (*n).key == key && (*n).bits & bits != 0 {
                    unlink(b, n);
                    (*n).unparked = true;
                    batch[k].write((n, (*n).green, (*n).generation));
                    k += 1;
                }
                n = next;
            }
        }
        b.lock.unlock();
        for slot in &batch[..k] {
            // SAFETY: as in unpark_all.
            unsafe {
                let (n, g, generation) = slot.assume_init();
                wake_node(n, g, generation);
            }
        }
        total += k;
        if k < batch.len() {
            break;
        }
    }
    total
}

/// Most keys [`park_many`] waits on (`futex_waitv`'s limit).
pub const MAX_MANY: usize = 128;

/// Parks the calling green thread on several keys at once (`futex_waitv`): each key is
/// validated (`validate(i)`) under its bucket lock and queued in turn; the first wake
/// on any of them ends the park. Returns the index of a key that was woken (the lowest),
/// or why none was. Must be called on the hub.
pub fn park_many(keys: &[usize], validate: impl Fn(usize) -> bool, deadline: Option<u64>, reason: Reason) -> Result<usize, Parked> {
    let Some(h) = hub::local() else { return Err(Parked::Invalid) };
    let n = keys.len().min(MAX_MANY);
    let mut nodes: [core::mem::MaybeUninit<Node>; MAX_MANY] = [const { core::mem::MaybeUninit::uninit() }; MAX_MANY];
    // SAFETY: h is this thread's hub; nodes[..queued] are initialised and stay on this
    // (suspended) frame until each is unlinked below.
    unsafe {
        let (g, generation) = hub::prepare_park(h);
        (*g).wait_obj = keys.first().copied().unwrap_or(0);
        let base = nodes.as_mut_ptr() as *mut Node;
        let np = |i: usize| base.add(i);
        let undo = |upto: usize| {
            for i in 0..upto {
                let b = lock_bucket_of(np(i));
                if !(*np(i)).unparked {
                    unlink(b, np(i));
                }
                b.lock.unlock();
            }
        };
        for (i, &key) in keys[..n].iter().enumerate() {
            np(i).write(Node { key, next: null_mut(), prev: null_mut(), green: g, generation, bits: !0, unparked: false, reason, os_word: AtomicU32::new(0) });
            let b = bucket(key);
            b.lock.lock();
            if !validate(i) {
                b.lock.unlock();
                undo(i);
                hub::cancel_park(g);
                return Err(Parked::Invalid);
            }
            link(b, np(i));
            b.lock.unlock();
        }
        let why = hub::park(h, g, generation, deadline, reason);
        let mut first = None;
        for i in 0..n {
            let b = lock_bucket_of(np(i));
            if (*np(i)).unparked {
                first = first.or(Some(i));
            } else {
                unlink(b, np(i));
            }
            b.lock.unlock();
        }
        match first {
            Some(i) => Ok(i),
            None if why == Wake::Interrupted => Err(Parked::Interrupted),
            None => Err(Parked::TimedOut),
        }
    }
}

/// Whether any thread is parked on `key`.
pub fn has_waiters(key: usize) -> bool {
    let b = bucket(key);
    b.lock.lock();
    // SAFETY: walked under the bucket lock.
    let found = unsafe { find(b, key, !0) };
    b.lock.unlock();
    found
}

/// Counts (up to `max`, at least 1) the waiters a wake on `key` with `bits` would pick,
/// without waking them; None if the bucket is locked. For a signal handler, which may
/// have interrupted the lock's holder on this very thread.
pub fn try_count_waiters(key: usize, max: usize, bits: u32) -> Option<usize> {
    let b = bucket(key);
    if !b.lock.try_lock() {
        return None;
    }
    let mut k = 0;
    // SAFETY: walked under the bucket lock.
    unsafe {
        let mut n = *b.head.get();
        while !n.is_null() && k < max.max(1) {
            if (*n).key == key && (*n).bits & bits != 0 {
                k += 1;
            }
            n = (*n).next;
        }
    }
    b.lock.unlock();
    Some(k)
}

/// Whether a waiter on `key` matching `bits` is queued. Caller holds the bucket lock.
unsafe fn find(b: &Bucket, key: usize, bits: u32) -> bool {
    // SAFETY: per contract.
    unsafe {
        let mut n = *b.head.get();
        while !n.is_null() {
            if (*n).key == key && (*n).bits & bits != 0 {
                return true;
            }
            n = (*n).next;
        }
    }
    false
}

/// Locks the buckets of two keys (once if they share one), lower address first.
fn lock_pair(a: usize, b: usize) -> (&'static Bucket, &'static Bucket) {
    let (ba, bb) = (bucket(a), bucket(b));
    let (pa, pb) = (ba as *const Bucket as usize, bb as *const Bucket as usize);
    if pa == pb {
        ba.lock.lock();
    } else if pa < pb {
        ba.lock.lock();
        bb.lock.lock();
    } else {
        bb.lock.lock();
        ba.lock.lock();
    }
    (ba, bb)
}

fn unlock_pair(ba: &Bucket, bb: &Bucket) {
    ba.lock.unlock();
    if !core::ptr::eq(ba, bb) {
        bb.lock.unlock();
    }
}

/// `FUTEX_CMP_REQUEUE`: unless `validate` (run with both keys' buckets locked) fails,
/// wakes up to `wake` waiters on `from` and moves up to
/// `move_max` more to `to`, FIFO. Returns woken + moved, or None if validation failed.
pub fn requeue(from: usize, to: usize, validate: impl FnOnce() -> bool, wake: usize, move_max: usize) -> Option<usize> {
    let (bf, bt) = lock_pair(from, to);
    if !validate() {
        unlock_pair(bf, bt);
        return None;
    }
    let mut woken: [core::mem::MaybeUninit<(*mut Node, *mut Green, u64)>; 32] = [const { core::mem::MaybeUninit::uninit() }; 32];
    let (mut k, mut moved, mut extra) = (0usize, 0usize, 0usize);
    // SAFETY: both buckets are locked; nodes are live while linked.
    unsafe {
        let mut n = *bf.head.get();
        while !n.is_null() {
            let next = (*n).next;
            if k + extra + moved >= wake.saturating_add(move_max) {
                break;
            }
            if (*n).key == from {
                if k + extra < wake {
                    if k < woken.len() {
                        unlink(bf, n);
                        (*n).unparked = true;
                        woken[k].write((n, (*n).green, (*n).generation));
                        k += 1;
                    } else {
                        // More than a batch to wake at once: the rest are woken below,
                        // after the locks are dropped.
                        extra += 1;
                    }
                } else if moved < move_max {
                    if from != to {
                        unlink(bf, n);
                        (*n).key = to;
                        link(bt, n);
                    }
                    moved += 1;
                }
            }
            n = next;
        }
    }
    unlock_pair(bf, bt);
    for slot in &woken[..k] {
        // SAFETY: as in unpark_all.
        unsafe {
            let (n, g, generation) = slot.assume_init();
            wake_node(n, g, generation);
        }
    }
    // Waiters past the first batch that were counted for waking (rare: > 32 at once).
    let extra = if extra > 0 { unpark_bits(from, extra, !0) } else { 0 };
    Some(k + extra + moved)
}

/// Wakes one thread parked on `key`, FIFO. Returns whether one was woken.
pub fn unpark_one(key: usize) -> bool {
    let b = bucket(key);
    b.lock.lock();
    // SAFETY: bucket walked and modified under its lock; the woken node's fields are
    // copied before the lock is dropped (the waiter may return right after).
    unsafe {
        let mut n = *b.head.get();
        while !n.is_null() && (*n).key != key {
            n = (*n).next;
        }
        if n.is_null() {
            b.lock.unlock();
            return false;
        }
        unlink(b, n);
        (*n).unparked = true;
        let (g, generation) = ((*n).green, (*n).generation);
        b.lock.unlock();
        wake_node(n, g, generation);
        true
    }
}

/// Wakes every thread parked on `key`. Returns how many.
pub fn unpark_all(key: usize) -> usize {
    let b = bucket(key);
    let mut total = 0;
    loop {
        // Fixed batch: no allocation under the bucket lock, and left uninitialised (only
        // the first k entries are ever read): this runs at every joinable thread's exit.
        let mut batch: [core::mem::MaybeUninit<(*mut Node, *mut Green, u64)>; 32] = [const { core::mem::MaybeUninit::uninit() }; 32];
        let mut k = 0;
        b.lock.lock();
        // SAFETY: as in unpark_one.
        unsafe {
            let mut n = *b.head.get();
            while !n.is_null() && k < batch.len() {
                let next = (*n).next;
                if (*n).key == key {
                    unlink(b, n);
                    (*n).unparked = true;
                    batch[k].write((n, (*n).green, (*n).generation));
                    k += 1;
                }
                n = next;
            }
        }
        b.lock.unlock();
        for slot in &batch[..k] {
            // SAFETY: the first k entries were written above. Each node was unlinked;
            // wake_node touches an OS node only through its futex word, last.
            unsafe {
                let (n, g, generation) = slot.assume_init();
                wake_node(n, g, generation);
            }
        }
        total += k;
        if k < batch.len() {
            return total;
        }
    }
}

unsafe fn wake_node(n: *mut Node, g: *mut Green, generation: u64) {
    // SAFETY: for green nodes only (g, generation) are used (the node may already be gone if a
    // timeout raced us; try_wake then fails harmlessly). For OS nodes the waiter keeps
    // the node alive until it sees os_word == 1.
    unsafe {
        if g.is_null() {
            (*n).os_word.store(1, Ordering::Release);
            sys::futex_wake(&(*n).os_word, 1);
        } else {
            hub::try_wake(g, generation, Wake::Notified);
        }
    }
}

/// Wakes every green thread parked in a semaphore wait, whatever the key: the fallback
/// of [`crate::sync::deferred`] when its table overflowed. Safe because a semaphore
/// waiter re-checks the value and parks again.
pub fn unpark_all_semaphore_waiters() {
    for b in TABLE.iter() {
        loop {
            let mut found: Option<(*mut Green, u64)> = None;
            b.lock.lock();
            // SAFETY: bucket walked and modified under its lock; green control blocks
            // are never freed.
            unsafe {
                let mut n = *b.head.get();
                while !n.is_null() {
                    let g = (*n).green;
                    if !g.is_null() && matches!((*n).reason, Reason::Semaphore | Reason::TimedWait) {
                        unlink(b, n);
                        (*n).unparked = true;
                        found = Some((g, (*n).generation));
                        break;
                    }
                    n = (*n).next;
                }
            }
            b.lock.unlock();
            match found {
                // SAFETY: g is a green control block.
                Some((g, generation)) => unsafe {
                    hub::try_wake(g, generation, Wake::Notified);
                },
                None => break,
            }
        }
    }
}

/// In a forked child, the nodes of threads that do not exist there are garbage.
pub fn after_fork_child() {
    for b in TABLE.iter() {
        // SAFETY: the child has a single thread; reset the lock and lists outright.
        unsafe {
            b.lock.unlock();
            *b.head.get() = null_mut();
            *b.tail.get() = null_mut();
        }
    }
}
