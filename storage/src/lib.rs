//! Storage: the background writer behind the history endpoints.
//!
//! Planned (issue "Storage: bars from ticks, a crash-safe journal, Parquet history"): a gating
//! ring consumer that aggregates bars, appends every tick to a checksummed journal, persists
//! bars and ticks to Parquet under the data directory and serves `/v1/bars` and `/v1/ticks`.
//! Nothing is implemented here yet, and the engine does not wire this crate in: no tick is
//! persisted today.

/// History import parsers: Binance klines, Tardis trades, generic OHLCV CSV.
pub mod import;
/// Optional QuestDB sink: ticks and bars over ILP/HTTP, never blocking the caller.
pub mod questdb;
