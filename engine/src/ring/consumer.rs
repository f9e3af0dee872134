//! Reading from the ring.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::sync::{Ordering, fence};
use super::{ConsumerState, Shared, WRITING};
use crate::record::{TICK_WORDS, Tick};

/// Sequences a non-gating consumer skipped because producers lapped it: `from..to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// First sequence missed.
    pub from: u64,
    /// First sequence after the gap: where the consumer resumed.
    pub to: u64,
}

impl Gap {
    /// How many ticks were missed.
    pub fn missed(&self) -> u64 {
        self.to - self.from
    }
}

/// Why [`Consumer::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// There is something to [`Consumer::poll`]: a tick, or a gap.
    Ready,
    /// The ring is closed and everything published has been read.
    Closed,
    /// The deadline passed first.
    TimedOut,
}

/// What a poll found in the slot at the cursor.
enum SlotState {
    Ready(Tick),
    Pending,
    /// The slot holds (or is being written with) this later sequence.
    Lapped(u64),
}

/// Reads the ring from its own cursor. Gating consumers come from
/// [`super::RingBuilder::build`], non-gating ones from [`super::Ring::subscribe`].
pub struct Consumer {
    shared: Arc<Shared>,
    state: Arc<ConsumerState>,
    /// Next sequence to read; published to `state.cursor` once per poll.
    next: u64,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.state.name)
            .field("gating", &self.state.gating)
            .field("next", &self.next)
            .finish()
    }
}

