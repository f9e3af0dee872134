//! Model-based property test of the tick ring on real threads.
//!
//! Each case draws a plan (ring capacity, wait strategy, 1-3 producers publishing singly and in
//! batches, 0-2 gating and 0-2 non-gating consumers with their own poll sizes and pauses), runs
//! it on OS threads, and checks what every consumer saw against a model of the ring:
//!
//! - each gating consumer reads seqs `1..=total` exactly once, in order, and each producer's
//!   ticks in the order it published them;
//! - each non-gating consumer reads strictly increasing seqs, and every gap it reports starts
//!   where it stood and accounts, together with the ticks it read, for every seq it moved past;
//! - every tick read, by any consumer, is whole (see `common::check`) and is the very tick that
//!   was published under its seq, as far as a producer or a gating consumer tells.
//!
//! `PROPTEST_CASES=N` runs more cases than the default.

#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use engine::{Consumer, Gap, Producer, Ring, Tick, WaitOutcome, WaitStrategy};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

use common::{FIRST_PRODUCER, check, tick};

/// No case may take longer; a consumer still waiting then fails the case.
const DEADLINE: Duration = Duration::from_secs(20);
/// Cases run by default: a few seconds in a debug build on two cores.
const CASES: u32 = 1024;

/// Totals over all cases, printed at the end (`--nocapture`) to show what the run exercised.
static PUBLISHED: AtomicU64 = AtomicU64::new(0);
static GATING_READS: AtomicU64 = AtomicU64::new(0);
static OTHER_READS: AtomicU64 = AtomicU64::new(0);
static GAPS: AtomicU64 = AtomicU64::new(0);
static MISSED: AtomicU64 = AtomicU64::new(0);

/// One publishing call.
#[derive(Debug, Clone)]
enum Publish {
    One,
    /// A batch of this many ticks (maybe none); may exceed the capacity, which splits it into
    /// chunks.
    Batch(usize),
}

#[derive(Debug, Clone)]
struct ProducerPlan {
    calls: Vec<Publish>,
    /// Bit `i % 64` set: yield before call `i`.
    yields: u64,
}

#[derive(Debug, Clone)]
struct ConsumerPlan {
    /// `max` of successive polls, cycled.
    polls: Vec<usize>,
    /// Bit `i % 64` set: yield `pause` times after poll `i`.
    yields: u64,
    pause: u8,
    /// Non-gating only: subscribe from the consumer's thread, while producers run.
    late: bool,
}

#[derive(Debug, Clone)]
struct Plan {
    capacity: usize,
    wait: WaitStrategy,
    producers: Vec<ProducerPlan>,
    gating: Vec<ConsumerPlan>,
    others: Vec<ConsumerPlan>,
}

fn wait_strategy() -> impl Strategy<Value = WaitStrategy> {
    prop_oneof![
        Just(WaitStrategy::default()),
        // Parks at once: exercises the sleep / wake-up path on every wait.
        Just(WaitStrategy::Park {
            spins: 0,
            yields: 0,
            park: Duration::from_millis(1),
        }),
        Just(WaitStrategy::Yield { spins: 8 }),
    ]
}

fn producer_plan() -> impl Strategy<Value = ProducerPlan> {
    let call = prop_oneof![
        3 => Just(Publish::One),
        1 => (0usize..=100).prop_map(Publish::Batch),
    ];
    (vec(call, 0..40), any::<u64>()).prop_map(|(calls, yields)| ProducerPlan { calls, yields })
}

fn consumer_plan(may_be_late: bool) -> impl Strategy<Value = ConsumerPlan> {
    (vec(1usize..=80, 1..6), any::<u64>(), 0u8..4, any::<bool>()).prop_map(
        move |(polls, yields, pause, late)| ConsumerPlan {
            polls,
            yields,
            pause,
            late: late && may_be_late,
        },
    )
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        (1u32..=6).prop_map(|shift| 1usize << shift),
        wait_strategy(),
        vec(producer_plan(), 1..=3),
        vec(consumer_plan(false), 0..=2),
        vec(consumer_plan(true), 0..=2),
    )
        .prop_map(|(capacity, wait, producers, gating, others)| Plan {
            capacity,
            wait,
            producers,
            gating,
            others,
        })
}

