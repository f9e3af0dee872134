//! The block format: a 32-byte checksummed header, then entries. See the [journal](super) docs
//! for the byte layout; this file is its only encoder and decoder.

use std::fmt;

use engine::registry::MAX_NAME_LEN;
use engine::{InstrumentId, Payload, Price, Qty, Quote, Side, Tick, Trade};

/// Bytes in a block header.
pub const HEADER_LEN: usize = 32;
/// The first four bytes of every block: format version 1.
pub const MAGIC: [u8; 4] = *b"NXJ1";
/// The largest payload a reader accepts; a larger length field is damage.
pub const MAX_BLOCK_PAYLOAD: usize = 16 << 20;
/// Bytes in a tick entry: the tag and eight words.
pub const TICK_ENTRY_LEN: usize = 1 + 64;
/// The most bytes an instrument definition entry takes: tag, id, name length, name.
pub const MAX_DEFINITION_LEN: usize = 1 + 4 + 1 + MAX_NAME_LEN;
/// Instrument ids must be below this to be journalled: it bounds the per-segment id tables.
pub const MAX_INSTRUMENTS: u32 = 1 << 24;

const TAG_TICK: u8 = 1;
const TAG_DEFINITION: u8 = 2;
const KIND_TRADE: u8 = 1;
const KIND_QUOTE: u8 = 2;
/// Bytes of the header covered by the CRC before the payload (everything but the CRC field).
const CRC_COVERED: usize = 28;

/// What made a block unreadable. Every kind ends the readable part of its segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DamageKind {
    /// Fewer than 32 bytes left where a header should start (a torn header write).
    ShortHeader,
    /// The header does not start with the magic `NXJ1`.
    BadMagic,
    /// The length field is above the format's limit.
    BadLength,
    /// The file ends inside the block's payload (a torn payload write).
    ShortPayload,
    /// The CRC does not match the header and payload.
    Checksum,
    /// The block's first index is not the one that follows the previous block (or, for the
    /// first block, the segment's name).
    IndexGap,
    /// The CRC matched but the entries do not parse or do not match the header's counts.
    BadEntries,
    /// The segment's first index is not above the previous segment's last index.
    Overlap,
}

impl fmt::Display for DamageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DamageKind::ShortHeader => "short header",
            DamageKind::BadMagic => "bad magic",
            DamageKind::BadLength => "bad length",
            DamageKind::ShortPayload => "short payload",
            DamageKind::Checksum => "checksum mismatch",
            DamageKind::IndexGap => "index gap",
            DamageKind::BadEntries => "bad entries",
            DamageKind::Overlap => "overlaps the previous segment",
        })
    }
}

/// A decoded block header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Header {
    /// Payload bytes after the header.
    pub len: u32,
    /// Journal index of the first tick.
    pub first: u64,
    /// Tick entries.
    pub ticks: u32,
    /// All entries, ticks and definitions.
    pub entries: u32,
    /// The stored CRC.
    pub crc: u32,
}

impl Header {
    /// Decodes the fields, checking the magic and the length bound (not the CRC).
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, DamageKind> {
        if bytes[0..4] != MAGIC {
            return Err(DamageKind::BadMagic);
        }
        let header = Header {
            len: u32_at(bytes, 4),
            first: u64_at(bytes, 8),
            ticks: u32_at(bytes, 16),
            entries: u32_at(bytes, 20),
            crc: u32_at(bytes, 28),
        };
        if header.len as usize > MAX_BLOCK_PAYLOAD {
            return Err(DamageKind::BadLength);
        }
        Ok(header)
    }

    /// The index after the block's last tick.
    pub fn end(&self) -> u64 {
        self.first.saturating_add(u64::from(self.ticks))
    }
}

/// The CRC of a block: header bytes 0..28, then the payload.
fn block_crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[..CRC_COVERED]);
    hasher.update(payload);
    hasher.finalize()
}

