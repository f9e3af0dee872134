//! The synthetic feed: a seeded, offline market of `SIM:` instruments, the default feed.
//!
//! Config (`[feeds.synthetic]`):
//!
//! ```toml
//! [feeds.synthetic]
//! instruments = 100      # a count (SIM:AAA, SIM:AAB, ...) or a list of names
//! rate = 10000           # ticks per second across all instruments
//! seed = 42              # the same seed gives the same ticks
//! trade_ratio = 0.25     # share of ticks that are trades
//! volatility = 0.3       # mean annualized volatility
//! ```
//!
//! Pacing: every millisecond the feed works out how many ticks are due since it started and
//! publishes them as one batch, so the long-run rate is exact whatever the timer's jitter. If
//! it falls more than a second behind (the engine is overloaded), it drops the excess backlog,
//! counts it and logs once per occurrence rather than bursting.

mod generator;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use engine::{InstrumentId, Registry, Tick, clock};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::feed::{Feed, FeedContext, FeedFuture, FeedState};
pub use generator::{Generator, GeneratorParams};

/// Most instruments a count may ask for: three letters, AAA to ZZZ.
pub const MAX_GENERATED_INSTRUMENTS: u32 = 26 * 26 * 26;
/// Highest accepted rate, ticks per second.
pub const MAX_RATE: u64 = 50_000_000;
/// Ticks generated and published per batch.
const BATCH: usize = 1024;

/// Which instruments to simulate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Instruments {
    /// `n` generated names: `SIM:AAA`, `SIM:AAB`, ...
    Count(u32),
    /// These names, each `VENUE:SYMBOL`.
    Names(Vec<String>),
}

impl Default for Instruments {
    fn default() -> Self {
        Instruments::Count(100)
    }
}

/// `[feeds.synthetic]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticConfig {
    /// Whether the feed runs.
    pub enabled: bool,
    /// What to simulate.
    pub instruments: Instruments,
    /// Ticks per second across all instruments.
    pub rate: u64,
    /// PRNG seed.
    pub seed: u64,
    /// Share of ticks that are trades.
    pub trade_ratio: f64,
    /// Mean annualized volatility.
    pub volatility: f64,
    /// FX pairs (or other instruments) simulated beside the generated ones, by name, with
    /// their starting price; they move at a quarter of `volatility`.
    pub fx: BTreeMap<String, f64>,
}

/// The default FX pairs: EUR/USD, GBP/USD and USD/JPY.
pub fn default_fx() -> BTreeMap<String, f64> {
    [
        ("SIM:EURUSD", 1.085),
        ("SIM:GBPUSD", 1.27),
        ("SIM:USDJPY", 151.2),
    ]
    .into_iter()
    .map(|(name, mid)| (name.to_owned(), mid))
    .collect()
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            enabled: true,
            instruments: Instruments::default(),
            rate: 10_000,
            seed: 42,
            trade_ratio: 0.25,
            volatility: 0.3,
            fx: default_fx(),
        }
    }
}

impl SyntheticConfig {
    /// Checks every value; `prefix` is the table's key path, used in the error.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |key: &str, reason: String| Error::Config {
            key: format!("{prefix}.{key}"),
            reason,
        };
        match &self.instruments {
            Instruments::Count(n) if !(1..=MAX_GENERATED_INSTRUMENTS).contains(n) => {
                return Err(bad(
                    "instruments",
                    format!("must be 1 to {MAX_GENERATED_INSTRUMENTS}, got {n}"),
                ));
            }
            Instruments::Names(names) if names.is_empty() => {
                return Err(bad("instruments", "must not be empty".into()));
            }
            Instruments::Names(names) => {
                for name in names {
                    engine::registry::validate_name(name)
                        .map_err(|e| bad("instruments", e.to_string()))?;
                }
            }
            Instruments::Count(_) => {}
        }
        if !(1..=MAX_RATE).contains(&self.rate) {
            return Err(bad(
                "rate",
                format!("must be 1 to {MAX_RATE} ticks/s, got {}", self.rate),
            ));
        }
        if !(0.0..=1.0).contains(&self.trade_ratio) {
            return Err(bad(
                "trade_ratio",
                format!("must be between 0 and 1, got {}", self.trade_ratio),
            ));
        }
        for (name, mid) in &self.fx {
            engine::registry::validate_name(name).map_err(|e| bad("fx", e.to_string()))?;
            if !(mid.is_finite() && *mid > 0.0 && *mid < 1e6) {
                return Err(bad(
                    &format!("fx.{name}"),
                    format!("must be a price between 0 and 1e6, got {mid}"),
                ));
            }
        }
        if !(self.volatility.is_finite() && (0.0..=5.0).contains(&self.volatility)) {
            return Err(bad(
                "volatility",
                format!("must be between 0 and 5, got {}", self.volatility),
            ));
        }
        Ok(())
    }

    /// The instrument names to simulate.
    pub fn instrument_names(&self) -> Vec<String> {
        let mut names = match &self.instruments {
            Instruments::Names(names) => names.clone(),
            Instruments::Count(n) => (0..*n).map(generated_name).collect(),
        };
        for name in self.fx.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    fn params(&self) -> GeneratorParams {
        GeneratorParams {
            rate: self.rate,
            trade_ratio: self.trade_ratio,
            volatility: self.volatility,
            seed: self.seed,
        }
    }
}

