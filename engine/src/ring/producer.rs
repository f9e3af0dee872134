//! Publishing into the ring.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use super::sync::{Ordering, fence};
use super::{Shared, WRITING};
use crate::record::{TICK_WORDS, Tick};

/// Publishes ticks. One per feed; any number may publish at once.
pub struct Producer {
    shared: Arc<Shared>,
    /// The smallest gating cursor last seen: while `seq < gate + capacity` no cursor needs
    /// reading. It only grows, so a stale value is safe (it just makes us look again).
    gate: u64,
    /// The ring's only producer (claims without a read-modify-write).
    exclusive: bool,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("gate", &self.gate)
            .finish()
    }
}

impl Producer {
    pub(super) fn new(shared: Arc<Shared>, exclusive: bool) -> Producer {
        Producer {
            shared,
            gate: 1,
            exclusive,
        }
    }

    /// Claims `n` sequences and returns the first.
    #[inline]
    fn claim(&self, n: u64) -> u64 {
        let head = &self.shared.head;
        if self.exclusive {
            // The only producer: nobody else moves `head`, so a plain load and store suffice.
            let start = head.load(Ordering::Relaxed);
            head.store(start + n, Ordering::Relaxed);
            start
        } else {
            // Relaxed: the claim only has to be unique; publication is ordered by the stamp.
            head.fetch_add(n, Ordering::Relaxed)
        }
    }

    /// Publishes one tick and returns the sequence number it got. Waits (per the ring's
    /// [`super::WaitStrategy`]) while the slowest gating consumer is a full ring behind.
    #[inline]
    pub fn publish(&mut self, tick: Tick) -> u64 {
        let seq = self.claim(1);
        // The fast path makes no call before its stores, so the tick goes from wherever the
        // caller had it straight into the slot. With a call in between (however cold), the
        // compiler keeps the tick's eight words alive across it by copying them to the stack
        // and back on every publish (see benches/BENCHMARKS.md, session 8).
        if self.has_room(seq) && self.previous_lap_done(seq) {
            self.write(seq, &tick);
        } else {
            self.publish_slow(seq, tick);
        }
        self.shared.readers.notify();
        seq
    }

    /// [`Producer::publish`] when the ring may be full or the slot's previous lap may still
    /// be being written: waits for both, then writes.
    #[cold]
    #[inline(never)]
    fn publish_slow(&mut self, seq: u64, tick: Tick) {
        self.wait_for_space(seq);
        self.wait_for_previous_lap(seq);
        self.write(seq, &tick);
    }

    /// Publishes `ticks` under contiguous sequence numbers and returns them. A batch larger
    /// than the ring goes in ring-sized chunks, each claimed at once.
    pub fn publish_batch(&mut self, ticks: &[Tick]) -> Range<u64> {
        let mut first = None;
        let mut end = 0;
        for chunk in ticks.chunks(self.shared.capacity as usize) {
            let n = chunk.len() as u64;
            let start = self.claim(n);
            first.get_or_insert(start);
            self.wait_for_space(start + n - 1);
            for (seq, tick) in (start..).zip(chunk) {
                self.wait_for_previous_lap(seq);
                self.write(seq, tick);
            }
            self.shared.readers.notify();
            end = start + n;
        }
        // Chunks are claimed one after another, so with other producers they need not be
        // contiguous; the range is exact for a single producer or a batch within capacity.
        first.unwrap_or(end)..end
    }

    /// Whether the gating cursors last seen leave slots up to `last` free. A stale gate only
    /// says no too often: [`Producer::wait_for_space`] then looks again.
    #[inline]
    fn has_room(&self, last: u64) -> bool {
        last < self.gate.saturating_add(self.shared.capacity)
    }

    /// Waits until every gating consumer has read `last - capacity`, so slots up to `last`
    /// are free.
    #[inline]
    fn wait_for_space(&mut self, last: u64) {
        if self.has_room(last) {
            return;
        }
        let capacity = self.shared.capacity;
        self.gate = self.shared.min_gating_cursor();
        if last < self.gate.saturating_add(capacity) {
            return;
        }
        let shared = &*self.shared;
        let mut gate = self.gate;
        shared.writers.wait_until(shared.wait, None, || {
            gate = shared.min_gating_cursor();
            last < gate.saturating_add(capacity)
        });
        self.gate = gate;
    }

    /// Whether the slot for `seq` holds its previous lap (`seq - capacity`) fully written, so
    /// that writing `seq` cannot interleave with another producer. Only a multi-producer ring
    /// needs to look: the only producer wrote that lap itself, in program order, and skips the
    /// load: on the slot's cache line, which consumers hold shared, a load before the stores
    /// would cost a second coherence transaction per tick (see benches/BENCHMARKS.md). With
    /// gating consumers it already holds; without, it is the only thing that orders two
    /// producers a lap apart. Acquire pairs with that writer's final Release store.
    #[inline]
    fn previous_lap_done(&self, seq: u64) -> bool {
        self.exclusive
            || self.shared.slot(seq).words[0].load(Ordering::Acquire)
                == seq.saturating_sub(self.shared.capacity)
    }

    /// Waits until [`Producer::previous_lap_done`] holds for `seq`.
    #[inline]
    fn wait_for_previous_lap(&self, seq: u64) {
        if !self.previous_lap_done(seq) {
            let shared = &*self.shared;
            shared
                .writers
                .wait_until(shared.wait, None, || self.previous_lap_done(seq));
        }
    }

    /// Writes `tick` as `seq` into its slot: the seqlock write described in the module docs.
    /// The slot must be free: gating consumers are past `seq - capacity` and that lap is
    /// fully written.
    #[inline]
    fn write(&self, seq: u64, tick: &Tick) {
        let slot = self.shared.slot(seq);
        let words = tick.to_words();
        slot.words[0].store(seq | WRITING, Ordering::Relaxed);
        // Release fence: a reader that sees any of the words below also sees the WRITING mark
        // (or something later) when it re-reads word 0 after its Acquire fence.
        fence(Ordering::Release);
        for (cell, &word) in slot.words[1..].iter().zip(&words[1..TICK_WORDS]) {
            cell.store(word, Ordering::Relaxed);
        }
        // Release: a reader that loads `seq` here (Acquire) sees all the words above.
        slot.words[0].store(seq, Ordering::Release);
    }
}
