//! The synthetic market: geometric Brownian motion per instrument, quantized to a tick size,
//! with a quoted spread, quote and trade sizes, and trades at the touch.
//!
//! Only simulated values go through `f64` here; they are quantized to whole ticks and lots
//! before they become fixed-point. Nothing a provider sends is ever parsed this way.

use engine::{InstrumentId, Price, Qty, Quote, Side, Tick, Trade};

/// Seconds in a trading year (252 days of 6.5 hours): the unit the volatilities are quoted in.
const TRADING_YEAR_SECS: f64 = 252.0 * 6.5 * 3600.0;
const UNITS: f64 = 1e9;

/// xoshiro256++ seeded through splitmix64: small, fast and the same on every platform, so a
/// seed always gives the same market.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut splitmix = || engine::random::splitmix64(&mut x);
        Rng {
            s: [splitmix(), splitmix(), splitmix(), splitmix()],
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Standard normal, by Box-Muller.
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]: keeps ln finite
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-uniform in [lo, hi).
    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.unit() * (hi.ln() - lo.ln())).exp()
    }
}

/// One simulated instrument.
#[derive(Debug, Clone)]
struct SimInstrument {
    id: InstrumentId,
    mid: f64,
    /// Annualized volatility.
    sigma: f64,
    /// Minimum price increment, in 1e-9 units.
    tick: i64,
    /// Half the quoted spread, as a fraction of the price.
    half_spread: f64,
    next_trade_id: u64,
}

/// Tuning for [`Generator`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeneratorParams {
    /// Ticks per second across all instruments: sets the simulated time step.
    pub rate: u64,
    /// Share of ticks that are trades, in [0, 1].
    pub trade_ratio: f64,
    /// Mean annualized volatility; each instrument draws its own around it.
    pub volatility: f64,
    /// Seed: the same seed gives the same market.
    pub seed: u64,
}

/// Generates the synthetic market, one tick at a time.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: Rng,
    instruments: Vec<SimInstrument>,
    trade_ratio: f64,
    /// sqrt of one instrument's expected time step, in trading years.
    sqrt_dt: f64,
    dt: f64,
}

impl Generator {
    /// A market over `ids`. Starting prices (5 to 500), volatilities (0.5× to 1.5× the mean)
    /// and spreads (1 to 10 bp) are drawn from the seed.
    pub fn new(ids: &[InstrumentId], params: GeneratorParams) -> Generator {
        let mut rng = Rng::new(params.seed);
        let instruments = ids
            .iter()
            .map(|&id| {
                let mid = rng.log_uniform(5.0, 500.0);
                SimInstrument {
                    id,
                    mid,
                    sigma: params.volatility * (0.5 + rng.unit()),
                    tick: if mid < 10.0 { 1_000_000 } else { 10_000_000 },
                    half_spread: (1.0 + 9.0 * rng.unit()) / 2.0 / 10_000.0,
                    next_trade_id: 1,
                }
            })
            .collect();
        // Each instrument moves on average once every n / rate seconds.
        let dt = ids.len().max(1) as f64 / params.rate.max(1) as f64 / TRADING_YEAR_SECS;
        Generator {
            rng,
            instruments,
            trade_ratio: params.trade_ratio,
            sqrt_dt: dt.sqrt(),
            dt,
        }
    }

    /// Adds an FX pair (or any instrument with a known price) starting at `mid`, with an
    /// annualized volatility of `sigma`, a tick of 1e-5 (0.001 from 50 up) and a spread of
    /// 1 basis point.
    pub fn add_fixed(&mut self, id: InstrumentId, mid: f64, sigma: f64, rate: u64) {
        self.instruments.push(SimInstrument {
            id,
            mid,
            sigma,
            tick: if mid < 50.0 { 10_000 } else { 1_000_000 },
            half_spread: 0.5 / 10_000.0,
            next_trade_id: 1,
        });
        let dt = self.instruments.len() as f64 / rate.max(1) as f64 / TRADING_YEAR_SECS;
        (self.dt, self.sqrt_dt) = (dt, dt.sqrt());
    }

