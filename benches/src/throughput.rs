//! One producer -> three consumers, each on its own thread, `n` ticks per run.
//!
//! Each `run_*` function sets up its transport and threads, lines the threads up on a barrier,
//! then times from the producer's first publish until every consumer has accounted for the last
//! tick (delivered or missed) and its thread has been joined. Setup and the final checks are
//! outside the timed span.
//!
//! A [`Placement`] pins each thread to a core. Left to the scheduler, four busy threads on two
//! cores land in whichever arrangement it picks, and the arrangement moves the results more than
//! the data structures do (see `benches/BENCHMARKS.md`, session 8); pinned, every variant runs
//! in the same arrangement.

use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use disruptor::Producer as _;
use engine::{Consumer, Ring, Tick, WaitOutcome, WaitStrategy};

use crate::{Tally, expected_sum, make_tick};

/// Consumers per run.
pub const CONSUMERS: usize = 3;

/// Which core each thread of a run is pinned to: the producer, then consumers 0, 1 and 2. A
/// ring's gating consumers come first, so with the workload consumer 2 is the
/// non-gating one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    cores: [usize; CONSUMERS + 1],
}

impl Placement {
    /// Parses four core numbers written as digits, producer first: `0011` puts the producer
    /// and consumer 0 on core 0 and consumers 1 and 2 on core 1. Every core must exist.
    pub fn parse(spec: &str) -> Result<Placement, String> {
        let available = core_affinity::get_core_ids().map_or(0, |ids| ids.len());
        let digits: Vec<usize> = spec
            .chars()
            .map(|c| c.to_digit(10).map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("placement {spec:?}: expected digits, one core per thread"))?;
        let cores: [usize; CONSUMERS + 1] = digits.try_into().map_err(|_| {
            format!(
                "placement {spec:?}: expected {} digits (producer, then {CONSUMERS} consumers)",
                CONSUMERS + 1
            )
        })?;
        if let Some(&core) = cores.iter().find(|&&c| c >= available) {
            return Err(format!(
                "placement {spec:?}: core {core} does not exist ({available} cores available)"
            ));
        }
        Ok(Placement { cores })
    }

    /// The core the producer runs on.
    pub fn producer(&self) -> usize {
        self.cores[0]
    }

    /// The core consumer `i` runs on.
    pub fn consumer(&self, i: usize) -> usize {
        self.cores[1 + i]
    }
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.cores.iter().try_for_each(|c| write!(f, "{c}"))
    }
}

/// Pins the calling thread to `core`, if a placement asks for one. Panics if the pin fails:
/// a run that silently ran unpinned would report the wrong arrangement.
fn pin_current(core: Option<usize>) {
    if let Some(id) = core {
        assert!(
            core_affinity::set_for_current(core_affinity::CoreId { id }),
            "could not pin a bench thread to core {id}"
        );
    }
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// From the first publish until every consumer was done.
    pub elapsed: Duration,
    /// Ticks published.
    pub produced: u64,
    /// One per consumer.
    pub tallies: Vec<Tally>,
}

impl RunReport {
    /// Checks every consumer against what was produced (the checksums included).
    pub fn check(&self) -> Result<(), String> {
        let total = expected_sum(0, self.produced);
        if self.tallies.len() != CONSUMERS {
            return Err(format!("{} consumers reported", self.tallies.len()));
        }
        for (i, t) in self.tallies.iter().enumerate() {
            t.check(self.produced, total)
                .map_err(|e| format!("consumer {i}: {e}"))?;
        }
        Ok(())
    }

    /// Ticks delivered, summed over the consumers.
    pub fn delivered(&self) -> u64 {
        self.tallies.iter().map(|t| t.delivered).sum()
    }

    /// Ticks missed (lapped / lagged), summed over the consumers.
    pub fn missed(&self) -> u64 {
        self.tallies.iter().map(|t| t.missed).sum()
    }

