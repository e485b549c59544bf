//! The dynamic linker's two locks, kept for green threads.
//!
//! glibc guards the loader with recursive locks that record the kernel tid as owner:
//! `dl_load_lock` (dlopen, dlmopen, dlclose, dlsym, dlvsym, dladdr, dladdr1; held while
//! constructors and destructors run) and `dl_load_write_lock` (the list of loaded
//! objects: `dl_iterate_phdr`, held while its callback runs; dlopen and dlclose take it
//! briefly, inside `dl_load_lock`, to add or remove objects). Every green thread of an
//! OS thread has that thread's tid, so a second green thread entering the loader while
//! the first is parked inside (a constructor that sleeps, a callback that reads a pipe)
//! would enter glibc's lock as a "recursive" owner and change the loader's state under
//! the first. The hooks in `hooks::dl` therefore take these green-aware locks first,
//! so the second green thread parks, as natively the second thread waits:
//!
//! | glibc lock           | shim lock  | held across                                  |
//! |----------------------|------------|----------------------------------------------|
//! | `dl_load_lock`       | [`LOAD`]   | dlopen, dlmopen, dlclose (entered, and waited for by dladdr/dladdr1/dlsym) |
//! | `dl_load_write_lock` | [`WRITE`]  | dl_iterate_phdr, dlclose (waited for by dlopen/dlmopen) |
//!
//! Each is a recursive lock whose owner is the caller's [`self_id`] (the green thread's
//! id on a hub, else the kernel tid: offload workers and threads the shim does not own
//! take it too); a contended locker parks in the parking lot (an OS thread without a hub
//! sleeps on its node's futex). Uncontended it is one compare-and-swap and one swap.
//!
//! | `word` | meaning                                  |
//! |--------|------------------------------------------|
//! | 0      | free                                     |
//! | 1      | held (`owner`, `depth` levels)           |
//! | 2      | held, and a waiter may be parked on it   |
//!
//! A green thread that is cancelled or calls `pthread_exit` inside (a constructor that
//! exits) must not leave it held: each level records the stack address of the hook
//! frame that took it, and the forced unwind releases the levels whose frames it leaves
//! ([`release_unwound`], called by `hub::cancel`); an exit that does not unwind
//! releases them all ([`release_all`]). In a fork child only the forking thread exists:
//! both locks start free ([`after_fork_child`]), as glibc resets its own.

use crate::green::Reason;
use crate::sync::parking_lot;
use crate::sync::self_id;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

/// Levels whose frame address is recorded; deeper recursion is released at the latest
/// when the unwind leaves the 16th.
const FRAMES: usize = 16;

/// A recursive lock for green threads and OS threads alike (see the module docs).
pub struct GreenRecursiveLock {
    /// 0 free · 1 held · 2 held and a waiter may be parked (the table above).
    word: AtomicU32,
    /// The holder's [`self_id`]; 0 when free.
    owner: AtomicU32,
    /// Recursion depth; touched only by the holder.
    depth: UnsafeCell<u32>,
    /// Stack address of the hook frame that took each level; touched only by the holder.
    frames: UnsafeCell<[usize; FRAMES]>,
}

// SAFETY: depth and frames are touched only by the holder (owner == self_id), which
// `word` serialises; the rest are atomics.
unsafe impl Sync for GreenRecursiveLock {}

impl GreenRecursiveLock {
    const fn new() -> GreenRecursiveLock {
        GreenRecursiveLock { word: AtomicU32::new(0), owner: AtomicU32::new(0), depth: UnsafeCell::new(0), frames: UnsafeCell::new([0; FRAMES]) }
    }

    /// The key waiters park on.
    fn key(&self) -> usize {
        &self.word as *const AtomicU32 as usize
    }

    /// Whether the caller holds it.
    #[inline]
    fn mine(&self, me: u32) -> bool {
        self.word.load(Ordering::Relaxed) != 0 && self.owner.load(Ordering::Relaxed) == me
    }

    /// Takes one level for the hook frame at `frame` (a stack address in it).
    #[inline]
    pub fn lock(&self, frame: usize) {
        let me = self_id();
        if !self.mine(me) {
            if self.word.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
                self.lock_contended();
            }
            self.owner.store(me, Ordering::Relaxed);
        }
        // SAFETY: the caller holds the lock; only the holder touches depth and frames.
        unsafe {
            let d = &mut *self.depth.get();
            if (*d as usize) < FRAMES {
                (*self.frames.get())[*d as usize] = frame;
            }
            *d += 1;
        }
    }

    #[cold]
    fn lock_contended(&self) {
        // Drepper's "mutex 3", as sync::mutex: mark 2 (waiters may exist) before parking.
        let mut c = self.word.swap(2, Ordering::Acquire);
        while c != 0 {
            parking_lot::park(self.key(), || self.word.load(Ordering::Relaxed) == 2, || {}, None, Reason::Mutex);
            c = self.word.swap(2, Ordering::Acquire);
        }
    }

    /// Releases one level. The caller holds it.
    #[inline]
    pub fn unlock(&self) {
        // SAFETY: the caller holds the lock (contract); only the holder touches depth.
        let last = unsafe {
            let d = &mut *self.depth.get();
            *d -= 1;
            *d == 0
        };
        if last {
            self.owner.store(0, Ordering::Relaxed);
            if self.word.swap(0, Ordering::Release) == 2 {
                parking_lot::unpark_one(self.key());
            }
        }
    }

    /// Waits until no other thread holds it (it is free or the caller's own), without
    /// keeping it: for a call that runs no program code inside the loader, so cannot
    /// park there, and on a hub nothing else runs until it returns.
    #[inline]
    pub fn wait_turn(&self) {
        if self.word.load(Ordering::Relaxed) != 0 {
            self.lock(0);
            self.unlock();
        }
    }

    /// Releases the caller's levels whose hook frames lie below `cfa` (an unwind is
    /// leaving them).
    fn release_below(&self, me: u32, cfa: usize) {
        while self.mine(me) {
            // SAFETY: the caller holds the lock; only the holder touches depth and frames.
            let frame = unsafe {
                let d = *self.depth.get() as usize;
                if d > FRAMES { 0 } else { (*self.frames.get())[d - 1] }
            };
            if frame >= cfa {
                return;
            }
            self.unlock();
        }
    }

    /// Makes it free (fork child: its holder, if any, no longer exists).
    fn reset(&self) {
        self.owner.store(0, Ordering::Relaxed);
        // SAFETY: one thread in the child, running the atfork handler.
        unsafe { *self.depth.get() = 0 };
        self.word.store(0, Ordering::Relaxed);
    }
}

/// The shim's `dl_load_lock` (see the module docs).
pub static LOAD: GreenRecursiveLock = GreenRecursiveLock::new();
/// The shim's `dl_load_write_lock` (see the module docs).
pub static WRITE: GreenRecursiveLock = GreenRecursiveLock::new();

/// A forced unwind (cancellation, `pthread_exit`) of the running thread reached the
/// frame whose canonical frame address is `cfa`: the loader levels taken by hook frames
/// below it are released. One load each when the thread holds neither.
pub fn release_unwound(cfa: usize) {
    if LOAD.word.load(Ordering::Relaxed) == 0 && WRITE.word.load(Ordering::Relaxed) == 0 {
        return;
    }
    let me = self_id();
    WRITE.release_below(me, cfa);
    LOAD.release_below(me, cfa);
}

/// The running thread ends without unwinding: every level it holds is released.
pub fn release_all() {
    release_unwound(usize::MAX);
}

/// In a fork child (see the module docs).
pub fn after_fork_child() {
    WRITE.reset();
    LOAD.reset();
}
