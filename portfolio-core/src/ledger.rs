//! The ledger: holdings, cash and realized P&L derived from a portfolio's transactions,
//! applied in time order.
//!
//! Conventions:
//! - A buy's cost is quantity × price plus its fee; a sale's proceeds are quantity × price
//!   minus its fee. Realized P&L is proceeds minus the cost of the units sold.
//! - FIFO sells the oldest lots first; average cost sells at the average cost of the units
//!   held. Both give the same cash and quantity; only the split between realized and
//!   unrealized differs.
//! - Selling more than is held is refused unless the portfolio allows shorts. A short opens a
//!   position of negative quantity whose cost is the (negative) proceeds; buying covers it,
//!   realizing proceeds minus the cost of covering.
//! - Deposits and dividends add cash; withdrawals and fees take it away. Cash may go
//!   negative (margin); the ledger does not police it.
//!
//! Amounts are exact: quantity × price is kept in units of 1e-18 (`i128`).

use std::collections::{BTreeMap, VecDeque};

use engine::fixed::SCALE;
use engine::{Price, Qty};
use thiserror::Error;

use crate::model::{CostBasis, Transaction, TxKind};

/// Why a transaction cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A sale of more than is held, in a portfolio without shorts.
    #[error(
        "cannot sell {wanted} of {instrument}: {held} held (short selling is off for this portfolio)"
    )]
    Oversell {
        /// The instrument.
        instrument: String,
        /// Units held.
        held: Qty,
        /// Units to sell.
        wanted: Qty,
    },
    /// A buy or sell without an instrument.
    #[error("a {0} needs an instrument")]
    MissingInstrument(&'static str),
    /// A buy or sell without a price.
    #[error("a {0} needs a price")]
    MissingPrice(&'static str),
    /// A negative quantity, price or fee.
    #[error("{0} must not be negative")]
    Negative(&'static str),
    /// A zero quantity.
    #[error("quantity must be positive")]
    ZeroQuantity,
    /// A trade in another currency than the instrument's earlier trades.
    #[error("{instrument} is held in {held}, not {given}")]
    CurrencyMismatch {
        /// The instrument.
        instrument: String,
        /// Its currency so far.
        held: String,
        /// The transaction's.
        given: String,
    },
    /// A value out of range.
    #[error("amount out of range")]
    Overflow,
}

impl LedgerError {
    /// The API error code.
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::Oversell { .. } => "insufficient_quantity",
            LedgerError::MissingInstrument(_) | LedgerError::MissingPrice(_) => "missing_field",
            LedgerError::Negative(_) | LedgerError::ZeroQuantity => "bad_quantity",
            LedgerError::CurrencyMismatch { .. } => "currency_mismatch",
            LedgerError::Overflow => "bad_quantity",
        }
    }
}

/// One lot: units bought (or sold short) together, and what they cost (1e-18 units).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lot {
    quantity: i64,
    cost: i128,
}

/// One instrument's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// `VENUE:SYMBOL`.
    pub instrument: String,
    /// The currency of its trades.
    pub currency: String,
    /// Units held; negative when short.
    pub quantity: Qty,
    /// The cost of the units held in 1e-18 units (negative for a short: what selling raised).
    pub cost: i128,
    /// Realized P&L in 1e-18 units.
    pub realized: i128,
    /// FIFO lots, oldest first (one lot under average cost).
    lots: VecDeque<Lot>,
}

impl Holding {
    /// Cost per unit held, rounded half away from zero to 1e-9.
    pub fn avg_cost(&self) -> Option<Price> {
        let q = i128::from(self.quantity.units());
        if q == 0 {
            return None;
        }
        div_round(self.cost, q)
            .and_then(|v| i64::try_from(v).ok())
            .map(Price::from_units)
    }
}

/// `a / b` rounded half away from zero.
pub fn div_round(a: i128, b: i128) -> Option<i128> {
    if b == 0 {
        return None;
    }
    let (q, r) = (a / b, a % b);
    if 2 * r.unsigned_abs() >= b.unsigned_abs() {
        Some(if (a < 0) != (b < 0) { q - 1 } else { q + 1 })
    } else {
        Some(q)
    }
}

/// 1e-18 units to a 1e-9 fixed-point value, rounded half away from zero.
pub fn to_price(e18: i128) -> Option<Price> {
    div_round(e18, i128::from(SCALE))
        .and_then(|v| i64::try_from(v).ok())
        .map(Price::from_units)
}

