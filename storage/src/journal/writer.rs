//! The appending side: open (with recovery), append, flush, roll, delete.

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use engine::{Registry, Tick};

use super::block::{BlockBuf, HEADER_LEN, MAX_DEFINITION_LEN, MAX_INSTRUMENTS, TICK_ENTRY_LEN};
use super::config::{JournalConfig, SyncPolicy};
use super::recover::{self, RecoveryReport, Segment};
use super::replay::{ReplayReport, Replayer};
use super::segment;
use super::sync::{JournalHandle, JournalStats, Shared, Syncer, sync_dir};
use super::{Error, Result};

/// Name of the advisory lock file in the journal directory.
const LOCK_FILE: &str = "LOCK";

/// A segment file, as [`Journal::segments`] and [`Journal::delete_through`] describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The file.
    pub path: PathBuf,
    /// Index of its first tick (its name).
    pub first: u64,
    /// The index after its last readable tick (`first` when it has none).
    pub end: u64,
    /// Its readable bytes.
    pub bytes: u64,
}

impl From<&Segment> for SegmentInfo {
    fn from(segment: &Segment) -> Self {
        SegmentInfo {
            path: segment.path.clone(),
            first: segment.first,
            end: segment.end,
            bytes: segment.len,
        }
    }
}

/// The journal writer: one per directory (a lock file keeps a second one out), used from the
/// storage consumer's thread. See the [module docs](super) for the format and the
/// durability guarantees.
pub struct Journal {
    dir: PathBuf,
    segment_bytes: u64,
    block_bytes: usize,
    policy: SyncPolicy,
    registry: Arc<Registry>,
    /// Every segment, oldest first; the last is the active one.
    segments: Vec<Segment>,
    active: Arc<File>,
    /// Bytes written to the active segment.
    active_len: u64,
    block: BlockBuf,
    /// Bit per instrument id: defined in the active segment.
    defined: Vec<u64>,
    /// The index the next tick gets.
    next: u64,
    shared: Arc<Shared>,
    syncer: Option<Syncer>,
    /// A write or fsync failed in a way that makes further appends unsafe.
    failed: bool,
    _lock: File,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("policy", &self.policy)
            .field("segments", &self.segments.len())
            .field("next", &self.next)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (or creates) the journal in `config.dir`: takes the directory's lock, validates
    /// every segment, cuts a damaged tail of the last one, fsyncs what is kept, and gets
    /// ready to append after it. `registry` names the instruments of appended ticks.
    pub fn open(
        config: JournalConfig,
        registry: Arc<Registry>,
    ) -> Result<(Journal, RecoveryReport)> {
        config.validate()?;
        let dir = config.dir;
        fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        let lock = lock_dir(&dir)?;
        let (mut segments, mut report) = recover::recover(&dir)?;
        let shared = Arc::new(Shared::default());
        let cuts = report.damage.iter().filter(|d| d.cut).count() as u64;
        shared.tails_cut.store(cuts, Ordering::Relaxed);
        shared.bytes_cut.store(report.bytes_cut, Ordering::Relaxed);

        // What recovery kept becomes durable, so the durable index can start at it.
        let started = Instant::now();
        for segment in &segments {
            let file = OpenOptions::new()
                .write(true)
                .open(&segment.path)
                .map_err(|e| Error::io("open segment", &segment.path, e))?;
            file.sync_data()
                .map_err(|e| Error::io("fsync segment", &segment.path, e))?;
        }
        let next = segments.iter().map(|s| s.end).max().unwrap_or(1).max(1);
        // Continue the last segment, unless it is empty and named for another index (it
        // overlapped an earlier one): then it goes, and a segment named `next` replaces it.
        let continue_last = segments
            .last()
            .is_some_and(|s| s.len > 0 || s.first == next);
        if !continue_last && let Some(last) = segments.pop() {
            fs::remove_file(&last.path).map_err(|e| Error::io("remove segment", &last.path, e))?;
        }
        let active = match segments.last() {
            Some(last) if continue_last => {
                let mut file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&last.path)
                    .map_err(|e| Error::io("open segment", &last.path, e))?;
                file.seek(SeekFrom::Start(last.len))
                    .map_err(|e| Error::io("seek segment", &last.path, e))?;
                file
            }
            _ => {
                let (file, segment) = create_segment(&dir, next)?;
                segments.push(segment);
                shared.segments_created.store(1, Ordering::Relaxed);
                file
            }
        };
        sync_dir(&dir).map_err(|e| Error::io("fsync directory", &dir, e))?;
        shared.record_fsyncs(segments.len() as u64 + 1, started.elapsed());
        shared.written.store(next - 1, Ordering::Relaxed);
        shared.publish_durable(next - 1);

