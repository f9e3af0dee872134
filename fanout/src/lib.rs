//! The fanout: how live market data leaves nexamd.
//!
//! The fanout reads the ring as a non-gating consumer (it never holds producers back) and
//! keeps the latest trade and quote per instrument in a [`LatestTable`]; HTTP handlers read
//! that table without locks. Messages are written as JSON once, straight from the tick
//! ([`encode`]).

pub mod by_instrument;
pub mod channel;
pub mod config;
pub mod encode;
pub mod http;
pub mod hub;
pub mod latest;
pub mod protocol;
pub mod queue;
pub mod ws;

pub use config::FanoutConfig;
pub use http::router;
pub use hub::{Dispatcher, Hub};
pub use latest::LatestTable;
