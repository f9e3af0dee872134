//! Channel names: parsing `trades.<instrument>`, `quotes.<instrument>`,
//! `bars.<interval>.<instrument>` and `portfolio.<id>`, and their compact keys.

use std::fmt;

use engine::{InstrumentId, Registry, TickKind};

/// Bar intervals the engine publishes live.
pub const BAR_INTERVALS: [&str; 2] = ["1s", "1m"];

/// A parsed channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Every trade of an instrument.
    Trades(InstrumentId),
    /// Every quote of an instrument.
    Quotes(InstrumentId),
    /// Bars of one interval (an index into [`BAR_INTERVALS`]) as they close.
    Bars {
        /// Index into [`BAR_INTERVALS`].
        interval: u8,
        /// The instrument.
        instrument: InstrumentId,
    },
    /// Valuations of a portfolio (whether it exists for the client is checked by the hub).
    Portfolio(u64),
}

/// Largest portfolio id a channel can name (ids share the key with the channel kind).
pub const MAX_PORTFOLIO_ID: u64 = (1 << 48) - 1;

/// A compact, hashable channel identity used on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelKey(pub u64);

/// Why a channel name was refused; `code` is the protocol's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelError {
    /// `bad_channel`, `unknown_instrument` or `unknown_portfolio`.
    pub code: &'static str,
    /// Human-readable reason.
    pub message: String,
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Channel {
    /// Parses `name`, resolving the instrument in `registry`.
    pub fn parse(name: &str, registry: &Registry) -> Result<Channel, ChannelError> {
        let bad = |message: String| ChannelError {
            code: "bad_channel",
            message,
        };
        let instrument = |text: &str| {
            registry.id(text).ok_or_else(|| ChannelError {
                code: "unknown_instrument",
                message: format!("unknown instrument {text:?}"),
            })
        };
        let (kind, rest) = name.split_once('.').ok_or_else(|| {
            bad(format!(
                "bad channel {name:?}: expected trades.<instrument>, quotes.<instrument>, \
                 bars.<interval>.<instrument> or portfolio.<id>"
            ))
        })?;
        match kind {
            "trades" => Ok(Channel::Trades(instrument(rest)?)),
            "quotes" => Ok(Channel::Quotes(instrument(rest)?)),
            "bars" => {
                let (interval, symbol) = rest.split_once('.').ok_or_else(|| {
                    bad(format!(
                        "bad channel {name:?}: expected bars.<interval>.<instrument>"
                    ))
                })?;
                let index = BAR_INTERVALS
                    .iter()
                    .position(|i| *i == interval)
                    .ok_or_else(|| {
                        bad(format!(
                            "bad channel {name:?}: live bars are published for {}",
                            BAR_INTERVALS.join(" and ")
                        ))
                    })?;
                Ok(Channel::Bars {
                    interval: index as u8,
                    instrument: instrument(symbol)?,
                })
            }
            "portfolio" => match rest.parse::<u64>() {
                Ok(id) if (1..=MAX_PORTFOLIO_ID).contains(&id) => Ok(Channel::Portfolio(id)),
                _ => Err(ChannelError {
                    code: "unknown_portfolio",
                    message: format!("unknown portfolio {rest:?}"),
                }),
            },
            _ => Err(bad(format!("bad channel {name:?}: unknown kind {kind:?}"))),
        }
    }

    /// The channel's compact key: kind in the top byte, bar interval next, instrument id low.
    pub fn key(self) -> ChannelKey {
        let (kind, interval, id) = match self {
            Channel::Trades(id) => (1u64, 0u64, id),
            Channel::Quotes(id) => (2, 0, id),
            Channel::Bars {
                interval,
                instrument,
            } => (3, u64::from(interval), instrument),
            Channel::Portfolio(id) => return ChannelKey(4 << 56 | (id & MAX_PORTFOLIO_ID)),
        };
        ChannelKey(kind << 56 | interval << 48 | u64::from(id.0))
    }

    /// The channel's instrument; none for a portfolio.
    pub fn instrument(self) -> Option<InstrumentId> {
        match self {
            Channel::Trades(id) | Channel::Quotes(id) => Some(id),
            Channel::Bars { instrument, .. } => Some(instrument),
            Channel::Portfolio(_) => None,
        }
    }

    /// The tick channel for a tick kind.
    pub fn for_tick(kind: TickKind, instrument: InstrumentId) -> Channel {
        match kind {
            TickKind::Trade => Channel::Trades(instrument),
            TickKind::Quote => Channel::Quotes(instrument),
        }
    }

    /// Whether this channel carries ticks (and so is affected by a ring gap).
    pub fn is_tick_channel(self) -> bool {
        matches!(self, Channel::Trades(_) | Channel::Quotes(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn registry() -> Registry {
        let registry = Registry::new();
        registry.intern("SIM:AAA").unwrap();
        registry.intern("KRAKEN:BTC/USD").unwrap();
        registry
    }

    #[rstest]
    #[case("trades.SIM:AAA", Channel::Trades(InstrumentId(0)))]
    #[case("quotes.KRAKEN:BTC/USD", Channel::Quotes(InstrumentId(1)))]
    #[case("bars.1s.SIM:AAA", Channel::Bars { interval: 0, instrument: InstrumentId(0) })]
    #[case("bars.1m.KRAKEN:BTC/USD", Channel::Bars { interval: 1, instrument: InstrumentId(1) })]
    #[case("portfolio.42", Channel::Portfolio(42))]
    fn parses_valid_channels(#[case] name: &str, #[case] expected: Channel) {
        assert_eq!(Channel::parse(name, &registry()), Ok(expected));
    }

    #[rstest]
    #[case("", "bad_channel")]
    #[case("trades", "bad_channel")]
    #[case("trade.SIM:AAA", "bad_channel")]
    #[case("TRADES.SIM:AAA", "bad_channel")]
    #[case("trades.SIM:NOPE", "unknown_instrument")]
    #[case("trades.", "unknown_instrument")]
    #[case("quotes.sim:aaa", "unknown_instrument")]
    #[case("bars.SIM:AAA", "bad_channel")]
    #[case("bars.7m.SIM:AAA", "bad_channel")]
    #[case("bars.1m.SIM:NOPE", "unknown_instrument")]
    #[case("portfolio.abc", "unknown_portfolio")]
    #[case("portfolio.0", "unknown_portfolio")]
    #[case("portfolio.-1", "unknown_portfolio")]
    fn refuses_bad_channels(#[case] name: &str, #[case] code: &str) {
        let error = Channel::parse(name, &registry()).unwrap_err();
        assert_eq!(error.code, code, "{name}: {}", error.message);
    }

    #[test]
    fn keys_are_distinct_per_channel() {
        let id = InstrumentId(7);
        let keys = [
            Channel::Trades(id).key(),
            Channel::Quotes(id).key(),
            Channel::Bars {
                interval: 0,
                instrument: id,
            }
            .key(),
            Channel::Bars {
                interval: 1,
                instrument: id,
            }
            .key(),
            Channel::Trades(InstrumentId(8)).key(),
            Channel::Portfolio(7).key(),
        ];
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
        assert_eq!(Channel::for_tick(TickKind::Quote, id), Channel::Quotes(id));
        assert!(Channel::Trades(id).is_tick_channel());
        assert!(
            !Channel::Bars {
                interval: 0,
                instrument: id
            }
            .is_tick_channel()
        );
    }
}
