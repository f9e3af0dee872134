//! The tick ring: a bounded, lock-free, multi-producer broadcast ring buffer.
//!
//! ```text
//!  Producer (one per feed) ──claim seq (fetch_add)──► slot[seq & mask] ◄── Consumer cursors
//!                             wait: gating cursors      seqlock write        gating: every tick
//!                             and the slot's last lap                        non-gating: may lap
//! ```
//!
//! - **Sequences.** Every published tick gets one global sequence number, from 1 upwards, taken
//!   with a single `fetch_add` on the claim counter (`head`); a ring built for a single producer
//!   claims with a plain load and store instead, which keeps the producer from stalling on its
//!   store buffer at every tick.
//! - **Slots.** A slot is one cache line of eight `AtomicU64` words; word 0 is the tick's `seq`
//!   and doubles as the slot's seqlock stamp. A producer sets word 0 to `seq | WRITING`, writes
//!   words 1..8, then stores `seq` with `Release`. A reader loads word 0 (`Acquire`), copies the
//!   words, and loads word 0 again after an `Acquire` fence: the copy is whole only if both loads
//!   saw `seq`. Every access is atomic, so there is no `unsafe` and no data race even when a
//!   non-gating reader is lapped mid-copy.
//! - **Gating.** Gating consumers are fixed when the ring is built. A producer may write `seq`
//!   only once every gating cursor has passed `seq - capacity`, so gating consumers see every
//!   tick once, in order. A producer also waits for the slot's previous lap (`seq - capacity`) to
//!   be fully written, so two producers never write one slot at once.
//! - **Non-gating** consumers never hold producers back. A reader that finds a later lap in its
//!   slot (or a torn copy) has been lapped: it reports the missed range and resumes at the newest
//!   claimed sequence.
//! - **Waiting** follows a [`WaitStrategy`]; the default yields a few times, then parks.
//! - **Closing.** Once every producer is done, [`Ring::close`] lets consumers drain what was
//!   published and then see [`WaitOutcome::Closed`].
//!
//! Per tick a producer does one `fetch_add`, one load of its slot, eight stores and one relaxed
//! load to see if a consumer sleeps; it reads the gating cursors only when its cached minimum
//! says the ring may be full. A single producer claims with a plain store and skips the load
//! of its slot (it wrote the previous lap itself). A consumer's poll loads `head` once and
//! reads no slot past the newest claim, so it never pulls into its cache a line the producer
//! is about to write. Consumers publish their cursor once per batch; a gating consumer skips
//! the seqlock's second stamp read, since no producer can rewrite a slot its cursor has not
//! passed.
//!
//! **Verification.** `engine/tests/ring_model.rs` is a model-based property test (proptest) on
//! OS threads: random plans of 1-3 producers publishing singly and in batches, capacities 2 to
//! 64, and 0-2 gating and 0-2 non-gating consumers. It checks that every gating consumer reads
//! every seq once, in order, that non-gating consumers read rising seqs and report gaps that
//! account for every seq they skip, and that no consumer ever reads a torn tick (each test tick
//! derives all its words from its producer and number). `engine/tests/ring_loom.rs` checks the
//! same on two-slot rings with loom, across thread interleavings and the values C11 lets each
//! load return, up to a preemption bound per model, and adds a producer blocked on a full ring,
//! released by a gating consumer reading or being dropped, and draining on close. loom does not
//! model load buffering, so the pairing of a consumer's `Release` cursor with the producer's
//! `Acquire` read of it is argued, not checked.
//!
//! ```text
//! cargo test -p engine --test ring_model              # PROPTEST_CASES=5000 for a longer run
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p engine --release --test ring_loom  # LOOM_MAX_PREEMPTIONS=N to widen
//! ```

mod consumer;
mod producer;
mod sync;
mod wait;

use std::fmt;
use std::sync::{Arc, Mutex};

use crossbeam_utils::CachePadded;

use crate::error::{Error, Result};
use crate::record::TICK_WORDS;
use sync::{AtomicBool, AtomicU64, Ordering};
use wait::Signal;

pub use consumer::{Consumer, Gap, WaitOutcome};
pub use producer::Producer;
pub use wait::WaitStrategy;

/// Set in a slot's word 0 while its producer writes the other words.
const WRITING: u64 = 1 << 63;