    /// Times a consumer was lapped, summed over the consumers.
    pub fn laps(&self) -> u64 {
        self.tallies.iter().map(|t| t.gaps.len() as u64).sum()
    }
}

/// Settings for a nexamd ring run.
#[derive(Debug, Clone, Copy)]
pub struct RingConfig {
    /// Slots in the ring.
    pub capacity: usize,
    /// The ring's wait strategy.
    pub wait: WaitStrategy,
    /// 1: `publish` per tick; more: `publish_batch` with batches this large.
    pub batch: usize,
    /// `max` passed to `Consumer::poll`.
    pub poll_max: usize,
    /// How many of the three consumers gate producers; the rest subscribe as non-gating.
    pub gating: usize,
    /// Build the ring for a single producer (plain load/store claims).
    pub single_producer: bool,
    /// Pin the threads, or leave them to the scheduler (`None`).
    pub placement: Option<Placement>,
}

impl RingConfig {
    /// The defaults used by the benches: 65536 slots, the ring's default wait strategy,
    /// single publishes, polls of up to 4096, two gating consumers and one non-gating.
    pub fn new() -> RingConfig {
        RingConfig {
            capacity: CAPACITY,
            wait: WaitStrategy::default(),
            batch: 1,
            poll_max: 4096,
            gating: 2,
            single_producer: false,
            placement: None,
        }
    }
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig::new()
    }
}

/// Reads a ring consumer until the ring is closed and drained.
fn drain_ring(consumer: &mut Consumer, poll_max: usize) -> Tally {
    let mut tally = Tally::default();
    loop {
        match consumer.poll(poll_max, |t| tally.on_tick(t)) {
            Ok(0) => match consumer.wait(None) {
                WaitOutcome::Ready => {}
                WaitOutcome::Closed => break,
                WaitOutcome::TimedOut => unreachable!("wait without a deadline timed out"),
            },
            Ok(_) => {}
            // Sequences start at 1 and tick `i` gets sequence `i + 1`.
            Err(gap) => tally.on_gap(gap.from - 1, gap.missed()),
        }
    }
    tally
}

/// Runs `produce` on one thread and `consume` on one thread per reader, each pinned as `place`
/// says and lined up on a barrier. Times from the producer's start until every consumer has
/// returned its tally. `produce` must end the stream (close or drop its side) when done.
fn run_threads<R: Send>(
    n: u64,
    place: Option<Placement>,
    readers: Vec<R>,
    consume: impl Fn(R) -> Tally + Sync,
    produce: impl FnOnce() + Send,
) -> RunReport {
    let start_line = Barrier::new(readers.len() + 1);
    thread::scope(|s| {
        let start_line = &start_line;
        let consume = &consume;
        let handles: Vec<_> = readers
            .into_iter()
            .enumerate()
            .map(|(i, reader)| {
                s.spawn(move || {
                    pin_current(place.map(|p| p.consumer(i)));
                    start_line.wait();
                    consume(reader)
                })
            })
            .collect();
        // The producer gets a thread of its own too, so that it can be pinned.
        let producing = s.spawn(move || {
            pin_current(place.map(|p| p.producer()));
            start_line.wait();
            let start = Instant::now();
            produce();
            start
        });
        let start = producing.join().expect("producer thread panicked");
        let tallies: Vec<Tally> = handles
            .into_iter()
            .map(|h| h.join().expect("consumer thread panicked"))
            .collect();
        RunReport {
            elapsed: start.elapsed(),
            produced: n,
            tallies,
        }
    })
}

