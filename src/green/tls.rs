//! Per-green-thread copies of the executable's thread-local block.
//!
//! Green threads share one OS thread and so one TLS area. For C that mostly goes
//! unnoticed, but Rust's std keeps each thread's identity in a `#[thread_local]` of the
//! executable (`thread::current()`, set exactly once per thread by the spawn
//! trampoline, which aborts if it finds it set), and C++ `thread_local` in a program
//! is expected to be per thread. So the executable's static TLS block (module 1, in the
//! static TLS area below the thread pointer) is swapped on every switch:
//!
//! ```text
//!  resume(g):  live ──copy──▶ root.tls     g.tls ──copy──▶ live
//!  g suspends: live ──copy──▶ g.tls        root.tls ──copy──▶ live
//! ```
//!
//! A new green thread starts from the module's initialisation image (`.tdata`, then
//! zeroes for `.tbss`), as a new OS thread would. Shared libraries' TLS (libc's
//! `errno`, libstdc++'s) stays shared, as before. Addresses of thread-locals are the
//! same in every green thread (the live block does not move): a pointer to a
//! thread-local handed to another thread sees whichever thread runs.

use core::sync::atomic::{AtomicUsize, Ordering};

/// Live block address, its size, the init image and its size (0 size: nothing to swap).
static BLOCK: AtomicUsize = AtomicUsize::new(0);
static SIZE: AtomicUsize = AtomicUsize::new(0);
static IMAGE: AtomicUsize = AtomicUsize::new(0);
static IMAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Most bytes swapped: a larger block is left shared (and a warning says so).
const MAX_SWAPPED: usize = 64 << 10;

unsafe extern "C" fn find_exe(info: *mut libc::dl_phdr_info, _size: usize, _data: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the loader passes a valid info record with dlpi_phnum program headers.
    unsafe {
        let i = &*info;
        if i.dlpi_tls_modid != 1 || i.dlpi_tls_data.is_null() {
            return 0;
        }
        for k in 0..i.dlpi_phnum as usize {
            let ph = &*i.dlpi_phdr.add(k);
            if ph.p_type == libc::PT_TLS {
                if ph.p_memsz as usize > MAX_SWAPPED {
                    crate::warn!("the executable's thread-local block is too large to give each green thread its own copy");
                    return 1;
                }
                BLOCK.store(i.dlpi_tls_data as usize, Ordering::Relaxed);
                IMAGE.store(i.dlpi_addr as usize + ph.p_vaddr as usize, Ordering::Relaxed);
                IMAGE_SIZE.store(ph.p_filesz as usize, Ordering::Relaxed);
                SIZE.store(ph.p_memsz as usize, Ordering::Relaxed);
                return 1;
            }
        }
        1
    }
}

/// Finds the executable's TLS block (called once, on the hub's thread, at start-up).
pub fn install() {
    // SAFETY: dl_iterate_phdr is not hooked; the callback only reads the records.
    unsafe { libc::dl_iterate_phdr(Some(find_exe), core::ptr::null_mut()) };
}

/// Bytes in each green thread's copy (0: the executable has no thread-locals).
#[inline(always)]
pub fn size() -> usize {
    SIZE.load(Ordering::Relaxed)
}

/// Whether `addr` is in the swapped block (a thread-local of the executable).
#[inline]
pub fn contains(addr: usize) -> bool {
    let b = BLOCK.load(Ordering::Relaxed);
    size() > 0 && addr >= b && addr < b + size()
}

/// A fresh copy for a new thread, as the loader initialises a new thread's block.
pub fn fresh() -> Box<[u8]> {
    let n = size();
    let mut b = vec![0u8; n].into_boxed_slice();
    let img = IMAGE_SIZE.load(Ordering::Relaxed).min(n);
    if img > 0 {
        // SAFETY: IMAGE points to the module's PT_TLS image of at least `img` bytes.
        unsafe { core::ptr::copy_nonoverlapping(IMAGE.load(Ordering::Relaxed) as *const u8, b.as_mut_ptr(), img) };
    }
    b
}

/// Resets a reused copy to the initial image.
pub fn reset(b: &mut [u8]) {
    let img = IMAGE_SIZE.load(Ordering::Relaxed).min(b.len());
    // SAFETY: as in `fresh`.
    unsafe { core::ptr::copy_nonoverlapping(IMAGE.load(Ordering::Relaxed) as *const u8, b.as_mut_ptr(), img) };
    b[img..].fill(0);
}

/// Saves the live block into `out`.
#[inline]
pub fn save(out: &mut [u8]) {
    // SAFETY: BLOCK is this OS thread's live block of `size()` bytes (only the hub's
    // thread switches); out has size() bytes.
    unsafe { core::ptr::copy_nonoverlapping(BLOCK.load(Ordering::Relaxed) as *const u8, out.as_mut_ptr(), out.len()) };
}

/// Makes `from` the live block.
#[inline]
pub fn load(from: &[u8]) {
    // SAFETY: as in `save`.
    unsafe { core::ptr::copy_nonoverlapping(from.as_ptr(), BLOCK.load(Ordering::Relaxed) as *mut u8, from.len()) };
}