/// Holdings and cash of one portfolio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    cost_basis: CostBasis,
    allow_short: bool,
    holdings: BTreeMap<String, Holding>,
    cash: BTreeMap<String, i128>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new(cost_basis: CostBasis, allow_short: bool) -> Ledger {
        Ledger {
            cost_basis,
            allow_short,
            holdings: BTreeMap::new(),
            cash: BTreeMap::new(),
        }
    }

    /// Every instrument ever traded, by name (closed positions have quantity 0 and keep
    /// their realized P&L).
    pub fn holdings(&self) -> impl Iterator<Item = &Holding> {
        self.holdings.values()
    }

    /// One instrument's position.
    pub fn holding(&self, instrument: &str) -> Option<&Holding> {
        self.holdings.get(instrument)
    }

    /// Cash per currency, 1e-18 units.
    pub fn cash(&self) -> &BTreeMap<String, i128> {
        &self.cash
    }

    /// Applies `tx` (transactions must come in time order). `currency` is its cash currency,
    /// resolved by the caller. On error nothing changes.
    pub fn apply(&mut self, tx: &Transaction, currency: &str) -> Result<(), LedgerError> {
        let name = tx.kind.as_str();
        if tx.quantity.is_negative() {
            return Err(LedgerError::Negative("quantity"));
        }
        if tx.fee.is_some_and(|f| f.is_negative()) {
            return Err(LedgerError::Negative("fee"));
        }
        let fee = i128::from(tx.fee.map_or(0, |f| f.units())) * i128::from(SCALE);
        let amount = i128::from(tx.quantity.units()) * i128::from(SCALE);
        let cash_delta = match tx.kind {
            TxKind::Deposit | TxKind::Dividend => amount,
            TxKind::Withdrawal | TxKind::Fee => -amount,
            TxKind::Buy | TxKind::Sell => {
                let instrument = tx
                    .instrument
                    .as_deref()
                    .ok_or(LedgerError::MissingInstrument(name))?;
                let price = tx.price.ok_or(LedgerError::MissingPrice(name))?;
                if price.is_negative() {
                    return Err(LedgerError::Negative("price"));
                }
                if tx.quantity.is_zero() {
                    return Err(LedgerError::ZeroQuantity);
                }
                let notional = price.notional_e18(tx.quantity);
                let units = tx.quantity.units();
                let mut holding =
                    self.holdings
                        .get(instrument)
                        .cloned()
                        .unwrap_or_else(|| Holding {
                            instrument: instrument.to_owned(),
                            currency: currency.to_owned(),
                            quantity: Qty::ZERO,
                            cost: 0,
                            realized: 0,
                            lots: VecDeque::new(),
                        });
                if holding.currency != currency && holding.quantity.units() != 0 {
                    return Err(LedgerError::CurrencyMismatch {
                        instrument: instrument.to_owned(),
                        held: holding.currency.clone(),
                        given: currency.to_owned(),
                    });
                }
                holding.currency = currency.to_owned();
                let (signed, cash) = match tx.kind {
                    TxKind::Buy => (units, -(notional + fee)),
                    _ => (-units, notional - fee),
                };
                let held = holding.quantity.units();
                if !self.allow_short && signed < 0 && held.checked_add(signed).is_none_or(|q| q < 0)
                {
                    return Err(LedgerError::Oversell {
                        instrument: instrument.to_owned(),
                        held: holding.quantity,
                        wanted: tx.quantity,
                    });
                }
                // Buy fees are part of the cost; sale fees reduce the proceeds.
                let trade_cost = match tx.kind {
                    TxKind::Buy => notional + fee,
                    _ => -(notional - fee),
                };
                trade(&mut holding, self.cost_basis, signed, trade_cost)?;
                self.holdings.insert(instrument.to_owned(), holding);
                cash
            }
        };
        let balance = self.cash.entry(currency.to_owned()).or_insert(0);
        *balance = balance
            .checked_add(cash_delta)
            .ok_or(LedgerError::Overflow)?;
        Ok(())
    }
}

