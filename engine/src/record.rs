//! The tick record: one trade or one top-of-book quote, in one cache line.
//!
//! [`Tick`] is `#[repr(C)]`, `Copy` and exactly 64 bytes with no padding, so that one tick is
//! one ring slot and one cache line. Trades and quotes share four payload words:
//!
//! | word | trade | quote |
//! |---|---|---|
//! | 0 | price | bid |
//! | 1 | size | bid size |
//! | 2 | trade id (0 = none) | ask |
//! | 3 | unused (0) | ask size |

use crate::fixed::{Price, Qty};
use crate::registry::InstrumentId;

/// Whether a tick is a trade or a quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TickKind {
    /// A trade that happened.
    Trade = 1,
    /// A top-of-book quote.
    Quote = 2,
}

/// The aggressor side of a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Side {
    /// The venue did not say.
    #[default]
    Unknown = 0,
    /// The buyer crossed the spread.
    Buy = 1,
    /// The seller crossed the spread.
    Sell = 2,
}

impl Side {
    /// The protocol name: `buy`, `sell` or `unknown`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Unknown => "unknown",
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }

    /// The other side; `Unknown` stays `Unknown`.
    pub const fn opposite(self) -> Side {
        match self {
            Side::Unknown => Side::Unknown,
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// A trade's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trade {
    /// Traded price.
    pub price: Price,
    /// Traded quantity.
    pub size: Qty,
    /// Aggressor side.
    pub side: Side,
    /// The venue's trade id; 0 where the venue gives none.
    pub id: u64,
}

/// A top-of-book quote's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Best bid price.
    pub bid: Price,
    /// Quantity at the best bid.
    pub bid_size: Qty,
    /// Best ask price.
    pub ask: Price,
    /// Quantity at the best ask.
    pub ask_size: Qty,
}

/// What a tick carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A trade.
    Trade(Trade),
    /// A quote.
    Quote(Quote),
}

/// One normalized market data event. See the module docs for the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Tick {
    /// Global sequence number, assigned by the ring on publish (0 before).
    pub seq: u64,
    /// The venue's event time, ns since the Unix epoch (UTC).
    pub ts_event: i64,
    /// When nexamd read the message, ns since the Unix epoch (UTC).
    pub ts_recv: i64,
    /// Interned instrument.
    pub instrument: InstrumentId,
    kind: TickKind,
    side: Side,
    /// Reserved for per-tick flags; 0 today.
    pub flags: u16,
    payload: [i64; 4],
}

/// Words in a tick: the ring stores a tick as this many `u64`s.
pub(crate) const TICK_WORDS: usize = 8;

impl Tick {
    /// A trade tick (sequence 0 until published).
    pub const fn trade(
        instrument: InstrumentId,
        ts_event: i64,
        ts_recv: i64,
        trade: Trade,
    ) -> Tick {
        Tick {
            seq: 0,
            ts_event,
            ts_recv,
            instrument,
            kind: TickKind::Trade,
            side: trade.side,
            flags: 0,
            payload: [trade.price.units(), trade.size.units(), trade.id as i64, 0],
        }
    }

    /// A quote tick (sequence 0 until published).
    pub const fn quote(
        instrument: InstrumentId,
        ts_event: i64,
        ts_recv: i64,
        quote: Quote,
    ) -> Tick {
        Tick {
            seq: 0,
            ts_event,
            ts_recv,
            instrument,
            kind: TickKind::Quote,
            side: Side::Unknown,
            flags: 0,
            payload: [
                quote.bid.units(),
                quote.bid_size.units(),
                quote.ask.units(),
                quote.ask_size.units(),
            ],
        }
    }

    /// Trade or quote.
    pub const fn kind(&self) -> TickKind {
        self.kind
    }

    /// The trade, if this is one.
    pub const fn as_trade(&self) -> Option<Trade> {
        match self.payload() {
            Payload::Trade(trade) => Some(trade),
            Payload::Quote(_) => None,
        }
    }

    /// The quote, if this is one.
    pub const fn as_quote(&self) -> Option<Quote> {
        match self.payload() {
            Payload::Quote(quote) => Some(quote),
            Payload::Trade(_) => None,
        }
    }

    /// The payload as a trade or a quote.
    pub const fn payload(&self) -> Payload {
        let [a, b, c, d] = self.payload;
        match self.kind {
            TickKind::Trade => Payload::Trade(Trade {
                price: Price::from_units(a),
                size: Qty::from_units(b),
                side: self.side,
                id: c as u64,
            }),
            TickKind::Quote => Payload::Quote(Quote {
                bid: Price::from_units(a),
                bid_size: Qty::from_units(b),
                ask: Price::from_units(c),
                ask_size: Qty::from_units(d),
            }),
        }
    }

