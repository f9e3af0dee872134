//! `[feeds.kraken]` checked, and the subscription requests it asks for.

use serde::Serialize;

use super::{Kraken, TABLE};
use crate::config::VenueConfig;
use crate::error::Result;
use crate::venue::Plan;

/// The channels nexamd reads: trades, and the ticker for the top of book.
pub(crate) const OFFERED: &[&str] = &["trade", "ticker"];

/// Checks `config`, naming keys under `feeds.kraken` in errors.
pub(crate) fn plan(config: &VenueConfig) -> Result<Plan> {
    let prefix = TABLE;
    config.validate(prefix)?;
    config.refuse_keys(prefix, "kraken", &["api", "key_env", "secret_env"])?;
    let symbols = config.distinct_instruments(
        prefix,
        Kraken::PREFIX,
        "must name at least one Kraken symbol, such as \"BTC/USD\"",
        |symbol| {
            let pair = symbol.split_once('/');
            (!pair.is_some_and(|(base, quote)| {
                !base.is_empty() && !quote.is_empty() && !quote.contains('/')
            }))
            .then(|| {
                format!("{symbol:?} is not a Kraken v2 symbol: write BASE/QUOTE, as \"BTC/USD\"")
            })
        },
    )?;
    let channels = config.distinct_channels(prefix, OFFERED)?;
    Ok(Plan { symbols, channels })
}

/// One `subscribe` request per channel, for every symbol.
///
/// - `trade` asks for no snapshot: after a reconnect the first new trade shows, through
///   its trade id, how many were missed, rather than the last 50 trades arriving again.
/// - `ticker` asks for `event_trigger: bbo`, so that it updates on every change of the
///   best bid or offer (the default, `trades`, updates only when a trade prints), and for
///   the snapshot, so that the current top of book is known at once.
pub(crate) fn requests(plan: &Plan) -> Vec<String> {
    plan.channels
        .iter()
        .map(|&channel| {
            let params = match channel {
                "ticker" => Params {
                    channel,
                    symbol: &plan.symbols,
                    event_trigger: Some("bbo"),
                    snapshot: true,
                },
                _ => Params {
                    channel,
                    symbol: &plan.symbols,
                    event_trigger: None,
                    snapshot: false,
                },
            };
            let request = Request {
                method: "subscribe",
                params,
            };
            // A struct of strings and a bool always serializes.
            serde_json::to_string(&request).unwrap_or_default()
        })
        .collect()
}

#[derive(Serialize)]
struct Request<'a> {
    method: &'static str,
    params: Params<'a>,
}

#[derive(Serialize)]
struct Params<'a> {
    channel: &'static str,
    symbol: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    event_trigger: Option<&'static str>,
    snapshot: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_the_documented_shape() {
        let plan = Plan {
            symbols: vec!["BTC/USD".into(), "ETH/USD".into()],
            channels: vec!["trade", "ticker"],
        };
        assert_eq!(
            requests(&plan),
            [
                r#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD","ETH/USD"],"snapshot":false}}"#,
                r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD","ETH/USD"],"event_trigger":"bbo","snapshot":true}}"#,
            ]
        );
    }
}
