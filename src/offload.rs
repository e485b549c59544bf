//! The offload pool: a few real OS threads for calls epoll cannot watch (DNS lookups,
//! `fsync`, blocking file locks, `system`). The calling green thread parks; a worker
//! runs the call with the real libc function and wakes it through the hub's remote
//! queue and eventfd. Threads are started on first use, up to
//! `GREENSHIM_OFFLOAD_THREADS`, block every signal (handlers keep running on the hub's
//! thread) and are never torn down; a forked child starts with none.
//!
//! ```text
//!  green thread ──push job──▶ queue ──futex wake──▶ worker: f() ; done=1 ; try_wake(g)
//!       └─ park(Offload) ◀──────────── remote queue + eventfd ◀─────────────┘
//! ```

use crate::green::{Green, Reason, Wake};
use crate::hub;
use crate::sys::{self, SpinLock, real};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::collections::VecDeque;

struct Job {
    /// The call, type-erased; valid until `done` is set (it lives on the parked
    /// thread's stack).
    call: *mut dyn FnMut(),
    green: *mut Green,
    generation: u64,
    done: AtomicBool,
}

struct Queue {
    lock: SpinLock,
    jobs: UnsafeCell<VecDeque<usize>>,
}
// SAFETY: jobs is only touched under lock.
unsafe impl Sync for Queue {}

static QUEUE: Queue = Queue { lock: SpinLock::new(), jobs: UnsafeCell::new(VecDeque::new()) };
/// Futex word the idle workers sleep on: bumped on every push.
static SIGNAL: AtomicU32 = AtomicU32::new(0);
static WORKERS: AtomicUsize = AtomicUsize::new(0);
static IDLE: AtomicUsize = AtomicUsize::new(0);
/// Workers started that have not yet looked at the queue (they will take a job first).
static STARTING: AtomicUsize = AtomicUsize::new(0);
static MAX_WORKERS: AtomicUsize = AtomicUsize::new(4);
/// One-off threads started for waiting calls when the pool was busy (statistics).
pub static OWN_THREADS: AtomicU64 = AtomicU64::new(0);
/// Threads of [`own_thread`] running now.
static OWN_LIVE: AtomicUsize = AtomicUsize::new(0);

/// OS threads the shim runs now (pool workers and one-job threads): the kernel counts
/// them among the process's threads, natively they do not exist (hooks::procfs).
pub fn os_threads() -> usize {
    // The hog watchdog's thread is the shim's too.
    WORKERS.load(Ordering::Relaxed) + OWN_LIVE.load(Ordering::Relaxed) + crate::hog::os_threads()
}
/// Calls served by the pool, for statistics.
pub static OFFLOADED: AtomicU64 = AtomicU64::new(0);

/// OS threads the pool has started.
pub fn workers() -> usize {
    WORKERS.load(Ordering::Relaxed)
}

pub fn set_max_workers(n: usize) {
    MAX_WORKERS.store(n.max(1), Ordering::Relaxed);
}

/// Runs `f` on a pool thread while the calling green thread parks; runs it inline when
/// the caller is not on the hub, or is the only thread there. `f` must only call real
/// libc functions or raw syscalls (it runs on a thread without a hub, where hooks pass
/// through anyway).
pub fn run<R>(f: impl FnOnce() -> R) -> R {
    run_via(f, push, Reason::Offload, None)
}

/// [`run`] for a call that may wait on another thread of this program (the other end
/// of a FIFO, the holder of a file lock): when every pool thread is busy it gets an OS
/// thread of its own, which ends with the call, rather than queueing behind calls that
/// may be waiting for it (natively each waiter is its own thread too).
pub fn run_waiting<R>(f: impl FnOnce() -> R) -> R {
    run_via(f, push_or_own_thread, Reason::Offload, None)
}

/// [`run_waiting`] for a wait a signal handler interrupts as natively: the green thread
/// parks for `reason` (whose `on_signal` rule applies); when a handler interrupts the
/// park, `cancel` is raised, and the call — which must look at it every few
/// milliseconds and then give up — is waited for. Its result is returned either way
/// (a call that succeeded just before it gave up must report it).
pub fn run_waiting_interruptible<R>(f: impl FnOnce() -> R, reason: Reason, cancel: &AtomicBool) -> R {
    run_via(f, push_or_own_thread, reason, Some(cancel))
}