/// Checks a block whose header decoded: CRC, then the entries against the header's counts.
pub(super) fn verify(
    header_bytes: &[u8; HEADER_LEN],
    header: &Header,
    payload: &[u8],
) -> Result<(), DamageKind> {
    if block_crc(header_bytes, payload) != header.crc {
        return Err(DamageKind::Checksum);
    }
    if header.ticks == 0 || header.entries < header.ticks {
        return Err(DamageKind::BadEntries);
    }
    let (mut ticks, mut entries) = (0u32, 0u32);
    for entry in Entries::new(payload) {
        match entry? {
            Entry::Tick(_) => ticks += 1,
            Entry::Definition { .. } => {}
        }
        entries += 1;
    }
    if ticks != header.ticks || entries != header.entries {
        return Err(DamageKind::BadEntries);
    }
    Ok(())
}

/// One decoded entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Entry<'a> {
    /// A tick, with the instrument id of the process that wrote it.
    Tick(Tick),
    /// Instrument `id` of the writing process is named `name`.
    Definition { id: u32, name: &'a [u8] },
}

/// The entries of a payload, in order; an error ends the iteration.
pub(super) struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Entries<'a> {
    pub fn new(payload: &'a [u8]) -> Entries<'a> {
        Entries { rest: payload }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, DamageKind>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&tag, body) = self.rest.split_first()?;
        let (entry, used) = match tag {
            TAG_TICK => match body.first_chunk::<64>() {
                Some(words) => (decode_tick(words).map(Entry::Tick), TICK_ENTRY_LEN),
                None => (Err(DamageKind::BadEntries), 0),
            },
            TAG_DEFINITION => match decode_definition(body) {
                Some((id, name)) => (Ok(Entry::Definition { id, name }), 1 + 5 + name.len()),
                None => (Err(DamageKind::BadEntries), 0),
            },
            _ => (Err(DamageKind::BadEntries), 0),
        };
        self.rest = if entry.is_ok() {
            &self.rest[used..]
        } else {
            &[]
        };
        Some(entry)
    }
}

fn decode_definition(body: &[u8]) -> Option<(u32, &[u8])> {
    let (id, rest) = body.split_first_chunk::<4>()?;
    let id = u32::from_le_bytes(*id);
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if id >= MAX_INSTRUMENTS || len == 0 || len > MAX_NAME_LEN {
        return None;
    }
    rest.get(..len).map(|name| (id, name))
}

fn decode_tick(bytes: &[u8; 64]) -> Result<Tick, DamageKind> {
    let word = |i: usize| u64_at(bytes, i * 8);
    let meta = word(3);
    let instrument = InstrumentId(meta as u32);
    let (ts_event, ts_recv) = (word(1) as i64, word(2) as i64);
    let [a, b, c, d] = [
        word(4) as i64,
        word(5) as i64,
        word(6) as i64,
        word(7) as i64,
    ];
    let side = match (meta >> 40) as u8 {
        0 => Side::Unknown,
        1 => Side::Buy,
        2 => Side::Sell,
        _ => return Err(DamageKind::BadEntries),
    };
    let mut tick = match (meta >> 32) as u8 {
        KIND_TRADE => Tick::trade(
            instrument,
            ts_event,
            ts_recv,
            Trade {
                price: Price::from_units(a),
                size: Qty::from_units(b),
                side,
                id: c as u64,
            },
        ),
        KIND_QUOTE if side == Side::Unknown => Tick::quote(
            instrument,
            ts_event,
            ts_recv,
            Quote {
                bid: Price::from_units(a),
                bid_size: Qty::from_units(b),
                ask: Price::from_units(c),
                ask_size: Qty::from_units(d),
            },
        ),
        _ => return Err(DamageKind::BadEntries),
    };
    tick.seq = word(0);
    tick.flags = (meta >> 48) as u16;
    Ok(tick)
}