    /// The next tick, stamped with `ts` as both event and receive time.
    pub fn next_tick(&mut self, ts: i64) -> Tick {
        let index = self.rng.below(self.instruments.len() as u64) as usize;
        let z = self.rng.normal();
        let is_trade = self.rng.unit() < self.trade_ratio;
        let side_draw = self.rng.unit();
        let size_draw = self.rng.unit();
        let ask_size_draw = self.rng.below(20);
        let sim = &mut self.instruments[index];
        let move_ = -0.5 * sim.sigma * sim.sigma * self.dt + sim.sigma * self.sqrt_dt * z;
        sim.mid *= move_.exp();
        // Quantize the touch to whole ticks; the spread is at least one tick.
        let tick = sim.tick as f64;
        let bid = ((sim.mid * (1.0 - sim.half_spread) * UNITS) / tick).floor() as i64 * sim.tick;
        let ask = (((sim.mid * (1.0 + sim.half_spread) * UNITS) / tick).ceil() as i64 * sim.tick)
            .max(bid + sim.tick);
        if is_trade {
            // Buyers lift the ask when the price rose, sellers hit the bid when it fell.
            let buy = side_draw < 0.5 + (z * 0.25).clamp(-0.4, 0.4);
            let lots = (size_draw * 500f64.ln()).exp().round() as i64;
            let id = sim.next_trade_id;
            sim.next_trade_id += 1;
            Tick::trade(
                sim.id,
                ts,
                ts,
                Trade {
                    price: Price::from_units(if buy { ask } else { bid }),
                    size: Qty::from_units(lots.max(1) * 1_000_000_000),
                    side: if buy { Side::Buy } else { Side::Sell },
                    id,
                },
            )
        } else {
            let bid_lots = 100 * (1 + (size_draw * 20.0) as i64);
            let ask_lots = 100 * (1 + ask_size_draw as i64);
            Tick::quote(
                sim.id,
                ts,
                ts,
                Quote {
                    bid: Price::from_units(bid),
                    bid_size: Qty::from_units(bid_lots * 1_000_000_000),
                    ask: Price::from_units(ask),
                    ask_size: Qty::from_units(ask_lots * 1_000_000_000),
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::Payload;

    fn params(seed: u64) -> GeneratorParams {
        GeneratorParams {
            rate: 10_000,
            trade_ratio: 0.25,
            volatility: 0.3,
            seed,
        }
    }

    fn ids(n: u32) -> Vec<InstrumentId> {
        (0..n).map(InstrumentId).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_ticks() {
        let mut a = Generator::new(&ids(100), params(7));
        let mut b = Generator::new(&ids(100), params(7));
        let mut c = Generator::new(&ids(100), params(8));
        let ta: Vec<Tick> = (0..10_000).map(|i| a.next_tick(i)).collect();
        let tb: Vec<Tick> = (0..10_000).map(|i| b.next_tick(i)).collect();
        let tc: Vec<Tick> = (0..10_000).map(|i| c.next_tick(i)).collect();
        assert_eq!(ta, tb);
        assert_ne!(ta, tc);
    }

    #[test]
    fn the_market_looks_like_a_market() {
        let mut generator = Generator::new(&ids(100), params(42));
        let (mut trades, mut quotes, mut buys) = (0, 0, 0);
        let mut seen = std::collections::HashSet::new();
        let mut last_trade_id = std::collections::HashMap::new();
        for i in 0..100_000 {
            let tick = generator.next_tick(i);
            seen.insert(tick.instrument);
            match tick.payload() {
                Payload::Trade(t) => {
                    trades += 1;
                    buys += usize::from(t.side == Side::Buy);
                    assert!(t.price.units() > 0 && t.size.units() >= 1_000_000_000);
                    assert_eq!(t.size.units() % 1_000_000_000, 0, "whole lots");
                    let previous = last_trade_id.insert(tick.instrument, t.id);
                    assert_eq!(
                        t.id,
                        previous.unwrap_or(0) + 1,
                        "ids count up per instrument"
                    );
                }
                Payload::Quote(q) => {
                    quotes += 1;
                    assert!(q.bid.units() > 0 && q.bid < q.ask, "{q:?}");
                    let spread_bp =
                        (q.ask.units() - q.bid.units()) as f64 / q.bid.units() as f64 * 1e4;
                    assert!(spread_bp < 60.0, "spread {spread_bp} bp");
                    assert!(q.bid_size.units() > 0 && q.ask_size.units() > 0);
                }
            }
        }
        assert_eq!(seen.len(), 100, "every instrument ticks");
        let trade_share = trades as f64 / (trades + quotes) as f64;
        assert!((0.22..0.28).contains(&trade_share), "{trade_share}");
        let buy_share = buys as f64 / trades as f64;
        assert!((0.45..0.55).contains(&buy_share), "{buy_share}");
    }

    #[test]
    fn prices_follow_a_random_walk_not_a_drift() {
        // Over simulated time, log returns stay within what the configured volatility allows.
        let n = 20;
        let rate = 10_000u64;
        let mut generator = Generator::new(&ids(n), params(3));
        let start: Vec<f64> = generator.instruments.iter().map(|s| s.mid).collect();
        let steps_per_day = (6.5 * 3600.0 * rate as f64) as usize;
        for i in 0..steps_per_day / 100 {
            generator.next_tick(i as i64);
        }
        // A hundredth of a trading day: expected sd of the log return is sigma * sqrt(1/25200).
        for (sim, p0) in generator.instruments.iter().zip(start) {
            let r = (sim.mid / p0).ln();
            let sd = sim.sigma * (1.0 / 25200.0f64).sqrt();
            assert!(r.abs() < 6.0 * sd, "return {r} vs sd {sd}");
        }
    }

    #[test]
    fn rng_helpers_stay_in_range() {
        let mut rng = Rng::new(1);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(rng.below(7) < 7);
            sum += rng.normal();
        }
        assert!((sum / 10_000.0).abs() < 0.05);
    }
}
