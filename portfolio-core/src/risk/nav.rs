//! A portfolio's daily NAV, external flows and time-weighted returns from its transactions
//! and daily closes, and the risk figures of a window of them (conventions in
//! [`crate::risk`]).

use std::collections::BTreeMap;

use engine::Price;
use engine::fixed::SCALE;
use engine::time::{NANOS_PER_DAY, day_start};

use super::RiskError;
use super::metrics::{RiskMetrics, beta, risk_metrics};
use crate::currency::{Conversion, CurrencyConfig};
use crate::ledger::{Ledger, div_round};
use crate::model::{Portfolio, PriceHistory, Transaction, TxKind};

/// How far before the range (calendar days) a holding's last close is looked for.
pub const CLOSE_LOOKBACK_DAYS: i64 = 14;
/// The default window: 252 weekdays, about a year.
pub const DEFAULT_WINDOW: usize = 252;
/// The largest window: ten years of weekdays.
pub const MAX_WINDOW: usize = 2_520;
/// The longest range [`daily_values`] walks, in calendar days.
pub const MAX_RANGE_DAYS: i64 = 36_600;
/// NAVs and flows stay below this magnitude (1e-18 units) so that differences never overflow.
const AMOUNT_LIMIT: i128 = i128::MAX / 4;

/// True when the UTC day holding `ns` is Monday to Friday.
pub fn is_weekday(ns: i64) -> bool {
    // 1970-01-01 was a Thursday, weekday 3 counting Monday as 0.
    (ns.div_euclid(NANOS_PER_DAY) + 3).rem_euclid(7) < 5
}

/// The cash currency of a transaction: its own, else its instrument's quote currency, else
/// the portfolio's base currency.
pub fn tx_currency<'a>(
    tx: &'a Transaction,
    portfolio: &'a Portfolio,
    currencies: &'a CurrencyConfig,
) -> &'a str {
    match (tx.currency.as_deref(), tx.instrument.as_deref()) {
        (Some(currency), _) => currency,
        (None, Some(instrument)) => currencies.currency_of(instrument),
        (None, None) => &portfolio.base_currency,
    }
}

/// One weekday's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyValue {
    /// The day (start, ns since the epoch).
    pub day: i64,
    /// NAV at the day's closes, in 1e-18 units of the base currency.
    pub nav: i128,
    /// External flows (deposits − withdrawals) since the previous value, converted at this
    /// day's rates, in 1e-18 units of the base currency.
    pub flow: i128,
}

/// A weekday on which the portfolio could not be valued, and the first instrument (held, or
/// an FX rate) that had no close on or before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedDay {
    /// The day (start, ns).
    pub day: i64,
    /// The instrument without a close.
    pub instrument: String,
}

/// A portfolio's values over a range of days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailySeries {
    /// The currency of every amount.
    pub base_currency: String,
    /// The valued weekdays, oldest first.
    pub days: Vec<DailyValue>,
    /// Weekdays left out for want of a close; their flows count on the next valued day.
    pub skipped: Vec<SkippedDay>,
}

impl DailySeries {
    /// Time-weighted returns `(day, r)`: `r = (V - F) / V_prev - 1` for each valued day after
    /// the first, where `V_prev` is the previous valued day's NAV; left out when
    /// `V_prev <= 0`.
    pub fn returns(&self) -> Vec<(i64, f64)> {
        self.days
            .windows(2)
            .filter(|w| w[0].nav > 0)
            .map(|w| {
                // Exact in i128 (amounts are bounded by AMOUNT_LIMIT), one rounding to f64.
                let gain = w[1].nav - w[1].flow - w[0].nav;
                (w[1].day, gain as f64 / w[0].nav as f64)
            })
            .collect()
    }
}

/// Closes fetched once per instrument over a fixed range, sorted by day.
struct Closes<'a> {
    history: &'a dyn PriceHistory,
    from: i64,
    to: i64,
    by_instrument: BTreeMap<String, Vec<(i64, Price)>>,
}

impl<'a> Closes<'a> {
    fn new(history: &'a dyn PriceHistory, from: i64, to: i64) -> Self {
        Closes {
            history,
            from,
            to,
            by_instrument: BTreeMap::new(),
        }
    }

    fn series(&mut self, instrument: &str) -> Result<&[(i64, Price)], RiskError> {
        if !self.by_instrument.contains_key(instrument) {
            let mut closes = self
                .history
                .daily_closes(instrument, self.from, self.to)
                .map_err(|message| RiskError::History {
                    instrument: instrument.to_owned(),
                    message,
                })?;
            closes.sort_by_key(|c| c.0);
            self.by_instrument.insert(instrument.to_owned(), closes);
        }
        Ok(self
            .by_instrument
            .get(instrument)
            .map_or(&[][..], Vec::as_slice))
    }

