//! Storage ingest throughput: synthetic ticks through the storage consumer's per-tick path, on
//! one thread, as the engine's gating consumer runs it (`StorageWriter::on_tick` per tick,
//! `on_batch_end` after every 4096 ticks), beside baselines, interleaved over `--runs` rounds.
//!
//! `cargo run --release -p benches --bin storage-ingest -- [--ticks N] [--runs R] [--dir DIR]
//! [--event-rate R] [--drain-every N] [variant...]`
//!
//! Variants run by default:
//!
//! - `writer`: `storage::writer::open` with the default `StorageConfig` (journal with group
//!   commit every 50 ms, 1s and 1m bars, memory store), on a fresh data directory;
//! - `writer_never`: the same with `fsync = never` (what group commit costs);
//! - `journal`: `Journal` alone, group commit every 50 ms (append per tick, flush per batch);
//! - `aggregator`: `Aggregator` alone (`on_tick` per tick, `drain_events` per batch).
//!
//! Run only when named: `writer_persist`, `writer` with the engine's persister thread beside
//! it (Parquet files, commit, journal segments released), its flush interval cut from 10 s to
//! 1 s so that a run of a few seconds sees several cycles; the persister, not `--drain-every`,
//! empties the store. It takes the second core, and its cycles hold the store's lock while
//! the writer waits.
//!
//! Workload: 100 instruments (`SIM:AAA` ...), 25 % trades, random-walk prices on a 0.01 grid.
//! `ts_event` increases by a random 0..2/R s per tick (mean 1/R, R = `--event-rate`, default
//! 1,000,000 ticks/s) from the run's start; `ts_recv` is the wall clock read once per batch,
//! as a feed would stamp it. Each batch is generated before its timing starts, so only the
//! storage path is timed.
//!
//! In the engine the persister empties the store every flush interval (10 s) on its own
//! thread. Here, every `--drain-every` ticks (default 1,000,000; 0: never) the run drops the
//! store's ticks and final bars the way a persist cycle does (keeping the vectors' capacity),
//! outside the timed sections, so memory stays at its steady state rather than growing to
//! all N ticks.
//!
//! After each run: the journal's written index must equal N, the durable index must catch up
//! within 5 s (the time it took is reported), and the segment files on disk must hold the
//! bytes the journal says it wrote (with the persister, which deletes covered segments: no
//! more than that, and at least one Parquet file written, no persist error). The worst time
//! of one batch (4096 ticks through `on_tick` and `on_batch_end`) is reported too: a stall
//! there is time the ring fills up in the engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use benches::{Rng, fmt_rate, instrument_name};
use engine::{InstrumentId, Price, Qty, Quote, Registry, Side, Tick, Trade};
use storage::StorageConfig;
use storage::aggregate::{Aggregator, BarEventKind};
use storage::config::FsyncMode;
use storage::journal::{Journal, JournalConfig, JournalHandle, SyncPolicy};
use storage::persist::{Persister, Stop};
use storage::writer::{self, BASES};

/// Ticks per batch: the engine's consumers poll up to this many ticks from the ring.
const BATCH: usize = 4096;
/// Instruments in the workload.
const INSTRUMENTS: u32 = 100;
/// Price grid: 0.01 in units of 1e-9.
const TICK_UNITS: i64 = 10_000_000;

const VARIANTS: [&str; 4] = ["writer", "writer_never", "journal", "aggregator"];
/// Variants run only when named.
const EXTRA_VARIANTS: [&str; 1] = ["writer_persist"];

/// The synthetic market: one price per instrument, an event clock.
#[derive(Debug)]
struct Market {
    rng: Rng,
    ids: Vec<InstrumentId>,
    /// Mid prices in units of 1e-9, on the 0.01 grid.
    mids: Vec<i64>,
    ts_event: i64,
    /// Largest step of the event clock (ns); steps are uniform in 0..=max_step.
    max_step: u64,
    trade_id: u64,
}

impl Market {
    fn new(ids: Vec<InstrumentId>, event_rate: f64, seed: u64) -> Market {
        let mut rng = Rng(seed);
        let mids = ids
            .iter()
            .map(|_| (1_000 + rng.below(20_000) as i64) * TICK_UNITS)
            .collect();
        Market {
            rng,
            ids,
            mids,
            ts_event: engine::clock::now_ns(),
            max_step: (2e9 / event_rate).round().max(0.0) as u64,
            trade_id: 0,
        }
    }

