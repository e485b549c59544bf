//! The hub's timers: a min-heap of (deadline, thread, park generation).
//!
//! Cancellation is lazy: a thread woken by something else leaves its entry behind, and
//! when the entry fires its generation no longer matches the thread's `wake_token`, so
//! the wake is a no-op. The park that ends early counts its entry as cancelled; once
//! cancelled entries outnumber the live ones the heap is rebuilt without them, so a
//! loop of short waits with long timeouts (a 60 s poll answered at once) keeps the heap
//! at about twice the number of live timers instead of one entry per wait until each
//! deadline passes.

use crate::green::Green;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    deadline: u64,
    seq: u64,
    green: usize,
    generation: u64,
}

pub struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    /// Entries whose park ended otherwise (an upper bound: some may have fired since).
    cancelled: usize,
}

/// Below this many cancelled entries the heap is left alone.
const COMPACT_MIN: usize = 64;

impl Timers {
    pub fn new() -> Self {
        Timers { heap: BinaryHeap::with_capacity(64), seq: 0, cancelled: 0 }
    }

    pub fn add(&mut self, deadline: u64, green: *mut Green, generation: u64) {
        if self.cancelled >= COMPACT_MIN && self.cancelled * 2 >= self.heap.len() {
            self.compact();
        }
        self.seq += 1;
        self.heap.push(Reverse(Entry { deadline, seq: self.seq, green: green as usize, generation }));
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(e)| e.deadline)
    }

    /// Pops one entry whose deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: u64) -> Option<(*mut Green, u64)> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.deadline <= now => {
                let Reverse(e) = self.heap.pop()?;
                Some((e.green as *mut Green, e.generation))
            }
            _ => None,
        }
    }

    /// A park with a deadline ended before it: its entry is now garbage.
    pub fn cancelled(&mut self) {
        self.cancelled += 1;
    }

    /// Drops every entry whose thread no longer waits under its generation, and gives
    /// back memory the heap no longer needs.
    fn compact(&mut self) {
        self.heap.retain(|Reverse(e)| {
            // SAFETY: control blocks are never freed; the token is an atomic.
            unsafe { (*(e.green as *mut Green)).wake_token.load(core::sync::atomic::Ordering::Relaxed) == e.generation }
        });
        self.cancelled = 0;
        if self.heap.capacity() > 4 * self.heap.len().max(64) {
            self.heap.shrink_to(2 * self.heap.len().max(64));
        }
    }

    pub fn clear(&mut self) {
        self.heap.clear();
        self.cancelled = 0;
    }
}

impl Default for Timers {
    fn default() -> Self {
        Self::new()
    }
}