        let active = Arc::new(active);
        let syncer = match config.sync {
            SyncPolicy::Group { interval } => Some(Syncer::start(
                &dir,
                active.clone(),
                interval,
                shared.clone(),
            )?),
            SyncPolicy::Always | SyncPolicy::Never => None,
        };
        report.segments = segments.len();
        report.next_index = next;
        let active_len = segments.last().map_or(0, |s| s.len);
        let journal = Journal {
            dir,
            segment_bytes: config.segment_bytes,
            block_bytes: config.block_bytes,
            policy: config.sync,
            registry,
            segments,
            active,
            active_len,
            block: BlockBuf::new(config.block_bytes),
            defined: Vec::new(),
            next,
            shared,
            syncer,
            failed: false,
            _lock: lock,
        };
        Ok((journal, report))
    }

    /// Appends a tick and returns its journal index. Copies 65 bytes into the block buffer
    /// (plus, the first time the instrument appears in the segment, its definition); a block
    /// is written only when it is full (`block_bytes`) or when the segment rolls. The tick is
    /// in memory only until the next [`Journal::flush`].
    #[inline]
    pub fn append(&mut self, tick: &Tick) -> Result<u64> {
        if self.failed {
            return Err(Error::Stopped);
        }
        let id = tick.instrument.0;
        let mut need = TICK_ENTRY_LEN;
        if !self.is_defined(id) {
            need += MAX_DEFINITION_LEN;
        }
        if self.block.payload_len() + need > self.block_bytes && !self.block.is_empty() {
            self.write_block()?;
        }
        let grown = self.active_len + (HEADER_LEN + self.block.payload_len() + need) as u64;
        if grown > self.segment_bytes && (self.active_len > 0 || !self.block.is_empty()) {
            self.write_block()?;
            self.roll()?;
        }
        if !self.is_defined(id) {
            self.define(id)?;
        }
        let index = self.next;
        self.block.push_tick(index, tick);
        self.next += 1;
        Ok(index)
    }

    /// Writes the buffered block, if any, in one `write`; with [`SyncPolicy::Always`] also
    /// fsyncs it, with [`SyncPolicy::Group`] hands it to the syncer. Call it when the ring
    /// has nothing more to read for now.
    pub fn flush(&mut self) -> Result<()> {
        self.write_block()
    }

    /// Flushes, then waits for the last fsync round (with [`SyncPolicy::Group`]) and reports
    /// any failure. Dropping the journal does the same on a best-effort basis.
    pub fn close(mut self) -> Result<()> {
        self.write_block()?;
        match self.syncer.take() {
            Some(mut syncer) => syncer.stop(),
            None => Ok(()),
        }
    }

    /// Replays every written tick with index ≥ `from`, in index order: `f(index, tick)` with
    /// `tick.instrument` re-interned into `registry` (by name, from the segment's
    /// definitions). Reads one block at a time; ticks still buffered (not flushed) are not
    /// included.
    pub fn replay(
        &self,
        from: u64,
        registry: &Registry,
        f: impl FnMut(u64, Tick),
    ) -> Result<ReplayReport> {
        let mut replayer = Replayer::new(registry, from, f);
        for segment in self.segments.iter().filter(|s| s.end > from) {
            replayer.segment(&segment.path, segment.first, Some(segment.len))?;
        }
        Ok(replayer.report)
    }

    /// Deletes, oldest first, every closed segment whose ticks all have index ≤ `index` (the
    /// caller has them safely elsewhere, in Parquet). Never deletes the active segment.
    /// Returns the deleted segments.
    pub fn delete_through(&mut self, index: u64) -> Result<Vec<SegmentInfo>> {
        let mut deleted = Vec::new();
        // A closed segment holds indexes below the next segment's first.
        while self.segments.len() > 1 && self.segments[1].first.saturating_sub(1) <= index {
            let segment = &self.segments[0];
            match fs::remove_file(&segment.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("delete segment", &segment.path, e)),
            }
            deleted.push(SegmentInfo::from(&self.segments.remove(0)));
            self.shared.segments_deleted.fetch_add(1, Ordering::Relaxed);
        }
        if !deleted.is_empty() {
            tracing::debug!(
                segments = deleted.len(),
                through = index,
                "journal: deleted segments"
            );
        }
        Ok(deleted)
    }

    /// The index the next appended tick gets.
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// The highest index written to a segment file (see [`JournalHandle::written_index`]).
    pub fn written_index(&self) -> u64 {
        self.shared.written.load(Ordering::Acquire)
    }

    /// The highest index known fsynced (see [`JournalHandle::durable_index`]).
    pub fn durable_index(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// A handle on the progress and counters, for other threads.
    pub fn handle(&self) -> JournalHandle {
        JournalHandle {
            shared: self.shared.clone(),
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> JournalStats {
        self.handle().stats()
    }

    /// The segment files, oldest first; the last is the active one.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.segments.iter().map(SegmentInfo::from).collect()
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    #[inline]
    fn is_defined(&self, id: u32) -> bool {
        let id = id as usize;
        self.defined
            .get(id / 64)
            .is_some_and(|word| word >> (id % 64) & 1 == 1)
    }

    /// Buffers the definition of instrument `id` for the active segment.
    #[cold]
    fn define(&mut self, id: u32) -> Result<()> {
        if id >= MAX_INSTRUMENTS {
            return Err(Error::InstrumentIdTooLarge(id));
        }
        let instrument = self
            .registry
            .get(engine::InstrumentId(id))
            .ok_or(Error::UnknownInstrument(id))?;
        self.block.push_definition(id, &instrument.name);
        let slot = id as usize / 64;
        if self.defined.len() <= slot {
            self.defined.resize(slot + 1, 0);
        }
        self.defined[slot] |= 1 << (id % 64);
        Ok(())
    }

    /// Writes the buffered block with one `write`, then applies the sync policy.
    fn write_block(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        if self.failed {
            return Err(Error::Stopped);
        }
        if let Some(syncer) = &self.syncer
            && let Err(e) = syncer.check()
        {
            self.failed = true;
            return Err(e);
        }
        let last = self.block.end() - 1;
        let bytes = self.block.seal();
        let len = bytes.len() as u64;
        if let Err(e) = (&*self.active).write_all(bytes) {
            self.rewind();
            return Err(Error::io("write segment", &self.active_path(), e));
        }
        self.block.clear();
        self.active_len += len;
        if let Some(segment) = self.segments.last_mut() {
            segment.len = self.active_len;
            segment.end = last + 1;
        }
        self.shared.bytes_written.fetch_add(len, Ordering::Relaxed);
        self.shared.blocks_written.fetch_add(1, Ordering::Relaxed);
        // Release pairs with the Acquire in `written_index`: the counters above come along.
        self.shared.written.store(last, Ordering::Release);
        match self.policy {
            SyncPolicy::Always => {
                let started = Instant::now();
                if let Err(e) = self.active.sync_data() {
                    self.failed = true;
                    return Err(Error::SyncFailed(Arc::new(e)));
                }
                self.shared.record_fsyncs(1, started.elapsed());
                self.shared.publish_durable(last);
            }
            SyncPolicy::Group { .. } => {
                if let Some(syncer) = &self.syncer {
                    syncer.written(last);
                }
            }
            SyncPolicy::Never => {}
        }
        Ok(())
    }

    /// After a failed write: drop whatever part of the block reached the file, so that a
    /// retry starts at the end of the last whole block. If that fails too, stop.
    fn rewind(&mut self) {
        let file = &*self.active;
        let restored = file.set_len(self.active_len).is_ok()
            && (&*file).seek(SeekFrom::Start(self.active_len)).is_ok();
        if !restored {
            self.failed = true;
        }
    }

    /// Starts a new segment named by the next index; the old one gets its final fsync per
    /// the policy (already done for `Always`, by the syncer for `Group`).
    #[cold]
    fn roll(&mut self) -> Result<()> {
        let (file, segment) = create_segment(&self.dir, self.next)?;
        let file = Arc::new(file);
        match (&self.policy, &self.syncer) {
            (SyncPolicy::Always, _) => {
                let started = Instant::now();
                if let Err(e) = sync_dir(&self.dir) {
                    self.failed = true;
                    return Err(Error::SyncFailed(Arc::new(e)));
                }
                self.shared.record_fsyncs(1, started.elapsed());
            }
            (SyncPolicy::Group { .. }, Some(syncer)) => syncer.rolled(file.clone()),
            _ => {}
        }
        tracing::debug!(segment = %segment.path.display(), "journal: new segment");
        self.active = file;
        self.active_len = 0;
        self.segments.push(segment);
        self.defined.fill(0);
        self.shared.segments_created.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn active_path(&self) -> PathBuf {
        self.segments
            .last()
            .map_or_else(|| self.dir.clone(), |s| s.path.clone())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if !self.failed
            && let Err(e) = self.write_block()
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "journal: last flush failed");
        }
        // The syncer's own drop runs its last round and joins it.
    }
}

/// Creates the (new, empty) segment file for first index `first`.
fn create_segment(dir: &Path, first: u64) -> Result<(File, Segment)> {
    let path = dir.join(segment::file_name(first));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io("create segment", &path, e))?;
    let segment = Segment {
        first,
        path,
        len: 0,
        end: first,
    };
    Ok((file, segment))
}