/// The eight words of a tick entry (see the module docs of the journal).
fn encode_tick(tick: &Tick) -> [u64; 8] {
    let (kind, side, payload) = match tick.payload() {
        Payload::Trade(t) => (
            KIND_TRADE,
            t.side as u8,
            [t.price.units(), t.size.units(), t.id as i64, 0],
        ),
        Payload::Quote(q) => (
            KIND_QUOTE,
            Side::Unknown as u8,
            [
                q.bid.units(),
                q.bid_size.units(),
                q.ask.units(),
                q.ask_size.units(),
            ],
        ),
    };
    let meta = u64::from(tick.instrument.0)
        | u64::from(kind) << 32
        | u64::from(side) << 40
        | u64::from(tick.flags) << 48;
    [
        tick.seq,
        tick.ts_event as u64,
        tick.ts_recv as u64,
        meta,
        payload[0] as u64,
        payload[1] as u64,
        payload[2] as u64,
        payload[3] as u64,
    ]
}

/// The block being built: a buffer that starts with room for the header, sized once so that
/// appending never reallocates.
#[derive(Debug)]
pub(super) struct BlockBuf {
    buf: Vec<u8>,
    first: u64,
    ticks: u32,
    entries: u32,
}

impl BlockBuf {
    /// A buffer for a payload of up to `payload_limit` bytes plus one entry of each kind.
    pub fn new(payload_limit: usize) -> BlockBuf {
        let mut buf =
            Vec::with_capacity(HEADER_LEN + payload_limit + TICK_ENTRY_LEN + MAX_DEFINITION_LEN);
        buf.resize(HEADER_LEN, 0);
        BlockBuf {
            buf,
            first: 0,
            ticks: 0,
            entries: 0,
        }
    }

    /// No tick buffered (definitions are only ever pushed just before a tick).
    pub fn is_empty(&self) -> bool {
        self.ticks == 0
    }

    /// Payload bytes buffered.
    pub fn payload_len(&self) -> usize {
        self.buf.len() - HEADER_LEN
    }

    /// Index after the last buffered tick (only meaningful when not empty).
    pub fn end(&self) -> u64 {
        self.first + u64::from(self.ticks)
    }

    /// Appends a tick entry for journal index `index`.
    #[inline]
    pub fn push_tick(&mut self, index: u64, tick: &Tick) {
        if self.ticks == 0 {
            self.first = index;
        }
        let words = encode_tick(tick);
        let mut bytes = [0u8; TICK_ENTRY_LEN];
        bytes[0] = TAG_TICK;
        for (chunk, word) in bytes[1..].chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        self.buf.extend_from_slice(&bytes);
        self.ticks += 1;
        self.entries += 1;
    }

    /// Appends an instrument definition; `name` is a registry name (1..=64 bytes).
    pub fn push_definition(&mut self, id: u32, name: &str) {
        debug_assert!(!name.is_empty() && name.len() <= MAX_NAME_LEN);
        self.buf.push(TAG_DEFINITION);
        self.buf.extend_from_slice(&id.to_le_bytes());
        self.buf.push(name.len() as u8);
        self.buf.extend_from_slice(name.as_bytes());
        self.entries += 1;
    }

    /// Fills in the header and returns the whole block, ready for one `write`.
    pub fn seal(&mut self) -> &[u8] {
        let len = self.payload_len() as u32;
        let (header, payload) = self.buf.split_at_mut(HEADER_LEN);
        header[0..4].copy_from_slice(&MAGIC);
        header[4..8].copy_from_slice(&len.to_le_bytes());
        header[8..16].copy_from_slice(&self.first.to_le_bytes());
        header[16..20].copy_from_slice(&self.ticks.to_le_bytes());
        header[20..24].copy_from_slice(&self.entries.to_le_bytes());
        header[24..28].fill(0);
        let crc = block_crc(header, payload);
        header[28..32].copy_from_slice(&crc.to_le_bytes());
        &self.buf
    }

