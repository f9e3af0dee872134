//! The storage consumer: on the ring's gating consumer thread, every tick is appended to the
//! journal, folded into bars and kept in memory until the persister writes it to Parquet.
//!
//! Per tick: a 65-byte copy into the journal's block, the aggregator's update of two bars,
//! and a push onto a batch vector. Per batch: one `write` of the journal block, one wall-clock
//! read, one lock of the store to hand over the batch and the bar events, and one call to the
//! bar sink per closed bar.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use engine::metrics::Counter;
use engine::{BarSink, Interval, Registry, Tick};

use crate::aggregate::{Aggregator, BarEvent, BarEventKind};
use crate::catalog::{Catalog, remove_temporaries};
use crate::config::{FsyncMode, StorageConfig};
use crate::error::{Error, Result};
use crate::journal::{Journal, JournalConfig, JournalHandle, SyncPolicy};
use crate::questdb::QuestDbSink;
use crate::state::{State, file_generation};
use crate::store::Store;

/// The live base intervals: 1s and 1m.
pub const BASES: [Interval; 2] = [Interval::SECOND, Interval::MINUTE];

/// How often the aggregator's watermarks move on by the wall clock.
const ADVANCE_EVERY: Duration = Duration::from_millis(50);

/// Counters of the storage consumer, shared with `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Ticks handled.
    pub ticks: Counter,
    /// Bars closed.
    pub bars_closed: Counter,
    /// Closed bars amended by late trades.
    pub bars_amended: Counter,
    /// Trades left out of bars because they came after the grace period.
    pub late_trades: Counter,
    /// Journal appends or writes that failed.
    pub journal_errors: Counter,
    /// Journal segments deleted once covered by Parquet.
    pub segments_deleted: Counter,
    /// Parquet files written.
    pub files_written: Counter,
    /// Persist cycles that failed.
    pub persist_errors: Counter,
    /// Files compacted into one.
    pub files_compacted: Counter,
    /// Partitions removed by retention.
    pub partitions_expired: Counter,
    /// Journal index through which the persister says segments can go.
    pub release_through: AtomicU64,
}

/// What [`open`] found and rebuilt.
#[derive(Debug, Default, Clone)]
pub struct Recovered {
    /// Ticks replayed from the journal.
    pub replayed: u64,
    /// Uncommitted files deleted.
    pub uncommitted_removed: usize,
    /// Bytes cut from a torn journal tail.
    pub journal_bytes_cut: u64,
}

/// The consumer-thread half of storage.
#[derive(Debug)]
pub struct StorageWriter {
    journal: Option<Journal>,
    aggregator: Aggregator,
    store: Arc<Store>,
    sink: Option<Arc<dyn BarSink>>,
    questdb: Option<Arc<QuestDbSink>>,
    batch: Vec<(u64, Tick)>,
    events: Vec<BarEvent>,
    stats: Arc<WriterStats>,
    last_advance: Instant,
    released: u64,
    last_error_log: Option<Instant>,
    /// Journal index to use when the journal is unavailable.
    fallback_index: u64,
}