/// One ring slot: a tick's eight words, word 0 being the seqlock stamp.
#[repr(align(64))]
struct Slot {
    words: [AtomicU64; TICK_WORDS],
}

impl Slot {
    fn empty() -> Slot {
        Slot {
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A consumer's shared state: its cursor and counters, read by producers and by metrics.
#[derive(Debug)]
pub(crate) struct ConsumerState {
    name: Box<str>,
    gating: bool,
    /// Next sequence the consumer will read; everything below has been read (or skipped).
    cursor: CachePadded<AtomicU64>,
    /// Times this consumer was lapped (non-gating only). Written by its consumer alone.
    lapped: AtomicU64,
    /// Ticks skipped because of lapping. Written by its consumer alone.
    missed: AtomicU64,
    /// Set when the consumer is dropped; a detached gating consumer stops gating.
    detached: AtomicBool,
}

impl ConsumerState {
    fn new(name: &str, gating: bool, cursor: u64) -> ConsumerState {
        ConsumerState {
            name: name.into(),
            gating,
            cursor: CachePadded::new(AtomicU64::new(cursor)),
            lapped: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            detached: AtomicBool::new(false),
        }
    }
}

pub(crate) struct Shared {
    slots: Box<[Slot]>,
    mask: u64,
    capacity: u64,
    /// Next sequence to claim. Sequences start at 1, so `head - 1` have been claimed.
    head: CachePadded<AtomicU64>,
    gating: Box<[Arc<ConsumerState>]>,
    /// Non-gating consumers, kept for stats only.
    others: Mutex<Vec<Arc<ConsumerState>>>,
    closed: AtomicBool,
    /// Only one producer may exist, and it claims without a read-modify-write.
    single_producer: bool,
    /// Set once a single-producer ring has handed out its producer.
    producer_taken: AtomicBool,
    /// Consumers waiting for ticks.
    readers: CachePadded<Signal>,
    /// Producers waiting for space.
    writers: CachePadded<Signal>,
    wait: WaitStrategy,
}

impl Shared {
    fn slot(&self, seq: u64) -> &Slot {
        &self.slots[(seq & self.mask) as usize]
    }

    /// The smallest cursor among attached gating consumers, or `u64::MAX` if there is none.
    fn min_gating_cursor(&self) -> u64 {
        self.gating
            .iter()
            .map(|c| c.cursor.load(Ordering::Acquire))
            .min()
            .unwrap_or(u64::MAX)
    }
}

/// Builds a [`Ring`] with its gating consumers.
#[derive(Debug)]
pub struct RingBuilder {
    capacity: usize,
    gating: Vec<String>,
    wait: WaitStrategy,
    single_producer: bool,
}

impl RingBuilder {
    /// Adds a gating consumer named `name`; [`RingBuilder::build`] returns it.
    pub fn gating(mut self, name: &str) -> RingBuilder {
        self.gating.push(name.to_owned());
        self
    }

    /// Allows one producer only, which then claims sequences with a plain load and store
    /// instead of a locked read-modify-write (see `benches/BENCHMARKS.md` for what it saves).
    pub fn single_producer(mut self) -> RingBuilder {
        self.single_producer = true;
        self
    }

    /// Sets how producers and consumers wait.
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> RingBuilder {
        self.wait = wait;
        self
    }

    /// The ring and its gating consumers, in the order they were added.
    pub fn build(self) -> Result<(Ring, Vec<Consumer>)> {
        if self.capacity < 2 || !self.capacity.is_power_of_two() {
            return Err(Error::InvalidCapacity(self.capacity));
        }
        let gating: Box<[Arc<ConsumerState>]> = self
            .gating
            .iter()
            .map(|name| Arc::new(ConsumerState::new(name, true, 1)))
            .collect();
        let shared = Arc::new(Shared {
            slots: (0..self.capacity).map(|_| Slot::empty()).collect(),
            mask: self.capacity as u64 - 1,
            capacity: self.capacity as u64,
            head: CachePadded::new(AtomicU64::new(1)),
            gating: gating.clone(),
            others: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            single_producer: self.single_producer,
            producer_taken: AtomicBool::new(false),
            readers: CachePadded::new(Signal::default()),
            writers: CachePadded::new(Signal::default()),
            wait: self.wait,
        });
        let consumers = gating
            .iter()
            .map(|state| Consumer::new(shared.clone(), state.clone()))
            .collect();
        Ok((Ring { shared }, consumers))
    }
}

/// A handle on the ring; clones share it.
#[derive(Clone)]
pub struct Ring {
    shared: Arc<Shared>,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.shared.capacity)
            .field("published", &self.published())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A consumer's figures at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerStats {
    /// The consumer's name.
    pub name: String,
    /// Whether it gates producers.
    pub gating: bool,
    /// Ticks claimed but not yet read by it.
    pub lag: u64,
    /// Times it was lapped.
    pub lapped: u64,
    /// Ticks it skipped because it was lapped.
    pub missed: u64,
}

/// The ring's figures at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingStats {
    /// Slots in the ring.
    pub capacity: u64,
    /// Sequences claimed so far (the newest sequence number).
    pub published: u64,
    /// Ticks claimed but not yet read by the slowest gating consumer.
    pub depth: u64,
    /// Every attached consumer.
    pub consumers: Vec<ConsumerStats>,
}

impl Ring {
    /// Starts building a ring of `capacity` slots (a power of two, at least 2).
    pub fn builder(capacity: usize) -> RingBuilder {
        RingBuilder {
            capacity,
            gating: Vec::new(),
            wait: WaitStrategy::default(),
            single_producer: false,
        }
    }

