//! The latest trade and quote of every instrument, kept by the fanout's ring consumer and
//! read lock-free by HTTP handlers (and, later, by subscribe snapshots).
//!
//! Entries live in a [`ByInstrument`] table, so it grows with the registry and the per-tick
//! path only ever stores into an existing [`TickCell`].

use engine::metrics::Counter;
use engine::{InstrumentId, Tick, TickCell, TickKind};

use crate::by_instrument::ByInstrument;
#[cfg(test)]
use crate::by_instrument::MAX_INSTRUMENTS;

#[derive(Debug, Default)]
struct Entry {
    trade: TickCell,
    quote: TickCell,
}

/// Latest trade and quote per instrument. One writer (the consumer), many readers.
#[derive(Debug, Default)]
pub struct LatestTable {
    entries: ByInstrument<Entry>,
    /// Ticks applied.
    pub updates: Counter,
    /// Ticks for an id past the table's end, dropped.
    pub overflow: Counter,
}

impl LatestTable {
    /// An empty table.
    pub fn new() -> LatestTable {
        LatestTable::default()
    }

    /// Records `tick` as its instrument's latest trade or quote. Call from one thread only.
    #[inline]
    pub fn apply(&self, tick: &Tick) {
        let Some(entry) = self.entries.get_or_init(tick.instrument) else {
            self.overflow.add_single_writer(1);
            return;
        };
        match tick.kind() {
            TickKind::Trade => entry.trade.store(tick),
            TickKind::Quote => entry.quote.store(tick),
        }
        self.updates.add_single_writer(1);
    }

    /// The instrument's latest trade.
    pub fn trade(&self, id: InstrumentId) -> Option<Tick> {
        self.entries.get(id)?.trade.load()
    }

    /// The instrument's latest quote.
    pub fn quote(&self, id: InstrumentId) -> Option<Tick> {
        self.entries.get(id)?.quote.load()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::{Price, Qty, Quote, Side, Trade};

    fn trade(id: u32, price: i64) -> Tick {
        Tick::trade(
            InstrumentId(id),
            1,
            2,
            Trade {
                price: Price::from_units(price),
                size: Qty::from_units(1),
                side: Side::Buy,
                id: 9,
            },
        )
    }

    #[test]
    fn keeps_the_latest_trade_and_quote_apart() {
        let table = LatestTable::new();
        assert_eq!(table.trade(InstrumentId(3)), None);
        table.apply(&trade(3, 10));
        table.apply(&trade(3, 11));
        let quote = Tick::quote(
            InstrumentId(3),
            5,
            6,
            Quote {
                bid: Price::from_units(1),
                bid_size: Qty::from_units(1),
                ask: Price::from_units(2),
                ask_size: Qty::from_units(1),
            },
        );
        table.apply(&quote);
        assert_eq!(table.trade(InstrumentId(3)), Some(trade(3, 11)));
        assert_eq!(table.quote(InstrumentId(3)), Some(quote));
        assert_eq!(
            table.quote(InstrumentId(4)),
            None,
            "same chunk, never ticked"
        );
        assert_eq!(
            table.trade(InstrumentId(300)),
            None,
            "chunk never allocated"
        );
        assert_eq!(table.updates.get(), 3);
    }

    #[test]
    fn ids_past_the_table_are_counted_not_stored() {
        let table = LatestTable::new();
        table.apply(&trade(MAX_INSTRUMENTS as u32, 1));
        table.apply(&trade(u32::MAX, 1));
        assert_eq!(table.overflow.get(), 2);
        assert_eq!(table.updates.get(), 0);
        assert_eq!(table.trade(InstrumentId(u32::MAX)), None);
    }
}
