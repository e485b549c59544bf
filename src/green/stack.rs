//! Green-thread stacks: reserved with `mmap(MAP_NORESERVE)` so an idle thread costs only
//! the pages it touched, with one `PROT_NONE` guard page below, and recycled through a
//! per-size pool so a create+join does not pay for an 8 MiB mmap/munmap. The first
//! [`HOT_STACKS`] pooled stacks of a size are kept as they are (the next create takes
//! the last one returned: create/join churn never pays a syscall or a page fault); any
//! stack pooled beyond those gives its touched pages back to the kernel
//! (`MADV_DONTNEED`, all but the top [`KEEP_RESIDENT`] bytes), as glibc does for the
//! stacks of exited threads. The pool keeps at most [`CACHE_BYTES`] of stacks (but
//! always [`CACHE_MIN`] of each size); the rest are unmapped.
//!
//! ```text
//!   high  +------------------+ <- base (16-byte aligned, the coroutine's initial sp)
//!         |   usable stack   |   grows down, committed page by page on first touch
//!         +------------------+ <- limit + PAGE
//!         |   guard page     |   PROT_NONE: an overflow faults here (see `overflow`)
//!   low   +------------------+ <- limit (mapping start)
//! ```

use corosensei::stack::{Stack, StackPointer};
use core::num::NonZeroUsize;

pub const PAGE: usize = 4096;
/// Bytes at the top of a pooled stack left resident (the next thread touches them first).
pub const KEEP_RESIDENT: usize = 16 * 1024;
/// Most stack bytes (reserved address space) the pool keeps, like glibc's 40 MiB cache.
pub const CACHE_BYTES: usize = 40 << 20;
/// Stacks of one size the pool keeps whatever their size (create/join churn).
pub const CACHE_MIN: usize = 16;
/// Pooled stacks of one size kept resident.
pub const HOT_STACKS: usize = 4;

/// One mapped stack. Plain data: the pool owns the mapping, a coroutine only borrows it
/// (so abandoning a coroutine at `pthread_exit` never unmaps or unwinds anything).
#[derive(Clone, Copy, Debug)]
pub struct StackMem {
    /// Lowest address of the mapping (the guard page starts here).
    pub limit: usize,
    /// One past the highest usable byte; the initial stack pointer.
    pub base: usize,
    /// Whether the lowest page is a PROT_NONE guard.
    pub guard: bool,
    /// The program's own memory (`pthread_attr_setstack`): never pooled or unmapped.
    pub program: bool,
}

impl StackMem {
    /// Maps a stack with `size` usable bytes (page-rounded) and, if `guard`, a guard page.
    pub fn map(size: usize, guard: bool) -> Option<StackMem> {
        let size = (size + PAGE - 1) & !(PAGE - 1);
        let total = size + if guard { PAGE } else { 0 };
        // SAFETY: anonymous private mapping with no address hint; result checked.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        if !guard {
            // Without a guard page, neighbouring stacks merge into one kernel memory
            // map, so vm.max_map_count no longer limits the thread count.
            return Some(StackMem { limit: p as usize, base: p as usize + total, guard: false, program: false });
        }
        // SAFETY: the first page lies inside the mapping just created.
        if unsafe { libc::mprotect(p, PAGE, libc::PROT_NONE) } != 0 {
            // SAFETY: unmapping exactly what was mapped.
            unsafe { libc::munmap(p, total) };
            return None;
        }
        Some(StackMem { limit: p as usize, base: p as usize + total, guard: true, program: false })
    }

    /// A stack the program provides (`pthread_attr_setstack`): `size` bytes from `addr`.
    pub fn program(addr: usize, size: usize) -> Option<StackMem> {
        let base = addr.checked_add(size)? & !15;
        (base > addr + 4096).then_some(StackMem { limit: addr, base, guard: false, program: true })
    }

    /// Usable bytes (without the guard page).
    pub fn usable(&self) -> usize {
        self.base - self.limit - if self.guard { PAGE } else { 0 }
    }

    /// Lowest usable address.
    pub fn bottom(&self) -> usize {
        self.limit + if self.guard { PAGE } else { 0 }
    }

    pub fn guard_contains(&self, addr: usize) -> bool {
        self.guard && addr >= self.limit && addr < self.limit + PAGE
    }

    /// Gives every page below the top `KEEP_RESIDENT` bytes back to the kernel; they
    /// read as zeros when touched again.
    pub fn release_pages(&self) {
        let top = self.base.saturating_sub(KEEP_RESIDENT);
        let bottom = self.bottom();
        if top > bottom {
            // SAFETY: [bottom, top) lies inside this mapping, which no thread uses now.
            unsafe { libc::madvise(bottom as *mut libc::c_void, top - bottom, libc::MADV_DONTNEED) };
        }
    }

    pub fn unmap(self) {
        // SAFETY: the pool hands out each mapping once; this is its final release.
        unsafe { libc::munmap(self.limit as *mut libc::c_void, self.base - self.limit) };
    }
}