    /// A new producer. Any number may publish at once.
    /// A new producer. On a multi-producer ring (the default) any number may publish at
    /// once; a ring built with [`RingBuilder::single_producer`] hands out exactly one, and
    /// refuses the next with [`Error::ProducerTaken`].
    pub fn producer(&self) -> Result<Producer> {
        if self.shared.single_producer {
            if self.shared.producer_taken.swap(true, Ordering::AcqRel) {
                return Err(Error::ProducerTaken);
            }
            return Ok(Producer::new(self.shared.clone(), true));
        }
        Ok(Producer::new(self.shared.clone(), false))
    }

    /// A new non-gating consumer, starting with the next tick published.
    pub fn subscribe(&self, name: &str) -> Consumer {
        let state = Arc::new(ConsumerState::new(
            name,
            false,
            self.shared.head.load(Ordering::Acquire),
        ));
        let mut others = self.shared.others.lock().unwrap_or_else(|e| e.into_inner());
        others.retain(|c| !c.detached.load(Ordering::Relaxed));
        others.push(state.clone());
        drop(others);
        Consumer::new(self.shared.clone(), state)
    }

    /// Marks the ring closed: consumers drain what was published, then see `Closed`.
    /// Call it after every producer has finished publishing.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.readers.notify();
    }

    /// Whether [`Ring::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Number of slots.
    pub fn capacity(&self) -> u64 {
        self.shared.capacity
    }

    /// Sequences claimed so far: the newest sequence number handed out.
    pub fn published(&self) -> u64 {
        self.shared.head.load(Ordering::Acquire) - 1
    }

