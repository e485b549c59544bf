//! Green threads: what `pthread_create` returns under the shim.
//!
//! A [`Green`] is a control block that doubles as the thread's `pthread_t`. Control blocks
//! are pooled and never freed, so reading the first word of any handle the shim ever
//! issued is always safe; that word ([`MAGIC`]) tells a green handle from a glibc one,
//! whose first word is the TCB's pointer to itself (a canonical address, never MAGIC).
//!
//! | state     | meaning                                   | next                         |
//! |-----------|-------------------------------------------|------------------------------|
//! | `Ready`   | in the hub's ready queue                  | `Running` (resumed)          |
//! | `Running` | the hub's `current`                       | `Parked`, `Ready` (yield), `Exited` |
//! | `Parked`  | waits; one waker wins `wake_token`         | `Ready`                      |
//! | `Exited`  | finished, retval kept until joined         | `Free` (joined or detached)  |
//! | `Free`    | in the control-block pool                 | `Ready` (reused)             |

pub mod cancel;
pub mod stack;
pub mod tls;

use core::cell::Cell;
use core::ffi::c_void;
use core::sync::atomic::AtomicU64;
use corosensei::{Coroutine, Yielder};
use stack::StackMem;

/// "greenshi": not a canonical x86-64 address, so never a glibc TCB self-pointer.
pub const MAGIC: u64 = 0x6772_6565_6e73_6869;

/// Green-thread ids start here; kernel tids stay below 2^22 (pid_max), so an id in a
/// mutex's owner word can never be mistaken for an OS thread's.
pub const FIRST_ID: u32 = 1 << 30;
/// Words in [`Green::ctx`]: pc, sp, rbp and the other callee-saved registers (rbx,
/// r12–r15).
pub const CTX_WORDS: usize = 8;

pub type StartFn = extern "C" fn(*mut c_void) -> *mut c_void;
pub type Coro = Coroutine<(), (), (), StackMem>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum State {
    Ready,
    Running,
    Parked,
    Exited,
    Free,
}

/// Why a parked thread was made runnable again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Wake {
    /// An unpark on the key it waited on (mutex, condvar, join, …).
    Notified,
    /// The fd it waited on reported readiness.
    FdReady,
    /// Its deadline passed.
    Timeout,
    /// The fd it waited on was closed by another thread.
    Closed,
    /// A signal handler ran.
    Interrupted,
}

/// What a parked thread waits for, for statistics and the deadlock report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Reason {
    Read = 0,
    Write,
    Accept,
    Connect,
    Poll,
    Sleep,
    Mutex,
    Condvar,
    Semaphore,
    RwLock,
    Barrier,
    Once,
    Join,
    Yield,
    /// Waiting for a call served by the offload pool.
    Offload,
    /// pause, sigsuspend, sigwait.
    Signal,
    /// `syscall(SYS_futex)` wait without a timeout (restarted under SA_RESTART).
    Futex,
    /// A futex wait with a timeout (EINTR whatever the flags, as the kernel does).
    FutexTimed,
    /// A wait the kernel never restarts after a handler, even under SA_RESTART: socket
    /// I/O with SO_RCVTIMEO/SO_SNDTIMEO (signal(7)), `sem_timedwait` (a futex wait with
    /// a timeout).
    TimedWait,
    Other,
}

impl Reason {
    /// How a signal handler affects a call parked for this reason.
    pub fn on_signal(self) -> OnSignal {
        match self {
            // sem_wait is a futex wait, which Linux restarts under SA_RESTART (despite
            // signal(7)'s list; observed natively).
            Reason::Read | Reason::Write | Reason::Accept | Reason::Futex | Reason::Semaphore | Reason::Other => OnSignal::InterruptUnlessRestart,
            Reason::Connect | Reason::Poll | Reason::Sleep | Reason::Signal | Reason::FutexTimed | Reason::TimedWait => OnSignal::Interrupt,
            _ => OnSignal::Ignore,
        }
    }
}

