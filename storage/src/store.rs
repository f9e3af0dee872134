//! The store: what history queries read. Parquet files (through the [`Catalog`]) and, in
//! memory, the closed bars and the ticks that are not in Parquet yet.
//!
//! One mutex guards the catalog and the memory together. The writer takes it once per batch
//! of ticks; the persister takes it to swap in new files *and* drop the rows they hold in one
//! step; a query takes it only to copy its instrument's memory rows and the file list. So a
//! query sees every row exactly once, however the seam between memory and Parquet moves.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use engine::{Bar, InstrumentId, Interval, Registry, Tick};

use crate::aggregate::{BarEvent, BarEventKind};
use crate::catalog::{Catalog, Dataset};
use crate::columnar::read::FileMeta;

/// File whose change tells a running engine that `nexamd import` added files.
pub const IMPORT_MARKER: &str = "IMPORTED";

/// Ticks in memory by instrument id, each with its journal index, in arrival order.
pub type TickMap = HashMap<u32, Vec<(u64, Tick)>>;

/// A bar in memory.
#[derive(Debug, Clone, Copy)]
pub struct MemBar {
    /// The bar.
    pub bar: Bar,
    /// Journal index of its first trade.
    pub first_index: u64,
    /// Whether it can still change.
    pub is_final: bool,
}

/// Everything the mutex guards.
#[derive(Debug, Default)]
pub struct Inner {
    /// The files on disk.
    pub catalog: Arc<Catalog>,
    /// Closed bars not yet in Parquet, per live base interval, by (instrument, start).
    pub bars: Vec<BTreeMap<(u32, i64), MemBar>>,
    /// Ticks not yet in Parquet, per instrument, in arrival order, with journal indexes.
    pub ticks: TickMap,
    /// Ticks held in `ticks`.
    pub tick_count: usize,
    /// Ticks the persister took out of `ticks` and is writing to Parquet; still served until
    /// the files holding them are in the catalog.
    pub persisting: Option<Arc<TickMap>>,
    /// Lowest journal index of a bar the aggregator still holds (open or closed, not final),
    /// as of the last batch.
    pub aggregator_min_index: Option<u64>,
    /// Highest journal index handed to the store.
    pub last_index: u64,
}

impl Inner {
    /// The lowest journal index whose tick some memory row (bar or tick) still needs.
    pub fn min_needed_index(&self) -> Option<u64> {
        let bars = self
            .bars
            .iter()
            .flat_map(|m| m.values())
            .map(|b| b.first_index)
            .min();
        let ticks = self
            .ticks
            .values()
            .filter_map(|v| v.first())
            .map(|(i, _)| *i)
            .min();
        [bars, ticks, self.aggregator_min_index]
            .into_iter()
            .flatten()
            .min()
    }
}

/// The store. Share as `Arc<Store>`.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    registry: Arc<Registry>,
    bases: Vec<Interval>,
    inner: Mutex<Inner>,
    /// When the import marker was last seen changed.
    import_seen: Mutex<Option<SystemTime>>,
}

