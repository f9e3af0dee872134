//! Binance spot: public trades, aggregate trades and best bid/offer over the market data
//! streams (`wss://stream.binance.com:9443`).
//!
//! ```toml
//! [feeds.binance]
//! instruments = ["BTCUSDT", "ETHUSDT"]   # any case: stream names are lower-cased
//! channels = ["trade", "bookTicker"]     # the default; `aggTrade` is offered too
//! ```
//!
//! The streams go in the URL (`/stream?streams=btcusdt@trade/btcusdt@bookTicker`), so nothing
//! is sent on connect. A configured URL that already names a path (`/ws`, `/stream`) is used as
//! given and the streams are asked for with a `SUBSCRIBE` message instead.
//!
//! Both message forms are read: the combined `{"stream":..,"data":{..}}` and the bare payload
//! of a raw `/ws/<stream>` connection. Instruments are `BINANCE:<SYMBOL>`.
//!
//! - `trade` / `aggTrade`: price `p`, size `q`, id `t` / `a`, time `T`; `m` (the buyer made the
//!   market) means the seller was the aggressor. Ids are consecutive per symbol: a skip is an
//!   [`Event::Gap`](crate::Event::Gap).
//! - `bookTicker`: bid `b`/`B`, ask `a`/`A`, time `T` (futures) or `E` or the receive time. The
//!   update id `u` only grows, with jumps; one that goes back or repeats is reported as
//!   [`Event::OutOfOrder`](crate::Event::OutOfOrder) and its stale quote is dropped.
//!
//! `trade` and `aggTrade` report the same volume, so only `trade` is subscribed by default.

mod message;
mod parse;
mod subscription;

use engine::TickKind;

use crate::config::VenueConfig;
use crate::error::Result;
use crate::venue::{ParseCtx, ParseError, Sequences, Venue};
use subscription::{Subscription, TimeUnit};

/// The Binance spot parser and its subscription.
#[derive(Debug)]
pub struct Binance {
    subscription: Subscription,
    /// Event and trade times are milliseconds unless the URL asks for microseconds.
    time_unit: TimeUnit,
    /// Trade ids of the `trade` stream, per symbol.
    trade_ids: Sequences,
    /// Aggregate trade ids of the `aggTrade` stream, per symbol.
    agg_trade_ids: Sequences,
    /// `bookTicker` update ids, per symbol.
    book_updates: Sequences,
}

impl Binance {
    /// The name of the config table (`[feeds.binance]`) and of `--venue`.
    pub const NAME: &str = "binance";
    /// The instrument prefix.
    pub const PREFIX: &str = "BINANCE";
    /// The public endpoint.
    pub const DEFAULT_URL: &str = "wss://stream.binance.com:9443";
    /// The channels offered.
    pub const CHANNELS: &[&str] = &["trade", "aggTrade", "bookTicker"];
    /// The channels subscribed when none are configured.
    pub const DEFAULT_CHANNELS: &[&str] = &["trade", "bookTicker"];
    /// Most streams one connection may carry.
    pub const MAX_STREAMS: usize = 1024;

    /// The live feed's parser, subscribing to what `config` names. Errors name the key under
    /// `feeds.binance`.
    pub fn new(config: &VenueConfig) -> Result<Binance> {
        let subscription = Subscription::new(config)?;
        Ok(Binance::with(subscription))
    }

    /// A parser with no subscription, for capture replay: it accepts any symbol.
    pub fn parser() -> Binance {
        Binance::with(Subscription::none())
    }

    fn with(subscription: Subscription) -> Binance {
        Binance {
            time_unit: subscription.time_unit(),
            subscription,
            trade_ids: Sequences::default(),
            agg_trade_ids: Sequences::default(),
            book_updates: Sequences::default(),
        }
    }
}

impl Venue for Binance {
    fn name(&self) -> &'static str {
        Binance::NAME
    }

    fn prefix(&self) -> &'static str {
        Binance::PREFIX
    }

    fn url(&self) -> String {
        self.subscription.url()
    }

    fn on_connect(&mut self, out: &mut Vec<String>) {
        out.extend(self.subscription.subscribe_message());
    }

    fn parse(&mut self, text: &str, ts_recv: i64, ctx: &mut ParseCtx) -> Result<(), ParseError> {
        self.parse_message(text, ts_recv, ctx)
    }

    fn channels(&self) -> Vec<(String, TickKind)> {
        self.subscription.channels()
    }
}
