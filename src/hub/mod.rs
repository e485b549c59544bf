//! The hub: one per process, owned by the OS thread that initialised the shim (the main
//! thread, or the thread that called `fork` in a child). It owns the FIFO ready queue,
//! the timers, the epoll reactor and the remote-wake queue.
//!
//! ```text
//!  root context (main's own stack)           green threads (corosensei stacks)
//!  ───────────────────────────────           ─────────────────────────────────
//!  hook would block ─▶ park(root)
//!                      run_until_root_ready ─resume─▶ g1 runs … parks ─suspend─┐
//!                        ▲  pop ready queue ◀────────────────────────────────┘
//!                        │  nothing ready: epoll_pwait2(next timer)
//!                        └─ root popped from the queue: return into the hook
//! ```
//!
//! Green threads always suspend back to the root's scheduler loop; only the root ever
//! resumes a coroutine. All hub state is touched only on the hub's OS thread, through a
//! raw pointer (never a `&mut` held across a switch, since the code that runs during a
//! switch mutates it too), except `remote`, a lock-free list that other OS threads
//! (offload workers, threads the shim does not own) and signal handlers push wake-ups
//! onto before they signal the eventfd: pushing takes no lock and allocates nothing, so
//! a wake is async-signal-safe (see [`try_wake`]).

pub mod cancel;
pub mod debug;
pub mod reactor;
mod steal;
pub mod timers;

use crate::green::{self, Green, Reason, State, Wake, stack::StackMem, stack::StackPool};
use crate::sys;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use corosensei::CoroutineResult;
use reactor::Reactor;
use steal::{SPAWN_MARK, spawned_push, steal, sync_marks, take_marked, wake_a_sleeper};
use std::collections::VecDeque;
use timers::Timers;

/// Resumes between two non-blocking epoll polls when the ready queue never drains: the
/// hub's fairness budget, so ready connections cannot starve new events.
const POLL_BUDGET: u32 = 64;
/// Fast-path (non-blocking) I/O operations a thread may do before it is sent to the back
/// of the ready queue.
pub const FAST_OP_BUDGET: u32 = 128;
/// Longest the hub goes without polling epoll and timers while threads keep running.
const POLL_INTERVAL_NS: u64 = 2_000_000;
/// Hooked calls between two clock reads for the time slice.
const SLICE_CHECK_EVERY: u32 = 16;
/// GREENSHIM_SLICE in ns (0 = off).
static SLICE_NS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(5_000_000);

/// Sets the time slice (GREENSHIM_SLICE).
pub fn set_slice_ns(ns: u64) {
    SLICE_NS.store(ns, Ordering::Relaxed);
}

#[derive(Default, Clone, Copy)]
pub struct Stats {
    pub created: u64,
    pub peak_live: u64,
    pub switches: u64,
    pub parks: [u64; green::REASONS],
    pub epoll_waits: u64,
    pub remote_wakes: u64,
    /// Threads that had not started, taken from a busy hub by this one (see `steal`).
    pub stolen: u64,
}

pub struct Hub {
    /// Thread pointer of the owning OS thread.
    pub tp: usize,
    /// Kernel tid of the owning OS thread.
    pub tid: i32,
    /// Position in the hub registry (0: the hub of the main thread, or of the forking
    /// thread in a child).
    pub index: usize,
    /// The root is a program thread (hub 0's main thread); the roots of the other hubs
    /// only run their scheduler.
    pub program_root: bool,
    pub root: *mut Green,
    pub current: *mut Green,
    ready: VecDeque<*mut Green>,
    timers: Timers,
    pub reactor: Reactor,
    /// Threads woken from another OS thread or a signal handler, newest first, linked
    /// through `Green::remote_next` (a Treiber stack that is only ever taken whole).
    remote: AtomicPtr<Green>,
    free: Vec<*mut Green>,
    /// Green threads placed on this hub and not yet exited (another hub's spawn adds to
    /// it, so atomic).
    pub live: AtomicUsize,
    /// In (or about to enter) a blocking epoll wait: only then does a remote wake need
    /// the eventfd (see `remote_push`).
    sleeping: core::sync::atomic::AtomicBool,
    /// A thread of this hub called vfork and its child may run on this hub's thread
    /// pointer (see `vfork_mark`).
    vfork: core::sync::atomic::AtomicBool,
    /// Sleeping in the reactor with nothing to run and no timer (several hubs: the
    /// deadlock check needs every hub idle).
    idle: core::sync::atomic::AtomicBool,
    /// Green threads placed on this hub that have not started (several hubs only), oldest
    /// first: an idle hub may take them (see `steal`), so they sit here, under
    /// `spawned_lock`, rather than in `ready`, which holds one `SPAWN_MARK` for each.
    spawned: core::cell::UnsafeCell<VecDeque<*mut Green>>,
    spawned_lock: sys::SpinLock,
    /// `spawned.len()`, readable without the lock.
    spawned_len: AtomicUsize,
    /// `SPAWN_MARK`s in `ready`: at least `spawned_len` once the hub has looked at its
    /// remote list (a mark whose thread was taken finds none and is skipped).
    marks: usize,
    /// A node that is no thread: another hub that places a thread here pushes it onto
    /// the remote list (once until the hub takes it: `token_queued`) so that this hub
    /// adds the marks (`sync_marks`) and wakes if it sleeps.
    spawn_token: *mut Green,
    token_queued: core::sync::atomic::AtomicBool,
    /// Program code runs on this hub's thread (a green thread, or the root outside the
    /// scheduler), not the scheduler: only such a hub's threads are taken (`steal`).
    busy: core::sync::atomic::AtomicBool,
    /// Signal handlers running on this hub's thread, innermost last: the green thread
    /// they interrupted and the stack pointer at entry.
    handler_depth: AtomicUsize,
    handler_frames: core::cell::UnsafeCell<[(usize, usize); MAX_HANDLERS]>,
    /// The root called `pthread_exit` (or is gone after a fork from a green thread): the
    /// process ends when the last green thread does.
    root_exited: bool,
    since_poll: u32,
    /// Monotonic time of the last poll.
    last_poll: u64,
    pub fast_ops: u32,
    /// When the running thread's time slice began (first clock read after it was
    /// resumed; 0 = not read yet, so switching costs no clock read).
    slice_start: u64,
    pub default_stack: usize,
    pub stats: Stats,
    /// Signal-handler count the parked root compares against (hooks::signal).
    root_signals_seen: u64,
    /// Set by sigsuspend/pause to use a count taken before the park itself.
    pub signal_baseline: Option<u64>,
}

static HUB: AtomicPtr<Hub> = AtomicPtr::new(core::ptr::null_mut());
/// The hub's thread pointer, 0 until the hub is ready: the hooks' single-load gate.
static HUB_TP: AtomicUsize = AtomicUsize::new(0);

/// Most hubs a process may run (GREENSHIM_HUBS); registration bits in fd::table are a u64.
pub const MAX_HUBS: usize = 64;
/// Hubs beside hub 0 (`HUB`/`HUB_TP`), by index: thread pointer and hub. A slot is
/// written once, before `NHUBS` counts it, and never changes until a fork's child
/// forgets it.
static HUB_TPS: [AtomicUsize; MAX_HUBS] = [const { AtomicUsize::new(0) }; MAX_HUBS];
static HUBS: [AtomicPtr<Hub>; MAX_HUBS] = [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_HUBS];
/// Hubs running (1 once hub 0 is installed).
static NHUBS: AtomicUsize = AtomicUsize::new(0);
/// Hubs wanted (GREENSHIM_HUBS, resolved); the others start with the first green thread.
static WANT_HUBS: AtomicUsize = AtomicUsize::new(1);
static START_LOCK: crate::sys::SpinLock = crate::sys::SpinLock::new();
/// Green threads alive on every hub.
static TOTAL_LIVE: AtomicUsize = AtomicUsize::new(0);
/// Most green threads alive at once, over every hub.
static PEAK_LIVE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// Hubs sleeping with nothing to run and no timer (see `Hub::idle`).
static IDLE_HUBS: AtomicUsize = AtomicUsize::new(0);
/// Every control block ever made, for debuggers (hub::debug) and the deadlock report;
/// pushed under `ALL_LOCK` by whichever hub makes a block.
struct AllBlocks(core::cell::UnsafeCell<Vec<*mut Green>>);
// SAFETY: mutated only under ALL_LOCK.
unsafe impl Sync for AllBlocks {}
static ALL: AllBlocks = AllBlocks(core::cell::UnsafeCell::new(Vec::new()));
static ALL_LOCK: crate::sys::SpinLock = crate::sys::SpinLock::new();

