//! The live book: every portfolio's positions, revalued on every trade of the instruments
//! they hold, with valuations published at most every `min_interval` per portfolio (newest
//! wins) and right after a transaction.
//!
//! Per trade: the instrument's last price is stored, then the positions holding it — found
//! through an index from instrument to (portfolio, position), so the work is O(affected
//! positions) — get their market value recomputed and their portfolio marked dirty; a trade
//! of an FX instrument revalues the positions quoted in the currencies it converts. Nothing
//! is allocated per tick: the index and the dirty list are built when portfolios change.
//!
//! Conventions: `last` is the price of the last trade (never a mid); market value is
//! quantity × last × fx; cost basis and realized P&L are converted to the base currency at the
//! current rate (so unrealized P&L excludes currency gains); day change is quantity × (last −
//! previous UTC day's close) × fx for the quantity held now.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use engine::fixed::SCALE;
use engine::latency::LatencyHistogram;
use engine::publish::{PortfolioDirectory, ValuationSink};
use engine::{InstrumentId, Price, Qty, Registry};

use crate::currency::{Conversion, CurrencyConfig};
use crate::json::{WsMeta, write_valuation};
use crate::ledger::{Ledger, div_round, to_price};
use crate::model::{Live, MarketData, Portfolio, PortfolioId, PositionValue, Valuation};

const DAY: i64 = 86_400 * 1_000_000_000;
const E9: i128 = SCALE as i128;

/// How an amount in some currency becomes base currency.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Conv {
    Identity,
    Direct(InstrumentId),
    Inverse(InstrumentId),
    Missing(String),
}

/// The last trade and the previous day's close of an instrument (1e-9 units).
#[derive(Debug, Clone, Copy, Default)]
struct Px {
    last: Option<i64>,
    /// 1 / last, rounded (the rate of the inverse pair when this is an FX instrument).
    inv: Option<i64>,
    prev_close: Option<i64>,
    /// The UTC day (days since the epoch) of the last trade.
    day: i64,
}

#[derive(Debug, Clone)]
struct Pos {
    name: String,
    id: InstrumentId,
    conv: Conv,
    quantity: Qty,
    cost: i128,
    realized: i128,
    avg_cost: Option<Price>,
    /// Where its market value is kept in [`Book::mv`].
    gp: usize,
}

/// A market value not known (no price or no rate).
const NO_VALUE: i128 = i128::MIN;
/// `Hold::conv`: same currency.
const SAME: u32 = u32::MAX;
/// `Hold::conv`: no rate configured.
const NO_RATE: u32 = u32::MAX - 1;
/// `Hold::conv` flag: divide by the FX instrument's price (use its inverse).
const INVERSE: u32 = 1 << 31;

/// The hot-path record of one position in the index: 24 bytes, read in sequence per trade.
#[derive(Debug, Clone, Copy)]
struct Hold {
    /// Its market value's place in [`Book::mv`]; `u32::MAX` for a cash line (FX only).
    gp: u32,
    slot: u32,
    instrument: u32,
    /// [`SAME`], [`NO_RATE`], or the FX instrument's id, with [`INVERSE`] for the inverse.
    conv: u32,
    quantity: i64,
}

/// A portfolio's per-tick state, apart from the rest so that a trade touches little memory.
#[derive(Debug, Clone, Copy, Default)]
struct Hot {
    dirty: bool,
    /// `ts_recv` of the first tick that changed the portfolio since it was last published.
    pending_since: i64,
}

/// quantity × last × rate of `hold`, 1e-18 base units, or [`NO_VALUE`].
#[inline]
fn hold_value(prices: &[Px], hold: &Hold) -> i128 {
    let Some(last) = prices.get(hold.instrument as usize).and_then(|p| p.last) else {
        return NO_VALUE;
    };
    let base = product(hold.quantity, last);
    let rate = match hold.conv {
        SAME => return base,
        NO_RATE => return NO_VALUE,
        conv => {
            let fx = prices.get((conv & !INVERSE) as usize);
            if conv & INVERSE != 0 {
                fx.and_then(|p| p.inv)
            } else {
                fx.and_then(|p| p.last)
            }
        }
    };
    match rate.and_then(|r| base.checked_mul(i128::from(r))) {
        Some(v) => v / E9,
        None => NO_VALUE,
    }
}

