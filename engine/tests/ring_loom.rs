//! loom models of the tick ring on rings of two slots. loom runs each model under every thread
//! interleaving, up to a bound on preemptions, and lets each atomic load return any value the
//! C11 memory model allows it, except values from stores not yet made (load buffering).
//!
//! - Two producers and one gating consumer: it reads every seq once, in order, each tick whole
//!   and the one its producer was told went out under that seq.
//! - Producers and a non-gating consumer reading along: whatever it reads is whole and is the
//!   tick published under that seq, and its gaps start where it stood, skip at least one seq,
//!   and tile with its reads everything it moved past.
//! - A producer blocked on a full ring is released by the gating consumer reading, or by a
//!   lagging gating consumer being dropped; a waiting consumer drains the ring before `Closed`.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p engine --release --test ring_loom
//! ```
//!
//! `Consumer::poll`'s read limit (it reads no slot past `head`) is compiled out under loom: it
//! only ends a poll sooner, and the extra load's possible values took these models from three
//! minutes to over twenty. `ring_model` covers it on real threads.
//!
//! `LOOM_MAX_PREEMPTIONS=N` overrides each model's preemption bound. Consumers poll in a loop
//! that yields to the model, except in the close model, which waits with no deadline (under
//! loom a wait yields and never reads the clock).

#![cfg(loom)]

mod common;

use engine::{Consumer, Gap, Ring, Tick, WaitOutcome};
use loom::model::Builder;
use loom::thread;

use common::{FIRST_PRODUCER, check, tick};

/// Runs `f` under loom with at most `preemptions` preemptions per execution (`None`: every
/// execution), unless `LOOM_MAX_PREEMPTIONS` says otherwise.
fn model(preemptions: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = preemptions;
    }
    builder.check(f);
}

/// What a consumer read, and the gaps it was told of, in order.
#[derive(Debug, Default)]
struct Seen {
    ticks: Vec<Tick>,
    gaps: Vec<Gap>,
}

impl Seen {
    /// Polls `consumer` once, for at most `max` ticks. Returns whether its cursor moved.
    fn poll(&mut self, consumer: &mut Consumer, max: usize) -> bool {
        let before = consumer.cursor();
        if let Err(gap) = consumer.poll(max, |t| self.ticks.push(*t)) {
            self.gaps.push(gap);
        }
        consumer.cursor() != before
    }

    /// Polls `consumer` until its cursor reaches `end`, yielding to the model whenever a poll
    /// finds nothing.
    fn drain(&mut self, consumer: &mut Consumer, end: u64, max: usize) -> &mut Seen {
        while consumer.cursor() < end {
            if !self.poll(consumer, max) {
                thread::yield_now();
            }
        }
        self
    }

    fn seqs(&self) -> Vec<u64> {
        self.ticks.iter().map(|t| t.seq).collect()
    }
}

/// Asserts that every tick is whole and is tick `seq - 1` of producer `FIRST_PRODUCER`, the
/// only producer of the models that use it.
fn assert_single_producer_ticks(ticks: &[Tick]) {
    for t in ticks {
        assert_eq!(
            check(t),
            Ok((FIRST_PRODUCER, t.seq as u32 - 1)),
            "at seq {}",
            t.seq
        );
    }
}

/// Asserts that every tick is whole and is the tick its producer was told went out under that
/// seq (`claimed[producer - FIRST_PRODUCER][n]`), and that each producer's ticks come in the
/// order it published them.
fn assert_claimed_ticks(ticks: &[Tick], claimed: &[Vec<u64>]) {
    let mut last_n = vec![None; claimed.len()];
    for t in ticks {
        let (id, n) = check(t).unwrap();
        let i = (id - FIRST_PRODUCER) as usize;
        assert_eq!(
            claimed[i][n as usize], t.seq,
            "tick ({id}, {n}) under the wrong seq"
        );
        assert!(last_n[i] < Some(n), "producer {id}'s ticks out of order");
        last_n[i] = Some(n);
    }
}

/// Asserts that the seqs read and the gaps reported tile `1..end`: at each position the
/// consumer either read that seq or reported a gap starting there that skips at least one seq,
/// and nothing is left over.
fn assert_tiles(seen: &Seen, end: u64) {
    let mut ticks = seen.ticks.iter().peekable();
    let mut gaps = seen.gaps.iter().peekable();
    let mut next = 1;
    while next < end {
        if ticks.next_if(|t| t.seq == next).is_some() {
            next += 1;
        } else if let Some(gap) = gaps.next_if(|g| g.from == next) {
            assert!(gap.to > gap.from, "empty gap {gap:?}");
            next = gap.to;
        } else {
            panic!("nothing read or skipped at seq {next}: {seen:?}");
        }
    }
    assert_eq!((next, ticks.next(), gaps.next()), (end, None, None));
}