/// Next green-thread id, shared by every hub so ids stay unique.
static NEXT_ID: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(green::FIRST_ID);

fn next_id() -> u32 {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    if id < green::FIRST_ID {
        // Wrapped: start again above the kernel's tid range.
        let _ = NEXT_ID.compare_exchange(id.wrapping_add(1), green::FIRST_ID + 1, Ordering::Relaxed, Ordering::Relaxed);
        return green::FIRST_ID;
    }
    id
}

/// The stack pool, shared by every hub: a thread's stack is taken on the hub that
/// creates it and returned on the hub it ran on.
struct Stacks(core::cell::UnsafeCell<Option<StackPool>>);
// SAFETY: used only under STACKS_LOCK.
unsafe impl Sync for Stacks {}
static STACKS: Stacks = Stacks(core::cell::UnsafeCell::new(None));
static STACKS_LOCK: crate::sys::SpinLock = crate::sys::SpinLock::new();

fn stacks<R>(f: impl FnOnce(&mut StackPool) -> R) -> R {
    STACKS_LOCK.lock();
    // SAFETY: under the lock; created by install before any spawn.
    let r = f(unsafe { (*STACKS.0.get()).get_or_insert_with(StackPool::new) });
    STACKS_LOCK.unlock();
    r
}

/// Sets how many hubs the process runs (GREENSHIM_HUBS, resolved), before install.
pub fn set_hubs(n: usize) {
    WANT_HUBS.store(n.clamp(1, MAX_HUBS), Ordering::Relaxed);
}

/// Drops `fd`'s registration from the epoll instance of every hub in `mask` (bit =
/// hub index): it is being closed. Any OS thread may remove a registration.
pub fn epoll_forget(fd: i32, mask: u64) {
    for i in 0..MAX_HUBS.min(hub_count()) {
        if mask & (1u64 << i) == 0 {
            continue;
        }
        let h = hub_at(i);
        if h.is_null() {
            continue;
        }
        // SAFETY: registered hubs are never freed; epfd is a plain int (-1 when closed).
        let epfd = unsafe { core::ptr::read_volatile(&raw const (*h).reactor.epfd) };
        if epfd >= 0 {
            let mut ev = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: ev is a valid (ignored) epoll_event.
            let _ = unsafe { sys::sc!(libc::SYS_epoll_ctl, epfd, libc::EPOLL_CTL_DEL, fd, &mut ev as *mut libc::epoll_event) };
        }
    }
}

/// The epoll fds and eventfds of every hub, in `out` (returns how many): the numbers a
/// program's "close every fd" must leave alone, since natively they do not exist.
/// Async-signal-safe: plain loads.
pub fn own_fds(out: &mut [i32; 2 * MAX_HUBS]) -> usize {
    let mut n = 0;
    for i in 0..hub_count().min(MAX_HUBS) {
        let h = hub_at(i);
        if h.is_null() {
            continue;
        }
        // SAFETY: registered hubs are never freed; the two numbers are plain ints.
        let fds = unsafe { [core::ptr::read_volatile(&raw const (*h).reactor.epfd), core::ptr::read_volatile(&raw const (*h).reactor.evfd)] };
        for fd in fds {
            if fd >= 0 {
                out[n] = fd;
                n += 1;
            }
        }
    }
    out[..n].sort_unstable();
    n
}

/// Whether `fd` is one of the epoll fds or eventfds of any hub.
pub fn owned_by_a_hub(fd: i32) -> bool {
    (0..hub_count()).any(|i| {
        let h = hub_at(i);
        // SAFETY: registered hubs are never freed; the two numbers are plain ints.
        !h.is_null() && unsafe { core::ptr::read_volatile(&raw const (*h).reactor.epfd) == fd || core::ptr::read_volatile(&raw const (*h).reactor.evfd) == fd } && fd >= 0
    })
}

/// Counters of every hub added up (peak_live is the process's).
pub fn total_stats() -> Stats {
    let mut t = Stats::default();
    for i in 0..hub_count() {
        let h = hub_at(i);
        if h.is_null() {
            continue;
        }
        // SAFETY: registered hubs are never freed; racy reads of plain counters.
        let s = unsafe { (*h).stats };
        t.created += s.created;
        t.switches += s.switches;
        t.epoll_waits += s.epoll_waits;
        t.remote_wakes += s.remote_wakes;
        t.stolen += s.stolen;
        for (a, b) in t.parks.iter_mut().zip(s.parks.iter()) {
            *a += b;
        }
    }
    t.peak_live = PEAK_LIVE.load(Ordering::Relaxed);
    t
}

