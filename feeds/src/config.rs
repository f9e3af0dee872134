//! `[feeds.<venue>]`: the configuration every provider feed shares.
//!
//! ```toml
//! [feeds.binance]
//! enabled = true
//! url = "wss://stream.binance.com:9443"  # optional: the venue's public endpoint by default
//! instruments = ["btcusdt", "ethusdt"]    # venue symbols, as the venue writes them
//! channels = ["trade", "bookTicker"]      # venue channel names; empty: the venue's default
//! stale_after_ms = 30000                  # a channel silent this long is reported stale
//! idle_reconnect_ms = 60000               # no message at all this long: reconnect
//! backoff_initial_ms = 500                # first reconnect delay, doubled up to the max,
//! backoff_max_ms = 30000                  # each delay drawn with jitter from [d/2, d]
//! connect_timeout_ms = 10000
//! ```
//!
//! Venue-specific keys: `api` (Coinbase: `exchange` or `advanced`), `key_env` and
//! `secret_env` (Polygon and Alpaca: the names of the environment variables holding the
//! credentials; the credentials themselves never live in the file).

use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// `[feeds.<venue>]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VenueConfig {
    /// Whether the feed runs.
    pub enabled: bool,
    /// The WebSocket endpoint; `None` takes the venue's public one.
    pub url: Option<String>,
    /// Venue symbols to subscribe to, as the venue writes them.
    pub instruments: Vec<String>,
    /// Venue channel names; empty takes the venue's default set.
    pub channels: Vec<String>,
    /// Coinbase: `exchange` (the Exchange feed, the default) or `advanced` (Advanced Trade).
    pub api: Option<String>,
    /// Polygon and Alpaca: the environment variable holding the API key.
    pub key_env: Option<String>,
    /// Alpaca: the environment variable holding the API secret.
    pub secret_env: Option<String>,
    /// A subscribed channel silent this long is reported stale (ms).
    pub stale_after_ms: u64,
    /// No message at all for this long: the connection is dropped and made again (ms).
    pub idle_reconnect_ms: u64,
    /// First reconnect delay (ms); doubled after each failed attempt.
    pub backoff_initial_ms: u64,
    /// Longest reconnect delay (ms).
    pub backoff_max_ms: u64,
    /// How long a connection attempt may take (ms).
    pub connect_timeout_ms: u64,
}

impl Default for VenueConfig {
    fn default() -> Self {
        VenueConfig {
            enabled: true,
            url: None,
            instruments: Vec::new(),
            channels: Vec::new(),
            api: None,
            key_env: None,
            secret_env: None,
            stale_after_ms: 30_000,
            idle_reconnect_ms: 60_000,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            connect_timeout_ms: 10_000,
        }
    }
}

