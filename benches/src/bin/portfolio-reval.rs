//! Live portfolio revaluation: 10,000 portfolios × 20 positions over 1,000 instruments, fed
//! trades the way the engine's portfolio consumer does (the book locked once per batch, then
//! due valuations published).
//!
//! `cargo run --release -p benches --bin portfolio-reval -- [--portfolios N] [--positions K]
//!  [--instruments M] [--ticks T] [--rate R] [--batch B] [--subscribed S] [--rounds X]`
//!
//! Each round runs, one after the other on one thread:
//! - `max`: as many trades as fast as possible, in batches of B: the sustained rate;
//! - `paced`: trades at R a second (a batch of B every B/R seconds, as the feed publishes),
//!   recording per trade the time from its batch's scheduled arrival to the end of its own
//!   revaluation (HDR histogram);
//! - `full` (baseline): the same trades, but each one revalues every affected portfolio in
//!   full (`Live::valuation`) instead of updating only the affected positions.
//!
//! S portfolios have a subscriber (their valuations are built and encoded at most 10 a second,
//! as in the engine); the rest are revalued but not published.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use engine::publish::ValuationSink;
use engine::{InstrumentId, Price, Qty, Registry};
use hdrhistogram::Histogram;
use portfolio_core::book::LiveBook;
use portfolio_core::currency::CurrencyConfig;
use portfolio_core::ledger::Ledger;
use portfolio_core::model::{CostBasis, Live, MarketData, Portfolio, Transaction, TxKind};

/// Counts published valuations; `subscribed` portfolios (ids 1..=S) have a listener.
#[derive(Debug)]
struct CountingSink {
    subscribed: u64,
    published: AtomicU64,
    bytes: AtomicU64,
}

impl ValuationSink for CountingSink {
    fn publish_valuation(&self, _portfolio: u64, message: String, _ts_recv: i64) {
        self.published.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(message.len() as u64, Ordering::Relaxed);
    }

    fn forget_portfolio(&self, _portfolio: u64) {}

    fn has_subscribers(&self, portfolio: u64) -> bool {
        portfolio <= self.subscribed
    }
}

/// Every instrument last traded at 100.
#[derive(Debug)]
struct Flat;

impl MarketData for Flat {
    fn last_trade(&self, _instrument: &str) -> Option<Price> {
        Some(Price::from_units(100_000_000_000))
    }

    fn close_before(&self, _instrument: &str, _day_start: i64) -> Option<Price> {
        Some(Price::from_units(99_000_000_000))
    }
}

/// xorshift64*: deterministic and cheap.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Args {
    portfolios: u64,
    positions: usize,
    instruments: u64,
    ticks: usize,
    rate: u64,
    batch: usize,
    subscribed: u64,
    rounds: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        portfolios: 10_000,
        positions: 20,
        instruments: 1_000,
        ticks: 1_000_000,
        rate: 100_000,
        batch: 100,
        subscribed: 100,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        let n: u64 = value
            .parse()
            .with_context(|| format!("bad {flag} {value:?}"))?;
        match flag.as_str() {
            "--portfolios" => args.portfolios = n,
            "--positions" => args.positions = n as usize,
            "--instruments" => args.instruments = n,
            "--ticks" => args.ticks = n as usize,
            "--rate" => args.rate = n,
            "--batch" => args.batch = n as usize,
            "--subscribed" => args.subscribed = n,
            "--rounds" => args.rounds = n as usize,
            other => bail!("unknown flag {other}"),
        }
    }
    if args.positions as u64 > args.instruments {
        bail!("--positions must not exceed --instruments");
    }
    Ok(args)
}

/// Builds the book; returns it, the instruments' ids and which portfolios hold each.
fn build(
    args: &Args,
    sink: Arc<CountingSink>,
) -> Result<(LiveBook, Vec<InstrumentId>, Vec<Vec<u64>>)> {
    let registry = Arc::new(Registry::new());
    let ids: Vec<InstrumentId> = (0..args.instruments)
        .map(|i| registry.intern(&format!("SIM:I{i:04}")))
        .collect::<Result<_, _>>()?;
    let mut currencies = CurrencyConfig::default();
    currencies.fx.clear();
    let book = LiveBook::new(
        currencies,
        registry,
        Arc::new(Flat),
        sink,
        Duration::from_millis(100),
    );
    let mut holders: Vec<Vec<u64>> = vec![Vec::new(); ids.len()];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for p in 1..=args.portfolios {
        let mut ledger = Ledger::new(CostBasis::Fifo, false);
        let mut held: Vec<u64> = Vec::with_capacity(args.positions);
        while held.len() < args.positions {
            let i = rng.below(args.instruments);
            if held.contains(&i) {
                continue;
            }
            held.push(i);
            let tx = Transaction {
                id: 0,
                kind: TxKind::Buy,
                instrument: Some(format!("SIM:I{i:04}")),
                quantity: Qty::from_units((1 + rng.below(500) as i64) * 1_000_000_000),
                price: Some(Price::from_units(100_000_000_000)),
                fee: None,
                currency: None,
                ts: 0,
            };
            ledger.apply(&tx, "USD")?;
            holders[i as usize].push(p);
        }
        let portfolio = Portfolio {
            id: p,
            owner: "bench".into(),
            name: format!("p{p}"),
            base_currency: "USD".into(),
            cost_basis: CostBasis::Fifo,
            allow_short: false,
            created_ts: 0,
        };
        book.update(&portfolio, &ledger);
    }
    Ok((book, ids, holders))
}