/// Two producers publish `counts[i]` ticks each into two slots; the second one as a single
/// `publish_batch` if `batch`. The gating consumer must read seqs `1..=total` in order, each
/// whole, each the tick its producer was told went out under that seq.
fn two_producers_one_gating_consumer(counts: [u32; 2], batch: bool, preemptions: Option<usize>) {
    model(preemptions, move || {
        let (ring, mut consumers) = Ring::builder(2).gating("g").build().unwrap();
        let mut consumer = consumers.pop().unwrap();
        let producers: Vec<_> = (FIRST_PRODUCER..)
            .zip(counts)
            .map(|(id, count)| {
                let mut producer = ring.producer().unwrap();
                thread::spawn(move || {
                    let ticks: Vec<Tick> = (0..count).map(|n| tick(id, n)).collect();
                    if batch && id != FIRST_PRODUCER {
                        producer.publish_batch(&ticks).collect::<Vec<u64>>()
                    } else {
                        ticks.into_iter().map(|t| producer.publish(t)).collect()
                    }
                })
            })
            .collect();
        let total = counts.iter().map(|&c| u64::from(c)).sum();
        let mut seen = Seen::default();
        seen.drain(&mut consumer, total + 1, 2);
        let claimed: Vec<Vec<u64>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        assert_eq!(seen.gaps, []);
        assert_eq!(seen.seqs(), (1..=total).collect::<Vec<_>>());
        assert_claimed_ticks(&seen.ticks, &claimed);
        assert_eq!(ring.published(), total);
    });
}

/// One thread per entry of `counts`, each publishing that many ticks one at a time and
/// returning the sequence numbers it got.
fn spawn_publishers(ring: &Ring, counts: &[u32]) -> Vec<thread::JoinHandle<Vec<u64>>> {
    (FIRST_PRODUCER..)
        .zip(counts)
        .map(|(id, &count)| {
            let mut producer = ring.producer().unwrap();
            thread::spawn(move || {
                (0..count)
                    .map(|n| producer.publish(tick(id, n)))
                    .collect::<Vec<u64>>()
            })
        })
        .collect()
}

#[test]
fn two_producers_1_1_ticks_gating_consumer_reads_all_in_order() {
    two_producers_one_gating_consumer([1, 1], false, None);
}

#[test]
fn two_producers_2_1_ticks_gating_consumer_reads_all_in_order() {
    two_producers_one_gating_consumer([2, 1], false, Some(3));
}

#[test]
fn two_producers_1_2_ticks_as_batch_gating_consumer_reads_all_in_order() {
    two_producers_one_gating_consumer([1, 2], true, Some(3));
}

// With four ticks in two slots both producers can wait on the consumer at once, and every turn
// of their wait loops is a scheduling choice: above one preemption, loom's paths outgrow its
// branch limit.
#[test]
fn two_producers_2_2_ticks_gating_consumer_reads_all_in_order() {
    two_producers_one_gating_consumer([2, 2], false, Some(1));
}

#[test]
fn two_producers_2_2_ticks_one_batch_gating_consumer_reads_all_in_order() {
    two_producers_one_gating_consumer([2, 2], true, Some(1));
}

/// A non-gating consumer polls `polls` times (at most `max` ticks each) while producers
/// publish `counts[i]` ticks each into two slots, then reads on to the end once they are done.
/// It may be lapped, even mid-copy, but every tick it reads is whole and is the tick published
/// under that seq, and its gaps start where it stood and account for everything it skipped.
fn non_gating_consumer_never_reads_a_torn_tick(
    counts: &'static [u32],
    polls: usize,
    max: usize,
    preemptions: Option<usize>,
) {
    model(preemptions, move || {
        let (ring, _) = Ring::builder(2).build().unwrap();
        let mut consumer = ring.subscribe("n");
        let producers = spawn_publishers(&ring, counts);
        let mut seen = Seen::default();
        for _ in 0..polls {
            if !seen.poll(&mut consumer, max) {
                thread::yield_now();
            }
        }
        let claimed: Vec<Vec<u64>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        let end = ring.published() + 1;
        seen.drain(&mut consumer, end, max);
        assert_claimed_ticks(&seen.ticks, &claimed);
        assert_tiles(&seen, end);
        let stats = ring.stats();
        let missed: u64 = seen.gaps.iter().map(Gap::missed).sum();
        assert_eq!(
            (stats.consumers[0].lapped, stats.consumers[0].missed),
            (seen.gaps.len() as u64, missed)
        );
    });
}

#[test]
fn non_gating_consumer_polling_one_at_a_time_never_reads_a_torn_tick() {
    non_gating_consumer_never_reads_a_torn_tick(&[3], 4, 1, Some(4));
}

#[test]
fn non_gating_consumer_polling_in_batches_never_reads_a_torn_tick() {
    non_gating_consumer_never_reads_a_torn_tick(&[3], 3, 3, Some(4));
}

/// With no gating consumer, the only thing that orders two producers' writes of one slot is
/// the wait for its previous lap.
#[test]
fn producers_lapping_each_other_never_tear_a_tick() {
    non_gating_consumer_never_reads_a_torn_tick(&[2, 1], 3, 2, Some(2));
}

