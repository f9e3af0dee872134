//! [`Portfolios`]: the facade the HTTP routes and the engine use. It owns the database, checks
//! every change by replaying the portfolio's history through a fresh [`Ledger`], and keeps the
//! live side ([`Live`]) up to date.
//!
//! - The transactions are the record; a ledger is always rebuilt from them in (ts, id) order,
//!   so a back-dated transaction is checked against the history as it would then read, and a
//!   deletion that would make a later transaction invalid (a later sale becoming an oversell)
//!   is refused ([`Error::HistoryConflict`]).
//! - The database mutex is held from the check to the `live` update, so changes to one
//!   database are applied and published in one order.
//! - A transaction's cash currency is its `currency`, else the instrument's currency for a
//!   trade ([`CurrencyConfig::currency_of`]), else the portfolio's base currency.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use engine::Registry;

use crate::currency::CurrencyConfig;
use crate::db::{Db, NewPortfolioRow};
use crate::error::{Error, Result};
use crate::ledger::{Ledger, LedgerError};
use crate::model::{Live, Portfolio, PortfolioId, Transaction, Valuation};
use crate::request::{NewPortfolio, NewTransaction, check_currency, check_name};

/// Which instruments a transaction may name.
pub trait KnownInstruments: Send + Sync {
    /// Whether `instrument` (`VENUE:SYMBOL`) is known.
    fn is_known(&self, instrument: &str) -> bool;
}

impl<F> KnownInstruments for F
where
    F: Fn(&str) -> bool + Send + Sync,
{
    fn is_known(&self, instrument: &str) -> bool {
        self(instrument)
    }
}

/// Instruments live in the engine's registry, or known to `history` (instruments that are
/// only stored, like imported ones).
pub fn registry_or(
    registry: Arc<Registry>,
    history: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> Arc<dyn KnownInstruments> {
    Arc::new(move |instrument: &str| registry.id(instrument).is_some() || history(instrument))
}

/// The cash currency of `tx` in `portfolio`.
pub fn tx_currency<'a>(
    tx: &'a Transaction,
    portfolio: &'a Portfolio,
    config: &'a CurrencyConfig,
) -> &'a str {
    match (&tx.currency, &tx.instrument) {
        (Some(currency), _) => currency,
        (None, Some(instrument)) if tx.kind.is_trade() => config.currency_of(instrument),
        _ => &portfolio.base_currency,
    }
}

/// Replays `txs` (in (ts, id) order) through a fresh ledger; on failure, the id of the
/// transaction that failed and why.
pub fn replay(
    portfolio: &Portfolio,
    txs: &[Transaction],
    config: &CurrencyConfig,
) -> std::result::Result<Ledger, (u64, LedgerError)> {
    let mut ledger = Ledger::new(portfolio.cost_basis, portfolio.allow_short);
    for tx in txs {
        ledger
            .apply(tx, tx_currency(tx, portfolio, config))
            .map_err(|e| (tx.id, e))?;
    }
    Ok(ledger)
}

/// Replays a stored history that should be valid; a transaction that fails (the currency
/// configuration changed, say) is logged and left out, so one portfolio never stops the rest.
fn replay_stored(portfolio: &Portfolio, txs: &[Transaction], config: &CurrencyConfig) -> Ledger {
    let mut ledger = Ledger::new(portfolio.cost_basis, portfolio.allow_short);
    for tx in txs {
        if let Err(e) = ledger.apply(tx, tx_currency(tx, portfolio, config)) {
            tracing::error!(
                portfolio = portfolio.id,
                tx = tx.id,
                error = %e,
                "stored transaction cannot be applied; left out of the ledger"
            );
        }
    }
    ledger
}

/// The id a transaction has in a replay before it is stored: it sorts after every stored
/// transaction of the same time, as its real (larger, never reused) id will.
const PENDING_ID: u64 = u64::MAX;

/// The portfolio service.
pub struct Portfolios {
    db: Mutex<Db>,
    live: Arc<dyn Live>,
    currency: CurrencyConfig,
    known: Arc<dyn KnownInstruments>,
}