/// `SIM:AAA` for 0, `SIM:AAB` for 1, ... `SIM:ZZZ` for 17575.
fn generated_name(i: u32) -> String {
    let letter = |k: u32| char::from(b'A' + (i / 26u32.pow(k) % 26) as u8);
    format!("SIM:{}{}{}", letter(2), letter(1), letter(0))
}

/// The synthetic feed.
#[derive(Debug, Clone)]
pub struct SyntheticFeed {
    config: SyntheticConfig,
    ids: Vec<InstrumentId>,
}

impl SyntheticFeed {
    /// A feed from validated config.
    pub fn new(config: SyntheticConfig) -> SyntheticFeed {
        SyntheticFeed {
            config,
            ids: Vec::new(),
        }
    }
}

impl Feed for SyntheticFeed {
    fn name(&self) -> &str {
        "synthetic"
    }

    fn register(&mut self, registry: &Registry) -> Result<()> {
        self.ids = self
            .config
            .instrument_names()
            .iter()
            .map(|name| registry.intern(name))
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    fn run(mut self: Box<Self>, ctx: FeedContext) -> FeedFuture {
        Box::pin(async move {
            if self.ids.is_empty() {
                self.register(&ctx.registry)?;
            }
            run(self.config, self.ids, ctx).await
        })
    }
}

async fn run(config: SyntheticConfig, ids: Vec<InstrumentId>, mut ctx: FeedContext) -> Result<()> {
    // FX pairs start at their configured price; the rest draw theirs from the seed.
    let fx: Vec<(InstrumentId, f64)> = config
        .fx
        .iter()
        .filter_map(|(name, mid)| Some((ctx.registry.id(name)?, *mid)))
        .collect();
    let plain: Vec<InstrumentId> = ids
        .iter()
        .copied()
        .filter(|id| !fx.iter().any(|(f, _)| f == id))
        .collect();
    let mut generator = Generator::new(&plain, config.params());
    for (id, mid) in fx {
        generator.add_fixed(id, mid, config.volatility / 4.0, config.rate);
    }
    let mut batch: Vec<Tick> = Vec::with_capacity(BATCH);
    let rate = u128::from(config.rate);
    let max_backlog = config.rate; // one second of ticks
    let mut timer = tokio::time::interval(Duration::from_millis(1));
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = Instant::now();
    let mut emitted: u64 = 0;
    let mut dropped: u64 = 0;
    ctx.stats.set_state(FeedState::Live);
    tracing::info!(
        instruments = ids.len(),
        rate = config.rate,
        seed = config.seed,
        "synthetic feed live"
    );
    loop {
        tokio::select! {
            biased;
            () = ctx.shutdown.cancelled() => break,
            _ = timer.tick() => {}
        }
        let due = (start.elapsed().as_nanos() * rate / 1_000_000_000) as u64;
        if due - emitted > max_backlog {
            let skip = due - emitted - max_backlog;
            dropped += skip;
            emitted += skip;
            tracing::warn!(
                skipped = skip,
                total_skipped = dropped,
                "synthetic feed fell over a second behind; skipping backlog"
            );
        }
        while emitted < due {
            let n = ((due - emitted) as usize).min(BATCH);
            let now = clock::now_ns();
            batch.clear();
            batch.extend((0..n).map(|_| generator.next_tick(now)));
            ctx.producer.publish_batch(&batch);
            ctx.stats.ticks.add_single_writer(n as u64);
            ctx.stats.messages.add_single_writer(n as u64);
            emitted += n as u64;
            if ctx.shutdown.is_cancelled() {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::{FeedStats, FeedThread};
    use engine::{Registry, Ring, WaitOutcome};
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;

    #[test]
    fn generated_names_count_in_base_26() {
        assert_eq!(generated_name(0), "SIM:AAA");
        assert_eq!(generated_name(1), "SIM:AAB");
        assert_eq!(generated_name(26), "SIM:ABA");
        assert_eq!(generated_name(MAX_GENERATED_INSTRUMENTS - 1), "SIM:ZZZ");
        let config = SyntheticConfig::default();
        // 100 generated names and the three default FX pairs.
        assert_eq!(config.instrument_names().len(), 103);
        assert!(config.instrument_names().contains(&"SIM:EURUSD".to_owned()));
    }

    #[test]
    fn config_parses_and_rejects_bad_values() {
        let config: SyntheticConfig =
            toml::from_str("instruments = [\"SIM:EURUSD\", \"SIM:X\"]\nrate = 500\nseed = 1")
                .unwrap();
        // A listed FX pair is not added twice.
        assert_eq!(
            config.instrument_names(),
            ["SIM:EURUSD", "SIM:X", "SIM:GBPUSD", "SIM:USDJPY"]
        );
        assert_eq!(
            (config.rate, config.seed, config.trade_ratio),
            (500, 1, 0.25)
        );
        config.validate("feeds.synthetic").unwrap();

        let unknown = toml::from_str::<SyntheticConfig>("rat = 5").unwrap_err();
        assert!(unknown.to_string().contains("rat"), "{unknown}");

        for (text, key) in [
            ("rate = 0", "feeds.synthetic.rate"),
            ("instruments = 0", "feeds.synthetic.instruments"),
            ("instruments = []", "feeds.synthetic.instruments"),
            ("instruments = [\"nocolon\"]", "feeds.synthetic.instruments"),
            ("trade_ratio = 1.5", "feeds.synthetic.trade_ratio"),
            ("volatility = -1.0", "feeds.synthetic.volatility"),
            ("volatility = nan", "feeds.synthetic.volatility"),
        ] {
            let config: SyntheticConfig = toml::from_str(text).unwrap();
            match config.validate("feeds.synthetic") {
                Err(Error::Config { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_feed_publishes_at_its_rate_and_stops_on_shutdown() {
        let (ring, mut consumers) = Ring::builder(1 << 14).gating("test").build().unwrap();
        let registry = Arc::new(Registry::new());
        let stats = Arc::new(FeedStats::new("synthetic"));
        let shutdown = CancellationToken::new();
        let config = SyntheticConfig {
            instruments: Instruments::Count(10),
            rate: 20_000,
            ..SyntheticConfig::default()
        };
        let feed = FeedThread::spawn(
            Box::new(SyntheticFeed::new(config)),
            FeedContext {
                producer: ring.producer().unwrap(),
                registry: registry.clone(),
                stats: stats.clone(),
                shutdown: shutdown.clone(),
            },
        )
        .unwrap();
        // Read until 5,000 ticks have arrived, then stop the feed.
        let consumer = &mut consumers[0];
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut read = 0u64;
        let mut last_seq = 0;
        while read < 5_000 {
            assert_eq!(
                consumer.wait(Some(deadline)),
                WaitOutcome::Ready,
                "feed too slow"
            );
            read += consumer
                .poll(1024, |t| {
                    assert_eq!(t.seq, last_seq + 1);
                    last_seq = t.seq;
                    assert!(registry.get(t.instrument).unwrap().name.starts_with("SIM:"));
                })
                .unwrap() as u64;
        }
        assert_eq!(stats.state(), FeedState::Live);
        shutdown.cancel();
        feed.join().unwrap();
        assert_eq!(stats.state(), FeedState::Stopped);
        ring.close();
        while consumer.wait(Some(deadline)) == WaitOutcome::Ready {
            read += consumer.poll(1024, |_| {}).unwrap() as u64;
        }
        assert_eq!(read, stats.ticks.get(), "every published tick was read");
        // Ten generated instruments and the three default FX pairs.
        assert_eq!(registry.len(), 13);
    }
}
