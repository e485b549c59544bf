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
//! Each is a recursive lock whose owner is a green thread of the hub (or its root); a
//! green thread that finds another inside parks in the parking lot until it leaves. It
//! is kept only among the hub's green threads: OS threads that run no green thread
//! (offload workers, threads the shim does not own) have tids of their own, so glibc's
//! lock already tells them apart from the hub's thread, and they pass straight through.
//! The hub's green threads run one at a time, so the state is plain memory, touched
//! only on the hub's thread: uncontended, a lock and an unlock are a few loads and
//! stores, no atomic read-modify-write (glibc's own lock then costs two).
//!
//! A green thread that is cancelled or calls `pthread_exit` inside (a constructor that
//! exits) must not leave it held: each level records the stack address of the hook
//! frame that took it, and the forced unwind releases the levels whose frames it leaves
//! ([`release_unwound`], called by `hub::cancel`); an exit that does not unwind
//! releases them all ([`release_all`]). In a fork child only the forking thread exists:
//! both locks start free ([`after_fork_child`]), as glibc resets its own.
//!
//! With several hubs, each needs its own pair (today there is one hub per process).

use crate::green::{Green, Reason};
use crate::hub;
use crate::sync::parking_lot;
use core::cell::UnsafeCell;
use core::ptr::null_mut;

/// Levels whose frame address is recorded; deeper recursion is released at the latest
/// when the unwind leaves the 16th.
const FRAMES: usize = 16;

/// A lock's state. Touched only on the hub's OS thread, whose green threads run one at
/// a time, so plain loads and stores serve (the parking lot's `validate` runs on the
/// parker's thread too).
struct State {
    /// The green thread (or the hub's root) inside; null when free.
    owner: *mut Green,
    /// Recursion depth of `owner`.
    depth: u32,
    /// Green threads parked waiting for it.
    waiters: u32,
    /// Stack address of the hook frame that took each level.
    frames: [usize; FRAMES],
}

/// A recursive lock for the green threads of the hub (see the module docs).
pub struct GreenRecursiveLock(UnsafeCell<State>);

// SAFETY: the state is touched only on the hub's OS thread (every access goes through
// `st`, called only after `me` found the hub, or by the holder); other OS threads never reach it.
unsafe impl Sync for GreenRecursiveLock {}

impl GreenRecursiveLock {
    const fn new() -> GreenRecursiveLock {
        GreenRecursiveLock(UnsafeCell::new(State { owner: null_mut(), depth: 0, waiters: 0, frames: [0; FRAMES] }))
    }

    /// The running green thread, on the hub's thread (outside signal handlers:
    /// `hub::local` is none there), where the state may be touched.
    #[inline]
    fn me(&self) -> Option<*mut Green> {
        let h = hub::local()?;
        // SAFETY: h is this thread's hub; current is live.
        Some(unsafe { hub::current(h) })
    }

    /// The state. Only on the hub's thread ([`me`](Self::me) returned some), and no
    /// reference is kept across a park or another call that touches it.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    fn st(&self) -> &mut State {
        // SAFETY: per the doc above (module invariant: one OS thread, one green at a time).
        unsafe { &mut *self.0.get() }
    }

    /// The key waiters park on.
    fn key(&self) -> usize {
        self.0.get() as usize
    }

    /// Takes one level for the hook frame at `frame` (a stack address in it). Returns
    /// whether it did: false off the hub (glibc's own lock tells OS threads apart).
    #[inline]
    pub fn lock(&self, frame: usize) -> bool {
        let Some(me) = self.me() else { return false };
        if !self.st().owner.is_null() && self.st().owner != me {
            self.wait(me);
        }
        let s = self.st();
        s.owner = me;
        if (s.depth as usize) < FRAMES {
            s.frames[s.depth as usize] = frame;
        }
        s.depth += 1;
        true
    }

    /// Parks until the lock is free or the caller's.
    #[cold]
    fn wait(&self, me: *mut Green) {
        let busy = || !self.st().owner.is_null() && self.st().owner != me;
        while busy() {
            self.st().waiters += 1;
            parking_lot::park(self.key(), busy, || {}, None, Reason::Mutex);
            self.st().waiters -= 1;
        }
    }

    /// Releases one level taken by [`lock`](Self::lock) (which returned true).
    #[inline]
    pub fn unlock(&self) {
        // The caller holds a level, so this is the hub's thread.
        let s = self.st();
        if s.depth == 0 {
            // Reset in a fork child while the forking thread was inside.
            return;
        }
        s.depth -= 1;
        if s.depth == 0 {
            s.owner = null_mut();
            if s.waiters > 0 {
                parking_lot::unpark_one(self.key());
            }
        }
    }

    /// Waits until no other green thread is inside (it is free or the caller's),
    /// without keeping it: for a call that runs no program code inside the loader, so
    /// cannot park there, and nothing else on the hub runs until it returns.
    #[inline]
    pub fn wait_turn(&self) {
        if let Some(me) = self.me() {
            if !self.st().owner.is_null() && self.st().owner != me {
                self.wait(me);
            }
        }
    }

    /// Releases the running thread's levels whose hook frames lie below `cfa` (an
    /// unwind is leaving them).
    fn release_below(&self, cfa: usize) {
        let Some(me) = self.me() else { return };
        while self.st().owner == me && self.st().depth > 0 {
            let d = self.st().depth as usize;
            let frame = if d > FRAMES { 0 } else { self.st().frames[d - 1] };
            if frame >= cfa {
                return;
            }
            self.unlock();
        }
    }

    /// Makes it free (fork child: its holder, if any, is not the forking thread's
    /// concern any more; the child's hub starts over).
    fn reset(&self) {
        // One thread in the child, running the atfork handler.
        *self.st() = State { owner: null_mut(), depth: 0, waiters: 0, frames: [0; FRAMES] };
    }
}

/// The shim's `dl_load_lock` (see the module docs).
pub static LOAD: GreenRecursiveLock = GreenRecursiveLock::new();
/// The shim's `dl_load_write_lock` (see the module docs).
pub static WRITE: GreenRecursiveLock = GreenRecursiveLock::new();

/// A forced unwind (cancellation, `pthread_exit`) of the running thread reached the
/// frame whose canonical frame address is `cfa`: the loader levels taken by hook frames
/// below it are released.
pub fn release_unwound(cfa: usize) {
    WRITE.release_below(cfa);
    LOAD.release_below(cfa);
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
