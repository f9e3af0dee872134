//! Replay: every tick from a journal index on, with its instrument re-interned.

use std::path::Path;

use engine::{InstrumentId, Registry, Tick};

use super::block::{Entries, Entry};
use super::segment::{self, SegmentReader};
use super::{Error, Result};

/// What a replay delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Segments read (those wholly before `from` are skipped unread).
    pub segments: usize,
    /// Blocks read.
    pub blocks: u64,
    /// Ticks handed to the closure.
    pub ticks: u64,
    /// Ticks dropped because their instrument had no usable definition in their segment
    /// (never the case for a journal this code wrote).
    pub skipped: u64,
    /// Segments whose reading stopped at damage.
    pub damaged: usize,
}

/// Marks an id with no definition (yet) in the segment.
const UNDEFINED: u32 = u32::MAX;

/// Replay state carried across segments.
pub(super) struct Replayer<'r, F> {
    registry: &'r Registry,
    /// The lowest index still to deliver: `from`, then one past the last delivered, so that
    /// indexes only go up.
    floor: u64,
    /// Writer's id → this registry's id, for the segment being read.
    ids: Vec<u32>,
    f: F,
    pub report: ReplayReport,
}

impl<'r, F: FnMut(u64, Tick)> Replayer<'r, F> {
    pub fn new(registry: &'r Registry, from: u64, f: F) -> Self {
        Replayer {
            registry,
            floor: from,
            ids: Vec::new(),
            f,
            report: ReplayReport::default(),
        }
    }

    /// Replays the segment at `path` (first index `first`), reading at most `limit` bytes.
    pub fn segment(&mut self, path: &Path, first: u64, limit: Option<u64>) -> Result<()> {
        let mut reader = SegmentReader::open(path, first, limit)?;
        self.ids.clear();
        self.report.segments += 1;
        let mut warned = false;
        while let Some(block) = reader.next_block()? {
            self.report.blocks += 1;
            let mut index = block.header.first;
            for entry in Entries::new(block.payload) {
                // The reader verified every entry of the block already.
                let Ok(entry) = entry else { break };
                match entry {
                    Entry::Definition { id, name } => self.define(path, id, name),
                    Entry::Tick(mut tick) => {
                        if index >= self.floor {
                            match self.ids.get(tick.instrument.0 as usize) {
                                Some(&id) if id != UNDEFINED => {
                                    tick.instrument = InstrumentId(id);
                                    (self.f)(index, tick);
                                    self.report.ticks += 1;
                                    self.floor = index + 1;
                                }
                                _ => {
                                    if !warned {
                                        tracing::warn!(
                                            segment = %path.display(),
                                            index,
                                            instrument = tick.instrument.0,
                                            "journal: tick of an undefined instrument skipped"
                                        );
                                        warned = true;
                                    }
                                    self.report.skipped += 1;
                                }
                            }
                        }
                        index += 1;
                    }
                }
            }
        }
        if let Some(stop) = reader.stop() {
            tracing::warn!(
                segment = %path.display(),
                offset = stop.offset,
                reason = %stop.kind,
                "journal: replay stopped at damage in a segment"
            );
            self.report.damaged += 1;
        }
        Ok(())
    }

    fn define(&mut self, path: &Path, id: u32, name: &[u8]) {
        let interned = std::str::from_utf8(name)
            .ok()
            .and_then(|name| self.registry.intern(name).ok());
        let slot = id as usize;
        if self.ids.len() <= slot {
            self.ids.resize(slot + 1, UNDEFINED);
        }
        self.ids[slot] = match interned {
            Some(new) => new.0,
            None => {
                tracing::warn!(
                    segment = %path.display(),
                    instrument = id,
                    name = %String::from_utf8_lossy(name),
                    "journal: instrument definition with an invalid name"
                );
                UNDEFINED
            }
        };
    }
}

/// Replays every segment of `dir` as it is on disk, without opening the journal for writing
/// (no lock, no cut): `f(index, tick)` for each tick with index ≥ `from`, in index order,
/// with `tick.instrument` re-interned into `registry`. Each segment stops at its first
/// damaged block.
pub fn replay_dir(
    dir: &Path,
    from: u64,
    registry: &Registry,
    f: impl FnMut(u64, Tick),
) -> Result<ReplayReport> {
    let segments = segment::list(dir)?;
    let mut replayer = Replayer::new(registry, from, f);
    for (i, (first, path)) in segments.iter().enumerate() {
        // A segment holds indexes below the next one's first.
        if segments.get(i + 1).is_some_and(|(next, _)| *next <= from) {
            continue;
        }
        replayer.segment(path, *first, None)?;
    }
    Ok(replayer.report)
}

/// Replays one segment file on its own (its name gives its first index); as [`replay_dir`].
pub fn replay_segment(
    path: &Path,
    from: u64,
    registry: &Registry,
    f: impl FnMut(u64, Tick),
) -> Result<ReplayReport> {
    let first = path
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(segment::parse_file_name)
        .ok_or_else(|| Error::NotASegment(path.to_owned()))?;
    let mut replayer = Replayer::new(registry, from, f);
    replayer.segment(path, first, None)?;
    Ok(replayer.report)
}
