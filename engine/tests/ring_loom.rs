//! loom models of the tick ring: every interleaving and every value the C11 memory model lets
//! an atomic load return, up to a bound on preemptions, on rings of two slots.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=/work/target-loom \
//!     cargo test -p engine --release --test ring_loom
//! ```
//!
//! `LOOM_MAX_PREEMPTIONS=N` overrides each model's preemption bound. Consumers here poll in a
//! loop that yields to the model instead of waiting with a deadline, except in the close
//! model, which waits with no deadline (under loom a wait yields and never reads the clock).

#![cfg(loom)]

mod common;

use engine::{Consumer, Gap, Ring, Tick, WaitOutcome};
use loom::model::Builder;
use loom::thread;

use common::{FIRST_PRODUCER, check, tick};

/// Runs `f` under loom, at most `preemptions` preemptions per execution unless
/// `LOOM_MAX_PREEMPTIONS` says otherwise.
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = Builder::new();
    builder.preemption_bound.get_or_insert(preemptions);
    builder.check(f);
}

/// Polls `consumer` (at most `max` a poll) until its cursor reaches `end`, yielding to the
/// model whenever there is nothing to read. Returns the ticks and gaps it got.
fn drain(consumer: &mut Consumer, end: u64, max: usize) -> (Vec<Tick>, Vec<Gap>) {
    let mut ticks = Vec::new();
    let mut gaps = Vec::new();
    while consumer.cursor() < end {
        match consumer.poll(max, |t| ticks.push(*t)) {
            Ok(0) => thread::yield_now(),
            Ok(_) => {}
            Err(gap) => gaps.push(gap),
        }
    }
    (ticks, gaps)
}

/// The seqs of `ticks`.
fn seqs(ticks: &[Tick]) -> Vec<u64> {
    ticks.iter().map(|t| t.seq).collect()
}

/// Asserts that every tick is whole and is tick `seq - 1` of producer `FIRST_PRODUCER`, the
/// only producer of the models that use it.
fn assert_single_producer_ticks(ticks: &[Tick]) {
    for t in ticks {
        assert_eq!(check(t), Ok((FIRST_PRODUCER, t.seq as u32 - 1)), "at seq {}", t.seq);
    }
}

/// Two producers publish `per_producer` ticks each into two slots; the second one as a single
/// `publish_batch` if `batch`. The gating consumer must read seqs `1..=total` in order, each
/// whole, each the tick its producer was told went out under that seq.
fn two_producers_one_gating_consumer(per_producer: u32, batch: bool, preemptions: usize) {
    model(preemptions, move || {
        let (ring, mut consumers) = Ring::builder(2).gating("g").build().unwrap();
        let mut consumer = consumers.pop().unwrap();
        let producers: Vec<_> = (FIRST_PRODUCER..FIRST_PRODUCER + 2)
            .map(|id| {
                let mut producer = ring.producer();
                thread::spawn(move || {
                    let ticks: Vec<Tick> = (0..per_producer).map(|n| tick(id, n)).collect();
                    if batch && id != FIRST_PRODUCER {
                        producer.publish_batch(&ticks).collect::<Vec<u64>>()
                    } else {
                        ticks.into_iter().map(|t| producer.publish(t)).collect()
                    }
                })
            })
            .collect();
        let total = 2 * u64::from(per_producer);
        let (ticks, gaps) = drain(&mut consumer, total + 1, 2);
        assert_eq!(gaps, []);
        assert_eq!(seqs(&ticks), (1..=total).collect::<Vec<_>>());
        let claimed: Vec<Vec<u64>> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        let mut next_n = [0u32; 2];
        for t in &ticks {
            let (id, n) = check(t).unwrap();
            let i = (id - FIRST_PRODUCER) as usize;
            assert_eq!(n, next_n[i], "producer {id}'s ticks out of order");
            next_n[i] += 1;
            assert_eq!(claimed[i][n as usize], t.seq, "tick ({id}, {n}) under the wrong seq");
        }
        assert_eq!(ring.published(), total);
    });
}

#[test]
fn two_producers_one_tick_each_gating_consumer_reads_all_in_order() {
    two_producers_one_gating_consumer(1, false, 3);
}

#[test]
fn two_producers_two_ticks_each_gating_consumer_reads_all_in_order() {
    two_producers_one_gating_consumer(2, false, 2);
}

#[test]
fn a_producer_and_a_batch_gating_consumer_reads_all_in_order() {
    two_producers_one_gating_consumer(2, true, 2);
}

