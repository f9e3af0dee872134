//! Wiring of the portfolios: the market data and price history the book and the risk figures
//! read (from the fanout's latest values and from storage), and the book's ring consumer.

use std::sync::Arc;
use std::time::Duration;

use engine::{Gap, InstrumentId, Interval, Price, Registry, Tick};
use fanout::LatestTable;
use portfolio_core::book::LiveBook;
use portfolio_core::model::{MarketData, PriceHistory};
use storage::history::{BarQuery, Fill, Range, query_bars, read_bars};
use storage::store::Store;

use crate::app::RingHandler;

const DAY: i64 = 86_400 * 1_000_000_000;

/// Last trades from the fanout's latest-value table; closes from storage's bars.
#[derive(Debug)]
pub struct EngineMarket {
    pub registry: Arc<Registry>,
    pub latest: Arc<LatestTable>,
    pub store: Arc<Store>,
}

impl MarketData for EngineMarket {
    fn last_trade(&self, instrument: &str) -> Option<Price> {
        let id = self.registry.id(instrument)?;
        Some(self.latest.trade(id)?.as_trade()?.price)
    }

    /// The close of the last 1m bar before `day_start`, looking back up to a week.
    fn close_before(&self, instrument: &str, day_start: i64) -> Option<Price> {
        let id = self.registry.id(instrument);
        let mut end = day_start;
        for _ in 0..7 {
            let start = end - DAY;
            let bars =
                read_bars(&self.store, instrument, id, Interval::MINUTE, (start, end)).ok()?;
            if let Some(last) = bars.last() {
                return Some(last.close);
            }
            end = start;
        }
        None
    }
}

impl PriceHistory for EngineMarket {
    fn daily_closes(
        &self,
        instrument: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Price)>, String> {
        let query = BarQuery {
            instrument: instrument.to_owned(),
            interval: Interval::from_seconds(86_400).ok_or("no 1d interval")?,
            range: Range {
                start,
                end,
                limit: None,
                cursor: None,
            },
            fill: Fill::None,
        };
        let page = query_bars(&self.store, &query, 1_000_000, engine::clock::now_ns())
            .map_err(|e| format!("{e:?}"))?;
        Ok(page
            .rows
            .into_iter()
            .filter_map(|row| Some((row.ts, row.bar?.close)))
            .collect())
    }
}

/// The book's ring consumer (gating): trades of a batch are applied under one lock, then due
/// valuations are published.
pub struct PortfolioConsumer {
    pub book: Arc<LiveBook>,
    pub trades: Vec<(InstrumentId, Price, i64, i64)>,
}

impl RingHandler for PortfolioConsumer {
    #[inline]
    fn on_tick(&mut self, tick: &Tick) {
        if let Some(trade) = tick.as_trade() {
            self.trades
                .push((tick.instrument, trade.price, tick.ts_event, tick.ts_recv));
        }
    }

    fn on_batch_end(&mut self) {
        let mut book = self.book.lock();
        for (id, price, ts_event, ts_recv) in self.trades.drain(..) {
            book.on_trade(id, price, ts_event, ts_recv);
        }
        self.book.flush(&mut book);
    }

    fn on_gap(&mut self, gap: Gap) {
        tracing::error!(
            from = gap.from,
            to = gap.to,
            "portfolio consumer lapped: valuations missed ticks"
        );
    }

    fn idle_timeout(&self) -> Option<Duration> {
        Some(Duration::from_millis(20))
    }

    fn on_idle(&mut self) {
        // Portfolios held back by the throttle go out once their interval has passed.
        let mut book = self.book.lock();
        self.book.flush(&mut book);
    }
}

/// The portfolio parts the engine runs.
pub struct Parts {
    /// The live book (the ring consumer's state).
    pub book: Arc<LiveBook>,
    /// The service behind the routes.
    pub service: Arc<portfolio_core::Portfolios>,
    /// Market data and price history.
    pub market: Arc<EngineMarket>,
}

/// Opens `DATA_DIR/meta.sqlite`, replays every portfolio into a new live book publishing to
/// `hub`, and makes the hub ask the book which portfolios exist.
pub fn open(
    config: &crate::config::Config,
    registry: Arc<Registry>,
    latest: Arc<LatestTable>,
    store: Arc<Store>,
    hub: Arc<fanout::Hub>,
) -> anyhow::Result<Parts> {
    use anyhow::Context as _;
    let market = Arc::new(EngineMarket {
        registry: registry.clone(),
        latest,
        store: store.clone(),
    });
    let book = Arc::new(LiveBook::new(
        config.portfolio.clone(),
        registry.clone(),
        market.clone(),
        hub.clone(),
        config.portfolio.min_interval(),
    ));
    hub.set_portfolio_directory(book.clone());
    let db = portfolio_core::Db::open_in(&config.engine.data_dir)
        .context("cannot open the portfolio database")?;
    let known = portfolio_core::service::registry_or(registry, move |name| store.knows(name));
    let service =
        portfolio_core::Portfolios::open(db, book.clone(), config.portfolio.clone(), known)
            .context("cannot load the portfolios")?;
    Ok(Parts {
        book,
        service: Arc::new(service),
        market,
    })
}
