//! `[feeds.coinbase]` checked into what to connect to and subscribe: the API, the URL, the
//! products and the channels, and the subscribe messages built from them.

use std::fmt;

use engine::TickKind;
use serde::Serialize;

use super::Coinbase;
use crate::config::{VenueConfig, unknown_channel};
use crate::error::{Error, Result};

/// The config table's key path.
const KEY: &str = "feeds.coinbase";

/// Which Coinbase WebSocket API to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Api {
    /// The Exchange feed (`api = "exchange"`, the default).
    #[default]
    Exchange,
    /// The Advanced Trade market data feed (`api = "advanced"`).
    Advanced,
}

impl Api {
    /// The public endpoint.
    pub const fn default_url(self) -> &'static str {
        match self {
            Api::Exchange => "wss://ws-feed.exchange.coinbase.com",
            Api::Advanced => "wss://advanced-trade-ws.coinbase.com",
        }
    }

    /// The channels offered, which are also the default set.
    pub const fn channels(self) -> &'static [&'static str] {
        match self {
            Api::Exchange => &["matches", "ticker", "heartbeat"],
            Api::Advanced => &["market_trades", "ticker", "heartbeats"],
        }
    }

    /// The config value: `exchange` or `advanced`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Api::Exchange => "exchange",
            Api::Advanced => "advanced",
        }
    }

    /// What a channel delivers, if ticks: `None` for heartbeats.
    fn kind(channel: &str) -> Option<TickKind> {
        match channel {
            "matches" | "market_trades" => Some(TickKind::Trade),
            "ticker" => Some(TickKind::Quote),
            _ => None,
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the live feed connects to and asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Subscription {
    api: Api,
    url: String,
    /// Product ids, in config order without repeats.
    products: Vec<String>,
    /// Channel names from [`Api::channels`], in config order without repeats.
    channels: Vec<&'static str>,
}

impl Subscription {
    /// Checks `config`; errors name the key under `feeds.coinbase`.
    pub(super) fn new(config: &VenueConfig) -> Result<Subscription> {
        config.validate(KEY)?;
        config.refuse_keys(KEY, Coinbase::NAME, &["key_env", "secret_env"])?;
        let api = match config.api.as_deref() {
            None | Some("exchange") => Api::Exchange,
            Some("advanced") => Api::Advanced,
            Some(other) => {
                return Err(Error::Config {
                    key: format!("{KEY}.api"),
                    reason: format!("must be \"exchange\" or \"advanced\", got {other:?}"),
                });
            }
        };
        if config.instruments.is_empty() {
            return Err(Error::Config {
                key: format!("{KEY}.instruments"),
                reason: "no products to subscribe to (e.g. [\"BTC-USD\"])".into(),
            });
        }
        let mut products: Vec<String> = Vec::with_capacity(config.instruments.len());
        for product in &config.instruments {
            // Coinbase writes product ids in upper case and so names the instruments; a lower
            // case id would subscribe to ticks published under another name.
            if product.bytes().any(|b| b.is_ascii_lowercase()) {
                return Err(Error::Config {
                    key: format!("{KEY}.instruments"),
                    reason: format!(
                        "{product:?}: Coinbase product ids are upper case, e.g. \"BTC-USD\""
                    ),
                });
            }
            if !products.contains(product) {
                products.push(product.clone());
            }
        }
        let offered = api.channels();
        let mut channels: Vec<&'static str> = Vec::with_capacity(offered.len());
        for asked in config.channels_or(offered) {
            let Some(&channel) = offered.iter().find(|&&c| c == asked) else {
                return Err(unknown_channel(KEY, asked, offered));
            };
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        Ok(Subscription {
            api,
            url: config.url_or(api.default_url()),
            products,
            channels,
        })
    }

    /// Nothing subscribed: the replay parser.
    pub(super) fn none() -> Subscription {
        Subscription {
            api: Api::Exchange,
            url: Api::Exchange.default_url().to_owned(),
            products: Vec::new(),
            channels: Vec::new(),
        }
    }

    pub(super) fn api(&self) -> Api {
        self.api
    }

    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// The subscribe messages: one for every channel on the Exchange feed, one per channel on
    /// Advanced Trade. Nothing when there is nothing to subscribe.
    pub(super) fn subscribe_messages(&self, out: &mut Vec<String>) {
        if self.products.is_empty() || self.channels.is_empty() {
            return;
        }
        match self.api {
            Api::Exchange => out.push(to_json(&ExchangeSubscribe {
                kind: "subscribe",
                product_ids: &self.products,
                channels: &self.channels,
            })),
            Api::Advanced => {
                for &channel in &self.channels {
                    // `heartbeats` is for the connection, not for products: the documented
                    // request names none.
                    let product_ids = (channel != "heartbeats").then_some(&self.products[..]);
                    out.push(to_json(&AdvancedSubscribe {
                        kind: "subscribe",
                        product_ids,
                        channel,
                    }));
                }
            }
        }
    }

    /// The (instrument, kind) channels the stale watchdog watches.
    pub(super) fn watched(&self, prefix: &str) -> Vec<(String, TickKind)> {
        let mut watched = Vec::new();
        for product in &self.products {
            for &channel in &self.channels {
                if let Some(kind) = Api::kind(channel) {
                    watched.push((format!("{prefix}:{product}"), kind));
                }
            }
        }
        watched
    }
}

/// `{"type":"subscribe","product_ids":[..],"channels":[..]}`.
#[derive(Serialize)]
struct ExchangeSubscribe<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    product_ids: &'a [String],
    channels: &'a [&'static str],
}

/// `{"type":"subscribe","product_ids":[..],"channel":".."}`.
#[derive(Serialize)]
struct AdvancedSubscribe<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_ids: Option<&'a [String]>,
    channel: &'static str,
}

/// Strings and lists of strings always serialize; the empty fallback is never taken.
fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(instruments: &[&str]) -> VenueConfig {
        VenueConfig {
            instruments: instruments.iter().map(|s| s.to_string()).collect(),
            ..VenueConfig::default()
        }
    }

    #[test]
    fn repeats_are_dropped_and_order_kept() {
        let mut c = config(&["ETH-USD", "BTC-USD", "ETH-USD"]);
        c.channels = vec!["ticker".into(), "matches".into(), "ticker".into()];
        let s = Subscription::new(&c).unwrap();
        assert_eq!(s.products, ["ETH-USD", "BTC-USD"]);
        assert_eq!(s.channels, ["ticker", "matches"]);
        assert_eq!(
            s.watched("COINBASE"),
            [
                ("COINBASE:ETH-USD".to_string(), TickKind::Quote),
                ("COINBASE:ETH-USD".to_string(), TickKind::Trade),
                ("COINBASE:BTC-USD".to_string(), TickKind::Quote),
                ("COINBASE:BTC-USD".to_string(), TickKind::Trade),
            ]
        );
    }

    #[test]
    fn the_replay_parser_subscribes_nothing() {
        let mut out = Vec::new();
        Subscription::none().subscribe_messages(&mut out);
        assert!(out.is_empty());
        assert!(Subscription::none().watched("COINBASE").is_empty());
    }

    #[test]
    fn api_names_round_trip() {
        for api in [Api::Exchange, Api::Advanced] {
            let mut c = config(&["BTC-USD"]);
            c.api = Some(api.to_string());
            assert_eq!(Subscription::new(&c).unwrap().api(), api);
        }
    }
}
