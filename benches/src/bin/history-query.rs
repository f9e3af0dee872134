//! Where a `/v1/bars` query's time goes: the query of `benches/scripts/history_bench.sh` run
//! in-process on the files `history-gen` wrote, phase by phase, beside the real
//! `storage::history::query_bars` (plus the Arrow IPC encoding the route does).
//!
//! `cargo run --release -p benches --bin history-query -- DIR [--instrument SIM:ABX]
//! [--year 2025] [--interval 1m|1h] [--runs 11] [--route-only]`
//! (`--route-only` skips the phase-by-phase general path, for profiling the route's work)
//!
//! nexamd fixes glibc's heap thresholds at start (`src/malloc.rs`); this binary does not, so
//! run it as `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456
//! history-query ...` to measure what the server does.
//!
//! Phases, as `query_bars` and the route run them: the store's snapshot (the files that may
//! hold the range), `FileMeta::read` per file (open, row-group and page pruning, Parquet
//! decoding), `bars_from_batch` (rows of the instrument and range into `Bar`s), the merge
//! (sort and one bar per start), the resample, `bars_batch` (the served Arrow batch) and the
//! Arrow IPC stream. Medians over `--runs` after one warm-up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use engine::{Bar, InstrumentId, Interval, Registry};
use storage::catalog::Catalog;
use storage::columnar::schema::{BarRow, bars_batch, bars_from_batch};
use storage::history::{BarQuery, Fill, Range, query_bars, query_bars_columnar, resample};
use storage::store::Store;
use storage::writer::BASES;

const DAY_NS: i64 = 86_400_000_000_000;

#[derive(Debug, Default, Clone)]
struct Phases {
    snapshot: Duration,
    read: Duration,
    decode: Duration,
    merge: Duration,
    resample: Duration,
    batch: Duration,
    ipc: Duration,
    files: usize,
    rows_decoded: usize,
    rows: usize,
    bytes: usize,
}