/// nexamd ring: `cfg.gating` gating consumers, the rest of the three non-gating.
pub fn run_ring(n: u64, cfg: RingConfig) -> RunReport {
    let gating = cfg.gating.min(CONSUMERS);
    let builder = (0..gating).fold(Ring::builder(cfg.capacity), |b, i| {
        b.gating(&format!("gating-{i}"))
    });
    let builder = builder.wait_strategy(cfg.wait);
    let builder = if cfg.single_producer {
        builder.single_producer()
    } else {
        builder
    };
    let (ring, mut consumers) = builder.build().expect("valid ring capacity");
    consumers.extend((gating..CONSUMERS).map(|i| ring.subscribe(&format!("non-gating-{i}"))));
    let mut producer = ring.producer().unwrap();
    let batch = cfg.batch.max(1);

    run_threads(
        n,
        cfg.placement,
        consumers,
        |mut consumer| drain_ring(&mut consumer, cfg.poll_max),
        move || {
            if batch == 1 {
                for i in 0..n {
                    producer.publish(make_tick(i));
                }
            } else {
                let mut buf: Vec<Tick> = Vec::with_capacity(batch);
                let mut i = 0;
                while i < n {
                    let end = (i + batch as u64).min(n);
                    buf.clear();
                    buf.extend((i..end).map(make_tick));
                    producer.publish_batch(&buf);
                    i = end;
                }
            }
            drop(producer);
            ring.close();
        },
    )
}

/// crossbeam-channel: one bounded channel per consumer; the producer sends each a copy.
pub fn run_crossbeam(n: u64, capacity: usize, place: Option<Placement>) -> RunReport {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..CONSUMERS)
        .map(|_| crossbeam_channel::bounded::<Tick>(capacity))
        .unzip();
    run_threads(
        n,
        place,
        receivers,
        |rx| {
            let mut tally = Tally::default();
            for t in rx.iter() {
                tally.on_tick(&t);
            }
            tally
        },
        move || {
            for i in 0..n {
                let t = make_tick(i);
                for tx in &senders {
                    tx.send(t).expect("receiver alive");
                }
            }
            drop(senders);
        },
    )
}

/// tokio broadcast: one channel, three receivers on their own threads (`blocking_recv`).
/// A receiver that lags counts the ticks it lost as missed.
pub fn run_tokio_broadcast(n: u64, capacity: usize, place: Option<Placement>) -> RunReport {
    use tokio::sync::broadcast::{self, error::RecvError};

    let (tx, first) = broadcast::channel::<Tick>(capacity);
    let mut receivers = vec![first];
    receivers.extend((1..CONSUMERS).map(|_| tx.subscribe()));
    run_threads(
        n,
        place,
        receivers,
        |mut rx| {
            let mut tally = Tally::default();
            loop {
                match rx.blocking_recv() {
                    Ok(t) => tally.on_tick(&t),
                    Err(RecvError::Lagged(lost)) => tally.on_gap(tally.seen(), lost),
                    Err(RecvError::Closed) => break,
                }
            }
            tally
        },
        move || {
            for i in 0..n {
                tx.send(make_tick(i)).expect("receivers alive");
            }
            drop(tx);
        },
    )
}

/// The `disruptor` crate's event: a [`Tick`], cache-line aligned like a nexamd ring slot so
/// neighbouring events never share a line.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
pub struct DisruptorEvent(pub Tick);

/// A `disruptor` wait strategy that yields the core on every empty check: the closest the crate
/// gets to nexamd's spin -> yield -> park on a machine with fewer cores than threads.
#[derive(Debug, Clone, Copy)]
pub struct YieldWait;

impl disruptor::wait_strategies::WaitStrategy for YieldWait {
    #[inline]
    fn wait_for(&self, _sequence: disruptor::Sequence) {
        thread::yield_now();
    }
}

/// How the disruptor run waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisruptorWait {
    /// Consumers `BusySpinWithSpinLoopHint`; the producer spins in `publish` when full.
    SpinHint,
    /// Consumers [`YieldWait`]; the producer yields between `try_publish` attempts when full.
    Yield,
}

