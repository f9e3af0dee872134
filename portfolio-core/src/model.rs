//! The portfolio model shared by every part of the crate: portfolios, transactions, the
//! valuation a client sees, and the traits through which the crate meets the rest of the
//! engine (live state, price history).
//!
//! Money and prices are fixed-point [`Price`] (1e-9); quantities are [`Qty`]. Exact products
//! (quantity × price) are `i128` in units of 1e-18 ([`Price::notional_e18`]) and are rounded
//! to 1e-9 only when shown.

use engine::{Price, Qty};
use serde::{Deserialize, Serialize};

/// A portfolio's id: positive, assigned by the database.
pub type PortfolioId = u64;

/// The principal that owns portfolios when auth is off.
pub use engine::access::LOCAL_PRINCIPAL;

/// How the cost of a position is tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CostBasis {
    /// First in, first out: sales consume the oldest lots first.
    Fifo,
    /// Average cost: every unit held costs the average of what was paid.
    Average,
}

impl CostBasis {
    /// `fifo` or `average`.
    pub fn as_str(self) -> &'static str {
        match self {
            CostBasis::Fifo => "fifo",
            CostBasis::Average => "average",
        }
    }

    /// The cost basis named `name` ([`CostBasis::as_str`]).
    pub fn from_name(name: &str) -> Option<CostBasis> {
        [CostBasis::Fifo, CostBasis::Average]
            .into_iter()
            .find(|basis| basis.as_str() == name)
    }
}

/// A portfolio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portfolio {
    /// Its id.
    pub id: PortfolioId,
    /// The principal that owns it.
    pub owner: String,
    /// A display name.
    pub name: String,
    /// The currency valuations are expressed in (`USD`).
    pub base_currency: String,
    /// FIFO lots or average cost.
    pub cost_basis: CostBasis,
    /// Whether selling more than is held opens a short position (else it is refused).
    pub allow_short: bool,
    /// Creation time, ns since the epoch.
    pub created_ts: i64,
}

/// What a transaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxKind {
    /// Buy `quantity` of `instrument` at `price`: cash goes down by quantity × price + fee.
    Buy,
    /// Sell `quantity` of `instrument` at `price`: cash goes up by quantity × price − fee.
    Sell,
    /// `quantity` of cash comes in (`currency`, default the base currency).
    Deposit,
    /// `quantity` of cash goes out.
    Withdrawal,
    /// A fee of `quantity` is paid in cash (optionally about an `instrument`).
    Fee,
    /// A dividend of `quantity` is received in cash (optionally from an `instrument`).
    Dividend,
}

impl TxKind {
    /// Every kind.
    pub const ALL: [TxKind; 6] = [
        TxKind::Buy,
        TxKind::Sell,
        TxKind::Deposit,
        TxKind::Withdrawal,
        TxKind::Fee,
        TxKind::Dividend,
    ];

    /// The kind named `name` ([`TxKind::as_str`]).
    pub fn from_name(name: &str) -> Option<TxKind> {
        TxKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The protocol name.
    pub fn as_str(self) -> &'static str {
        match self {
            TxKind::Buy => "buy",
            TxKind::Sell => "sell",
            TxKind::Deposit => "deposit",
            TxKind::Withdrawal => "withdrawal",
            TxKind::Fee => "fee",
            TxKind::Dividend => "dividend",
        }
    }

    /// Buy or sell: needs an instrument and a price.
    pub fn is_trade(self) -> bool {
        matches!(self, TxKind::Buy | TxKind::Sell)
    }
}

/// A recorded transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Its id, assigned by the database.
    pub id: u64,
    /// What it does.
    pub kind: TxKind,
    /// `VENUE:SYMBOL`; required for buy and sell.
    pub instrument: Option<String>,
    /// Units of the instrument (buy, sell) or an amount of cash (the others); never negative.
    pub quantity: Qty,
    /// Price per unit; required for buy and sell.
    pub price: Option<Price>,
    /// A fee paid on a buy or sell, in the transaction's currency.
    pub fee: Option<Price>,
    /// The cash currency; default the instrument's quote currency, else the base currency.
    pub currency: Option<String>,
    /// When it happened, ns since the epoch.
    pub ts: i64,
}

/// One position of a valuation. Money is in the portfolio's base currency except `last`
/// and `avg_cost`, which are in the instrument's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionValue {
    /// `VENUE:SYMBOL`.
    pub instrument: String,
    /// Units held (negative: short).
    pub quantity: Qty,
    /// The price of the instrument's last trade; `None` before any trade was seen.
    pub last: Option<Price>,
    /// The rate converting the instrument's currency into the base currency (1 when equal);
    /// `None` when the rate is missing.
    pub fx: Option<Price>,
    /// quantity × last × fx.
    pub market_value: Option<Price>,
    /// What the units held cost (FIFO lots or average), in base currency.
    pub cost_basis: Price,
    /// cost per unit, in the instrument's currency.
    pub avg_cost: Option<Price>,
    /// market_value − cost_basis.
    pub unrealized: Option<Price>,
    /// P&L realized by sales of the instrument, in base currency.
    pub realized: Price,
    /// quantity × (last − previous UTC-day close) × fx.
    pub day_change: Option<Price>,
    /// market_value / NAV.
    pub weight: Option<Price>,
}

/// A portfolio's valuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valuation {
    /// The portfolio.
    pub portfolio: PortfolioId,
    /// Base currency.
    pub base_currency: String,
    /// When it was computed, ns since the epoch.
    pub ts: i64,
    /// Positions, by instrument.
    pub positions: Vec<PositionValue>,
    /// Cash per currency, in that currency.
    pub cash_by_currency: Vec<(String, Price)>,
    /// Σ market_value of the positions.
    pub market_value: Price,
    /// Σ cash converted to base currency.
    pub cash: Price,
    /// market_value + cash.
    pub nav: Price,
    /// Σ realized.
    pub realized: Price,
    /// Σ unrealized.
    pub unrealized: Price,
    /// Σ day_change.
    pub day_change: Price,
    /// Rates that were needed but are missing, as `FROM/TO` (`EUR/USD`); empty when complete.
    pub missing_rates: Vec<String>,
}

/// Daily closes for risk figures, served by the engine's storage (wired in `src/`).
pub trait PriceHistory: Send + Sync + std::fmt::Debug {
    /// The close (last trade price) of each UTC day with trades in `[start, end)` (ns), as
    /// (day start ns, close), oldest first.
    fn daily_closes(
        &self,
        instrument: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Price)>, String>;
}

/// The live side of the portfolios (the revaluation consumer), as the service sees it.
pub trait Live: Send + Sync + std::fmt::Debug {
    /// `portfolio` was created, or its transactions changed and `ledger` is its new state:
    /// revalue it and publish a valuation now.
    fn update(&self, portfolio: &Portfolio, ledger: &crate::ledger::Ledger);
    /// `id` was deleted.
    fn remove(&self, id: PortfolioId);
    /// The current valuation of `id`, if it is live.
    fn valuation(&self, id: PortfolioId) -> Option<Valuation>;
}

/// Market data the live book needs when a portfolio starts holding an instrument: its last
/// trade and the previous UTC day's close (wired in `src/` from the fanout's latest values
/// and storage).
pub trait MarketData: Send + Sync + std::fmt::Debug {
    /// The price of the instrument's last trade seen by the engine.
    fn last_trade(&self, instrument: &str) -> Option<Price>;
    /// The last trade price before `day_start` (ns): the previous day's close.
    fn close_before(&self, instrument: &str, day_start: i64) -> Option<Price>;
}
