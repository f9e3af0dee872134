//! Publish -> consume latency at a paced rate, one producer and three consumers.
//!
//! The producer follows a fixed schedule (tick `i` is due at `t0 + i / rate`), busy-waiting (with
//! a spin hint or `yield_now`, see [`Pace`]) until each tick is due (no sleep per tick), then stamps the tick's `ts_recv` with
//! a monotonic clock reading (ns since a shared [`Instant`]) and publishes it. Each consumer
//! records `now - ts_recv` into its own histogram. The stamp is the moment of the publish call,
//! so a producer that falls behind its schedule does not inflate the figures; how late it was is
//! recorded separately ([`LatencyReport::lateness`]).

use std::hint::spin_loop;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use engine::{Ring, Tick, WaitOutcome, WaitStrategy};
use hdrhistogram::Histogram;

use crate::Tally;
use crate::throughput::CONSUMERS;

/// Settings for one latency run.
#[derive(Debug, Clone, Copy)]
pub struct LatencyConfig {
    /// Ticks to publish.
    pub ticks: u64,
    /// Ticks per second.
    pub rate: u64,
    /// The first `warmup` ticks are delivered but not recorded.
    pub warmup: u64,
    /// Ring slots / channel capacity.
    pub capacity: usize,
    /// How the producer waits for each tick's due time.
    pub pace: Pace,
}

/// How the paced producer waits for the next tick's due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Busy-wait with a spin hint: the producer keeps its core, so on a small machine a consumer
    /// that shares that core waits for the scheduler to preempt the producer.
    Spin,
    /// Busy-wait calling `yield_now`: a consumer that shares the producer's core gets to run.
    Yield,
}

/// What one latency run measured.
#[derive(Debug)]
pub struct LatencyReport {
    /// Per consumer: publish -> consume latency, ns.
    pub consumers: Vec<Histogram<u64>>,
    /// How far behind its schedule the producer published each tick, ns.
    pub lateness: Histogram<u64>,
    /// From the first tick's due time to the end of the run.
    pub elapsed: Duration,
    /// Ticks published.
    pub produced: u64,
    /// Ticks the consumers missed (lapped / lagged), summed.
    pub missed: u64,
}

impl LatencyReport {
    /// All consumers' latencies in one histogram.
    pub fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for h in &self.consumers {
            all.add(h).expect("histograms with the same bounds");
        }
        all
    }

    /// Adds another run of the same variant (histograms, counts and time).
    pub fn absorb(&mut self, other: LatencyReport) {
        for (mine, theirs) in self.consumers.iter_mut().zip(&other.consumers) {
            mine.add(theirs).expect("histograms with the same bounds");
        }
        self.lateness
            .add(&other.lateness)
            .expect("histograms with the same bounds");
        self.elapsed += other.elapsed;
        self.produced += other.produced;
        self.missed += other.missed;
    }
}

/// A histogram from 1 ns to 60 s with 3 significant figures.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Nanoseconds since `epoch` on the monotonic clock.
#[inline]
fn mono_ns(epoch: Instant) -> i64 {
    epoch.elapsed().as_nanos() as i64
}

/// Records one delivered tick: order and count in `tally`, latency in `hist` (after warm-up).
#[inline]
fn record(tally: &mut Tally, hist: &mut Histogram<u64>, epoch: Instant, warmup: u64, t: &Tick) {
    let now = mono_ns(epoch);
    tally.on_tick(t);
    if t.ts_event as u64 >= warmup {
        hist.saturating_record((now - t.ts_recv).max(1) as u64);
    }
}

/// Drives the producer side: waits for each tick's due time, stamps and hands it to `send`.
fn paced_produce(
    cfg: &LatencyConfig,
    epoch: Instant,
    lateness: &mut Histogram<u64>,
    mut send: impl FnMut(Tick),
) -> Duration {
    let interval = 1e9 / cfg.rate.max(1) as f64;
    let t0 = mono_ns(epoch) + 1_000_000;
    for i in 0..cfg.ticks {
        let due = t0 + (i as f64 * interval) as i64;
        let mut now = mono_ns(epoch);
        while now < due {
            match cfg.pace {
                Pace::Spin => spin_loop(),
                Pace::Yield => thread::yield_now(),
            }
            now = mono_ns(epoch);
        }
        lateness.saturating_record((now - due).max(1) as u64);
        let mut t = crate::make_tick(i);
        t.ts_recv = now;
        send(t);
    }
    Duration::from_nanos((mono_ns(epoch) - t0).max(0) as u64)
}

fn finish(
    cfg: &LatencyConfig,
    elapsed: Duration,
    lateness: Histogram<u64>,
    results: Vec<(Tally, Histogram<u64>)>,
) -> LatencyReport {
    let mut missed = 0;
    let mut consumers = Vec::new();
    for (i, (tally, hist)) in results.into_iter().enumerate() {
        assert_eq!(tally.seen(), cfg.ticks, "consumer {i} lost ticks");
        assert_eq!(tally.disorder, 0, "consumer {i} saw ticks out of order");
        missed += tally.missed;
        consumers.push(hist);
    }
    LatencyReport {
        consumers,
        lateness,
        elapsed,
        produced: cfg.ticks,
        missed,
    }
}