/// The trades: (instrument index, price units), a random walk per instrument.
fn trades(args: &Args) -> Vec<(usize, i64)> {
    let mut rng = Rng(42);
    let mut prices = vec![100_000_000_000i64; args.instruments as usize];
    (0..args.ticks)
        .map(|_| {
            let i = rng.below(args.instruments) as usize;
            prices[i] += (rng.below(2001) as i64 - 1000) * 1_000_000;
            (i, prices[i].max(1_000_000))
        })
        .collect()
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let sink = Arc::new(CountingSink {
        subscribed: args.subscribed,
        published: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    });
    let started = Instant::now();
    let (book, ids, holders) = build(&args, sink.clone())?;
    let affected: f64 = holders.iter().map(|h| h.len() as f64).sum::<f64>() / holders.len() as f64;
    eprintln!(
        "built {} portfolios × {} positions over {} instruments in {:.1} s; {:.0} positions per instrument",
        args.portfolios,
        args.positions,
        args.instruments,
        started.elapsed().as_secs_f64(),
        affected
    );
    let trades = trades(&args);
    println!(
        "| round | variant | trades | trades/s | p50 µs | p99 µs | p99.9 µs | max µs | valuations published |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut max_rates = Vec::new();
    let mut full_rates = Vec::new();
    let mut paced = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    for round in 1..=args.rounds {
        // Sustained: as fast as it goes.
        let before = sink.published.load(Ordering::Relaxed);
        let start = Instant::now();
        for chunk in trades.chunks(args.batch) {
            let mut guard = book.lock();
            for &(i, price) in chunk {
                guard.on_trade(ids[i], Price::from_units(price), 1, 1);
            }
            book.flush(&mut guard);
        }
        let rate = trades.len() as f64 / start.elapsed().as_secs_f64();
        max_rates.push(rate);
        println!(
            "| {round} | max | {} | {:.0} | | | | | {} |",
            trades.len(),
            rate,
            sink.published.load(Ordering::Relaxed) - before
        );

        // Paced at --rate: latency from a trade's scheduled arrival to its revaluation.
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
        let before = sink.published.load(Ordering::Relaxed);
        let period = Duration::from_secs_f64(args.batch as f64 / args.rate as f64);
        let start = Instant::now();
        for (k, chunk) in trades.chunks(args.batch).enumerate() {
            let due = start + period * k as u32;
            while Instant::now() < due {
                std::hint::spin_loop();
            }
            // A batch arrives at once, as the feed publishes it; each trade waits for the ones
            // before it in the batch and for its own revaluation.
            let mut guard = book.lock();
            for &(i, price) in chunk {
                guard.on_trade(ids[i], Price::from_units(price), 1, 1);
                let waited = Instant::now().saturating_duration_since(due);
                histogram.record(waited.as_nanos().max(1) as u64)?;
            }
            book.flush(&mut guard);
        }
        let achieved = trades.len() as f64 / start.elapsed().as_secs_f64();
        println!(
            "| {round} | paced {} /s | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            args.rate,
            histogram.len(),
            achieved,
            histogram.value_at_quantile(0.5) as f64 / 1e3,
            histogram.value_at_quantile(0.99) as f64 / 1e3,
            histogram.value_at_quantile(0.999) as f64 / 1e3,
            histogram.max() as f64 / 1e3,
            sink.published.load(Ordering::Relaxed) - before
        );
        paced.add(&histogram)?;

        // Baseline: revalue every affected portfolio in full on each trade (fewer trades).
        let sample = &trades[..trades.len().min(2_000)];
        let start = Instant::now();
        for &(i, price) in sample {
            book.lock().on_trade(ids[i], Price::from_units(price), 1, 1);
            for &p in &holders[i] {
                std::hint::black_box(book.valuation(p));
            }
        }
        let rate = sample.len() as f64 / start.elapsed().as_secs_f64();
        full_rates.push(rate);
        println!(
            "| {round} | full revaluation (baseline) | {} | {:.0} | | | | | |",
            sample.len(),
            rate
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (max, full) = (median(&mut max_rates), median(&mut full_rates));
    println!();
    println!(
        "median sustained {:.0} trades/s; full-revaluation baseline {:.0} trades/s ({:.0}x); paced {} /s over all rounds: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
        max,
        full,
        max / full,
        args.rate,
        paced.value_at_quantile(0.5) as f64 / 1e3,
        paced.value_at_quantile(0.99) as f64 / 1e3,
        paced.value_at_quantile(0.999) as f64 / 1e3,
        paced.max() as f64 / 1e3
    );
    println!(
        "valuations published: {} ({} bytes)",
        sink.published.load(Ordering::Relaxed),
        sink.bytes.load(Ordering::Relaxed)
    );
    Ok(())
}
