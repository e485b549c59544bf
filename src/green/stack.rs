//! Green-thread stacks: reserved with `mmap(MAP_NORESERVE)` so an idle thread costs only
//! the pages it touched, with one `PROT_NONE` guard page below, and recycled through a
//! per-size pool so a create+join does not pay for an 8 MiB mmap/munmap.
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

/// One mapped stack. Plain data: the pool owns the mapping, a coroutine only borrows it
/// (so abandoning a coroutine at `pthread_exit` never unmaps or unwinds anything).
#[derive(Clone, Copy, Debug)]
pub struct StackMem {
    /// Lowest address of the mapping (the guard page starts here).
    pub limit: usize,
    /// One past the highest usable byte; the initial stack pointer.
    pub base: usize,
}

impl StackMem {
    /// Maps a stack with `size` usable bytes (page-rounded) and a guard page.
    pub fn map(size: usize) -> Option<StackMem> {
        let size = (size + PAGE - 1) & !(PAGE - 1);
        let total = size + PAGE;
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
        // SAFETY: the first page lies inside the mapping just created.
        if unsafe { libc::mprotect(p, PAGE, libc::PROT_NONE) } != 0 {
            // SAFETY: unmapping exactly what was mapped.
            unsafe { libc::munmap(p, total) };
            return None;
        }
        Some(StackMem { limit: p as usize, base: p as usize + total })
    }

    /// Usable bytes (without the guard page).
    pub fn usable(&self) -> usize {
        self.base - self.limit - PAGE
    }

    pub fn guard_contains(&self, addr: usize) -> bool {
        addr >= self.limit && addr < self.limit + PAGE
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
}

impl StackPool {
    pub const fn new() -> Self {
        StackPool { by_size: Vec::new(), keep: 4096, mapped: 0, peak_mapped: 0 }
    }

    pub fn get(&mut self, size: usize) -> Option<StackMem> {
        let size = (size + PAGE - 1) & !(PAGE - 1);
        if let Some((_, v)) = self.by_size.iter_mut().find(|(s, _)| *s == size) {
            if let Some(s) = v.pop() {
                return Some(s);
            }
        }
        let s = StackMem::map(size)?;
        self.mapped += size + PAGE;
        self.peak_mapped = self.peak_mapped.max(self.mapped);
        Some(s)
    }

    pub fn put(&mut self, s: StackMem) {
        let size = s.usable();
        let idx = match self.by_size.iter().position(|(sz, _)| *sz == size) {
            Some(i) => i,
            None => {
                self.by_size.push((size, Vec::new()));
                self.by_size.len() - 1
            }
        };
        let v = &mut self.by_size[idx].1;
        if v.len() < self.keep {
            v.push(s);
        } else {
            self.mapped -= size + PAGE;
            s.unmap();
        }
    }
}

impl Default for StackPool {
    fn default() -> Self {
        Self::new()
    }
}