    /// Depth, lag and lapping figures, for metrics.
    pub fn stats(&self) -> RingStats {
        let head = self.shared.head.load(Ordering::Acquire);
        let stat = |c: &ConsumerState| ConsumerStats {
            name: c.name.to_string(),
            gating: c.gating,
            lag: head.saturating_sub(c.cursor.load(Ordering::Acquire)),
            lapped: c.lapped.load(Ordering::Relaxed),
            missed: c.missed.load(Ordering::Relaxed),
        };
        let attached = |c: &&Arc<ConsumerState>| !c.detached.load(Ordering::Relaxed);
        let mut consumers: Vec<ConsumerStats> = self
            .shared
            .gating
            .iter()
            .filter(attached)
            .map(|c| stat(c))
            .collect();
        let others = self.shared.others.lock().unwrap_or_else(|e| e.into_inner());
        consumers.extend(others.iter().filter(attached).map(|c| stat(c)));
        let depth = consumers
            .iter()
            .filter(|c| c.gating)
            .map(|c| c.lag)
            .max()
            .unwrap_or(0);
        RingStats {
            capacity: self.shared.capacity,
            published: head - 1,
            depth,
            consumers,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::fixed::{Price, Qty};
    use crate::record::{Quote, Tick};
    use crate::registry::InstrumentId;
    use std::time::{Duration, Instant};

    pub(crate) fn tick(n: i64) -> Tick {
        Tick::quote(
            InstrumentId(n as u32),
            n,
            n,
            Quote {
                bid: Price::from_units(n),
                bid_size: Qty::from_units(n),
                ask: Price::from_units(n + 1),
                ask_size: Qty::from_units(n),
            },
        )
    }

    fn soon() -> Option<Instant> {
        Some(Instant::now() + Duration::from_secs(5))
    }

    #[test]
    fn capacity_must_be_a_power_of_two() {
        for bad in [0, 1, 3, 100] {
            assert!(matches!(
                Ring::builder(bad).build(),
                Err(Error::InvalidCapacity(n)) if n == bad
            ));
        }
        assert!(Ring::builder(2).build().is_ok());
    }

    #[test]
    fn gating_consumer_reads_every_tick_in_order() {
        let (ring, mut consumers) = Ring::builder(8).gating("a").build().unwrap();
        let mut producer = ring.producer().unwrap();
        for n in 0..5 {
            assert_eq!(producer.publish(tick(n)), n as u64 + 1);
        }
        let mut seen = Vec::new();
        let read = consumers[0].poll(100, |t| seen.push(t.seq)).unwrap();
        assert_eq!(read, 5);
        assert_eq!(seen, [1, 2, 3, 4, 5]);
        assert_eq!(consumers[0].poll(100, |_| {}).unwrap(), 0);
    }

    #[test]
    fn the_tick_read_is_the_tick_written() {
        let (ring, mut consumers) = Ring::builder(4).gating("a").build().unwrap();
        let mut producer = ring.producer().unwrap();
        let seq = producer.publish(tick(42));
        let mut got = None;
        consumers[0].poll(1, |t| got = Some(*t)).unwrap();
        let mut expected = tick(42);
        expected.seq = seq;
        assert_eq!(got, Some(expected));
    }

    #[test]
    fn producers_wait_for_the_slowest_gating_consumer() {
        let (ring, mut consumers) = Ring::builder(4).gating("a").gating("b").build().unwrap();
        let mut producer = ring.producer().unwrap();
        for n in 0..4 {
            producer.publish(tick(n));
        }
        assert_eq!(ring.stats().depth, 4);
        let writer = std::thread::spawn(move || producer.publish(tick(4)));
        consumers[0].poll(10, |_| {}).unwrap();
        // "b" has read nothing, so the fifth publish is claimed but cannot be written.
        let claimed = Instant::now() + Duration::from_secs(5);
        while ring.published() < 5 {
            assert!(Instant::now() < claimed, "the producer never claimed seq 5");
            std::thread::yield_now();
        }
        let watch = Instant::now() + Duration::from_millis(50);
        while Instant::now() < watch {
            assert_eq!(
                consumers[0].poll(10, |_| {}).unwrap(),
                0,
                "seq 5 overwrote unread seq 1"
            );
        }
        consumers[1].poll(1, |_| {}).unwrap();
        assert_eq!(writer.join().unwrap(), 5);
        let mut seen = Vec::new();
        consumers[1].poll(10, |t| seen.push(t.seq)).unwrap();
        assert_eq!(seen, [2, 3, 4, 5]);
    }

    #[test]
    fn a_lapped_non_gating_consumer_reports_the_gap_and_resumes() {
        let (ring, _) = Ring::builder(4).build().unwrap();
        let mut producer = ring.producer().unwrap();
        let mut slow = ring.subscribe("slow");
        for n in 0..10 {
            producer.publish(tick(n));
        }
        let gap = slow.poll(100, |_| {}).unwrap_err();
        // Resumed at the newest claimed sequence, 10, which is still whole in its slot.
        assert_eq!(gap, Gap { from: 1, to: 10 });
        assert_eq!(gap.missed(), 9);
        producer.publish(tick(10));
        let mut seen = Vec::new();
        assert_eq!(slow.poll(100, |t| seen.push(t.seq)).unwrap(), 2);
        assert_eq!(seen, [10, 11]);
        let stats = ring.stats();
        let slow_stats = stats.consumers.iter().find(|c| c.name == "slow").unwrap();
        assert_eq!(
            (slow_stats.lapped, slow_stats.missed, slow_stats.lag),
            (1, 9, 0)
        );
        assert_eq!(
            stats.depth, 0,
            "non-gating consumers do not count toward depth"
        );
    }

    #[test]
    fn close_lets_consumers_drain_then_reports_closed() {
        let (ring, mut consumers) = Ring::builder(8).gating("a").build().unwrap();
        let mut producer = ring.producer().unwrap();
        producer.publish(tick(1));
        producer.publish(tick(2));
        drop(producer);
        ring.close();
        let c = &mut consumers[0];
        assert_eq!(c.wait(soon()), WaitOutcome::Ready);
        assert_eq!(c.poll(1, |_| {}).unwrap(), 1);
        assert_eq!(c.wait(soon()), WaitOutcome::Ready);
        assert_eq!(c.poll(10, |_| {}).unwrap(), 1);
        assert_eq!(c.wait(soon()), WaitOutcome::Closed);
    }

    #[test]
    fn wait_times_out_when_nothing_comes() {
        let (ring, mut consumers) = Ring::builder(8).gating("a").build().unwrap();
        let start = Instant::now();
        let deadline = start + Duration::from_millis(30);
        assert_eq!(consumers[0].wait(Some(deadline)), WaitOutcome::TimedOut);
        assert!(Instant::now() >= deadline);
        drop(ring);
    }

    #[test]
    fn a_parked_consumer_is_woken_by_a_publish() {
        let (ring, mut consumers) = Ring::builder(8).gating("a").build().unwrap();
        let mut consumer = consumers.pop().unwrap();
        let reader = std::thread::spawn(move || {
            let outcome = consumer.wait(Some(Instant::now() + Duration::from_secs(10)));
            let mut seq = 0;
            consumer.poll(1, |t| seq = t.seq).unwrap();
            (outcome, seq)
        });
        let mut producer = ring.producer().unwrap();
        producer.publish(tick(1));
        assert_eq!(reader.join().unwrap(), (WaitOutcome::Ready, 1));
    }

    #[test]
    fn dropping_a_gating_consumer_stops_it_gating() {
        let (ring, mut consumers) = Ring::builder(2).gating("a").gating("b").build().unwrap();
        let mut producer = ring.producer().unwrap();
        producer.publish(tick(1));
        producer.publish(tick(2));
        drop(consumers.pop());
        consumers[0].poll(10, |_| {}).unwrap();
        // With "b" gone only "a" gates, so two more fit.
        producer.publish(tick(3));
        producer.publish(tick(4));
        let names: Vec<_> = ring.stats().consumers.into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["a"]);
    }

    #[test]
    fn a_single_producer_ring_hands_out_one_producer() {
        let (ring, mut consumers) = Ring::builder(4)
            .gating("a")
            .single_producer()
            .build()
            .unwrap();
        let mut producer = ring.producer().unwrap();
        assert!(matches!(ring.producer(), Err(Error::ProducerTaken)));
        assert_eq!(producer.publish(tick(1)), 1);
        assert_eq!(producer.publish_batch(&[tick(2), tick(3)]), 2..4);
        let mut seen = Vec::new();
        consumers[0].poll(10, |t| seen.push(t.seq)).unwrap();
        assert_eq!(seen, [1, 2, 3]);
        assert_eq!(ring.published(), 3);
    }

    #[test]
    fn batches_publish_contiguous_sequences() {
        let (ring, mut consumers) = Ring::builder(4).gating("a").build().unwrap();
        let mut producer = ring.producer().unwrap();
        let batch: Vec<Tick> = (0..3).map(tick).collect();
        assert_eq!(producer.publish_batch(&batch), 1..4);
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while seen.len() < 13 {
                consumers[0].wait(None);
                consumers[0]
                    .poll(64, |t| seen.push((t.seq, t.ts_event)))
                    .unwrap();
            }
            seen
        });
        // Larger than the ring: published in ring-sized chunks as the consumer frees space.
        let big: Vec<Tick> = (3..13).map(tick).collect();
        assert_eq!(producer.publish_batch(&big), 4..14);
        let seen = reader.join().unwrap();
        let expected: Vec<(u64, i64)> = (0..13).map(|n| (n as u64 + 1, n)).collect();
        assert_eq!(seen, expected);
    }
}
