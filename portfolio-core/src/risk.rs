//! Risk figures of a portfolio from daily closes (`GET /v1/portfolios/{id}/risk`):
//! annualized volatility, Sharpe and Sortino ratios, maximum drawdown, historical VaR and
//! CVaR at 95%, and beta to a benchmark instrument.
//!
//! ```text
//! transactions ─► Ledger, day by day ─┐
//! PriceHistory closes (carried) ──────┼─► daily NAV + flows ─► time-weighted returns ─► metrics
//! CurrencyConfig FX closes ───────────┘                           benchmark returns ─► beta
//! ```
//!
//! # Conventions
//!
//! The statistics follow [empyrical](https://github.com/quantopian/empyrical) 0.5.5 formula
//! by formula; `r` is the series of daily simple returns, `n` its length, `rf` a constant
//! daily risk-free rate (default 0).
//!
//! - **Annualization**: 252 periods a year. Volatilities scale by `sqrt(252)`, mean returns
//!   by 252.
//! - **Standard deviation**: sample, `ddof = 1` (divides by `n - 1`).
//! - **Annual return**: compound, `prod(1 + r) ^ (252 / n) - 1`.
//! - **Annual volatility**: `std(r, ddof=1) * sqrt(252)`.
//! - **Sharpe**: `mean(r - rf) / std(r - rf, ddof=1) * sqrt(252)`.
//! - **Sortino**: `mean(r - rf) * 252 / downside_risk`, with
//!   `downside_risk = sqrt(mean(min(r - rf, 0)^2)) * sqrt(252)`; the mean is over **all**
//!   `n` periods, those above `rf` counting as 0 (not the deviation of the negative returns).
//! - **Maximum drawdown**: on the curve `cumprod(1 + r)` started at 1 before the first return,
//!   the most negative `(curve - running_max) / running_max`. A negative fraction of the peak
//!   (`-0.25` is a 25% fall); 0 when the curve never falls; a first-day loss counts.
//! - **VaR 95%**: the 5th percentile of `r` by linear interpolation (numpy's default): the
//!   sorted returns' value at fractional rank `(n - 1) * 0.05`. It is a return, so a loss is
//!   negative (`-0.021`: on 1 day in 20 the portfolio lost 2.1% or more).
//! - **CVaR 95%** (expected shortfall): the mean of the `floor((n - 1) * 0.05) + 1` lowest
//!   returns, as empyrical's `conditional_value_at_risk`. Also negative, and `<= VaR`. It is
//!   the mean of the returns `<= VaR` except when returns tie at the cutoff, where only that
//!   many of the tied returns count.
//! - **Beta**: `cov(r, b) / var(b)` over the days both the portfolio and the benchmark have a
//!   return. empyrical divides both by `n` (ddof 0); with ddof 1 on both the ratio is the same.
//!   The benchmark's returns are its own close-to-close price returns in its own currency.
//!
//! A figure that is undefined is absent (`None`, `null` in JSON), never `NaN` or infinite:
//! volatility, Sharpe and Sortino need 2 returns; beta needs 2 aligned days; drawdown, VaR and
//! CVaR need 1. Sharpe is absent when the standard deviation is 0 (constant returns), Sortino
//! when no return is below `rf` (empyrical gives `inf` for both), beta when the benchmark's
//! population variance is below 1e-30 (as empyrical).
//!
//! # Days, values and returns
//!
//! - **Days** are UTC days, named by their start in ns. Values and returns are taken on
//!   **weekdays** (Monday to Friday) only, so that 252 returns make about a year for every
//!   market: a weekend's price moves, transactions and flows fall into Monday. Holidays are
//!   weekdays like any other (a day without a close carries the last one: a 0 return for a
//!   single listing).
//! - **NAV** of a day: after every transaction before the day's end is applied (in time order,
//!   then by id), each holding is valued at its instrument's close of that day, or its last
//!   close before it (carried forward; before the range, looked for at most
//!   [`CLOSE_LOOKBACK_DAYS`](crate::risk::CLOSE_LOOKBACK_DAYS) days back). Amounts in another
//!   currency are converted with the FX instrument's close of that day (multiplied for a
//!   configured `FROM/TO`, divided for the inverse pair, never chained); cash is added the
//!   same way. A currency without a configured pair is an error
//!   ([`RiskError::MissingRate`](crate::risk::RiskError::MissingRate)). A weekday on which a
//!   holding or a needed FX rate has no close yet is **skipped** (listed, never valued at
//!   cost): the next valued day's return spans it and its flows count there. The NAV is exact
//!   fixed-point (1e-18 of the base currency); only returns are `f64`.
//! - **Flows** are the external cash flows of the day: deposits minus withdrawals, converted
//!   at the same day's rate as the NAV. Dividends and fees are not flows: they are part of the
//!   return. A transaction's currency is its own, else its instrument's, else the base
//!   currency.
//! - **Return** of a day `d` after the previous valued weekday `p` (time-weighted, flows at
//!   the end of the day): `r_d = (V_d - F_d) / V_p - 1`. Days with `V_p <= 0` (before the
//!   first deposit, or a portfolio that is worth nothing) have no return.
//! - **Window**: the last `window` weekdays ending with the last weekday before today (UTC),
//!   default 252, at most [`MAX_WINDOW`](crate::risk::MAX_WINDOW); the first return of the
//!   window is relative to the weekday before it. Days without a return (skipped, or after a
//!   NAV `<= 0`) leave the window shorter: `observations` says how many returns remain.