/// The `disruptor` crate (single producer): three event handlers on threads it manages.
/// `batch` > 1 uses `batch_publish`.
pub fn run_disruptor(
    n: u64,
    capacity: usize,
    wait: DisruptorWait,
    batch: usize,
    place: Option<Placement>,
) -> RunReport {
    let run = DisruptorRun {
        n,
        capacity,
        batch,
        place,
    };
    match wait {
        DisruptorWait::SpinHint => run.go(disruptor::BusySpinWithSpinLoopHint, false),
        DisruptorWait::Yield => run.go(YieldWait, true),
    }
}

/// One `disruptor` run's settings.
struct DisruptorRun {
    n: u64,
    capacity: usize,
    batch: usize,
    place: Option<Placement>,
}

impl DisruptorRun {
    fn go<W>(self, wait: W, producer_yields: bool) -> RunReport
    where
        W: disruptor::wait_strategies::WaitStrategy + 'static,
    {
        let DisruptorRun {
            n,
            capacity,
            batch,
            place,
        } = self;
        let results: Vec<Arc<Mutex<Option<Tally>>>> =
            (0..CONSUMERS).map(|_| Arc::new(Mutex::new(None))).collect();
        let handler = |slot: &Arc<Mutex<Option<Tally>>>| {
            let slot = Arc::clone(slot);
            let mut tally = Tally::default();
            move |e: &DisruptorEvent, _seq: disruptor::Sequence, _end_of_batch: bool| {
                tally.on_tick(&e.0);
                if tally.seen() == n {
                    *slot.lock().expect("result lock") = Some(tally.clone());
                }
            }
        };
        let core = |i: usize| place.map(|p| p.consumer(i));
        let builder =
            disruptor::build_single_producer(capacity, || DisruptorEvent(make_tick(0)), wait);
        let builder = pin_next(builder, core(0)).handle_events_with(handler(&results[0]));
        let builder = pin_next(builder, core(1)).handle_events_with(handler(&results[1]));
        let mut producer = pin_next(builder, core(2))
            .handle_events_with(handler(&results[2]))
            .build();

        // The producer runs on a thread of its own, as with the ring, so that it can be pinned.
        let elapsed = thread::scope(|s| {
            s.spawn(move || {
                pin_current(place.map(|p| p.producer()));
                let start = Instant::now();
                let batch = batch.max(1) as u64;
                let mut i = 0;
                while i < n {
                    let len = batch.min(n - i);
                    if len == 1 {
                        let t = make_tick(i);
                        if producer_yields {
                            while producer.try_publish(|e| e.0 = t).is_err() {
                                thread::yield_now();
                            }
                        } else {
                            producer.publish(|e| e.0 = t);
                        }
                    } else if producer_yields {
                        while producer
                            .try_batch_publish(len as usize, |iter| {
                                for (e, j) in iter.zip(i..) {
                                    e.0 = make_tick(j);
                                }
                            })
                            .is_err()
                        {
                            thread::yield_now();
                        }
                    } else {
                        producer.batch_publish(len as usize, |iter| {
                            for (e, j) in iter.zip(i..) {
                                e.0 = make_tick(j);
                            }
                        });
                    }
                    i += len;
                }
                // Dropping the producer waits for the handlers to drain and joins their threads.
                drop(producer);
                start.elapsed()
            })
            .join()
            .expect("producer thread panicked")
        });
        let tallies = results
            .iter()
            .map(|r| r.lock().expect("result lock").take().unwrap_or_default())
            .collect();
        RunReport {
            elapsed,
            produced: n,
            tallies,
        }
    }
}

/// Pins the `disruptor` builder's next event handler to `core`, if there is one.
fn pin_next<E, W, B: disruptor::ProcessorSettings<E, W>>(builder: B, core: Option<usize>) -> B {
    match core {
        Some(id) => builder.pin_at_core(id),
        None => builder,
    }
}

/// Ring capacity (and channel capacity) used by the named variants.
pub const CAPACITY: usize = 65_536;
/// Batch size of the batched variants.
pub const BATCH: usize = 64;
/// Spins before yielding in the ring's `Yield` variants.
pub const YIELD_SPINS: u32 = 256;