impl VenueConfig {
    /// Checks the shared keys; `prefix` is the table's path (`feeds.binance`). Each venue
    /// checks its own keys when it is built.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |key: &str, reason: String| Error::Config {
            key: format!("{prefix}.{key}"),
            reason,
        };
        if let Some(url) = &self.url
            && !(url.starts_with("ws://") || url.starts_with("wss://"))
        {
            return Err(bad(
                "url",
                format!("must start with ws:// or wss://, got {url:?}"),
            ));
        }
        for symbol in &self.instruments {
            if symbol.is_empty() || !symbol.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(bad(
                    "instruments",
                    format!("{symbol:?} is not a venue symbol (printable ASCII, no spaces)"),
                ));
            }
        }
        let durations = [
            ("stale_after_ms", self.stale_after_ms),
            ("idle_reconnect_ms", self.idle_reconnect_ms),
            ("backoff_initial_ms", self.backoff_initial_ms),
            ("backoff_max_ms", self.backoff_max_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
        ];
        for (key, ms) in durations {
            if !(1..=86_400_000).contains(&ms) {
                return Err(bad(key, format!("must be 1 ms to 1 day, got {ms}")));
            }
        }
        if self.backoff_initial_ms > self.backoff_max_ms {
            return Err(bad(
                "backoff_initial_ms",
                format!(
                    "must not exceed backoff_max_ms ({} > {})",
                    self.backoff_initial_ms, self.backoff_max_ms
                ),
            ));
        }
        Ok(())
    }

    /// The channels asked for, or `default` when none are.
    pub fn channels_or<'a>(&'a self, default: &[&'a str]) -> Vec<&'a str> {
        if self.channels.is_empty() {
            default.to_vec()
        } else {
            self.channels.iter().map(String::as_str).collect()
        }
    }

    /// The configured endpoint, or the venue's `default` one.
    pub fn url_or(&self, default: &str) -> String {
        self.url.clone().unwrap_or_else(|| default.to_owned())
    }

    /// The value of the environment variable named by `key_env`/`secret_env` (`which`), or
    /// `default_var` when the key is not set. An error names the config key and the variable.
    pub fn credential(&self, prefix: &str, which: &str, default_var: &str) -> Result<String> {
        let var = self.venue_key(which).unwrap_or(default_var);
        match std::env::var(var) {
            Ok(value) if !value.is_empty() => Ok(value),
            _ => Err(Error::Config {
                key: format!("{prefix}.{which}"),
                reason: format!("environment variable {var} is not set"),
            }),
        }
    }

    /// Refuses each of `keys` (`api`, `key_env`, `secret_env`) that is set, in that order:
    /// `venue` has no use for it.
    pub fn refuse_keys(&self, prefix: &str, venue: &str, keys: &[&str]) -> Result<()> {
        match keys.iter().find(|key| self.venue_key(key).is_some()) {
            Some(key) => Err(unused_key(prefix, key, venue)),
            None => Ok(()),
        }
    }

    /// The value of a venue-specific key: `api`, `key_env` or `secret_env`.
    fn venue_key(&self, key: &str) -> Option<&str> {
        match key {
            "api" => self.api.as_deref(),
            "key_env" => self.key_env.as_deref(),
            "secret_env" => self.secret_env.as_deref(),
            _ => None,
        }
    }

    /// The instruments, each named once: at least one (else the error says `none`), each
    /// passing the venue's own `check` (`Some(reason)` refuses it), each a valid instrument
    /// name as `instrument_prefix:symbol`.
    pub fn distinct_instruments(
        &self,
        prefix: &str,
        instrument_prefix: &str,
        none: &str,
        check: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>> {
        let bad = |reason: String| Error::Config {
            key: format!("{prefix}.instruments"),
            reason,
        };
        if self.instruments.is_empty() {
            return Err(bad(none.to_owned()));
        }
        for (i, symbol) in self.instruments.iter().enumerate() {
            if let Some(reason) = check(symbol) {
                return Err(bad(reason));
            }
            if self.instruments[..i].contains(symbol) {
                return Err(bad(format!("{symbol:?} is listed twice")));
            }
            engine::registry::validate_name(&format!("{instrument_prefix}:{symbol}"))
                .map_err(|e| bad(e.to_string()))?;
        }
        Ok(self.instruments.clone())
    }

    /// The channels asked for (all of `offered` when none are), each one of `offered` and
    /// named once.
    pub fn distinct_channels(
        &self,
        prefix: &str,
        offered: &[&'static str],
    ) -> Result<Vec<&'static str>> {
        let mut channels: Vec<&'static str> = Vec::new();
        for channel in self.channels_or(offered) {
            let Some(&known) = offered.iter().find(|&&c| c == channel) else {
                return Err(unknown_channel(prefix, channel, offered));
            };
            if channels.contains(&known) {
                return Err(Error::Config {
                    key: format!("{prefix}.channels"),
                    reason: format!("{channel:?} is listed twice"),
                });
            }
            channels.push(known);
        }
        Ok(channels)
    }

    /// `stale_after_ms` as a duration.
    pub fn stale_after(&self) -> Duration {
        Duration::from_millis(self.stale_after_ms)
    }

    /// `idle_reconnect_ms` as a duration.
    pub fn idle_reconnect(&self) -> Duration {
        Duration::from_millis(self.idle_reconnect_ms)
    }

    /// `connect_timeout_ms` as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

/// A venue-specific key set where the venue has no use for it.
pub fn unused_key(prefix: &str, key: &str, venue: &str) -> Error {
    Error::Config {
        key: format!("{prefix}.{key}"),
        reason: format!("{venue} has no such setting"),
    }
}

/// A channel name the venue does not offer.
pub fn unknown_channel(prefix: &str, channel: &str, offered: &[&str]) -> Error {
    Error::Config {
        key: format!("{prefix}.channels"),
        reason: format!(
            "unknown channel {channel:?}; offered: {}",
            offered.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        VenueConfig::default().validate("feeds.binance").unwrap();
        let config = VenueConfig {
            url: Some("http://x".into()),
            ..VenueConfig::default()
        };
        let err = config.validate("feeds.binance").unwrap_err().to_string();
        assert!(err.contains("feeds.binance.url"), "{err}");
        let config = VenueConfig {
            backoff_initial_ms: 5000,
            backoff_max_ms: 100,
            ..VenueConfig::default()
        };
        let err = config.validate("feeds.kraken").unwrap_err().to_string();
        assert!(err.contains("feeds.kraken.backoff_initial_ms"), "{err}");
    }
}
