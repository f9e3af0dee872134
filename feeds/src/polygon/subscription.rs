//! `[feeds.polygon]` checked, and the authentication and subscription messages.

use engine::TickKind;
use serde::Serialize;

use super::{Polygon, TABLE};
use crate::config::{VenueConfig, unknown_channel, unused_key};
use crate::error::{Error, Result};

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
        for (key, set) in [
            ("api", config.api.is_some()),
            ("secret_env", config.secret_env.is_some()),
        ] {
            if set {
                return Err(unused_key(prefix, key, "polygon"));
            }
        }
        let bad = |key: &str, reason: String| Error::Config {
            key: format!("{prefix}.{key}"),
            reason,
        };
        if config.instruments.is_empty() {
            return Err(bad(
                "instruments",
                "must name at least one ticker, such as \"AAPL\"".into(),
            ));
        }
        for (i, symbol) in config.instruments.iter().enumerate() {
            // `T.AAPL,Q.AAPL`: a comma would split a subscription, and `*` (every ticker)
            // would leave the stale watchdog nothing to watch.
            if symbol.contains([',', '*']) {
                return Err(bad(
                    "instruments",
                    format!("{symbol:?} is not a ticker: name each one, without , or *"),
                ));
            }
            if config.instruments[..i].contains(symbol) {
                return Err(bad("instruments", format!("{symbol:?} is listed twice")));
            }
            engine::registry::validate_name(&format!("{}:{symbol}", Polygon::PREFIX))
                .map_err(|e| bad("instruments", e.to_string()))?;
        }
        let mut channels: Vec<&'static str> = Vec::new();
        for channel in config.channels_or(OFFERED) {
            let Some(&known) = OFFERED.iter().find(|&&c| c == channel) else {
                return Err(unknown_channel(prefix, channel, OFFERED));
            };
            if channels.contains(&known) {
                return Err(bad("channels", format!("{channel:?} is listed twice")));
            }
            channels.push(known);
        }
        Ok(Plan {
            symbols: config.instruments.clone(),
            channels,
        })
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
