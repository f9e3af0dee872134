//! Capture replay: recorded provider messages through the venue's own parser.
//!
//! [`Replay`] reads a capture file ([`crate::capture`]), stamps each message with its recorded
//! receive time as `ts_recv`, parses it with the venue's [`Venue::parse`] (the very parser the
//! live feed runs), and hands the ticks on: to the ring ([`ReplayFeed`], a feed like any
//! other, so a capture can drive the whole engine) or to a writer (`nexamd replay --emit
//! ndjson`, see [`write_ndjson`]).
//!
//! Pacing: at the recorded speed times a factor, or as fast as possible ([`Pace`]). Replies a
//! parser would send (a pong, a subscription after login) go nowhere.
//!
//! Bad lines and unparsable messages are counted and logged at most once a second; the
//! replay goes on.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use engine::{Payload, Registry, Tick, clock};
use serde::Deserialize;

use crate::capture::{CaptureLine, parse_line};
use crate::error::{Error, Result};
use crate::feed::{Feed, FeedContext, FeedFuture, FeedState, LogLimit};
use crate::venue::{ParseCtx, Venue};

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// As fast as the consumer takes it.
    Max,
    /// The recorded gaps between messages divided by this factor (2.0 is twice as fast).
    Speed(f64),
}

impl Pace {
    /// `speed` from config or the command line: 0 means as fast as possible.
    pub fn from_speed(speed: f64) -> Pace {
        if speed == 0.0 {
            Pace::Max
        } else {
            Pace::Speed(speed)
        }
    }
}

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Lines read.
    pub lines: u64,
    /// Received messages handed to the parser.
    pub messages: u64,
    /// Ticks the parser produced.
    pub ticks: u64,
    /// Messages the parser refused.
    pub parse_errors: u64,
    /// Lines that were not capture lines at all.
    pub bad_lines: u64,
    /// Whether it stopped early (shutdown, or the consumer gave up).
    pub interrupted: bool,
}

/// One capture file and the venue that reads it.
pub struct Replay {
    venue: Box<dyn Venue>,
    path: PathBuf,
    pace: Pace,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("venue", &self.venue.name())
            .field("path", &self.path)
            .field("pace", &self.pace)
            .finish()
    }
}

impl Replay {
    /// Replays `path` through `venue` at `pace`.
    pub fn new(venue: Box<dyn Venue>, path: impl Into<PathBuf>, pace: Pace) -> Replay {
        Replay {
            venue,
            path: path.into(),
            pace,
        }
    }

    /// The venue's name.
    pub fn venue_name(&self) -> &'static str {
        self.venue.name()
    }

    /// Runs the replay. `on_ticks` gets each message's ticks and returns false to stop;
    /// `stop` is polled between messages and while waiting.
    pub fn run(
        mut self,
        registry: std::sync::Arc<Registry>,
        stop: impl Fn() -> bool,
        mut on_ticks: impl FnMut(&ParseCtx) -> bool,
    ) -> Result<ReplaySummary> {
        let file = std::fs::File::open(&self.path).map_err(|source| Error::Capture {
            path: self.path.clone(),
            source,
        })?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut ctx = ParseCtx::new(registry, self.venue.prefix());
        let mut summary = ReplaySummary::default();
        let mut log = LogLimit::new(Duration::from_secs(1));
        let mut clock = PaceClock::new(self.pace);
        let mut line = Vec::with_capacity(4096);
        let venue = self.venue.name();
        loop {
            line.clear();
            let read = reader
                .read_until(b'\n', &mut line)
                .map_err(|source| Error::Capture {
                    path: self.path.clone(),
                    source,
                })?;
            if read == 0 {
                break;
            }
            summary.lines += 1;
            if stop() {
                summary.interrupted = true;
                break;
            }
            let parsed = std::str::from_utf8(&line)
                .map_err(|_| "line is not UTF-8".to_owned())
                .and_then(|text| parse_line(text).map_err(|e| e.to_string()));
            let (ts_recv, message) = match parsed {
                Ok(CaptureLine::Received { ts_recv, message }) => (ts_recv, message),
                Ok(CaptureLine::Skip) => continue,
                Err(error) => {
                    summary.bad_lines += 1;
                    if let Some(suppressed) = log.allow() {
                        tracing::warn!(venue, line = summary.lines, %error, suppressed, "bad capture line");
                    }
                    continue;
                }
            };
            if let Some(ts) = ts_recv
                && !clock.wait_until(ts, &stop)
            {
                summary.interrupted = true;
                break;
            }
            let ts_recv = ts_recv.unwrap_or_else(clock::now_ns);
            summary.messages += 1;
            ctx.clear();
            if let Err(error) = self.venue.parse(&message, ts_recv, &mut ctx) {
                summary.parse_errors += 1;
                if let Some(suppressed) = log.allow() {
                    let message: String = message.chars().take(200).collect();
                    tracing::warn!(venue, line = summary.lines, %error, %message, suppressed, "unparsable message");
                }
            }
            summary.ticks += ctx.ticks().len() as u64;
            if !on_ticks(&ctx) {
                summary.interrupted = true;
                break;
            }
        }
        Ok(summary)
    }
}

/// Maps recorded times to wall-clock deadlines.
struct PaceClock {
    pace: Pace,
    origin: Option<(i64, Instant)>,
}

impl PaceClock {
    fn new(pace: Pace) -> PaceClock {
        PaceClock { pace, origin: None }
    }