#[derive(Debug)]
struct Entry {
    portfolio: Portfolio,
    positions: Vec<Pos>,
    cash: Vec<(String, i128, Conv)>,
    last_published: Option<Instant>,
}

/// Every portfolio's live state. Use through [`LiveBook`].
#[derive(Debug)]
pub struct Book {
    currencies: CurrencyConfig,
    registry: Arc<Registry>,
    market: Arc<dyn MarketData>,
    prices: Vec<Px>,
    entries: Vec<Option<Entry>>,
    by_id: HashMap<PortfolioId, usize>,
    /// Instrument id → the positions it prices, directly or as an FX rate (and cash lines
    /// converted by it).
    index: Vec<Vec<Hold>>,
    /// Market values of every position (1e-18 base units, [`NO_VALUE`] when unknown).
    mv: Vec<i128>,
    /// Unused places in `mv`.
    free: Vec<usize>,
    /// Per entry: dirty flag and pending time.
    hot: Vec<Hot>,
    dirty: Vec<u32>,
    seq: u64,
}

fn product(quantity: i64, price: i64) -> i128 {
    i128::from(quantity) * i128::from(price)
}

/// 1 / `price` (1e-9 units), rounded half away from zero.
fn inverse(price: i64) -> Option<i64> {
    div_round(E9 * E9, i128::from(price)).and_then(|r| i64::try_from(r).ok())
}

impl Book {
    fn px(&self, id: InstrumentId) -> Px {
        self.prices.get(id.0 as usize).copied().unwrap_or_default()
    }

    /// Converts `amount` (1e-18, in some currency) into base currency with `conv`, at the
    /// rate [`Book::rate`] shows (so a client's quantity × last × fx gives the same value).
    fn convert(&self, amount: i128, conv: &Conv) -> Option<i128> {
        match conv {
            Conv::Identity => Some(amount),
            _ => amount
                .checked_mul(i128::from(self.rate(conv)?.units()))?
                .checked_div(E9),
        }
    }

    /// The rate of `conv` as a price (1 for the same currency).
    fn rate(&self, conv: &Conv) -> Option<Price> {
        match conv {
            Conv::Identity => Some(Price::from_units(SCALE)),
            Conv::Direct(fx) => self.px(*fx).last.map(Price::from_units),
            Conv::Inverse(fx) => self.px(*fx).inv.map(Price::from_units),
            Conv::Missing(_) => None,
        }
    }

    /// The hot-path record of a position.
    fn hold(slot: usize, pos: &Pos) -> Hold {
        let conv = match pos.conv {
            Conv::Identity => SAME,
            Conv::Direct(fx) if fx.0 < NO_RATE & !INVERSE => fx.0,
            Conv::Inverse(fx) if fx.0 < NO_RATE & !INVERSE => fx.0 | INVERSE,
            _ => NO_RATE,
        };
        Hold {
            gp: pos.gp as u32,
            slot: slot as u32,
            instrument: pos.id.0,
            conv,
            quantity: pos.quantity.units(),
        }
    }

    fn market_value(&self, pos: &Pos) -> Option<i128> {
        match self.mv.get(pos.gp).copied() {
            Some(NO_VALUE) | None => None,
            Some(v) => Some(v),
        }
    }

    fn conv(&mut self, from: &str, to: &str) -> Conv {
        match self.currencies.conversion(from, to) {
            Conversion::Identity => Conv::Identity,
            Conversion::Direct(name) => self
                .intern(&name)
                .map_or(Conv::Missing(format!("{from}/{to}")), Conv::Direct),
            Conversion::Inverse(name) => self
                .intern(&name)
                .map_or(Conv::Missing(format!("{from}/{to}")), Conv::Inverse),
            Conversion::Missing(pair) => Conv::Missing(pair),
        }
    }

