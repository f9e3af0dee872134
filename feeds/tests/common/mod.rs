//! What the venue parser tests share: a parse harness over any [`Venue`], and config
//! builders. Expected values stay in each test file, written by hand.

#![allow(dead_code)]

use std::sync::Arc;

use engine::{InstrumentId, Registry, Tick};
use feeds::{Event, ParseCtx, ParseError, Venue, VenueConfig};

/// The receive time every harness parse is stamped with.
pub const TS_RECV: i64 = 1_700_000_000_123_456_789;

/// Everything one message produced.
#[derive(Debug)]
pub struct Parsed {
    pub result: Result<(), ParseError>,
    pub ticks: Vec<Tick>,
    pub events: Vec<Event>,
    pub replies: Vec<String>,
}

/// A venue with its own registry and parse context.
pub struct Harness<V> {
    pub registry: Arc<Registry>,
    pub ctx: ParseCtx,
    pub venue: V,
}

impl<V: Venue> Harness<V> {
    pub fn new(venue: V) -> Harness<V> {
        let registry = Arc::new(Registry::new());
        let ctx = ParseCtx::new(registry.clone(), venue.prefix());
        Harness {
            registry,
            ctx,
            venue,
        }
    }

    /// Parses `text` received at [`TS_RECV`].
    pub fn parse(&mut self, text: &str) -> Parsed {
        self.ctx.clear();
        let result = self.venue.parse(text, TS_RECV, &mut self.ctx);
        Parsed {
            result,
            ticks: self.ctx.ticks().to_vec(),
            events: self.ctx.take_events().collect(),
            replies: self.ctx.take_replies().collect(),
        }
    }

    /// The instrument's name.
    pub fn name(&self, id: InstrumentId) -> String {
        self.registry.get(id).unwrap().to_string()
    }
}

/// A config naming `instruments`, everything else default.
pub fn config(instruments: &[&str]) -> VenueConfig {
    VenueConfig {
        instruments: instruments.iter().map(|s| s.to_string()).collect(),
        ..VenueConfig::default()
    }
}

/// The value of `PATH`, set in every test process: the login venues' tests name it as the
/// credential variable.
pub fn path() -> String {
    std::env::var("PATH").expect("PATH is set")
}

/// The key and reason of the config error `built` must be.
pub fn config_error<T: std::fmt::Debug>(built: feeds::Result<T>) -> (String, String) {
    match built {
        Err(feeds::Error::Config { key, reason }) => (key, reason),
        other => panic!("expected a config error, got {other:?}"),
    }
}

/// A line of a cryptofeed capture after the first (`URL <-> ts`): a message we sent
/// (`URL <- ts: msg`) or one we received (`<recv_ts>: <message>`).
pub struct Line {
    pub sent: bool,
    pub ts: i64,
    pub text: String,
}

/// Every line of the capture at `path` after the first, blank lines left out.
pub fn capture(path: &str) -> Vec<Line> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (head, message) = line.split_once(": ").expect("capture line");
            let (sent, ts) = match head.split_once(" <- ") {
                Some((_url, ts)) => (true, ts),
                None => (false, head),
            };
            Line {
                sent,
                ts: seconds_to_ns(ts),
                text: message.to_owned(),
            }
        })
        .collect()
}

/// The received messages of the capture at `path`: the lines we sent left out.
pub fn received(path: &str) -> Vec<Line> {
    capture(path)
        .into_iter()
        .filter(|line| !line.sent)
        .collect()
}

/// `1641343699.529292` → ns, by string surgery.
pub fn seconds_to_ns(text: &str) -> i64 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    assert!(frac.len() <= 9, "{text}");
    let frac = format!("{frac:0<9}");
    whole.parse::<i64>().unwrap() * 1_000_000_000 + frac.parse::<i64>().unwrap()
}

/// Decimal text → units of 1e-9, independently of `engine::fixed`.
pub fn units(text: &str) -> i128 {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    let (kept, dropped) = frac.split_at(frac.len().min(9));
    assert!(
        dropped.bytes().all(|b| b == b'0'),
        "{text} has digits past 1e-9"
    );
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().unwrap()
    };
    let kept: i128 = format!("{kept:0<9}").parse().unwrap();
    let value = whole * 1_000_000_000 + kept;
    if negative { -value } else { value }
}

/// A registry and a parse context naming instruments `prefix:SYMBOL`.
pub fn context(prefix: &'static str) -> (Arc<Registry>, ParseCtx) {
    let registry = Arc::new(Registry::new());
    let ctx = ParseCtx::new(registry.clone(), prefix);
    (registry, ctx)
}

/// The name of a tick's instrument.
pub fn name(registry: &Registry, tick: &Tick) -> String {
    registry.get(tick.instrument).unwrap().name.to_string()
}

/// Parses one message into a fresh batch: its ticks and events.
pub fn parse(
    venue: &mut impl Venue,
    ctx: &mut ParseCtx,
    text: &str,
    ts_recv: i64,
) -> Result<(Vec<Tick>, Vec<Event>), ParseError> {
    ctx.clear();
    venue.parse(text, ts_recv, ctx)?;
    let ticks = ctx.ticks().to_vec();
    let events = ctx.take_events().collect();
    Ok((ticks, events))
}

/// The ASCII `text` cut at byte `at`, or (`cut` false) with the byte at `at` replaced by
/// `with`: one mutation of a documented message, for the never-panics properties.
pub fn mutate(text: &str, at: usize, with: &str, cut: bool) -> String {
    if cut {
        text[..at].to_string()
    } else {
        let end = (at + 1).min(text.len());
        format!("{}{with}{}", &text[..at], &text[end..])
    }
}

/// `text` with `insert` in place of up to `len` bytes from `at`, both moved back to char
/// boundaries: one mutation of a real message, for the never-panics properties.
pub fn splice(text: &str, at: usize, len: usize, insert: &str) -> String {
    let start = boundary(text, at);
    let end = boundary(text, start + len);
    format!("{}{}{}", &text[..start], insert, &text[end..])
}

/// Cuts `text` at a char boundary at or before `at`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}
