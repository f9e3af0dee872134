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

/// Instrument currencies and FX rate instruments (`[portfolio]`).
pub mod currency;
/// Holdings, cash and realized P&L from transactions (FIFO or average cost).
pub mod ledger;
/// The shared model: portfolios, transactions, valuations, the history trait.
pub mod model;
/// Risk figures from daily closes: volatility, Sharpe, Sortino, drawdown, VaR, CVaR, beta.
pub mod risk;

pub use model::{CostBasis, Portfolio, PortfolioId, Transaction, TxKind, Valuation};