    /// Interns `name` and seeds its prices from the market data.
    fn intern(&mut self, name: &str) -> Option<InstrumentId> {
        let id = self.registry.intern(name).ok()?;
        let i = id.0 as usize;
        if self.prices.len() <= i {
            self.prices.resize(i + 1, Px::default());
        }
        if self.index.len() <= i {
            self.index.resize_with(i + 1, Vec::new);
        }
        if self.prices[i].last.is_none() {
            let now = engine::clock::now_ns();
            let today = now.div_euclid(DAY) * DAY;
            let last = self.market.last_trade(name).map(Price::units);
            self.prices[i] = Px {
                last,
                inv: last.and_then(inverse),
                prev_close: self.market.close_before(name, today).map(Price::units),
                day: now.div_euclid(DAY),
            };
        }
        Some(id)
    }

    /// A trade of `id` at `price` happened at `ts_event`; `ts_recv` is when it was read:
    /// every position it prices gets its market value recomputed, and its portfolio is
    /// marked for publication.
    #[inline]
    pub fn on_trade(&mut self, id: InstrumentId, price: Price, ts_event: i64, ts_recv: i64) {
        let i = id.0 as usize;
        let Some(px) = self.prices.get_mut(i) else {
            return;
        };
        let day = ts_event.div_euclid(DAY);
        if day > px.day {
            if px.last.is_some() {
                px.prev_close = px.last;
            }
            px.day = day;
        }
        px.last = Some(price.units());
        px.inv = inverse(price.units());
        let Book {
            index,
            prices,
            mv,
            hot,
            dirty,
            ..
        } = self;
        let Some(holds) = index.get(i) else {
            return;
        };
        for hold in holds {
            if let Some(place) = mv.get_mut(hold.gp as usize) {
                *place = hold_value(prices, hold);
            }
            let Some(state) = hot.get_mut(hold.slot as usize) else {
                continue;
            };
            if state.pending_since == 0 {
                state.pending_since = ts_recv;
            }
            if !state.dirty {
                state.dirty = true;
                dirty.push(hold.slot);
            }
        }
    }

    /// Replaces a portfolio's state from its ledger.
    fn update(&mut self, portfolio: &Portfolio, ledger: &Ledger) -> usize {
        let slot = match self.by_id.get(&portfolio.id) {
            Some(&slot) => slot,
            None => {
                let slot = self
                    .entries
                    .iter()
                    .position(Option::is_none)
                    .unwrap_or(self.entries.len());
                if slot == self.entries.len() {
                    self.entries.push(None);
                }
                self.by_id.insert(portfolio.id, slot);
                slot
            }
        };
        self.unindex(slot);
        let base = portfolio.base_currency.clone();
        let mut positions = Vec::new();
        for holding in ledger.holdings() {
            if holding.quantity.is_zero() && holding.realized == 0 {
                continue;
            }
            let Some(id) = self.intern(&holding.instrument) else {
                continue;
            };
            let conv = self.conv(&holding.currency, &base);
            let gp = match self.free.pop() {
                Some(gp) => gp,
                None => {
                    self.mv.push(NO_VALUE);
                    self.mv.len() - 1
                }
            };
            positions.push(Pos {
                name: holding.instrument.clone(),
                id,
                conv,
                quantity: holding.quantity,
                cost: holding.cost,
                realized: holding.realized,
                avg_cost: holding.avg_cost(),
                gp,
            });
        }
        let cash_lines: Vec<(String, i128)> =
            ledger.cash().iter().map(|(c, a)| (c.clone(), *a)).collect();
        let cash = cash_lines
            .into_iter()
            .map(|(currency, amount)| {
                let conv = self.conv(&currency, &base);
                (currency, amount, conv)
            })
            .collect();
        let entry = Entry {
            portfolio: portfolio.clone(),
            positions,
            cash,
            last_published: None,
        };
        // Index: each position under its instrument and its FX instrument; cash under its.
        for pos in &entry.positions {
            let hold = Book::hold(slot, pos);
            self.mv[pos.gp] = hold_value(&self.prices, &hold);
            self.index[pos.id.0 as usize].push(hold);
            if let Conv::Direct(fx) | Conv::Inverse(fx) = pos.conv {
                self.index[fx.0 as usize].push(hold);
            }
        }
        for (_, _, conv) in &entry.cash {
            if let Conv::Direct(fx) | Conv::Inverse(fx) = conv {
                self.index[fx.0 as usize].push(Hold {
                    gp: u32::MAX,
                    slot: slot as u32,
                    instrument: fx.0,
                    conv: SAME,
                    quantity: 0,
                });
            }
        }
        if self.hot.len() <= slot {
            self.hot.resize(slot + 1, Hot::default());
        }
        self.hot[slot] = Hot::default();
        self.entries[slot] = Some(entry);
        self.dirty.reserve(self.entries.len());
        slot
    }