fn ipc(batches: &[arrow_array::RecordBatch]) -> Result<Vec<u8>> {
    let schema = storage::columnar::schema::BAR_OUTPUT.clone();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let buffer = Vec::with_capacity(rows * 120 + 4096 * (batches.len() + 1));
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(buffer, &schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(writer.into_inner()?)
}

/// The route's columnar Arrow answer: `StreamEncoder` frames the batches around their own
/// buffers (no copy); returns the body's length, as sent in `Content-Length`.
fn ipc_sized(batches: &[arrow_array::RecordBatch]) -> Result<usize> {
    let mut encoder =
        arrow_ipc::writer::StreamEncoder::try_new(&storage::columnar::schema::BAR_OUTPUT)?;
    let mut len = 0;
    for batch in batches {
        len += encoder
            .encode(batch)?
            .iter()
            .map(|b| b.len())
            .sum::<usize>();
    }
    len += encoder.finish()?.iter().map(|b| b.len()).sum::<usize>();
    Ok(len)
}

fn phases(
    store: &Store,
    name: &str,
    interval: Interval,
    (start, end): (i64, i64),
) -> Result<Phases> {
    let mut p = Phases::default();
    let base = Interval::MINUTE;
    let t = Instant::now();
    let (files, memory) = store.bar_snapshot(name, None, base, (start, end));
    p.snapshot = t.elapsed();
    ensure!(memory.is_empty(), "no memory bars expected");
    p.files = files.len();
    let mut all: Vec<(i64, u64, Bar)> = Vec::new();
    let mut decoded = Vec::new();
    for file in &files {
        let t = Instant::now();
        let batches = file.read(name, start, end)?;
        p.read += t.elapsed();
        let t = Instant::now();
        for batch in &batches {
            p.rows_decoded += batch.num_rows();
            bars_from_batch(
                batch,
                name,
                base,
                InstrumentId(u32::MAX),
                (start, end),
                &mut decoded,
            )?;
        }
        all.extend(decoded.drain(..).map(|b| (b.ts, file.version, b)));
        p.decode += t.elapsed();
    }
    let t = Instant::now();
    if !all.is_sorted_by_key(|(ts, _, _)| *ts) {
        all.sort_by_key(|(ts, priority, _)| (*ts, *priority));
    }
    let mut bars: Vec<Bar> = Vec::with_capacity(all.len());
    for (ts, _, bar) in all {
        match bars.last_mut() {
            Some(last) if last.ts == ts => *last = bar,
            _ => bars.push(bar),
        }
    }
    p.merge = t.elapsed();
    let t = Instant::now();
    if interval != base {
        bars = resample(&bars, interval);
    }
    p.resample = t.elapsed();
    let t = Instant::now();
    let rows: Vec<BarRow> = bars.iter().copied().map(BarRow::from).collect();
    let batch = bars_batch(&rows, None)?;
    p.batch = t.elapsed();
    let t = Instant::now();
    p.bytes = ipc(std::slice::from_ref(&batch))?.len();
    p.ipc = t.elapsed();
    p.rows = rows.len();
    Ok(p)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<()> {
    let mut dir: Option<std::path::PathBuf> = None;
    let mut instrument = "SIM:ABX".to_owned();
    let mut year: i64 = 2025;
    let mut intervals: Vec<Interval> = Vec::new();
    let mut runs = 11;
    let mut route_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--instrument" => instrument = args.next().context("--instrument NAME")?,
            "--year" => year = args.next().context("--year Y")?.parse()?,
            "--interval" => intervals.push(
                args.next()
                    .context("--interval 1m|1h")?
                    .parse()
                    .map_err(|e: engine::bar::IntervalError| anyhow::anyhow!(e.0))?,
            ),
            "--runs" => runs = args.next().context("--runs R")?.parse()?,
            "--route-only" => route_only = true,
            "-h" | "--help" => {
                println!(
                    "usage: history-query DIR [--instrument SIM:ABX] [--year 2025] \
                     [--interval 1m|1h]... [--runs 11] [--route-only]"
                );
                return Ok(());
            }
            other if other.starts_with('-') => bail!("unknown option {other}; see --help"),
            path => dir = Some(path.into()),
        }
    }
    let dir = dir.context("usage: history-query DIR; see --help")?;
    ensure!(runs > 0, "--runs must be at least 1");
    if intervals.is_empty() {
        intervals = vec![
            Interval::MINUTE,
            Interval::from_seconds(3600).context("1h")?,
        ];
    }
    let start = engine::time::days_from_civil(year, 1, 1) * DAY_NS;
    let end = engine::time::days_from_civil(year + 1, 1, 1) * DAY_NS;

    let t = Instant::now();
    let (catalog, bad) = Catalog::scan(&dir);
    ensure!(bad.is_empty(), "unreadable files: {bad:?}");
    let scanned = t.elapsed();
    let store = Store::new(&dir, Arc::new(Registry::new()), &BASES, catalog);
    println!(
        "catalog scan (engine start): {:.1} ms; {instrument} {} .. {}, {runs} runs after 1 warm-up",
        ms(scanned),
        engine::time::format_rfc3339(start),
        engine::time::format_rfc3339(end)
    );
    for interval in intervals {
        let query = BarQuery {
            instrument: instrument.clone(),
            interval,
            range: Range {
                start,
                end,
                limit: None,
                cursor: None,
            },
            fill: Fill::None,
        };
        // As the route does it: the columnar answer where it applies, else `query_bars`.
        // Returns the whole time, the query's part, and the bytes.
        let whole = || -> Result<(Duration, Duration, usize)> {
            let t = Instant::now();
            let columnar = query_bars_columnar(&store, &query, 1_000_000)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let (batches, sized) = match columnar {
                Some((batches, _)) => (batches, true),
                None => {
                    let page = query_bars(&store, &query, 1_000_000, engine::clock::now_ns())
                        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                    (vec![bars_batch(&page.rows, None)?], false)
                }
            };
            let queried = t.elapsed();
            let bytes = if sized {
                ipc_sized(&batches)?
            } else {
                ipc(&batches)?.len()
            };
            Ok((t.elapsed(), queried, bytes))
        };
        whole()?;
        if route_only {
            let mut totals = Vec::new();
            let mut queries = Vec::new();
            for _ in 0..runs {
                let (total, queried, _) = whole()?;
                totals.push(total);
                queries.push(queried);
            }
            println!(
                "\n{interval}: the route's work median {:.1} ms, of which the query {:.1} ms",
                ms(median(totals)),
                ms(median(queries))
            );
            continue;
        }
        phases(&store, &instrument, interval, (start, end))?;
        let mut totals = Vec::new();
        let mut queries = Vec::new();
        let mut runs_p: Vec<Phases> = Vec::new();
        for _ in 0..runs {
            let (total, queried, _) = whole()?;
            totals.push(total);
            queries.push(queried);
            runs_p.push(phases(&store, &instrument, interval, (start, end))?);
        }
        let pick = |f: fn(&Phases) -> Duration| median(runs_p.iter().map(f).collect());
        let last = &runs_p[runs_p.len() - 1];
        println!(
            "\n{interval}: {} rows out, {} bytes of Arrow IPC; {} files read, {} rows decoded \
             ({:.1} per file)",
            last.rows,
            last.bytes,
            last.files,
            last.rows_decoded,
            last.rows_decoded as f64 / last.files.max(1) as f64
        );
        println!(
            "  the route's work (columnar answer or query_bars, then IPC): median {:.1} ms, \
             of which the query {:.1} ms",
            ms(median(totals)),
            ms(median(queries))
        );
        println!("  the general path phase by phase, single-threaded:");
        let rows = [
            ("snapshot (files for the range)", pick(|p| p.snapshot)),
            (
                "FileMeta::read (open, prune, decode Parquet)",
                pick(|p| p.read),
            ),
            ("bars_from_batch (rows -> Bar)", pick(|p| p.decode)),
            ("merge (sort check, one bar per start)", pick(|p| p.merge)),
            ("resample", pick(|p| p.resample)),
            ("bars_batch (Bar -> Arrow)", pick(|p| p.batch)),
            ("Arrow IPC stream", pick(|p| p.ipc)),
        ];
        let sum: Duration = rows.iter().map(|(_, d)| *d).sum();
        for (what, d) in rows {
            println!("  {what:<46} {:>8.1} ms", ms(d));
        }
        println!("  {:<46} {:>8.1} ms", "sum of phase medians", ms(sum));
    }
    Ok(())
}