fn run_via<R>(f: impl FnOnce() -> R, dispatch: fn(usize), reason: Reason, cancel: Option<&AtomicBool>) -> R {
    let Some(h) = hub::local() else { return f() };
    // SAFETY: h is this thread's hub.
    if unsafe { hub::only_program_thread(h) } {
        // Only the main thread exists: blocking the OS thread stalls nobody, and a
        // single-threaded program never starts a pool thread.
        return f();
    }
    if WORKERS.load(Ordering::Acquire) == 0 && !spawn_worker() {
        // No OS thread can be started (RLIMIT_NPROC, memory): the call blocks this OS
        // thread, as natively it blocks its own.
        return f();
    }
    let mut f = Some(f);
    let mut out: Option<R> = None;
    let mut call = || out = Some((f.take().expect("offloaded call runs once"))());
    let call_dyn: &mut dyn FnMut() = &mut call;
    // SAFETY: h is this thread's hub. The job (and `call`, `out`) live in this frame,
    // which stays suspended until the worker has set `done`; the erased lifetime is
    // therefore never outlived.
    unsafe {
        let (g, generation) = hub::prepare_park(h);
        let mut job = Job {
            call: core::mem::transmute::<*mut dyn FnMut(), *mut (dyn FnMut() + 'static)>(call_dyn),
            green: g,
            generation,
            done: AtomicBool::new(false),
        };
        dispatch(&mut job as *mut Job as usize);
        loop {
            let why = hub::park(h, g, generation, None, reason);
            if job.done.load(Ordering::Acquire) {
                break;
            }
            if let (Wake::Interrupted, Some(c)) = (why, cancel) {
                // The worker notices within a slice of its wait; until then this thread
                // naps (the worker's wake names the old generation and is ignored).
                c.store(true, Ordering::Release);
                while !job.done.load(Ordering::Acquire) {
                    hub::sleep_until(h, sys::now_ns() + 1_000_000);
                }
                break;
            }
            debug_assert!(why != Wake::Notified, "offload woke before done");
            // Cannot happen (only the worker knows the generation); wait again.
            let (_, again) = hub::prepare_park(h);
            job.generation = again;
        }
    }
    OFFLOADED.fetch_add(1, Ordering::Relaxed);
    out.expect("offloaded call produced a result")
}

fn push(job: usize) {
    QUEUE.lock.lock();
    // SAFETY: under the queue lock. (VecDeque may allocate: this lock is never taken
    // inside a hook's critical section, and malloc is not hooked.)
    let queued = unsafe {
        (*QUEUE.jobs.get()).push_back(job);
        (*QUEUE.jobs.get()).len()
    };
    // Each queued job needs an idle worker of its own: an idle worker another queued job
    // will take does not count (two pushes racing to one idle worker left the second
    // job queued behind a call that may wait for ever).
    let covered = queued <= IDLE.load(Ordering::Acquire) + STARTING.load(Ordering::Acquire);
    QUEUE.lock.unlock();
    SIGNAL.fetch_add(1, Ordering::Release);
    if !covered && WORKERS.load(Ordering::Relaxed) < MAX_WORKERS.load(Ordering::Relaxed) {
        spawn_worker();
    }
    sys::futex_wake(&SIGNAL, 1);
}

fn push_or_own_thread(job: usize) {
    QUEUE.lock.lock();
    // SAFETY: under the queue lock.
    let queued = unsafe { (*QUEUE.jobs.get()).len() };
    let covered = queued < IDLE.load(Ordering::Acquire) + STARTING.load(Ordering::Acquire);
    QUEUE.lock.unlock();
    // An idle worker no queued job has claimed yet, or room for a new worker (push
    // starts it): the job is sure of a thread. Otherwise it gets one of its own.
    if covered || WORKERS.load(Ordering::Relaxed) < MAX_WORKERS.load(Ordering::Relaxed) {
        return push(job);
    }
    let mut t: libc::pthread_t = 0;
    OWN_LIVE.fetch_add(1, Ordering::Relaxed);
    // SAFETY: real pthread_create (an OS thread); the job outlives it (see run_via).
    let r = crate::raw::with_dispatch_off(|| unsafe { real::pthread_create(&mut t, core::ptr::null(), own_thread, job as *mut libc::c_void) });
    if r != 0 {
        OWN_LIVE.fetch_sub(1, Ordering::Relaxed);
        crate::warn!("cannot start a thread for a waiting call (error {r}); it queues for the pool");
        return push(job);
    }
    OWN_THREADS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: t is a live real thread.
    unsafe { real::pthread_detach(t) };
}

/// Runs one job and ends.
extern "C" fn own_thread(job: *mut libc::c_void) -> *mut libc::c_void {
    crate::raw::not_here();
    block_all_signals();
    // SAFETY: the job is live until `done` is set (run_via).
    unsafe { execute(job as usize) };
    OWN_LIVE.fetch_sub(1, Ordering::Relaxed);
    core::ptr::null_mut()
}

pub(crate) fn block_all_signals() {
    // SAFETY: blocking every signal on this thread only.
    unsafe {
        let mut all: libc::sigset_t = core::mem::zeroed();
        libc::sigfillset(&mut all);
        real::pthread_sigmask(libc::SIG_BLOCK, &all, core::ptr::null_mut());
    }
}

/// Runs a job and wakes its green thread.
///
/// # Safety
/// `j` is a live `Job` whose `done` is not set.
unsafe fn execute(j: usize) {
    let job = j as *mut Job;
    // SAFETY: the job stays alive until `done` is set; (green, generation) are copied
    // before that, since the parked thread may return at once.
    unsafe {
        (*(*job).call)();
        let (g, generation) = ((*job).green, (*job).generation);
        (*job).done.store(true, Ordering::Release);
        hub::try_wake(g, generation, Wake::Notified);
    }
}

/// The next job; `first` for a new worker's first look, which ends its STARTING count
/// under the queue lock (so a pusher never counts it and its job both).
fn pop(first: bool) -> Option<usize> {
    QUEUE.lock.lock();
    // SAFETY: under the queue lock.
    let j = unsafe { (*QUEUE.jobs.get()).pop_front() };
    if first {
        STARTING.fetch_sub(1, Ordering::AcqRel);
    }
    QUEUE.lock.unlock();
    j
}

extern "C" fn worker(_: *mut libc::c_void) -> *mut libc::c_void {
    crate::raw::not_here();
    block_all_signals();
    let mut first = true;
    loop {
        let seen = SIGNAL.load(Ordering::Acquire);
        let job = pop(first);
        first = false;
        match job {
            // SAFETY: queued jobs are live until their `done` is set.
            Some(j) => unsafe { execute(j) },
            None => {
                IDLE.fetch_add(1, Ordering::AcqRel);
                let _ = sys::futex_wait(&SIGNAL, seen, None);
                IDLE.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

/// Starts one pool thread; false if the system refused (the caller then runs its call
/// inline when no pool thread exists at all, see `run_via`).
fn spawn_worker() -> bool {
    WORKERS.fetch_add(1, Ordering::AcqRel);
    STARTING.fetch_add(1, Ordering::AcqRel);
    let mut t: libc::pthread_t = 0;
    // SAFETY: real pthread_create (an OS thread), default attributes.
    let r = crate::raw::with_dispatch_off(|| unsafe { real::pthread_create(&mut t, core::ptr::null(), worker, core::ptr::null_mut()) });
    if r != 0 {
        WORKERS.fetch_sub(1, Ordering::AcqRel);
        STARTING.fetch_sub(1, Ordering::AcqRel);
        crate::warn!("cannot start an offload thread (error {r}); the call waits for a busy one or runs inline");
        false
    } else {
        // SAFETY: t is a live real thread.
        unsafe { real::pthread_detach(t) };
        true
    }
}

/// In a forked child the workers do not exist and queued jobs belong to the parent.
pub fn after_fork_child() {
    WORKERS.store(0, Ordering::Relaxed);
    STARTING.store(0, Ordering::Relaxed);
    OWN_LIVE.store(0, Ordering::Relaxed);
    IDLE.store(0, Ordering::Relaxed);
    QUEUE.lock.unlock();
    // SAFETY: single-threaded child. The parent's jobs are forgotten without dropping
    // their deque storage contents (plain integers).
    unsafe { (*QUEUE.jobs.get()).clear() };
}
