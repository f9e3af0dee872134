//! Portfolio core: portfolios, transactions, cost basis, live revaluation and risk.
//!
//! ```text
//!  REST /v1/portfolios ──► service ──► SQLite (db)        transactions are the record
//!                              │ ledger: holdings, cash, realized P&L (FIFO or average)
//!                              ▼
//!  ring ──► live book (gating consumer): last trade prices, FX rates, per-tick revaluation of
//!           the positions holding the instrument ──► throttled valuations ──► portfolio.<id>
//! ```

/// The live book: per-tick revaluation and throttled publication.
pub mod book;
/// Instrument currencies and FX rate instruments (`[portfolio]`).
pub mod currency;
/// Valuations as JSON (REST and WebSocket).
pub mod json;
/// Holdings, cash and realized P&L from transactions (FIFO or average cost).
pub mod ledger;
/// The shared model: portfolios, transactions, valuations, the history trait.
pub mod model;

pub use model::{CostBasis, Portfolio, PortfolioId, Transaction, TxKind, Valuation};