/// The nexamd ring: two gating consumers and one non-gating, `wait` as the wait strategy.
pub fn ring(cfg: LatencyConfig, wait: WaitStrategy) -> LatencyReport {
    let (ring, mut consumers) = Ring::builder(cfg.capacity)
        .gating("gating-a")
        .gating("gating-b")
        .wait_strategy(wait)
        .build()
        .expect("valid ring capacity");
    consumers.push(ring.subscribe("non-gating"));
    let mut producer = ring.producer().unwrap();
    let epoch = Instant::now();
    let start_line = Barrier::new(CONSUMERS + 1);
    let mut lateness = new_histogram();

    thread::scope(|s| {
        let handles: Vec<_> = consumers
            .into_iter()
            .map(|mut consumer| {
                let start_line = &start_line;
                s.spawn(move || {
                    let mut tally = Tally::default();
                    let mut hist = new_histogram();
                    start_line.wait();
                    loop {
                        let polled = consumer.poll(4096, |t| {
                            record(&mut tally, &mut hist, epoch, cfg.warmup, t)
                        });
                        match polled {
                            Ok(0) => match consumer.wait(None) {
                                WaitOutcome::Ready => {}
                                WaitOutcome::Closed => break,
                                WaitOutcome::TimedOut => unreachable!("no deadline"),
                            },
                            Ok(_) => {}
                            Err(gap) => tally.on_gap(gap.from - 1, gap.missed()),
                        }
                    }
                    (tally, hist)
                })
            })
            .collect();
        start_line.wait();
        let elapsed = paced_produce(&cfg, epoch, &mut lateness, |t| {
            producer.publish(t);
        });
        drop(producer);
        ring.close();
        let results = handles
            .into_iter()
            .map(|h| h.join().expect("consumer thread panicked"))
            .collect();
        finish(&cfg, elapsed, lateness, results)
    })
}

/// crossbeam-channel: one bounded channel per consumer.
pub fn crossbeam(cfg: LatencyConfig) -> LatencyReport {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..CONSUMERS)
        .map(|_| crossbeam_channel::bounded::<Tick>(cfg.capacity))
        .unzip();
    let epoch = Instant::now();
    let start_line = Barrier::new(CONSUMERS + 1);
    let mut lateness = new_histogram();

    thread::scope(|s| {
        let handles: Vec<_> = receivers
            .into_iter()
            .map(|rx| {
                let start_line = &start_line;
                s.spawn(move || {
                    let mut tally = Tally::default();
                    let mut hist = new_histogram();
                    start_line.wait();
                    for t in rx.iter() {
                        record(&mut tally, &mut hist, epoch, cfg.warmup, &t);
                    }
                    (tally, hist)
                })
            })
            .collect();
        start_line.wait();
        let elapsed = paced_produce(&cfg, epoch, &mut lateness, |t| {
            for tx in &senders {
                tx.send(t).expect("receiver alive");
            }
        });
        drop(senders);
        let results = handles
            .into_iter()
            .map(|h| h.join().expect("consumer thread panicked"))
            .collect();
        finish(&cfg, elapsed, lateness, results)
    })
}

/// tokio broadcast: three receivers on their own threads (`blocking_recv`).
pub fn tokio_broadcast(cfg: LatencyConfig) -> LatencyReport {
    use tokio::sync::broadcast::{self, error::RecvError};

    let (tx, first) = broadcast::channel::<Tick>(cfg.capacity);
    let mut receivers = vec![first];
    receivers.extend((1..CONSUMERS).map(|_| tx.subscribe()));
    let epoch = Instant::now();
    let start_line = Barrier::new(CONSUMERS + 1);
    let mut lateness = new_histogram();

    thread::scope(|s| {
        let handles: Vec<_> = receivers
            .into_iter()
            .map(|mut rx| {
                let start_line = &start_line;
                s.spawn(move || {
                    let mut tally = Tally::default();
                    let mut hist = new_histogram();
                    start_line.wait();
                    loop {
                        match rx.blocking_recv() {
                            Ok(t) => record(&mut tally, &mut hist, epoch, cfg.warmup, &t),
                            Err(RecvError::Lagged(lost)) => tally.on_gap(tally.seen(), lost),
                            Err(RecvError::Closed) => break,
                        }
                    }
                    (tally, hist)
                })
            })
            .collect();
        start_line.wait();
        let elapsed = paced_produce(&cfg, epoch, &mut lateness, |t| {
            tx.send(t).expect("receivers alive");
        });
        drop(tx);
        let results = handles
            .into_iter()
            .map(|h| h.join().expect("consumer thread panicked"))
            .collect();
        finish(&cfg, elapsed, lateness, results)
    })
}
