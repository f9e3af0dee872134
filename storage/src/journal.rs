//! The write-ahead journal: every tick, appended to segment files of checksummed blocks,
//! replayed on start.
//!
//! The storage consumer calls [`Journal::append`] for each tick it reads from the ring (a
//! 65-byte copy into a buffer), and [`Journal::flush`] when it has drained what the ring had:
//! the buffered block then goes to the file in one `write`. The [`SyncPolicy`] says when
//! written blocks are fsynced. On start, [`Journal::open`] validates the segments, cuts a torn
//! tail, and [`Journal::replay`] hands back every tick from a given journal index on.
//!
//! # Durability
//!
//! - **Written** ([`JournalHandle::written_index`]): the block was handed to `write()`. It
//!   survives `kill -9` of the process (the data is in the OS page cache) but not an OS crash
//!   or a power loss.
//! - **Durable** ([`JournalHandle::durable_index`]): the block was fsynced. It survives an OS
//!   crash or a power loss. With [`SyncPolicy::Group`] (the default) a background thread
//!   fsyncs at most once per interval (50 ms by default), so the appending thread never waits
//!   for the disk and a crash of the OS loses at most about one interval of ticks; with
//!   [`SyncPolicy::Always`] every block write is fsynced before `flush` returns; with
//!   [`SyncPolicy::Never`] the OS writes back when it likes, and the durable index stays
//!   where open left it.
//! - Ticks appended but not yet flushed are in the process's memory only.
//!
//! [`Journal::open`] fsyncs every segment and the directory, so the durable index starts at
//! the last recovered index.
//!
//! # Journal index
//!
//! The journal numbers ticks itself, from 1, continuing across restarts: after open, the
//! next index is the last valid index + 1 (or the first index of an empty last segment, if
//! that is higher, so that no index is ever handed out twice). The ring's `seq` restarts with
//! each process; it is kept in each record but the journal does not rely on it.
//!
//! # On-disk format (version 1)
//!
//! The journal directory (`journal/` under the data directory) holds segment files and a
//! `LOCK` file (an advisory lock that keeps a second writer out). A segment is named by the
//! journal index of its first tick, as 20 zero-padded decimal digits and `.wal`:
//! `00000000000000000001.wal`. The next segment is started when the active one would grow
//! past the configured size (64 MiB by default); a segment holds at least one block even when
//! that block alone is bigger. A segment is a plain sequence of blocks, with no file header.
//!
//! All integers are little-endian. A block is a 32-byte header then `len` payload bytes:
//!
//! | offset | size | field | meaning |
//! |---|---|---|---|
//! | 0 | 4 | magic | `NXJ1` (`4E 58 4A 31`): format version 1 |
//! | 4 | 4 | len | payload bytes after the header, at most 16 MiB |
//! | 8 | 8 | first | journal index of the block's first tick |
//! | 16 | 4 | ticks | tick entries in the block (≥ 1); they have indexes `first`, `first + 1`, … |
//! | 20 | 4 | entries | all entries: ticks and instrument definitions |
//! | 24 | 4 | reserved | 0 |
//! | 28 | 4 | crc | CRC-32 (IEEE 802.3, as in zlib) of header bytes 0..28, then the payload |
//!
//! The first block of a segment has `first` equal to the segment's name, and each block's
//! `first` is the previous block's `first + ticks`. The payload is a sequence of entries,
//! each starting with a one-byte tag:
//!
//! - **Tick**, tag `0x01`, then 64 bytes: eight `u64` words.
//!
//!   | word | content |
//!   |---|---|
//!   | 0 | `seq` (the ring's sequence number in the writing process) |
//!   | 1 | `ts_event`, ns since the Unix epoch (`i64`) |
//!   | 2 | `ts_recv`, ns since the Unix epoch (`i64`) |
//!   | 3 | bits 0..32 instrument id (of the writing process), 32..40 kind (1 trade, 2 quote), 40..48 side (0 unknown, 1 buy, 2 sell; 0 for quotes), 48..64 flags |
//!   | 4..8 | trade: price, size, trade id, 0; quote: bid, bid size, ask, ask size (prices and sizes in units of 1e-9, `i64`) |
//!
//! - **Instrument definition**, tag `0x02`, then the instrument id (`u32`), the name length
//!   (`u8`, 1..=64) and the name (`VENUE:SYMBOL`, ASCII). Instrument ids are per process, so
//!   a definition precedes the first tick of each instrument in every segment: each segment
//!   replays on its own. A definition holds for the ticks after it in its segment until the
//!   same id is defined again (the segment that open continues after a restart gets the new
//!   process's definitions). Replay interns the names into the given registry and rewrites
//!   each tick's instrument to the id found there.
//!
//! # Damage and recovery
//!
//! A reader takes the blocks of a segment in order and stops at the first one that is not
//! whole: fewer than 32 bytes left, a bad magic, a length above the limit or past the end of
//! the file, a CRC mismatch, entries that do not parse or do not match the header's counts,
//! or a `first` that does not follow on. Everything from there to the end of that segment is
//! unreadable. At open:
//!
//! - in the **last** segment (where a crash tears the write in progress), the damaged tail is
//!   cut: the file is truncated at the end of the last good block, logged with a warning, and
//!   appending continues from there;
//! - in an **earlier** segment (which was complete when the next one was started, so damage
//!   there is media corruption, not a torn write), the rest of that segment is treated as
//!   lost: logged with a warning and the lost index range, counted in the report, but the
//!   file is left as it is for inspection; it goes when [`Journal::delete_through`] passes
//!   it. The next segment still replays, since it is self-describing. Its indexes are not
//!   reused.
//!
//! Open never fails because of damaged data, only on I/O errors.
//!
//! [`Journal::append`]: crate::journal::Journal::append
//! [`Journal::delete_through`]: crate::journal::Journal::delete_through
//! [`Journal::flush`]: crate::journal::Journal::flush
//! [`Journal::open`]: crate::journal::Journal::open
//! [`Journal::replay`]: crate::journal::Journal::replay
//! [`JournalHandle::durable_index`]: crate::journal::JournalHandle::durable_index
//! [`JournalHandle::written_index`]: crate::journal::JournalHandle::written_index
//! [`SyncPolicy`]: crate::journal::SyncPolicy
//! [`SyncPolicy::Always`]: crate::journal::SyncPolicy::Always
//! [`SyncPolicy::Group`]: crate::journal::SyncPolicy::Group
//! [`SyncPolicy::Never`]: crate::journal::SyncPolicy::Never