/// Applies a trade of `signed` units (positive buys) that costs `cost` (1e-18; negative for
/// proceeds) to a holding.
fn trade(
    holding: &mut Holding,
    basis: CostBasis,
    signed: i64,
    cost: i128,
) -> Result<(), LedgerError> {
    let held = holding.quantity.units();
    let new_quantity = held.checked_add(signed).ok_or(LedgerError::Overflow)?;
    // The part that closes existing units (opposite sign), and the part that opens new ones.
    let closing = if held != 0 && (held > 0) != (signed > 0) {
        signed.abs().min(held.abs())
    } else {
        0
    };
    let opening = signed.abs() - closing;
    let per_unit_cost = |units: i64| cost * i128::from(units) / i128::from(signed.abs());
    if closing > 0 {
        // What the closed units cost, by lot order (FIFO) or at the average.
        let closed_cost = match basis {
            CostBasis::Fifo => take_lots(&mut holding.lots, closing),
            CostBasis::Average => {
                let avg_part = holding.cost * i128::from(closing) / i128::from(held.abs());
                let lot = holding.lots.front_mut();
                if let Some(lot) = lot {
                    lot.quantity -= closing * held.signum();
                    lot.cost -= avg_part;
                    if lot.quantity == 0 {
                        holding.lots.clear();
                    }
                }
                avg_part
            }
        };
        let trade_part = per_unit_cost(closing);
        // Long closed by a sale: proceeds (−trade_part) − cost. Short covered by a buy:
        // −closed_cost (what was raised) − trade_part (what covering cost).
        holding.realized += -trade_part - closed_cost;
        holding.cost -= closed_cost;
    }
    if opening > 0 {
        let open_cost = cost - per_unit_cost(closing);
        let units = opening * signed.signum();
        match basis {
            CostBasis::Fifo => holding.lots.push_back(Lot {
                quantity: units,
                cost: open_cost,
            }),
            CostBasis::Average => match holding.lots.front_mut() {
                Some(lot) => {
                    lot.quantity += units;
                    lot.cost += open_cost;
                }
                None => holding.lots.push_back(Lot {
                    quantity: units,
                    cost: open_cost,
                }),
            },
        }
        holding.cost += open_cost;
    }
    holding.quantity = Qty::from_units(new_quantity);
    if new_quantity == 0 {
        holding.cost = 0;
        holding.lots.clear();
    }
    Ok(())
}

