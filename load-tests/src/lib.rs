//! `nexamd-load`: the WebSocket load generator of nexamd (protocol v1, `docs/protocol.md`).
//!
//! It opens N connections to `ws://HOST:PORT/v1/ws` (spread over source addresses
//! 127.0.0.1..=127.0.0.S so ephemeral ports last), subscribes each to K channels drawn with a
//! seed from the first M instruments of `GET /v1/instruments`, measures for D seconds and
//! reports tick-to-client latency (receive time minus `ts_recv`, same host clock) in an HDR
//! histogram, message counts by type, gaps, errors, server closes by code and connection
//! failures. `--stall` adds connections that never read; `--idle` holds connections without
//! subscriptions, and `--server-pid` reads the server's RSS to price an idle connection.
//!
//! The binary (`src/main.rs`) only parses [`Args`], builds the runtime, calls [`run`], prints
//! the [`Report`] and saves it as JSON. For many connections raise the open-file limit first:
//! `ulimit -n 65536`. For example:
//!
//! ```text
//! cargo run --release -p load-tests --bin nexamd-load -- \
//!     --server 127.0.0.1:8080 -n 1000 -k 20 -m 100 --kinds both -d 30 \
//!     --stall 5 --stall-channels 200 --server-pid "$(pgrep -x nexamd)" --report run.json
//! ```
//!
//! Latency is taken from live `trade` and `quote` messages received during the window only
//! (a snapshot's `ts_recv` can be old); stalled connections count in none of the figures but
//! their own. Connection tasks batch latency samples into a few sharded HDR histograms (one
//! lock per batch of 256, never per message) and return their plain counters at the end.

pub mod args;
pub mod channels;
pub mod conn;
pub mod http;
pub mod report;
mod runner;
pub mod stats;
mod summary;
pub mod sys;

pub use args::{Args, Kinds};
pub use report::{LatencySummary, Report};
pub use runner::{run, subscribe_frames};
