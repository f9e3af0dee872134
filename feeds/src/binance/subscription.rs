//! What to subscribe to: `[feeds.binance]` checked into stream names, the URL and the
//! `SUBSCRIBE` message.

use engine::TickKind;

use super::Binance;
use crate::config::{VenueConfig, unknown_channel};
use crate::error::{Error, Result};

const KEY: &str = "feeds.binance";

/// One stream kind per symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Trade,
    AggTrade,
    BookTicker,
}

impl Channel {
    fn from_name(name: &str) -> Option<Channel> {
        match name {
            "trade" => Some(Channel::Trade),
            "aggTrade" => Some(Channel::AggTrade),
            "bookTicker" => Some(Channel::BookTicker),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Channel::Trade => "trade",
            Channel::AggTrade => "aggTrade",
            Channel::BookTicker => "bookTicker",
        }
    }

    fn kind(self) -> TickKind {
        match self {
            Channel::Trade | Channel::AggTrade => TickKind::Trade,
            Channel::BookTicker => TickKind::Quote,
        }
    }
}

/// The unit of Binance's event and trade times: milliseconds, or microseconds when the URL
/// carries `timeUnit=MICROSECOND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimeUnit {
    Millis,
    Micros,
}

/// The checked subscription.
#[derive(Debug, Clone)]
pub(super) struct Subscription {
    /// The endpoint: a base (`wss://host:port`) or, with `streams_in_url` false, a full URL.
    url: String,
    /// Whether [`Subscription::url`] appends the streams (`/stream?streams=...`).
    streams_in_url: bool,
    /// Upper-cased symbols, in config order, without repeats.
    symbols: Vec<String>,
    channels: Vec<Channel>,
}

impl Subscription {
    pub(super) fn new(config: &VenueConfig) -> Result<Subscription> {
        config.validate(KEY)?;
        config.refuse_keys(KEY, Binance::NAME, &["api", "key_env", "secret_env"])?;
        let mut channels = Vec::new();
        for name in config.channels_or(Binance::DEFAULT_CHANNELS) {
            let channel = Channel::from_name(name)
                .ok_or_else(|| unknown_channel(KEY, name, Binance::CHANNELS))?;
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        if config.instruments.is_empty() {
            return Err(config_error(
                "instruments",
                "at least one symbol is needed, e.g. [\"BTCUSDT\"]".into(),
            ));
        }
        let mut symbols: Vec<String> = Vec::new();
        for symbol in &config.instruments {
            // Stream names and the SUBSCRIBE message hold symbols verbatim.
            if !symbol.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(config_error(
                    "instruments",
                    format!("{symbol:?} is not a Binance symbol (letters and digits)"),
                ));
            }
            let symbol = symbol.to_ascii_uppercase();
            if !symbols.contains(&symbol) {
                symbols.push(symbol);
            }
        }
        let streams = symbols.len() * channels.len();
        if streams > Binance::MAX_STREAMS {
            return Err(config_error(
                "instruments",
                format!(
                    "{streams} streams ({} symbols x {} channels); one connection carries at most {}",
                    symbols.len(),
                    channels.len(),
                    Binance::MAX_STREAMS
                ),
            ));
        }
        let (url, streams_in_url) = match &config.url {
            None => (Binance::DEFAULT_URL.to_owned(), true),
            Some(url) if has_stream_path(url) => (url.clone(), false),
            Some(url) => (url.trim_end_matches('/').to_owned(), true),
        };
        Ok(Subscription {
            url,
            streams_in_url,
            symbols,
            channels,
        })
    }

    /// No streams: the parser alone.
    pub(super) fn none() -> Subscription {
        Subscription {
            url: Binance::DEFAULT_URL.to_owned(),
            streams_in_url: true,
            symbols: Vec::new(),
            channels: Vec::new(),
        }
    }

    pub(super) fn time_unit(&self) -> TimeUnit {
        if self
            .url
            .to_ascii_lowercase()
            .contains("timeunit=microsecond")
        {
            TimeUnit::Micros
        } else {
            TimeUnit::Millis
        }
    }

    /// `btcusdt@trade`, ... per symbol, then per channel.
    fn streams(&self) -> impl Iterator<Item = String> + '_ {
        self.symbols.iter().flat_map(|symbol| {
            self.channels
                .iter()
                .map(move |channel| format!("{}@{}", symbol.to_ascii_lowercase(), channel.name()))
        })
    }

    pub(super) fn url(&self) -> String {
        if self.streams_in_url {
            let streams: Vec<String> = self.streams().collect();
            format!("{}/stream?streams={}", self.url, streams.join("/"))
        } else {
            self.url.clone()
        }
    }

    /// The `SUBSCRIBE` message where the URL does not name the streams.
    pub(super) fn subscribe_message(&self) -> Option<String> {
        if self.streams_in_url || self.symbols.is_empty() || self.channels.is_empty() {
            return None;
        }
        let params: Vec<String> = self.streams().collect();
        // Stream names are letters, digits and `@` only: no escaping needed, but let serde say so.
        let params = serde_json::to_string(&params).ok()?;
        Some(format!(
            r#"{{"method":"SUBSCRIBE","params":{params},"id":1}}"#
        ))
    }

    pub(super) fn channels(&self) -> Vec<(String, TickKind)> {
        let mut out: Vec<(String, TickKind)> = Vec::new();
        for symbol in &self.symbols {
            for channel in &self.channels {
                let entry = (format!("{}:{symbol}", Binance::PREFIX), channel.kind());
                // `trade` and `aggTrade` feed the same (instrument, trade) channel.
                if !out.contains(&entry) {
                    out.push(entry);
                }
            }
        }
        out
    }
}

/// Whether `url` already names a stream path (`/ws`, `/ws/<stream>`, `/stream?...`).
fn has_stream_path(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    path.starts_with("/stream") || path.starts_with("/ws")
}

fn config_error(key: &str, reason: String) -> Error {
    Error::Config {
        key: format!("{KEY}.{key}"),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_paths_are_recognized() {
        assert!(has_stream_path("wss://stream.binance.com:9443/ws"));
        assert!(has_stream_path(
            "wss://stream.binance.com:9443/ws/btcusdt@trade"
        ));
        assert!(has_stream_path("wss://host/stream?streams=a@trade"));
        assert!(!has_stream_path("wss://stream.binance.com:9443"));
        assert!(!has_stream_path("wss://stream.binance.com:9443/"));
        assert!(!has_stream_path("wss://wsbinance.example"));
    }

    #[test]
    fn microsecond_urls_switch_the_time_unit() {
        let config = VenueConfig {
            url: Some("wss://host/stream?streams=btcusdt@trade&timeUnit=MICROSECOND".into()),
            instruments: vec!["BTCUSDT".into()],
            ..VenueConfig::default()
        };
        let subscription = Subscription::new(&config).unwrap();
        assert_eq!(subscription.time_unit(), TimeUnit::Micros);
        assert_eq!(Subscription::none().time_unit(), TimeUnit::Millis);
    }
}
