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

/// A lock's state. With one hub only its OS thread touches it, and its green threads
/// run one at a time, so plain loads and stores serve; with several hubs every access
/// is under the lock's spin lock (see [`GreenRecursiveLock::with`]).
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

/// A recursive lock for the green threads of every hub (see the module docs).
pub struct GreenRecursiveLock(UnsafeCell<State>, crate::sys::SpinLock);

// SAFETY: the state is touched only on hub threads, through `with` (under the spin lock
// when several hubs run); other OS threads never reach it.
unsafe impl Sync for GreenRecursiveLock {}

impl GreenRecursiveLock {
    const fn new() -> GreenRecursiveLock {
        GreenRecursiveLock(UnsafeCell::new(State { owner: null_mut(), depth: 0, waiters: 0, frames: [0; FRAMES] }), crate::sys::SpinLock::new())
    }

    /// The running green thread, on a hub's thread (outside signal handlers:
    /// `hub::local` is none there), where the state may be touched.
    #[inline]
    fn me(&self) -> Option<*mut Green> {
        let h = hub::local()?;
        // SAFETY: h is this thread's hub; current is live.
        Some(unsafe { hub::current(h) })
    }

    /// Runs `f` on the state: plainly with one hub (nothing else runs meanwhile: a
    /// second hub only starts when a green thread is created, which `f` never does),
    /// under the spin lock with several. Never held across a park.
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        if hub::hub_count() <= 1 {
            // SAFETY: per the doc above (one OS thread, one green thread at a time).
            return f(unsafe { &mut *self.0.get() });
        }
        self.1.lock();
        // SAFETY: under the spin lock.
        let r = f(unsafe { &mut *self.0.get() });
        self.1.unlock();
        r
    }

    /// The key waiters park on.
    fn key(&self) -> usize {
        self.0.get() as usize
    }

    /// Takes one level for the hook frame at `frame` (a stack address in it). Returns
    /// whether it did: false off the hubs (glibc's own lock tells OS threads apart).
    #[inline]
    pub fn lock(&self, frame: usize) -> bool {
        let Some(me) = self.me() else { return false };
        loop {
            let took = self.with(|s| {
                if !s.owner.is_null() && s.owner != me {
                    s.waiters += 1;
                    return false;
                }
                s.owner = me;
                if (s.depth as usize) < FRAMES {
                    s.frames[s.depth as usize] = frame;
                }
                s.depth += 1;
                true
            });
            if took {
                return true;
            }
            self.park_while_held(me);
        }
    }

    /// Parks until the lock is free or the caller's; the caller counted itself in
    /// `waiters`, which this takes back.
    #[cold]
    fn park_while_held(&self, me: *mut Green) {
        let busy = || self.with(|s| !s.owner.is_null() && s.owner != me);
        parking_lot::park(self.key(), busy, || {}, None, Reason::Mutex);
        self.with(|s| s.waiters -= 1);
    }

    /// Releases one level taken by [`lock`](Self::lock) (which returned true).
    #[inline]
    pub fn unlock(&self) {
        let wake = self.with(|s| {
            if s.depth == 0 {
                // Reset in a fork child while the forking thread was inside.
                return false;
            }
            s.depth -= 1;
            if s.depth == 0 {
                s.owner = null_mut();
                return s.waiters > 0;
            }
            false
        });
        if wake {
            parking_lot::unpark_one(self.key());
        }
    }

    /// Waits until no other green thread is inside (it is free or the caller's),
    /// without keeping it: for a call that runs no program code inside the loader, so
    /// cannot park there.
    #[inline]
    pub fn wait_turn(&self) {
        if let Some(me) = self.me() {
            while self.with(|s| {
                let held = !s.owner.is_null() && s.owner != me;
                if held {
                    s.waiters += 1;
                }
                held
            }) {
                self.park_while_held(me);
            }
        }
    }

    /// Releases the running thread's levels whose hook frames lie below `cfa` (an
    /// unwind is leaving them).
    fn release_below(&self, cfa: usize) {
        let Some(me) = self.me() else { return };
        loop {
            let below = self.with(|s| {
                if s.owner != me || s.depth == 0 {
                    return false;
                }
                let d = s.depth as usize;
                let frame = if d > FRAMES { 0 } else { s.frames[d - 1] };
                frame < cfa
            });
            if !below {
                return;
            }
            self.unlock();
        }
    }

    /// Makes it free (fork child: its holder, if any, is not the forking thread's
    /// concern any more; the child's hub starts over).
    fn reset(&self) {
        self.1.force_unlock();
        // One thread in the child, running the atfork handler.
        // SAFETY: as above.
        unsafe { *self.0.get() = State { owner: null_mut(), depth: 0, waiters: 0, frames: [0; FRAMES] } };
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