/// A ring run with the bench defaults (`RingConfig::new`) changed by `cfg`.
fn ring(n: u64, place: Option<Placement>, cfg: impl FnOnce(&mut RingConfig)) -> RunReport {
    let mut config = RingConfig {
        placement: place,
        ..RingConfig::new()
    };
    cfg(&mut config);
    run_ring(n, config)
}

/// The `disruptor` baseline's wait: a yield on every empty check, as the ring's `_yield`
/// variants below.
const YIELD_ON_EMPTY: WaitStrategy = WaitStrategy::Yield { spins: 0 };
const YIELD: WaitStrategy = WaitStrategy::Yield { spins: YIELD_SPINS };

/// A named workload: `run(n, placement)` publishes `n` ticks to three consumers.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// The name used in reports and criterion ids.
    pub name: &'static str,
    /// Runs the workload with `n` ticks, its threads pinned as the placement says (`None`:
    /// left to the scheduler).
    pub run: fn(u64, Option<Placement>) -> RunReport,
}

/// Every named variant, nexamd first, then the baselines.
pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "nexamd_ring",
        run: |n, p| ring(n, p, |_| {}),
    },
    Variant {
        name: "nexamd_ring_batch",
        run: |n, p| ring(n, p, |c| c.batch = BATCH),
    },
    Variant {
        name: "nexamd_ring_sp",
        run: |n, p| ring(n, p, |c| c.single_producer = true),
    },
    // A single-producer ring whose threads wait as the `disruptor` baseline does.
    Variant {
        name: "nexamd_ring_sp_yield",
        run: |n, p| {
            ring(n, p, |c| {
                c.single_producer = true;
                c.wait = YIELD_ON_EMPTY;
            })
        },
    },
    Variant {
        name: "nexamd_ring_sp_3gating_yield",
        run: |n, p| {
            ring(n, p, |c| {
                c.single_producer = true;
                c.wait = YIELD_ON_EMPTY;
                c.gating = 3;
            })
        },
    },
    Variant {
        name: "nexamd_ring_batch_sp",
        run: |n, p| {
            ring(n, p, |c| {
                c.single_producer = true;
                c.batch = BATCH;
            })
        },
    },
    Variant {
        name: "nexamd_ring_yield",
        run: |n, p| ring(n, p, |c| c.wait = YIELD),
    },
    Variant {
        name: "nexamd_ring_batch_yield",
        run: |n, p| {
            ring(n, p, |c| {
                c.wait = YIELD;
                c.batch = BATCH;
            })
        },
    },
    Variant {
        name: "nexamd_ring_3gating",
        run: |n, p| ring(n, p, |c| c.gating = 3),
    },
    Variant {
        name: "nexamd_ring_batch_3gating",
        run: |n, p| {
            ring(n, p, |c| {
                c.gating = 3;
                c.batch = BATCH;
            })
        },
    },
    Variant {
        name: "crossbeam_channel",
        run: |n, p| run_crossbeam(n, CAPACITY, p),
    },
    Variant {
        name: "tokio_broadcast",
        run: |n, p| run_tokio_broadcast(n, CAPACITY, p),
    },
    Variant {
        name: "disruptor",
        run: |n, p| run_disruptor(n, CAPACITY, DisruptorWait::Yield, 1, p),
    },
    Variant {
        name: "disruptor_batch",
        run: |n, p| run_disruptor(n, CAPACITY, DisruptorWait::Yield, BATCH, p),
    },
    Variant {
        name: "disruptor_busyspin",
        run: |n, p| run_disruptor(n, CAPACITY, DisruptorWait::SpinHint, 1, p),
    },
];

/// The variant called `name`.
pub fn variant(name: &str) -> Option<Variant> {
    VARIANTS.iter().copied().find(|v| v.name == name)
}
