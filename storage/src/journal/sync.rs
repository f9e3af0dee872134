//! Progress and statistics shared with other threads, and the group-commit syncer thread.

use std::fs::File;
use std::io;
use std::mem;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Error, Result};

/// Counters written by the appending thread and the syncer, read by anyone holding a
/// [`JournalHandle`]. Updated per block or per fsync, never per tick.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub written: AtomicU64,
    pub durable: AtomicU64,
    pub bytes_written: AtomicU64,
    pub blocks_written: AtomicU64,
    pub fsyncs: AtomicU64,
    pub last_fsync_nanos: AtomicU64,
    pub segments_created: AtomicU64,
    pub segments_deleted: AtomicU64,
    pub tails_cut: AtomicU64,
    pub bytes_cut: AtomicU64,
}

impl Shared {
    /// Counts `count` fsyncs that took `took` in all.
    pub fn record_fsyncs(&self, count: u64, took: Duration) {
        self.fsyncs.fetch_add(count, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.last_fsync_nanos.store(nanos, Ordering::Relaxed);
    }

    /// Publishes `index` as durable. Release pairs with the Acquire in
    /// [`JournalHandle::durable_index`]: whoever sees the index also sees the counters above.
    pub fn publish_durable(&self, index: u64) {
        self.durable.fetch_max(index, Ordering::Release);
    }
}

/// A cheap, cloneable view of a journal's progress and counters, for other threads (the
/// metrics endpoint, whoever waits for durability).
#[derive(Clone, Debug)]
pub struct JournalHandle {
    pub(super) shared: Arc<Shared>,
}

impl JournalHandle {
    /// The highest journal index handed to `write` (0 when none): it survives `kill -9` of the
    /// process, since the data sits in the OS page cache, but not an OS crash or power loss.
    pub fn written_index(&self) -> u64 {
        self.shared.written.load(Ordering::Acquire)
    }

    /// The highest journal index known to be fsynced (0 when none): it survives an OS crash
    /// or power loss.
    pub fn durable_index(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> JournalStats {
        let s = &*self.shared;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        JournalStats {
            bytes_written: get(&s.bytes_written),
            blocks_written: get(&s.blocks_written),
            fsyncs: get(&s.fsyncs),
            last_fsync: Duration::from_nanos(get(&s.last_fsync_nanos)),
            segments_created: get(&s.segments_created),
            segments_deleted: get(&s.segments_deleted),
            tails_cut: get(&s.tails_cut),
            bytes_cut: get(&s.bytes_cut),
        }
    }
}

/// Journal counters since open, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Bytes written to segments (block headers included).
    pub bytes_written: u64,
    /// Blocks written.
    pub blocks_written: u64,
    /// fsync calls on segments and the directory (open's recovery syncs included).
    pub fsyncs: u64,
    /// How long the last group of fsyncs took.
    pub last_fsync: Duration,
    /// Segment files created (rollovers, and the first segment of an empty journal).
    pub segments_created: u64,
    /// Segment files deleted by `delete_through`.
    pub segments_deleted: u64,
    /// Torn or corrupt tails cut from the last segment at open.
    pub tails_cut: u64,
    /// Bytes cut by those.
    pub bytes_cut: u64,
}

/// fsyncs a directory, so that files created or removed in it stay so after an OS crash.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// What the appending thread hands the syncer.
#[derive(Debug)]
struct SyncState {
    /// The active segment.
    current: Arc<File>,
    /// Segments rolled away from since the last sync: they get a final fsync.
    closed: Vec<Arc<File>>,
    /// A segment was created since the last sync: the directory needs an fsync.
    dir_dirty: bool,
    /// The written index to make durable.
    target: u64,
    stop: bool,
    error: Option<Arc<io::Error>>,
}

#[derive(Debug)]
struct SyncInner {
    state: Mutex<SyncState>,
    wake: Condvar,
    shared: Arc<Shared>,
    dir: PathBuf,
    interval: Duration,
    failed: AtomicBool,
}

impl SyncInner {
    fn lock(&self) -> MutexGuard<'_, SyncState> {
        // The state is updated by plain field stores, so it is whole even if a holder panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The group-commit thread: at most one round of fsyncs per interval, covering everything
/// written before the round started. The appending thread only takes a short lock per block.
#[derive(Debug)]
pub(super) struct Syncer {
    inner: Arc<SyncInner>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts the thread; `current` is the active segment.
    pub fn start(
        dir: &Path,
        current: Arc<File>,
        interval: Duration,
        shared: Arc<Shared>,
    ) -> Result<Syncer> {
        let target = shared.durable.load(Ordering::Acquire);
        let inner = Arc::new(SyncInner {
            state: Mutex::new(SyncState {
                current,
                closed: Vec::new(),
                dir_dirty: false,
                target,
                stop: false,
                error: None,
            }),
            wake: Condvar::new(),
            shared,
            dir: dir.to_owned(),
            interval,
            failed: AtomicBool::new(false),
        });
        let thread_inner = inner.clone();
        let thread = std::thread::Builder::new()
            .name("journal-sync".into())
            .spawn(move || run(&thread_inner))
            .map_err(|e| Error::io("start the syncer thread", dir, e))?;
        Ok(Syncer {
            inner,
            thread: Some(thread),
        })
    }