    /// The tick as eight words; word 0 is `seq`.
    pub(crate) const fn to_words(self) -> [u64; TICK_WORDS] {
        let meta = self.instrument.0 as u64
            | (self.kind as u64) << 32
            | (self.side as u64) << 40
            | (self.flags as u64) << 48;
        [
            self.seq,
            self.ts_event as u64,
            self.ts_recv as u64,
            meta,
            self.payload[0] as u64,
            self.payload[1] as u64,
            self.payload[2] as u64,
            self.payload[3] as u64,
        ]
    }

    /// The inverse of [`Tick::to_words`]. Words come only from `to_words` (the ring validates a
    /// read before decoding it), so the kind and side bytes are always valid; an impossible byte
    /// decodes as a quote / unknown side rather than panicking.
    pub(crate) const fn from_words(words: &[u64; TICK_WORDS]) -> Tick {
        let meta = words[3];
        let kind = match (meta >> 32) as u8 {
            1 => TickKind::Trade,
            _ => TickKind::Quote,
        };
        let side = match (meta >> 40) as u8 {
            1 => Side::Buy,
            2 => Side::Sell,
            _ => Side::Unknown,
        };
        Tick {
            seq: words[0],
            ts_event: words[1] as i64,
            ts_recv: words[2] as i64,
            instrument: InstrumentId(meta as u32),
            kind,
            side,
            flags: (meta >> 48) as u16,
            payload: [
                words[4] as i64,
                words[5] as i64,
                words[6] as i64,
                words[7] as i64,
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn layout_is_one_cache_line_without_padding() {
        assert_eq!(size_of::<Tick>(), 64);
        assert_eq!(align_of::<Tick>(), 8);
        assert_eq!(offset_of!(Tick, seq), 0);
        assert_eq!(offset_of!(Tick, ts_event), 8);
        assert_eq!(offset_of!(Tick, ts_recv), 16);
        assert_eq!(offset_of!(Tick, instrument), 24);
        assert_eq!(offset_of!(Tick, kind), 28);
        assert_eq!(offset_of!(Tick, side), 29);
        assert_eq!(offset_of!(Tick, flags), 30);
        assert_eq!(offset_of!(Tick, payload), 32);
    }

    fn sample_trade() -> Tick {
        let mut tick = Tick::trade(
            InstrumentId(7),
            1_700_000_000_000_000_000,
            1_700_000_000_000_100_000,
            Trade {
                price: "43250.12".parse().unwrap(),
                size: "0.015".parse().unwrap(),
                side: Side::Sell,
                id: 123_456_789_012,
            },
        );
        tick.seq = 99;
        tick.flags = 0xBEEF;
        tick
    }

    #[test]
    fn trade_and_quote_views_match_what_was_built() {
        let trade = sample_trade();
        assert_eq!(trade.kind(), TickKind::Trade);
        let t = trade.as_trade().unwrap();
        assert_eq!(t.price.to_string(), "43250.12");
        assert_eq!(t.size.to_string(), "0.015");
        assert_eq!(t.side, Side::Sell);
        assert_eq!(t.id, 123_456_789_012);
        assert_eq!(trade.as_quote(), None);
        assert_eq!(trade.payload(), Payload::Trade(t));

        let q = Quote {
            bid: "99.5".parse().unwrap(),
            bid_size: "10".parse().unwrap(),
            ask: "99.51".parse().unwrap(),
            ask_size: "3".parse().unwrap(),
        };
        let quote = Tick::quote(InstrumentId(1), 5, 6, q);
        assert_eq!(quote.as_quote(), Some(q));
        assert_eq!(quote.as_trade(), None);
        assert_eq!(quote.payload(), Payload::Quote(q));
    }

    #[test]
    fn words_round_trip() {
        let trade = sample_trade();
        assert_eq!(trade.to_words()[0], 99);
        assert_eq!(Tick::from_words(&trade.to_words()), trade);
        let quote = Tick::quote(
            InstrumentId(u32::MAX),
            -1,
            i64::MAX,
            Quote {
                bid: Price::MIN,
                bid_size: Qty::MAX,
                ask: Price::from_units(-5),
                ask_size: Qty::ZERO,
            },
        );
        assert_eq!(Tick::from_words(&quote.to_words()), quote);
    }

    #[test]
    fn side_names_and_opposites() {
        assert_eq!(Side::Buy.as_str(), "buy");
        assert_eq!(Side::Sell.as_str(), "sell");
        assert_eq!(Side::Unknown.as_str(), "unknown");
        assert_eq!(Side::Buy.opposite(), Side::Sell);
        assert_eq!(Side::Unknown.opposite(), Side::Unknown);
    }
}
