//! What to subscribe to: `[feeds.bitstamp]` checked into channel names and the
//! `bts:subscribe` messages.

use engine::TickKind;

use super::Bitstamp;
use crate::config::{VenueConfig, unknown_channel};
use crate::error::{Error, Result};

const KEY: &str = "feeds.bitstamp";

/// The checked subscription.
#[derive(Debug, Clone)]
pub(super) struct Subscription {
    url: String,
    /// Lower-cased pairs, in config order, without repeats.
    pairs: Vec<String>,
    /// Channel names as offered (`live_trades`).
    channels: Vec<&'static str>,
}

impl Subscription {
    pub(super) fn new(config: &VenueConfig) -> Result<Subscription> {
        config.validate(KEY)?;
        config.refuse_keys(KEY, Bitstamp::NAME, &["api", "key_env", "secret_env"])?;
        let mut channels = Vec::new();
        for name in config.channels_or(Bitstamp::DEFAULT_CHANNELS) {
            let channel = Bitstamp::CHANNELS
                .iter()
                .find(|offered| **offered == name)
                .ok_or_else(|| unknown_channel(KEY, name, Bitstamp::CHANNELS))?;
            if !channels.contains(channel) {
                channels.push(*channel);
            }
        }
        if config.instruments.is_empty() {
            return Err(config_error(
                "instruments",
                "at least one pair is needed, e.g. [\"btcusd\"]".into(),
            ));
        }
        let mut pairs: Vec<String> = Vec::new();
        for pair in &config.instruments {
            // Channel names hold the pair verbatim inside JSON text.
            if !pair.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(config_error(
                    "instruments",
                    format!("{pair:?} is not a Bitstamp pair (letters and digits, e.g. btcusd)"),
                ));
            }
            let pair = pair.to_ascii_lowercase();
            if !pairs.contains(&pair) {
                pairs.push(pair);
            }
        }
        Ok(Subscription {
            url: config.url_or(Bitstamp::DEFAULT_URL),
            pairs,
            channels,
        })
    }

    /// No channels: the parser alone.
    pub(super) fn none() -> Subscription {
        Subscription {
            url: Bitstamp::DEFAULT_URL.to_owned(),
            pairs: Vec::new(),
            channels: Vec::new(),
        }
    }

    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// One `bts:subscribe` per pair and channel.
    pub(super) fn subscribe_messages(&self) -> impl Iterator<Item = String> + '_ {
        self.pairs.iter().flat_map(|pair| {
            self.channels.iter().map(move |channel| {
                format!(r#"{{"event":"bts:subscribe","data":{{"channel":"{channel}_{pair}"}}}}"#)
            })
        })
    }

    pub(super) fn channels(&self) -> Vec<(String, TickKind)> {
        let mut out = Vec::new();
        for pair in &self.pairs {
            for _channel in &self.channels {
                let entry = (
                    format!("{}:{}", Bitstamp::PREFIX, pair.to_ascii_uppercase()),
                    TickKind::Trade,
                );
                if !out.contains(&entry) {
                    out.push(entry);
                }
            }
        }
        out
    }
}

fn config_error(key: &str, reason: String) -> Error {
    Error::Config {
        key: format!("{KEY}.{key}"),
        reason,
    }
}
