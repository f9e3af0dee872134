//! Bitstamp: public trades over the v2 WebSocket API (`wss://ws.bitstamp.net`).
//!
//! ```toml
//! [feeds.bitstamp]
//! instruments = ["btcusd", "etheur"]   # any case: channel names are lower-cased
//! channels = ["live_trades"]           # the default and only channel offered
//! ```
//!
//! On connect one `bts:subscribe` goes out per instrument and channel; every 30 s a
//! `bts:heartbeat` keeps the connection alive. Instruments are `BITSTAMP:<PAIR>`, the pair
//! taken from the channel name (`live_trades_btcusd` → `BITSTAMP:BTCUSD`).
//!
//! A trade's price and size are read from `price_str` / `amount_str` (the JSON numbers
//! `price` / `amount` where those are missing), its time from `microtimestamp` (else
//! `timestamp`), its side from `type` (0: the buyer took liquidity, 1: the seller did).
//! Trade ids are numbered across all pairs, so a pair's ids skip: no gap is inferred from them.
//!
//! `bts:request_reconnect` is reported as [`Event::Reconnect`](crate::Event::Reconnect), as
//! Bitstamp asks before a maintenance restart.

mod message;
mod parse;
mod subscription;

use std::time::Duration;

use engine::TickKind;

use crate::config::VenueConfig;
use crate::error::Result;
use crate::venue::{Keepalive, ParseCtx, ParseError, Venue};
use subscription::Subscription;

/// The Bitstamp parser and its subscription.
#[derive(Debug)]
pub struct Bitstamp {
    subscription: Subscription,
}

impl Bitstamp {
    /// The name of the config table (`[feeds.bitstamp]`) and of `--venue`.
    pub const NAME: &str = "bitstamp";
    /// The instrument prefix.
    pub const PREFIX: &str = "BITSTAMP";
    /// The public endpoint.
    pub const DEFAULT_URL: &str = "wss://ws.bitstamp.net";
    /// The channels offered.
    pub const CHANNELS: &[&str] = &["live_trades"];
    /// The channels subscribed when none are configured.
    pub const DEFAULT_CHANNELS: &[&str] = &["live_trades"];
    /// The heartbeat sent to keep the connection open.
    pub const HEARTBEAT: &str = r#"{"event":"bts:heartbeat"}"#;
    /// How often it is sent.
    pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

    /// The live feed's parser, subscribing to what `config` names. Errors name the key under
    /// `feeds.bitstamp`.
    pub fn new(config: &VenueConfig) -> Result<Bitstamp> {
        Ok(Bitstamp {
            subscription: Subscription::new(config)?,
        })
    }

    /// A parser with no subscription, for capture replay: it accepts any pair.
    pub fn parser() -> Bitstamp {
        Bitstamp {
            subscription: Subscription::none(),
        }
    }
}

impl Venue for Bitstamp {
    fn name(&self) -> &'static str {
        Bitstamp::NAME
    }

    fn prefix(&self) -> &'static str {
        Bitstamp::PREFIX
    }

    fn url(&self) -> String {
        self.subscription.url().to_owned()
    }

    fn on_connect(&mut self, out: &mut Vec<String>) {
        out.extend(self.subscription.subscribe_messages());
    }

    fn parse(&mut self, text: &str, ts_recv: i64, ctx: &mut ParseCtx) -> Result<(), ParseError> {
        parse::parse(text, ts_recv, ctx)
    }

    fn channels(&self) -> Vec<(String, TickKind)> {
        self.subscription.channels()
    }

    fn keepalive(&self) -> Option<Keepalive> {
        Some(Keepalive {
            interval: Bitstamp::HEARTBEAT_INTERVAL,
            message: Bitstamp::HEARTBEAT.to_owned(),
        })
    }
}
