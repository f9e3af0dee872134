//! The bar aggregator: OHLCV bars from trades, bucketed by `ts_event`.
//!
//! Each instrument has an event-time **watermark**: the newest `ts_event` seen on any of its
//! ticks (trades and quotes). While an instrument is quiet, [`Aggregator::advance`] moves its
//! watermark on by the wall-clock time since the tick that set it, so bars close on time
//! without new ticks and a replayed capture's old timestamps still close bars in order.
//!
//! Per instrument and base interval a bar goes through three states:
//!
//! - **open**: the bucket the newest trades fall in;
//! - **closed** once the watermark reaches its end ([`BarEventKind::Closed`]): it is published
//!   and served from then on; a late trade still **amends** it ([`BarEventKind::Amended`]) until
//!   the watermark passes its end plus the grace period;
//! - **final** after that ([`BarEventKind::Final`]): nothing changes it any more, and it may be
//!   persisted. A trade for a final bucket is late: counted, logged, left out of the bars (the
//!   tick itself is still journaled and stored).
//!
//! Open is the price of the trade with the earliest `ts_event` and close the latest (ties go to
//! the later arrival), so trades that arrive out of order within a bar still give the bar the
//! venue's sequence.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use engine::{Bar, InstrumentId, Interval, Price, Qty, Tick};

/// What happened to a bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarEventKind {
    /// The bar closed: publish it; it is served from now on.
    Closed,
    /// A late trade within the grace period changed a closed bar.
    Amended,
    /// The bar can no longer change and may be persisted.
    Final,
}

/// A bar that closed, changed or became final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarEvent {
    /// What happened.
    pub kind: BarEventKind,
    /// The bar as it is now.
    pub bar: Bar,
    /// Journal index of the first trade in the bar (so the journal is kept until it is
    /// persisted).
    pub first_index: u64,
}

/// A bar being built, with the event times that decide its open and close.
#[derive(Debug, Clone, Copy)]
struct Building {
    bar: Bar,
    first_index: u64,
    open_ts: i64,
    close_ts: i64,
}

impl Building {
    fn new(
        interval: Interval,
        index: u64,
        instrument: InstrumentId,
        ts: i64,
        price: Price,
        size: Qty,
    ) -> Building {
        Building {
            bar: Bar::from_trade(instrument, interval, ts, price, size),
            first_index: index,
            open_ts: ts,
            close_ts: ts,
        }
    }

    fn add(&mut self, ts: i64, price: Price, size: Qty) {
        let bar = &mut self.bar;
        bar.high = bar.high.max(price);
        bar.low = bar.low.min(price);
        if ts < self.open_ts {
            self.open_ts = ts;
            bar.open = price;
        }
        if ts >= self.close_ts {
            self.close_ts = ts;
            bar.close = price;
        }
        let one = Bar {
            volume: size,
            trades: Some(1),
            notional: Some(price.notional_e18(size)),
            ..*bar
        };
        let (open, close) = (bar.open, bar.close);
        bar.merge(&one);
        (bar.open, bar.close) = (open, close);
    }
}

/// One base interval's bars for one instrument.
#[derive(Debug, Default)]
struct Slot {
    open: Option<Building>,
    /// Closed, not yet final, oldest first.
    recent: VecDeque<Building>,
    /// Buckets starting before this are final (or persisted): trades for them are late.
    sealed_until: i64,
}

#[derive(Debug)]
struct InstrumentState {
    watermark: i64,
    /// Wall-clock time (ns) at which the watermark was last set.
    wall_at_watermark: i64,
    slots: Vec<Slot>,
}

/// Counters the aggregator keeps.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AggregatorStats {
    /// Trades folded into bars.
    pub trades: u64,
    /// Closed bars amended by a late trade.
    pub amended: u64,
    /// Trades too late for their bar (past the grace period) and left out.
    pub late_dropped: u64,
    /// Trades skipped on replay because their bar is already persisted.
    pub replay_skipped: u64,
}