    /// Waits until the recorded time `ts` is due; false if `stop` said so meanwhile.
    fn wait_until(&mut self, ts: i64, stop: &impl Fn() -> bool) -> bool {
        let Pace::Speed(speed) = self.pace else {
            return true;
        };
        let (first, start) = *self.origin.get_or_insert((ts, Instant::now()));
        let offset_ns = ts.saturating_sub(first).max(0) as f64 / speed;
        let due = start + Duration::from_nanos(offset_ns.min(u64::MAX as f64) as u64);
        loop {
            if stop() {
                return false;
            }
            let now = Instant::now();
            if now >= due {
                return true;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(50)));
        }
    }
}

/// `[feeds.replay]`: a capture file as the engine's feed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayConfig {
    /// Whether the feed runs.
    pub enabled: bool,
    /// Which venue parser reads the file (`binance`, `coinbase`, ...).
    pub venue: String,
    /// The capture file.
    pub file: PathBuf,
    /// The recorded speed times this; 0 replays as fast as the engine takes it.
    pub speed: f64,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            enabled: true,
            venue: String::new(),
            file: PathBuf::new(),
            speed: 1.0,
        }
    }
}

impl ReplayConfig {
    /// Checks the values; `prefix` is the table's key path (`feeds.replay`). The venue name is
    /// checked where the parser is built.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |key: &str, reason: String| Error::Config {
            key: format!("{prefix}.{key}"),
            reason,
        };
        if self.venue.is_empty() {
            return Err(bad("venue", "is required (binance, coinbase, ...)".into()));
        }
        if self.file.as_os_str().is_empty() {
            return Err(bad("file", "is required".into()));
        }
        if !(self.speed.is_finite() && self.speed >= 0.0) {
            return Err(bad(
                "speed",
                format!(
                    "must be 0 (as fast as possible) or a positive factor, got {}",
                    self.speed
                ),
            ));
        }
        Ok(())
    }
}

/// A capture replayed into the ring: the engine's feed named `replay`.
#[derive(Debug)]
pub struct ReplayFeed {
    replay: Replay,
}

impl ReplayFeed {
    /// A feed replaying `replay`.
    pub fn new(replay: Replay) -> ReplayFeed {
        ReplayFeed { replay }
    }
}

impl Feed for ReplayFeed {
    fn name(&self) -> &str {
        "replay"
    }

    fn register(&mut self, _registry: &Registry) -> Result<()> {
        // Instruments are interned as the capture names them.
        Ok(())
    }

    fn run(self: Box<Self>, ctx: FeedContext) -> FeedFuture {
        Box::pin(async move {
            // The feed owns its thread, so the replay may block it (pacing, a full ring).
            let FeedContext {
                mut producer,
                registry,
                stats,
                shutdown,
            } = ctx;
            let venue = self.replay.venue_name();
            let path = self.replay.path.clone();
            stats.set_state(FeedState::Live);
            let summary = self.replay.run(
                registry,
                || shutdown.is_cancelled(),
                |parsed| {
                    stats.messages.add_single_writer(1);
                    stats.set_last_message_ns(clock::now_ns());
                    let ticks = parsed.ticks();
                    if !ticks.is_empty() {
                        producer.publish_batch(ticks);
                        stats.ticks.add_single_writer(ticks.len() as u64);
                    }
                    true
                },
            )?;
            stats
                .parse_errors
                .add_single_writer(summary.parse_errors + summary.bad_lines);
            tracing::info!(
                venue,
                file = %path.display(),
                messages = summary.messages,
                ticks = summary.ticks,
                parse_errors = summary.parse_errors,
                bad_lines = summary.bad_lines,
                interrupted = summary.interrupted,
                "replay finished"
            );
            Ok(())
        })
    }
}

/// Appends `tick` as one NDJSON line: `instrument`, `kind`, `ts_event`, `ts_recv`, then
/// `price`, `size`, `side` and `id` for a trade (`id` is null where the venue gave none), or
/// `bid`, `bid_size`, `ask` and `ask_size` for a quote. Decimals are exact strings.
pub fn write_ndjson(tick: &Tick, registry: &Registry, out: &mut String) {
    out.push_str("{\"instrument\":");
    match registry.get(tick.instrument) {
        Some(instrument) => engine::json::write_str(out, &instrument.to_string()),
        None => out.push_str("null"),
    }
    let _ = write!(
        out,
        ",\"kind\":\"{}\",\"ts_event\":{},\"ts_recv\":{}",
        match tick.kind() {
            engine::TickKind::Trade => "trade",
            engine::TickKind::Quote => "quote",
        },
        tick.ts_event,
        tick.ts_recv
    );
    match tick.payload() {
        Payload::Trade(trade) => {
            let _ = write!(
                out,
                ",\"price\":\"{}\",\"size\":\"{}\",\"side\":\"{}\",\"id\":",
                trade.price,
                trade.size,
                trade.side.as_str()
            );
            if trade.id == 0 {
                out.push_str("null");
            } else {
                let _ = write!(out, "{}", trade.id);
            }
        }
        Payload::Quote(quote) => {
            let _ = write!(
                out,
                ",\"bid\":\"{}\",\"bid_size\":\"{}\",\"ask\":\"{}\",\"ask_size\":\"{}\"",
                quote.bid, quote.bid_size, quote.ask, quote.ask_size
            );
        }
    }
    out.push_str("}\n");
}
