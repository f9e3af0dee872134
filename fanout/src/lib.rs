//! The fanout: how live market data leaves nexamd.
//!
//! The fanout reads the ring as a non-gating consumer (it never holds producers back) and
//! keeps the latest trade and quote per instrument in a [`LatestTable`]; HTTP handlers read
//! that table without locks. Messages are written as JSON once, straight from the tick
//! ([`encode`]).

pub mod encode;
pub mod http;
pub mod latest;

pub use http::{MarketState, router};
pub use latest::LatestTable;
