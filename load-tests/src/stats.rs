//! What one connection counts, and the shared latency histograms.
//!
//! Each connection task owns a [`ConnStats`] (plain counters, merged once at the end) and a
//! [`LatencyBuf`] that batches latency samples and records them into one of a few sharded
//! HDR histograms of a [`LatencySink`]: one short lock per batch, never one per message, and a
//! few histograms in memory however many connections there are.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::Deserialize;

/// Highest latency recorded exactly, ns (60 s); larger values are clamped to it.
pub const MAX_LATENCY_NS: u64 = 60_000_000_000;
/// Latency samples a connection buffers before recording them under its shard's lock.
const BATCH: usize = 256;

/// The server message types the generator tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKind {
    Trade,
    Quote,
    Bar,
    Snapshot,
    Subscribed,
    Unsubscribed,
    List,
    Gap,
    Pong,
    Error,
    Other,
}

impl MsgKind {
    /// Every kind, in report order.
    pub const ALL: [MsgKind; 11] = [
        MsgKind::Trade,
        MsgKind::Quote,
        MsgKind::Bar,
        MsgKind::Snapshot,
        MsgKind::Subscribed,
        MsgKind::Unsubscribed,
        MsgKind::List,
        MsgKind::Gap,
        MsgKind::Pong,
        MsgKind::Error,
        MsgKind::Other,
    ];

    /// The kind of a `type` value.
    pub fn of(name: &str) -> Self {
        match name {
            "trade" => MsgKind::Trade,
            "quote" => MsgKind::Quote,
            "bar" => MsgKind::Bar,
            "snapshot" => MsgKind::Snapshot,
            "subscribed" => MsgKind::Subscribed,
            "unsubscribed" => MsgKind::Unsubscribed,
            "list" => MsgKind::List,
            "gap" => MsgKind::Gap,
            "pong" => MsgKind::Pong,
            "error" => MsgKind::Error,
            _ => MsgKind::Other,
        }
    }

    /// The name used in reports (the protocol's `type`, or `other`).
    pub fn name(self) -> &'static str {
        match self {
            MsgKind::Trade => "trade",
            MsgKind::Quote => "quote",
            MsgKind::Bar => "bar",
            MsgKind::Snapshot => "snapshot",
            MsgKind::Subscribed => "subscribed",
            MsgKind::Unsubscribed => "unsubscribed",
            MsgKind::List => "list",
            MsgKind::Gap => "gap",
            MsgKind::Pong => "pong",
            MsgKind::Error => "error",
            MsgKind::Other => "other",
        }
    }

    /// Live market data whose `ts_recv` is the time the engine read the tick: these, and only
    /// these, feed the latency histogram (a snapshot's `ts_recv` can be arbitrarily old).
    pub fn is_live_tick(self) -> bool {
        matches!(self, MsgKind::Trade | MsgKind::Quote)
    }
}

/// The few fields the generator reads from a server message; serde skips the rest.
#[derive(Debug, Deserialize)]
pub struct Head<'a> {
    /// `type`.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// `ts_recv` of market data, ns since the Unix epoch.
    pub ts_recv: Option<u64>,
    /// `code` of an `error`.
    #[serde(borrow)]
    pub code: Option<Cow<'a, str>>,
    /// `missed` of a `gap`.
    pub missed: Option<u64>,
}