impl Store {
    /// A store over the data directory `root` with live base intervals `bases`.
    pub fn new(
        root: &Path,
        registry: Arc<Registry>,
        bases: &[Interval],
        catalog: Catalog,
    ) -> Store {
        let import_seen = std::fs::metadata(root.join(IMPORT_MARKER))
            .and_then(|m| m.modified())
            .ok();
        Store {
            root: root.to_owned(),
            registry,
            bases: bases.to_vec(),
            inner: Mutex::new(Inner {
                catalog: Arc::new(catalog),
                bars: bases.iter().map(|_| BTreeMap::new()).collect(),
                ..Inner::default()
            }),
            import_seen: Mutex::new(import_seen),
        }
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The instrument registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The live base intervals, finest first.
    pub fn bases(&self) -> &[Interval] {
        &self.bases
    }

    /// Locks the store.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the data whole, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a batch from the writer: bar events, new ticks and the aggregator's lowest
    /// held index.
    pub fn apply(
        &self,
        events: impl IntoIterator<Item = BarEvent>,
        ticks: &mut Vec<(u64, Tick)>,
        aggregator_min_index: Option<u64>,
    ) {
        let mut inner = self.lock();
        for event in events {
            let Some(slot) = self.bases.iter().position(|b| *b == event.bar.interval) else {
                continue;
            };
            let key = (event.bar.instrument.0, event.bar.ts);
            let entry = MemBar {
                bar: event.bar,
                first_index: event.first_index,
                is_final: event.kind == BarEventKind::Final,
            };
            inner.bars[slot].insert(key, entry);
        }
        if let Some((last, _)) = ticks.last() {
            inner.last_index = inner.last_index.max(*last);
        }
        inner.tick_count += ticks.len();
        for (index, tick) in ticks.drain(..) {
            inner
                .ticks
                .entry(tick.instrument.0)
                .or_default()
                .push((index, tick));
        }
        inner.aggregator_min_index = aggregator_min_index;
    }

    /// Re-reads the catalog if `nexamd import` added files since the last look.
    pub fn refresh_if_imported(&self) {
        let modified = std::fs::metadata(self.root.join(IMPORT_MARKER))
            .and_then(|m| m.modified())
            .ok();
        let mut seen = self.import_seen.lock().unwrap_or_else(|e| e.into_inner());
        if modified.is_none() || *seen == modified {
            return;
        }
        *seen = modified;
        let (catalog, bad) = Catalog::scan(&self.root);
        for error in bad {
            tracing::error!(%error, "stored file cannot be read; skipped");
        }
        tracing::info!("imported files found; catalog reloaded");
        self.lock().catalog = Arc::new(catalog);
    }

    /// The files and memory bars a bar query at base `base` over `[start, end)` reads.
    pub fn bar_snapshot(
        &self,
        name: &str,
        id: Option<InstrumentId>,
        base: Interval,
        (start, end): (i64, i64),
    ) -> (Vec<Arc<FileMeta>>, Vec<Bar>) {
        let inner = self.lock();
        let files = inner
            .catalog
            .files(Dataset::Bars(base))
            .iter()
            .filter(|f| f.may_hold(name, start, end))
            .cloned()
            .collect();
        let memory = match (id, self.bases.iter().position(|b| *b == base)) {
            (Some(id), Some(slot)) => inner.bars[slot]
                .range((id.0, start)..(id.0, end))
                .map(|(_, b)| b.bar)
                .collect(),
            _ => Vec::new(),
        };
        (files, memory)
    }

    /// The files and memory ticks a tick query over `[start, end)` reads.
    pub fn tick_snapshot(
        &self,
        name: &str,
        id: Option<InstrumentId>,
        (start, end): (i64, i64),
    ) -> (Vec<Arc<FileMeta>>, Vec<Tick>) {
        let inner = self.lock();
        let files = inner
            .catalog
            .files(Dataset::Ticks)
            .iter()
            .filter(|f| f.may_hold(name, start, end))
            .cloned()
            .collect();
        let memory = match id {
            Some(id) => inner
                .persisting
                .iter()
                .filter_map(|p| p.get(&id.0))
                .chain(inner.ticks.get(&id.0))
                .flatten()
                .filter(|(_, t)| t.ts_event >= start && t.ts_event < end)
                .map(|(_, t)| *t)
                .collect(),
            None => Vec::new(),
        };
        (files, memory)
    }

    /// Which stored intervals have data for `name` (files or memory), finest first.
    pub fn bar_intervals_with(&self, name: &str, id: Option<InstrumentId>) -> Vec<Interval> {
        let inner = self.lock();
        let mut out: Vec<Interval> = inner
            .catalog
            .datasets()
            .filter_map(|d| match d {
                Dataset::Bars(i) if inner.catalog.has(d, name) => Some(i),
                _ => None,
            })
            .collect();
        if let Some(id) = id {
            for (slot, base) in self.bases.iter().enumerate() {
                let any = inner.bars[slot]
                    .range((id.0, i64::MIN)..=(id.0, i64::MAX))
                    .next()
                    .is_some();
                if any && !out.contains(base) {
                    out.push(*base);
                }
            }
        }
        out.sort();
        out
    }

    /// Every stored bar interval (files or live), finest first.
    pub fn bar_intervals(&self) -> Vec<Interval> {
        let inner = self.lock();
        let mut out: Vec<Interval> = inner
            .catalog
            .datasets()
            .filter_map(|d| match d {
                Dataset::Bars(i) => Some(i),
                Dataset::Ticks => None,
            })
            .chain(self.bases.iter().copied())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether `name` is a known instrument: live in the registry or held by a file.
    pub fn knows(&self, name: &str) -> bool {
        self.registry.id(name).is_some() || self.lock().catalog.knows(name)
    }
}
