//! Coinbase: the Exchange WebSocket feed (`wss://ws-feed.exchange.coinbase.com`, the default)
//! or the Advanced Trade market data feed (`wss://advanced-trade-ws.coinbase.com`).
//!
//! ```toml
//! [feeds.coinbase]
//! instruments = ["BTC-USD", "ETH-USD"]          # product ids, upper case
//! api = "exchange"                              # or "advanced"
//! channels = ["matches", "ticker", "heartbeat"] # the Exchange default
//! # channels = ["market_trades", "ticker", "heartbeats"]  # the Advanced Trade default
//! ```
//!
//! Instruments are `COINBASE:<product_id>` (`COINBASE:BTC-USD`). One parser reads both APIs,
//! telling them apart by shape: an Exchange message has a top-level `type`, an Advanced Trade
//! one a `channel` and `events` (its rare `{"type":"error"}` reads as an Exchange error, which
//! has the same shape). So [`Coinbase::parser`] replays captures of either.
//!
//! Exchange ([`parse`]):
//! - `match` / `last_match` → trades. `side` is the maker's side, so the aggressor is the other
//!   one. Trade ids are consecutive per product: a skip is an [`Event::Gap`]. `sequence` only
//!   grows per product and channel (other order events take numbers between, so it jumps); one
//!   that goes back or repeats is an [`Event::OutOfOrder`].
//! - `ticker` → quotes only: the trade it also describes comes on `matches`, and publishing it
//!   twice would double the volume.
//! - `heartbeat` carries `last_trade_id`: beyond the last trade seen, trades were lost.
//!
//! Advanced Trade ([`advanced`]): `market_trades` → trades (`side` is the maker's side there
//! too), `ticker` → quotes; `sequence_num` counts every message of the connection: a skip is
//! an [`Event::Gap`] with no instrument.
//!
//! [`Event::Gap`]: crate::Event::Gap
//! [`Event::OutOfOrder`]: crate::Event::OutOfOrder

mod advanced;
mod message;
mod parse;
mod subscription;

use engine::TickKind;

use crate::config::VenueConfig;
use crate::error::Result;
use crate::venue::{ParseCtx, ParseError, Venue};
pub use subscription::Api;
use subscription::Subscription;

/// The Coinbase parser (Exchange and Advanced Trade) and its subscription.
#[derive(Debug)]
pub struct Coinbase {
    subscription: Subscription,
    exchange: parse::Exchange,
    advanced: advanced::Advanced,
}

impl Coinbase {
    /// The name of the config table (`[feeds.coinbase]`) and of `--venue`.
    pub const NAME: &str = "coinbase";
    /// The instrument prefix.
    pub const PREFIX: &str = "COINBASE";

    /// The live feed's parser, subscribing to what `config` names. Errors name the key under
    /// `feeds.coinbase`.
    pub fn new(config: &VenueConfig) -> Result<Coinbase> {
        Ok(Coinbase::with(Subscription::new(config)?))
    }

    /// A parser with no subscription, for capture replay: it reads Exchange and Advanced Trade
    /// messages alike, for any product.
    pub fn parser() -> Coinbase {
        Coinbase::with(Subscription::none())
    }

    fn with(subscription: Subscription) -> Coinbase {
        Coinbase {
            subscription,
            exchange: parse::Exchange::default(),
            advanced: advanced::Advanced::default(),
        }
    }

    /// Which API the live feed connects to ([`Api::Exchange`] for [`Coinbase::parser`]).
    pub fn api(&self) -> Api {
        self.subscription.api()
    }
}

impl Venue for Coinbase {
    fn name(&self) -> &'static str {
        Coinbase::NAME
    }

    fn prefix(&self) -> &'static str {
        Coinbase::PREFIX
    }

    fn url(&self) -> String {
        self.subscription.url().to_owned()
    }

    fn on_connect(&mut self, out: &mut Vec<String>) {
        self.subscription.subscribe_messages(out);
    }

    fn parse(&mut self, text: &str, ts_recv: i64, ctx: &mut ParseCtx) -> Result<(), ParseError> {
        let msg: message::Message<'_> = serde_json::from_str(text)?;
        if let Some(kind) = msg.kind {
            self.exchange.parse(kind, &msg, ts_recv, ctx)
        } else if let Some(channel) = msg.channel {
            let events = msg.events.ok_or(ParseError::Missing("events"))?;
            self.advanced.parse(channel, &msg, events, ts_recv, ctx)
        } else {
            Err(ParseError::Missing("type"))
        }
    }

    fn channels(&self) -> Vec<(String, TickKind)> {
        self.subscription.watched(Coinbase::PREFIX)
    }

    /// A new connection numbers its messages (`sequence_num`) and its per-channel `sequence`
    /// checks afresh; trade ids are kept, so that the first trade after a reconnect shows what
    /// was missed and a replayed `last_match` or trade snapshot is not published twice.
    fn reset(&mut self) {
        self.exchange.reset();
        self.advanced.reset();
    }
}