/// Opens storage under `root`: cleans up interrupted writes, reads the catalog, recovers the
/// journal and replays what Parquet does not hold yet.
pub fn open(
    root: &std::path::Path,
    config: &StorageConfig,
    registry: Arc<Registry>,
) -> Result<(StorageWriter, Arc<Store>, State, Recovered)> {
    std::fs::create_dir_all(root).map_err(Error::io("cannot create", root))?;
    let mut recovered = Recovered::default();
    remove_temporaries(root)?;
    let mut state = State::load(root)?;
    // Files of an interrupted cycle, and files a committed compaction replaced.
    for dataset_root in [root.join("bars"), root.join("ticks")] {
        for path in walk_parquet(&dataset_root) {
            if file_generation(&path).is_some_and(|g| g > state.generation) {
                std::fs::remove_file(&path).map_err(Error::io("cannot remove", &path))?;
                recovered.uncommitted_removed += 1;
            }
        }
    }
    for path in std::mem::take(&mut state.replaced) {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot remove", &path)(e)),
        }
    }
    let (catalog, bad) = Catalog::scan(root);
    for error in bad {
        tracing::error!(%error, "stored file cannot be read; left in place and skipped");
    }
    let store = Arc::new(Store::new(root, registry.clone(), &BASES, catalog));
    let mut aggregator = Aggregator::new(&BASES, config.grace_ns());
    for (name, by_interval) in &state.persisted {
        let Ok(id) = registry.intern(name) else {
            continue;
        };
        for (interval, ts) in by_interval {
            if let Some(slot) = BASES.iter().position(|b| b.to_string() == *interval) {
                aggregator.seal_through(id, slot, *ts);
            }
        }
    }
    let stats = Arc::new(WriterStats::default());
    let mut writer = StorageWriter {
        journal: None,
        aggregator,
        store: store.clone(),
        sink: None,
        questdb: None,
        batch: Vec::with_capacity(8192),
        events: Vec::new(),
        stats,
        last_advance: Instant::now(),
        released: 0,
        last_error_log: None,
        fallback_index: 0,
    };
    if let Some(questdb) = config.questdb.clone().filter(|_| config.enabled) {
        let sink = QuestDbSink::start(questdb, registry.clone())
            .map_err(|e| Error::QuestDb(Box::new(e)))?;
        writer.questdb = Some(Arc::new(sink));
    }
    if config.enabled {
        let journal_config = JournalConfig {
            segment_bytes: config.journal.segment_mib << 20,
            sync: match config.journal.fsync {
                FsyncMode::Group => SyncPolicy::Group {
                    interval: Duration::from_millis(config.journal.group_commit_ms),
                },
                FsyncMode::Always => SyncPolicy::Always,
                FsyncMode::Never => SyncPolicy::Never,
            },
            ..JournalConfig::new(root.join("journal"))
        };
        let (journal, report) = Journal::open(journal_config, registry.clone())
            .map_err(|e| Error::Journal(Box::new(e)))?;
        recovered.journal_bytes_cut = report.bytes_cut;
        let from = state.replay_from.max(1);
        let ticks_through = state.ticks_through;
        let replayed = {
            let (aggregator, batch) = (&mut writer.aggregator, &mut writer.batch);
            journal
                .replay(from, &registry, |index, tick| {
                    aggregator.on_tick(index, &tick, true);
                    if index > ticks_through {
                        batch.push((index, tick));
                    }
                })
                .map_err(|e| Error::Journal(Box::new(e)))?
        };
        recovered.replayed = replayed.ticks;
        writer.fallback_index = journal.next_index();
        writer.journal = Some(journal);
        writer.aggregator.advance(engine::clock::now_ns());
        writer.hand_over();
    }
    Ok((writer, store, state, recovered))
}