    /// The close of `day`, or the last one before it.
    fn on(&mut self, instrument: &str, day: i64) -> Result<Option<Price>, RiskError> {
        let series = self.series(instrument)?;
        let end = day.saturating_add(NANOS_PER_DAY);
        let i = series.partition_point(|c| c.0 < end);
        Ok(i.checked_sub(1).map(|i| series[i].1))
    }
}

/// Why a day could not be valued: data missing (skip the day) or a hard error.
enum Unvalued {
    NoClose(String),
    Error(RiskError),
}

impl From<RiskError> for Unvalued {
    fn from(e: RiskError) -> Self {
        Unvalued::Error(e)
    }
}

/// `amount × rate` with `rate` in 1e-9 units, rounded half away from zero, without forming
/// the full product.
fn mul_rate(amount: i128, rate: i64) -> Option<i128> {
    let (scale, rate) = (i128::from(SCALE), i128::from(rate));
    let (whole, part) = (amount / scale, amount % scale);
    whole
        .checked_mul(rate)?
        .checked_add(div_round(part * rate, scale)?)
}

/// `amount / rate` with `rate` in 1e-9 units, rounded half away from zero.
fn div_rate(amount: i128, rate: i64) -> Option<i128> {
    let (scale, rate) = (i128::from(SCALE), i128::from(rate));
    let (whole, part) = (amount / rate, amount % rate);
    whole
        .checked_mul(scale)?
        .checked_add(div_round(part * scale, rate)?)
}

/// Converts `amount` (1e-18 units of `from`) into `to` at `day`'s rate.
fn convert(
    closes: &mut Closes<'_>,
    currencies: &CurrencyConfig,
    amount: i128,
    from: &str,
    to: &str,
    day: i64,
) -> Result<i128, Unvalued> {
    let (instrument, direct) = match currencies.conversion(from, to) {
        Conversion::Identity => return Ok(amount),
        Conversion::Direct(instrument) => (instrument, true),
        Conversion::Inverse(instrument) => (instrument, false),
        Conversion::Missing(pair) => return Err(RiskError::MissingRate(pair).into()),
    };
    let Some(rate) = closes.on(&instrument, day)? else {
        return Err(Unvalued::NoClose(instrument));
    };
    if rate.units() <= 0 {
        return Err(RiskError::BadRate { instrument, day }.into());
    }
    let converted = if direct {
        mul_rate(amount, rate.units())
    } else {
        div_rate(amount, rate.units())
    };
    converted.ok_or(Unvalued::Error(RiskError::Overflow))
}

fn add(total: &mut i128, amount: i128) -> Result<(), RiskError> {
    *total = total
        .checked_add(amount)
        .filter(|t| t.abs() < AMOUNT_LIMIT)
        .ok_or(RiskError::Overflow)?;
    Ok(())
}

/// The NAV and the converted flows of one day.
fn value_day(
    ledger: &Ledger,
    flows: &BTreeMap<String, i128>,
    closes: &mut Closes<'_>,
    currencies: &CurrencyConfig,
    base: &str,
    day: i64,
) -> Result<(i128, i128), Unvalued> {
    // Sum by currency first: one conversion (and one rounding) per currency.
    let mut by_currency: BTreeMap<&str, i128> = BTreeMap::new();
    for holding in ledger.holdings().filter(|h| !h.quantity.is_zero()) {
        let Some(close) = closes.on(&holding.instrument, day)? else {
            return Err(Unvalued::NoClose(holding.instrument.clone()));
        };
        let total = by_currency.entry(&holding.currency).or_insert(0);
        add(total, close.notional_e18(holding.quantity))?;
    }
    for (currency, amount) in ledger.cash() {
        add(by_currency.entry(currency).or_insert(0), *amount)?;
    }
    let mut nav = 0;
    for (currency, amount) in by_currency.into_iter().filter(|c| c.1 != 0) {
        add(
            &mut nav,
            convert(closes, currencies, amount, currency, base, day)?,
        )?;
    }
    let mut flow = 0;
    for (currency, amount) in flows.iter().filter(|f| *f.1 != 0) {
        add(
            &mut flow,
            convert(closes, currencies, *amount, currency, base, day)?,
        )?;
    }
    Ok((nav, flow))
}