/// Builds bars at the base intervals from a stream of ticks. Single-threaded: it lives on
/// the storage consumer's thread.
#[derive(Debug)]
pub struct Aggregator {
    intervals: Vec<Interval>,
    grace: i64,
    instruments: Vec<Option<InstrumentState>>,
    events: Vec<BarEvent>,
    stats: AggregatorStats,
    late_since_log: u64,
    last_late_log: Option<Instant>,
}

impl Aggregator {
    /// An aggregator for `intervals` (the base intervals, finest first) with a grace period of
    /// `grace_ns` for late trades.
    pub fn new(intervals: &[Interval], grace_ns: i64) -> Aggregator {
        Aggregator {
            intervals: intervals.to_vec(),
            grace: grace_ns.max(0),
            instruments: Vec::new(),
            events: Vec::new(),
            stats: AggregatorStats::default(),
            late_since_log: 0,
            last_late_log: None,
        }
    }

    /// The base intervals.
    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    /// Counters so far.
    pub fn stats(&self) -> AggregatorStats {
        self.stats
    }

    fn state(&mut self, instrument: InstrumentId) -> &mut InstrumentState {
        let i = instrument.0 as usize;
        if self.instruments.len() <= i {
            self.instruments.resize_with(i + 1, || None);
        }
        let slots = self.intervals.len();
        self.instruments[i].get_or_insert_with(|| InstrumentState {
            watermark: i64::MIN,
            wall_at_watermark: i64::MIN,
            slots: (0..slots)
                .map(|_| Slot {
                    sealed_until: i64::MIN,
                    ..Slot::default()
                })
                .collect(),
        })
    }

    /// Marks every bar of `instrument` at base interval number `slot` that starts at or before
    /// `ts` as already persisted: replayed trades for them are skipped.
    pub fn seal_through(&mut self, instrument: InstrumentId, slot: usize, ts: i64) {
        let width = self.intervals[slot].nanos();
        let state = self.state(instrument);
        let until = ts.saturating_add(width);
        let s = &mut state.slots[slot];
        s.sealed_until = s.sealed_until.max(until);
    }

    /// Handles one tick with its journal index. `replaying` marks ticks read back from the
    /// journal at start-up: trades for persisted bars are skipped quietly.
    #[inline]
    pub fn on_tick(&mut self, index: u64, tick: &Tick, replaying: bool) {
        let grace = self.grace;
        let i = tick.instrument.0 as usize;
        if self.instruments.get(i).is_none_or(Option::is_none) {
            self.state(tick.instrument);
        }
        let (events, stats) = (&mut self.events, &mut self.stats);
        let Some(Some(state)) = self.instruments.get_mut(i) else {
            return;
        };
        if tick.ts_event > state.watermark {
            state.watermark = tick.ts_event;
            state.wall_at_watermark = tick.ts_recv;
        }
        let watermark = state.watermark;
        let mut late = false;
        if let Some(trade) = tick.as_trade() {
            stats.trades += 1;
            for (slot, interval) in state.slots.iter_mut().zip(&self.intervals) {
                let outcome = add_trade(
                    slot,
                    *interval,
                    grace,
                    watermark,
                    index,
                    tick,
                    trade.price,
                    trade.size,
                    events,
                );
                match outcome {
                    Added::Yes => {}
                    Added::Amended => stats.amended += 1,
                    Added::Sealed if replaying => stats.replay_skipped += 1,
                    Added::Sealed | Added::Late => late = true,
                }
            }
        }
        for slot in &mut state.slots {
            settle(slot, grace, watermark, events);
        }
        if late {
            self.stats.late_dropped += 1;
            self.late_since_log += 1;
            self.log_late(tick);
        }
    }