/// POSIX's rules for a blocked call when a handler runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OnSignal {
    /// read, write, accept, wait…: EINTR, or restarted under SA_RESTART.
    InterruptUnlessRestart,
    /// sleep, poll, select, connect: EINTR whatever the flags.
    Interrupt,
    /// pthread mutex, condvar, join…: never EINTR.
    Ignore,
}

pub const REASONS: usize = Reason::Other as usize + 1;
pub const REASON_NAMES: [&str; REASONS] = [
    "read", "write", "accept", "connect", "poll", "sleep", "mutex", "condvar", "semaphore", "rwlock", "barrier", "once",
    "join", "yield", "offload", "signal", "futex", "futex-timed", "timed-wait", "other",
];

/// A green thread's control block; its address is the `pthread_t`.
#[repr(C)]
pub struct Green {
    /// Always [`MAGIC`]: must stay the first field (see module docs).
    pub magic: u64,
    /// Owner id written into lock words (≥ [`FIRST_ID`]; the root uses its kernel tid).
    pub id: u32,
    pub state: State,
    /// The OS thread's original context: no coroutine, resumes by returning from the
    /// scheduler loop.
    pub is_root: bool,
    pub detached: bool,
    /// `pthread_exit` was called: the scheduler abandons the coroutine without unwinding.
    pub exiting: bool,
    pub coro: Option<Coro>,
    pub stack: Option<StackMem>,
    /// Valid while the coroutine runs; set on first entry.
    pub yielder: *const Yielder<(), ()>,
    pub start: Option<StartFn>,
    pub arg: *mut c_void,
    pub retval: *mut c_void,
    /// Park generation this thread waits under, or 0 when not parked. Whoever swaps it
    /// from the generation to 0 (fd event, timer, unpark, close) is the one waker.
    pub wake_token: AtomicU64,
    /// Last generation handed out by `prepare_park`.
    pub park_gen: u64,
    /// Written by the winning waker before the thread is queued.
    pub wake: Cell<Wake>,
    pub reason: Reason,
    /// Thread-specific data: (key sequence, value) per key, grown on demand.
    pub specific: Vec<(u32, *mut c_void)>,
    /// `pthread_setname_np` name, NUL-terminated.
    pub name: [u8; 16],
    /// The thread's own signal mask (`pthread_sigmask`), kept virtual: the OS thread's
    /// real mask is shared by every green thread and stays the root's.
    pub sigmask: libc::sigset_t,
    /// This thread's TLS area and control block (see [`tls`]); None when off.
    pub tls: Option<tls::Area>,
    /// Destructors of thread-locals (`__cxa_thread_atexit_impl`), run at thread exit.
    pub tls_dtors: Vec<(TlsDtor, *mut c_void)>,
    /// Link in the hub's lock-free remote-wake list (see `hub::try_wake`); only the
    /// waker that won `wake_token` writes it, only the hub reads it.
    pub remote_next: core::sync::atomic::AtomicPtr<Green>,
    /// Scheduling policy and priority set for this thread (attributes,
    /// `pthread_setschedparam`); None: the OS thread's. Kept per green thread because
    /// the OS thread is shared (green::sched).
    pub sched: Option<(i32, i32)>,
    /// Cancellation flags ([`cancel`]: PENDING, DISABLED, ASYNC, EXITING); atomic because
    /// `pthread_cancel` may come from another OS thread.
    pub cancel: core::sync::atomic::AtomicU32,
    /// Depth of cancellation-point hooks the thread is in (see `hub::cancel`).
    pub at_point: u32,
    /// Its last park at a cancellation point ended (or was skipped) for a cancellation.
    pub cancel_woke: bool,
    /// Stack pointer of the frame that called the start routine: where a forced unwind
    /// (`pthread_exit`, cancellation) stops.
    pub unwind_base: usize,
    /// The value `pthread_exit` or a cancellation gave, kept while unwinding.
    pub exit_value: *mut c_void,
    /// The forced unwind's exception object (glibc keeps it in `struct pthread`).
    pub exc: cancel::UnwindException,
    /// Hub clock (monotonic ns, as of the hub's last poll) when the thread last parked:
    /// for dumps and debuggers (hub::debug), never for decisions.
    pub parked_at: u64,
    /// Deadline of the current park (monotonic ns), 0 for none.
    pub deadline: u64,
    /// What the current park waits on: the fd for fd waits, the key (address) for
    /// parking-lot waits (mutex, condvar, …), 0 otherwise.
    pub wait_obj: usize,
    /// (pc, sp, rbp, rbx, r12, r13, r14, r15) recorded just before the thread last
    /// switched out, from which a debugger unwinds a suspended green thread's stack
    /// and reads its variables (hub::debug).
    pub ctx: [usize; CTX_WORDS],
    /// Highest address of the thread's stack (corosensei keeps the link to the root's
    /// context 16 bytes below it: debuggers find the root there while this one runs).
    pub stack_base: usize,
    /// Next older control block in the never-shrinking list of all of them
    /// (hub::debug::all_threads), which any OS thread may walk.
    pub all_next: *mut Green,
    /// The raw-syscall selector while this thread is switched out (crate::raw): BLOCK
    /// for program code, ALLOW when it parked inside the raw dispatcher.
    pub raw_sel: u8,
    /// The hub (address of its `hub::Hub`) this thread runs on; set at spawn, never
    /// changed after: a started thread stays on its OS thread.
    pub hub: usize,
    /// Its TLS copy is still to be made from its hub's thread (placed by another hub).
    pub tls_pending: bool,
}