    fn unindex(&mut self, slot: usize) {
        if let Some(Some(entry)) = self.entries.get(slot) {
            for list in &mut self.index {
                list.retain(|h| h.slot as usize != slot);
            }
            self.dirty.retain(|s| *s as usize != slot);
            for pos in &entry.positions {
                self.mv[pos.gp] = NO_VALUE;
                self.free.push(pos.gp);
            }
        }
    }

    fn remove(&mut self, id: PortfolioId) {
        if let Some(slot) = self.by_id.remove(&id) {
            self.unindex(slot);
            self.entries[slot] = None;
        }
    }

    /// The valuation of the entry in `slot`, now.
    fn valuation(&self, slot: usize) -> Option<Valuation> {
        let entry = self.entries.get(slot)?.as_ref()?;
        let mut missing: Vec<String> = Vec::new();
        let mut note = |conv: &Conv| {
            if let Conv::Missing(pair) = conv
                && !missing.contains(pair)
            {
                missing.push(pair.clone());
            }
        };
        let (mut market_value, mut realized, mut unrealized, mut day_change) =
            (0i128, 0i128, 0i128, 0i128);
        let mut positions = Vec::with_capacity(entry.positions.len());
        for pos in &entry.positions {
            note(&pos.conv);
            let px = self.px(pos.id);
            let mv = self.market_value(pos);
            let cost = self.convert(pos.cost, &pos.conv);
            let real = self.convert(pos.realized, &pos.conv);
            let unreal = mv.zip(cost).map(|(m, c)| m - c);
            let day = px.last.zip(px.prev_close).and_then(|(last, prev)| {
                self.convert(product(pos.quantity.units(), last - prev), &pos.conv)
            });
            market_value += mv.unwrap_or(0);
            realized += real.unwrap_or(0);
            unrealized += unreal.unwrap_or(0);
            day_change += day.unwrap_or(0);
            positions.push((pos, px, mv, cost, real, unreal, day));
        }
        let mut cash = 0i128;
        let mut cash_by_currency = Vec::new();
        for (currency, amount, conv) in &entry.cash {
            note(conv);
            cash += self.convert(*amount, conv).unwrap_or(0);
            cash_by_currency.push((currency.clone(), to_price(*amount).unwrap_or(Price::ZERO)));
        }
        let nav = market_value + cash;
        let price = |v: i128| to_price(v).unwrap_or(Price::ZERO);
        let positions = positions
            .into_iter()
            .map(|(pos, px, mv, cost, real, unreal, day)| PositionValue {
                instrument: pos.name.clone(),
                quantity: pos.quantity,
                last: px.last.map(Price::from_units),
                fx: self.rate(&pos.conv),
                market_value: mv.and_then(to_price),
                cost_basis: cost.map_or(Price::ZERO, price),
                avg_cost: pos.avg_cost,
                unrealized: unreal.and_then(to_price),
                realized: real.map_or(Price::ZERO, price),
                day_change: day.and_then(to_price),
                weight: match (mv, nav) {
                    (Some(mv), nav) if nav != 0 => div_round(mv * E9, nav)
                        .and_then(|w| i64::try_from(w).ok())
                        .map(Price::from_units),
                    _ => None,
                },
            })
            .collect();
        Some(Valuation {
            portfolio: entry.portfolio.id,
            base_currency: entry.portfolio.base_currency.clone(),
            ts: engine::clock::now_ns(),
            positions,
            cash_by_currency,
            market_value: price(market_value),
            cash: price(cash),
            nav: price(nav),
            realized: price(realized),
            unrealized: price(unrealized),
            day_change: price(day_change),
            missing_rates: missing,
        })
    }
}