// SAFETY: base and limit describe a live mapping with a guard page at `limit`; both are
// page-aligned and so 16-byte aligned as corosensei requires.
unsafe impl Stack for StackMem {
    fn base(&self) -> StackPointer {
        NonZeroUsize::new(self.base).expect("mapped stack")
    }
    fn limit(&self) -> StackPointer {
        NonZeroUsize::new(self.limit).expect("mapped stack")
    }
}

/// Free stacks by usable size. Most programs use one size, so a short Vec of
/// (size, stacks) beats a map.
pub struct StackPool {
    by_size: Vec<(usize, Vec<StackMem>)>,
    /// Stacks kept per size; beyond this they are unmapped.
    keep: usize,
    /// Bytes currently mapped for stacks (in use or pooled), for statistics.
    pub mapped: usize,
    pub peak_mapped: usize,
    /// Stacks currently mapped (in use or pooled).
    count: usize,
    /// Bytes of stacks in the pool (reserved address space).
    cached: usize,
    /// Most stacks allowed by vm.max_map_count (0 = not read yet).
    max_stacks: usize,
    /// Guard pages on new stacks (GREENSHIM_STACK_GUARD).
    pub guard: bool,
}

/// Memory maps left for everything that is not a green stack.
const MAP_HEADROOM: usize = 1024;

/// vm.max_map_count, read once with raw syscalls (65530 if unreadable).
fn max_map_count() -> usize {
    use crate::sys::sc;
    let mut buf = [0u8; 32];
    // SAFETY: NUL-terminated path; buf is a live buffer.
    let n = unsafe {
        match sc!(libc::SYS_openat, libc::AT_FDCWD, c"/proc/sys/vm/max_map_count".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) {
            Ok(fd) => {
                let n = sc!(libc::SYS_read, fd, buf.as_mut_ptr(), buf.len()).unwrap_or(0);
                let _ = crate::sys::close(fd as i32);
                n
            }
            Err(_) => 0,
        }
    };
    let v = buf[..n].iter().take_while(|c| c.is_ascii_digit()).fold(0usize, |a, c| a * 10 + (c - b'0') as usize);
    if v == 0 { 65530 } else { v }
}

impl StackPool {
    pub const fn new() -> Self {
        StackPool { by_size: Vec::new(), keep: 4096, mapped: 0, peak_mapped: 0, count: 0, cached: 0, max_stacks: 0, guard: true }
    }

    pub fn get(&mut self, size: usize) -> Option<StackMem> {
        let size = (size + PAGE - 1) & !(PAGE - 1);
        if let Some((_, v)) = self.by_size.iter_mut().find(|(s, _)| *s == size) {
            if let Some(s) = v.pop() {
                self.cached -= s.base - s.limit;
                return Some(s);
            }
        }
        // Each stack costs two kernel memory maps (guard + stack). Stop short of
        // vm.max_map_count so that malloc and the program keep room to map: past it,
        // pthread_create fails with EAGAIN, as it does natively, instead of the process
        // dying of a failed allocation.
        if self.max_stacks == 0 {
            self.max_stacks = max_map_count().saturating_sub(MAP_HEADROOM) / 2;
        }
        if self.guard && self.count >= self.max_stacks {
            return None;
        }
        let s = StackMem::map(size, self.guard)?;
        self.count += 1;
        self.mapped += s.base - s.limit;
        self.peak_mapped = self.peak_mapped.max(self.mapped);
        Some(s)
    }

    pub fn put(&mut self, s: StackMem) {
        if s.program {
            return;
        }
        let size = s.usable();
        if s.guard != self.guard {
            self.mapped -= s.base - s.limit;
            self.count -= 1;
            s.unmap();
            return;
        }
        let idx = match self.by_size.iter().position(|(sz, _)| *sz == size) {
            Some(i) => i,
            None => {
                self.by_size.push((size, Vec::new()));
                self.by_size.len() - 1
            }
        };
        let bytes = s.base - s.limit;
        let v = &mut self.by_size[idx].1;
        if v.len() < self.keep && (v.len() < CACHE_MIN || self.cached + bytes <= CACHE_BYTES) {
            if v.len() >= HOT_STACKS {
                s.release_pages();
            }
            self.cached += bytes;
            v.push(s);
        } else {
            self.mapped -= s.base - s.limit;
            self.count -= 1;
            s.unmap();
        }
    }
}

impl Default for StackPool {
    fn default() -> Self {
        Self::new()
    }
}