/// One producer publishes three ticks into two slots while a non-gating consumer reads: it may
/// be lapped, even mid-copy, but what it reads is whole and in order, and its gaps start where
/// it stood and account for everything it did not read.
fn non_gating_consumer_never_reads_a_torn_tick(max: usize, preemptions: usize) {
    model(preemptions, move || {
        let (ring, _) = Ring::builder(2).build().unwrap();
        let mut consumer = ring.subscribe("n");
        let mut producer = ring.producer();
        let writer = thread::spawn(move || {
            for n in 0..3 {
                producer.publish(tick(FIRST_PRODUCER, n));
            }
        });
        let (ticks, gaps) = drain(&mut consumer, 4, max);
        writer.join().unwrap();
        assert_single_producer_ticks(&ticks);
        // Replay reads and gaps in seq order: they must tile 1..4 exactly.
        let mut events: Vec<(u64, u64)> = seqs(&ticks).into_iter().map(|s| (s, s + 1)).collect();
        events.extend(gaps.iter().map(|g| (g.from, g.to)));
        events.sort_unstable();
        let mut next = 1;
        for (from, to) in events {
            assert_eq!(from, next, "reads {ticks:?} and gaps {gaps:?} do not tile 1..4");
            assert!(to > from, "empty gap in {gaps:?}");
            next = to;
        }
        assert_eq!(next, 4);
        let stats = ring.stats();
        let missed: u64 = gaps.iter().map(Gap::missed).sum();
        assert_eq!(
            (stats.consumers[0].lapped, stats.consumers[0].missed),
            (gaps.len() as u64, missed)
        );
    });
}

#[test]
fn non_gating_consumer_polling_one_at_a_time_never_reads_a_torn_tick() {
    non_gating_consumer_never_reads_a_torn_tick(1, 3);
}

#[test]
fn non_gating_consumer_polling_in_batches_never_reads_a_torn_tick() {
    non_gating_consumer_never_reads_a_torn_tick(3, 3);
}

/// A producer publishing three ticks (singly, or as one batch) into two slots claims seq 3
/// and must wait for the gating consumer: seq 1 is still whole when read after the claim, and
/// reading it releases the producer.
fn producer_blocked_on_a_full_ring(batch: bool, preemptions: usize) {
    model(preemptions, move || {
        let (ring, mut consumers) = Ring::builder(2).gating("g").build().unwrap();
        let mut consumer = consumers.pop().unwrap();
        let mut producer = ring.producer();
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
        let (first, _) = drain(&mut consumer, 2, 1);
        assert_eq!(seqs(&first), [1]);
        let (rest, gaps) = drain(&mut consumer, 4, 2);
        assert_eq!(gaps, []);
        assert_eq!(seqs(&rest), [2, 3]);
        assert_single_producer_ticks(&first);
        assert_single_producer_ticks(&rest);
        assert_eq!(writer.join().unwrap(), [1, 2, 3]);
    });
}

#[test]
fn producer_blocked_on_a_full_ring_is_released_by_the_gating_consumer() {
    producer_blocked_on_a_full_ring(false, 3);
}

#[test]
fn batch_blocked_on_a_full_ring_is_released_by_the_gating_consumer() {
    producer_blocked_on_a_full_ring(true, 3);
}

/// A producer blocked by two gating consumers, one of which has read everything written, is
/// released when the other is dropped.
#[test]
fn producer_blocked_on_a_full_ring_is_released_by_dropping_a_gating_consumer() {
    model(3, || {
        let (ring, mut consumers) = Ring::builder(2).gating("a").gating("b").build().unwrap();
        let lagging = consumers.pop().unwrap();
        let mut consumer = consumers.pop().unwrap();
        let mut producer = ring.producer();
        let writer = thread::spawn(move || {
            (0..3)
                .map(|n| producer.publish(tick(FIRST_PRODUCER, n)))
                .collect::<Vec<u64>>()
        });
        let (first, _) = drain(&mut consumer, 3, 2);
        while ring.published() < 3 {
            thread::yield_now();
        }
        drop(lagging);
        let (rest, gaps) = drain(&mut consumer, 4, 2);
        assert_eq!(gaps, []);
        assert_eq!(seqs(&first), [1, 2]);
        assert_eq!(seqs(&rest), [3]);
        assert_single_producer_ticks(&first);
        assert_single_producer_ticks(&rest);
        assert_eq!(writer.join().unwrap(), [1, 2, 3]);
    });
}

/// The ring is closed once its producer is done: a gating consumer waiting on another thread
/// reads both ticks before it sees `Closed`, however stale its view of the slots.
#[test]
fn close_lets_a_waiting_consumer_drain_before_closed() {
    model(3, || {
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
        let mut producer = ring.producer();
        let writer = thread::spawn(move || {
            producer.publish(tick(FIRST_PRODUCER, 0));
            producer.publish(tick(FIRST_PRODUCER, 1));
        });
        writer.join().unwrap();
        ring.close();
        let ticks = reader.join().unwrap();
        assert_eq!(seqs(&ticks), [1, 2]);
        assert_single_producer_ticks(&ticks);
    });
}
