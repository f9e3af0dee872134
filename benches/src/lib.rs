//! Shared workloads for the nexamd benches: one producer fanning ticks out to three consumers,
//! over the nexamd [`engine::Ring`] and over baselines (crossbeam-channel, tokio broadcast, the
//! `disruptor` crate), plus the paced publish -> consume latency runs.
//!
//! Every consumer reads every tick it gets into a [`Tally`] (an order check and a checksum over
//! several fields), and every run is checked against the ticks produced, so a variant can neither
//! be optimised away nor silently drop ticks. A consumer that may be lapped (the ring's
//! non-gating one, tokio broadcast receivers) counts what it missed instead.

pub mod latency;
pub mod throughput;

use engine::{InstrumentId, Price, Qty, Quote, Tick};

/// The `i`-th tick of a run (0-based). `ts_event` carries `i`, which consumers use to check
/// order; the other fields vary with `i` so the checksum covers them.
#[inline]
pub fn make_tick(i: u64) -> Tick {
    let n = i as i64;
    let bid = 1_000_000 + (n & 0xFFFF);
    Tick::quote(
        InstrumentId((i & 0x3FF) as u32),
        n,
        n ^ 0x5A5A,
        Quote {
            bid: Price::from_units(bid),
            bid_size: Qty::from_units(1 + (n % 7)),
            ask: Price::from_units(bid + 1 + (n & 3)),
            ask_size: Qty::from_units(2 + (n % 11)),
        },
    )
}

/// What a consumer adds to its checksum for one tick: a mix of the tick's fields.
#[inline]
pub fn tick_value(t: &Tick) -> u64 {
    let mut v = (t.ts_event as u64)
        .wrapping_mul(31)
        .wrapping_add(t.ts_recv as u64)
        .wrapping_add(u64::from(t.instrument.0) << 20);
    if let Some(q) = t.as_quote() {
        v = v
            .wrapping_add(q.bid.units() as u64)
            .wrapping_add((q.bid_size.units() as u64) << 8)
            .wrapping_add((q.ask.units() as u64) << 16)
            .wrapping_add((q.ask_size.units() as u64) << 24);
    }
    v
}

/// The checksum a consumer should end with for ticks `from..to` (no gaps).
pub fn expected_sum(from: u64, to: u64) -> u64 {
    (from..to).fold(0u64, |acc, i| acc.wrapping_add(tick_value(&make_tick(i))))
}

/// What one consumer saw in one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Index of the tick expected next.
    next: u64,
    /// Wrapping sum of [`tick_value`] over the ticks delivered.
    sum: u64,
    /// Ticks delivered.
    pub delivered: u64,
    /// Ticks skipped because the consumer was lapped (or lagged).
    pub missed: u64,
    /// Skipped ranges: (first index, count).
    pub gaps: Vec<(u64, u64)>,
    /// Ticks (or gaps) that did not start where the previous one ended.
    pub disorder: u64,
}

impl Tally {
    /// Counts one delivered tick.
    #[inline]
    pub fn on_tick(&mut self, t: &Tick) {
        let index = t.ts_event as u64;
        if index != self.next {
            self.disorder += 1;
        }
        self.next = index + 1;
        self.sum = self.sum.wrapping_add(tick_value(t));
        self.delivered += 1;
    }

    /// Counts `count` skipped ticks starting at index `first`.
    #[cold]
    pub fn on_gap(&mut self, first: u64, count: u64) {
        if first != self.next {
            self.disorder += 1;
        }
        self.gaps.push((first, count));
        self.missed += count;
        self.next = first + count;
    }

    /// Ticks accounted for: delivered plus missed.
    pub fn seen(&self) -> u64 {
        self.delivered + self.missed
    }

    /// Checks that the consumer accounted for ticks `0..produced` in order, and that its
    /// checksum plus the checksum of what it missed is `total` (= `expected_sum(0, produced)`).
    pub fn check(&self, produced: u64, total: u64) -> Result<(), String> {
        if self.seen() != produced {
            return Err(format!(
                "delivered {} + missed {} != produced {produced}",
                self.delivered, self.missed
            ));
        }
        if self.disorder != 0 {
            return Err(format!("{} ticks out of order", self.disorder));
        }
        let skipped = self.gaps.iter().fold(0u64, |acc, &(first, count)| {
            acc.wrapping_add(expected_sum(first, first + count))
        });
        if self.sum.wrapping_add(skipped) != total {
            return Err("checksum mismatch".to_owned());
        }
        Ok(())
    }
}