    fn log_late(&mut self, tick: &Tick) {
        if self
            .last_late_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(
                instrument = tick.instrument.0,
                ts_event = tick.ts_event,
                late_trades = self.late_since_log,
                grace_ms = self.grace / 1_000_000,
                "trades arrived after their bar was final; left out of the bars"
            );
            self.last_late_log = Some(Instant::now());
            self.late_since_log = 0;
        }
    }

    /// Moves every instrument's watermark on by the wall-clock time since its last tick
    /// (`now` is the wall clock in ns), closing and finalizing bars that are due.
    pub fn advance(&mut self, now: i64) {
        let grace = self.grace;
        for state in self.instruments.iter_mut().flatten() {
            if state.watermark == i64::MIN {
                continue;
            }
            let idle = now.saturating_sub(state.wall_at_watermark);
            if idle > 0 {
                state.watermark = state.watermark.saturating_add(idle);
                state.wall_at_watermark = now;
            }
            for slot in &mut state.slots {
                settle(slot, grace, state.watermark, &mut self.events);
            }
        }
    }

    /// Takes the events since the last call, in the order they happened.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, BarEvent> {
        self.events.drain(..)
    }

    /// The lowest journal index of any trade in a bar that is not final yet, if any.
    pub fn min_first_index(&self) -> Option<u64> {
        self.instruments
            .iter()
            .flatten()
            .flat_map(|state| &state.slots)
            .flat_map(|slot| slot.open.iter().chain(slot.recent.iter()))
            .map(|b| b.first_index)
            .min()
    }

    /// Closes and finalizes every bar now, as at shutdown when no more ticks come and what
    /// was built should be persisted. Open bars are closed too.
    pub fn finish(&mut self) {
        for state in self.instruments.iter_mut().flatten() {
            for slot in &mut state.slots {
                settle(slot, 0, i64::MAX, &mut self.events);
            }
        }
    }
}

