//! The persister: a background thread that writes final bars and ticks from memory to
//! Parquet, commits, compacts small files per day and applies retention.
//!
//! One cycle: snapshot what is final under the store's lock; write one file per dataset and
//! day (write, fsync, rename); commit the record ([`State`]); then, under the lock again, add
//! the files to the catalog and drop the rows they hold from memory, in one step. Journal
//! segments below the record's `replay_from` are released to the writer for deletion.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use arrow_array::{
    Array, ArrayRef, RecordBatch, StringArray, TimestampNanosecondArray, UInt32Array, UInt64Array,
};
use engine::{Bar, Interval};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::catalog::{
    Catalog, Dataset, file_span, month_partition_name, month_start, next_month_start,
    partition_day, partition_name, partition_of,
};
use crate::columnar::read::FileMeta;
use crate::columnar::schema::{BarRow, TickRow, bars_batch, column, ticks_batch};
use crate::columnar::write::{properties, properties_with_pages, write_file, write_file_with};
use crate::columnar::{META_DATASET, META_INSTRUMENTS, META_VERSION};
use crate::columnar::{MONTH_PAGE_ROWS, PAGE_ROWS};
use crate::config::StorageConfig;
use crate::error::{Error, Result};
use crate::state::{State, file_generation, part_name};
use crate::store::{Store, TickMap};
use crate::writer::{BASES, WriterStats};

const DAY: i64 = 86_400 * engine::bar::NANOS_PER_SEC;

/// Key-value metadata of a stored file.
pub fn file_metadata(dataset: Dataset, version: u64, instruments: &[&str]) -> Vec<KeyValue> {
    let mut names: Vec<&str> = instruments.to_vec();
    names.sort_unstable();
    names.dedup();
    vec![
        KeyValue::new(META_DATASET.into(), dataset.name()),
        KeyValue::new(META_VERSION.into(), version.to_string()),
        KeyValue::new(
            META_INSTRUMENTS.into(),
            serde_json::to_string(&names).unwrap_or_else(|_| "[]".into()),
        ),
    ]
}

/// `rows` grouped by the UTC day (its midnight, ns) of `ts`, each day's in their order.
fn by_day<R>(rows: Vec<(String, R)>, ts: impl Fn(&R) -> i64) -> BTreeMap<i64, Vec<(String, R)>> {
    let mut by_day: BTreeMap<i64, Vec<(String, R)>> = BTreeMap::new();
    for row in rows {
        by_day
            .entry(ts(&row.1).div_euclid(DAY) * DAY)
            .or_default()
            .push(row);
    }
    by_day
}

/// Writes `(instrument, bar)` rows as one file per day under `dataset`, each named by
/// `file_name`. Returns the files written.
pub fn write_bar_files(
    root: &std::path::Path,
    interval: Interval,
    rows: Vec<(String, Bar)>,
    version: u64,
    file_name: &str,
) -> Result<Vec<PathBuf>> {
    write_bar_files_with(root, interval, rows, version, file_name, properties)
}