/// The seq each of a producer's ticks got, where the ring says it exactly: always for
/// `publish`, for `publish_batch` when the range it returns is as long as the batch.
type Claims = Vec<Option<u64>>;

fn produce(mut producer: Producer, id: u32, plan: &ProducerPlan) -> Result<Claims, String> {
    let mut claims = Vec::new();
    let mut n = 0;
    for (i, call) in plan.calls.iter().enumerate() {
        if plan.yields >> (i % 64) & 1 == 1 {
            thread::yield_now();
        }
        match *call {
            Publish::One => {
                claims.push(Some(producer.publish(tick(id, n))));
                n += 1;
            }
            Publish::Batch(len) => {
                let ticks: Vec<Tick> = (n..n + len as u32).map(|n| tick(id, n)).collect();
                let range = producer.publish_batch(&ticks);
                let spanned = range.end.saturating_sub(range.start);
                let valid = if len == 0 {
                    spanned == 0
                } else {
                    spanned >= len as u64 && range.start >= 1
                };
                if !valid {
                    return Err(format!("batch of {len} got seqs {range:?}"));
                }
                let exact = spanned == len as u64;
                claims.extend(range.take(len).map(|seq| exact.then_some(seq)));
                n += len as u32;
            }
        }
    }
    Ok(claims)
}

/// What one consumer saw.
#[derive(Debug)]
struct Seen {
    /// Its cursor when it started and after `Closed`.
    start: u64,
    end: u64,
    ticks: Vec<Tick>,
    gaps: Vec<Gap>,
}

fn consume(
    ring: &Ring,
    consumer: Option<Consumer>,
    name: &str,
    plan: &ConsumerPlan,
    deadline: Instant,
) -> Result<Seen, String> {
    let mut consumer = match consumer {
        Some(consumer) => consumer,
        None => {
            for _ in 0..plan.pause {
                thread::yield_now();
            }
            ring.subscribe(name)
        }
    };
    let mut seen = Seen {
        start: consumer.cursor(),
        end: 0,
        ticks: Vec::new(),
        gaps: Vec::new(),
    };
    for i in 0.. {
        match consumer.wait(Some(deadline)) {
            WaitOutcome::Ready => {}
            WaitOutcome::Closed => break,
            WaitOutcome::TimedOut => {
                return Err(format!("{name} timed out at {}", consumer.cursor()));
            }
        }
        let max = plan.polls[i % plan.polls.len()];
        let before = (consumer.cursor(), seen.ticks.len());
        let result = consumer.poll(max, |t| seen.ticks.push(*t));
        let read = seen.ticks.len() - before.1;
        let moved = consumer.cursor() - before.0;
        match result {
            Ok(n) if n == read && n <= max && moved == n as u64 => {}
            Err(gap) if read < max && moved == read as u64 + gap.missed() => {
                seen.gaps.push(gap);
            }
            _ => {
                return Err(format!(
                    "{name}: poll({max}) from {} returned {result:?} after {read} ticks, \
                     cursor moved {moved}",
                    before.0
                ));
            }
        }
        if plan.yields >> (i % 64) & 1 == 1 {
            for _ in 0..=plan.pause {
                thread::yield_now();
            }
        }
    }
    if consumer.poll(usize::MAX, |_| {}) != Ok(0) {
        return Err(format!("{name} had more to read after Closed"));
    }
    seen.end = consumer.cursor();
    // The consumer's own counters, read by the only thread that writes them.
    let stats = ring.stats();
    let Some(mine) = stats.consumers.iter().find(|c| c.name == name) else {
        return Err(format!("{name} is missing from {stats:?}"));
    };
    let missed: u64 = seen.gaps.iter().map(Gap::missed).sum();
    if (mine.lag, mine.lapped, mine.missed) != (0, seen.gaps.len() as u64, missed) {
        return Err(format!("{name}: stats {mine:?} disagree with {seen:?}"));
    }
    Ok(seen)
}