enum Added {
    Yes,
    Amended,
    /// The bucket is final (or persisted).
    Sealed,
    /// Past the grace period.
    Late,
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn add_trade(
    slot: &mut Slot,
    interval: Interval,
    grace: i64,
    watermark: i64,
    index: u64,
    tick: &Tick,
    price: Price,
    size: Qty,
    events: &mut Vec<BarEvent>,
) -> Added {
    let ts = tick.ts_event;
    let start = interval.bucket(ts);
    if start < slot.sealed_until {
        return Added::Sealed;
    }
    match &mut slot.open {
        Some(open) if open.bar.ts == start => {
            open.add(ts, price, size);
            return Added::Yes;
        }
        Some(open) if open.bar.ts < start => {
            let closed = *open;
            events.push(BarEvent {
                kind: BarEventKind::Closed,
                bar: closed.bar,
                first_index: closed.first_index,
            });
            slot.recent.push_back(closed);
            slot.open = Some(Building::new(
                interval,
                index,
                tick.instrument,
                ts,
                price,
                size,
            ));
            return Added::Yes;
        }
        _ => {}
    }
    // No open bar, or the trade is older than it.
    if let Some(recent) = slot.recent.iter_mut().find(|b| b.bar.ts == start) {
        recent.add(ts, price, size);
        events.push(BarEvent {
            kind: BarEventKind::Amended,
            bar: recent.bar,
            first_index: recent.first_index,
        });
        return Added::Amended;
    }
    let end = start.saturating_add(interval.nanos());
    let building = Building::new(interval, index, tick.instrument, ts, price, size);
    if slot.open.is_none() && end > watermark {
        slot.open = Some(building);
        Added::Yes
    } else if end.saturating_add(grace) > watermark {
        // A bucket that had no trade yet and is already closed: it closes with this one.
        events.push(BarEvent {
            kind: BarEventKind::Closed,
            bar: building.bar,
            first_index: index,
        });
        let at = slot.recent.partition_point(|b| b.bar.ts < start);
        slot.recent.insert(at, building);
        Added::Yes
    } else {
        Added::Late
    }
}

/// Closes the open bar once the watermark reaches its end, and finalizes closed bars past
/// the grace period.
#[inline]
fn settle(slot: &mut Slot, grace: i64, watermark: i64, events: &mut Vec<BarEvent>) {
    if let Some(open) = slot.open
        && open.bar.end() <= watermark
    {
        events.push(BarEvent {
            kind: BarEventKind::Closed,
            bar: open.bar,
            first_index: open.first_index,
        });
        slot.recent.push_back(open);
        slot.open = None;
    }
    while let Some(front) = slot.recent.front()
        && front.bar.end().saturating_add(grace) <= watermark
    {
        events.push(BarEvent {
            kind: BarEventKind::Final,
            bar: front.bar,
            first_index: front.first_index,
        });
        slot.sealed_until = slot.sealed_until.max(front.bar.end());
        slot.recent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::{Side, Trade};
    use proptest::prelude::*;

    const S: i64 = 1_000_000_000;

    fn trade(instrument: u32, ts: i64, price: &str, size: &str) -> Tick {
        Tick::trade(
            InstrumentId(instrument),
            ts,
            ts,
            Trade {
                price: price.parse().unwrap(),
                size: size.parse().unwrap(),
                side: Side::Buy,
                id: 0,
            },
        )
    }

    fn events(agg: &mut Aggregator) -> Vec<(BarEventKind, i64, i64, String, String)> {
        agg.drain_events()
            .map(|e| {
                (
                    e.kind,
                    e.bar.interval.seconds(),
                    e.bar.ts / S,
                    e.bar.close.to_string(),
                    e.bar.volume.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn bars_close_when_the_watermark_passes_their_end_and_finalize_after_grace() {
        let mut agg = Aggregator::new(&[Interval::SECOND], S / 2);
        agg.on_tick(1, &trade(0, 10 * S + 100, "10", "1"), false);
        agg.on_tick(2, &trade(0, 10 * S + 900_000_000, "11", "2"), false);
        assert!(events(&mut agg).is_empty());
        agg.on_tick(3, &trade(0, 11 * S + 200_000_000, "12", "1"), false);
        assert_eq!(
            events(&mut agg),
            vec![(BarEventKind::Closed, 1, 10, "11".into(), "3".into())]
        );
        // A late trade for second 10 within the grace amends it.
        agg.on_tick(4, &trade(0, 10 * S + 500, "9", "1"), false);
        assert_eq!(
            events(&mut agg),
            vec![(BarEventKind::Amended, 1, 10, "11".into(), "4".into())]
        );
        // Past 11.5 s second 10 is final; a trade for it is now late.
        agg.on_tick(5, &trade(0, 11 * S + 600_000_000, "12", "1"), false);
        assert_eq!(
            events(&mut agg),
            vec![(BarEventKind::Final, 1, 10, "11".into(), "4".into())]
        );
        agg.on_tick(6, &trade(0, 10 * S + 700, "1", "1"), false);
        assert!(events(&mut agg).is_empty());
        assert_eq!(agg.stats().late_dropped, 1);
        assert_eq!(agg.stats().amended, 1);
    }

    #[test]
    fn quiet_instruments_close_by_the_wall_clock() {
        let mut agg = Aggregator::new(&[Interval::SECOND, Interval::MINUTE], 0);
        agg.on_tick(1, &trade(3, 60 * S + 5, "100", "1"), false);
        agg.advance(60 * S + 5 + S / 2);
        assert!(events(&mut agg).is_empty());
        agg.advance(61 * S);
        let got = events(&mut agg);
        assert_eq!(
            got[0],
            (BarEventKind::Closed, 1, 60, "100".into(), "1".into())
        );
        assert_eq!(got[1].0, BarEventKind::Final);
        agg.advance(120 * S);
        let got = events(&mut agg);
        assert_eq!(
            got[0],
            (BarEventKind::Closed, 60, 60, "100".into(), "1".into())
        );
        assert_eq!(agg.min_first_index(), None);
    }

    #[test]
    fn an_empty_bucket_gets_a_late_bar_within_grace() {
        let mut agg = Aggregator::new(&[Interval::SECOND], 2 * S);
        agg.on_tick(1, &trade(0, 10 * S, "10", "1"), false);
        agg.on_tick(2, &trade(0, 12 * S, "12", "1"), false);
        events(&mut agg);
        // Second 11 had no trade; one arrives late.
        agg.on_tick(3, &trade(0, 11 * S + 1, "11", "1"), false);
        assert_eq!(
            events(&mut agg),
            vec![(BarEventKind::Closed, 1, 11, "11".into(), "1".into())]
        );
        assert_eq!(agg.min_first_index(), Some(1));
        agg.advance(i64::MAX / 2);
        let finals: Vec<i64> = agg
            .drain_events()
            .filter(|e| e.kind == BarEventKind::Final)
            .map(|e| e.bar.ts / S)
            .collect();
        assert_eq!(finals, vec![10, 11, 12]);
    }

    #[test]
    fn sealed_buckets_are_skipped_on_replay_without_counting_late() {
        let mut agg = Aggregator::new(&[Interval::SECOND], 0);
        agg.seal_through(InstrumentId(0), 0, 10 * S);
        agg.on_tick(1, &trade(0, 10 * S + 5, "10", "1"), true);
        agg.on_tick(2, &trade(0, 11 * S + 5, "11", "1"), true);
        assert_eq!(agg.stats().replay_skipped, 1);
        assert_eq!(agg.stats().late_dropped, 0);
        agg.finish();
        let closed: Vec<i64> = agg
            .drain_events()
            .filter(|e| e.kind == BarEventKind::Closed)
            .map(|e| e.bar.ts / S)
            .collect();
        assert_eq!(closed, vec![11]);
    }

    proptest! {
        /// Whatever order trades arrive in (within the grace period), the final bars equal
        /// an aggregation of the trades sorted by event time.
        #[test]
        fn final_bars_match_a_sorted_aggregation(
            trades in proptest::collection::vec((0i64..5_000, 1i64..1_000, 1i64..100), 1..200),
            shuffle in proptest::collection::vec(any::<u16>(), 200),
        ) {
            let ms = 1_000_000;
            let base = 1_000 * S;
            let mut ticks: Vec<(i64, Tick)> = trades
                .iter()
                .enumerate()
                .map(|(i, &(t, p, q))| {
                    let tick = trade(1, base + t * ms, &p.to_string(), &q.to_string());
                    (i as i64, tick)
                })
                .collect();
            // Arrival order: sorted by time, then locally shuffled (delays under 1 s).
            ticks.sort_by_key(|(i, t)| (t.ts_event, *i));
            for (k, s) in shuffle.iter().enumerate().take(ticks.len().saturating_sub(1)) {
                let j = k + 1;
                if s % 3 == 0 && ticks[j].1.ts_event - ticks[k].1.ts_event < S / 2 {
                    ticks.swap(k, j);
                }
            }
            let mut agg = Aggregator::new(&[Interval::SECOND], 2 * S);
            for (index, (_, tick)) in ticks.iter().enumerate() {
                agg.on_tick(index as u64 + 1, tick, false);
            }
            agg.finish();
            let finals: Vec<Bar> = agg
                .drain_events()
                .filter(|e| e.kind == BarEventKind::Final)
                .map(|e| e.bar)
                .collect();
            prop_assert_eq!(agg.stats().late_dropped, 0);

            // Expected: group the trades by second in event-time order, ties in arrival order.
            let mut sorted: Vec<(i64, usize, Tick)> =
                ticks.iter().enumerate().map(|(arrival, (_, t))| (t.ts_event, arrival, *t)).collect();
            sorted.sort_by_key(|(ts, arrival, _)| (*ts, *arrival));
            let mut expected: Vec<Bar> = Vec::new();
            for (ts, _, tick) in sorted {
                let t = tick.as_trade().unwrap();
                match expected.last_mut() {
                    Some(bar) if bar.ts == Interval::SECOND.bucket(ts) => {
                        bar.high = bar.high.max(t.price);
                        bar.low = bar.low.min(t.price);
                        bar.volume = Qty::from_units(bar.volume.units() + t.size.units());
                        bar.trades = bar.trades.map(|n| n + 1);
                        bar.notional = bar.notional.map(|n| n + t.price.notional_e18(t.size));
                        bar.close = t.price;
                    }
                    _ => expected.push(Bar::from_trade(tick.instrument, Interval::SECOND, ts, t.price, t.size)),
                }
            }
            prop_assert_eq!(finals, expected);
        }
    }
}
