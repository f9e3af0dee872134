//! Feed adapters: everything that turns a market data source into ticks on the ring.
//!
//! A [`Feed`] is given a [`FeedContext`] (a ring producer, the instrument registry, its
//! [`FeedStats`] and a shutdown token) and runs on a thread of its own ([`FeedThread`]).
//! It parses its source into [`engine::Tick`]s and publishes them; the engine reads its state
//! and counters for `/metrics`.

pub mod alpaca;
pub mod config;
pub mod error;
pub mod feed;
pub mod kraken;
pub mod polygon;
pub mod synthetic;
pub mod venue;

pub use error::{Error, Result};
pub use feed::{Feed, FeedContext, FeedFuture, FeedState, FeedStats, FeedThread};
pub use config::VenueConfig;
pub use synthetic::{SyntheticConfig, SyntheticFeed};
pub use venue::{Event, Keepalive, ParseCtx, ParseError, Venue};
