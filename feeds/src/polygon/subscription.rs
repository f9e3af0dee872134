//! `[feeds.polygon]` checked, and the authentication and subscription messages.

use engine::TickKind;
use serde::Serialize;

use super::{Polygon, TABLE};
use crate::config::VenueConfig;
use crate::error::Result;

/// The channels nexamd reads: `T` (trades) and `Q` (NBBO quotes).
pub(crate) const OFFERED: &[&str] = &["T", "Q"];

/// What `[feeds.polygon]` asks for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Tickers (`AAPL`).
    pub symbols: Vec<String>,
    /// Channels from [`OFFERED`], each once.
    pub channels: Vec<&'static str>,
}

impl Plan {
    /// Checks `config` (not the credential), naming keys under `feeds.polygon` in errors.
    pub fn new(config: &VenueConfig) -> Result<Plan> {
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
    pub fn subscribe(&self) -> String {
        let mut params = String::new();
        for symbol in &self.symbols {
            for channel in &self.channels {
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

    /// `(POLYGON:AAPL, Trade)`, ... for the stale watchdog.
    pub fn watched(&self) -> Vec<(String, TickKind)> {
        let mut out = Vec::with_capacity(self.symbols.len() * self.channels.len());
        for symbol in &self.symbols {
            for &channel in &self.channels {
                let kind = if channel == "T" {
                    TickKind::Trade
                } else {
                    TickKind::Quote
                };
                out.push((format!("{}:{symbol}", Polygon::PREFIX), kind));
            }
        }
        out
    }
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
            plan.subscribe(),
            r#"{"action":"subscribe","params":"T.AAPL,Q.AAPL,T.MSFT,Q.MSFT"}"#
        );
        assert_eq!(auth("k\"1"), r#"{"action":"auth","params":"k\"1"}"#);
    }
}