/// The portfolio's NAV and flows on each weekday of `[start_day, end_day)` (UTC day starts,
/// ns).
///
/// Transactions before `start_day` make the opening position (their flows are not counted);
/// each weekday applies the transactions before its end (a weekend's on Monday), then values
/// the holdings at their last close on or before it (looked up from
/// [`CLOSE_LOOKBACK_DAYS`] before `start_day`) and converts every currency into the base one.
/// A weekday on which a holding or a needed FX rate has no close yet is skipped and listed in
/// [`DailySeries::skipped`]; its flows count on the next valued day.
///
/// Errors: a range that is not whole days, empty or longer than [`MAX_RANGE_DAYS`]
/// ([`RiskError::Range`]); a currency without a configured rate ([`RiskError::MissingRate`]);
/// a non-positive FX close; a failing history; a transaction the ledger refuses.
pub fn daily_values(
    portfolio: &Portfolio,
    transactions: &[Transaction],
    currencies: &CurrencyConfig,
    history: &dyn PriceHistory,
    start_day: i64,
    end_day: i64,
) -> Result<DailySeries, RiskError> {
    let whole = |ns: i64| ns.rem_euclid(NANOS_PER_DAY) == 0;
    let days = end_day.checked_sub(start_day).map(|d| d / NANOS_PER_DAY);
    if !whole(start_day)
        || !whole(end_day)
        || !days.is_some_and(|d| (1..=MAX_RANGE_DAYS).contains(&d))
    {
        return Err(RiskError::Range {
            start: start_day,
            end: end_day,
        });
    }
    let mut ordered: Vec<&Transaction> = transactions.iter().filter(|t| t.ts < end_day).collect();
    ordered.sort_by_key(|t| (t.ts, t.id));
    let lookback = start_day.saturating_sub(CLOSE_LOOKBACK_DAYS * NANOS_PER_DAY);
    let mut closes = Closes::new(history, lookback, end_day);
    let mut ledger = Ledger::new(portfolio.cost_basis, portfolio.allow_short);
    let mut pending = ordered.into_iter().peekable();
    let mut flows: BTreeMap<String, i128> = BTreeMap::new();
    let mut series = DailySeries {
        base_currency: portfolio.base_currency.clone(),
        days: Vec::new(),
        skipped: Vec::new(),
    };
    let mut day = start_day;
    while day < end_day {
        // Cannot overflow: `day` is a day start below `end_day`, itself a day start.
        let next_day = day + NANOS_PER_DAY;
        if !is_weekday(day) {
            day = next_day;
            continue;
        }
        while let Some(tx) = pending.next_if(|t| t.ts < next_day) {
            let currency = tx_currency(tx, portfolio, currencies);
            ledger
                .apply(tx, currency)
                .map_err(|source| RiskError::Ledger { id: tx.id, source })?;
            let amount = i128::from(tx.quantity.units()) * i128::from(SCALE);
            let signed = match tx.kind {
                TxKind::Deposit => amount,
                TxKind::Withdrawal => -amount,
                _ => 0,
            };
            if tx.ts >= start_day && signed != 0 {
                add(flows.entry(currency.to_owned()).or_insert(0), signed)?;
            }
        }
        let base = portfolio.base_currency.as_str();
        match value_day(&ledger, &flows, &mut closes, currencies, base, day) {
            Ok((nav, flow)) => {
                series.days.push(DailyValue { day, nav, flow });
                flows.clear();
            }
            Err(Unvalued::NoClose(instrument)) => {
                series.skipped.push(SkippedDay { day, instrument });
            }
            Err(Unvalued::Error(e)) => return Err(e),
        }
        day = next_day;
    }
    Ok(series)
}

/// An instrument's close-to-close returns `(day, r)` on `days` (weekday starts, oldest
/// first): for each day after the first, its close (or last before it) over the previous
/// day's, minus 1. Left out where either close is missing or the earlier one is not positive.
/// [`RiskError::NoBenchmarkHistory`] when it has no close at all from
/// [`CLOSE_LOOKBACK_DAYS`] before the first day.
pub fn benchmark_returns(
    history: &dyn PriceHistory,
    instrument: &str,
    days: &[i64],
) -> Result<Vec<(i64, f64)>, RiskError> {
    let (Some(&first), Some(&last)) = (days.first(), days.last()) else {
        return Ok(Vec::new());
    };
    let from = first.saturating_sub(CLOSE_LOOKBACK_DAYS * NANOS_PER_DAY);
    let mut closes = Closes::new(history, from, last.saturating_add(NANOS_PER_DAY));
    if closes.series(instrument)?.is_empty() {
        return Err(RiskError::NoBenchmarkHistory(instrument.to_owned()));
    }
    let mut on_days = Vec::with_capacity(days.len());
    for &day in days {
        on_days.push((day, closes.on(instrument, day)?));
    }
    Ok(on_days
        .windows(2)
        .filter_map(|w| match (w[0].1, w[1].1) {
            (Some(prev), Some(close)) if prev.units() > 0 => {
                let (prev, close) = (i128::from(prev.units()), i128::from(close.units()));
                Some((w[1].0, (close - prev) as f64 / prev as f64))
            }
            _ => None,
        })
        .collect())
}