/// The kind and `ts_recv` of a live tick as the hub writes it (`{"type":"trade"` or
/// `{"type":"quote"` first), without a JSON parse: at a million messages a second the
/// generator's own parsing was a quarter of its time. A trade or quote has no nested values,
/// and inside a JSON string a quote is escaped, so the first `"ts_recv":` is the field.
/// Anything else, or a tick without a plain integer `ts_recv`, is `None` and takes the parser.
pub fn live_tick_head(text: &str) -> Option<(MsgKind, u64)> {
    const FIELD: &[u8] = br#""ts_recv":"#;
    const TRADE: &[u8] = br#"{"type":"trade","#;
    const QUOTE: &[u8] = br#"{"type":"quote","#;
    let bytes = text.as_bytes();
    let (kind, prefix) = if bytes.starts_with(TRADE) {
        (MsgKind::Trade, TRADE)
    } else if bytes.starts_with(QUOTE) {
        (MsgKind::Quote, QUOTE)
    } else {
        return None;
    };
    // From quote to quote: a handful of steps, cheaper than building a substring searcher.
    let mut at = prefix.len();
    let start = loop {
        at += bytes[at..].iter().position(|&b| b == b'"')?;
        if bytes[at..].starts_with(FIELD) {
            break at + FIELD.len();
        }
        at += 1;
    };
    let mut ts: u64 = 0;
    for (i, &b) in bytes[start..].iter().enumerate() {
        match b {
            b'0'..=b'9' => ts = ts.checked_mul(10)?.checked_add(u64::from(b - b'0'))?,
            b',' | b'}' if i > 0 => return Some((kind, ts)),
            _ => return None,
        }
    }
    None
}

/// Now, in ns since the Unix epoch (the clock `ts_recv` is read from on the same host).
pub fn now_ns() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// Counters of one connection (or, merged, of a whole run).
#[derive(Debug, Default, Clone)]
pub struct ConnStats {
    /// Messages by [`MsgKind`] (index = position in [`MsgKind::ALL`]), whole run.
    pub by_kind: [u64; MsgKind::ALL.len()],
    /// Trade and quote messages received inside the measurement window.
    pub window_ticks: u64,
    /// Latency samples whose `ts_recv` lay in the client's future (recorded as 0).
    pub clock_skew: u64,
    /// Sum of `missed` over `gap` messages.
    pub gap_missed: u64,
    /// `error` messages by `code`.
    pub errors: BTreeMap<String, u64>,
    /// Text frames that were not a JSON object with a `type`, and binary frames.
    pub bad_frames: u64,
    /// Close frames received from the server before the end, by close code (0: no code).
    pub closes: BTreeMap<u16, u64>,
    /// Connections lost without a close frame, by how (`eof`, `connection reset`, ...).
    pub dropped: BTreeMap<String, u64>,
}

impl ConnStats {
    /// Counts one text frame received at `now` (ns); returns its latency in ns if it is a live
    /// tick received while `measuring`.
    pub fn on_text(&mut self, text: &str, now: u64, measuring: bool) -> Option<u64> {
        if let Some((kind, ts)) = live_tick_head(text) {
            self.by_kind[kind as usize] += 1;
            return self.live_latency(Some(ts), now, measuring);
        }
        let Ok(head) = serde_json::from_str::<Head<'_>>(text) else {
            self.bad_frames += 1;
            return None;
        };
        let kind = MsgKind::of(&head.kind);
        self.by_kind[kind as usize] += 1;
        match kind {
            MsgKind::Gap => self.gap_missed += head.missed.unwrap_or(0),
            MsgKind::Error => {
                let code = head.code.as_deref().unwrap_or("(none)");
                *self.errors.entry(code.to_owned()).or_default() += 1;
            }
            _ => {}
        }
        if !kind.is_live_tick() {
            return None;
        }
        self.live_latency(head.ts_recv, now, measuring)
    }

    /// The latency of a live tick stamped `ts_recv` and received at `now`, if `measuring`.
    fn live_latency(&mut self, ts_recv: Option<u64>, now: u64, measuring: bool) -> Option<u64> {
        if !measuring {
            return None;
        }
        self.window_ticks += 1;
        let ts = ts_recv?;
        if ts > now {
            self.clock_skew += 1;
        }
        Some(now.saturating_sub(ts))
    }

    /// Counts a close frame from the server.
    pub fn on_close(&mut self, code: Option<u16>) {
        *self.closes.entry(code.unwrap_or(0)).or_default() += 1;
    }

    /// Counts a connection lost without a close frame, for `reason`.
    pub fn on_drop(&mut self, reason: String) {
        *self.dropped.entry(reason).or_default() += 1;
    }

    /// Messages of `kind`.
    pub fn count(&self, kind: MsgKind) -> u64 {
        self.by_kind[kind as usize]
    }

    /// Every message counted.
    pub fn total(&self) -> u64 {
        self.by_kind.iter().sum()
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &ConnStats) {
        for (a, b) in self.by_kind.iter_mut().zip(other.by_kind) {
            *a += b;
        }
        self.window_ticks += other.window_ticks;
        self.clock_skew += other.clock_skew;
        self.gap_missed += other.gap_missed;
        self.bad_frames += other.bad_frames;
        merge_map(&mut self.errors, &other.errors);
        merge_map(&mut self.dropped, &other.dropped);
        merge_map(&mut self.closes, &other.closes);
    }
}