fn join<T>(handle: thread::ScopedJoinHandle<'_, Result<T, String>>) -> Result<T, TestCaseError> {
    match handle.join() {
        Ok(result) => result.map_err(TestCaseError::fail),
        Err(_) => Err(TestCaseError::fail("a thread panicked")),
    }
}

/// Runs `plan` and checks every consumer's view against the model.
fn run(plan: &Plan) -> Result<(), TestCaseError> {
    let deadline = Instant::now() + DEADLINE;
    let mut builder = Ring::builder(plan.capacity).wait_strategy(plan.wait);
    if plan.producers.len() == 1 && plan.capacity.is_multiple_of(4) {
        // Half the one-producer plans use the single-producer claim path.
        builder = builder.single_producer();
    }
    for i in 0..plan.gating.len() {
        builder = builder.gating(&format!("gating-{i}"));
    }
    let (ring, gating) = builder
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let early: Vec<Option<Consumer>> = plan
        .others
        .iter()
        .enumerate()
        .map(|(i, p)| (!p.late).then(|| ring.subscribe(&format!("other-{i}"))))
        .collect();

    let (claims, gating_seen, others_seen) = thread::scope(|s| {
        let ring = &ring;
        let gating: Vec<_> = gating
            .into_iter()
            .zip(&plan.gating)
            .enumerate()
            .map(|(i, (c, p))| {
                s.spawn(move || consume(ring, Some(c), &format!("gating-{i}"), p, deadline))
            })
            .collect();
        let others: Vec<_> = early
            .into_iter()
            .zip(&plan.others)
            .enumerate()
            .map(|(i, (c, p))| {
                s.spawn(move || consume(ring, c, &format!("other-{i}"), p, deadline))
            })
            .collect();
        let producers: Vec<_> = plan
            .producers
            .iter()
            .zip(FIRST_PRODUCER..)
            .map(|(p, id)| {
                let producer = ring.producer().unwrap();
                s.spawn(move || produce(producer, id, p))
            })
            .collect();
        let claims: Vec<_> = producers.into_iter().map(join).collect();
        ring.close();
        let gating: Vec<_> = gating.into_iter().map(join).collect();
        let others: Vec<_> = others.into_iter().map(join).collect();
        (claims, gating, others)
    });
    let claims = claims.into_iter().collect::<Result<Vec<_>, _>>()?;
    let gating_seen = gating_seen.into_iter().collect::<Result<Vec<_>, _>>()?;
    let others_seen = others_seen.into_iter().collect::<Result<Vec<_>, _>>()?;

    // The model: which tick went out under which seq, as far as the producers know.
    let counts: Vec<u32> = claims.iter().map(|c| c.len() as u32).collect();
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    prop_assert_eq!(ring.published(), total);
    let mut model: Vec<Option<(u32, u32)>> = vec![None; total as usize + 1];
    for (id, claims) in (FIRST_PRODUCER..).zip(&claims) {
        for (n, seq) in (0..).zip(claims) {
            let Some(seq) = *seq else { continue };
            prop_assert!(
                (1..=total).contains(&seq),
                "seq {} out of 1..={}",
                seq,
                total
            );
            prop_assert_eq!(model[seq as usize], None, "seq {} claimed twice", seq);
            model[seq as usize] = Some((id, n));
        }
    }
    if plan.producers.len() == 1 || plan.producers.iter().all(|p| no_chunks(p, plan.capacity)) {
        prop_assert!(
            model[1..].iter().all(Option::is_some),
            "a batch got inexact seqs"
        );
    }

    for (i, seen) in gating_seen.iter().enumerate() {
        let seqs: Vec<u64> = seen.ticks.iter().map(|t| t.seq).collect();
        prop_assert!(
            seqs.iter().copied().eq(1..=total),
            "gating-{} read seqs {:?}, not 1..={}",
            i,
            seqs,
            total
        );
        prop_assert!(
            seen.gaps.is_empty(),
            "gating-{} got gaps {:?}",
            i,
            seen.gaps
        );
        prop_assert_eq!((seen.start, seen.end), (1, total + 1));
        let mut next_n = vec![0u32; counts.len()];
        for t in &seen.ticks {
            let (id, n) = check(t).map_err(TestCaseError::fail)?;
            let expected = model[t.seq as usize].get_or_insert((id, n));
            prop_assert_eq!(*expected, (id, n), "gating-{} at seq {}", i, t.seq);
            let next = &mut next_n[(id - FIRST_PRODUCER) as usize];
            prop_assert_eq!(n, *next, "gating-{} read producer {} out of order", i, id);
            *next += 1;
        }
        prop_assert_eq!(&next_n, &counts);
    }

    for (i, seen) in others_seen.iter().enumerate() {
        prop_assert!(seen.start >= 1 && seen.start <= total + 1);
        prop_assert_eq!(seen.end, total + 1, "other-{} stopped early", i);
        let mut gaps = seen.gaps.iter().peekable();
        let mut next = seen.start;
        let mut last_n = vec![None; counts.len()];
        for t in &seen.ticks {
            while let Some(gap) = gaps.next_if(|g| g.from == next) {
                prop_assert!(gap.to > gap.from, "other-{}: empty gap {:?}", i, gap);
                next = gap.to;
            }
            prop_assert_eq!(t.seq, next, "other-{}: seqs out of order", i);
            next += 1;
            let (id, n) = check(t).map_err(TestCaseError::fail)?;
            if let Some(expected) = model[t.seq as usize] {
                prop_assert_eq!(expected, (id, n), "other-{} read a stale tick", i);
            }
            let last = &mut last_n[(id - FIRST_PRODUCER) as usize];
            prop_assert!(
                *last < Some(n),
                "other-{} read producer {} out of order",
                i,
                id
            );
            *last = Some(n);
        }
        while let Some(gap) = gaps.next_if(|g| g.from == next) {
            prop_assert!(gap.to > gap.from, "other-{}: empty gap {:?}", i, gap);
            next = gap.to;
        }
        prop_assert_eq!(gaps.next(), None, "other-{}: gap not where it stood", i);
        prop_assert_eq!(next, seen.end, "other-{}: reads and gaps do not add up", i);
    }

    PUBLISHED.fetch_add(total, Ordering::Relaxed);
    for seen in &gating_seen {
        GATING_READS.fetch_add(seen.ticks.len() as u64, Ordering::Relaxed);
    }
    for seen in &others_seen {
        OTHER_READS.fetch_add(seen.ticks.len() as u64, Ordering::Relaxed);
        GAPS.fetch_add(seen.gaps.len() as u64, Ordering::Relaxed);
        MISSED.fetch_add(seen.gaps.iter().map(Gap::missed).sum(), Ordering::Relaxed);
    }
    Ok(())
}

/// Whether every batch of `plan` fits in one chunk, so its seqs are exact.
fn no_chunks(plan: &ProducerPlan, capacity: usize) -> bool {
    plan.calls
        .iter()
        .all(|c| !matches!(*c, Publish::Batch(len) if len > capacity))
}

#[test]
fn every_consumer_sees_what_the_model_allows() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES);
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 256,
        // `SourceParallel` finds no lib.rs above tests/, so name the file outright.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/ring_model.txt"
        )))),
        ..Config::default()
    });
    if let Err(e) = runner.run(&plan(), |plan| run(&plan)) {
        panic!("{e}");
    }
    eprintln!(
        "{cases} cases: {} ticks published, {} read by gating consumers, {} by non-gating ones, \
         which reported {} gaps covering {} ticks",
        PUBLISHED.load(Ordering::Relaxed),
        GATING_READS.load(Ordering::Relaxed),
        OTHER_READS.load(Ordering::Relaxed),
        GAPS.load(Ordering::Relaxed),
        MISSED.load(Ordering::Relaxed),
    );
}