impl fmt::Debug for Portfolios {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Portfolios")
            .field("live", &self.live)
            .field("currency", &self.currency)
            .finish_non_exhaustive()
    }
}

impl Portfolios {
    /// Takes over `db`, replays every portfolio's transactions and hands each ledger to
    /// `live`, so the live state is whole before the first request.
    pub fn open(
        db: Db,
        live: Arc<dyn Live>,
        currency: CurrencyConfig,
        known: Arc<dyn KnownInstruments>,
    ) -> Result<Portfolios> {
        let service = Portfolios {
            db: Mutex::new(db),
            live,
            currency,
            known,
        };
        for (portfolio, ledger) in service.all_ledgers()? {
            service.live.update(&portfolio, &ledger);
        }
        Ok(service)
    }

    /// Locks the database.
    fn db(&self) -> MutexGuard<'_, Db> {
        // A panic while the lock was held cannot leave a half-done change behind: every
        // change is one SQLite statement or transaction, rolled back if not committed.
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `instrument` is known (live or in history).
    pub fn is_known(&self, instrument: &str) -> bool {
        self.known.is_known(instrument)
    }

    /// The currency settings.
    pub fn currency_config(&self) -> &CurrencyConfig {
        &self.currency
    }

    /// Creates a portfolio for `owner` (empty, published to the live side).
    pub fn create(&self, owner: &str, new: NewPortfolio) -> Result<Portfolio> {
        let name = check_name(&new.name)?;
        let base_currency = new
            .base_currency
            .unwrap_or_else(|| self.currency.default_currency.clone());
        check_currency(&base_currency)?;
        let mut db = self.db();
        let portfolio = db.create_portfolio(&NewPortfolioRow {
            owner,
            name: &name,
            base_currency: &base_currency,
            cost_basis: new.cost_basis,
            allow_short: new.allow_short,
            created_ts: engine::clock::now_ns(),
        })?;
        self.live.update(
            &portfolio,
            &Ledger::new(portfolio.cost_basis, portfolio.allow_short),
        );
        Ok(portfolio)
    }

    /// `owner`'s portfolios, by id.
    pub fn list(&self, owner: &str) -> Result<Vec<Portfolio>> {
        Ok(self.db().portfolios(owner)?)
    }

    /// `owner`'s portfolio `id` ([`Error::UnknownPortfolio`] for another owner's).
    pub fn get(&self, owner: &str, id: PortfolioId) -> Result<Portfolio> {
        self.db()
            .portfolio(owner, id)?
            .ok_or(Error::UnknownPortfolio(id))
    }

    /// Renames `owner`'s portfolio `id`.
    pub fn rename(&self, owner: &str, id: PortfolioId, name: &str) -> Result<Portfolio> {
        let name = check_name(name)?;
        let mut db = self.db();
        let portfolio = db
            .rename_portfolio(owner, id, &name)?
            .ok_or(Error::UnknownPortfolio(id))?;
        let txs = db
            .transactions(owner, id)?
            .ok_or(Error::UnknownPortfolio(id))?;
        self.live
            .update(&portfolio, &replay_stored(&portfolio, &txs, &self.currency));
        Ok(portfolio)
    }

    /// Deletes `owner`'s portfolio `id` and its transactions.
    pub fn delete(&self, owner: &str, id: PortfolioId) -> Result<()> {
        let mut db = self.db();
        if !db.delete_portfolio(owner, id)? {
            return Err(Error::UnknownPortfolio(id));
        }
        self.live.remove(id);
        Ok(())
    }

    /// The transactions of `owner`'s portfolio `id`, in (ts, id) order.
    pub fn transactions(&self, owner: &str, id: PortfolioId) -> Result<Vec<Transaction>> {
        self.db()
            .transactions(owner, id)?
            .ok_or(Error::UnknownPortfolio(id))
    }