/// Removes `units` from the oldest lots; returns what they cost.
fn take_lots(lots: &mut VecDeque<Lot>, mut units: i64) -> i128 {
    let mut cost = 0;
    while units > 0 {
        let Some(lot) = lots.front_mut() else {
            break;
        };
        let available = lot.quantity.abs();
        if available <= units {
            cost += lot.cost;
            units -= available;
            lots.pop_front();
        } else {
            let part = lot.cost * i128::from(units) / i128::from(available);
            cost += part;
            lot.cost -= part;
            lot.quantity -= units * lot.quantity.signum();
            units = 0;
        }
    }
    cost
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tx(kind: TxKind, quantity: &str, price: &str) -> Transaction {
        Transaction {
            id: 0,
            kind,
            instrument: Some("SIM:AAA".into()),
            quantity: quantity.parse().unwrap(),
            price: Some(price.parse().unwrap()),
            fee: None,
            currency: None,
            ts: 0,
        }
    }

    fn e18(text: &str) -> i128 {
        i128::from(text.parse::<Price>().unwrap().units()) * i128::from(SCALE)
    }

    #[test]
    fn the_known_values_fifo_250_average_225() {
        for (basis, realized, remaining_cost) in [
            (CostBasis::Fifo, "250", "550"),
            (CostBasis::Average, "225", "525"),
        ] {
            let mut ledger = Ledger::new(basis, false);
            for t in [
                tx(TxKind::Buy, "10", "100"),
                tx(TxKind::Buy, "10", "110"),
                tx(TxKind::Sell, "15", "120"),
            ] {
                ledger.apply(&t, "USD").unwrap();
            }
            let h = ledger.holding("SIM:AAA").unwrap();
            assert_eq!(h.realized, e18(realized), "{basis:?}");
            assert_eq!(h.quantity, "5".parse().unwrap());
            assert_eq!(h.cost, e18(remaining_cost), "{basis:?}");
            // Cash: −1000 − 1100 + 1800.
            assert_eq!(ledger.cash()["USD"], e18("-300"));
        }
    }

    #[test]
    fn overselling_is_refused_without_shorts_and_changes_nothing() {
        let mut ledger = Ledger::new(CostBasis::Fifo, false);
        ledger.apply(&tx(TxKind::Buy, "10", "100"), "USD").unwrap();
        let before = ledger.clone();
        let err = ledger
            .apply(&tx(TxKind::Sell, "11", "100"), "USD")
            .unwrap_err();
        assert_eq!(err.code(), "insufficient_quantity");
        assert_eq!(ledger, before);
    }

    #[test]
    fn shorts_open_and_cover_with_realized_pnl() {
        let mut ledger = Ledger::new(CostBasis::Fifo, true);
        ledger.apply(&tx(TxKind::Sell, "10", "100"), "USD").unwrap();
        let h = ledger.holding("SIM:AAA").unwrap();
        assert_eq!(h.quantity.units(), -10 * SCALE);
        assert_eq!(h.avg_cost(), Some("100".parse().unwrap()));
        ledger.apply(&tx(TxKind::Buy, "4", "90"), "USD").unwrap();
        // Covered 4 at 90 that were sold at 100.
        assert_eq!(ledger.holding("SIM:AAA").unwrap().realized, e18("40"));
        // Buying 10 more covers the other 6 (at 95: +30) and opens a long of 4.
        ledger.apply(&tx(TxKind::Buy, "10", "95"), "USD").unwrap();
        let h = ledger.holding("SIM:AAA").unwrap();
        assert_eq!(h.realized, e18("70"));
        assert_eq!(h.quantity, "4".parse().unwrap());
        assert_eq!(h.cost, e18("380"));
    }

    #[test]
    fn fees_cost_and_cash_flows() {
        let mut ledger = Ledger::new(CostBasis::Average, false);
        ledger
            .apply(
                &Transaction {
                    kind: TxKind::Deposit,
                    instrument: None,
                    price: None,
                    ..tx(TxKind::Deposit, "5000", "0")
                },
                "USD",
            )
            .unwrap();
        let mut buy = tx(TxKind::Buy, "10", "100");
        buy.fee = Some("2".parse().unwrap());
        ledger.apply(&buy, "USD").unwrap();
        assert_eq!(
            ledger.holding("SIM:AAA").unwrap().avg_cost(),
            Some("100.2".parse().unwrap())
        );
        let mut sell = tx(TxKind::Sell, "10", "110");
        sell.fee = Some("3".parse().unwrap());
        ledger.apply(&sell, "USD").unwrap();
        // 1100 − 3 − 1002
        assert_eq!(ledger.holding("SIM:AAA").unwrap().realized, e18("95"));
        ledger
            .apply(
                &Transaction {
                    kind: TxKind::Withdrawal,
                    ..tx(TxKind::Withdrawal, "95", "0")
                },
                "USD",
            )
            .unwrap();
        assert_eq!(ledger.cash()["USD"], e18("5000"));
        ledger
            .apply(
                &Transaction {
                    kind: TxKind::Dividend,
                    ..tx(TxKind::Dividend, "7.5", "0")
                },
                "EUR",
            )
            .unwrap();
        assert_eq!(ledger.cash()["EUR"], e18("7.5"));
    }

    #[test]
    fn bad_transactions_are_refused() {
        let mut ledger = Ledger::new(CostBasis::Fifo, false);
        let mut no_price = tx(TxKind::Buy, "1", "1");
        no_price.price = None;
        assert_eq!(
            ledger.apply(&no_price, "USD").unwrap_err().code(),
            "missing_field"
        );
        let mut no_instrument = tx(TxKind::Buy, "1", "1");
        no_instrument.instrument = None;
        assert_eq!(
            ledger.apply(&no_instrument, "USD").unwrap_err().code(),
            "missing_field"
        );
        assert_eq!(
            ledger
                .apply(&tx(TxKind::Buy, "-1", "1"), "USD")
                .unwrap_err()
                .code(),
            "bad_quantity"
        );
        assert_eq!(
            ledger
                .apply(&tx(TxKind::Buy, "0", "1"), "USD")
                .unwrap_err()
                .code(),
            "bad_quantity"
        );
        assert_eq!(ledger, Ledger::new(CostBasis::Fifo, false));
    }

    proptest! {
        /// Quantity is conserved, cash moves by exactly the trades, and realized + cost of
        /// what is held + cash is the same under FIFO and average cost.
        #[test]
        fn quantity_is_conserved_and_total_pnl_does_not_depend_on_the_basis(
            trades in proptest::collection::vec((any::<bool>(), 1i64..50, 1i64..500), 1..60),
            last in 1i64..500,
        ) {
            let mut fifo = Ledger::new(CostBasis::Fifo, true);
            let mut avg = Ledger::new(CostBasis::Average, true);
            let mut quantity = 0i64;
            for (buy, q, p) in &trades {
                let t = tx(if *buy { TxKind::Buy } else { TxKind::Sell }, &q.to_string(), &p.to_string());
                fifo.apply(&t, "USD").unwrap();
                avg.apply(&t, "USD").unwrap();
                quantity += if *buy { *q } else { -*q };
            }
            for ledger in [&fifo, &avg] {
                let h = ledger.holding("SIM:AAA").unwrap();
                prop_assert_eq!(h.quantity.units(), quantity * SCALE);
                // Total P&L at `last`: realized + unrealized = market value + cash.
                let market = i128::from(quantity) * i128::from(last) * i128::from(SCALE) * i128::from(SCALE);
                let unrealized = market - h.cost;
                let total = h.realized + unrealized;
                prop_assert_eq!(total, market + ledger.cash()["USD"]);
            }
        }
    }
}