/// A C++/Rust thread-local destructor.
pub type TlsDtor = unsafe extern "C" fn(*mut c_void);

impl Green {
    pub fn new(id: u32, is_root: bool) -> Green {
        Green {
            magic: MAGIC,
            id,
            state: if is_root { State::Running } else { State::Free },
            is_root,
            detached: false,
            exiting: false,
            coro: None,
            stack: None,
            yielder: core::ptr::null(),
            start: None,
            arg: core::ptr::null_mut(),
            retval: core::ptr::null_mut(),
            wake_token: AtomicU64::new(0),
            park_gen: 0,
            wake: Cell::new(Wake::Notified),
            reason: Reason::Other,
            specific: Vec::new(),
            name: [0; 16],
            // SAFETY: an all-zero sigset_t is the empty set.
            sigmask: unsafe { core::mem::zeroed() },
            tls: None,
            tls_dtors: Vec::new(),
            remote_next: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
            raw_sel: crate::raw::BLOCK,
            sched: None,
            cancel: core::sync::atomic::AtomicU32::new(0),
            at_point: 0,
            cancel_woke: false,
            unwind_base: 0,
            exit_value: core::ptr::null_mut(),
            exc: cancel::UnwindException::new(),
            parked_at: 0,
            deadline: 0,
            wait_obj: 0,
            ctx: [0; CTX_WORDS],
            stack_base: 0,
            all_next: core::ptr::null_mut(),
            hub: 0,
            tls_pending: false,
        }
    }
}

/// Returns the control block if `t` is a green handle issued by this process.
///
/// # Safety
/// `t` must be a `pthread_t` the program got from `pthread_create`/`pthread_self`
/// (a green control block or a glibc TCB: both readable for at least one word).
#[inline]
pub unsafe fn from_handle(t: libc::pthread_t) -> Option<*mut Green> {
    if t == 0 {
        return None;
    }
    let p = t as *mut Green;
    // SAFETY: per the contract, t points to readable memory; MAGIC is the first word of
    // every Green and can never be the first word of a glibc TCB.
    if unsafe { core::ptr::read_volatile(p as *const u64) } == MAGIC { Some(p) } else { None }
}

pub mod overflow;
pub mod sched;
