//! Criterion benches of the nexamd ring against baselines.
//!
//! Group `fanout_1p3c`: one producer -> three consumers (each on its own thread), nexamd ring
//! variants and the baselines in one group, so one run compares them. Each iteration publishes
//! `NEXAMD_BENCH_TICKS` ticks (default 1,000,000); throughput is counted as ticks delivered to
//! all three consumers, `3 x ticks` per iteration. Every run is checked (order, count and
//! checksum per consumer) and the bench panics on a mismatch. A consumer allowed to be lapped
//! (the ring's non-gating one, tokio broadcast receivers) accounts for what it missed; those
//! figures are printed after each variant and written to
//! `<criterion dir>/fanout_1p3c/<variant>/nexamd-losses-<baseline>.csv` for `bench-summary`.
//!
//! Group `single_thread`: what a publish and a poll cost on one thread, without cross-core
//! traffic or scheduling.
//!
//! `cargo bench -p benches --bench ring [-- --save-baseline NAME] [-- FILTER]`

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use benches::throughput::{CONSUMERS, VARIANTS};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

const GROUP: &str = "fanout_1p3c";

fn ticks_per_iter() -> u64 {
    std::env::var("NEXAMD_BENCH_TICKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Where criterion writes its reports, found the way criterion does (without `cargo metadata`:
/// the bench executable lives in `<target>/<profile>/deps/`).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// The `--save-baseline` name, or `new` (criterion's name for the latest run).
fn baseline_name() -> String {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == "--save-baseline")
        .map(|w| w[1].clone())
        .unwrap_or_else(|| "new".to_owned())
}

/// Delivery figures summed over every run of one variant (warm-up included).
#[derive(Debug, Default)]
struct Losses {
    runs: u64,
    produced: u64,
    delivered: u64,
    missed: u64,
    laps: u64,
}

fn fanout(c: &mut Criterion) {
    let ticks = ticks_per_iter();
    let mut group = c.benchmark_group(GROUP);
    group
        .throughput(Throughput::Elements(CONSUMERS as u64 * ticks))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    for variant in VARIANTS {
        let mut losses = Losses::default();
        group.bench_function(variant.name, |b| {
            b.iter_custom(|iters| {
                let n = iters * ticks;
                let report = (variant.run)(n, None);
                if let Err(e) = report.check() {
                    panic!("{}: {e}", variant.name);
                }
                losses.runs += 1;
                losses.produced += n;
                losses.delivered += report.delivered();
                losses.missed += report.missed();
                losses.laps += report.laps();
                report.elapsed
            })
        });
        if losses.runs == 0 {
            // Filtered out.
            continue;
        }
        let expected = CONSUMERS as u64 * losses.produced;
        eprintln!(
            "  {}: {} runs, {} ticks produced, {} delivered to {CONSUMERS} consumers ({:.3}%), {} missed in {} laps",
            variant.name,
            losses.runs,
            losses.produced,
            losses.delivered,
            100.0 * losses.delivered as f64 / expected.max(1) as f64,
            losses.missed,
            losses.laps,
        );
        let dir = criterion_dir().join(GROUP).join(variant.name);
        let csv = format!(
            "ticks_per_iter,runs,produced,delivered,missed,laps\n{ticks},{},{},{},{},{}\n",
            losses.runs, losses.produced, losses.delivered, losses.missed, losses.laps
        );
        let path = dir.join(format!("nexamd-losses-{}.csv", baseline_name()));
        if let Err(e) = fs::create_dir_all(&dir).and_then(|()| fs::write(&path, csv)) {
            eprintln!("  could not write {}: {e}", path.display());
        }
    }
    group.finish();
}

/// Ticks per iteration of the single-thread group.
const SINGLE_BATCH: usize = 4096;

/// Single-thread costs, no cross-core traffic or scheduling: what one publish and one poll cost
/// by themselves, with crossbeam-channel's send + recv as a reference.
fn single_thread(c: &mut Criterion) {
    use benches::throughput::DisruptorEvent;
    use benches::{Tally, make_tick};
    use engine::{Ring, Tick};
    use std::hint::black_box;
    use std::sync::atomic::{AtomicU64, Ordering};

    let ticks: Vec<Tick> = (0..SINGLE_BATCH as u64).map(make_tick).collect();
    let mut group = c.benchmark_group("single_thread");
    group
        .throughput(Throughput::Elements(SINGLE_BATCH as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    // No gating consumer: publish never waits, so this is the producer's own cost.
    let (ring, _) = Ring::builder(65_536).build().expect("ring");
    let mut producer = ring.producer().unwrap();
    group.bench_function("ring_publish", |b| {
        b.iter(|| {
            for t in &ticks {
                black_box(producer.publish(*t));
            }
        })
    });
    group.bench_function("ring_publish_batch64", |b| {
        b.iter(|| {
            for chunk in ticks.chunks(64) {
                black_box(producer.publish_batch(chunk));
            }
        })
    });
    drop(producer);

    // The same on a single-producer ring (no read-modify-write claim), against the bare
    // minimum a ring's producer must do: copy the tick into a cache-line slot and store a
    // cursor with Release, which is what the `disruptor` crate's producer does per event.
    let (ring, _) = Ring::builder(65_536)
        .single_producer()
        .build()
        .expect("ring");
    let mut producer = ring.producer().unwrap();
    group.bench_function("ring_publish_sp", |b| {
        b.iter(|| {
            for t in &ticks {
                black_box(producer.publish(*t));
            }
        })
    });
    drop(producer);
    let mut slots: Vec<DisruptorEvent> = vec![DisruptorEvent(ticks[0]); 65_536];
    let cursor = AtomicU64::new(0);
    let mut seq = 0u64;
    group.bench_function("plain_slot_write_and_cursor", |b| {
        b.iter(|| {
            for t in &ticks {
                slots[(seq & 65_535) as usize].0 = *t;
                cursor.store(seq, Ordering::Release);
                seq += 1;
            }
            black_box(&slots);
        })
    });

    // One gating consumer on the same thread: publish a batch, then poll it back.
    let (ring, mut consumers) = Ring::builder(65_536).gating("a").build().expect("ring");
    let mut producer = ring.producer().unwrap();
    let mut consumer = consumers.pop().expect("one gating consumer");
    group.bench_function("ring_publish_then_poll", |b| {
        b.iter(|| {
            for t in &ticks {
                producer.publish(*t);
            }
            let mut tally = Tally::default();
            let read = consumer.poll(SINGLE_BATCH, |t| tally.on_tick(t));
            assert_eq!(read, Ok(SINGLE_BATCH));
            black_box(tally.delivered)
        })
    });

    let (tx, rx) = crossbeam_channel::bounded::<Tick>(65_536);
    group.bench_function("crossbeam_send_then_recv", |b| {
        b.iter(|| {
            for t in &ticks {
                tx.send(*t).expect("receiver alive");
            }
            let mut tally = Tally::default();
            for t in rx.try_iter() {
                tally.on_tick(&t);
            }
            assert_eq!(tally.delivered, SINGLE_BATCH as u64);
            black_box(tally.delivered)
        })
    });
    group.finish();
}

criterion_group!(benches, fanout, single_thread);
criterion_main!(benches);
