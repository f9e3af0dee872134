//! Portfolio core: portfolios, transactions, cost basis, live revaluation and risk.
//!
//! ```text
//!  REST /v1/portfolios ──► service ──► SQLite (db)        transactions are the record
//!                              │ ledger: holdings, cash, realized P&L (FIFO or average)
//!                              ▼
//!  ring ──► live book (gating consumer): last trade prices, FX rates, per-tick revaluation of
//!           the positions holding the instrument ──► throttled valuations ──► portfolio.<id>
//!
//!  PriceHistory (daily closes) + transactions ──► risk: daily NAV ──► returns ──► figures
//! ```

/// The live book: per-tick revaluation and throttled publication.
pub mod book;
/// Instrument currencies and FX rate instruments (`[portfolio]`).
pub mod currency;
/// SQLite persistence of portfolios and transactions (`DATA_DIR/meta.sqlite`), migrations.
pub mod db;
/// The service's errors, with API codes and HTTP statuses.
pub mod error;
/// The `/v1/portfolios` routes.
pub mod http;
/// JSON output: portfolios, transactions, valuations (REST and WebSocket forms).
pub mod json;
/// Holdings, cash and realized P&L from transactions (FIFO or average cost).
pub mod ledger;
/// The shared model: portfolios, transactions, valuations, the history trait.
pub mod model;
/// Request bodies parsed exactly from JSON (amounts never through `f64`).
pub mod request;
/// Risk figures from daily closes: volatility, Sharpe, Sortino, drawdown, VaR, CVaR, beta.
pub mod risk;
/// The `Portfolios` facade: checked changes, replay, live updates.
pub mod service;

pub use db::Db;
pub use error::{Error, Result};
pub use model::{CostBasis, Portfolio, PortfolioId, Transaction, TxKind, Valuation};
pub use service::{KnownInstruments, Portfolios};