use engine::time::format_date;
use thiserror::Error;

use crate::ledger::LedgerError;

mod metrics;
mod nav;

pub use metrics::{
    ANNUALIZATION, MIN_BENCHMARK_VARIANCE, RiskMetrics, VAR_CUTOFF, annual_return,
    annual_volatility, beta, conditional_value_at_risk, downside_risk, max_drawdown,
    percentile_linear, risk_metrics, sharpe_ratio, sortino_ratio, value_at_risk,
};
pub use nav::{
    CLOSE_LOOKBACK_DAYS, DEFAULT_WINDOW, DailySeries, DailyValue, MAX_RANGE_DAYS, MAX_WINDOW,
    PortfolioRisk, RiskParams, SkippedDay, benchmark_returns, daily_values, is_weekday,
    portfolio_risk, tx_currency,
};

/// Why risk figures cannot be computed.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum RiskError {
    /// No FX instrument converts one currency held into the base currency: `FROM/TO`.
    #[error("no FX rate for {0}: configure [portfolio.fx]")]
    MissingRate(String),
    /// An FX instrument's close is zero or negative.
    #[error("the close of FX instrument {instrument} on {} is not positive", format_date(*day))]
    BadRate {
        /// The FX instrument.
        instrument: String,
        /// The day (start, ns).
        day: i64,
    },
    /// The benchmark has no close in the range.
    #[error("no history for benchmark {0}")]
    NoBenchmarkHistory(String),
    /// The price history failed.
    #[error("price history of {instrument}: {message}")]
    History {
        /// The instrument asked for.
        instrument: String,
        /// What the history said.
        message: String,
    },
    /// A recorded transaction cannot be applied.
    #[error("transaction {id}: {source}")]
    Ledger {
        /// The transaction's id.
        id: u64,
        /// Why.
        #[source]
        source: LedgerError,
    },
    /// A day range that is empty or not made of whole UTC days.
    #[error("bad day range [{start}, {end}): expected UTC day starts, start before end")]
    Range {
        /// Start, ns.
        start: i64,
        /// End, ns.
        end: i64,
    },
    /// A window outside `1..=MAX_WINDOW`.
    #[error("window must be 1 to {max} days, not {0}", max = MAX_WINDOW)]
    Window(usize),
    /// A risk-free rate that is not a finite number.
    #[error("the risk-free rate must be a finite number")]
    RiskFree,
    /// A value out of range.
    #[error("amount out of range")]
    Overflow,
}

impl RiskError {
    /// The API error code.
    pub fn code(&self) -> &'static str {
        match self {
            RiskError::MissingRate(_) => "missing_rate",
            RiskError::NoBenchmarkHistory(_) => "no_history",
            RiskError::BadRate { .. } => "bad_rate",
            RiskError::History { .. } => "history_unavailable",
            RiskError::Ledger { source, .. } => source.code(),
            RiskError::Range { .. } | RiskError::Window(_) | RiskError::RiskFree => "bad_parameter",
            RiskError::Overflow => "out_of_range",
        }
    }
}
