//! Bars: OHLCV over a UTC-aligned interval, labelled by its start.
//!
//! A bar for interval `w` starting at `ts` covers event times in `[ts, ts + w)`, and `ts` is a
//! multiple of `w` counted from the Unix epoch (so `1d` bars start at 00:00 UTC). A bar keeps
//! the exact notional `Σ price × size` (units of 1e-18) rather than a rounded VWAP, so bars
//! combine into coarser bars without compounding rounding.

use std::fmt;
use std::str::FromStr;

use crate::fixed::{Price, Qty, SCALE};
use crate::registry::InstrumentId;

/// Nanoseconds per second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A bar width: a whole number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval(i64);

/// Why an interval text was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntervalError(pub String);

impl fmt::Display for IntervalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IntervalError {}

const UNITS: [(char, i64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

impl Interval {
    /// One second.
    pub const SECOND: Interval = Interval(1);
    /// One minute.
    pub const MINUTE: Interval = Interval(60);
    /// The longest interval accepted: 366 days.
    pub const MAX_SECONDS: i64 = 366 * 86_400;

    /// An interval of `seconds` (1 ..= [`Interval::MAX_SECONDS`]).
    pub const fn from_seconds(seconds: i64) -> Option<Interval> {
        if seconds >= 1 && seconds <= Self::MAX_SECONDS {
            Some(Interval(seconds))
        } else {
            None
        }
    }

    /// The width in seconds.
    pub const fn seconds(self) -> i64 {
        self.0
    }

    /// The width in nanoseconds.
    pub const fn nanos(self) -> i64 {
        self.0 * NANOS_PER_SEC
    }

    /// The start of the bar holding event time `ts` (ns).
    pub const fn bucket(self, ts: i64) -> i64 {
        ts.div_euclid(self.nanos()) * self.nanos()
    }

    /// Whether bars of `self` combine exactly into bars of `coarser`.
    pub const fn divides(self, coarser: Interval) -> bool {
        coarser.0 % self.0 == 0
    }
}

impl FromStr for Interval {
    type Err = IntervalError;

    /// `<n><unit>` with unit `s`, `m`, `h` or `d`: `1s`, `5s`, `1m`, `15m`, `4h`, `1d`.
    fn from_str(text: &str) -> Result<Interval, IntervalError> {
        let bad = || {
            IntervalError(format!(
                "bad interval {text:?}: expected a count and a unit s, m, h or d, like 5s, 1m, 4h or 1d"
            ))
        };
        let unit = text.chars().last().ok_or_else(bad)?;
        let (_, per) = UNITS.iter().find(|(u, _)| *u == unit).ok_or_else(bad)?;
        let count = &text[..text.len() - 1];
        if count.is_empty() || count.len() > 9 || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let count: i64 = count.parse().map_err(|_| bad())?;
        Interval::from_seconds(count * per).ok_or_else(|| {
            IntervalError(format!(
                "bad interval {text:?}: must be between 1s and 366d"
            ))
        })
    }
}

impl fmt::Display for Interval {
    /// The shortest form in the largest unit that divides the width: `90s` is `90s`,
    /// `120s` is `2m`, `86400s` is `1d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (unit, per) = UNITS
            .iter()
            .find(|(_, per)| self.0 % per == 0)
            .copied()
            .unwrap_or(('s', 1));
        write!(f, "{}{unit}", self.0 / per)
    }
}

/// Where closed bars go live (the fanout implements it; storage calls it).
pub trait BarSink: Send + Sync + std::fmt::Debug {
    /// `bar` closed, or (`amended`) a late trade changed a bar already published. `name` is
    /// the instrument's `VENUE:SYMBOL`.
    fn publish_bar(&self, name: &str, bar: &Bar, amended: bool);
}

/// One OHLCV bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// The instrument.
    pub instrument: InstrumentId,
    /// The bar's width.
    pub interval: Interval,
    /// The bar's start, ns since the Unix epoch (UTC); a multiple of the width.
    pub ts: i64,
    /// First trade's price.
    pub open: Price,
    /// Highest trade price.
    pub high: Price,
    /// Lowest trade price.
    pub low: Price,
    /// Last trade's price (by event time, then arrival).
    pub close: Price,
    /// Σ size.
    pub volume: Qty,
    /// Number of trades; `None` where the source did not say (imported bars).
    pub trades: Option<u64>,
    /// Σ price × size in units of 1e-18; `None` where the source did not say.
    pub notional: Option<i128>,
}

