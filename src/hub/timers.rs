//! The hub's timers: a min-heap of (deadline, thread, park generation).
//!
//! Cancellation is lazy: a thread woken by something else leaves its entry behind, and
//! when the entry fires its generation no longer matches the thread's `wake_token`, so
//! the wake is a no-op. Entries never outlive their deadline, so the heap cannot grow
//! without bound.

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
}

impl Timers {
    pub fn new() -> Self {
        Timers { heap: BinaryHeap::with_capacity(64), seq: 0 }
    }

    pub fn add(&mut self, deadline: u64, green: *mut Green, generation: u64) {
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

    pub fn clear(&mut self) {
        self.heap.clear();
    }
}

impl Default for Timers {
    fn default() -> Self {
        Self::new()
    }
}