    /// Records a transaction in `owner`'s portfolio `id` if the history with it replays
    /// cleanly: [`Error::Ledger`] when the new transaction fails (an oversell: 422
    /// `insufficient_quantity`), [`Error::HistoryConflict`] when a later one would.
    pub fn add_transaction(
        &self,
        owner: &str,
        id: PortfolioId,
        new: NewTransaction,
    ) -> Result<Transaction> {
        if let Some(instrument) = &new.instrument
            && !self.known.is_known(instrument)
        {
            return Err(Error::invalid(
                "unknown_instrument",
                format!("unknown instrument {instrument:?}"),
            ));
        }
        let candidate = Transaction {
            id: PENDING_ID,
            kind: new.kind,
            instrument: new.instrument,
            quantity: new.quantity,
            price: new.price,
            fee: new.fee,
            currency: new.currency,
            ts: new.ts,
        };
        let mut db = self.db();
        let (portfolio, mut txs) = load(&db, owner, id)?;
        let at = txs.partition_point(|t| (t.ts, t.id) <= (candidate.ts, candidate.id));
        txs.insert(at, candidate.clone());
        let ledger = replay(&portfolio, &txs, &self.currency).map_err(|(tx, e)| {
            if tx == PENDING_ID {
                Error::Ledger(e)
            } else {
                Error::HistoryConflict { tx, source: e }
            }
        })?;
        let stored = db
            .insert_transaction(owner, id, &candidate)?
            .ok_or(Error::UnknownPortfolio(id))?;
        self.live.update(&portfolio, &ledger);
        Ok(stored)
    }

    /// Deletes transaction `tx_id` of `owner`'s portfolio `id` unless the history without it
    /// fails to replay ([`Error::HistoryConflict`]).
    pub fn delete_transaction(&self, owner: &str, id: PortfolioId, tx_id: u64) -> Result<()> {
        let mut db = self.db();
        let (portfolio, mut txs) = load(&db, owner, id)?;
        let at = txs
            .iter()
            .position(|t| t.id == tx_id)
            .ok_or(Error::UnknownTransaction {
                portfolio: id,
                tx: tx_id,
            })?;
        txs.remove(at);
        let ledger = replay(&portfolio, &txs, &self.currency)
            .map_err(|(tx, source)| Error::HistoryConflict { tx, source })?;
        if !db.delete_transaction(owner, id, tx_id)? {
            return Err(Error::UnknownTransaction {
                portfolio: id,
                tx: tx_id,
            });
        }
        self.live.update(&portfolio, &ledger);
        Ok(())
    }

    /// The live valuation of `owner`'s portfolio `id`; `Ok(None)` while the live side has none.
    pub fn valuation(&self, owner: &str, id: PortfolioId) -> Result<Option<Valuation>> {
        self.get(owner, id)?;
        Ok(self.live.valuation(id))
    }

    /// The ledger of `owner`'s portfolio `id`, replayed from its transactions.
    pub fn ledger(&self, owner: &str, id: PortfolioId) -> Result<Ledger> {
        let db = self.db();
        let (portfolio, txs) = load(&db, owner, id)?;
        Ok(replay_stored(&portfolio, &txs, &self.currency))
    }

    /// Every portfolio of every owner with its replayed ledger, by id (what the live side is
    /// loaded with at start).
    pub fn all_ledgers(&self) -> Result<Vec<(Portfolio, Ledger)>> {
        let db = self.db();
        let mut out = Vec::new();
        for portfolio in db.all_portfolios()? {
            let txs = db
                .transactions(&portfolio.owner, portfolio.id)?
                .unwrap_or_default();
            let ledger = replay_stored(&portfolio, &txs, &self.currency);
            out.push((portfolio, ledger));
        }
        Ok(out)
    }
}