/// Adds the counts of `from` into `into`.
pub fn merge_map<K: Ord + Clone>(into: &mut BTreeMap<K, u64>, from: &BTreeMap<K, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

/// A new latency histogram: ns, 1 ns to [`MAX_LATENCY_NS`], 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("static histogram bounds are valid")
}

/// A few latency histograms shared by all connections, one lock each.
#[derive(Debug, Clone)]
pub struct LatencySink {
    shards: Arc<[Mutex<Histogram<u64>>]>,
}

impl LatencySink {
    /// A sink of `shards` histograms (at least one).
    pub fn new(shards: usize) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| Mutex::new(new_histogram()))
            .collect();
        LatencySink { shards }
    }

    /// The batching recorder of connection `conn`.
    pub fn buffer(&self, conn: usize) -> LatencyBuf {
        LatencyBuf {
            sink: self.clone(),
            shard: conn % self.shards.len(),
            samples: Vec::new(),
        }
    }

    /// Every shard merged into one histogram.
    pub fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for shard in self.shards.iter() {
            let h = shard.lock().unwrap_or_else(PoisonError::into_inner);
            all.add(&*h).expect("histograms of equal bounds add");
        }
        all
    }
}

/// A connection's latency samples, recorded into its shard every [`BATCH`] samples and when
/// flushed or dropped.
#[derive(Debug)]
pub struct LatencyBuf {
    sink: LatencySink,
    shard: usize,
    samples: Vec<u64>,
}

impl LatencyBuf {
    /// Adds one sample, ns.
    pub fn record(&mut self, ns: u64) {
        if self.samples.capacity() == 0 {
            self.samples.reserve_exact(BATCH);
        }
        self.samples.push(ns);
        if self.samples.len() >= BATCH {
            self.flush();
        }
    }

    /// Records the buffered samples into the shard.
    pub fn flush(&mut self) {
        if self.samples.is_empty() {
            return;
        }
        let mut h = self.sink.shards[self.shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for &ns in &self.samples {
            h.saturating_record(ns);
        }
        drop(h);
        self.samples.clear();
    }
}

impl Drop for LatencyBuf {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRADE: &str = r#"{"type":"trade","channel":"trades.SIM:AAA","seq":5,"ts_event":1000,"ts_recv":1500,"price":"1.5","size":"2","side":"sell","id":77}"#;

    #[test]
    fn live_ticks_in_the_window_give_latency() {
        let mut s = ConnStats::default();
        assert_eq!(s.on_text(TRADE, 2_000, true), Some(500));
        assert_eq!(s.on_text(TRADE, 2_000, false), None, "outside the window");
        assert_eq!(
            s.on_text(TRADE, 1_000, true),
            Some(0),
            "clock skew clamps to 0"
        );
        let snap = r#"{"type":"snapshot","channel":"trades.SIM:AAA","ts_recv":1,"snapshot":true}"#;
        assert_eq!(s.on_text(snap, 2_000, true), None, "snapshots are not live");
        assert_eq!(
            (s.count(MsgKind::Trade), s.window_ticks, s.clock_skew),
            (3, 2, 1)
        );
    }

