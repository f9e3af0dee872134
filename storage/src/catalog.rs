//! The catalog: every stored Parquet file with its cached metadata, by dataset.
//!
//! ```text
//! DATA_DIR/bars/<interval>/date=YYYY-MM-DD/part-*.parquet
//! DATA_DIR/bars/<interval>/month=YYYY-MM/part-*.parquet   closed months, intervals of 1m and up
//! DATA_DIR/ticks/date=YYYY-MM-DD/part-*.parquet
//! ```
//!
//! A month partition holds what the month's day partitions held, merged by compaction once
//! the month is over: a year of one instrument's 1m bars is then 12 files, not 365.
//!
//! A catalog is immutable: the writer builds a new one with files added or removed and swaps
//! it in together with the in-memory rows those files replace, so a reader's snapshot never
//! sees a row twice or misses one.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::Interval;

use crate::columnar::read::FileMeta;
use crate::error::{Error, Result};

/// A stored dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dataset {
    /// Bars of one interval.
    Bars(Interval),
    /// Trades and quotes.
    Ticks,
}

impl Dataset {
    /// The dataset's directory under the data directory.
    pub fn dir(self, root: &Path) -> PathBuf {
        match self {
            Dataset::Bars(interval) => root.join("bars").join(interval.to_string()),
            Dataset::Ticks => root.join("ticks"),
        }
    }

    /// The dataset's name in file metadata: `bars/1m`, `ticks`.
    pub fn name(self) -> String {
        match self {
            Dataset::Bars(interval) => format!("bars/{interval}"),
            Dataset::Ticks => "ticks".into(),
        }
    }
}

/// The partition directory name of the UTC day holding `ts` (ns): `date=YYYY-MM-DD`.
pub fn partition_name(ts: i64) -> String {
    format!("date={}", engine::time::format_date(ts))
}

/// The day (its midnight in ns) a day partition's directory name stands for.
pub fn partition_day(name: &str) -> Option<i64> {
    engine::time::parse_timestamp(name.strip_prefix("date=")?).ok()
}

/// The partition directory name of the UTC month holding `ts` (ns): `month=YYYY-MM`.
pub fn month_partition_name(ts: i64) -> String {
    let (year, month, _) = civil(ts);
    format!("month={year:04}-{month:02}")
}

fn civil(ts: i64) -> (i64, u32, u32) {
    engine::time::civil_from_days(ts.div_euclid(DAY))
}

const DAY: i64 = 86_400 * engine::bar::NANOS_PER_SEC;

/// The start (ns) of the UTC month holding `ts`.
pub fn month_start(ts: i64) -> i64 {
    let (year, month, _) = civil(ts);
    engine::time::days_from_civil(year, month, 1) * DAY
}

/// The start (ns) of the UTC month after the one holding `ts`.
pub fn next_month_start(ts: i64) -> i64 {
    let (year, month, _) = civil(ts);
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    engine::time::days_from_civil(year, month, 1) * DAY
}

/// The time span `[start, end)` (ns) a partition directory name stands for: a day
/// (`date=YYYY-MM-DD`) or a month (`month=YYYY-MM`).
pub fn partition_span(name: &str) -> Option<(i64, i64)> {
    if let Some(day) = partition_day(name) {
        return Some((day, day + DAY));
    }
    let text = name.strip_prefix("month=")?;
    let start = engine::time::parse_timestamp(&format!("{text}-01")).ok()?;
    (month_partition_name(start) == name).then(|| (start, next_month_start(start)))
}

/// The name of the partition directory holding the file at `path`.
pub fn partition_of(path: &Path) -> Option<Cow<'_, str>> {
    Some(path.parent()?.file_name()?.to_string_lossy())
}

/// The span of the partition holding the file at `path`.
pub fn file_span(path: &Path) -> Option<(i64, i64)> {
    partition_span(&partition_of(path)?)
}

/// Files sort by partition start, then path (so a month's file sits before the next month's
/// days, and a day's parts by name).
fn order_key(path: &Path) -> (i64, &Path) {
    (file_span(path).map_or(i64::MAX, |(start, _)| start), path)
}

/// Every stored file, by dataset, oldest partition first.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    files: BTreeMap<Dataset, Vec<Arc<FileMeta>>>,
}

impl Catalog {
    /// Reads every file's metadata under `root`. Files that cannot be read are returned
    /// beside the catalog, so the caller can log them; they are left in place.
    pub fn scan(root: &Path) -> (Catalog, Vec<Error>) {
        let mut catalog = Catalog::default();
        let mut bad = Vec::new();
        let mut datasets = vec![Dataset::Ticks];
        if let Ok(entries) = std::fs::read_dir(root.join("bars")) {
            for entry in entries.flatten() {
                match entry.file_name().to_string_lossy().parse::<Interval>() {
                    Ok(interval) => datasets.push(Dataset::Bars(interval)),
                    Err(_) => bad.push(Error::Corrupt {
                        path: entry.path(),
                        message: "not a bar interval directory; ignored".into(),
                    }),
                }
            }
        }
        for dataset in datasets {
            for path in dataset_files(&dataset.dir(root)) {
                match FileMeta::load(&path) {
                    Ok(meta) => catalog.add(dataset, Arc::new(meta)),
                    Err(e) => bad.push(e),
                }
            }
        }
        (catalog, bad)
    }

    /// The files of `dataset`, by partition start, then path.
    pub fn files(&self, dataset: Dataset) -> &[Arc<FileMeta>] {
        self.files.get(&dataset).map_or(&[], Vec::as_slice)
    }

    /// Every dataset with files.
    pub fn datasets(&self) -> impl Iterator<Item = Dataset> + '_ {
        self.files.keys().copied()
    }

    /// Adds a file.
    pub fn add(&mut self, dataset: Dataset, meta: Arc<FileMeta>) {
        let files = self.files.entry(dataset).or_default();
        let key = order_key(&meta.path);
        let at = files.partition_point(|f| order_key(&f.path) < key);
        files.insert(at, meta);
    }

    /// Removes the files at `paths`.
    pub fn remove(&mut self, dataset: Dataset, paths: &[PathBuf]) {
        if let Some(files) = self.files.get_mut(&dataset) {
            files.retain(|f| !paths.contains(&f.path));
        }
    }

    /// Whether any file of `dataset` holds `instrument`.
    pub fn has(&self, dataset: Dataset, instrument: &str) -> bool {
        self.files(dataset).iter().any(|f| f.has(instrument))
    }

    /// Whether any file holds `instrument`.
    pub fn knows(&self, instrument: &str) -> bool {
        self.files.values().flatten().any(|f| f.has(instrument))
    }
}

/// The `.parquet` files in a dataset directory's partitions, sorted. Hidden files (writes in
/// progress) are skipped.
pub fn dataset_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(partitions) = std::fs::read_dir(dir) else {
        return out;
    };
    for partition in partitions.flatten() {
        if partition_span(&partition.file_name().to_string_lossy()).is_none() {
            continue;
        }
        let Ok(files) = std::fs::read_dir(partition.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            let name = name.to_string_lossy();
            if !name.starts_with('.') && name.ends_with(".parquet") {
                out.push(file.path());
            }
        }
    }
    out.sort();
    out
}

/// Removes leftovers of interrupted writes (`.*.tmp`) under `dir`, recursively.
pub fn remove_temporaries(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            removed += remove_temporaries(&path)?;
        } else if name.starts_with('.') && name.ends_with(".tmp") {
            std::fs::remove_file(&path).map_err(Error::io("cannot remove", &path))?;
            removed += 1;
        }
    }
    Ok(removed)
}