fn walk_parquet(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk_parquet(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    out
}

impl StorageWriter {
    /// Sends closed and amended bars to `sink` from now on.
    pub fn set_sink(&mut self, sink: Arc<dyn BarSink>) {
        self.sink = Some(sink);
    }

    /// The counters, shared.
    pub fn stats(&self) -> Arc<WriterStats> {
        self.stats.clone()
    }

    /// The QuestDB sink, if configured (for its counters).
    pub fn questdb(&self) -> Option<Arc<QuestDbSink>> {
        self.questdb.clone()
    }

    /// The journal's shared handle (durable and written indexes), if it runs.
    pub fn journal_handle(&self) -> Option<JournalHandle> {
        self.journal.as_ref().map(Journal::handle)
    }

    /// Handles one tick.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick) {
        let index = match self.journal.as_mut().map(|j| j.append(tick)) {
            Some(Ok(index)) => index,
            Some(Err(e)) => {
                self.journal_error(&e);
                self.fallback_index += 1;
                self.fallback_index
            }
            None => {
                self.fallback_index += 1;
                self.fallback_index
            }
        };
        self.fallback_index = self.fallback_index.max(index);
        self.aggregator.on_tick(index, tick, false);
        self.batch.push((index, *tick));
        if let Some(questdb) = &self.questdb {
            // Never blocks: a full queue drops the row and counts it.
            questdb.on_tick(tick);
        }
    }

    /// After each batch read from the ring: write the journal block, move watermarks on,
    /// hand bars and ticks to the store and the sink.
    pub fn on_batch_end(&mut self) {
        if let Some(Err(e)) = self.journal.as_mut().map(Journal::flush) {
            self.journal_error(&e);
        }
        if self.last_advance.elapsed() >= ADVANCE_EVERY {
            self.aggregator.advance(engine::clock::now_ns());
            self.last_advance = Instant::now();
            self.release_segments();
        }
        self.hand_over();
    }

    /// When the ring is idle: move watermarks on so quiet instruments' bars close.
    pub fn on_idle(&mut self) {
        self.aggregator.advance(engine::clock::now_ns());
        self.last_advance = Instant::now();
        self.release_segments();
        self.hand_over();
    }

    /// Flushes and closes the journal (at shutdown). Open bars stay in the journal and are
    /// rebuilt on the next start.
    pub fn close(mut self) {
        self.hand_over();
        if let Some(questdb) = self.questdb.take().and_then(Arc::into_inner) {
            let stats = questdb.stop();
            tracing::info!(
                sent = stats.sent_rows,
                dropped = stats.dropped_rows,
                "QuestDB sink stopped"
            );
        }
        if let Some(journal) = self.journal.take()
            && let Err(e) = journal.close()
        {
            tracing::error!(error = %e, "journal did not close cleanly");
        }
    }

    fn hand_over(&mut self) {
        self.events.extend(self.aggregator.drain_events());
        if self.events.is_empty() && self.batch.is_empty() {
            return;
        }
        for event in &self.events {
            match event.kind {
                BarEventKind::Closed => self.stats.bars_closed.add_single_writer(1),
                BarEventKind::Amended => self.stats.bars_amended.add_single_writer(1),
                BarEventKind::Final => continue,
            }
            if let Some(questdb) = &self.questdb {
                questdb.on_bar(&event.bar);
            }
            if let Some(sink) = &self.sink
                && let Some(instrument) = self.store.registry().get(event.bar.instrument)
            {
                sink.publish_bar(
                    &instrument.name,
                    &event.bar,
                    event.kind == BarEventKind::Amended,
                );
            }
        }
        self.stats.ticks.add_single_writer(self.batch.len() as u64);
        let late = self.aggregator.stats().late_dropped;
        let counted = self.stats.late_trades.get();
        if late > counted {
            self.stats.late_trades.add_single_writer(late - counted);
        }
        let min_index = self.aggregator.min_first_index();
        self.store
            .apply(self.events.drain(..), &mut self.batch, min_index);
    }

    fn release_segments(&mut self) {
        let through = self.stats.release_through.load(Ordering::Acquire);
        if through <= self.released {
            return;
        }
        if let Some(journal) = self.journal.as_mut() {
            match journal.delete_through(through) {
                Ok(deleted) => {
                    self.stats
                        .segments_deleted
                        .add_single_writer(deleted.len() as u64);
                    for segment in deleted {
                        tracing::debug!(path = %segment.path.display(), "journal segment covered by Parquet; deleted");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot delete journal segments"),
            }
        }
        self.released = through;
    }

    fn journal_error(&mut self, error: &crate::journal::Error) {
        self.stats.journal_errors.add_single_writer(1);
        if self
            .last_error_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            tracing::error!(%error, errors = self.stats.journal_errors.get(), "journal write failed: ticks are not durable until it recovers");
            self.last_error_log = Some(Instant::now());
        }
    }
}