/// The book behind its lock, with the sink valuations go to: the [`Live`] side of the
/// portfolio service, and what the ring consumer drives.
#[derive(Debug)]
pub struct LiveBook {
    book: Mutex<Book>,
    sink: Arc<dyn ValuationSink>,
    min_interval: Duration,
    /// `ts_recv` of the tick that moved a portfolio → its valuation published.
    pub latency: LatencyHistogram,
}

impl LiveBook {
    /// An empty book publishing to `sink` at most once per `min_interval` per portfolio.
    pub fn new(
        currencies: CurrencyConfig,
        registry: Arc<Registry>,
        market: Arc<dyn MarketData>,
        sink: Arc<dyn ValuationSink>,
        min_interval: Duration,
    ) -> LiveBook {
        LiveBook {
            book: Mutex::new(Book {
                currencies,
                registry,
                market,
                prices: Vec::new(),
                entries: Vec::new(),
                by_id: HashMap::new(),
                index: Vec::new(),
                mv: Vec::new(),
                free: Vec::new(),
                hot: Vec::new(),
                dirty: Vec::new(),
                seq: 0,
            }),
            sink,
            min_interval,
            latency: LatencyHistogram::new("portfolio"),
        }
    }

    /// Locks the book (once per batch of ticks).
    pub fn lock(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes every dirty portfolio whose last valuation is at least `min_interval` old.
    /// Call after each batch of ticks, and on a timer while idle.
    pub fn flush(&self, book: &mut Book) {
        if book.dirty.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut k = 0;
        while k < book.dirty.len() {
            let slot = book.dirty[k] as usize;
            let due = book.entries[slot].as_ref().is_none_or(|e| {
                e.last_published
                    .is_none_or(|t| now.duration_since(t) >= self.min_interval)
            });
            if due {
                book.dirty.swap_remove(k);
                let id = book.entries[slot].as_ref().map(|e| e.portfolio.id);
                if id.is_some_and(|id| self.sink.has_subscribers(id)) {
                    self.publish(book, slot, now);
                } else if let Some(state) = book.hot.get_mut(slot) {
                    // Nobody listens: no valuation is built; the next subscriber asks for one.
                    *state = Hot::default();
                }
            } else {
                k += 1;
            }
        }
    }

    fn publish(&self, book: &mut Book, slot: usize, now: Instant) {
        let Some(valuation) = book.valuation(slot) else {
            return;
        };
        book.seq += 1;
        let ts_recv = engine::clock::now_ns();
        let mut text = String::with_capacity(256 + 320 * valuation.positions.len());
        write_valuation(
            &mut text,
            &valuation,
            Some(WsMeta {
                seq: book.seq,
                ts_event: valuation.ts,
                ts_recv,
                snapshot: false,
            }),
        );
        if let Some(entry) = book.entries[slot].as_mut() {
            entry.last_published = Some(now);
        }
        if let Some(state) = book.hot.get_mut(slot) {
            if state.pending_since != 0 {
                self.latency
                    .record_all([ts_recv.saturating_sub(state.pending_since).max(0)]);
            }
            *state = Hot::default();
        }
        self.sink
            .publish_valuation(valuation.portfolio, text, ts_recv);
    }
}

impl Live for LiveBook {
    fn update(&self, portfolio: &Portfolio, ledger: &Ledger) {
        let mut book = self.lock();
        let slot = book.update(portfolio, ledger);
        // Right after a transaction, whatever the throttle says.
        self.publish(&mut book, slot, Instant::now());
    }

    fn remove(&self, id: PortfolioId) {
        self.lock().remove(id);
        self.sink.forget_portfolio(id);
    }