/// What to compute for `GET /v1/portfolios/{id}/risk`.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskParams {
    /// Weekdays of returns, ending with the last weekday before today (UTC); default 252.
    pub window: usize,
    /// The benchmark instrument for beta (`VENUE:SYMBOL`).
    pub benchmark: Option<String>,
    /// The constant daily risk-free rate of Sharpe and Sortino (default 0).
    pub risk_free: f64,
}

impl Default for RiskParams {
    fn default() -> Self {
        RiskParams {
            window: DEFAULT_WINDOW,
            benchmark: None,
            risk_free: 0.0,
        }
    }
}

/// A portfolio's risk figures over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct PortfolioRisk {
    /// The weekday before the window (start ns), whose NAV the first return is relative to.
    pub base_day: i64,
    /// The last day of the window (start ns).
    pub last_day: i64,
    /// The window asked for (weekdays).
    pub window: usize,
    /// The benchmark, if one was asked for.
    pub benchmark: Option<String>,
    /// The days beta is computed over: those with both a portfolio and a benchmark return.
    pub benchmark_observations: usize,
    /// Weekdays of the window that could not be valued for want of a close.
    pub skipped: Vec<SkippedDay>,
    /// The figures; `observations` counts the portfolio's returns.
    pub metrics: RiskMetrics,
}

/// The weekday before `day`.
fn previous_weekday(mut day: i64) -> Option<i64> {
    loop {
        day = day.checked_sub(NANOS_PER_DAY)?;
        if is_weekday(day) {
            return Some(day);
        }
    }
}

