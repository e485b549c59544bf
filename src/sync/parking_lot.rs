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
    let b = bucket(key);
    let mut node = Node { key, next: null_mut(), prev: null_mut(), green: null_mut(), generation: 0, unparked: false, reason, os_word: AtomicU32::new(0) };
    let np: *mut Node = &mut node;
    match hub::local() {
        Some(h) => {
            // SAFETY: h is this thread's hub; the node outlives its time in the queue
            // because this frame stays suspended until the node is unlinked.
            unsafe {
                let (g, generation) = hub::prepare_park(h);
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
                b.lock.lock();
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
                    b.lock.lock();
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
