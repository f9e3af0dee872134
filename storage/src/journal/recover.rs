//! Open-time recovery: validate every segment, cut a damaged tail of the last one, leave a
//! damaged earlier one on disk but stop reading it at the damage.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use super::block::DamageKind;
use super::segment::{self, SegmentReader, Stop};
use super::{Error, Result};

/// One damaged spot found at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub path: PathBuf,
    /// Where its readable part ends: the end of the last good block.
    pub offset: u64,
    /// What was wrong with the block there.
    pub kind: DamageKind,
    /// Bytes from `offset` to the end of the file.
    pub bytes: u64,
    /// Blocks lost there: the damaged one, and the whole-looking ones after it.
    pub blocks_dropped: u64,
    /// True when the file was truncated at `offset` (the last segment); false when it was
    /// left as it is and only read up to `offset` (an earlier segment).
    pub cut: bool,
}

/// What open found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files after recovery.
    pub segments: usize,
    /// Good blocks in them.
    pub blocks: u64,
    /// Ticks in those blocks.
    pub ticks: u64,
    /// The index the next appended tick gets.
    pub next_index: u64,
    /// Bytes truncated from the last segment.
    pub bytes_cut: u64,
    /// Unreadable bytes left in earlier segments.
    pub bytes_ignored: u64,
    /// Blocks lost to damage, in all segments.
    pub blocks_dropped: u64,
    /// Each damaged spot.
    pub damage: Vec<Damage>,
}

/// A segment's readable extent, as the writer tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Segment {
    /// Index of its first tick (its name).
    pub first: u64,
    pub path: PathBuf,
    /// Readable bytes: the end of its last good block.
    pub len: u64,
    /// The index after its last good tick (`first` when it has none).
    pub end: u64,
}

/// Scans every segment of `dir` in order; see the module docs of the journal for what is
/// done with damage. Returns the segments and the report (its `next_index` is left to the
/// caller).
pub(super) fn recover(dir: &Path) -> Result<(Vec<Segment>, RecoveryReport)> {
    let files = segment::list(dir)?;
    let count = files.len();
    let mut report = RecoveryReport {
        segments: count,
        ..RecoveryReport::default()
    };
    let mut segments: Vec<Segment> = Vec::with_capacity(count);
    // The index after the last good tick so far: the journal starts at 1.
    let mut end_so_far = 1;
    for (i, (first, path)) in files.into_iter().enumerate() {
        let last = i + 1 == count;
        let file_len = fs::metadata(&path)
            .map_err(|e| Error::io("stat segment", &path, e))?
            .len();
        if first > end_so_far && !segments.is_empty() {
            tracing::warn!(
                segment = %path.display(),
                from = end_so_far,
                to = first - 1,
                "journal: indexes missing between segments"
            );
        }
        let mut reader = SegmentReader::open(&path, first, None)?;
        let (stop, blocks_dropped) = if first < end_so_far {
            // Its indexes were already read from an earlier segment: unreadable as a whole.
            let stop = Stop {
                offset: 0,
                kind: DamageKind::Overlap,
            };
            (Some(stop), 1)
        } else {
            while let Some(block) = reader.next_block()? {
                report.blocks += 1;
                report.ticks += u64::from(block.header.ticks);
            }
            (reader.stop(), 0)
        };
        let (len, end) = match stop {
            Some(stop) => (stop.offset, first.max(reader.expected())),
            None => (reader.pos(), reader.expected()),
        };
        if let Some(stop) = stop {
            let blocks_dropped = blocks_dropped.max(reader.count_dropped()?);
            let bytes = file_len - stop.offset;
            if last {
                cut(&path, stop.offset)?;
                tracing::warn!(
                    segment = %path.display(),
                    offset = stop.offset,
                    reason = %stop.kind,
                    bytes_cut = bytes,
                    blocks_dropped,
                    next_index = end,
                    "journal: cut a torn or corrupt tail"
                );
                report.bytes_cut += bytes;
            } else {
                tracing::warn!(
                    segment = %path.display(),
                    offset = stop.offset,
                    reason = %stop.kind,
                    bytes_ignored = bytes,
                    blocks_dropped,
                    lost_from = end,
                    "journal: damage in a closed segment; the rest of it is lost"
                );
                report.bytes_ignored += bytes;
            }
            report.blocks_dropped += blocks_dropped;
            report.damage.push(Damage {
                path: path.clone(),
                offset: stop.offset,
                kind: stop.kind,
                bytes,
                blocks_dropped,
                cut: last,
            });
        }
        end_so_far = end_so_far.max(end);
        segments.push(Segment {
            first,
            path,
            len,
            end,
        });
    }
    Ok((segments, report))
}

/// Truncates a segment at `len` and makes the new length durable.
fn cut(path: &Path, len: u64) -> Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io("open segment to cut", path, e))?;
    file.set_len(len)
        .map_err(|e| Error::io("truncate segment", path, e))?;
    file.sync_all()
        .map_err(|e| Error::io("fsync segment", path, e))
}
