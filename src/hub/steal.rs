//! Several hubs: green threads that have not started wait in their hub's *spawned*
//! list (a mark stands for each in the ready queue), from which an idle hub may take
//! them while their hub is busy running one thing (see ARCHITECTURE.md, "Several
//! hubs"). A started thread never moves.

use super::{Hub, MAX_HUBS, hub_at, hub_count, notify};
use crate::green::Green;
use core::sync::atomic::Ordering;

/// Stands in `Hub::ready` for the oldest thread of `Hub::spawned`; never dereferenced
/// (no control block lives at the lowest aligned address).
pub(super) const SPAWN_MARK: *mut Green = core::ptr::NonNull::<Green>::dangling().as_ptr();
/// Most threads one steal takes.
const STEAL_MAX: usize = 64;

/// Ends the epoll wait of one other hub that sleeps there, if any, so that it can take
/// the thread `h` just placed on itself (`steal`) while `h` goes on running.
#[cold]
pub(super) unsafe fn wake_a_sleeper(h: *mut Hub) {
    for i in 0..hub_count().min(MAX_HUBS) {
        let x = hub_at(i);
        // SAFETY: registered hubs are never freed. Clearing `sleeping` makes the first
        // waker the only one to write the eventfd; the hub sets it again before its
        // next sleep (a remote wake meanwhile needs no write: it is awake).
        if !x.is_null() && x != h && unsafe { (*x).sleeping.load(Ordering::Relaxed) && (*x).sleeping.swap(false, Ordering::SeqCst) } {
            // SAFETY: x is a registered hub.
            unsafe { notify(x) };
            return;
        }
    }
}

/// Adds `g`, which has not started, to hub `h`'s stealable threads (any hub's thread).
pub(super) unsafe fn spawned_push(h: *mut Hub, g: *mut Green) {
    // SAFETY: registered hubs are never freed; the list is only touched under its
    // lock, which is never taken in a signal handler.
    unsafe {
        (*h).spawned_lock.lock();
        (*(*h).spawned.get()).push_back(g);
        (*h).spawned_len.fetch_add(1, Ordering::SeqCst);
        (*h).spawned_lock.unlock();
    }
}

/// A mark came out of `h`'s ready queue (several hubs): the oldest thread placed on
/// `h` that has not started, unless idle hubs took them all (hub thread only). Out of
/// line, so that the scheduler loop stays as it is with one hub.
#[cold]
#[inline(never)]
pub(super) unsafe fn take_marked(h: *mut Hub) -> Option<*mut Green> {
    // SAFETY: as in spawned_push; hub thread.
    unsafe {
        (*h).marks -= 1;
        if (*h).spawned_len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        (*h).spawned_lock.lock();
        let g = (*(*h).spawned.get()).pop_front();
        if g.is_some() {
            (*h).spawned_len.fetch_sub(1, Ordering::SeqCst);
        }
        (*h).spawned_lock.unlock();
        g
    }
}

/// One mark in the ready queue for each thread placed here that has none yet (after
/// the spawn token came: other hubs placed threads here).
#[cold]
#[inline(never)]
pub(super) unsafe fn sync_marks(h: *mut Hub) {
    // SAFETY: hub thread.
    unsafe {
        let n = (*h).spawned_len.load(Ordering::SeqCst);
        while (*h).marks < n {
            (*h).ready.push_back(SPAWN_MARK);
            (*h).marks += 1;
        }
    }
}

/// Idle hub `h` takes green threads that have not started from another hub that has
/// run one thing since `seq` was read (`seq[i]`: hub i's watchdog sequence then) and
/// still runs it — a thread computing without a call, or in a blocking call; not its
/// scheduler, which may just be waiting for the CPU: the older half of them, re-homed
/// here before their first resume. A started thread never moves (its `__thread` data
/// and cached TLS addresses belong to its OS thread). True if it took any.
#[cold]
pub(super) unsafe fn steal(h: *mut Hub, seq: &[u64]) -> bool {
    let mut took = false;
    for (i, &s) in seq.iter().enumerate() {
        let a = hub_at(i);
        // SAFETY: registered hubs are never freed; the atomics may be read anywhere.
        if a.is_null() || a == h || unsafe { (*a).spawned_len.load(Ordering::Relaxed) == 0 || !(*a).busy.load(Ordering::Relaxed) } || crate::hog::seq(i) != s {
            continue;
        }
        let mut got = [core::ptr::null_mut::<Green>(); STEAL_MAX];
        // SAFETY: a's list under its lock; h is this thread's hub, in its scheduler.
        unsafe {
            (*a).spawned_lock.lock();
            let q = &mut *(*a).spawned.get();
            let n = q.len().div_ceil(2).min(STEAL_MAX);
            for slot in got.iter_mut().take(n) {
                *slot = q.pop_front().unwrap_or(core::ptr::null_mut());
            }
            (*a).spawned_len.fetch_sub(n, Ordering::SeqCst);
            (*a).spawned_lock.unlock();
            if n == 0 {
                continue;
            }
            // The marks `a` keeps for them find nothing and are skipped.
            let left = (*a).live.fetch_sub(n, Ordering::Relaxed) - n;
            crate::hog::set_live(i, left);
            for &g in &got[..n] {
                // Nobody else reads these before the list below publishes them: a thread
                // that has not started has no wait a waker could end.
                (*g).hub = h as usize;
                // Its TLS copy is made from this hub's thread at its first resume.
                (*g).tls_pending = (*g).tls.is_some();
                spawned_push(h, g);
                (*h).ready.push_back(SPAWN_MARK);
                (*h).marks += 1;
            }
            let live = (*h).live.fetch_add(n, Ordering::Relaxed) + n;
            crate::hog::set_live((*h).index, live);
            (*h).stats.stolen += n as u64;
        }
        took = true;
    }
    took
}