    /// Fills `out` with the next batch of ticks, all stamped `ts_recv`.
    fn batch(&mut self, out: &mut Vec<Tick>, n: usize, ts_recv: i64) {
        out.clear();
        for _ in 0..n {
            let r = self.rng.next_u64();
            let k = (r % u64::from(INSTRUMENTS)) as usize;
            self.ts_event += self.rng.below(self.max_step + 1) as i64;
            // A random walk of -1, 0 or +1 grid steps, never below 1.00.
            let step = ((r >> 8) % 3) as i64 - 1;
            let mid = (self.mids[k] + step * TICK_UNITS).max(100 * TICK_UNITS);
            self.mids[k] = mid;
            let id = self.ids[k];
            let size = Qty::from_units(((r >> 16) % 1_000 + 1) as i64 * 1_000_000);
            let tick = if (r >> 32).is_multiple_of(4) {
                self.trade_id += 1;
                let side = if (r >> 40) & 1 == 0 {
                    Side::Buy
                } else {
                    Side::Sell
                };
                Tick::trade(
                    id,
                    self.ts_event,
                    ts_recv,
                    Trade {
                        price: Price::from_units(mid),
                        size,
                        side,
                        id: self.trade_id,
                    },
                )
            } else {
                Tick::quote(
                    id,
                    self.ts_event,
                    ts_recv,
                    Quote {
                        bid: Price::from_units(mid - TICK_UNITS),
                        bid_size: size,
                        ask: Price::from_units(mid + TICK_UNITS),
                        ask_size: Qty::from_units(((r >> 44) % 1_000 + 1) as i64 * 1_000_000),
                    },
                )
            };
            out.push(tick);
        }
    }
}

/// What one run measured.
#[derive(Debug, Default)]
struct RunReport {
    /// Time inside the storage path (batches only).
    busy: Duration,
    /// Time from the last batch end until the durable index reached the written one.
    durable_after: Option<Duration>,
    /// The slowest batch.
    worst_batch: Duration,
    journal_bytes: u64,
    bars_closed: u64,
    late_trades: u64,
}

/// The thing being fed.
enum Sink {
    Writer {
        writer: Box<writer::StorageWriter>,
        store: Arc<storage::store::Store>,
        handle: JournalHandle,
        /// Group commit (else `fsync = never`: the durable index does not move).
        group: bool,
        /// The persister's thread, when it runs.
        persister: Option<(Arc<Stop>, JoinHandle<()>)>,
    },
    Journal(Journal),
    Aggregator {
        aggregator: Aggregator,
        next: u64,
        events: u64,
    },
}

impl Sink {
    fn open(variant: &str, dir: &Path, registry: &Arc<Registry>) -> Result<Sink> {
        Ok(match variant {
            "writer" | "writer_never" | "writer_persist" => {
                let mut config = StorageConfig::default();
                if variant == "writer_never" {
                    config.journal.fsync = FsyncMode::Never;
                }
                if variant == "writer_persist" {
                    config.flush_interval_ms = 1_000;
                }
                let (writer, store, state, recovered) =
                    writer::open(dir, &config, registry.clone())?;
                ensure!(recovered.replayed == 0, "fresh data directory expected");
                let handle = writer.journal_handle().context("the journal is not open")?;
                let persister = if variant == "writer_persist" {
                    let stop = Arc::new(Stop::default());
                    let persister = Persister::new(store.clone(), config, state, writer.stats());
                    Some((stop.clone(), persister.spawn(stop)?))
                } else {
                    None
                };
                Sink::Writer {
                    writer: Box::new(writer),
                    store,
                    handle,
                    group: variant != "writer_never",
                    persister,
                }
            }
            "journal" => {
                let config = JournalConfig {
                    sync: SyncPolicy::Group {
                        interval: Duration::from_millis(50),
                    },
                    ..JournalConfig::new(dir.join("journal"))
                };
                Sink::Journal(Journal::open(config, registry.clone())?.0)
            }
            "aggregator" => Sink::Aggregator {
                aggregator: Aggregator::new(&BASES, StorageConfig::default().grace_ns()),
                next: 1,
                events: 0,
            },
            other => bail!("unknown variant {other}; expected one of {VARIANTS:?}"),
        })
    }

    #[inline]
    fn feed(&mut self, ticks: &[Tick]) -> Result<()> {
        match self {
            Sink::Writer { writer, .. } => {
                for tick in ticks {
                    writer.on_tick(tick);
                }
                writer.on_batch_end();
            }
            Sink::Journal(journal) => {
                for tick in ticks {
                    journal.append(tick)?;
                }
                journal.flush()?;
            }
            Sink::Aggregator {
                aggregator,
                next,
                events,
            } => {
                for tick in ticks {
                    aggregator.on_tick(*next, tick, false);
                    *next += 1;
                }
                *events += aggregator
                    .drain_events()
                    .filter(|e| e.kind == BarEventKind::Closed)
                    .count() as u64;
            }
        }
        Ok(())
    }