/// A consumer can find a later lap in its slot before the claim of that lap shows in `head`:
/// claims are Relaxed, and the lap's `WRITING` mark is no Release store. The gap it reports
/// must still skip at least one seq, and resume no earlier than the newest seq claimed before
/// it polled (a lapped consumer resumes at the newest claimed sequence).
#[test]
fn a_lapped_consumer_never_reports_an_empty_gap() {
    model(Some(3), || {
        let (ring, _) = Ring::builder(2).build().unwrap();
        let mut consumer = ring.subscribe("n");
        let producers = spawn_publishers(&ring, &[2, 1]);
        let published = ring.published();
        let mut seen = Seen::default();
        seen.poll(&mut consumer, 1);
        if let Some(gap) = seen.gaps.first() {
            assert!(
                gap.to > gap.from && gap.to >= published,
                "{gap:?} with {published} claimed before the poll"
            );
        }
        let claimed: Vec<Vec<u64>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        seen.drain(&mut consumer, 4, 1);
        assert_claimed_ticks(&seen.ticks, &claimed);
        assert_tiles(&seen, 4);
    });
}

/// A producer publishing three ticks (singly, or as one batch) into two slots claims seq 3
/// and must wait for the gating consumer: seq 1 is still whole when read after the claim, and
/// reading it releases the producer.
fn producer_blocked_on_a_full_ring(batch: bool, preemptions: Option<usize>) {
    model(preemptions, move || {
        let (ring, mut consumers) = Ring::builder(2).gating("g").build().unwrap();
        let mut consumer = consumers.pop().unwrap();
        let mut producer = ring.producer().unwrap();
        let writer = thread::spawn(move || {
            let ticks: Vec<Tick> = (0..3).map(|n| tick(FIRST_PRODUCER, n)).collect();
            if batch {
                producer.publish_batch(&ticks).collect::<Vec<u64>>()
            } else {
                ticks.into_iter().map(|t| producer.publish(t)).collect()
            }
        });
        while ring.published() < 3 {
            thread::yield_now();
        }
        // Seq 3 is claimed, and its slot holds seq 1, which nobody has read.
        let mut seen = Seen::default();
        assert_eq!(seen.drain(&mut consumer, 2, 1).seqs(), [1]);
        assert_eq!(seen.drain(&mut consumer, 4, 2).seqs(), [1, 2, 3]);
        assert_eq!(seen.gaps, []);
        assert_single_producer_ticks(&seen.ticks);
        assert_eq!(writer.join().unwrap(), [1, 2, 3]);
    });
}

#[test]
fn producer_blocked_on_a_full_ring_is_released_by_the_gating_consumer() {
    producer_blocked_on_a_full_ring(false, None);
}

#[test]
fn batch_blocked_on_a_full_ring_is_released_by_the_gating_consumer() {
    producer_blocked_on_a_full_ring(true, None);
}

/// A producer blocked by two gating consumers, one of which has read everything written, is
/// released when the other is dropped.
#[test]
fn producer_blocked_on_a_full_ring_is_released_by_dropping_a_gating_consumer() {
    model(Some(4), || {
        let (ring, mut consumers) = Ring::builder(2).gating("a").gating("b").build().unwrap();
        let lagging = consumers.pop().unwrap();
        let mut consumer = consumers.pop().unwrap();
        let mut producer = ring.producer().unwrap();
        let writer = thread::spawn(move || {
            (0..3)
                .map(|n| producer.publish(tick(FIRST_PRODUCER, n)))
                .collect::<Vec<u64>>()
        });
        let mut seen = Seen::default();
        assert_eq!(seen.drain(&mut consumer, 3, 2).seqs(), [1, 2]);
        while ring.published() < 3 {
            thread::yield_now();
        }
        drop(lagging);
        assert_eq!(seen.drain(&mut consumer, 4, 2).seqs(), [1, 2, 3]);
        assert_eq!(seen.gaps, []);
        assert_single_producer_ticks(&seen.ticks);
        assert_eq!(writer.join().unwrap(), [1, 2, 3]);
    });
}

/// The ring is closed once its producer is done: a gating consumer waiting on another thread
/// reads both ticks before it sees `Closed`, however stale its view of the slots.
#[test]
fn close_lets_a_waiting_consumer_drain_before_closed() {
    model(None, || {
        let (ring, mut consumers) = Ring::builder(2).gating("g").build().unwrap();
        let mut consumer = consumers.pop().unwrap();
        let reader = thread::spawn(move || {
            let mut ticks = Vec::new();
            loop {
                match consumer.wait(None) {
                    WaitOutcome::Ready => {
                        consumer.poll(2, |t| ticks.push(*t)).unwrap();
                    }
                    WaitOutcome::Closed => return ticks,
                    WaitOutcome::TimedOut => panic!("timed out with no deadline"),
                }
            }
        });
        let mut producer = ring.producer().unwrap();
        let writer = thread::spawn(move || {
            producer.publish(tick(FIRST_PRODUCER, 0));
            producer.publish(tick(FIRST_PRODUCER, 1));
        });
        writer.join().unwrap();
        ring.close();
        let ticks = reader.join().unwrap();
        assert_eq!(ticks.iter().map(|t| t.seq).collect::<Vec<_>>(), [1, 2]);
        assert_single_producer_ticks(&ticks);
    });
}
