//! Writes a year of 1-minute bars for 100 instruments as the engine stores them, for the
//! history query benchmarks (`benches/scripts/history_bench.sh`).
//!
//! `cargo run --release -p benches --bin history-gen -- DIR [--year Y] [--instruments N]
//! [--threads T] [--no-dictionary] [--uncompressed] [--daily]`
//!
//! One Parquet file per UTC day (`DIR/bars/1m/date=YYYY-MM-DD/part-0000000000000001.parquet`,
//! N × 1,440 rows, sorted by instrument then time), written by `storage::persist::
//! write_bar_files` as the persister writes them (generation 1), then the commit record
//! `DIR/storage.json` for generation 1, so an engine started on `DIR` keeps the files. Then,
//! as a running engine would once each month is over, the persister's own compaction
//! (`storage::persist::Persister::compact`) merges each month's days into one file under
//! `DIR/bars/1m/month=YYYY-MM/` (generations 2 to 13). `--daily` stops before that and
//! leaves the day files, the layout before month files existed.
//!
//! Instruments are `SIM:AAA`, `SIM:AAB`, ...; each has a bar every minute of the year. Prices
//! are a random walk on a 0.01 grid (about 30 % annualized volatility), volumes and trade
//! counts random, the notional is that of a VWAP between low and high. The same arguments
//! give the same files.
//!
//! `--no-dictionary` is an experiment, not what the engine writes: the same rows, schema,
//! metadata and writer properties (`storage::columnar::write::properties`), except that only
//! the `instrument` column is dictionary-encoded. It shows what the dictionary pages of the
//! number columns cost a query that reads a few pages of each row group. `--uncompressed`
//! (with or without `--no-dictionary`) writes the pages without zstd, the same way: what
//! decompression and the per-column-chunk zstd contexts cost.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use benches::{Rng, instrument_name};
use engine::{Bar, InstrumentId, Interval, Price, Qty};
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use storage::columnar::write::properties;
use storage::persist::{write_bar_files, write_bar_files_with};
use storage::state::{State, part_name};

/// Generation of the files and of the commit record.
const GENERATION: u64 = 1;
/// Price grid: 0.01 in units of 1e-9.
const TICK_UNITS: i64 = 10_000_000;
const MINUTE_NS: i64 = 60_000_000_000;
const DAY_NS: i64 = 86_400_000_000_000;

fn on_grid(price: f64) -> i64 {
    ((price * 100.0).round() as i64).max(1) * TICK_UNITS
}

/// One instrument's random walk, minute by minute.
#[derive(Debug, Clone)]
struct Walk {
    rng: Rng,
    price: f64,
    /// Per-minute volatility.
    sigma: f64,
}

impl Walk {
    fn new(i: u32) -> Walk {
        let mut rng = Rng(0x5EED_0000 + u64::from(i));
        let price = 10.0 + rng.unit() * 490.0;
        // 30 % a year, over the minutes of a year.
        let sigma = 0.3 / (365.0f64 * 1440.0).sqrt();
        Walk { rng, price, sigma }
    }

    fn bar(&mut self, instrument: InstrumentId, ts: i64) -> Bar {
        let open = self.price;
        let close = open * (self.sigma * self.rng.normal()).exp();
        let wick = |rng: &mut Rng| (self.sigma * 0.5 * rng.normal()).abs();
        let high = open.max(close) * (1.0 + wick(&mut self.rng));
        let low = open.min(close) * (1.0 - wick(&mut self.rng));
        self.price = close;
        let (open, high, low, close) = (on_grid(open), on_grid(high), on_grid(low), on_grid(close));
        let trades = 1 + self.rng.next_u64() % 400;
        // Volume in whole units up to 5,000, with three decimals.
        let volume = Qty::from_units((1 + self.rng.next_u64() % 5_000_000) as i64 * 1_000_000);
        let vwap = low + ((high - low) as f64 * self.rng.unit()) as i64;
        Bar {
            instrument,
            interval: Interval::MINUTE,
            ts,
            open: Price::from_units(open),
            high: Price::from_units(high),
            low: Price::from_units(low),
            close: Price::from_units(close),
            volume,
            trades: Some(trades),
            notional: Some(Bar::notional_for_vwap(Price::from_units(vwap), volume)),
        }
    }
}

/// The experiments' writer properties: those the engine writes with (`properties`), but with
/// dictionary encoding on `instrument` only (`dictionary` false) and/or without compression.
fn experiment_properties(
    metadata: Vec<KeyValue>,
    (dictionary, compressed): (bool, bool),
) -> WriterProperties {
    let mut props = properties(metadata).into_builder();
    if !dictionary {
        props = props
            .set_dictionary_enabled(false)
            .set_column_dictionary_enabled(ColumnPath::from("instrument"), true);
    }
    if !compressed {
        props = props.set_compression(Compression::UNCOMPRESSED);
    }
    props.build()
}

