//! The provider venues by name, as `[feeds.<name>]` and `--venue` spell them.

use crate::config::VenueConfig;
use crate::error::{Error, Result};
use crate::venue::Venue;
use crate::{alpaca, binance, bitstamp, coinbase, kraken, polygon};

/// Every venue name, in the order config and docs list them.
pub const NAMES: [&str; 6] = [
    binance::Binance::NAME,
    coinbase::Coinbase::NAME,
    kraken::Kraken::NAME,
    bitstamp::Bitstamp::NAME,
    polygon::Polygon::NAME,
    alpaca::Alpaca::NAME,
];

/// The live feed's venue for `[feeds.<name>]`, checked against its config (venue-specific
/// keys, credentials in the environment).
pub fn live(name: &str, config: &VenueConfig) -> Result<Box<dyn Venue>> {
    // Each venue's `new` checks the shared keys too.
    Ok(match name {
        binance::Binance::NAME => Box::new(binance::Binance::new(config)?),
        coinbase::Coinbase::NAME => Box::new(coinbase::Coinbase::new(config)?),
        kraken::Kraken::NAME => Box::new(kraken::Kraken::new(config)?),
        bitstamp::Bitstamp::NAME => Box::new(bitstamp::Bitstamp::new(config)?),
        polygon::Polygon::NAME => Box::new(polygon::Polygon::new(config)?),
        alpaca::Alpaca::NAME => Box::new(alpaca::Alpaca::new(config)?),
        _ => return Err(unknown(name)),
    })
}

/// The parser alone (no subscriptions, no credentials), for replay.
pub fn parser(name: &str) -> Result<Box<dyn Venue>> {
    Ok(match name {
        binance::Binance::NAME => Box::new(binance::Binance::parser()),
        coinbase::Coinbase::NAME => Box::new(coinbase::Coinbase::parser()),
        kraken::Kraken::NAME => Box::new(kraken::Kraken::parser()),
        bitstamp::Bitstamp::NAME => Box::new(bitstamp::Bitstamp::parser()),
        polygon::Polygon::NAME => Box::new(polygon::Polygon::parser()),
        alpaca::Alpaca::NAME => Box::new(alpaca::Alpaca::parser()),
        _ => return Err(unknown(name)),
    })
}

fn unknown(name: &str) -> Error {
    Error::Config {
        key: "venue".into(),
        reason: format!("unknown venue {name:?}; known: {}", NAMES.join(", ")),
    }
}