    /// Everything through `index` has been written: make it durable soon.
    pub fn written(&self, index: u64) {
        self.inner.lock().target = index;
        self.inner.wake.notify_one();
    }

    /// The active segment is now `next`; the previous one needs its final fsync.
    pub fn rolled(&self, next: Arc<File>) {
        let mut state = self.inner.lock();
        let previous = mem::replace(&mut state.current, next);
        state.closed.push(previous);
        state.dir_dirty = true;
    }

    /// The syncer's failure, if it failed: the journal stops then.
    pub fn check(&self) -> Result<()> {
        // Relaxed: the error itself is read under the lock.
        if !self.inner.failed.load(Ordering::Relaxed) {
            return Ok(());
        }
        match &self.inner.lock().error {
            Some(error) => Err(Error::SyncFailed(error.clone())),
            None => Ok(()),
        }
    }

    /// Runs a last round for what is pending, stops the thread and reports its failure.
    pub fn stop(&mut self) -> Result<()> {
        self.inner.lock().stop = true;
        self.inner.wake.notify_one();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            let e = io::Error::other("the journal syncer thread panicked");
            return Err(Error::SyncFailed(Arc::new(e)));
        }
        self.check()
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // Errors were logged by the thread; nobody is left to return them to.
            let _ = self.stop();
        }
    }
}

fn run(inner: &SyncInner) {
    let mut synced = inner.shared.durable.load(Ordering::Acquire);
    let mut last_round: Option<Instant> = None;
    loop {
        let mut state = inner.lock();
        let idle = |s: &SyncState| s.target <= synced && s.closed.is_empty() && !s.dir_dirty;
        while !state.stop && idle(&state) {
            state = inner.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        // At most one round per interval: wait it out, gathering more writes, unless stopping.
        if let Some(last) = last_round {
            let due = last + inner.interval;
            while !state.stop {
                let now = Instant::now();
                if now >= due {
                    break;
                }
                state = inner
                    .wake
                    .wait_timeout(state, due - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        if state.stop && idle(&state) {
            return;
        }
        let closed = mem::take(&mut state.closed);
        let current = state.current.clone();
        let target = state.target;
        let dir_dirty = mem::replace(&mut state.dir_dirty, false);
        drop(state);

        let started = Instant::now();
        match sync_round(&closed, &current, dir_dirty, &inner.dir) {
            Ok(count) => {
                inner.shared.record_fsyncs(count, started.elapsed());
                inner.shared.publish_durable(target);
                synced = target;
                last_round = Some(started);
            }
            Err(e) => {
                tracing::error!(
                    dir = %inner.dir.display(),
                    error = %e,
                    durable = synced,
                    "journal: fsync failed; the journal stops and must be reopened"
                );
                inner.lock().error = Some(Arc::new(e));
                inner.failed.store(true, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// fsyncs the closed segments, the directory if needed, then the active segment. Returns how
/// many fsyncs it made.
fn sync_round(
    closed: &[Arc<File>],
    current: &File,
    dir_dirty: bool,
    dir: &Path,
) -> io::Result<u64> {
    for file in closed {
        file.sync_data()?;
    }
    if dir_dirty {
        sync_dir(dir)?;
    }
    current.sync_data()?;
    Ok(closed.len() as u64 + u64::from(dir_dirty) + 1)
}
