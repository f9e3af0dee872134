//! Portfolio core: portfolios, transactions, cost basis and live revaluation.
//!
//! Planned (issue "Portfolio core"): a gating ring consumer that revalues the positions that
//! hold each ticking instrument, SQLite persistence and the `/v1/portfolios` routes. Nothing is
//! implemented here yet, and the engine does not wire this crate in.