    #[test]
    fn the_tick_fast_path_agrees_with_the_parser() {
        let cases = [
            TRADE,
            r#"{"type":"quote","channel":"quotes.SIM:AAA","seq":6,"ts_event":1,"ts_recv":1700000000123456789,"bid":"1","bid_size":"2","ask":"3","ask_size":"4"}"#,
            r#"{"type":"trade","channel":"trades.X","id":"a\"ts_recv\":9","ts_recv":42}"#,
            r#"{"type":"trade","channel":"trades.X","ts_recv":42}"#,
        ];
        for text in cases {
            let head: Head<'_> = serde_json::from_str(text).unwrap();
            let fast = live_tick_head(text).unwrap_or_else(|| panic!("no fast path: {text}"));
            assert_eq!(
                fast,
                (MsgKind::of(&head.kind), head.ts_recv.unwrap()),
                "{text}"
            );
        }
        for text in [
            r#"{"type":"trade","channel":"trades.X"}"#,
            r#"{"type":"trade","ts_recv":"42"}"#,
            r#"{"type":"trade","ts_recv":-1}"#,
            r#"{"type":"trade","ts_recv":4.5}"#,
            r#"{"type":"trade","ts_recv":99999999999999999999}"#,
            r#"{"type":"snapshot","channel":"trades.X","ts_recv":42}"#,
            r#"{"type":"trades","ts_recv":42}"#,
            r#"{"channel":"trades.X","type":"trade","ts_recv":42}"#,
        ] {
            assert_eq!(live_tick_head(text), None, "{text}");
        }
        let mut s = ConnStats::default();
        let reordered = r#"{"channel":"trades.X","ts_recv":1500,"type":"trade"}"#;
        assert_eq!(
            s.on_text(reordered, 2_000, true),
            Some(500),
            "the parser path"
        );
    }

    #[test]
    fn counts_gaps_errors_and_bad_frames() {
        let mut s = ConnStats::default();
        s.on_text(
            r#"{"type":"gap","from":1,"to":11,"missed":10,"channels":["trades.X"]}"#,
            0,
            true,
        );
        s.on_text(
            r#"{"type":"error","code":"rate_limited","message":"slow \"down\""}"#,
            0,
            true,
        );
        s.on_text(r#"{"type":"pong","req_id":4,"ts":1}"#, 0, true);
        s.on_text("not json", 0, true);
        s.on_text(r#"{"no_type":1}"#, 0, true);
        assert_eq!((s.count(MsgKind::Gap), s.gap_missed), (1, 10));
        assert_eq!(s.errors.get("rate_limited"), Some(&1));
        assert_eq!((s.count(MsgKind::Pong), s.bad_frames, s.total()), (1, 2, 3));
        let mut all = ConnStats::default();
        all.merge(&s);
        all.merge(&s);
        assert_eq!(
            (all.gap_missed, all.errors["rate_limited"], all.total()),
            (20, 2, 6)
        );
    }

    #[test]
    fn sink_batches_and_merges_shards() {
        let sink = LatencySink::new(3);
        let mut a = sink.buffer(0);
        let mut b = sink.buffer(1);
        for i in 0..(BATCH as u64 + 10) {
            a.record(1_000 + i);
        }
        b.record(MAX_LATENCY_NS * 2);
        assert_eq!(
            sink.merged().len(),
            BATCH as u64,
            "only full batches are recorded"
        );
        drop(a);
        b.flush();
        let h = sink.merged();
        assert_eq!(h.len(), BATCH as u64 + 11);
        assert!(
            h.max() >= MAX_LATENCY_NS / 2,
            "out-of-range values are clamped, not lost"
        );
    }
}