    /// Empties the buffer for the next block.
    pub fn clear(&mut self) {
        self.buf.truncate(HEADER_LEN);
        self.ticks = 0;
        self.entries = 0;
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A trade with every field set to something distinctive.
    pub fn trade(instrument: u32, n: i64) -> Tick {
        let mut tick = Tick::trade(
            InstrumentId(instrument),
            1_700_000_000_000_000_000 + n,
            1_700_000_000_000_000_500 + n,
            Trade {
                price: Price::from_units(43_250_120_000_000 + n),
                size: Qty::from_units(15_000_000 + n),
                side: if n % 2 == 0 { Side::Buy } else { Side::Sell },
                id: 9_000_000_000 + n as u64,
            },
        );
        tick.seq = 1000 + n as u64;
        tick.flags = (n as u16).wrapping_mul(7);
        tick
    }

    /// A quote with every field set to something distinctive.
    pub fn quote(instrument: u32, n: i64) -> Tick {
        let mut tick = Tick::quote(
            InstrumentId(instrument),
            -5 - n,
            i64::MAX - n,
            Quote {
                bid: Price::from_units(99_500_000_000 - n),
                bid_size: Qty::from_units(10 + n),
                ask: Price::MIN,
                ask_size: Qty::MAX,
            },
        );
        tick.seq = u64::MAX - n as u64;
        tick
    }

    fn sealed(ticks: &[Tick]) -> Vec<u8> {
        let mut block = BlockBuf::new(4096);
        block.push_definition(3, "SIM:AAA");
        for (i, tick) in ticks.iter().enumerate() {
            block.push_tick(7 + i as u64, tick);
        }
        block.seal().to_vec()
    }

    fn parse(bytes: &[u8]) -> Result<Vec<Entry<'_>>, DamageKind> {
        let header_bytes: &[u8; HEADER_LEN] = bytes.first_chunk().ok_or(DamageKind::ShortHeader)?;
        let header = Header::decode(header_bytes)?;
        let payload = &bytes[HEADER_LEN..];
        if payload.len() != header.len as usize {
            return Err(DamageKind::ShortPayload);
        }
        verify(header_bytes, &header, payload)?;
        Entries::new(payload).collect()
    }

    #[test]
    fn block_round_trips_definitions_trades_and_quotes() {
        let ticks = [trade(3, 1), quote(3, 2), trade(3, 4)];
        let bytes = sealed(&ticks);
        assert_eq!(bytes.len(), HEADER_LEN + 1 + 5 + 7 + 3 * TICK_ENTRY_LEN);
        let header = Header::decode(bytes.first_chunk().unwrap()).unwrap();
        assert_eq!((header.first, header.ticks, header.entries), (7, 3, 4));
        assert_eq!(header.end(), 10);
        let entries = parse(&bytes).unwrap();
        assert_eq!(
            entries[0],
            Entry::Definition {
                id: 3,
                name: b"SIM:AAA"
            }
        );
        let decoded: Vec<Tick> = entries[1..]
            .iter()
            .map(|e| match e {
                Entry::Tick(t) => *t,
                Entry::Definition { .. } => panic!("unexpected definition"),
            })
            .collect();
        assert_eq!(decoded, ticks);
    }

    #[test]
    fn tick_entry_layout_is_pinned() {
        let tick = trade(0x0102_0304, 1);
        let words = encode_tick(&tick);
        assert_eq!(words[0], tick.seq);
        assert_eq!(words[3] & 0xFFFF_FFFF, 0x0102_0304);
        assert_eq!((words[3] >> 32) & 0xFF, 1, "kind trade");
        assert_eq!((words[3] >> 40) & 0xFF, 2, "side sell");
        assert_eq!(words[3] >> 48, u64::from(tick.flags));
        assert_eq!(words[7], 0);
    }

    #[test]
    fn bad_kind_or_side_is_damage() {
        let mut bytes = [0u8; 64];
        bytes[24 + 4] = 3; // kind 3
        assert_eq!(decode_tick(&bytes), Err(DamageKind::BadEntries));
        bytes[24 + 4] = KIND_QUOTE;
        bytes[24 + 5] = 1; // a quote with a side
        assert_eq!(decode_tick(&bytes), Err(DamageKind::BadEntries));
    }

    proptest! {
        #[test]
        fn any_flipped_bit_is_detected(at in 0usize..(HEADER_LEN + 6 + 7 + 2 * TICK_ENTRY_LEN), bit in 0u8..8) {
            let mut bytes = sealed(&[trade(3, 1), quote(3, 2)]);
            bytes[at] ^= 1 << bit;
            prop_assert!(parse(&bytes).is_err());
        }
    }
}