impl Bar {
    /// A bar of one trade.
    pub fn from_trade(
        instrument: InstrumentId,
        interval: Interval,
        ts_event: i64,
        price: Price,
        size: Qty,
    ) -> Bar {
        Bar {
            instrument,
            interval,
            ts: interval.bucket(ts_event),
            open: price,
            high: price,
            low: price,
            close: price,
            volume: size,
            trades: Some(1),
            notional: Some(price.notional_e18(size)),
        }
    }

    /// Adds a trade that happened after every trade already in the bar.
    pub fn push_trade(&mut self, price: Price, size: Qty) {
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.close = price;
        self.add_volume(size, price.notional_e18(size), Some(1));
    }

    /// Folds `next`, a bar that follows `self` in time, into `self` (resampling).
    pub fn merge(&mut self, next: &Bar) {
        self.high = self.high.max(next.high);
        self.low = self.low.min(next.low);
        self.close = next.close;
        self.volume = Qty::from_units(self.volume.units().saturating_add(next.volume.units()));
        self.trades = self.trades.zip(next.trades).map(|(a, b)| a + b);
        self.notional = self.notional.zip(next.notional).map(|(a, b)| a + b);
    }

    fn add_volume(&mut self, size: Qty, notional: i128, trades: Option<u64>) {
        self.volume = Qty::from_units(self.volume.units().saturating_add(size.units()));
        self.trades = self.trades.zip(trades).map(|(a, b)| a + b);
        self.notional = self.notional.map(|n| n + notional);
    }

    /// The end of the bar (exclusive).
    pub const fn end(&self) -> i64 {
        self.ts + self.interval.nanos()
    }

    /// Volume-weighted average price, rounded half away from zero to 1e-9; `None` without
    /// volume or notional.
    pub fn vwap(&self) -> Option<Price> {
        let notional = self.notional?;
        let volume = i128::from(self.volume.units());
        if volume == 0 {
            return None;
        }
        // notional is in 1e-18 and volume in 1e-9, so notional / volume is in 1e-9.
        let (q, r) = (notional / volume, notional % volume);
        let away = 2 * r.unsigned_abs() >= volume.unsigned_abs();
        let q = match (away, (notional < 0) != (volume < 0)) {
            (false, _) => q,
            (true, false) => q + 1,
            (true, true) => q - 1,
        };
        i64::try_from(q).ok().map(Price::from_units)
    }

    /// Appends the bar's JSON fields, without braces: `"ts":…,"open":"…",…,"vwap":"…"`.
    /// Decimals are strings holding the exact value; unknown trades or VWAP are `null`.
    pub fn write_json_fields(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(out, "\"ts\":{}", self.ts);
        let values = [
            ("open", self.open.units()),
            ("high", self.high.units()),
            ("low", self.low.units()),
            ("close", self.close.units()),
            ("volume", self.volume.units()),
        ];
        for (key, units) in values {
            let _ = write!(out, ",\"{key}\":\"");
            let _ = crate::fixed::write_scaled(units, out);
            out.push('"');
        }
        match self.trades {
            Some(n) => {
                let _ = write!(out, ",\"trades\":{n}");
            }
            None => out.push_str(",\"trades\":null"),
        }
        match self.vwap() {
            Some(vwap) => {
                out.push_str(",\"vwap\":\"");
                let _ = crate::fixed::write_scaled(vwap.units(), out);
                out.push('"');
            }
            None => out.push_str(",\"vwap\":null"),
        }
    }

    /// The notional that gives `vwap` exactly for this bar's volume (for sources that state a
    /// VWAP rather than a notional).
    pub fn notional_for_vwap(vwap: Price, volume: Qty) -> i128 {
        vwap.notional_e18(volume)
    }

