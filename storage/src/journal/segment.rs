//! Segment files: naming, listing, and reading validated blocks one at a time.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::block::{self, DamageKind, HEADER_LEN, Header};
use super::{Error, Result};

/// Segment file extension.
pub const EXTENSION: &str = "wal";
/// Digits in a segment file name (a zero-padded `u64`).
const NAME_DIGITS: usize = 20;
/// Read buffer for scanning and replaying a segment.
const READ_BUFFER: usize = 64 << 10;

/// The file name of the segment whose first index is `first`: `00000000000000000001.wal`.
pub fn file_name(first: u64) -> String {
    format!("{first:0NAME_DIGITS$}.{EXTENSION}")
}

/// The first index a segment file name stands for, if it is one.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(EXTENSION)?.strip_suffix('.')?;
    if digits.len() != NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segment files in `dir`, by first index. Other files are ignored.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let io_err = |source| Error::io("list segments", dir, source);
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let name = entry.file_name();
        if let Some(first) = name.to_str().and_then(parse_file_name) {
            segments.push((first, entry.path()));
        }
    }
    segments.sort_unstable_by_key(|&(first, _)| first);
    Ok(segments)
}

/// Where and why a segment stopped being readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stop {
    /// Offset of the damaged block (the end of the last good one).
    pub offset: u64,
    /// What was wrong.
    pub kind: DamageKind,
}

/// A validated block, borrowed from the reader until the next call.
#[derive(Debug)]
pub(super) struct BlockRef<'a> {
    pub header: Header,
    pub payload: &'a [u8],
}

/// Reads one segment block by block, validating each; stops at the end or at the first
/// damaged block, which it records.
pub(super) struct SegmentReader {
    reader: BufReader<File>,
    path: PathBuf,
    /// End of the last good block.
    pos: u64,
    /// Bytes to read: the file's length, or less.
    limit: u64,
    /// The first index the next block must have.
    expected: u64,
    header: [u8; HEADER_LEN],
    payload: Vec<u8>,
    stop: Option<Stop>,
}

impl SegmentReader {
    /// A reader of `path`, whose first block must start at index `first`, reading at most
    /// `limit` bytes (the whole file when `None`).
    pub fn open(path: &Path, first: u64, limit: Option<u64>) -> Result<SegmentReader> {
        let file = File::open(path).map_err(|e| Error::io("open segment", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat segment", path, e))?
            .len();
        Ok(SegmentReader {
            reader: BufReader::with_capacity(READ_BUFFER, file),
            path: path.to_owned(),
            pos: 0,
            limit: limit.map_or(len, |limit| limit.min(len)),
            expected: first,
            header: [0; HEADER_LEN],
            payload: Vec::new(),
            stop: None,
        })
    }

    /// The next good block, or `None` at the end of the readable part (see [`Self::stop`]).
    pub fn next_block(&mut self) -> Result<Option<BlockRef<'_>>> {
        if self.stop.is_some() || self.pos == self.limit {
            return Ok(None);
        }
        match self.read_block()? {
            Ok(header) if header.first != self.expected => {
                self.stop = Some(Stop {
                    offset: self.pos,
                    kind: DamageKind::IndexGap,
                });
                Ok(None)
            }
            Ok(header) => {
                self.pos += (HEADER_LEN + header.len as usize) as u64;
                self.expected = header.end();
                Ok(Some(BlockRef {
                    header,
                    payload: &self.payload,
                }))
            }
            Err(kind) => {
                self.stop = Some(Stop {
                    offset: self.pos,
                    kind,
                });
                Ok(None)
            }
        }
    }

    /// Reads and checks the block at `pos` (not its index): an I/O error outside, damage
    /// inside.
    fn read_block(&mut self) -> Result<std::result::Result<Header, DamageKind>> {
        let left = self.limit - self.pos;
        if left < HEADER_LEN as u64 {
            return Ok(Err(DamageKind::ShortHeader));
        }
        if let Some(kind) = self.read_exact_or_short(HeaderOrPayload::Header)? {
            return Ok(Err(kind));
        }
        let header = match Header::decode(&self.header) {
            Ok(header) => header,
            Err(kind) => return Ok(Err(kind)),
        };
        if u64::from(header.len) > left - HEADER_LEN as u64 {
            return Ok(Err(DamageKind::ShortPayload));
        }
        self.payload.resize(header.len as usize, 0);
        if let Some(kind) = self.read_exact_or_short(HeaderOrPayload::Payload)? {
            return Ok(Err(kind));
        }
        if let Err(kind) = block::verify(&self.header, &header, &self.payload) {
            return Ok(Err(kind));
        }
        Ok(Ok(header))
    }

    /// Fills the header or the payload buffer; a file that ended early is a short read.
    fn read_exact_or_short(&mut self, what: HeaderOrPayload) -> Result<Option<DamageKind>> {
        let (buf, short) = match what {
            HeaderOrPayload::Header => (&mut self.header[..], DamageKind::ShortHeader),
            HeaderOrPayload::Payload => (&mut self.payload[..], DamageKind::ShortPayload),
        };
        match self.reader.read_exact(buf) {
            Ok(()) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Some(short)),
            Err(e) => Err(Error::io("read segment", &self.path, e)),
        }
    }

    /// End of the last good block.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The index after the last good block's last tick.
    pub fn expected(&self) -> u64 {
        self.expected
    }

    /// Why reading stopped before the limit, if it did.
    pub fn stop(&self) -> Option<Stop> {
        self.stop
    }

    /// Blocks after a damaged one that still look whole (a valid header and CRC, walking by
    /// the length fields), plus the damaged one itself: what the cut dropped. Consumes the
    /// reader; best effort, for the recovery report only.
    pub fn count_dropped(mut self) -> Result<u64> {
        let Some(stop) = self.stop else {
            return Ok(0);
        };
        let mut dropped = 1;
        // Only a block whose length field is believable can be stepped over.
        if !matches!(
            stop.kind,
            DamageKind::Checksum | DamageKind::IndexGap | DamageKind::BadEntries
        ) {
            return Ok(dropped);
        }
        let header = match Header::decode(&self.header) {
            Ok(header) => header,
            Err(_) => return Ok(dropped),
        };
        self.pos += (HEADER_LEN + header.len as usize) as u64;
        loop {
            if self.pos == self.limit {
                return Ok(dropped);
            }
            match self.read_block()? {
                Ok(header) => {
                    dropped += 1;
                    self.pos += (HEADER_LEN + header.len as usize) as u64;
                }
                Err(_) => return Ok(dropped),
            }
        }
    }
}

#[derive(Clone, Copy)]
enum HeaderOrPayload {
    Header,
    Payload,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_as_numbers() {
        assert_eq!(file_name(1), "00000000000000000001.wal");
        assert_eq!(file_name(u64::MAX), "18446744073709551615.wal");
        assert_eq!(parse_file_name("00000000000000000001.wal"), Some(1));
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        for bad in [
            "1.wal",
            "00000000000000000001.wal.tmp",
            "0000000000000000000a.wal",
            "LOCK",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn listing_ignores_other_files_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        for name in [file_name(30), file_name(4), "LOCK".into(), "x.wal".into()] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        let firsts: Vec<u64> = list(dir.path()).unwrap().iter().map(|s| s.0).collect();
        assert_eq!(firsts, [4, 30]);
    }
}
