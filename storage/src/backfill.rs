//! `nexamd import`: a history file into the data directory's Parquet datasets.
//!
//! Bars are stored as given, under `bars/<interval>/` for the file's interval (so imported
//! hourly klines become a `1h` base that `/v1/bars` resamples from). Trades are stored under
//! `ticks/` and also aggregated into 1s and 1m bars. Files are named `import-<version>.parquet`:
//! the engine never deletes or expires them, and where they overlap other files the newer
//! version wins. A running engine on the same data directory picks them up on its next history
//! query (the import touches `DATA_DIR/IMPORTED`); imports take `DATA_DIR/IMPORT.LOCK`, so two
//! never run at once.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use engine::{Bar, InstrumentId, Interval, Tick, Trade};

use crate::aggregate::{Aggregator, BarEventKind};
use crate::columnar::schema::{TickData, TickRow};
use crate::error::Error;
use crate::import::{ImportFormat, ImportOptions, read_bars_with, read_trades_with};
use crate::persist::{write_bar_files, write_tick_files};
use crate::store::IMPORT_MARKER;
use crate::writer::BASES;

/// What an import stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Bars stored, per interval.
    pub bars: Vec<(Interval, usize)>,
    /// Trades stored.
    pub trades: usize,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// First and last time in the file (ns).
    pub span: Option<(i64, i64)>,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackfillError {
    /// The instrument name is not `VENUE:SYMBOL`.
    #[error(transparent)]
    Instrument(#[from] engine::Error),
    /// The file could not be read or parsed.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: crate::import::ImportError,
    },
    /// The file holds no rows.
    #[error("{0}: no rows to import")]
    Empty(PathBuf),
    /// Another import holds the data directory's import lock.
    #[error("another import is running on {0}")]
    Busy(PathBuf),
    /// Writing failed.
    #[error(transparent)]
    Storage(#[from] Error),
}

/// The instrument a file is about when the command line does not say: a Tardis file names
/// its exchange and symbol (`bitmex`, `XBTUSD` → `BITMEX:XBTUSD`); a Binance kline file is
/// named `SYMBOL-interval-date.csv` (`ADABTC-1m-2021-11-27.csv` → `BINANCE:ADABTC`). A generic
/// OHLCV file says nothing.
pub fn infer_instrument(format: ImportFormat, file: &Path) -> Option<String> {
    match format {
        ImportFormat::TardisTrades => {
            use std::io::BufRead as _;
            let mut lines = BufReader::new(File::open(file).ok()?).lines();
            let header = lines.next()?.ok()?;
            let columns: Vec<&str> = header.split(',').map(str::trim).collect();
            let exchange = columns.iter().position(|c| *c == "exchange")?;
            let symbol = columns.iter().position(|c| *c == "symbol")?;
            let row = lines.next()?.ok()?;
            let fields: Vec<&str> = row.split(',').map(str::trim).collect();
            let name = format!(
                "{}:{}",
                fields.get(exchange)?.to_ascii_uppercase(),
                fields.get(symbol)?
            );
            engine::registry::validate_name(&name).ok().map(|_| name)
        }
        ImportFormat::BinanceKlines => {
            let stem = file.file_name()?.to_str()?;
            let symbol = stem.split('-').next()?;
            let ok = !symbol.is_empty() && symbol.bytes().all(|b| b.is_ascii_alphanumeric());
            ok.then(|| format!("BINANCE:{}", symbol.to_ascii_uppercase()))
        }
        ImportFormat::OhlcvCsv => None,
    }
}

/// Imports `file` in `format` as `instrument` into the data directory `root`.
pub fn import_file(
    root: &Path,
    format: ImportFormat,
    file: &Path,
    instrument: &str,
    options: ImportOptions,
) -> std::result::Result<ImportReport, BackfillError> {
    engine::registry::validate_name(instrument)?;
    std::fs::create_dir_all(root).map_err(Error::io("cannot create", root))?;
    let lock_path = root.join("IMPORT.LOCK");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(Error::io("cannot open", &lock_path))?;
    if lock.try_lock().is_err() {
        return Err(BackfillError::Busy(root.to_owned()));
    }
    let reader = BufReader::new(File::open(file).map_err(Error::io("cannot open", file))?);
    let parse = |source| BackfillError::Parse {
        path: file.to_owned(),
        source,
    };
    let version = engine::clock::now_ns().max(0) as u64;
    let name = format!("import-{version:020}.parquet");
    let id = InstrumentId(0);
    let mut report = ImportReport::default();
    let bars: Vec<Bar> = match format {
        ImportFormat::BinanceKlines | ImportFormat::OhlcvCsv => {
            read_bars_with(format, reader, id, options).map_err(parse)?
        }
        ImportFormat::TardisTrades => {
            let trades = read_trades_with(reader, options).map_err(parse)?;
            let (Some(first), Some(last)) = (trades.first(), trades.last()) else {
                return Err(BackfillError::Empty(file.to_owned()));
            };
            report.span = Some((first.ts_event, last.ts_event));
            // Bars at the live bases, built exactly as the engine builds them.
            let mut aggregator = Aggregator::new(&BASES, 0);
            let mut rows = Vec::with_capacity(trades.len());
            for (i, t) in trades.iter().enumerate() {
                let tick = Tick::trade(
                    id,
                    t.ts_event,
                    t.ts_recv,
                    Trade {
                        price: t.price,
                        size: t.size,
                        side: t.side,
                        id: 0,
                    },
                );
                aggregator.on_tick(i as u64 + 1, &tick, false);
                rows.push((
                    instrument.to_owned(),
                    TickRow {
                        ts_event: t.ts_event,
                        ts_recv: t.ts_recv,
                        seq: i as u64 + 1,
                        data: TickData::Trade {
                            price: t.price,
                            size: t.size,
                            side: t.side,
                            id: (!t.id.is_empty()).then(|| t.id.clone()),
                        },
                    },
                ));
            }
            aggregator.finish();
            report.trades = rows.len();
            report
                .files
                .extend(write_tick_files(root, rows, version, &name)?);
            aggregator
                .drain_events()
                .filter(|e| e.kind == BarEventKind::Final)
                .map(|e| e.bar)
                .collect()
        }
    };
    if bars.is_empty() {
        return Err(BackfillError::Empty(file.to_owned()));
    }
    if report.span.is_none() {
        let first = bars.iter().map(|b| b.ts).min().unwrap_or(0);
        let last = bars.iter().map(|b| b.ts).max().unwrap_or(0);
        report.span = Some((first, last));
    }
    let mut intervals: Vec<Interval> = bars.iter().map(|b| b.interval).collect();
    intervals.sort();
    intervals.dedup();
    for interval in intervals {
        let rows: Vec<(String, Bar)> = bars
            .iter()
            .filter(|b| b.interval == interval)
            .map(|b| (instrument.to_owned(), *b))
            .collect();
        report.bars.push((interval, rows.len()));
        report
            .files
            .extend(write_bar_files(root, interval, rows, version, &name)?);
    }
    let marker = root.join(IMPORT_MARKER);
    std::fs::write(&marker, version.to_string()).map_err(Error::io("cannot write", &marker))?;
    Ok(report)
}
