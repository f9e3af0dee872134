//! Storage: the background writer behind the history endpoints.
//!
//! ```text
//!  ring ──► StorageConsumer (gating, one thread)
//!             ├─ journal: every tick appended, group-committed fsync
//!             ├─ Aggregator: 1s and 1m bars by ts_event ──► closed bars ──► BarSink (fanout)
//!             └─ Store (memory): closed bars and ticks not yet in Parquet
//!                   │ every flush interval
//!                   ▼
//!             Persister (thread): Parquet files (write, fsync, rename), commit, compaction,
//!             retention, journal segments released
//!  HTTP /v1/bars, /v1/ticks = Parquet files ∪ Store, read under one snapshot
//! ```

/// Bars from trades: the per-instrument aggregator with its grace period for late trades.
pub mod aggregate;
/// `nexamd import`: history files into the Parquet datasets.
pub mod backfill;
/// The stored files and their cached metadata.
pub mod catalog;
/// Parquet files: schemas, atomic writes, pruned reads.
pub mod columnar;
/// Storage configuration (`[storage]`).
pub mod config;
/// Errors of this crate.
pub mod error;
/// History queries: bars at any interval, ticks, paging, fill.
pub mod history;
/// The history routes: `/v1/bars` and `/v1/ticks`.
pub mod http;
/// History import parsers: Binance klines, Tardis trades, generic OHLCV CSV.
pub mod import;
/// The write-ahead journal of every tick: segments of checksummed blocks.
pub mod journal;
/// The persister: Parquet files from memory, commits, compaction, retention.
pub mod persist;
/// Optional QuestDB sink: ticks and bars over ILP/HTTP, never blocking the caller.
pub mod questdb;
/// The commit record of engine-written files (`storage.json`).
pub mod state;
/// Memory rows and the catalog, read together by history queries.
pub mod store;
/// The storage consumer on the ring: journal, bars, memory.
pub mod writer;

pub use aggregate::{Aggregator, BarEvent};
pub use config::StorageConfig;
pub use error::{Error, Result};