/// splitmix64: small, fast and deterministic, good enough for synthetic market data.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        engine::random::splitmix64(&mut self.0)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-300);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The name of synthetic instrument `i`: `SIM:AAA`, `SIM:AAB`, ... (17,576 of them).
pub fn instrument_name(i: u32) -> String {
    let letter = |n: u32| char::from(b'A' + (n % 26) as u8);
    format!("SIM:{}{}{}", letter(i / 676), letter(i / 26), letter(i))
}

/// Formats a rate as e.g. `12.34 M/s`.
pub fn fmt_rate(per_sec: f64) -> String {
    format!("{:.2} M/s", per_sec / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throughput::{Placement, VARIANTS};

    #[test]
    fn a_tally_accepts_every_tick_in_order() {
        let mut t = Tally::default();
        for i in 0..100 {
            t.on_tick(&make_tick(i));
        }
        assert_eq!(t.check(100, expected_sum(0, 100)), Ok(()));
    }

    #[test]
    fn a_tally_accounts_for_gaps() {
        let mut t = Tally::default();
        for i in 0..10 {
            t.on_tick(&make_tick(i));
        }
        t.on_gap(10, 5);
        for i in 15..20 {
            t.on_tick(&make_tick(i));
        }
        assert_eq!(t.check(20, expected_sum(0, 20)), Ok(()));
        assert_eq!((t.delivered, t.missed), (15, 5));
    }

    #[test]
    fn a_tally_catches_drops_reorders_and_corruption() {
        let total = expected_sum(0, 3);
        let mut dropped = Tally::default();
        dropped.on_tick(&make_tick(0));
        dropped.on_tick(&make_tick(2));
        assert!(dropped.check(3, total).is_err());

        let mut reordered = Tally::default();
        for i in [0, 2, 1] {
            reordered.on_tick(&make_tick(i));
        }
        assert!(reordered.check(3, total).is_err());

        let mut corrupt = Tally::default();
        for i in 0..3 {
            let mut t = make_tick(i);
            if i == 1 {
                t.ts_recv += 1;
            }
            corrupt.on_tick(&t);
        }
        assert_eq!(corrupt.check(3, total), Err("checksum mismatch".to_owned()));
    }

    #[test]
    fn every_variant_delivers_every_tick() {
        for v in VARIANTS {
            let report = (v.run)(20_000, None);
            assert_eq!(report.check(), Ok(()), "{}", v.name);
            assert_eq!(report.produced, 20_000, "{}", v.name);
        }
    }

    #[test]
    fn every_variant_delivers_every_tick_with_its_threads_pinned() {
        // Every thread on core 0, which every machine has: the pinned code path, end to end.
        let all_on_core_0 = Placement::parse("0000").expect("core 0 exists");
        for v in VARIANTS {
            let report = (v.run)(20_000, Some(all_on_core_0));
            assert_eq!(report.check(), Ok(()), "{}", v.name);
        }
    }

    #[test]
    fn a_placement_is_four_existing_cores() {
        let p = Placement::parse("0000").unwrap();
        assert_eq!((p.producer(), p.consumer(0), p.consumer(2)), (0, 0, 0));
        assert_eq!(p.to_string(), "0000");
        let err = |spec: &str| Placement::parse(spec).unwrap_err();
        assert!(err("000").contains("expected 4 digits"), "{}", err("000"));
        assert!(err("00000").contains("expected 4 digits"));
        assert!(err("0a00").contains("expected digits"));
        assert!(
            err("0009").contains("core 9 does not exist"),
            "{}",
            err("0009")
        );
    }

    #[test]
    fn the_paced_latency_runs_deliver_every_tick() {
        let cfg = latency::LatencyConfig {
            ticks: 2_000,
            rate: 200_000,
            warmup: 100,
            capacity: 1024,
            pace: latency::Pace::Yield,
        };
        for report in [
            latency::ring(cfg, engine::WaitStrategy::default()),
            latency::crossbeam(cfg),
            latency::tokio_broadcast(cfg),
        ] {
            assert_eq!(report.produced, 2_000);
            // Warm-up ticks are not recorded; a missed tick may be a warm-up one.
            let recorded = report.merged().len();
            assert!(recorded <= 3 * 1_900 && recorded + report.missed >= 3 * 1_900);
        }
    }
}