/// `owner`'s portfolio `id` and its transactions in (ts, id) order; 404 for another owner's.
fn load(db: &Db, owner: &str, id: PortfolioId) -> Result<(Portfolio, Vec<Transaction>)> {
    let portfolio = db
        .portfolio(owner, id)?
        .ok_or(Error::UnknownPortfolio(id))?;
    let txs = db
        .transactions(owner, id)?
        .ok_or(Error::UnknownPortfolio(id))?;
    Ok((portfolio, txs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CostBasis, LOCAL_PRINCIPAL, TxKind};
    use engine::fixed::SCALE;
    use std::collections::BTreeMap;

    /// Records what the service tells the live side.
    #[derive(Debug, Default)]
    struct Recorder {
        ledgers: Mutex<BTreeMap<PortfolioId, Ledger>>,
        removed: Mutex<Vec<PortfolioId>>,
    }

    impl Live for Recorder {
        fn update(&self, portfolio: &Portfolio, ledger: &Ledger) {
            self.ledgers
                .lock()
                .unwrap()
                .insert(portfolio.id, ledger.clone());
        }
        fn remove(&self, id: PortfolioId) {
            self.removed.lock().unwrap().push(id);
        }
        fn valuation(&self, _id: PortfolioId) -> Option<Valuation> {
            None
        }
    }

    fn service() -> (Portfolios, Arc<Recorder>) {
        let live = Arc::new(Recorder::default());
        let mut currency = CurrencyConfig::default();
        currency.currencies.insert("SIM:BMW".into(), "EUR".into());
        let known = Arc::new(|i: &str| i.starts_with("SIM:"));
        let service =
            Portfolios::open(Db::open_in_memory().unwrap(), live.clone(), currency, known).unwrap();
        (service, live)
    }

    fn portfolio(s: &Portfolios, basis: CostBasis) -> Portfolio {
        s.create(
            LOCAL_PRINCIPAL,
            NewPortfolio {
                name: "p".into(),
                base_currency: None,
                cost_basis: basis,
                allow_short: false,
            },
        )
        .unwrap()
    }

    fn trade(kind: TxKind, instrument: &str, q: &str, p: &str, ts: i64) -> NewTransaction {
        NewTransaction {
            kind,
            instrument: Some(instrument.into()),
            quantity: q.parse().unwrap(),
            price: Some(p.parse().unwrap()),
            fee: None,
            currency: None,
            ts,
        }
    }

    fn whole(n: i128) -> i128 {
        n * i128::from(SCALE) * i128::from(SCALE)
    }

    #[test]
    fn back_dated_sales_are_checked_against_history_as_it_would_read() {
        let (s, live) = service();
        let p = portfolio(&s, CostBasis::Fifo);
        let o = LOCAL_PRINCIPAL;
        let buy = s
            .add_transaction(o, p.id, trade(TxKind::Buy, "SIM:AAA", "10", "100", 20))
            .unwrap();
        // Before the buy nothing was held.
        let e = s
            .add_transaction(o, p.id, trade(TxKind::Sell, "SIM:AAA", "1", "100", 10))
            .unwrap_err();
        assert_eq!(e.code(), "insufficient_quantity");
        let sell = s
            .add_transaction(o, p.id, trade(TxKind::Sell, "SIM:AAA", "10", "110", 30))
            .unwrap();
        // A back-dated sale that is fine itself but leaves the later one short: a conflict.
        let e = s
            .add_transaction(o, p.id, trade(TxKind::Sell, "SIM:AAA", "5", "100", 25))
            .unwrap_err();
        assert!(
            matches!(e, Error::HistoryConflict { tx, .. } if tx == sell.id),
            "{e:?}"
        );
        // Deleting the buy would make the sale an oversell.
        let e = s.delete_transaction(o, p.id, buy.id).unwrap_err();
        assert_eq!((e.code(), e.status()), ("history_conflict", 409));
        assert_eq!(s.transactions(o, p.id).unwrap().len(), 2);
        // The live side saw each accepted change and the realized P&L.
        let realized = live.ledgers.lock().unwrap()[&p.id]
            .holding("SIM:AAA")
            .unwrap()
            .realized;
        assert_eq!(realized, whole(100));
        s.delete_transaction(o, p.id, sell.id).unwrap();
        s.delete_transaction(o, p.id, buy.id).unwrap();
        assert_eq!(
            s.delete_transaction(o, p.id, buy.id).unwrap_err().code(),
            "unknown_transaction"
        );
        assert!(
            live.ledgers.lock().unwrap()[&p.id]
                .holdings()
                .next()
                .is_none()
        );
    }

    #[test]
    fn same_time_transactions_apply_in_id_order() {
        let (s, _) = service();
        let p = portfolio(&s, CostBasis::Average);
        let o = LOCAL_PRINCIPAL;
        s.add_transaction(o, p.id, trade(TxKind::Buy, "SIM:AAA", "1", "10", 5))
            .unwrap();
        s.add_transaction(o, p.id, trade(TxKind::Sell, "SIM:AAA", "1", "12", 5))
            .unwrap();
        let ledger = s.ledger(o, p.id).unwrap();
        assert_eq!(ledger.holding("SIM:AAA").unwrap().realized, whole(2));
    }

    #[test]
    fn currencies_come_from_the_tx_the_instrument_or_the_base() {
        let (s, _) = service();
        let p = portfolio(&s, CostBasis::Fifo);
        let o = LOCAL_PRINCIPAL;
        s.add_transaction(o, p.id, trade(TxKind::Buy, "SIM:BMW", "1", "50", 1))
            .unwrap();
        let mut dividend = trade(TxKind::Dividend, "SIM:BMW", "2", "0", 2);
        dividend.price = None;
        s.add_transaction(o, p.id, dividend.clone()).unwrap();
        dividend.currency = Some("GBP".into());
        s.add_transaction(o, p.id, dividend).unwrap();
        let ledger = s.ledger(o, p.id).unwrap();
        let cash: Vec<_> = ledger
            .cash()
            .iter()
            .map(|(c, v)| (c.as_str(), *v))
            .collect();
        assert_eq!(
            cash,
            vec![("EUR", -whole(50)), ("GBP", whole(2)), ("USD", whole(2))]
        );
        // A trade in another currency than the position's is refused.
        let mut usd = trade(TxKind::Buy, "SIM:BMW", "1", "50", 3);
        usd.currency = Some("USD".into());
        let e = s.add_transaction(o, p.id, usd).unwrap_err();
        assert_eq!((e.code(), e.status()), ("currency_mismatch", 422));
    }

    #[test]
    fn unknown_instruments_and_portfolios_and_other_owners() {
        let (s, live) = service();
        let p = portfolio(&s, CostBasis::Fifo);
        let e = s
            .add_transaction(
                LOCAL_PRINCIPAL,
                p.id,
                trade(TxKind::Buy, "NOPE:X", "1", "1", 1),
            )
            .unwrap_err();
        assert_eq!(e.code(), "unknown_instrument");
        let other = "mallory";
        assert_eq!(s.get(other, p.id).unwrap_err().code(), "unknown_portfolio");
        assert!(s.list(other).unwrap().is_empty());
        assert_eq!(
            s.rename(other, p.id, "x").unwrap_err().code(),
            "unknown_portfolio"
        );
        assert_eq!(
            s.delete(other, p.id).unwrap_err().code(),
            "unknown_portfolio"
        );
        assert!(s.valuation(other, p.id).is_err());
        assert_eq!(
            s.ledger(other, p.id).unwrap_err().code(),
            "unknown_portfolio"
        );
        s.delete(LOCAL_PRINCIPAL, p.id).unwrap();
        assert_eq!(*live.removed.lock().unwrap(), vec![p.id]);
    }

    #[test]
    fn registry_or_history() {
        let registry = Arc::new(Registry::new());
        registry.intern("SIM:AAA").unwrap();
        let known = registry_or(registry, |i: &str| i == "OLD:X");
        assert!(known.is_known("SIM:AAA"));
        assert!(known.is_known("OLD:X"));
        assert!(!known.is_known("SIM:B"));
    }
}