mod block;
mod config;
mod recover;
mod replay;
mod segment;
mod sync;
mod writer;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use block::{DamageKind, MAX_INSTRUMENTS};
pub use config::{
    DEFAULT_BLOCK_BYTES, DEFAULT_GROUP_INTERVAL, DEFAULT_SEGMENT_BYTES, JournalConfig, SyncPolicy,
};
pub use recover::{Damage, RecoveryReport};
pub use replay::{ReplayReport, replay_dir, replay_segment};
pub use segment::file_name as segment_file_name;
pub use sync::{JournalHandle, JournalStats};
pub use writer::{Journal, SegmentInfo};

/// What can go wrong in the journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed.
    #[error("journal: {op} {}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Another journal holds the directory's lock.
    #[error("journal: {} is locked by another writer", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The configuration is unusable.
    #[error("journal config: {0}")]
    Config(String),
    /// A sync policy name other than `group`, `always` or `never`.
    #[error("unknown journal sync policy {0:?}: expected group, always or never")]
    UnknownSyncPolicy(String),
    /// A path given as a segment file is not named like one.
    #[error("journal: {} is not a segment file name", .0.display())]
    NotASegment(PathBuf),
    /// A tick's instrument is not in the journal's registry, so it cannot be defined.
    #[error("journal: instrument id {0} is not in the registry")]
    UnknownInstrument(u32),
    /// A tick's instrument id is at or above [`MAX_INSTRUMENTS`].
    #[error("journal: instrument id {0} is above the journal's limit")]
    InstrumentIdTooLarge(u32),
    /// An fsync failed (in the syncer thread or at a flush). What was written may not be
    /// durable, and the journal refuses further work: reopen it to recover.
    #[error("journal: fsync failed; reopen the journal")]
    SyncFailed(#[source] Arc<io::Error>),
    /// An earlier write or fsync failed and left the journal unusable: reopen it to recover.
    #[error("journal: stopped after an earlier failure; reopen the journal")]
    Stopped,
}

impl Error {
    fn io(op: &'static str, path: &Path, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// Journal results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