/// The program wants `fd`, which is another hub's epoll fd or eventfd (dup2 onto it):
/// give that file another number. The other hub reads the new number on its next
/// wait; one already waiting keeps its reference to the same epoll instance.
pub fn move_off_other(fd: i32) -> Result<(), sys::Errno> {
    for i in 0..hub_count() {
        let h = hub_at(i);
        if h.is_null() {
            continue;
        }
        // SAFETY: registered hubs are never freed; the numbers are plain ints, written
        // here with volatile stores and read by their hub on each use.
        unsafe {
            let ep = &raw mut (*h).reactor.epfd;
            let ev = &raw mut (*h).reactor.evfd;
            for field in [ep, ev] {
                if core::ptr::read_volatile(field) == fd {
                    let moved = sys::fcntl(fd, libc::F_DUPFD_CLOEXEC, (fd + 1) as usize).or_else(|_| sys::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3))? as i32;
                    core::ptr::write_volatile(field, moved);
                    let _ = sys::close(fd);
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Whether the caller runs on the OS thread of a hub beyond the first. No side
/// effects: safe in any signal handler.
#[inline]
pub fn on_extra_hub() -> bool {
    NHUBS.load(Ordering::Relaxed) > 1 && hub_of_tp(sys::thread_pointer()).is_some_and(|h| h != HUB.load(Ordering::Relaxed))
}

/// Hubs running now.
#[inline]
pub fn hub_count() -> usize {
    NHUBS.load(Ordering::Relaxed)
}

/// Hub `i` (0 ≤ i < hub_count()), or null.
#[inline]
pub fn hub_at(i: usize) -> *mut Hub {
    if i == 0 { HUB.load(Ordering::Acquire) } else { HUBS.get(i).map_or(core::ptr::null_mut(), |p| p.load(Ordering::Acquire)) }
}

/// The hub whose OS thread has thread pointer `tp`, if any.
#[inline(always)]
fn hub_of_tp(tp: usize) -> Option<*mut Hub> {
    let t0 = HUB_TP.load(Ordering::Relaxed);
    if t0 != 0 && t0 == tp {
        return Some(HUB.load(Ordering::Relaxed));
    }
    let n = NHUBS.load(Ordering::Acquire);
    if n > 1 {
        return other_hub_of_tp(tp, n);
    }
    None
}

#[inline(never)]
fn other_hub_of_tp(tp: usize, n: usize) -> Option<*mut Hub> {
    (1..n.min(MAX_HUBS)).find(|&i| HUB_TPS[i].load(Ordering::Relaxed) == tp).map(|i| HUBS[i].load(Ordering::Acquire))
}

/// Called by the `vfork` hook just before it jumps to glibc's vfork: until the parent
/// runs again, hooks called on the calling hub's thread pointer may be the child's,
/// which shares the parent's memory and must not touch the hub (`Hub::vfork`). Other
/// hubs' threads go on meanwhile, and may vfork too. Async-signal-safe.
pub extern "C" fn vfork_mark() {
    if let Some(h) = hub_of_tp(sys::thread_pointer()) {
        // SAFETY: registered hubs are never freed.
        unsafe { (*h).vfork.store(true, Ordering::Release) };
    }
}

/// A hub thread's kernel mask from before a vfork made under the program's own mask
/// (hooks::process::vfork: the child inherits the OS thread's mask), put back in the
/// parent by [`vfork_parent`] once the child has exec'd or exited.
struct SavedMask {
    set: core::sync::atomic::AtomicBool,
    mask: core::cell::UnsafeCell<libc::sigset_t>,
}
// SAFETY: each entry is written and read by its own hub's thread only (before the
// vfork, and in the parent after it), ordered by `set`.
unsafe impl Sync for SavedMask {}
static VFORK_MASKS: [SavedMask; MAX_HUBS] =
    // SAFETY: an all-zero sigset_t is the empty set.
    [const { SavedMask { set: core::sync::atomic::AtomicBool::new(false), mask: core::cell::UnsafeCell::new(unsafe { core::mem::zeroed() }) } }; MAX_HUBS];

/// Records the calling hub thread's kernel mask before a vfork (see `SavedMask`).
pub fn vfork_save_mask(saved: &libc::sigset_t) {
    if let Some(h) = hub_of_tp(sys::thread_pointer()) {
        // SAFETY: registered hubs are never freed; the entry is this thread's.
        let e = &VFORK_MASKS[unsafe { (*h).index } % MAX_HUBS];
        // SAFETY: as above.
        unsafe { *e.mask.get() = *saved };
        e.set.store(true, Ordering::Release);
    }
}
/// The hub's process id (for telling a vfork child from its parent).
static HUB_PID: core::sync::atomic::AtomicI32 = core::sync::atomic::AtomicI32::new(0);

/// The hub, if the calling OS thread owns it — and is not running a signal handler:
/// inside a handler every hook passes straight to the kernel, so a handler never parks
/// (it may have interrupted the scheduler itself) and a blocking call in it blocks, as
/// natively.
#[inline(always)]
pub fn local() -> Option<*mut Hub> {
    let h = local_identity()?;
    // SAFETY: h is this thread's hub (never freed).
    if unsafe { (*h).handler_depth.load(Ordering::Relaxed) } != 0 && in_handler(h) {
        return None;
    }
    Some(h)
}

/// Whether the calling code runs in a signal handler that interrupted the hub's thread:
/// it must not take a lock the interrupted code may hold, allocate, or park.
#[inline]
pub fn in_signal_handler() -> bool {
    // SAFETY: h is this thread's hub (never freed).
    local_identity().is_some_and(|h| unsafe { (*h).handler_depth.load(Ordering::Relaxed) } != 0 && in_handler(h))
}

/// Whether the caller runs on the hub's OS thread (or in a vfork child of it, which
/// shares its thread pointer). No side effects: safe in any signal handler.
#[inline(always)]
pub fn on_hub_thread() -> bool {
    hub_of_tp(sys::thread_pointer()).is_some()
}

/// A vfork child may be running on the hub's memory (see `hooks::process::vfork`).
#[inline(always)]
pub fn vfork_pending() -> bool {
    // SAFETY: registered hubs are never freed.
    hub_of_tp(sys::thread_pointer()).is_some_and(|h| unsafe { (*h).vfork.load(Ordering::Relaxed) })
}

/// The hub for identity questions (which green thread is running: `pthread_self`,
/// thread-specific data, `gettid`, signal masks), which a signal handler may ask too.
#[inline(always)]
pub fn local_identity() -> Option<*mut Hub> {
    let h = hub_of_tp(sys::thread_pointer())?;
    // SAFETY: registered hubs are never freed.
    if unsafe { (*h).vfork.load(Ordering::Relaxed) } && !vfork_parent(h) {
        return None;
    }
    Some(h)
}

/// Signal handlers recorded per hub (`Hub::handler_frames`; a handler that nests deeper
/// than this is not recorded and is not shielded).
const MAX_HANDLERS: usize = 16;
/// How far below its entry a handler's stack may reach; a stack pointer farther away
/// is on another stack (the handler left with longjmp).
const HANDLER_REACH: usize = 8 << 20;

fn stack_pointer() -> usize {
    let marker = 0u8;
    core::hint::black_box(&marker) as *const u8 as usize
}

/// The signal trampoline is about to call a handler on this thread (returns whether it
/// was recorded, to pass to [`handler_exit`]).
pub fn handler_enter() -> bool {
    let Some(h) = hub_of_tp(sys::thread_pointer()) else { return false };
    // SAFETY: h is this thread's hub; only this thread touches its handler records, and
    // a nested handler only appends after this slot is written.
    unsafe {
        let d = (*h).handler_depth.load(Ordering::Relaxed);
        if h.is_null() || d >= MAX_HANDLERS {
            return false;
        }
        (*(*h).handler_frames.get())[d] = ((*h).current as usize, stack_pointer());
        (*h).handler_depth.store(d + 1, Ordering::Release);
    }
    true
}

pub fn handler_exit(recorded: bool) {
    if recorded {
        if let Some(h) = hub_of_tp(sys::thread_pointer()) {
            // SAFETY: as in handler_enter.
            unsafe {
                let d = (*h).handler_depth.load(Ordering::Relaxed);
                (*h).handler_depth.store(d.saturating_sub(1), Ordering::Release);
            }
        }
    }
}

/// Whether the innermost recorded handler is still running here. A handler that left
/// with longjmp leaves a record behind: it is dropped once the current green thread or
/// the stack pointer shows it is gone.
#[cold]
fn in_handler(h: *mut Hub) -> bool {
    let sp = stack_pointer();
    // SAFETY: h is the calling thread's hub (checked by the caller); only this thread
    // touches its handler records.
    unsafe {
        loop {
            let d = (*h).handler_depth.load(Ordering::Relaxed);
            if d == 0 {
                return false;
            }
            let (g, entry_sp) = (*(*h).handler_frames.get())[d - 1];
            let current = (*h).current as usize;
            if g == current && sp <= entry_sp && entry_sp - sp < HANDLER_REACH {
                return true;
            }
            (*h).handler_depth.store(d - 1, Ordering::Release);
        }
    }
}

/// After a vfork: true (and the flag cleared) in the parent, false in the child.
#[cold]
fn vfork_parent(h: *mut Hub) -> bool {
    // SAFETY: no arguments.
    let pid = unsafe { sys::sc!(libc::SYS_getpid) }.unwrap_or(0) as i32;
    if pid == HUB_PID.load(Ordering::Relaxed) {
        // SAFETY: registered hubs are never freed.
        unsafe { (*h).vfork.store(false, Ordering::Relaxed) };
        // SAFETY: as above.
        let e = &VFORK_MASKS[unsafe { (*h).index } % MAX_HUBS];
        if e.set.swap(false, Ordering::Acquire) {
            // SAFETY: the mask this thread saved before the vfork; raw call, no lock.
            let _ = unsafe { sys::sc!(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, e.mask.get() as *const libc::sigset_t, 0usize, 8) };
        }
        true
    } else {
        false
    }
}

/// The hub, from any OS thread (for remote wake-ups).
#[inline]
pub fn global() -> *mut Hub {
    HUB.load(Ordering::Acquire)
}

/// Makes a hub for the calling OS thread (not yet registered).
fn new_hub(index: usize, program_root: bool, default_stack: usize, stack_guard: bool) -> *mut Hub {
    let root = Box::into_raw(Box::new(Green::new(sys::gettid() as u32, true)));
    let h = Box::into_raw(Box::new(Hub {
        tp: sys::thread_pointer(),
        tid: sys::gettid(),
        index,
        program_root,
        root,
        current: root,
        ready: VecDeque::with_capacity(256),
        timers: Timers::new(),
        reactor: Reactor::new(),
        remote: AtomicPtr::new(core::ptr::null_mut()),
        free: Vec::new(),
        spawned: core::cell::UnsafeCell::new(VecDeque::new()),
        spawned_lock: sys::SpinLock::new(),
        spawned_len: AtomicUsize::new(0),
        marks: 0,
        spawn_token: Box::into_raw(Box::new(Green::new(0, false))),
        token_queued: core::sync::atomic::AtomicBool::new(false),
        busy: core::sync::atomic::AtomicBool::new(program_root),
        live: AtomicUsize::new(0),
        idle: core::sync::atomic::AtomicBool::new(false),
        vfork: core::sync::atomic::AtomicBool::new(false),
        sleeping: core::sync::atomic::AtomicBool::new(false),
        handler_depth: AtomicUsize::new(0),
        handler_frames: core::cell::UnsafeCell::new([(0, 0); MAX_HANDLERS]),
        root_exited: false,
        since_poll: 0,
        last_poll: sys::now_ns(),
        fast_ops: 0,
        slice_start: 0,
        default_stack,
        stats: Stats::default(),
        root_signals_seen: 0,
        signal_baseline: None,
    }));
    // SAFETY: h and root were just created and are not shared yet.
    unsafe {
        let _ = stack_guard;
        (*root).hub = h as usize;
    }
    h
}

/// Creates the hub for the calling OS thread. Called once from the constructor.
pub fn install(default_stack: usize, stack_guard: bool, per_green_tls: bool) -> Result<(), sys::Errno> {
    if per_green_tls {
        green::tls::install(sys::thread_pointer());
    }
    let h = new_hub(0, true, default_stack, stack_guard);
    stacks(|p| p.guard = stack_guard);
    // SAFETY: no arguments.
    HUB_PID.store(unsafe { sys::sc!(libc::SYS_getpid) }.unwrap_or(0) as i32, Ordering::Relaxed);
    HUB.store(h, Ordering::Release);
    debug::set_hub_tid(sys::gettid());
    NHUBS.store(1, Ordering::Release);
    HUB_TP.store(sys::thread_pointer(), Ordering::Release);
    Ok(())
}

/// Starts the hubs beyond hub 0 that GREENSHIM_HUBS asks for (on the first spawn, so
/// a program that never makes a thread never has them). Returns how many run.
#[cold]
fn start_hubs(h: *mut Hub) -> usize {
    let want = WANT_HUBS.load(Ordering::Relaxed);
    START_LOCK.lock();
    let mut n = NHUBS.load(Ordering::Acquire);
    // SAFETY: h is this thread's hub: its reactor must be open before another hub can
    // wake anything on it.
    unsafe { open_reactor(h) };
    while n < want {
        let ready = AtomicUsize::new(0);
        // SAFETY: the new thread reads `ready`'s address and (index, settings) before
        // signalling it; we wait for that signal below, so the stack slot outlives its use.
        let ok = unsafe {
            let args = Box::into_raw(Box::new((n, (*h).default_stack, false, &ready as *const AtomicUsize as usize)));
            let mut t: libc::pthread_t = 0;
            let r = crate::raw::with_dispatch_off(|| sys::real::pthread_create(&mut t, core::ptr::null(), hub_main, args.cast()));
            if r == 0 {
                libc::pthread_detach(t);
                true
            } else {
                drop(Box::from_raw(args));
                false
            }
        };
        if !ok {
            crate::warn!("cannot start hub {n}: running {n} hubs");
            WANT_HUBS.store(n, Ordering::Relaxed);
            break;
        }
        while ready.load(Ordering::Acquire) == 0 {
            core::hint::spin_loop();
            sys::raw::sched_yield();
        }
        n += 1;
    }
    START_LOCK.unlock();
    NHUBS.load(Ordering::Acquire)
}

/// Body of the OS thread of a hub beyond hub 0: registers its hub and runs its
/// scheduler forever (its root never wakes: it is no program thread).
extern "C" fn hub_main(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: arg is the Box made by start_hubs, read once.
    let (index, stack, guard, ready) = *unsafe { Box::from_raw(arg as *mut (usize, usize, bool, usize)) };
    // Process-directed signals go to hub 0, whose native counterpart is the main thread;
    // signals the kernel directs at the thread that caused them stay deliverable here.
    crate::hooks::signal::block_async_signals(crate::hog::owned_signal());
    crate::green::overflow::install_thread();
    let h = new_hub(index, false, stack, guard);
    // SAFETY: h is this thread's new hub; nothing else knows it yet.
    unsafe {
        let _ = (*h).reactor.open();
        let root = (*h).root;
        (*root).state = State::Parked;
        (*root).reason = green::Reason::Other;
        // A generation no waker holds (its token stays 0).
        (*root).park_gen = 1;
        HUBS[index].store(h, Ordering::Release);
        HUB_TPS[index].store((*h).tp, Ordering::Release);
        NHUBS.store(index + 1, Ordering::Release);
        // SAFETY: the address start_hubs passed; it waits for this store.
        (*(ready as *const AtomicUsize)).store(1, Ordering::Release);
        // The raw-syscall layer and the preemption timer, as hub 0 has them.
        crate::raw::hub_started();
        let sel = crate::raw::swap_selector(crate::raw::ALLOW);
        run_until_root_ready(h);
        crate::raw::restore_selector(sel);
    }
    core::ptr::null_mut()
}

/// Where a new green thread goes: the hub with the fewest threads (its root counted
/// when it is a program thread), the creating hub on a tie.
fn place(h: *mut Hub) -> *mut Hub {
    let mut n = NHUBS.load(Ordering::Acquire);
    if n < WANT_HUBS.load(Ordering::Relaxed) {
        n = start_hubs(h);
    }
    if n <= 1 {
        return h;
    }
    // SAFETY: registered hubs are never freed.
    let load = |x: *mut Hub| unsafe { (*x).live.load(Ordering::Relaxed) + usize::from((*x).program_root && !(*x).root_exited) };
    let mut best = h;
    let mut best_load = load(h);
    for i in 0..n {
        let x = hub_at(i);
        if x.is_null() {
            continue;
        }
        let l = load(x);
        if l < best_load {
            best = x;
            best_load = l;
        }
    }
    best
}

/// The running green thread (or the root).
///
/// # Safety
/// `h` must be the calling OS thread's hub.
#[inline(always)]
pub unsafe fn current(h: *mut Hub) -> *mut Green {
    // SAFETY: per contract h is live and owned by this thread.
    unsafe { (*h).current }
}

/// Starts a green thread; it first runs when the current thread next parks or yields.
///
/// # Safety
/// `h` must be the calling OS thread's hub.
/// `sched` is its scheduling setting and `out` where its `pthread_t` goes: both are
/// written before the thread can run (on another hub it may run at once), as glibc
/// stores the id before the new thread starts.
pub unsafe fn spawn(h: *mut Hub, start: green::StartFn, arg: *mut libc::c_void, stack_size: usize, detached: bool, program_stack: Option<StackMem>, sched: Option<(i32, i32)>, out: *mut libc::pthread_t) -> Option<*mut Green> {
    // SAFETY: h is this thread's hub; no switch happens in this function.
    unsafe {
        let stack = match program_stack {
            Some(s) => s,
            None => stacks(|p| p.get(stack_size))?,
        };
        // Every thread gets a fresh id (its gettid), like kernel tids, which are not
        // reused right away even when the control block is.
        let id = next_id();
        let g = match (*h).free.pop() {
            Some(g) => g,
            None => {
                let g = Box::into_raw(Box::new(Green::new(id, false)));
                ALL_LOCK.lock();
                let all = &mut *ALL.0.get();
                all.push(g);
                debug::publish_threads(all);
                debug::link_block(g);
                ALL_LOCK.unlock();
                g
            }
        };
        // First, so that hubs started below take the watchdog's signal.
        crate::hog::on_spawn();
        let target = if WANT_HUBS.load(Ordering::Relaxed) > 1 { place(h) } else { h };
        (*g).hub = target as usize;
        (*g).id = id;
        (*g).detached = detached;
        (*g).exiting = false;
        (*g).cancel.store(0, Ordering::Relaxed);
        (*g).at_point = 0;
        (*g).cancel_woke = false;
        (*g).unwind_base = 0;
        (*g).exit_value = core::ptr::null_mut();
        (*g).start = Some(start);
        (*g).arg = arg;
        (*g).retval = core::ptr::null_mut();
        (*g).stack_base = stack.base;
        (*g).ctx = [0; green::CTX_WORDS];
        (*g).stack = Some(stack);
        (*g).name = [0; 16];
        (*g).specific.clear();
        // The copy is made from its hub's own control block (tid, stack guard, …): on
        // that hub's thread, at first resume, when it is another hub.
        match (*g).tls.as_ref() {
            Some(a) if target == h => green::tls::reset(a, (*h).tp),
            Some(_) => {}
            None => (*g).tls = green::tls::new_area((*h).tp),
        }
        (*g).tls_pending = target != h && (*g).tls.is_some();
        if (*h).stats.created == 0 {
            green::tls::mark_multithreaded((*h).tp);
        }

        // A new thread inherits its creator's signal mask, as with pthread_create.
        (*g).sigmask = crate::hooks::signal::current_mask(h);
        let gp = g as usize;
        (*g).coro = Some(green::Coro::with_stack(stack, move |y, ()| {
            let g = gp as *mut Green;
            // (Inside the enclosing unsafe block.) g stays valid while its coroutine runs:
            // control blocks are never freed.
            (*g).yielder = y;
            let r = run_start(g);
            finish_current(g, r);
        }));
        (*g).sched = sched;
        if !out.is_null() {
            *out = g as libc::pthread_t;
        }
        (*g).state = State::Ready;
        let live = (*target).live.fetch_add(1, Ordering::Relaxed) + 1;
        // (With preemption, the first one starts the hubs' timers.)
        crate::raw::program_thread_added(&TOTAL_LIVE);
        crate::hog::set_live((*target).index, live);
        if NHUBS.load(Ordering::Relaxed) > 1 {
            // Stealable until it starts (see `steal`); published by the list's lock.
            spawned_push(target, g);
            if target == h {
                (*h).ready.push_back(SPAWN_MARK);
                (*h).marks += 1;
                // A hub asleep in epoll would not look until something woke it: it looks
                // now, and takes the thread if this hub is still busy by then.
                wake_a_sleeper(h);
            } else if !(*target).token_queued.swap(true, Ordering::SeqCst) {
                remote_push(target, (*target).spawn_token);
            }
        } else if target == h {
            (*h).ready.push_back(g);
        } else {
            remote_push(target, g);
        }
        (*h).stats.created += 1;
        let total = TOTAL_LIVE.load(Ordering::Relaxed) as u64;
        PEAK_LIVE.fetch_max(total, Ordering::Relaxed);
        (*h).stats.peak_live = PEAK_LIVE.load(Ordering::Relaxed);
        let _ = live;
        Some(g)
    }
}

/// Calls the start routine from a frame of its own, whose stack pointer is where a
/// forced unwind of the thread stops (see [`cancel`]).
#[inline(never)]
unsafe fn run_start(g: *mut Green) -> *mut libc::c_void {
    // SAFETY: g is the running green thread; reading rsp has no effect.
    unsafe {
        let sp: usize;
        core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
        (*g).unwind_base = sp;
        let start = (*g).start.expect("start routine");
        let r = start((*g).arg);
        core::hint::black_box(r)
    }
}

/// Runs what must happen on the exiting thread's own context: thread-specific-data
/// destructors (which may block or call back into the program), then records the result.
unsafe fn finish_current(g: *mut Green, retval: *mut libc::c_void) {
    // SAFETY: g is the running green thread.
    unsafe {
        // As glibc: thread-local destructors first, then thread-specific data.
        while let Some((dtor, obj)) = (*g).tls_dtors.pop() {
            dtor(obj);
        }
        crate::sync::keys::run_destructors(g);
        (*g).retval = retval;
    }
}

/// `pthread_exit` from a green thread: never returns.
///
/// # Safety
/// `h` must be the calling OS thread's hub and the caller a green thread (not the root).
pub unsafe fn exit_green(h: *mut Hub, retval: *mut libc::c_void) -> ! {
    // SAFETY: current is the running green thread; after suspend the scheduler abandons
    // its stack with force_reset, so nothing on it is ever touched again.
    unsafe {
        let g = (*h).current;
        finish_current(g, retval);
        (*g).exiting = true;
        (*(*g).yielder).suspend(());
    }
    unreachable!("an exited green thread was resumed");
}

/// `pthread_exit` from the root: keep scheduling until every green thread has ended,
/// then end the process with status 0, as glibc does when the last thread exits.
///
/// # Safety
/// `h` must be the calling OS thread's hub and the caller its root.
pub unsafe fn exit_root(h: *mut Hub) -> ! {
    // SAFETY: as documented; the root never appears in the ready queue again.
    unsafe {
        (*h).root_exited = true;
        (*(*h).root).state = State::Exited;
        run_until_root_ready(h);
    }
    unreachable!("the exited root was resumed");
}

/// Marks the current thread about to park and returns its park generation. The caller
/// registers the generation wherever a waker will find it, then calls [`park`].
///
/// # Safety
/// `h` must be the calling OS thread's hub.
#[inline]
pub unsafe fn prepare_park(h: *mut Hub) -> (*mut Green, u64) {
    // SAFETY: h is this thread's hub; current is live.
    unsafe {
        // Any waker (another OS thread included) may act as soon as the token below is
        // published, and wakes through the eventfd: open it first.
        open_reactor(h);
        prepare_park_local(h)
    }
}

/// The token part of [`prepare_park`], for a park only the clock can end.
#[inline]
unsafe fn prepare_park_local(h: *mut Hub) -> (*mut Green, u64) {
    // SAFETY: h is this thread's hub; current is live.
    unsafe {
        let g = (*h).current;
        (*g).wait_obj = 0;
        (*g).park_gen += 1;
        let generation = (*g).park_gen;
        (*g).wake_token.store(generation, Ordering::Release);
        (g, generation)
    }
}

/// Opens the hub's epoll instance and eventfd on first need (see hub::reactor).
#[inline]
unsafe fn open_reactor(h: *mut Hub) {
    // SAFETY: hub thread.
    unsafe {
        // At the fd limit the hub runs degraded (see reactor::Reactor::wait) instead of
        // ending the program: the call that parks does not need an fd natively.
        if !(*h).reactor.is_open() && !(*h).reactor.degraded {
            let _ = (*h).reactor.open();
        }
    }
}

/// Withdraws a prepared park that will not happen (validation failed).
///
/// # Safety
/// `g` must be the calling green thread.
#[inline]
pub unsafe fn cancel_park(g: *mut Green) {
    // SAFETY: g is live.
    unsafe { (*g).wake_token.store(0, Ordering::Release) };
}

/// Parks the current thread until a waker holding `generation` wakes it or `deadline`
/// (monotonic ns) passes. Returns why it woke.
///
/// # Safety
/// `h` must be the calling OS thread's hub and (g, generation) come from [`prepare_park`].
pub unsafe fn park(h: *mut Hub, g: *mut Green, generation: u64, deadline: Option<u64>, reason: Reason) -> Wake {
    // SAFETY: h and g are live; the switch below is the only place other code runs.
    unsafe {
        if cancel::skip_park(g, reason) {
            cancel_park(g);
            return Wake::Interrupted;
        }
        if let Some(d) = deadline {
            (*h).timers.add(d, g, generation);
        }
        if !((*g).is_root && reason == Reason::Sleep) {
            open_reactor(h);
        }
        if (*g).is_root {
            crate::hooks::signal::clear_pending();
            (*h).root_signals_seen = (*h).signal_baseline.take().unwrap_or_else(crate::hooks::signal::main_count);
        }
        (*g).state = State::Parked;
        (*g).reason = reason;
        (*g).parked_at = (*h).last_poll;
        (*g).deadline = deadline.unwrap_or(0);
        (*h).stats.parks[reason as usize] += 1;
        (*h).fast_ops = 0;
        (*h).slice_start = 0;
        switch_out(h, g);
        let why = (*g).wake.get();
        if deadline.is_some() && why != Wake::Timeout {
            (*h).timers.cancelled();
        }
        cancel::after_park(g, why);
        why
    }
}

/// Parks with no waker but the clock.
///
/// # Safety
/// `h` must be the calling OS thread's hub.
pub unsafe fn sleep_until(h: *mut Hub, deadline: u64) -> Wake {
    // SAFETY: forwarded contract.
    unsafe {
        let (g, generation) = prepare_park_local(h);
        park(h, g, generation, Some(deadline), Reason::Sleep)
    }
}

/// `sched_yield` / `gevent.sleep(0)`: go to the back of the ready queue, so every other
/// ready thread runs once first. With nothing else ready, poll epoll and timers first:
/// a thread spinning on `sched_yield` must still let parked threads whose fd, timer or
/// signal came wake up.
///
/// # Safety
/// `h` must be the calling OS thread's hub.
pub unsafe fn yield_now(h: *mut Hub) {
    // SAFETY: h and current are live.
    unsafe {
        let g = (*h).current;
        (*h).fast_ops = 0;
        (*h).slice_start = 0;
        if (*h).ready.is_empty() {
            if live(h) == 0 {
                return;
            }
            poll(h, Some(0));
            if (*h).ready.is_empty() {
                if NHUBS.load(Ordering::Relaxed) > 1 {
                    // Nothing else here, but another hub's thread may be what this one
                    // waits for: give the CPU up as a native sched_yield does.
                    sys::raw::sched_yield();
                }
                return;
            }
        }
        (*g).state = State::Ready;
        (*h).stats.parks[Reason::Yield as usize] += 1;
        (*h).ready.push_back(g);
        switch_out(h, g);
    }
}

/// A preemption (crate::raw): due timers and fd events first — a thread whose timed
/// wait ran out while this one computed must get its turn now — then the back of the
/// ready queue.
///
/// # Safety
/// `h` must be the calling OS thread's hub, called as the running green thread.
pub unsafe fn preempt_now(h: *mut Hub) {
    // SAFETY: as documented.
    unsafe {
        poll(h, Some(0));
        yield_now(h);
    }
}

/// Threads of the program this hub runs, as the kernel would count them natively: the
/// green threads alive, plus the root unless it is gone (the child of a fork made by a
/// green thread).
///
/// # Safety
/// `h` must be the calling OS thread's hub.
pub unsafe fn program_threads(h: *mut Hub) -> usize {
    let _ = h;
    let h0 = HUB.load(Ordering::Acquire);
    // SAFETY: hub 0 is live once installed.
    TOTAL_LIVE.load(Ordering::Relaxed) + usize::from(!h0.is_null() && unsafe { !(*h0).root_exited })
}

/// Whether the caller is the process's only program thread (the root of hub `h`, no
/// green thread alive on any hub): then a call that blocks this OS thread stalls
/// nobody, and nobody can place a thread on this hub meanwhile. (With several hubs,
/// "nothing else on this hub" is not enough: another hub may place a new thread here,
/// and it would wait for the blocking call — the very thread that ends it, perhaps.)
///
/// # Safety
/// `h` must be the calling OS thread's hub.
#[inline]
pub unsafe fn only_program_thread(h: *mut Hub) -> bool {
    // SAFETY: per contract.
    unsafe { (*h).current == (*h).root && TOTAL_LIVE.load(Ordering::Acquire) == 0 }
}

/// Green threads alive on every hub.
#[inline]
pub fn total_live() -> usize {
    TOTAL_LIVE.load(Ordering::Acquire)
}

/// Green threads alive on hub `h`.
///
/// # Safety
/// `h` must be a registered hub.
#[inline]
pub unsafe fn live(h: *mut Hub) -> usize {
    // SAFETY: per contract.
    unsafe { (*h).live.load(Ordering::Relaxed) }
}

/// Counts one hooked call that did not park (an I/O call that found its fd ready, a
/// `poll` with results, `wait4(WNOHANG)`, a `trylock`). A thread that makes
/// [`FAST_OP_BUDGET`] of them in a row, or keeps making them for longer than its time
/// slice (GREENSHIM_SLICE), goes to the back of the ready queue after due timers and fd
/// events were collected, so it cannot starve the others or the poller.
///
/// # Safety
/// `h` must be the calling OS thread's hub.
pub unsafe fn tick_fast_op(h: *mut Hub) {
    // SAFETY: h is live.
    unsafe {
        (*h).fast_ops += 1;
        if (*h).fast_ops % SLICE_CHECK_EVERY != 0 && (*h).fast_ops < FAST_OP_BUDGET {
            return;
        }
        let mut due = (*h).fast_ops >= FAST_OP_BUDGET;
        let slice = SLICE_NS.load(Ordering::Relaxed);
        if !due && slice != 0 {
            let now = sys::now_ns();
            if (*h).slice_start == 0 {
                (*h).slice_start = now;
            } else {
                due = now.saturating_sub((*h).slice_start) >= slice;
            }
        }
        if due {
            (*h).fast_ops = 0;
            (*h).slice_start = 0;
            if !(*h).ready.is_empty() || live(h) > 0 {
                // Fire due timers and collect fd events first, so that parked threads
                // whose turn has come are queued ahead of this one.
                poll(h, Some(0));
                yield_now(h);
            }
        }
    }
}

/// [`tick_fast_op`] for a hook about to make a call that will not park, when the
/// calling thread has the hub.
#[inline]
pub fn tick_local() {
    if let Some(h) = local() {
        // SAFETY: h is this thread's hub.
        unsafe { tick_fast_op(h) };
    }
}

#[inline]
unsafe fn switch_out(h: *mut Hub, g: *mut Green) {
    // SAFETY: g is the current thread of hub h.
    unsafe {
        if (*g).is_root {
            // The scheduler runs with the raw-syscall selector at ALLOW (crate::raw).
            let sel = crate::raw::swap_selector(crate::raw::ALLOW);
            run_until_root_ready(h);
            crate::raw::restore_selector(sel);
        } else {
            debug::record_context(&mut (*g).ctx);
            (*(*g).yielder).suspend(());
        }
    }
}

/// Wakes `g` if it is still parked under `generation`; returns whether this call was the waker.
/// Callable from any OS thread, and from a signal handler: off the hub's own context
/// (another thread, or a handler that may have interrupted the hub in the middle of its
/// ready queue) it takes no lock and allocates nothing — an atomic push onto the remote
/// list and an eventfd write; the hub finishes the wake when it next looks.
///
/// # Safety
/// `g` must be a green control block (they are never freed).
#[inline]
pub unsafe fn try_wake(g: *mut Green, generation: u64, why: Wake) -> bool {
    // SAFETY: g is a live control block; winning the CAS makes this the only writer of
    // `wake` (and `remote_next`) until the thread runs again.
    unsafe {
        if (*g).wake_token.compare_exchange(generation, 0, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return false;
        }
        (*g).wake.set(why);
        let home = (*g).hub as *mut Hub;
        match local() {
            Some(h) if h == home => {
                (*g).state = State::Ready;
                (*h).ready.push_back(g);
            }
            _ => remote_push(home, g),
        }
        true
    }
}

/// Queues `g` on hub `h` from anywhere (another hub, an OS thread, a signal handler).
/// Async-signal-safe: a CAS loop and one `write`.
unsafe fn remote_push(h: *mut Hub, g: *mut Green) {
    // SAFETY: g won its wake token, so no other waker links it; the hub takes the list
    // whole (never one node), so a node cannot be popped and pushed back under us (no ABA).
    unsafe {
        let mut head = (*h).remote.load(Ordering::Relaxed);
        loop {
            (*g).remote_next.store(head, Ordering::Relaxed);
            match (*h).remote.compare_exchange_weak(head, g, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(x) => head = x,
            }
        }
        // It has something to do now: not idle for the deadlock check.
        if (*h).idle.load(Ordering::Relaxed) && (*h).idle.swap(false, Ordering::AcqRel) {
            IDLE_HUBS.fetch_sub(1, Ordering::AcqRel);
        }
        // A hub that is not asleep in epoll looks at its list before it sleeps (it
        // raises `sleeping` first, then looks: with both sides SeqCst one of the two
        // sees the other), so only a sleeping hub needs the eventfd's write.
        core::sync::atomic::fence(Ordering::SeqCst);
        if (*h).sleeping.load(Ordering::SeqCst) {
            notify(h);
        }
    }
}

/// Makes the hub look at its remote list and deferred wakes soon: ends its epoll wait.
/// Async-signal-safe. Whoever parked a thread that can be woken this way opened the
/// reactor (see `park`); with no reactor, nobody sleeps in epoll.
///
/// # Safety
/// `h` must be the installed hub.
pub unsafe fn notify(h: *mut Hub) {
    // SAFETY: h is the installed hub; evfd is a plain int, -1 until opened.
    let evfd = unsafe { core::ptr::read_volatile(&raw const (*h).reactor.evfd) };
    if evfd >= 0 {
        sys::eventfd_signal(evfd);
    }
}

unsafe fn drain_remote(h: *mut Hub) {
    // SAFETY: hub thread, not in a handler; the list is taken whole, then walked in
    // push order (oldest first) so remote wakes keep their FIFO order.
    unsafe {
        let mut n = (*h).remote.swap(core::ptr::null_mut(), Ordering::Acquire);
        let mut fifo: *mut Green = core::ptr::null_mut();
        while !n.is_null() {
            let next = (*n).remote_next.load(Ordering::Relaxed);
            (*n).remote_next.store(fifo, Ordering::Relaxed);
            fifo = n;
            n = next;
        }
        while !fifo.is_null() {
            let next = (*fifo).remote_next.load(Ordering::Relaxed);
            (*fifo).remote_next.store(core::ptr::null_mut(), Ordering::Relaxed);
            if fifo == (*h).spawn_token {
                // Threads placed here by other hubs: marks for them, in this position.
                (*h).token_queued.store(false, Ordering::SeqCst);
                sync_marks(h);
                fifo = next;
                continue;
            }
            (*h).stats.remote_wakes += 1;
            (*fifo).state = State::Ready;
            (*h).ready.push_back(fifo);
            fifo = next;
        }
    }
}

/// The scheduler: runs on the root's stack until the root is popped from the ready queue.
unsafe fn run_until_root_ready(h: *mut Hub) {
    // SAFETY: only the root runs this; each resumed coroutine suspends back here.
    unsafe {
        (*h).busy.store(false, Ordering::Relaxed);
        loop {
            let mut next = (*h).ready.pop_front();
            if next == Some(SPAWN_MARK) {
                next = take_marked(h);
                if next.is_none() {
                    continue;
                }
            }
            match next {
                Some(g) if g == (*h).root => {
                    (*g).state = State::Running;
                    (*h).current = g;
                    (*h).slice_start = 0;
                    crate::hog::progress((*h).index);
                    (*h).busy.store(true, Ordering::Relaxed);
                    return;
                }
                Some(g) => {
                    resume(h, g);
                    finish_async_wakes(h);
                    deliver_signals(h);
                    (*h).since_poll += 1;
                    // Poll after POLL_BUDGET resumes, or sooner when threads run long
                    // between parks (a fork, a computation): checked every 8 resumes so
                    // the clock read stays off the common path.
                    if (*h).since_poll >= POLL_BUDGET
                        || ((*h).since_poll % 8 == 0 && sys::now_ns().saturating_sub((*h).last_poll) > POLL_INTERVAL_NS)
                    {
                        poll(h, Some(0));
                    }
                }
                None => {
                    if (*h).root_exited && TOTAL_LIVE.load(Ordering::Acquire) == 0 {
                        libc::exit(0);
                    }
                    poll(h, None);
                }
            }
        }
    }
}

unsafe fn resume(h: *mut Hub, g: *mut Green) {
    // SAFETY: g is a ready green thread with a live coroutine; hub thread only.
    unsafe {
        (*h).current = g;
        (*g).state = State::Running;
        (*h).slice_start = 0;
        (*h).stats.switches += 1;
        crate::hog::progress((*h).index);
        if let Some(a) = (*g).tls.as_ref() {
            if (*g).tls_pending {
                // Placed here by another hub: its copy comes from this hub's thread.
                (*g).tls_pending = false;
                green::tls::reset(a, (*h).tp);
            }
            green::tls::catch_up(a);
            green::tls::set_fs(a.tp);
        }
        let sel = crate::raw::swap_selector((*g).raw_sel);
        (*h).busy.store(true, Ordering::Relaxed);
        let r = (*g).coro.as_mut().expect("coroutine").resume(());
        (*h).busy.store(false, Ordering::Relaxed);
        (*g).raw_sel = crate::raw::swap_selector(sel);
        if (*g).tls.is_some() {
            green::tls::set_fs((*h).tp);
        }
        (*h).current = (*h).root;
        match r {
            CoroutineResult::Return(()) => retire(h, g),
            CoroutineResult::Yield(()) => {
                if (*g).exiting {
                    // pthread_exit: abandon the stack without unwinding (C frames on it
                    // cannot be unwound); it is recycled whole.
                    (*g).coro.as_mut().expect("coroutine").force_reset();
                    retire(h, g);
                }
            }
        }
    }
}

/// A green thread has finished: recycle its stack, wake joiners, and free the control
/// block if nobody will join it.
unsafe fn retire(h: *mut Hub, g: *mut Green) {
    // SAFETY: g's coroutine is complete (returned or force-reset), so its stack is free.
    unsafe {
        if let Some(c) = (*g).coro.take() {
            let s = c.into_stack();
            stacks(|p| p.put(s));
        }
        (*g).stack = None;
        (*g).state = State::Exited;
        let live = (*h).live.fetch_sub(1, Ordering::Relaxed) - 1;
        // (With preemption, the last one stops the hubs' timers.)
        let total = crate::raw::program_thread_removed(&TOTAL_LIVE);
        crate::hog::set_live((*h).index, live);
        if (*g).detached {
            release(h, g);
        } else {
            crate::sync::parking_lot::unpark_all(g as usize);
        }
        if total == 0 && !(*h).program_root {
            // The last green thread ended here: if the main thread is gone, the
            // process ends now, as glibc ends it when its last thread exits.
            let h0 = HUB.load(Ordering::Acquire);
            if !h0.is_null() && (*h0).root_exited {
                libc::exit(0);
            }
        }
    }
}

/// Returns an exited control block to the pool (after join, or at exit if detached).
///
/// # Safety
/// `g` must have exited and no longer be referenced by the hub.
pub unsafe fn release(h: *mut Hub, g: *mut Green) {
    // SAFETY: g is exited; h is this thread's hub.
    unsafe {
        (*g).state = State::Free;
        for (_, v) in (*g).specific.iter_mut() {
            *v = core::ptr::null_mut();
        }
        (*h).free.push(g);
    }
}

/// One pass of the reactor: fire due timers, wait for events (not at all if something is
/// ready, else until the nearest timer or `max_ns`), dispatch them.
unsafe fn poll(h: *mut Hub, max_ns: Option<u64>) {
    // SAFETY: hub thread only; events are copied out before dispatch.
    unsafe {
        (*h).since_poll = 0;
        crate::hog::progress((*h).index);
        let now = sys::now_ns();
        (*h).last_poll = now;
        fire_timers(h, now);
        // A handler that ran before the root parked (a masked wait's mask swap
        // delivers pending signals at once) must not wait for the next event.
        finish_async_wakes(h);
        deliver_signals(h);
        let mut timeout = if (*h).ready.is_empty() { max_ns } else { Some(0) };
        if let Some(d) = (*h).timers.next_deadline() {
            let t = d.saturating_sub(now);
            timeout = Some(timeout.map_or(t, |x| x.min(t)));
        }
        if timeout.is_none() && NHUBS.load(Ordering::Relaxed) <= 1 {
            if live(h) > 0 {
                crate::stats::maybe_report_deadlock(h);
            }
        } else if timeout.is_none() && !(*h).idle.swap(true, Ordering::AcqRel) {
            // Several hubs: the program is stuck only when every hub sleeps with
            // nothing to run and no timer (a wake queued for a hub clears its flag).
            if IDLE_HUBS.fetch_add(1, Ordering::AcqRel) + 1 == NHUBS.load(Ordering::Acquire) && TOTAL_LIVE.load(Ordering::Relaxed) > 0 && (*h).remote.load(Ordering::Acquire).is_null() {
                crate::stats::maybe_report_deadlock(h);
            }
        }
        (*h).stats.epoll_waits += 1;
        let mut idle = timeout != Some(0);
        // Taking another hub's threads is for a hub with nothing to do soon: a thread
        // taken may compute for long, and this hub's own timers would wait for it.
        let may_steal = timeout.is_none_or(|t| t >= STEAL_MIN_IDLE_NS);
        if idle && NHUBS.load(Ordering::Relaxed) > 1 && spin_for_remote(h, may_steal) {
            // Another hub's wake came while spinning: no sleep (and no eventfd).
            timeout = Some(0);
            idle = false;
        }
        if idle {
            crate::hog::idle((*h).index, true);
            (*h).sleeping.store(true, Ordering::SeqCst);
            core::sync::atomic::fence(Ordering::SeqCst);
            if !(*h).remote.load(Ordering::SeqCst).is_null() {
                timeout = Some(0);
            }
        }
        let n = (*h).reactor.wait(timeout);
        if idle {
            (*h).sleeping.store(false, Ordering::Relaxed);
            crate::hog::idle((*h).index, false);
        }
        if (*h).idle.load(Ordering::Relaxed) && (*h).idle.swap(false, Ordering::AcqRel) {
            IDLE_HUBS.fetch_sub(1, Ordering::AcqRel);
        }
        if (*h).reactor.broken.is_some() {
            rebuild_reactor(h);
            return;
        }
        for i in 0..n {
            let ev = (*h).reactor.events[i];
            let (data, events) = (ev.u64, ev.events);
            if data == reactor::WAKER_TOKEN {
                (*h).reactor.drain_waker();
                drain_remote(h);
            } else {
                crate::fd::table::dispatch_event(data, events);
            }
        }
        let now = sys::now_ns();
        // Kept current for the parks that follow (their `parked_at`).
        (*h).last_poll = now;
        fire_timers(h, now);
        finish_async_wakes(h);
        deliver_signals(h);
    }
}

/// How long an idle hub watches its remote list before it sleeps in epoll, when other
/// hubs run: a wake from another hub then costs no eventfd write and no sleep and
/// wake-up of this OS thread (the hand-offs of a condvar or a join between hubs).
const SPIN_NS: u64 = 30_000;

/// How long another hub must have run one thing (no switch, no poll: its watchdog
/// sequence did not move) before an idle hub takes its threads that have not started.
const STEAL_AFTER_NS: u64 = 10_000;
/// An idle hub whose next timer is nearer than this takes no other hub's threads.
const STEAL_MIN_IDLE_NS: u64 = 1_000_000;

/// Spins up to SPIN_NS for a remote wake; true if one came, or if this hub took
/// threads that had not started from a hub that stayed busy meanwhile (`steal`).
#[cold]
unsafe fn spin_for_remote(h: *mut Hub, may_steal: bool) -> bool {
    let start = sys::now_ns();
    let n = hub_count().min(MAX_HUBS);
    let mut seq = [0u64; MAX_HUBS];
    for (i, s) in seq.iter_mut().enumerate().take(n) {
        *s = crate::hog::seq(i);
    }
    let mut looked = !may_steal;
    loop {
        for _ in 0..16 {
            // SAFETY: h is this thread's hub.
            if unsafe { !(*h).remote.load(Ordering::Acquire).is_null() } {
                return true;
            }
            core::hint::spin_loop();
        }
        // Let the kernel run whatever else is runnable here (on a busy machine the
        // other hub's thread itself, which is what this one waits for).
        sys::raw::sched_yield();
        let spun = sys::now_ns().saturating_sub(start);
        // SAFETY: h is this thread's hub, in its scheduler (not in a handler).
        if !looked && spun >= STEAL_AFTER_NS && unsafe { steal(h, &seq[..n]) } {
            return true;
        }
        looked |= spun >= STEAL_AFTER_NS;
        if spun >= SPIN_NS {
            return false;
        }
    }
}

/// Finishes the wakes that signal handlers and other OS threads started: the remote
/// list (also without waiting for the eventfd's event) and the deferred parking-lot
/// wakes (sync::deferred).
#[inline]
unsafe fn finish_async_wakes(h: *mut Hub) {
    // SAFETY: hub thread, in the hub's own context.
    unsafe {
        if !(*h).remote.load(Ordering::Relaxed).is_null() {
            drain_remote(h);
        }
    }
    crate::sync::deferred::run();
}

/// `n` handler runs were for a signal sent to another thread (pthread_kill): they must
/// not interrupt the parked root.
///
/// # Safety
/// `h` must be the calling OS thread's hub.
pub unsafe fn signals_seen_elsewhere(h: *mut Hub, n: u64) {
    // SAFETY: hub thread.
    unsafe {
        if (*(*h).root).state == State::Parked {
            (*h).root_signals_seen += n;
        }
    }
}

/// If a signal handler ran while the root was parked in an interruptible call, wake the
/// root with `Interrupted` (see hooks::signal).
unsafe fn deliver_signals(h: *mut Hub) {
    // Futex wakes a signal handler could not do itself (sync::futex).
    crate::sync::futex::run_deferred();
    // SAFETY: hub thread; the root's fields are only written on this thread.
    unsafe {
        let root = (*h).root;
        if !(*h).program_root || (*root).state != State::Parked || crate::hooks::signal::main_count() == (*h).root_signals_seen {
            return;
        }
        let all_restart = crate::hooks::signal::take_pending().unwrap_or(true);
        let interrupt = match (*root).reason.on_signal() {
            green::OnSignal::Interrupt => true,
            green::OnSignal::InterruptUnlessRestart => !all_restart,
            green::OnSignal::Ignore => false,
        };
        if interrupt {
            try_wake(root, (*root).park_gen, Wake::Interrupted);
        }
    }
}

/// The program closed the hub's epoll instance or eventfd (close_range, closefrom):
/// make new ones and re-register every fd a thread is parked on.
unsafe fn rebuild_reactor(h: *mut Hub) {
    crate::warn!("the hub's epoll fd was closed by the program; rebuilding it");
    // SAFETY: hub thread; the old fds are already gone (or unusable).
    unsafe {
        // The numbers may already name the program's new fds: forget, do not close.
        (*h).reactor.forget();
        // At the fd limit the open fails and the hub runs degraded (see `open_reactor`):
        // the threads parked on fds are woken to retry their calls.
        let _ = (*h).reactor.open();
        crate::fd::table::reregister_all(h);
    }
}

unsafe fn fire_timers(h: *mut Hub, now: u64) {
    // SAFETY: hub thread only.
    unsafe {
        while let Some((g, generation)) = (*h).timers.pop_expired(now) {
            try_wake(g, generation, Wake::Timeout);
        }
    }
}

/// Every green control block ever created.
///
/// # Safety
/// `h` must be the calling OS thread's hub.
pub unsafe fn all_threads(h: *mut Hub) -> Vec<*mut Green> {
    let _ = h;
    ALL_LOCK.lock();
    // SAFETY: under the lock.
    let v = unsafe { (*ALL.0.get()).clone() };
    ALL_LOCK.unlock();
    v
}

/// Stack mapping high-water mark in bytes.
///
/// # Safety
/// `h` must be the calling OS thread's hub.
pub unsafe fn peak_stack_bytes(h: *mut Hub) -> usize {
    let _ = h;
    // SAFETY: registered hubs are never freed; a racy read of a counter at exit.
    stacks(|p| p.peak_mapped)
}

/// Rebuilds the hub in a child after `fork`: only the forking thread survives (as in
/// POSIX), with a fresh epoll instance and eventfd; queued and parked threads, timers
/// and remote wakes belong to the parent and are dropped.
///
/// # Safety
/// Must be called in the child, on the thread that forked, before anything else runs.
pub unsafe fn after_fork_child() {
    let Some(h) = hub_of_tp(sys::thread_pointer()) else { return };
    // The child keeps one hub, the forking thread's, as hub 0; the others' OS threads
    // do not exist here (more start again with the child's next thread).
    for i in 1..MAX_HUBS {
        HUBS[i].store(core::ptr::null_mut(), Ordering::Relaxed);
        HUB_TPS[i].store(0, Ordering::Relaxed);
    }
    // SAFETY: only this thread exists in the child; locks another hub held are void.
    unsafe {
        ALL_LOCK.force_unlock();
        START_LOCK.force_unlock();
        STACKS_LOCK.force_unlock();
        (*h).index = 0;
        (*h).idle.store(false, Ordering::Relaxed);
        (*h).handler_depth.store(0, Ordering::Relaxed);
    }
    HUB.store(h, Ordering::Release);
    NHUBS.store(1, Ordering::Release);
    IDLE_HUBS.store(0, Ordering::Relaxed);
    // SAFETY: in the child only this thread exists, so nothing else touches the hub.
    unsafe {
        let forker = (*h).current;
        // The parent's epoll and eventfd are shared with it: drop them; new ones open
        // on first need.
        (*h).reactor.close();
        (*h).ready.clear();
        (*h).marks = 0;
        // Threads placed here that had not started belong to the parent, as the queued
        // ones; another hub's thread may have held the list's lock.
        (*h).spawned_lock.force_unlock();
        (*(*h).spawned.get()).clear();
        (*h).spawned_len.store(0, Ordering::Relaxed);
        (*h).token_queued.store(false, Ordering::Relaxed);
        (*h).busy.store(true, Ordering::Relaxed);
        (*h).timers.clear();
        (*h).remote.store(core::ptr::null_mut(), Ordering::Relaxed);
        (*h).tp = sys::thread_pointer();
        if forker != (*h).root {
            // The root (main) does not exist in this child: the process ends when the
            // forking green thread does, like a native child whose only thread exits.
            (*h).root_exited = true;
            (*(*h).root).state = State::Exited;
            (*h).live.store(1, Ordering::Relaxed);
        } else {
            (*(*h).root).id = sys::gettid() as u32;
            (*h).live.store(0, Ordering::Relaxed);
        }
        (*h).program_root = true;
        TOTAL_LIVE.store((*h).live.load(Ordering::Relaxed), Ordering::Relaxed);
        HUB_PID.store(sys::sc!(libc::SYS_getpid).unwrap_or(0) as i32, Ordering::Relaxed);
        debug::set_hub_tid(sys::gettid());
        crate::hog::set_live(0, (*h).live.load(Ordering::Relaxed));
        crate::hog::after_fork_child();
        (*h).vfork.store(false, Ordering::Relaxed);
        crate::fd::table::after_fork_child();
        crate::sync::parking_lot::after_fork_child();
        crate::sync::deferred::after_fork_child();
        crate::offload::after_fork_child();
        crate::hooks::signal::after_fork_child();
        crate::sync::once::after_fork_child();
        if forker != (*h).root {
            // The child's only thread is the forking one: the kernel mask becomes its
            // (virtual) mask, as a native child inherits the forking thread's.
            crate::hooks::signal::apply_kernel_mask(&(*forker).sigmask);
        }
        HUB_TP.store((*h).tp, Ordering::Release);
    }
}