    /// What a persist cycle drops from memory: every tick, every final bar.
    fn drain(&mut self) {
        if let Sink::Writer {
            store,
            persister: None,
            ..
        } = self
        {
            let mut inner = store.lock();
            for ticks in inner.ticks.values_mut() {
                ticks.clear();
            }
            inner.tick_count = 0;
            for bars in &mut inner.bars {
                bars.retain(|_, b| !b.is_final);
            }
        }
    }

    /// Checks the journal and closes everything; fills in the report.
    fn finish(self, n: u64, dir: &Path, report: &mut RunReport) -> Result<()> {
        let handle = match &self {
            Sink::Writer { handle, .. } => Some(handle.clone()),
            Sink::Journal(journal) => Some(journal.handle()),
            Sink::Aggregator { .. } => None,
        };
        let ended = Instant::now();
        if let Some(handle) = &handle {
            ensure!(
                handle.written_index() == n,
                "journal written index {} after {n} ticks",
                handle.written_index()
            );
            let group = !matches!(&self, Sink::Writer { group: false, .. });
            if group {
                let deadline = ended + Duration::from_secs(5);
                while handle.durable_index() < n {
                    ensure!(
                        Instant::now() < deadline,
                        "durable index {} did not reach {n} within 5 s",
                        handle.durable_index()
                    );
                    std::thread::sleep(Duration::from_micros(200));
                }
                report.durable_after = Some(ended.elapsed());
            }
            let stats = handle.stats();
            let on_disk = dir_bytes(&dir.join("journal"))?;
            // 65 bytes per tick entry plus block headers and instrument definitions.
            ensure!(
                stats.bytes_written >= 65 * n,
                "the journal wrote {} bytes, less than 65 per tick",
                stats.bytes_written
            );
            if matches!(
                &self,
                Sink::Writer {
                    persister: Some(_),
                    ..
                }
            ) {
                ensure!(
                    on_disk <= stats.bytes_written,
                    "segments hold {on_disk} bytes, the journal says it wrote {}",
                    stats.bytes_written
                );
            } else {
                ensure!(
                    on_disk == stats.bytes_written,
                    "segments hold {on_disk} bytes, the journal says it wrote {}",
                    stats.bytes_written
                );
            }
            report.journal_bytes = stats.bytes_written;
        }
        match self {
            Sink::Writer {
                writer, persister, ..
            } => {
                let stats = writer.stats();
                report.bars_closed = stats.bars_closed.get();
                report.late_trades = stats.late_trades.get();
                ensure!(
                    stats.ticks.get() == n,
                    "writer handled {}",
                    stats.ticks.get()
                );
                ensure!(stats.journal_errors.get() == 0, "journal errors");
                writer.close();
                if let Some((stop, thread)) = persister {
                    stop.stop();
                    thread
                        .join()
                        .map_err(|_| anyhow::anyhow!("the persister panicked"))?;
                    ensure!(stats.persist_errors.get() == 0, "persist errors");
                    ensure!(stats.files_written.get() > 0, "no Parquet file written");
                }
            }
            Sink::Journal(journal) => journal.close()?,
            Sink::Aggregator {
                aggregator, events, ..
            } => {
                report.bars_closed = events;
                report.late_trades = aggregator.stats().late_dropped;
            }
        }
        Ok(())
    }
}

fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().ends_with(".wal") {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

fn run(
    variant: &str,
    n: u64,
    dir: &Path,
    event_rate: f64,
    drain_every: u64,
    seed: u64,
) -> Result<RunReport> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let registry = Arc::new(Registry::new());
    let ids = (0..INSTRUMENTS)
        .map(|i| registry.intern(&instrument_name(i)))
        .collect::<engine::Result<Vec<_>>>()?;
    let mut sink = Sink::open(variant, dir, &registry)?;
    let mut market = Market::new(ids, event_rate, seed);
    let mut batch = Vec::with_capacity(BATCH);
    let mut report = RunReport::default();
    let mut done = 0u64;
    let mut since_drain = 0u64;
    while done < n {
        let len = (n - done).min(BATCH as u64) as usize;
        market.batch(&mut batch, len, engine::clock::now_ns());
        let started = Instant::now();
        sink.feed(&batch)?;
        let took = started.elapsed();
        report.busy += took;
        report.worst_batch = report.worst_batch.max(took);
        done += len as u64;
        since_drain += len as u64;
        if drain_every > 0 && since_drain >= drain_every {
            sink.drain();
            since_drain = 0;
        }
    }
    sink.finish(n, dir, &mut report)?;
    std::fs::remove_dir_all(dir)?;
    Ok(report)
}