/// Takes the directory's advisory lock, held as long as the returned file is open.
fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open lock file", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(TryLockError::Error(e)) => Err(Error::io("lock", &path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::DamageKind;
    use super::super::block::tests::{quote, trade};
    use super::super::replay::{replay_dir, replay_segment};
    use super::*;
    use engine::InstrumentId;
    use proptest::prelude::*;
    use std::time::Duration;

    const NAMES: [&str; 3] = ["SIM:AAA", "BINANCE:BTCUSDT", "COINBASE:BTC-USD"];

    fn registry(names: &[&str]) -> Arc<Registry> {
        let registry = Registry::new();
        for name in names {
            registry.intern(name).unwrap();
        }
        Arc::new(registry)
    }

    fn config(dir: &Path, sync: SyncPolicy) -> JournalConfig {
        JournalConfig {
            dir: dir.to_owned(),
            segment_bytes: 1 << 20,
            block_bytes: 4096,
            sync,
        }
    }

    /// `config` with 1 KiB segments, never synced: a few ticks fill a segment.
    fn small_segments(dir: &Path) -> JournalConfig {
        JournalConfig {
            segment_bytes: 1024,
            ..config(dir, SyncPolicy::Never)
        }
    }

    fn open(config: &JournalConfig, registry: &Arc<Registry>) -> (Journal, RecoveryReport) {
        Journal::open(config.clone(), registry.clone()).unwrap()
    }

    /// Tick `n`: trades and quotes in turn, over the three instruments of `NAMES` order.
    fn tick(n: i64) -> Tick {
        let id = (n % 3) as u32;
        if n % 2 == 0 {
            trade(id, n)
        } else {
            quote(id, n)
        }
    }

    /// `tick` as written by a process with `from` ids, as replayed into `to`.
    fn reinterned(mut tick: Tick, from: &Registry, to: &Registry) -> Tick {
        let name = from.get(tick.instrument).unwrap().name.clone();
        tick.instrument = to.id(&name).unwrap();
        tick
    }

    fn collect(journal: &Journal, from: u64, registry: &Registry) -> Vec<(u64, Tick)> {
        let mut out = Vec::new();
        journal
            .replay(from, registry, |index, tick| out.push((index, tick)))
            .unwrap();
        out
    }

    /// Appends ticks `range` (tick `n` gets index `n`), flushing every `every`.
    fn append_range(journal: &mut Journal, range: std::ops::Range<i64>, every: i64) {
        for n in range {
            assert_eq!(journal.append(&tick(n)).unwrap(), n as u64);
            if n % every == 0 {
                journal.flush().unwrap();
            }
        }
        journal.flush().unwrap();
    }

    fn expected(range: std::ops::Range<i64>, from: &Registry, to: &Registry) -> Vec<(u64, Tick)> {
        range
            .map(|n| (n as u64, reinterned(tick(n), from, to)))
            .collect()
    }

    /// Waits for `condition` with a deadline; true if it came.
    fn wait_until(deadline: Duration, condition: impl Fn() -> bool) -> bool {
        let end = Instant::now() + deadline;
        while !condition() {
            if Instant::now() > end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    fn file_len(path: &Path) -> u64 {
        fs::metadata(path).unwrap().len()
    }

    #[test]
    fn round_trip_reinterns_into_a_fresh_registry() {
        let dir = tempfile::tempdir().unwrap();
        let writer_ids = registry(&NAMES);
        let config = config(dir.path(), SyncPolicy::Never);
        let (mut journal, report) = open(&config, &writer_ids);
        assert_eq!((report.next_index, report.segments), (1, 1));
        append_range(&mut journal, 1..200, 17);
        assert_eq!(journal.written_index(), 199);
        journal.close().unwrap();

        // Another process: other ids, in another order, for the same names.
        let reader_ids = registry(&["X:FIRST", NAMES[2], NAMES[0], NAMES[1]]);
        let (journal, report) = open(&config, &reader_ids);
        assert_eq!(
            (report.next_index, report.ticks, report.damage.len()),
            (200, 199, 0)
        );
        let replayed = collect(&journal, 1, &reader_ids);
        assert_eq!(replayed, expected(1..200, &writer_ids, &reader_ids));
        assert!(replayed.iter().any(|(_, t)| t.as_quote().is_some()));
        assert_eq!(collect(&journal, 150, &reader_ids)[0].0, 150);
        assert_eq!(reader_ids.len(), 4, "replay interned nothing new");

        // Names unknown to the registry are interned by replay.
        let empty = Arc::new(Registry::new());
        let mut count = 0;
        replay_dir(dir.path(), 1, &empty, |_, _| count += 1).unwrap();
        assert_eq!((count, empty.len()), (199, 3));
    }

    #[test]
    fn index_and_segment_continue_across_reopen_with_new_ids() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), SyncPolicy::Never);
        let first_ids = registry(&NAMES);
        let (mut journal, _) = open(&config, &first_ids);
        append_range(&mut journal, 1..11, 4);
        drop(journal); // drop flushes too

        // The second process numbers the instruments the other way round.
        let second_ids = registry(&[NAMES[2], NAMES[1], NAMES[0]]);
        let (mut journal, report) = open(&config, &second_ids);
        assert_eq!(report.next_index, 11);
        assert_eq!((journal.written_index(), journal.durable_index()), (10, 10));
        for n in 11..21 {
            let t = reinterned(tick(n), &first_ids, &second_ids);
            assert_eq!(journal.append(&t).unwrap(), n as u64);
        }
        journal.flush().unwrap();
        assert_eq!(journal.segments().len(), 1, "the segment is continued");

        let fresh = registry(&[]);
        let replayed = collect(&journal, 1, &fresh);
        assert_eq!(replayed, expected(1..21, &first_ids, &fresh));
    }

    #[test]
    fn rolls_segments_at_the_size_and_each_replays_alone() {
        let dir = tempfile::tempdir().unwrap();
        let ids = registry(&NAMES);
        let config = JournalConfig {
            block_bytes: 300,
            ..small_segments(dir.path())
        };
        let (mut journal, _) = open(&config, &ids);
        append_range(&mut journal, 1..101, 5);
        let segments = journal.segments();
        assert!(segments.len() >= 6, "{} segments", segments.len());
        assert_eq!(segments[0].first, 1);
        for pair in segments.windows(2) {
            assert_eq!(pair[0].end, pair[1].first);
        }
        assert_eq!(segments.last().unwrap().end, 101);
        for segment in &segments {
            assert_eq!(
                segment.path,
                dir.path().join(segment::file_name(segment.first))
            );
            assert!(file_len(&segment.path) <= 1024, "{segment:?}");
            // Alone, into a registry that has never seen these instruments.
            let fresh = registry(&[]);
            let mut got = Vec::new();
            let report = replay_segment(&segment.path, 0, &fresh, |i, t| got.push((i, t))).unwrap();
            assert_eq!(report.skipped, 0);
            let range = segment.first as i64..segment.end as i64;
            assert_eq!(got, expected(range, &ids, &fresh));
        }
        assert_eq!(journal.stats().segments_created, segments.len() as u64);
    }

    /// Writes ticks 1..=12 in four blocks; returns the file and each block's end offset.
    fn four_blocks(dir: &Path, ids: &Arc<Registry>) -> (PathBuf, Vec<u64>) {
        let (mut journal, _) = open(&config(dir, SyncPolicy::Never), ids);
        let mut ends = Vec::new();
        for block in 0..4 {
            for n in 1..=3 {
                journal.append(&tick(block * 3 + n)).unwrap();
            }
            journal.flush().unwrap();
            ends.push(journal.segments()[0].bytes);
        }
        let path = journal.segments()[0].path.clone();
        journal.close().unwrap();
        (path, ends)
    }

    /// After damage, reopen: the replay holds exactly the first `blocks` blocks, the file is
    /// `len` long, and appending continues after them.
    fn check_recovered(dir: &Path, ids: &Arc<Registry>, blocks: u64, len: u64) -> RecoveryReport {
        let config = config(dir, SyncPolicy::Never);
        let (mut journal, report) = open(&config, ids);
        let ticks = blocks * 3;
        assert_eq!(report.next_index, ticks + 1);
        assert_eq!(report.blocks, blocks);
        assert_eq!(file_len(&journal.segments()[0].path), len);
        let ids2 = registry(&[]);
        assert_eq!(
            collect(&journal, 1, &ids2),
            expected(1..ticks as i64 + 1, ids, &ids2)
        );
        let next = journal.append(&tick(ticks as i64 + 1)).unwrap();
        assert_eq!(next, ticks + 1);
        journal.close().unwrap();
        let (journal, again) = open(&config, ids);
        assert!(again.damage.is_empty(), "{again:?}");
        assert_eq!(collect(&journal, 1, &ids2).len() as u64, ticks + 1);
        report
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn torn_tail_is_cut_at_the_last_whole_block(cut_permille in 0u64..1000) {
            let dir = tempfile::tempdir().unwrap();
            let ids = registry(&NAMES);
            let (path, ends) = four_blocks(dir.path(), &ids);
            let total = *ends.last().unwrap();
            let cut = total * cut_permille / 1000; // strictly inside the file
            OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
            let whole = ends.iter().filter(|&&end| end <= cut).count() as u64;
            let good_len = ends.iter().copied().filter(|&end| end <= cut).max().unwrap_or(0);
            let report = check_recovered(dir.path(), &ids, whole, good_len);
            prop_assert_eq!(report.bytes_cut, cut - good_len);
            prop_assert_eq!(report.damage.len(), usize::from(cut != good_len));
            if let Some(damage) = report.damage.first() {
                prop_assert!(damage.cut);
                prop_assert_eq!(damage.offset, good_len);
                prop_assert!(matches!(
                    damage.kind,
                    DamageKind::ShortHeader | DamageKind::ShortPayload
                ));
            }
        }
    }

    #[rstest::rstest]
    #[case::magic(0, 0xFF, DamageKind::BadMagic)]
    #[case::length_above_the_limit(7, 0x80, DamageKind::BadLength)]
    #[case::length_past_the_end(5, 0x01, DamageKind::ShortPayload)]
    #[case::header_field(9, 0x01, DamageKind::Checksum)]
    #[case::payload(100, 0x40, DamageKind::Checksum)]
    fn corrupt_byte_in_the_last_block_cuts_it(
        #[case] at: u64,
        #[case] xor: u8,
        #[case] kind: DamageKind,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let ids = registry(&NAMES);
        let (path, ends) = four_blocks(dir.path(), &ids);
        let mut bytes = fs::read(&path).unwrap();
        bytes[(ends[2] + at) as usize] ^= xor;
        fs::write(&path, &bytes).unwrap();
        let report = check_recovered(dir.path(), &ids, 3, ends[2]);
        assert_eq!(report.bytes_cut, ends[3] - ends[2]);
        assert_eq!(report.blocks_dropped, 1);
        let damage = &report.damage[0];
        assert_eq!(
            (damage.kind, damage.offset, damage.cut),
            (kind, ends[2], true)
        );
    }

    #[test]
    fn a_stray_overlapping_last_segment_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let ids = registry(&NAMES);
        let (path, _) = four_blocks(dir.path(), &ids);
        let stray = dir.path().join(segment::file_name(5));
        fs::copy(&path, &stray).unwrap();
        let config = config(dir.path(), SyncPolicy::Never);
        let (mut journal, report) = open(&config, &ids);
        assert_eq!(report.damage[0].kind, DamageKind::Overlap);
        assert_eq!(report.next_index, 13);
        assert!(!stray.exists());
        let firsts: Vec<u64> = journal.segments().iter().map(|s| s.first).collect();
        assert_eq!(firsts, [1, 13]);
        assert_eq!(journal.append(&tick(13)).unwrap(), 13);
        journal.flush().unwrap();
        assert_eq!(collect(&journal, 0, &ids), expected(1..14, &ids, &ids));
    }

    #[test]
    fn corrupt_block_in_the_middle_of_the_last_segment_drops_what_follows() {
        let dir = tempfile::tempdir().unwrap();
        let ids = registry(&NAMES);
        let (path, ends) = four_blocks(dir.path(), &ids);
        let mut bytes = fs::read(&path).unwrap();
        bytes[(ends[0] + 40) as usize] ^= 1;
        fs::write(&path, &bytes).unwrap();
        let report = check_recovered(dir.path(), &ids, 1, ends[0]);
        assert_eq!(
            report.blocks_dropped, 3,
            "the bad block and two whole ones after it"
        );
        let (journal, _) = open(&config(dir.path(), SyncPolicy::Never), &ids);
        assert_eq!(
            journal.stats().tails_cut,
            0,
            "nothing left to cut on the second open"
        );
    }

    #[test]
    fn corruption_in_a_closed_segment_loses_its_rest_only() {
        let dir = tempfile::tempdir().unwrap();
        let ids = registry(&NAMES);
        let config = small_segments(dir.path());
        let (mut journal, _) = open(&config, &ids);
        append_range(&mut journal, 1..61, 3); // blocks of 3 ticks
        let segments = journal.segments();
        journal.close().unwrap();
        assert!(segments.len() >= 3);
        let victim = &segments[1];
        let before = fs::read(&victim.path).unwrap();
        // The second block of the second segment: after the first block's header and ticks.
        let first_block = HEADER_LEN as u64 + before[4] as u64;
        let mut bytes = before.clone();
        bytes[(first_block + 50) as usize] ^= 0xFF;
        fs::write(&victim.path, &bytes).unwrap();

        let (mut journal, report) = open(&config, &ids);
        assert_eq!(report.next_index, 61, "indexes are not reused");
        assert_eq!(report.bytes_cut, 0);
        let damage = &report.damage[0];
        assert_eq!((damage.offset, damage.cut), (first_block, false));
        assert_eq!(report.bytes_ignored, victim.bytes - first_block);
        assert_eq!(fs::read(&victim.path).unwrap(), bytes, "left as it is");

        let lost = victim.first + 3..victim.end;
        let fresh = registry(&[]);
        let replayed = collect(&journal, 1, &fresh);
        let wanted: Vec<_> = expected(1..61, &ids, &fresh)
            .into_iter()
            .filter(|(i, _)| !lost.contains(i))
            .collect();
        assert_eq!(replayed, wanted);
        let mut from_disk = Vec::new();
        replay_dir(dir.path(), 1, &fresh, |i, t| from_disk.push((i, t))).unwrap();
        assert_eq!(from_disk, wanted);
        assert_eq!(journal.append(&tick(61)).unwrap(), 61);
    }

    #[test]
    fn delete_through_keeps_the_active_segment_and_later_ones() {
        let dir = tempfile::tempdir().unwrap();
        let ids = registry(&NAMES);
        let config = small_segments(dir.path());
        let (mut journal, _) = open(&config, &ids);
        append_range(&mut journal, 1..81, 4);
        let segments = journal.segments();
        assert!(segments.len() >= 4);

        assert!(
            journal
                .delete_through(segments[0].end - 2)
                .unwrap()
                .is_empty()
        );
        let deleted = journal.delete_through(segments[1].end - 1).unwrap();
        assert_eq!(deleted, segments[..2]);
        assert!(!segments[0].path.exists() && !segments[1].path.exists());
        assert!(segments[2].path.exists());
        assert_eq!(journal.segments(), segments[2..]);

        let deleted = journal.delete_through(u64::MAX).unwrap();
        assert_eq!(deleted, segments[2..segments.len() - 1]);
        let active = segments.last().unwrap();
        assert_eq!(journal.segments(), std::slice::from_ref(active));
        assert!(active.path.exists());
        assert_eq!(journal.stats().segments_deleted, segments.len() as u64 - 1);
        journal.close().unwrap();

        let (journal, report) = open(&config, &ids);
        assert_eq!((report.next_index, report.segments), (81, 1));
        let first = collect(&journal, 0, &ids)[0].0;
        assert_eq!(first, active.first);
    }

    #[test]
    fn group_commit_makes_the_written_index_durable_soon() {
        let dir = tempfile::tempdir().unwrap();
        let ids = registry(&NAMES);
        let config = JournalConfig {
            segment_bytes: 2048,
            ..config(
                dir.path(),
                SyncPolicy::Group {
                    interval: Duration::from_millis(5),
                },
            )
        };
        let (mut journal, _) = open(&config, &ids);
        let handle = journal.handle();
        append_range(&mut journal, 1..11, 100);
        assert_eq!(handle.written_index(), 10);
        assert!(wait_until(Duration::from_secs(5), || handle
            .durable_index()
            == 10));
        // Across rollovers too: the old segments get their final fsync.
        append_range(&mut journal, 11..201, 7);
        assert!(journal.segments().len() > 3);
        assert!(wait_until(Duration::from_secs(5), || handle
            .durable_index()
            == 200));
        let stats = handle.stats();
        assert!(stats.fsyncs > 1 && stats.blocks_written > 10, "{stats:?}");
        journal.close().unwrap();
    }

    #[test]
    fn always_is_durable_when_flush_returns_and_never_stays_put() {
        let dir = tempfile::tempdir().unwrap();
        let ids = registry(&NAMES);
        let (mut journal, _) = open(&config(dir.path(), SyncPolicy::Always), &ids);
        for n in 1..6 {
            journal.append(&tick(n)).unwrap();
            journal.flush().unwrap();
            assert_eq!(journal.durable_index(), n as u64);
        }
        drop(journal);

        let (mut journal, _) = open(&config(dir.path(), SyncPolicy::Never), &ids);
        assert_eq!(journal.durable_index(), 5, "open syncs what it recovered");
        append_range(&mut journal, 6..9, 1);
        assert_eq!((journal.written_index(), journal.durable_index()), (8, 5));
    }

    #[test]
    fn a_second_writer_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let ids = registry(&NAMES);
        let config = config(dir.path(), SyncPolicy::Never);
        let (journal, _) = open(&config, &ids);
        assert!(matches!(
            Journal::open(config.clone(), ids.clone()),
            Err(Error::Locked { .. })
        ));
        drop(journal);
        assert!(Journal::open(config, ids).is_ok());
    }

    #[test]
    fn unknown_instrument_is_refused_without_harm() {
        let dir = tempfile::tempdir().unwrap();
        let ids = registry(&NAMES);
        let (mut journal, _) = open(&config(dir.path(), SyncPolicy::Never), &ids);
        assert!(matches!(
            journal.append(&trade(9, 1)),
            Err(Error::UnknownInstrument(9))
        ));
        assert_eq!(journal.append(&tick(1)).unwrap(), 1);
        journal.flush().unwrap();
        assert_eq!(collect(&journal, 1, &ids), [(1, tick(1))]);
        assert_eq!(tick(1).instrument, InstrumentId(1));
    }
}
