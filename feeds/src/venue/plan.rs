//! What a `[feeds.<venue>]` table of symbols and channels asks for, once checked: shared by
//! the venues that subscribe to every channel of every symbol (Kraken, Polygon, Alpaca).

use engine::TickKind;

/// Symbols and channels, checked by the venue's own rules (each venue's `subscription.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Venue symbols, each once.
    pub symbols: Vec<String>,
    /// Channels the venue offers, each once.
    pub channels: Vec<&'static str>,
}

impl Plan {
    /// `(PREFIX:symbol, kind)` for every symbol and channel, symbol by symbol, for the stale
    /// watchdog: the channel named `trades` carries trades, every other one quotes.
    pub fn watched(&self, prefix: &str, trades: &str) -> Vec<(String, TickKind)> {
        let mut out = Vec::with_capacity(self.symbols.len() * self.channels.len());
        for symbol in &self.symbols {
            for &channel in &self.channels {
                let kind = if channel == trades {
                    TickKind::Trade
                } else {
                    TickKind::Quote
                };
                out.push((format!("{prefix}:{symbol}"), kind));
            }
        }
        out
    }
}
