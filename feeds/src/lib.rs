//! Feed adapters: everything that turns a market data source into ticks on the ring.
//!
//! A [`Feed`] is given a [`FeedContext`] (a ring producer, the instrument registry, its
//! [`FeedStats`] and a shutdown token) and runs on a thread of its own ([`FeedThread`]).
//! It parses its source into [`engine::Tick`]s and publishes them; the engine reads its state
//! and counters for `/metrics` and `/v1/feeds`.
//!
//! Provider feeds split in two: a [`Venue`] knows one provider's protocol (what to subscribe
//! to, how to read each message) and [`WsFeed`] runs any venue over a WebSocket connection,
//! with reconnects, keepalives and a stale watchdog. [`Replay`] runs the same venue parsers
//! over capture files.

pub mod alpaca; // Alpaca stocks: t, q, with login
pub mod binance; // Binance spot: trade, aggTrade, bookTicker
pub mod bitstamp; // Bitstamp: live_trades
pub mod capture; // capture files: cryptofeed and NDJSON lines with their receive times
pub mod coinbase; // Coinbase Exchange and Advanced Trade
pub mod config; // `[feeds.<venue>]`: what every provider feed is configured with
pub mod error; // the crate's errors
pub mod feed; // the Feed trait, its context, stats and thread
pub mod kraken; // Kraken WebSocket v2: trade, ticker
pub mod polygon; // Polygon stocks: T, Q, with login
pub mod replay; // capture replay into the ring or to NDJSON
pub mod synthetic; // the seeded offline market, the default feed
pub mod venue; // the Venue trait every provider parser implements, and parsing helpers
pub mod venues; // the provider venues by name
pub mod ws; // WsFeed: a venue over WebSocket, with reconnects, keepalive and the watchdog

pub use config::VenueConfig;
pub use error::{Error, Result};
pub use feed::{ChannelStatus, Feed, FeedContext, FeedFuture, FeedState, FeedStats, FeedThread};
pub use replay::{Pace, Replay, ReplayConfig, ReplayFeed};
pub use synthetic::{SyntheticConfig, SyntheticFeed};
pub use venue::{Event, Keepalive, ParseCtx, ParseError, Venue};
pub use ws::WsFeed;
