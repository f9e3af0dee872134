//! `[feeds.polygon]` checked, and the authentication and subscription messages.

use serde::Serialize;

use super::{Polygon, TABLE};
use crate::config::VenueConfig;
use crate::error::Result;
use crate::venue::Plan;

/// The channels nexamd reads: `T` (trades) and `Q` (NBBO quotes).
pub(crate) const OFFERED: &[&str] = &["T", "Q"];

/// Checks `config` (not the credential), naming keys under `feeds.polygon` in errors.
pub(crate) fn plan(config: &VenueConfig) -> Result<Plan> {
    let prefix = TABLE;
    config.validate(prefix)?;
    config.refuse_keys(prefix, "polygon", &["api", "secret_env"])?;
    // `T.AAPL,Q.AAPL`: a comma would split a subscription, and `*` (every ticker) would
    // leave the stale watchdog nothing to watch.
    let symbols = config.distinct_instruments(
        prefix,
        Polygon::PREFIX,
        "must name at least one ticker, such as \"AAPL\"",
        |symbol| {
            symbol
                .contains([',', '*'])
                .then(|| format!("{symbol:?} is not a ticker: name each one, without , or *"))
        },
    )?;
    let channels = config.distinct_channels(prefix, OFFERED)?;
    Ok(Plan { symbols, channels })
}

/// `{"action":"subscribe","params":"T.AAPL,Q.AAPL,T.MSFT,Q.MSFT"}`: every channel of
/// every ticker, ticker by ticker.
pub(crate) fn subscribe(plan: &Plan) -> String {
    let mut params = String::new();
    for symbol in &plan.symbols {
        for channel in &plan.channels {
            if !params.is_empty() {
                params.push(',');
            }
            params.push_str(channel);
            params.push('.');
            params.push_str(symbol);
        }
    }
    action("subscribe", &params)
}

/// `{"action":"auth","params":"<key>"}`.
pub(crate) fn auth(key: &str) -> String {
    action("auth", key)
}

fn action(action: &'static str, params: &str) -> String {
    #[derive(Serialize)]
    struct Action<'a> {
        action: &'static str,
        params: &'a str,
    }
    // Two strings always serialize.
    serde_json::to_string(&Action { action, params }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_documented_shape() {
        let plan = Plan {
            symbols: vec!["AAPL".into(), "MSFT".into()],
            channels: vec!["T", "Q"],
        };
        assert_eq!(
            subscribe(&plan),
            r#"{"action":"subscribe","params":"T.AAPL,Q.AAPL,T.MSFT,Q.MSFT"}"#
        );
        assert_eq!(auth("k\"1"), r#"{"action":"auth","params":"k\"1"}"#);
    }
}