fn main() -> Result<()> {
    let mut ticks: u64 = 5_000_000;
    let mut runs: usize = 5;
    let mut event_rate = 1_000_000.0;
    let mut drain_every: u64 = 1_000_000;
    let mut dir: Option<PathBuf> = None;
    let mut names: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ticks" => ticks = args.next().context("--ticks N")?.parse()?,
            "--runs" => runs = args.next().context("--runs R")?.parse()?,
            "--event-rate" => event_rate = args.next().context("--event-rate R")?.parse()?,
            "--drain-every" => drain_every = args.next().context("--drain-every N")?.parse()?,
            "--dir" => dir = Some(args.next().context("--dir DIR")?.into()),
            "-h" | "--help" => {
                println!(
                    "usage: storage-ingest [--ticks N] [--runs R] [--dir DIR] [--event-rate R] \
                     [--drain-every N] [variant...]\nvariants: {} (default), {}",
                    VARIANTS.join(" "),
                    EXTRA_VARIANTS.join(" ")
                );
                return Ok(());
            }
            name if VARIANTS.contains(&name) || EXTRA_VARIANTS.contains(&name) => {
                names.push(name.to_owned())
            }
            other => bail!("unknown argument {other}; see --help"),
        }
    }
    ensure!(runs > 0 && ticks > 0, "--runs and --ticks must be above 0");
    ensure!(event_rate > 0.0, "--event-rate must be above 0");
    if names.is_empty() {
        names = VARIANTS.iter().map(|v| v.to_string()).collect();
    }
    let root = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("nexamd-storage-ingest-{}", std::process::id()))
    });
    println!(
        "{ticks} ticks per run, {} instruments, 25% trades, event clock {} (ticks), batches of \
         {BATCH}, store drained every {drain_every} ticks; {runs} rounds, each running every \
         variant once; data under {}",
        INSTRUMENTS,
        fmt_rate(event_rate),
        root.display()
    );
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut last: Vec<RunReport> = names.iter().map(|_| RunReport::default()).collect();
    let mut durable: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut worst: Vec<Duration> = vec![Duration::ZERO; names.len()];
    for round in 0..runs {
        for (k, name) in names.iter().enumerate() {
            let dir = root.join(name);
            let report = run(
                name,
                ticks,
                &dir,
                event_rate,
                drain_every,
                42 + round as u64,
            )
            .with_context(|| format!("{name}, round {round}"))?;
            let rate = ticks as f64 / report.busy.as_secs_f64();
            println!(
                "  round {round} {name:<14} {:>10} ({:.3} s busy, worst batch {:.2} ms{}{})",
                fmt_rate(rate),
                report.busy.as_secs_f64(),
                report.worst_batch.as_secs_f64() * 1e3,
                report
                    .durable_after
                    .map(|d| format!(
                        ", durable {:.1} ms after the last batch",
                        d.as_secs_f64() * 1e3
                    ))
                    .unwrap_or_default(),
                if report.journal_bytes > 0 {
                    format!(
                        ", journal {:.1} MiB",
                        report.journal_bytes as f64 / 1048576.0
                    )
                } else {
                    String::new()
                },
            );
            rates[k].push(rate);
            worst[k] = worst[k].max(report.worst_batch);
            if let Some(d) = report.durable_after {
                durable[k].push(d.as_secs_f64() * 1e3);
            }
            last[k] = report;
        }
    }
    let _ = std::fs::remove_dir(&root);
    let median = |xs: &mut Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let baseline = names
        .iter()
        .position(|n| n == "writer")
        .map(|k| median(&mut rates[k].clone()));
    println!("(worst batch: the slowest batch of 4096 ticks over all rounds)");
    println!(
        "\n{:<14} {:>11} {:>11} {:>11} {:>8} {:>10} {:>11} {:>15} {:>7}",
        "variant",
        "median/s",
        "min/s",
        "max/s",
        "ns/tick",
        "vs writer",
        "durable ms",
        "worst batch ms",
        "bars",
    );
    for (k, name) in names.iter().enumerate() {
        let med = median(&mut rates[k]);
        let ratio = baseline
            .map(|b| format!("{:.2}x", med / b))
            .unwrap_or_default();
        let dur = if durable[k].is_empty() {
            "-".to_owned()
        } else {
            format!("{:.1}", median(&mut durable[k]))
        };
        println!(
            "{:<14} {:>11} {:>11} {:>11} {:>8.0} {:>10} {:>11} {:>15.2} {:>7}",
            name,
            fmt_rate(med),
            fmt_rate(rates[k][0]),
            fmt_rate(rates[k][rates[k].len() - 1]),
            1e9 / med,
            ratio,
            dur,
            worst[k].as_secs_f64() * 1e3,
            last[k].bars_closed,
        );
        if last[k].late_trades > 0 {
            println!(
                "  {name}: {} late trades in the last run",
                last[k].late_trades
            );
        }
    }
    Ok(())
}