/// The risk figures of a portfolio over the `params.window` weekdays that end with the last
/// weekday before the UTC day of `now` (ns): [`daily_values`] from the weekday before the
/// window, their [`DailySeries::returns`], [`risk_metrics`], and beta against
/// [`benchmark_returns`] on the days both have a return.
pub fn portfolio_risk(
    portfolio: &Portfolio,
    transactions: &[Transaction],
    currencies: &CurrencyConfig,
    history: &dyn PriceHistory,
    now: i64,
    params: &RiskParams,
) -> Result<PortfolioRisk, RiskError> {
    if !(1..=MAX_WINDOW).contains(&params.window) {
        return Err(RiskError::Window(params.window));
    }
    if !params.risk_free.is_finite() {
        return Err(RiskError::RiskFree);
    }
    let today = day_start(now);
    let range_error = RiskError::Range {
        start: today,
        end: today,
    };
    let last_day = previous_weekday(today).ok_or(range_error.clone())?;
    let mut base_day = last_day;
    for _ in 0..params.window {
        base_day = previous_weekday(base_day).ok_or(range_error.clone())?;
    }
    let series = daily_values(
        portfolio,
        transactions,
        currencies,
        history,
        base_day,
        last_day + NANOS_PER_DAY,
    )?;
    let returns = series.returns();
    let values: Vec<f64> = returns.iter().map(|r| r.1).collect();
    let mut metrics = risk_metrics(&values, params.risk_free);
    let mut benchmark_observations = 0;
    if let Some(benchmark) = &params.benchmark {
        let days: Vec<i64> = series.days.iter().map(|d| d.day).collect();
        let by_day: BTreeMap<i64, f64> = benchmark_returns(history, benchmark, &days)?
            .into_iter()
            .collect();
        let pairs: Vec<(f64, f64)> = returns
            .iter()
            .filter_map(|(day, r)| by_day.get(day).map(|b| (*b, *r)))
            .collect();
        benchmark_observations = pairs.len();
        metrics.beta = beta(&pairs);
    }
    Ok(PortfolioRisk {
        base_day,
        last_day,
        window: params.window,
        benchmark: params.benchmark.clone(),
        benchmark_observations,
        skipped: series.skipped,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CostBasis;
    use crate::risk::RiskError;
    use engine::Qty;
    use engine::time::days_from_civil;
    use proptest::prelude::*;

    /// Monday 2024-01-01, 00:00 UTC.
    const MONDAY: i64 = days_from_civil(2024, 1, 1) * NANOS_PER_DAY;

    /// The start of day `n` after [`MONDAY`] (5, 6 are the first weekend).
    fn d(n: i64) -> i64 {
        MONDAY + n * NANOS_PER_DAY
    }

    fn p(text: &str) -> Price {
        text.parse().unwrap()
    }

    fn e18(text: &str) -> i128 {
        i128::from(p(text).units()) * i128::from(SCALE)
    }

    /// Closes by instrument and day start; `fail` makes every query fail.
    #[derive(Debug, Default)]
    struct Fake {
        closes: BTreeMap<String, BTreeMap<i64, Price>>,
        fail: bool,
    }

    impl Fake {
        fn with(mut self, instrument: &str, closes: &[(i64, &str)]) -> Self {
            let series = self.closes.entry(instrument.to_owned()).or_default();
            for (day, close) in closes {
                series.insert(*day, p(close));
            }
            self
        }
    }

    impl PriceHistory for Fake {
        fn daily_closes(
            &self,
            instrument: &str,
            start: i64,
            end: i64,
        ) -> Result<Vec<(i64, Price)>, String> {
            if self.fail {
                return Err("storage is down".into());
            }
            Ok(self.closes.get(instrument).map_or_else(Vec::new, |c| {
                c.range(start..end).map(|(d, p)| (*d, *p)).collect()
            }))
        }
    }

    fn portfolio(base: &str) -> Portfolio {
        Portfolio {
            id: 1,
            owner: "local".into(),
            name: "test".into(),
            base_currency: base.into(),
            cost_basis: CostBasis::Fifo,
            allow_short: false,
            created_ts: 0,
        }
    }

    /// A transaction at noon of `day`.
    fn tx(
        day: i64,
        kind: TxKind,
        instrument: Option<&str>,
        quantity: &str,
        price: Option<&str>,
    ) -> Transaction {
        Transaction {
            id: 0,
            kind,
            instrument: instrument.map(str::to_owned),
            quantity: quantity.parse::<Qty>().unwrap(),
            price: price.map(p),
            fee: None,
            currency: None,
            ts: day + NANOS_PER_DAY / 2,
        }
    }

    fn deposit(day: i64, amount: &str) -> Transaction {
        tx(day, TxKind::Deposit, None, amount, None)
    }

    fn withdrawal(day: i64, amount: &str) -> Transaction {
        tx(day, TxKind::Withdrawal, None, amount, None)
    }

    fn buy(day: i64, instrument: &str, quantity: &str, price: &str) -> Transaction {
        tx(day, TxKind::Buy, Some(instrument), quantity, Some(price))
    }

    fn fx_config() -> CurrencyConfig {
        let mut c = CurrencyConfig::default();
        // Only the pairs these tests configure (the default has the synthetic feed's).
        c.fx.clear();
        c.currencies.insert("SIM:BMW".into(), "EUR".into());
        c.currencies.insert("LSE:*".into(), "GBP".into());
        c.fx.insert("EUR/USD".into(), "SIM:EURUSD".into());
        c
    }

    /// Three weeks of weekday closes (none at weekends). Prices with few significant digits,
    /// so that 10 × price is exact in f64 and both return paths divide the same exact ratio.
    fn aaa() -> Fake {
        let prices = [
            "100", "101.5", "99.8", "102.3", "103", "101.1", "100.4", "104.2", "105", "103.9",
            "106.25", "104.5", "107", "108.1", "107.3",
        ];
        let days = (0..21).filter(|n| n % 7 < 5);
        let closes: Vec<(i64, &str)> = days.map(d).zip(prices).collect();
        Fake::default().with("SIM:AAA", &closes)
    }

    fn values(series: &DailySeries) -> Vec<(i64, i128, i128)> {
        series.days.iter().map(|v| (v.day, v.nav, v.flow)).collect()
    }

    #[test]
    fn weekdays_are_monday_to_friday_utc() {
        let week: Vec<bool> = (0..7).map(|n| is_weekday(d(n) + 1)).collect();
        assert_eq!(week, [true, true, true, true, true, false, false]);
        // 1970-01-01 was a Thursday; 1969-12-28 a Sunday.
        assert!(is_weekday(0));
        assert!(!is_weekday(-4 * NANOS_PER_DAY));
    }

    #[test]
    fn buy_and_hold_returns_are_the_instruments_own() {
        let history = aaa();
        let txs = [deposit(d(0), "1000"), buy(d(0), "SIM:AAA", "10", "100")];
        let c = CurrencyConfig::default();
        let series = daily_values(&portfolio("USD"), &txs, &c, &history, d(0), d(21)).unwrap();
        let days: Vec<i64> = series.days.iter().map(|v| v.day).collect();
        assert_eq!(days.len(), 15, "weekdays only");
        assert!(series.skipped.is_empty());
        let own = benchmark_returns(&history, "SIM:AAA", &days).unwrap();
        let returns = series.returns();
        assert_eq!(returns.len(), 14);
        assert_eq!(returns, own);
        // Monday after the first weekend: 101.1 / 103 - 1.
        assert_eq!(returns[4], (d(7), -19.0 / 1030.0));

        // Through portfolio_risk: Wednesday of week 3, a window of 10 weekdays ending Tuesday.
        let now = d(16) + 3_600_000_000_000;
        let params = RiskParams {
            window: 10,
            benchmark: Some("SIM:AAA".into()),
            risk_free: 0.0,
        };
        let risk = portfolio_risk(&portfolio("USD"), &txs, &c, &history, now, &params).unwrap();
        assert_eq!((risk.base_day, risk.last_day), (d(1), d(15)));
        let window: Vec<f64> = own
            .iter()
            .filter(|(day, _)| *day > d(1) && *day <= d(15))
            .map(|r| r.1)
            .collect();
        assert_eq!(window.len(), 10);
        let expected = RiskMetrics {
            beta: Some(1.0),
            ..risk_metrics(&window, 0.0)
        };
        assert_eq!(risk.metrics, expected);
        assert_eq!(risk.benchmark_observations, 10);
    }

    #[test]
    fn deposits_and_withdrawals_are_not_returns() {
        let history = Fake::default().with(
            "SIM:AAA",
            &[
                (d(0), "100"),
                (d(1), "110"),
                (d(2), "110"),
                (d(3), "121"),
                (d(4), "121"),
            ],
        );
        let txs = [
            deposit(d(0), "1000"),
            buy(d(0), "SIM:AAA", "10", "100"),
            deposit(d(2), "500"),
            withdrawal(d(4), "200"),
        ];
        let c = CurrencyConfig::default();
        let series = daily_values(&portfolio("USD"), &txs, &c, &history, d(0), d(5)).unwrap();
        assert_eq!(
            values(&series),
            [
                (d(0), e18("1000"), e18("1000")),
                (d(1), e18("1100"), 0),
                (d(2), e18("1600"), e18("500")),
                (d(3), e18("1710"), 0),
                (d(4), e18("1510"), e18("-200")),
            ]
        );
        // (1600 − 500) / 1100 − 1 = 0; 1710 / 1600 − 1; (1510 + 200) / 1710 − 1 = 0.
        assert_eq!(
            series.returns(),
            [(d(1), 0.1), (d(2), 0.0), (d(3), 0.06875), (d(4), 0.0)]
        );
    }

    #[test]
    fn weekend_prices_and_flows_fall_into_monday() {
        // Friday 2024-01-05 is d(4); a crypto-like instrument closes every day.
        let history = Fake::default().with(
            "SIM:BTC",
            &[(d(4), "100"), (d(5), "90"), (d(6), "95"), (d(7), "120")],
        );
        let txs = [
            deposit(d(4), "100"),
            buy(d(4), "SIM:BTC", "1", "100"),
            deposit(d(5), "50"),
        ];
        let c = CurrencyConfig::default();
        let series = daily_values(&portfolio("USD"), &txs, &c, &history, d(4), d(8)).unwrap();
        assert_eq!(
            values(&series),
            [
                (d(4), e18("100"), e18("100")),
                (d(7), e18("170"), e18("50"))
            ]
        );
        assert_eq!(series.returns(), [(d(7), 0.2)]);
    }

    #[test]
    fn the_first_funded_day_has_no_return() {
        let history = aaa();
        let txs = [deposit(d(2), "1000"), buy(d(2), "SIM:AAA", "10", "99.8")];
        let c = CurrencyConfig::default();
        let series = daily_values(&portfolio("USD"), &txs, &c, &history, d(0), d(5)).unwrap();
        let navs: Vec<i128> = series.days.iter().map(|v| v.nav).collect();
        // 2 of cash left over.
        assert_eq!(navs, [0, 0, e18("1000"), e18("1025"), e18("1032")]);
        let returns: Vec<i64> = series.returns().iter().map(|r| r.0).collect();
        assert_eq!(returns, [d(3), d(4)]);
    }

    #[test]
    fn foreign_amounts_convert_with_a_direct_rate() {
        // USD portfolio, EUR instrument and EUR cash; EUR/USD quoted directly.
        let history = Fake::default()
            .with("SIM:BMW", &[(d(0), "100"), (d(1), "110")])
            .with("SIM:EURUSD", &[(d(0), "1.1"), (d(1), "1.2")]);
        let mut eur = deposit(d(0), "1000");
        eur.currency = Some("EUR".into());
        let txs = [eur, buy(d(0), "SIM:BMW", "10", "100")];
        let series =
            daily_values(&portfolio("USD"), &txs, &fx_config(), &history, d(0), d(2)).unwrap();
        // 10 × 100 EUR × 1.1; 10 × 110 EUR × 1.2.
        assert_eq!(
            values(&series),
            [(d(0), e18("1100"), e18("1100")), (d(1), e18("1320"), 0)]
        );
        assert_eq!(series.returns(), [(d(1), 0.2)]);
    }

    #[test]
    fn foreign_amounts_convert_with_an_inverse_rate() {
        // EUR portfolio, USD instrument; only EUR/USD is configured, so USD → EUR divides.
        let history = Fake::default()
            .with("SIM:AAA", &[(d(0), "110"), (d(1), "121")])
            .with("SIM:EURUSD", &[(d(0), "1.1"), (d(1), "1"), (d(2), "3")]);
        let mut usd = deposit(d(0), "1100");
        usd.currency = Some("USD".into());
        let txs = [usd, buy(d(0), "SIM:AAA", "10", "110")];
        let series =
            daily_values(&portfolio("EUR"), &txs, &fx_config(), &history, d(0), d(3)).unwrap();
        // 1100 USD / 1.1; 1210 / 1; 1210 / 3 rounded half away from zero at 1e-18.
        assert_eq!(
            values(&series),
            [
                (d(0), e18("1000"), e18("1000")),
                (d(1), e18("1210"), 0),
                (d(2), 403_333_333_333_333_333_333, 0)
            ]
        );
    }

    #[test]
    fn a_missing_rate_names_the_pair() {
        let history = Fake::default().with("LSE:VOD", &[(d(0), "0.7")]);
        // GBP bought with USD would net to nothing in GBP: fund in GBP.
        let mut gbp = deposit(d(0), "100");
        gbp.currency = Some("GBP".into());
        let txs = [gbp, buy(d(0), "LSE:VOD", "100", "0.7")];
        let err =
            daily_values(&portfolio("USD"), &txs, &fx_config(), &history, d(0), d(1)).unwrap_err();
        assert_eq!(err, RiskError::MissingRate("GBP/USD".into()));
        assert_eq!(err.code(), "missing_rate");
        assert!(err.to_string().contains("GBP/USD"), "{err}");
    }

    #[test]
    fn days_without_a_close_are_skipped_and_their_flows_carried() {
        // Bought Monday, first close Wednesday; the EUR/USD rate a week before the range.
        let history = Fake::default()
            .with("SIM:BMW", &[(d(2), "100"), (d(3), "105")])
            .with("SIM:EURUSD", &[(d(-7), "2")]);
        let mut eur = deposit(d(0), "1000");
        eur.currency = Some("EUR".into());
        let txs = [eur, buy(d(0), "SIM:BMW", "10", "100")];
        let series =
            daily_values(&portfolio("USD"), &txs, &fx_config(), &history, d(0), d(4)).unwrap();
        let skipped: Vec<(i64, &str)> = series
            .skipped
            .iter()
            .map(|s| (s.day, s.instrument.as_str()))
            .collect();
        assert_eq!(skipped, [(d(0), "SIM:BMW"), (d(1), "SIM:BMW")]);
        assert_eq!(
            values(&series),
            [(d(2), e18("2000"), e18("2000")), (d(3), e18("2100"), 0)]
        );
        assert_eq!(series.returns(), [(d(3), 0.05)]);
    }

    #[test]
    fn transactions_before_the_range_make_the_opening_position() {
        let history = aaa();
        let txs = [deposit(d(-30), "1000"), buy(d(-30), "SIM:AAA", "10", "90")];
        let c = CurrencyConfig::default();
        let series = daily_values(&portfolio("USD"), &txs, &c, &history, d(0), d(1)).unwrap();
        // 10 × 100 + 100 cash left; the deposit is not a flow of the range.
        assert_eq!(values(&series), [(d(0), e18("1100"), 0)]);
    }

    #[test]
    fn history_failures_and_bad_requests_are_errors() {
        let failing = Fake {
            fail: true,
            ..aaa()
        };
        let txs = [deposit(d(0), "1000"), buy(d(0), "SIM:AAA", "10", "100")];
        let (pf, c) = (portfolio("USD"), CurrencyConfig::default());
        let err = daily_values(&pf, &txs, &c, &failing, d(0), d(1)).unwrap_err();
        assert_eq!(err.to_string(), "price history of SIM:AAA: storage is down");
        for (start, end) in [
            (d(1), d(1)),
            (d(1), d(0)),
            (d(0) + 1, d(2)),
            (d(0), d(40_000)),
        ] {
            let err = daily_values(&pf, &txs, &c, &aaa(), start, end).unwrap_err();
            assert_eq!(err, RiskError::Range { start, end });
        }
        let now = d(16);
        for (window, rf) in [(0, 0.0), (MAX_WINDOW + 1, 0.0), (10, f64::NAN)] {
            let params = RiskParams {
                window,
                risk_free: rf,
                benchmark: None,
            };
            let err = portfolio_risk(&pf, &txs, &c, &aaa(), now, &params).unwrap_err();
            assert_eq!(err.code(), "bad_parameter");
        }
        let params = RiskParams {
            benchmark: Some("SIM:NONE".into()),
            ..RiskParams::default()
        };
        let err = portfolio_risk(&pf, &txs, &c, &aaa(), now, &params).unwrap_err();
        assert_eq!(err, RiskError::NoBenchmarkHistory("SIM:NONE".into()));
        let mut oversell = tx(d(0), TxKind::Sell, Some("SIM:AAA"), "1", Some("100"));
        oversell.id = 7;
        let err = daily_values(&pf, &[oversell], &c, &aaa(), d(0), d(1)).unwrap_err();
        assert!(matches!(err, RiskError::Ledger { id: 7, .. }), "{err}");
        assert_eq!(err.code(), "insufficient_quantity");
    }

    #[test]
    fn an_empty_portfolio_has_no_figures() {
        let params = RiskParams::default();
        let c = CurrencyConfig::default();
        let risk = portfolio_risk(&portfolio("USD"), &[], &c, &aaa(), d(16), &params).unwrap();
        assert_eq!(risk.metrics, RiskMetrics::default());
        assert_eq!(risk.last_day, d(15));
    }

    proptest! {
        /// Only cash in the base currency: whatever flows come and go, every return is 0.
        #[test]
        fn flows_alone_never_make_a_return(
            flows in proptest::collection::vec((0i64..28, any::<bool>(), 1i64..1_000_000), 1..40),
        ) {
            let txs: Vec<Transaction> = flows
                .iter()
                .map(|(day, inflow, cents)| {
                    let amount = format!("{}.{:02}", cents / 100, cents % 100);
                    if *inflow { deposit(d(*day), &amount) } else { withdrawal(d(*day), &amount) }
                })
                .collect();
            let c = CurrencyConfig::default();
            let series = daily_values(&portfolio("USD"), &txs, &c, &Fake::default(), d(0), d(28)).unwrap();
            prop_assert_eq!(series.days.len(), 20);
            for (_, r) in series.returns() {
                prop_assert_eq!(r, 0.0);
            }
        }

        /// Buy and hold at any prices: the portfolio's returns are the instrument's.
        #[test]
        fn buy_and_hold_follows_the_instrument(
            cents in proptest::collection::vec(1i64..10_000_000, 2..30),
            quantity in 1i64..10_000,
        ) {
            let closes: Vec<(i64, String)> = cents
                .iter()
                .enumerate()
                .map(|(i, c)| (d(i as i64), format!("{}.{:02}", c / 100, c % 100)))
                .collect();
            let refs: Vec<(i64, &str)> = closes.iter().map(|(d, c)| (*d, c.as_str())).collect();
            let history = Fake::default().with("SIM:X", &refs);
            let first = closes[0].1.as_str();
            let cost = p(first).notional_e18(Qty::from_units(quantity * SCALE)) / i128::from(SCALE);
            let txs = [
                deposit(d(0), &Price::from_units(i64::try_from(cost).unwrap()).to_string()),
                buy(d(0), "SIM:X", &quantity.to_string(), first),
            ];
            let c = CurrencyConfig::default();
            let end = d(cents.len() as i64);
            let series = daily_values(&portfolio("USD"), &txs, &c, &history, d(0), end).unwrap();
            let days: Vec<i64> = series.days.iter().map(|v| v.day).collect();
            let own = benchmark_returns(&history, "SIM:X", &days).unwrap();
            let returns = series.returns();
            prop_assert_eq!(returns.len(), own.len());
            for ((day, r), (own_day, o)) in returns.iter().zip(&own) {
                prop_assert_eq!(day, own_day);
                prop_assert!((r - o).abs() <= 1e-15 * o.abs().max(1e-9), "{} {}", r, o);
            }
        }

        /// The rate helpers equal the rounded full-width products where those fit.
        #[test]
        fn rate_conversion_is_the_rounded_exact_value(amount in -(1i128 << 63)..(1i128 << 63), rate in 1i64..i64::MAX) {
            let scale = i128::from(SCALE);
            prop_assert_eq!(mul_rate(amount, rate), div_round(amount * i128::from(rate), scale));
            prop_assert_eq!(div_rate(amount, rate), div_round(amount * scale, i128::from(rate)));
        }
    }
}
