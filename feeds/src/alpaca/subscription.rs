//! `[feeds.alpaca]` checked, and the authentication and subscription messages.

use serde::Serialize;

use super::{Alpaca, TABLE};
use crate::config::VenueConfig;
use crate::error::Result;
use crate::venue::Plan;

/// The channels nexamd reads: `trades` and `quotes`.
pub(crate) const OFFERED: &[&str] = &["trades", "quotes"];

/// Checks `config` (not the credentials), naming keys under `feeds.alpaca` in errors.
pub(crate) fn plan(config: &VenueConfig) -> Result<Plan> {
    let prefix = TABLE;
    config.validate(prefix)?;
    config.refuse_keys(prefix, "alpaca", &["api"])?;
    // `*` (every symbol) would leave the stale watchdog nothing to watch.
    let symbols = config.distinct_instruments(
        prefix,
        Alpaca::PREFIX,
        "must name at least one symbol, such as \"AAPL\"",
        |symbol| {
            symbol
                .contains('*')
                .then(|| format!("{symbol:?} is not a symbol: name each one, without *"))
        },
    )?;
    let channels = config.distinct_channels(prefix, OFFERED)?;
    Ok(Plan { symbols, channels })
}

/// `{"action":"subscribe","trades":["AAPL"],"quotes":["AAPL"]}`; a channel not asked for
/// is left out.
pub(crate) fn subscribe(plan: &Plan) -> String {
    #[derive(Serialize)]
    struct Subscribe<'a> {
        action: &'static str,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        trades: &'a [String],
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        quotes: &'a [String],
    }
    let symbols = |channel| {
        if plan.channels.contains(&channel) {
            &plan.symbols[..]
        } else {
            &[]
        }
    };
    let message = Subscribe {
        action: "subscribe",
        trades: symbols("trades"),
        quotes: symbols("quotes"),
    };
    // Strings and lists of strings always serialize.
    serde_json::to_string(&message).unwrap_or_default()
}

/// `{"action":"auth","key":"<key>","secret":"<secret>"}`.
pub(crate) fn auth(key: &str, secret: &str) -> String {
    #[derive(Serialize)]
    struct Auth<'a> {
        action: &'static str,
        key: &'a str,
        secret: &'a str,
    }
    // Strings always serialize.
    serde_json::to_string(&Auth {
        action: "auth",
        key,
        secret,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_documented_shape() {
        let mut plan = Plan {
            symbols: vec!["AAPL".into(), "MSFT".into()],
            channels: vec!["trades", "quotes"],
        };
        assert_eq!(
            subscribe(&plan),
            r#"{"action":"subscribe","trades":["AAPL","MSFT"],"quotes":["AAPL","MSFT"]}"#
        );
        plan.channels = vec!["quotes"];
        assert_eq!(
            subscribe(&plan),
            r#"{"action":"subscribe","quotes":["AAPL","MSFT"]}"#
        );
        assert_eq!(
            auth("PK1", "s\"2"),
            r#"{"action":"auth","key":"PK1","secret":"s\"2"}"#
        );
    }
}