impl Consumer {
    pub(super) fn new(shared: Arc<Shared>, state: Arc<ConsumerState>) -> Consumer {
        let next = state.cursor.load(Ordering::Acquire);
        Consumer {
            shared,
            state,
            next,
        }
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Whether this consumer gates producers.
    pub fn is_gating(&self) -> bool {
        self.state.gating
    }

    /// The next sequence this consumer will read.
    pub fn cursor(&self) -> u64 {
        self.next
    }

    /// Hands every tick ready at the cursor to `on_tick`, at most `max` of them, and returns
    /// how many. Never blocks. A lapped non-gating consumer gets `Err(gap)` instead: it has
    /// already moved past the gap, so the next poll reads on from the newest data.
    #[inline]
    pub fn poll(&mut self, max: usize, mut on_tick: impl FnMut(&Tick)) -> Result<usize, Gap> {
        let start = self.next;
        // Locals, not fields: `on_tick` is opaque to the optimiser, which would otherwise
        // reload the ring and store the cursor around every call.
        let shared = &*self.shared;
        let gating = self.state.gating;
        // Read no further than the newest claimed sequence: past it the slots are the ones the
        // producer writes next, and looking at one (only to find it pending) pulls its line
        // into this core's cache, so the producer must take it back before every write. On
        // two cores that cost a third of the throughput (benches/BENCHMARKS.md, session 9).
        // A stale `head` only ends this poll early; one slot is always looked at, so a poll
        // after `wait` returned Ready reads on. Under loom the limit is left out: it can only
        // end a poll sooner, and every value the load may return multiplied the models' paths
        // until they ran for over twenty minutes; `ring_model` runs it on real threads.
        #[cfg(not(loom))]
        let claimed = shared.head.load(Ordering::Relaxed);
        #[cfg(loom)]
        let claimed = u64::MAX;
        let end = start.saturating_add(max as u64).min(claimed.max(start + 1));
        let mut next = start;
        let mut lapped_by = None;
        while next < end {
            match read(shared, gating, next) {
                SlotState::Ready(tick) => {
                    on_tick(&tick);
                    next += 1;
                }
                SlotState::Pending => break,
                SlotState::Lapped(by) => {
                    lapped_by = Some(by);
                    break;
                }
            }
        }
        self.next = next;
        let result = match lapped_by {
            Some(by) => Err(self.skip_lap(by)),
            None => Ok(()),
        };
        if self.next != start {
            // Release: our reads of the slots happen before a producer, having seen this
            // cursor (Acquire), overwrites them.
            self.state.cursor.store(self.next, Ordering::Release);
            if gating {
                self.shared.writers.notify();
            }
        }
        result.map(|()| (next - start) as usize)
    }

    /// Blocks until [`Consumer::poll`] has something, the ring is closed and drained, or
    /// `deadline` passes (`None`: no deadline).
    pub fn wait(&mut self, deadline: Option<Instant>) -> WaitOutcome {
        let shared = &*self.shared;
        let next = self.next;
        let mut closed = false;
        let woke = shared.readers.wait_until(shared.wait, deadline, || {
            let stamp = shared.slot(next).words[0].load(Ordering::Acquire);
            if stamp & !WRITING > next || stamp == next {
                return true;
            }
            // Closed is only final once no claimed sequence is left to read.
            closed = shared.closed.load(Ordering::Acquire)
                && shared.head.load(Ordering::Acquire) <= next;
            closed
        });
        match (woke, closed) {
            (true, true) => WaitOutcome::Closed,
            (true, false) => WaitOutcome::Ready,
            (false, _) => WaitOutcome::TimedOut,
        }
    }

    /// Jumps past a lap to the newest claimed sequence and records the gap. `by` is the later
    /// lap found in the slot.
    #[cold]
    fn skip_lap(&mut self, by: u64) -> Gap {
        // `by` is claimed, but `head` need not show it yet: the claim is Relaxed, and we may
        // have seen `by` in its WRITING mark (a Relaxed store) or in the Relaxed re-read, and
        // neither orders that claim before our load. Resuming no earlier than `by` (> `next`)
        // keeps the gap from being empty. `head - 1` is the newest claimed sequence: resuming
        // there delivers the newest tick rather than skipping it too.
        let resume = (self.shared.head.load(Ordering::Acquire) - 1).max(by);
        let gap = Gap {
            from: self.next,
            to: resume,
        };
        self.next = resume;
        // Single writer: a load and a store, no read-modify-write needed.
        let lapped = &self.state.lapped;
        lapped.store(lapped.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        let missed = &self.state.missed;
        missed.store(
            missed.load(Ordering::Relaxed) + gap.missed(),
            Ordering::Relaxed,
        );
        gap
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.state.detached.store(true, Ordering::Release);
        if self.state.gating {
            // A gating consumer that is gone must not stall producers forever.
            self.state.cursor.store(u64::MAX, Ordering::Release);
            self.shared.writers.notify();
        }
    }
}

/// Reads sequence `seq` from its slot with the seqlock protocol of the module docs.
#[inline]
fn read(shared: &Shared, gating: bool, seq: u64) -> SlotState {
    let slot = shared.slot(seq);
    let stamp = slot.words[0].load(Ordering::Acquire);
    if stamp != seq {
        // WRITING for `seq`, or an older lap: not yet. A newer lap: we were lapped.
        return if stamp & !WRITING > seq {
            SlotState::Lapped(stamp & !WRITING)
        } else {
            SlotState::Pending
        };
    }
    let mut words = [0u64; TICK_WORDS];
    words[0] = seq;
    for (word, cell) in words[1..].iter_mut().zip(&slot.words[1..]) {
        *word = cell.load(Ordering::Relaxed);
    }
    if gating {
        // No producer rewrites this slot before our cursor passes `seq` (it reads the
        // cursor with Acquire after our Release store of it), so the copy is whole.
        return SlotState::Ready(Tick::from_words(&words));
    }
    // Acquire fence: if any word above came from a later writer, the stamp re-read below
    // sees that writer's WRITING mark or later, never `seq`.
    fence(Ordering::Acquire);
    let stamp = slot.words[0].load(Ordering::Relaxed);
    if stamp != seq {
        return SlotState::Lapped(stamp & !WRITING);
    }
    SlotState::Ready(Tick::from_words(&words))
}
