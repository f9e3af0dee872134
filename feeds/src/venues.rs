//! The provider venues by name, as `[feeds.<name>]` and `--venue` spell them.

use crate::config::VenueConfig;
use crate::error::{Error, Result};
use crate::venue::Venue;
use crate::{coinbase};

/// Every venue name, in the order config and docs list them.
pub const NAMES: [&str; 1] = [coinbase::Coinbase::NAME];

/// The live feed's venue for `[feeds.<name>]`, checked against its config (venue-specific
/// keys, credentials in the environment).
pub fn live(name: &str, config: &VenueConfig) -> Result<Box<dyn Venue>> {
    config.validate(&format!("feeds.{name}"))?;
    Ok(match name {
        coinbase::Coinbase::NAME => Box::new(coinbase::Coinbase::new(config)?),
        _ => return Err(unknown(name)),
    })
}

/// The parser alone (no subscriptions, no credentials), for replay.
pub fn parser(name: &str) -> Result<Box<dyn Venue>> {
    Ok(match name {
        coinbase::Coinbase::NAME => Box::new(coinbase::Coinbase::parser()),
        _ => return Err(unknown(name)),
    })
}

fn unknown(name: &str) -> Error {
    Error::Config {
        key: "venue".into(),
        reason: format!("unknown venue {name:?}; known: {}", NAMES.join(", ")),
    }
}
