//! Kraken spot, WebSocket API v2 (`wss://ws.kraken.com/v2`): trades and the top of book.
//!
//! ```toml
//! [feeds.kraken]
//! instruments = ["BTC/USD", "ETH/USD"]   # Kraken v2 symbols: BASE/QUOTE
//! channels = ["trade", "ticker"]         # the default: both
//! ```
//!
//! Instruments are named `KRAKEN:BTC/USD`. On connect, one `subscribe` request per channel
//! names every symbol (`subscription.rs`); no authentication is needed for public data.
//!
//! What each message becomes (`parse.rs`):
//!
//! | message | becomes |
//! |---|---|
//! | `trade` snapshot or update | a trade per record: `price`, `qty` (JSON numbers, read as text), taker `side` as the aggressor, `trade_id`, `timestamp` as `ts_event` |
//! | `ticker` snapshot or update | a quote from `bid`, `bid_qty`, `ask`, `ask_qty`; `ts_event` is `timestamp`, or `ts_recv` where there is none |
//! | `subscribe` acknowledgement | [`Event::Confirmed`](crate::Event), or [`Event::VenueError`](crate::Event) with Kraken's `error` when `success` is false |
//! | `heartbeat`, `status`, `pong` | nothing |
//! | anything else | [`ParseError::Unknown`] |
//!
//! Trade ids are consecutive per symbol: a jump is reported as an [`Event::Gap`](crate::Event).
//! Trades of a snapshot that were already seen (ids not after the last one) are skipped.
//! Kraken closes a connection that sends nothing for about a minute, hence the keepalive
//! `{"method":"ping"}` every 30 s.

pub(crate) mod message;
mod parse;
mod subscription;

use std::time::Duration;

use engine::TickKind;

use crate::config::VenueConfig;
use crate::error::Result;
use crate::venue::{Keepalive, ParseCtx, ParseError, Plan, Sequences, Venue};

/// The config table.
const TABLE: &str = "feeds.kraken";
/// How often the venue-level ping goes out.
const PING_EVERY: Duration = Duration::from_secs(30);

/// The Kraken v2 feed.
#[derive(Debug, Clone)]
pub struct Kraken {
    url: String,
    /// `None` for a parser only.
    plan: Option<Plan>,
    /// Last trade id per instrument, kept across reconnects.
    trade_ids: Sequences,
}

impl Kraken {
    /// The config table's and `--venue`'s name.
    pub const NAME: &'static str = "kraken";
    /// The instrument prefix: `KRAKEN:BTC/USD`.
    pub const PREFIX: &'static str = "KRAKEN";
    /// The public v2 endpoint.
    pub const DEFAULT_URL: &'static str = "wss://ws.kraken.com/v2";

    /// The live feed `[feeds.kraken]` describes. Errors name the key under `feeds.kraken`.
    pub fn new(config: &VenueConfig) -> Result<Kraken> {
        let plan = subscription::plan(config)?;
        Ok(Kraken {
            url: config.url_or(Kraken::DEFAULT_URL),
            plan: Some(plan),
            trade_ids: Sequences::default(),
        })
    }

    /// A parser only, for replaying captures: it subscribes to nothing.
    pub fn parser() -> Kraken {
        Kraken {
            url: Kraken::DEFAULT_URL.to_owned(),
            plan: None,
            trade_ids: Sequences::default(),
        }
    }
}

impl Venue for Kraken {
    fn name(&self) -> &'static str {
        Kraken::NAME
    }

    fn prefix(&self) -> &'static str {
        Kraken::PREFIX
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    fn on_connect(&mut self, out: &mut Vec<String>) {
        if let Some(plan) = &self.plan {
            out.extend(subscription::requests(plan));
        }
    }

    fn parse(&mut self, text: &str, ts_recv: i64, ctx: &mut ParseCtx) -> Result<(), ParseError> {
        parse::parse(&mut self.trade_ids, text, ts_recv, ctx)
    }

    fn channels(&self) -> Vec<(String, TickKind)> {
        self.plan
            .as_ref()
            .map(|plan| plan.watched(Kraken::PREFIX, "trade"))
            .unwrap_or_default()
    }

    fn keepalive(&self) -> Option<Keepalive> {
        Some(Keepalive {
            interval: PING_EVERY,
            message: r#"{"method":"ping"}"#.to_owned(),
        })
    }
}
