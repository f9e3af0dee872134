//! The provider venues by name, as `[feeds.<name>]` and `--venue` spell them.

use crate::config::VenueConfig;
use crate::error::{Error, Result};
use crate::venue::Venue;

/// Every venue name, in the order config and docs list them.
pub const NAMES: [&str; 0] = [];

/// The live feed's venue for `[feeds.<name>]`, checked against its config.
pub fn live(name: &str, config: &VenueConfig) -> Result<Box<dyn Venue>> {
    let prefix = format!("feeds.{name}");
    config.validate(&prefix)?;
    Err(unknown(name))
}

/// The parser alone (no subscriptions, no credentials), for replay.
pub fn parser(name: &str) -> Result<Box<dyn Venue>> {
    Err(unknown(name))
}

fn unknown(name: &str) -> Error {
    Error::Config {
        key: "venue".into(),
        reason: format!("unknown venue {name:?}; known: {}", NAMES.join(", ")),
    }
}