fn main() -> Result<()> {
    let mut dictionary = true;
    let mut compressed = true;
    let mut dir: Option<PathBuf> = None;
    let mut year: i64 = 2025;
    let mut instruments: u32 = 100;
    let mut threads: usize = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut daily = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--year" => year = args.next().context("--year Y")?.parse()?,
            "--instruments" => instruments = args.next().context("--instruments N")?.parse()?,
            "--threads" => threads = args.next().context("--threads T")?.parse()?,
            "--no-dictionary" => dictionary = false,
            "--uncompressed" => compressed = false,
            "--daily" => daily = true,
            "-h" | "--help" => {
                println!(
                    "usage: history-gen DIR [--year Y] [--instruments N] [--threads T] \
                     [--no-dictionary] [--uncompressed] [--daily]\n\
                     one year of 1m bars for N instruments (default 2025, 100), one Parquet \
                     file per UTC day, plus DIR/storage.json"
                );
                return Ok(());
            }
            other if other.starts_with('-') => bail!("unknown option {other}; see --help"),
            path => dir = Some(path.into()),
        }
    }
    let dir = dir.context("usage: history-gen DIR [--year Y] [--instruments N]; see --help")?;
    ensure!(
        (1..=17_576).contains(&instruments),
        "--instruments must be 1..=17576"
    );
    ensure!(threads > 0, "--threads must be at least 1");
    let start = engine::time::days_from_civil(year, 1, 1) * DAY_NS;
    let end = engine::time::days_from_civil(year + 1, 1, 1) * DAY_NS;
    let days = ((end - start) / DAY_NS) as usize;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let names: Vec<String> = (0..instruments).map(instrument_name).collect();
    let file_name = part_name(GENERATION);
    // The walk of each instrument over the year, one day at a time: each thread takes every
    // `threads`-th day, so the walks are replayed to each day's start (cheap next to Parquet).
    println!(
        "writing {days} days x {instruments} instruments x 1,440 1m bars ({} rows) to {} with \
         {threads} threads",
        days as u64 * u64::from(instruments) * 1440,
        dir.display()
    );
    let started = Instant::now();
    let walks: Vec<Walk> = (0..instruments).map(Walk::new).collect();
    std::thread::scope(|scope| -> Result<()> {
        let mut handles = Vec::new();
        for t in 0..threads {
            let (dir, names, file_name, mut walks) = (&dir, &names, &file_name, walks.clone());
            handles.push(scope.spawn(move || -> Result<u64> {
                let mut bytes = 0;
                for day in 0..days {
                    let day_start = start + day as i64 * DAY_NS;
                    let mine = day % threads == t;
                    let mut rows: Vec<(String, Bar)> = Vec::new();
                    for (i, walk) in walks.iter_mut().enumerate() {
                        for m in 0..1440 {
                            let bar = walk.bar(InstrumentId(i as u32), day_start + m * MINUTE_NS);
                            if mine {
                                rows.push((names[i].clone(), bar));
                            }
                        }
                    }
                    if !mine {
                        continue;
                    }
                    let version = GENERATION;
                    let written = if dictionary && compressed {
                        write_bar_files(dir, Interval::MINUTE, rows, version, file_name)?
                    } else {
                        let how = (dictionary, compressed);
                        let props = |metadata| experiment_properties(metadata, how);
                        write_bar_files_with(
                            dir,
                            Interval::MINUTE,
                            rows,
                            version,
                            file_name,
                            props,
                        )?
                    };
                    for path in written {
                        bytes += std::fs::metadata(&path)?.len();
                    }
                }
                Ok(bytes)
            }));
        }
        let mut bytes = 0;
        for handle in handles {
            bytes += handle
                .join()
                .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
        }
        println!(
            "wrote {days} files, {:.1} MiB, in {:.1} s",
            bytes as f64 / 1048576.0,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })?;
    let state = State {
        generation: GENERATION,
        ..State::default()
    };
    state.commit(&dir)?;
    println!(
        "committed generation {GENERATION} in {}",
        dir.join(storage::state::STATE_FILE).display()
    );
    if !daily && dictionary && compressed {
        compact_months(&dir)?;
    }
    println!(
        "range: start={} end={} (epoch ns {start} .. {end})",
        engine::time::format_rfc3339(start),
        engine::time::format_rfc3339(end)
    );
    Ok(())
}

/// Runs the persister's compaction on `dir` as of now: the generated year is over, so every
/// month's day files are merged into one month file, exactly as a running engine does.
fn compact_months(dir: &std::path::Path) -> Result<()> {
    let started = Instant::now();
    let config = storage::StorageConfig::default();
    let registry = std::sync::Arc::new(engine::Registry::new());
    let (_writer, store, state, _) = storage::writer::open(dir, &config, registry)?;
    let stats = std::sync::Arc::new(storage::writer::WriterStats::default());
    let mut persister = storage::persist::Persister::new(store, config, state, stats);
    let merged = persister.compact(engine::clock::now_ns())?;
    println!(
        "compaction merged {merged} day files into month files in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