    fn valuation(&self, id: PortfolioId) -> Option<Valuation> {
        let book = self.lock();
        let slot = *book.by_id.get(&id)?;
        book.valuation(slot)
    }
}

impl PortfolioDirectory for LiveBook {
    fn visible(&self, id: u64, principal: &str) -> bool {
        let book = self.lock();
        book.by_id
            .get(&id)
            .and_then(|slot| book.entries[*slot].as_ref())
            .is_some_and(|e| e.portfolio.owner == principal)
    }

    fn subscribed(&self, id: u64) {
        let mut book = self.lock();
        let Some(&slot) = book.by_id.get(&id) else {
            return;
        };
        if let Some(entry) = book.entries[slot].as_mut() {
            entry.last_published = None;
        }
        if let Some(state) = book.hot.get_mut(slot)
            && !state.dirty
        {
            state.dirty = true;
            book.dirty.push(slot as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CostBasis, Transaction, TxKind};

    #[derive(Debug, Default)]
    struct Sink(Mutex<Vec<(u64, String)>>);

    impl ValuationSink for Sink {
        fn publish_valuation(&self, portfolio: u64, message: String, _ts_recv: i64) {
            self.0.lock().unwrap().push((portfolio, message));
        }
        fn forget_portfolio(&self, _portfolio: u64) {}
        fn has_subscribers(&self, _portfolio: u64) -> bool {
            true
        }
    }

    #[derive(Debug)]
    struct Market;

    impl MarketData for Market {
        fn last_trade(&self, instrument: &str) -> Option<Price> {
            (instrument == "SIM:AAA").then(|| "100".parse().unwrap())
        }
        fn close_before(&self, instrument: &str, _day_start: i64) -> Option<Price> {
            (instrument == "SIM:AAA").then(|| "95".parse().unwrap())
        }
    }

    fn p(text: &str) -> Price {
        text.parse().unwrap()
    }

    fn portfolio(id: u64) -> Portfolio {
        Portfolio {
            id,
            owner: "local".into(),
            name: "test".into(),
            base_currency: "USD".into(),
            cost_basis: CostBasis::Fifo,
            allow_short: false,
            created_ts: 0,
        }
    }

    fn trade(kind: TxKind, instrument: &str, quantity: &str, price: &str) -> Transaction {
        Transaction {
            id: 0,
            kind,
            instrument: Some(instrument.into()),
            quantity: quantity.parse().unwrap(),
            price: Some(p(price)),
            fee: None,
            currency: None,
            ts: 0,
        }
    }

    fn setup(interval: Duration) -> (LiveBook, Arc<Sink>, Arc<Registry>) {
        let mut currencies = CurrencyConfig::default();
        currencies.currencies.insert("XETRA:*".into(), "EUR".into());
        currencies.fx.insert("EUR/USD".into(), "SIM:EURUSD".into());
        let registry = Arc::new(Registry::new());
        let sink = Arc::new(Sink::default());
        let book = LiveBook::new(
            currencies,
            registry.clone(),
            Arc::new(Market),
            sink.clone(),
            interval,
        );
        (book, sink, registry)
    }

    #[test]
    fn market_value_is_quantity_times_last_times_fx_and_ticks_move_it() {
        let (live, sink, registry) = setup(Duration::ZERO);
        let mut ledger = Ledger::new(CostBasis::Fifo, false);
        ledger
            .apply(&trade(TxKind::Buy, "SIM:AAA", "10", "90"), "USD")
            .unwrap();
        ledger
            .apply(&trade(TxKind::Buy, "XETRA:SAP", "4", "200"), "EUR")
            .unwrap();
        live.update(&portfolio(1), &ledger);
        // Published right away, seeded from the market data: 10 × 100, SAP unpriced.
        assert_eq!(sink.0.lock().unwrap().len(), 1);
        let v = live.valuation(1).unwrap();
        assert_eq!(v.positions[0].instrument, "SIM:AAA");
        assert_eq!(v.positions[0].market_value, Some(p("1000")));
        assert_eq!(v.positions[0].day_change, Some(p("50")));
        assert_eq!(v.positions[1].market_value, None);
        assert_eq!(v.positions[1].fx, None);

        let sap = registry.id("XETRA:SAP").unwrap();
        let eurusd = registry.id("SIM:EURUSD").unwrap();
        let aaa = registry.id("SIM:AAA").unwrap();
        {
            let mut book = live.lock();
            book.on_trade(sap, p("210.5"), 1, 1);
            book.on_trade(eurusd, p("1.1"), 1, 1);
            book.on_trade(aaa, p("101.25"), 1, 1);
            live.flush(&mut book);
        }
        assert_eq!(sink.0.lock().unwrap().len(), 2);
        let v = live.valuation(1).unwrap();
        assert_eq!(v.positions[0].market_value, Some(p("1012.5")));
        // 4 × 210.5 × 1.1
        assert_eq!(v.positions[1].market_value, Some(p("926.2")));
        assert_eq!(v.positions[1].fx, Some(p("1.1")));
        assert_eq!(v.positions[1].last, Some(p("210.5")));
        // Cost 800 EUR at 1.1.
        assert_eq!(v.positions[1].cost_basis, p("880"));
        assert_eq!(v.market_value, p("1938.7"));
        // Cash: −900 USD, −800 EUR (= −880 USD).
        assert_eq!(v.cash, p("-1780"));
        assert_eq!(v.nav, p("158.7"));
        assert!(v.missing_rates.is_empty());
        let sum: i64 = v
            .positions
            .iter()
            .map(|x| x.market_value.unwrap().units())
            .sum();
        assert_eq!(sum, v.market_value.units());
    }

    #[test]
    fn a_missing_rate_is_named() {
        let (live, _sink, _registry) = setup(Duration::ZERO);
        let mut ledger = Ledger::new(CostBasis::Fifo, false);
        ledger
            .apply(
                &Transaction {
                    kind: TxKind::Deposit,
                    instrument: None,
                    price: None,
                    ..trade(TxKind::Deposit, "", "100", "0")
                },
                "CHF",
            )
            .unwrap();
        live.update(&portfolio(2), &ledger);
        assert_eq!(live.valuation(2).unwrap().missing_rates, ["CHF/USD"]);
    }

    #[test]
    fn publication_is_throttled_per_portfolio_and_only_holders_are_touched() {
        let (live, sink, registry) = setup(Duration::from_secs(3600));
        let mut ledger = Ledger::new(CostBasis::Fifo, false);
        ledger
            .apply(&trade(TxKind::Buy, "SIM:AAA", "1", "1"), "USD")
            .unwrap();
        live.update(&portfolio(1), &ledger);
        live.update(&portfolio(2), &Ledger::new(CostBasis::Fifo, false));
        assert_eq!(sink.0.lock().unwrap().len(), 2);
        let aaa = registry.id("SIM:AAA").unwrap();
        let mut book = live.lock();
        for i in 0..100 {
            book.on_trade(aaa, Price::from_units(1_000_000_000 + i), 1, 1);
            live.flush(&mut book);
        }
        // Portfolio 1 is dirty but was published within the hour; portfolio 2 holds nothing.
        assert_eq!(sink.0.lock().unwrap().len(), 2);
        assert_eq!(book.dirty, [0]);
    }

    #[test]
    fn the_previous_close_rolls_at_midnight_utc() {
        let (live, _sink, registry) = setup(Duration::ZERO);
        let mut ledger = Ledger::new(CostBasis::Fifo, false);
        ledger
            .apply(&trade(TxKind::Buy, "SIM:AAA", "2", "1"), "USD")
            .unwrap();
        live.update(&portfolio(1), &ledger);
        let aaa = registry.id("SIM:AAA").unwrap();
        let tomorrow = (engine::clock::now_ns().div_euclid(DAY) + 1) * DAY;
        {
            let mut book = live.lock();
            book.on_trade(aaa, p("110"), tomorrow + 5, 0);
        }
        // Yesterday's last (100) is now the previous close.
        assert_eq!(
            live.valuation(1).unwrap().positions[0].day_change,
            Some(p("20"))
        );
    }
}