/// [`write_bar_files`] with the writer properties `properties` makes of each file's
/// metadata, instead of [`properties`] (for experiments on the encoding).
pub fn write_bar_files_with(
    root: &std::path::Path,
    interval: Interval,
    mut rows: Vec<(String, Bar)>,
    version: u64,
    file_name: &str,
    properties: impl Fn(Vec<KeyValue>) -> WriterProperties,
) -> Result<Vec<PathBuf>> {
    rows.sort_by(|a, b| (&a.0, a.1.ts).cmp(&(&b.0, b.1.ts)));
    let dataset = Dataset::Bars(interval);
    let mut written = Vec::new();
    for (day, rows) in by_day(rows, |b| b.ts) {
        let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
        let bars: Vec<BarRow> = rows.iter().map(|(_, b)| BarRow::from(*b)).collect();
        let batch = bars_batch(&bars, Some(&names))?;
        let path = dataset.dir(root).join(partition_name(day)).join(file_name);
        let metadata = file_metadata(dataset, version, &names);
        write_file_with(&path, &[batch], properties(metadata))?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `(instrument, tick)` rows as one file per day of `ts_event`.
pub fn write_tick_files(
    root: &std::path::Path,
    mut rows: Vec<(String, TickRow)>,
    version: u64,
    file_name: &str,
) -> Result<Vec<PathBuf>> {
    rows.sort_by(|a, b| (&a.0, a.1.key()).cmp(&(&b.0, b.1.key())));
    let mut written = Vec::new();
    for (day, rows) in by_day(rows, |t| t.ts_event) {
        let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
        let ticks: Vec<TickRow> = rows.iter().map(|(_, t)| t.clone()).collect();
        let batch = ticks_batch(&ticks, Some(&names))?;
        let path = Dataset::Ticks
            .dir(root)
            .join(partition_name(day))
            .join(file_name);
        write_file(
            &path,
            &[batch],
            file_metadata(Dataset::Ticks, version, &names),
        )?;
        written.push(path);
    }
    Ok(written)
}

/// The `VENUE:SYMBOL` of a (process-local) instrument id, for the files.
fn instrument_name(store: &Store, id: u32) -> Option<String> {
    store
        .registry()
        .get(engine::InstrumentId(id))
        .map(|i| i.name.to_string())
}

/// Stop signal for the persister's thread.
#[derive(Debug, Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Asks the thread to run a last cycle and stop.
    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }

    /// Waits up to `timeout`; true once stopped.
    fn wait(&self, timeout: Duration) -> bool {
        let guard = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .wake
            .wait_timeout_while(guard, timeout, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// The persister.
#[derive(Debug)]
pub struct Persister {
    store: Arc<Store>,
    config: StorageConfig,
    state: State,
    stats: Arc<WriterStats>,
    last_version: u64,
    /// `ts_recv` → committed to Parquet, per tick, when set.
    latency: Option<Arc<engine::latency::LatencyHistogram>>,
}

impl Persister {
    /// Records, for every tick persisted, the time from its `ts_recv` to the commit.
    pub fn set_latency(&mut self, latency: Arc<engine::latency::LatencyHistogram>) {
        self.latency = Some(latency);
    }

    /// A persister continuing from the committed `state`.
    pub fn new(
        store: Arc<Store>,
        config: StorageConfig,
        state: State,
        stats: Arc<WriterStats>,
    ) -> Persister {
        Persister {
            store,
            config,
            state,
            stats,
            last_version: 0,
            latency: None,
        }
    }

    fn next_version(&mut self) -> u64 {
        let now = engine::clock::now_ns().max(0) as u64;
        self.last_version = now.max(self.last_version + 1);
        self.last_version
    }

    /// Runs cycles every flush interval until `stop`, then a last one.
    pub fn spawn(mut self, stop: Arc<Stop>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("persister".into())
            .spawn(move || {
                let interval = self.config.flush_interval();
                loop {
                    let stopping = stop.wait(interval);
                    self.cycle();
                    if stopping {
                        break;
                    }
                }
                tracing::info!("persister stopped");
            })
    }

    /// One cycle: persist, compact, expire. Errors are logged and counted; the rows stay in
    /// memory (and the journal) for the next cycle.
    pub fn cycle(&mut self) {
        if let Err(e) = self.persist() {
            self.stats.persist_errors.add(1);
            tracing::error!(error = %e, "persisting to Parquet failed; will retry");
            return;
        }
        let now = engine::clock::now_ns();
        if let Err(e) = self.compact(now) {
            self.stats.persist_errors.add(1);
            tracing::error!(error = %e, "compaction failed; will retry");
        }
        if let Err(e) = self.expire(now) {
            self.stats.persist_errors.add(1);
            tracing::error!(error = %e, "retention failed; will retry");
        }
    }

    /// Writes every final bar and every tick in memory to Parquet and commits.
    pub fn persist(&mut self) -> Result<usize> {
        let registry_name = |id: u32| instrument_name(&self.store, id);
        // 1. Snapshot what is final. The ticks are moved out (O(1) under the lock) into
        // `persisting`, where queries still see them while they are written.
        let (bars, ticks, ticks_through, needed) = {
            let mut inner = self.store.lock();
            let bars: Vec<Vec<(String, Bar)>> = inner
                .bars
                .iter()
                .map(|m| {
                    m.values()
                        .filter(|b| b.is_final)
                        .filter_map(|b| Some((registry_name(b.bar.instrument.0)?, b.bar)))
                        .collect()
                })
                .collect();
            let ticks = Arc::new(std::mem::take(&mut inner.ticks));
            inner.tick_count = 0;
            inner.persisting = Some(ticks.clone());
            let not_final = inner
                .bars
                .iter()
                .flat_map(|m| m.values())
                .filter(|b| !b.is_final)
                .map(|b| b.first_index)
                .min();
            let needed = [not_final, inner.aggregator_min_index]
                .into_iter()
                .flatten()
                .min();
            (bars, ticks, inner.last_index, needed)
        };
        let result = self.write_and_commit(bars, &ticks, ticks_through, needed);
        if let (Ok(_), Some(latency)) = (&result, &self.latency) {
            let now = engine::clock::now_ns();
            latency.record_all(
                ticks
                    .values()
                    .flat_map(|v| v.iter().map(move |(_, t)| now - t.ts_recv)),
            );
        }
        if result.is_err() {
            // Nothing was committed: the ticks go back in front of those that came since.
            let mut inner = self.store.lock();
            let newer = std::mem::take(&mut inner.ticks);
            let mut restored: TickMap = (*ticks).clone();
            for (id, v) in newer {
                restored.entry(id).or_default().extend(v);
            }
            inner.tick_count = restored.values().map(Vec::len).sum();
            inner.ticks = restored;
            inner.persisting = None;
        }
        result
    }

    fn write_and_commit(
        &mut self,
        bars: Vec<Vec<(String, Bar)>>,
        ticks: &TickMap,
        ticks_through: u64,
        needed: Option<u64>,
    ) -> Result<usize> {
        let root = self.store.root().to_owned();
        let registry_name = |id: u32| instrument_name(&self.store, id);
        let ticks: Vec<(String, TickRow)> = ticks
            .iter()
            .filter_map(|(id, v)| Some((registry_name(*id)?, v)))
            .flat_map(|(name, v)| {
                v.iter()
                    .map(move |(_, t)| (name.clone(), TickRow::from_tick(t)))
            })
            .collect();
        let bar_count: usize = bars.iter().map(Vec::len).sum();
        if bar_count == 0 && ticks.is_empty() && ticks_through <= self.state.ticks_through {
            return Ok(0);
        }
        // 2. Write the files.
        let generation = self.state.generation + 1;
        let version = self.next_version();
        let name = part_name(generation);
        let mut written: Vec<(Dataset, PathBuf)> = Vec::new();
        let mut persisted = self.state.persisted.clone();
        for (slot, rows) in bars.iter().enumerate() {
            let interval = BASES[slot];
            for (instrument, bar) in rows {
                let last = persisted
                    .entry(instrument.clone())
                    .or_default()
                    .entry(interval.to_string())
                    .or_insert(i64::MIN);
                *last = (*last).max(bar.ts);
            }
            for path in write_bar_files(&root, interval, rows.clone(), version, &name)? {
                written.push((Dataset::Bars(interval), path));
            }
        }
        for path in write_tick_files(&root, ticks, version, &name)? {
            written.push((Dataset::Ticks, path));
        }
        // 3. Commit.
        let ticks_through = ticks_through.max(self.state.ticks_through);
        let replay_from = needed.unwrap_or(ticks_through + 1).min(ticks_through + 1);
        let state = State {
            generation,
            ticks_through,
            replay_from,
            persisted,
            replaced: Vec::new(),
        };
        state.commit(&root)?;
        self.state = state;
        let metas = written
            .iter()
            .map(|(d, p)| FileMeta::load(p).map(|m| (*d, Arc::new(m))))
            .collect::<Result<Vec<_>>>()?;
        self.stats.files_written.add(metas.len() as u64);
        // 4. Swap the files in and drop what they hold, in one step.
        {
            let mut inner = self.store.lock();
            let mut catalog: Catalog = (*inner.catalog).clone();
            for (dataset, meta) in metas {
                catalog.add(dataset, meta);
            }
            inner.catalog = Arc::new(catalog);
            for (slot, rows) in bars.iter().enumerate() {
                for (_, bar) in rows {
                    let key = (bar.instrument.0, bar.ts);
                    if inner.bars[slot].get(&key).is_some_and(|b| b.is_final) {
                        inner.bars[slot].remove(&key);
                    }
                }
            }
            inner.persisting = None;
        }
        // 5. Release the journal below what a restart would replay.
        self.stats
            .release_through
            .store(replay_from.saturating_sub(1), Ordering::Release);
        Ok(written.len())
    }

    /// Merges the engine-written files of each day holding more than `compact_files` of them
    /// (or more than one, for days before today) into one. Bars of 1m and longer go further:
    /// once a UTC month has been over for a day, its day files (and any month file) are merged
    /// into one file under `month=YYYY-MM`, so a long range reads a file a month, not a day.
    pub fn compact(&mut self, now: i64) -> Result<usize> {
        let today = now.div_euclid(DAY) * DAY;
        let catalog = self.store.lock().catalog.clone();
        let mut merged = 0;
        for dataset in catalog.datasets().collect::<Vec<_>>() {
            let monthly =
                matches!(dataset, Dataset::Bars(i) if i.nanos() >= Interval::MINUTE.nanos());
            // (partition start, whole month): the files to merge into one.
            let mut groups: BTreeMap<(i64, bool), Vec<Arc<FileMeta>>> = BTreeMap::new();
            for file in catalog.files(dataset) {
                if file_generation(&file.path).is_none() {
                    continue;
                }
                let Some((start, _)) = file_span(&file.path) else {
                    continue;
                };
                let month = month_start(start);
                if monthly && next_month_start(month) + DAY <= now {
                    groups.entry((month, true)).or_default().push(file.clone());
                } else if partition_of(&file.path).is_some_and(|p| partition_day(&p).is_some()) {
                    groups.entry((start, false)).or_default().push(file.clone());
                }
            }
            for ((start, whole_month), files) in groups {
                let (due, dir) = if whole_month {
                    let name = month_partition_name(start);
                    let outside = files
                        .iter()
                        .any(|f| partition_of(&f.path).as_deref() != Some(name.as_str()));
                    (
                        files.len() > 1 || outside,
                        dataset.dir(self.store.root()).join(name),
                    )
                } else {
                    let due = files.len() > self.config.compact_files
                        || (start < today && files.len() > 1);
                    let dir = files[0].path.parent().map(|p| p.to_owned());
                    (due, dir.unwrap_or_default())
                };
                if due {
                    let page_rows = if whole_month {
                        MONTH_PAGE_ROWS
                    } else {
                        PAGE_ROWS
                    };
                    self.compact_files(dataset, &files, &dir, page_rows)?;
                    merged += files.len();
                }
            }
        }
        Ok(merged)
    }

    /// Merges `files` into one new file in `dir` with pages of at most `page_rows` rows,
    /// commits, swaps the catalog, and removes them (and their partition directories, once
    /// empty).
    fn compact_files(
        &mut self,
        dataset: Dataset,
        files: &[Arc<FileMeta>],
        dir: &std::path::Path,
        page_rows: usize,
    ) -> Result<()> {
        let root = self.store.root().to_owned();
        let mut batches = Vec::new();
        let mut versions: Vec<u64> = Vec::new();
        for file in files {
            for batch in file.read_all()? {
                versions.extend(std::iter::repeat_n(file.version, batch.num_rows()));
                batches.push(batch);
            }
        }
        let Some(first) = batches.first() else {
            return Ok(());
        };
        let schema = first.schema();
        let all = arrow_select::concat::concat_batches(&schema, &batches)?;
        let sorted = sort_rows(&all, &versions, matches!(dataset, Dataset::Bars(_)))?;
        let instruments = column::<StringArray>(&sorted, "instrument")?;
        let names: Vec<&str> = (0..instruments.len())
            .map(|i| instruments.value(i))
            .collect();
        let version = files.iter().map(|f| f.version).max().unwrap_or(0);
        let generation = self.state.generation + 1;
        let path = dir.join(part_name(generation));
        write_file_with(
            &path,
            std::slice::from_ref(&sorted),
            properties_with_pages(file_metadata(dataset, version, &names), page_rows),
        )?;
        let replaced: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        let state = State {
            generation,
            replaced: replaced.clone(),
            ..self.state.clone()
        };
        state.commit(&root)?;
        self.state = State {
            replaced: Vec::new(),
            ..state
        };
        let meta = Arc::new(FileMeta::load(&path)?);
        {
            let mut inner = self.store.lock();
            let mut catalog: Catalog = (*inner.catalog).clone();
            catalog.remove(dataset, &replaced);
            catalog.add(dataset, meta);
            inner.catalog = Arc::new(catalog);
        }
        for old in &replaced {
            if let Err(e) = std::fs::remove_file(old) {
                tracing::warn!(path = %old.display(), error = %e, "cannot remove a compacted file");
            }
            if let Some(parent) = old.parent().filter(|p| *p != dir) {
                // Gone once the partition is empty (a day merged into its month).
                let _ = std::fs::remove_dir(parent);
            }
        }
        self.stats.files_compacted.add(replaced.len() as u64);
        tracing::debug!(dataset = %dataset.name(), files = replaced.len(), path = %path.display(), "compacted");
        Ok(())
    }

    /// Removes engine-written files of days past each dataset's retention.
    pub fn expire(&mut self, now: i64) -> Result<usize> {
        let retention = &self.config.retention;
        let catalog = self.store.lock().catalog.clone();
        let mut expired: Vec<(Dataset, PathBuf)> = Vec::new();
        for dataset in catalog.datasets() {
            let days = match dataset {
                Dataset::Ticks => retention.ticks_days,
                Dataset::Bars(i) if i == Interval::SECOND => retention.bars_1s_days,
                Dataset::Bars(i) if i == Interval::MINUTE => retention.bars_1m_days,
                Dataset::Bars(_) => retention.bars_other_days,
            };
            if days == 0 {
                continue;
            }
            let cutoff = now.div_euclid(DAY) * DAY - i64::from(days) * DAY;
            for file in catalog.files(dataset) {
                // A partition goes once all of it is past the cutoff.
                let span = file_span(&file.path);
                if file_generation(&file.path).is_some() && span.is_some_and(|(_, e)| e <= cutoff) {
                    expired.push((dataset, file.path.clone()));
                }
            }
        }
        if expired.is_empty() {
            return Ok(0);
        }
        {
            let mut inner = self.store.lock();
            let mut catalog: Catalog = (*inner.catalog).clone();
            for (dataset, path) in &expired {
                catalog.remove(*dataset, std::slice::from_ref(path));
            }
            inner.catalog = Arc::new(catalog);
        }
        for (_, path) in &expired {
            std::fs::remove_file(path).map_err(Error::io("cannot remove", path))?;
            if let Some(dir) = path.parent() {
                // Gone when it was the day's last file.
                let _ = std::fs::remove_dir(dir);
            }
        }
        self.stats.partitions_expired.add(expired.len() as u64);
        tracing::info!(files = expired.len(), "retention removed old files");
        Ok(expired.len())
    }
}

/// Sorts a stored-layout batch by instrument and time; for bars keeps one row per
/// (instrument, ts), the one of the highest version.
fn sort_rows(batch: &RecordBatch, versions: &[u64], dedupe: bool) -> Result<RecordBatch> {
    let instrument = column::<StringArray>(batch, "instrument")?;
    let time_name = if dedupe { "ts" } else { "ts_event" };
    let ts = column::<TimestampNanosecondArray>(batch, time_name)?;
    let recv = column::<TimestampNanosecondArray>(batch, "ts_recv").ok();
    let seq = column::<UInt64Array>(batch, "seq").ok();
    let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        let key = |i: usize| {
            (
                instrument.value(i),
                ts.value(i),
                recv.map_or(0, |r| r.value(i)),
                seq.map_or(0, |s| s.value(i)),
                versions[i],
            )
        };
        key(a).cmp(&key(b))
    });
    if dedupe {
        let mut kept: Vec<u32> = Vec::with_capacity(order.len());
        for i in order {
            match kept.last() {
                Some(&last)
                    if instrument.value(last as usize) == instrument.value(i as usize)
                        && ts.value(last as usize) == ts.value(i as usize) =>
                {
                    if let Some(last) = kept.last_mut() {
                        *last = i;
                    }
                }
                _ => kept.push(i),
            }
        }
        order = kept;
    }
    let indices = UInt32Array::from(order);
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &indices, None))
        .collect::<std::result::Result<_, _>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}