    /// A notional from quote-volume text in whole units (1e-9 fixed point), as 1e-18 units.
    pub fn notional_from_quote_volume(quote_volume: Qty) -> i128 {
        i128::from(quote_volume.units()) * i128::from(SCALE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("1s", 1, "1s")]
    #[case("5s", 5, "5s")]
    #[case("90s", 90, "90s")]
    #[case("120s", 120, "2m")]
    #[case("1m", 60, "1m")]
    #[case("15m", 900, "15m")]
    #[case("1h", 3_600, "1h")]
    #[case("4h", 14_400, "4h")]
    #[case("1d", 86_400, "1d")]
    #[case("24h", 86_400, "1d")]
    fn intervals_parse_and_print(#[case] text: &str, #[case] seconds: i64, #[case] shown: &str) {
        let interval: Interval = text.parse().unwrap();
        assert_eq!(interval.seconds(), seconds);
        assert_eq!(interval.to_string(), shown);
    }

    #[rstest]
    #[case("")]
    #[case("s")]
    #[case("0s")]
    #[case("1")]
    #[case("1w")]
    #[case("-1s")]
    #[case("1.5m")]
    #[case("367d")]
    #[case("9999999999s")]
    fn bad_intervals_are_refused(#[case] text: &str) {
        assert!(text.parse::<Interval>().is_err(), "{text}");
    }

    #[test]
    fn buckets_align_to_the_epoch_including_before_it() {
        let m = Interval::MINUTE;
        assert_eq!(m.bucket(0), 0);
        assert_eq!(m.bucket(59_999_999_999), 0);
        assert_eq!(m.bucket(60_000_000_000), 60_000_000_000);
        assert_eq!(m.bucket(-1), -60_000_000_000);
        assert!(Interval::SECOND.divides(Interval::MINUTE));
        assert!(!Interval::MINUTE.divides("90s".parse().unwrap()));
    }

    fn p(text: &str) -> Price {
        text.parse().unwrap()
    }

    fn q(text: &str) -> Qty {
        text.parse().unwrap()
    }

    #[test]
    fn trades_build_ohlcv_and_an_exact_vwap() {
        let mut bar = Bar::from_trade(
            InstrumentId(1),
            Interval::SECOND,
            1_500_000_000,
            p("10"),
            q("1"),
        );
        bar.push_trade(p("12.5"), q("2"));
        bar.push_trade(p("9"), q("1"));
        assert_eq!(bar.ts, 1_000_000_000);
        assert_eq!(bar.end(), 2_000_000_000);
        assert_eq!(
            (bar.open, bar.high, bar.low, bar.close),
            (p("10"), p("12.5"), p("9"), p("9"))
        );
        assert_eq!(bar.volume, q("4"));
        assert_eq!(bar.trades, Some(3));
        // (10 + 25 + 9) / 4 = 11
        assert_eq!(bar.vwap(), Some(p("11")));
    }

    #[test]
    fn vwap_rounds_half_away_from_zero() {
        // 1 @ 1 and 2 @ 0.000000002: notional 1.000000004, volume 3 -> 0.333333334666..
        let mut bar = Bar::from_trade(InstrumentId(1), Interval::SECOND, 0, p("1"), q("1"));
        bar.push_trade(p("0.000000002"), q("2"));
        assert_eq!(bar.vwap(), Some(p("0.333333335")));
        let empty = Bar {
            volume: Qty::ZERO,
            ..bar
        };
        assert_eq!(empty.vwap(), None);
    }

    #[test]
    fn merging_equals_aggregating_the_trades_at_once() {
        let trades = [("10", "1"), ("11", "0.5"), ("9.5", "3"), ("10.25", "2")];
        let iv = Interval::SECOND;
        let mut whole = Bar::from_trade(InstrumentId(3), iv, 0, p(trades[0].0), q(trades[0].1));
        for (price, size) in &trades[1..] {
            whole.push_trade(p(price), q(size));
        }
        let mut first = Bar::from_trade(InstrumentId(3), iv, 0, p(trades[0].0), q(trades[0].1));
        first.push_trade(p(trades[1].0), q(trades[1].1));
        let mut second = Bar::from_trade(InstrumentId(3), iv, 0, p(trades[2].0), q(trades[2].1));
        second.push_trade(p(trades[3].0), q(trades[3].1));
        first.merge(&second);
        assert_eq!(first, whole);
    }

    #[test]
    fn json_fields_are_exact_decimals() {
        let mut bar = Bar::from_trade(
            InstrumentId(1),
            Interval::MINUTE,
            60_000_000_001,
            p("0.00002853"),
            q("36304.2"),
        );
        let mut out = String::new();
        bar.write_json_fields(&mut out);
        assert_eq!(
            out,
            "\"ts\":60000000000,\"open\":\"0.00002853\",\"high\":\"0.00002853\",\"low\":\"0.00002853\",\
             \"close\":\"0.00002853\",\"volume\":\"36304.2\",\"trades\":1,\"vwap\":\"0.00002853\""
        );
        bar.trades = None;
        bar.notional = None;
        out.clear();
        bar.write_json_fields(&mut out);
        assert!(out.ends_with("\"trades\":null,\"vwap\":null"), "{out}");
    }

    #[test]
    fn unknown_counts_stay_unknown_when_merged() {
        let mut a = Bar::from_trade(InstrumentId(1), Interval::MINUTE, 0, p("1"), q("1"));
        let b = Bar {
            trades: None,
            notional: None,
            ..a
        };
        a.merge(&b);
        assert_eq!(a.trades, None);
        assert_eq!(a.notional, None);
        assert_eq!(a.vwap(), None);
    }
}
