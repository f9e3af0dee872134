//! The [`Feed`] trait, what a feed is given to run ([`FeedContext`]), its figures
//! ([`FeedStats`]) and the runner that gives every feed a thread of its own.
//!
//! Each feed runs on its own OS thread with a current-thread tokio runtime. Publishing into the
//! ring may wait when a gating consumer falls behind; that wait then holds back only this feed's
//! thread (and, for a socket feed, its TCP window), never another feed or the HTTP server.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::metrics::Counter;
use engine::{Producer, Registry, TickKind};
use tokio_util::sync::CancellationToken;

use crate::error::Result;

/// What [`Feed::run`] returns.
pub type FeedFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// A source of ticks: a provider connection, a replay or the synthetic generator.
pub trait Feed: Send + 'static {
    /// The feed's name, as in config, metrics labels and logs (`synthetic`, `binance`, ...).
    fn name(&self) -> &str;

    /// Interns the instruments the feed will publish, before it runs, so they are listed
    /// (`/v1/instruments`) and subscribable from the moment the engine serves.
    fn register(&mut self, registry: &Registry) -> Result<()>;

    /// Publishes ticks through `ctx.producer` until `ctx.shutdown` is cancelled or the source
    /// ends. A feed sets its state in `ctx.stats` as it goes.
    fn run(self: Box<Self>, ctx: FeedContext) -> FeedFuture;
}

/// Everything a running feed is handed.
#[derive(Debug)]
pub struct FeedContext {
    /// Where its ticks go.
    pub producer: Producer,
    /// Where it interns its instruments.
    pub registry: Arc<Registry>,
    /// Its figures, read by `/metrics` and `/v1/feeds`.
    pub stats: Arc<FeedStats>,
    /// Cancelled when the engine shuts down.
    pub shutdown: CancellationToken,
}

/// A feed's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FeedState {
    /// Starting up or connecting.
    Connecting = 0,
    /// Delivering data.
    Live = 1,
    /// Connected but silent for too long.
    Stale = 2,
    /// Lost the connection, trying again.
    Reconnecting = 3,
    /// Ended: shut down or out of data.
    Stopped = 4,
    /// Ended with an error that retrying cannot mend.
    Failed = 5,
}

impl FeedState {
    /// The name used in metrics and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            FeedState::Connecting => "connecting",
            FeedState::Live => "live",
            FeedState::Stale => "stale",
            FeedState::Reconnecting => "reconnecting",
            FeedState::Stopped => "stopped",
            FeedState::Failed => "failed",
        }
    }

    /// Every state, in order.
    pub const ALL: [FeedState; 6] = [
        FeedState::Connecting,
        FeedState::Live,
        FeedState::Stale,
        FeedState::Reconnecting,
        FeedState::Stopped,
        FeedState::Failed,
    ];
}

/// A feed's counters and state. Counters that only the feed's thread writes use
/// [`Counter::add_single_writer`], so counting costs no locked instruction per tick.
#[derive(Debug)]
pub struct FeedStats {
    name: String,
    state: AtomicU8,
    /// Ticks published into the ring.
    pub ticks: Counter,
    /// Provider messages read.
    pub messages: Counter,
    /// Messages that could not be parsed.
    pub parse_errors: Counter,
    /// Sequence gaps seen in the provider's stream.
    pub gaps: Counter,
    /// Sequenced messages that went back or repeated.
    pub out_of_order: Counter,
    /// Errors the provider reported (a refused subscription, a rate limit, ...).
    pub venue_errors: Counter,
    /// Reconnections.
    pub reconnects: Counter,
    /// Read → ticks parsed, per provider message that gave ticks (stage `parse.<feed>`).
    pub parse_latency: engine::latency::LatencyHistogram,
    /// When the last provider message was read (ns since the epoch; 0 before the first).
    last_message_ns: AtomicI64,
    /// The subscribed channels, set once when the feed starts.
    channels: OnceLock<Box<[ChannelStatus]>>,
}

/// One subscribed (instrument, kind) channel, watched for silence.
#[derive(Debug)]
pub struct ChannelStatus {
    /// The instrument, `VENUE:SYMBOL`.
    pub instrument: String,
    /// Trades or quotes.
    pub kind: TickKind,
    last_tick_ns: AtomicI64,
    stale: AtomicBool,
}

impl ChannelStatus {
    /// When its last tick was read (ns since the epoch; 0 before the first).
    pub fn last_tick_ns(&self) -> i64 {
        self.last_tick_ns.load(Ordering::Relaxed)
    }

    /// Whether it has been silent longer than the feed's `stale_after`.
    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }

    /// Records the channel's newest tick time and whether it is stale (the feed's watchdog,
    /// once a second).
    pub fn update(&self, last_tick_ns: i64, stale: bool) {
        self.last_tick_ns.store(last_tick_ns, Ordering::Relaxed);
        self.stale.store(stale, Ordering::Relaxed);
    }
}

impl FeedStats {
    /// Fresh figures for a feed named `name`, in state `Connecting`.
    pub fn new(name: &str) -> FeedStats {
        FeedStats {
            name: name.to_owned(),
            state: AtomicU8::new(FeedState::Connecting as u8),
            ticks: Counter::default(),
            messages: Counter::default(),
            parse_errors: Counter::default(),
            gaps: Counter::default(),
            out_of_order: Counter::default(),
            venue_errors: Counter::default(),
            reconnects: Counter::default(),
            parse_latency: engine::latency::LatencyHistogram::new(format!("parse.{name}")),
            last_message_ns: AtomicI64::new(0),
            channels: OnceLock::new(),
        }
    }

    /// Sets the subscribed channels; only the first call counts.
    pub fn set_channels(&self, channels: impl IntoIterator<Item = (String, TickKind)>) {
        let channels = channels
            .into_iter()
            .map(|(instrument, kind)| ChannelStatus {
                instrument,
                kind,
                last_tick_ns: AtomicI64::new(0),
                stale: AtomicBool::new(false),
            })
            .collect();
        let _ = self.channels.set(channels);
    }

    /// The subscribed channels (empty for feeds without subscriptions).
    pub fn channels(&self) -> &[ChannelStatus] {
        self.channels.get().map_or(&[], |c| c)
    }

    /// When the last provider message was read (ns; 0 before the first).
    pub fn last_message_ns(&self) -> i64 {
        self.last_message_ns.load(Ordering::Relaxed)
    }

    /// Records when a provider message was read.
    pub fn set_last_message_ns(&self, ns: i64) {
        self.last_message_ns.store(ns, Ordering::Relaxed);
    }

    /// The feed's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current state.
    pub fn state(&self) -> FeedState {
        let raw = self.state.load(Ordering::Relaxed);
        FeedState::ALL
            .into_iter()
            .find(|s| *s as u8 == raw)
            .unwrap_or(FeedState::Failed)
    }

    /// Moves to `state`.
    pub fn set_state(&self, state: FeedState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }
}

/// A feed running on its own thread.
pub struct FeedThread {
    stats: Arc<FeedStats>,
    handle: JoinHandle<Result<()>>,
}

impl fmt::Debug for FeedThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedThread")
            .field("feed", &self.stats.name)
            .finish()
    }
}

impl FeedThread {
    /// Starts `feed` on a new thread named `feed-<name>`.
    pub fn spawn(feed: Box<dyn Feed>, ctx: FeedContext) -> Result<FeedThread> {
        let stats = ctx.stats.clone();
        let name = feed.name().to_owned();
        let handle = std::thread::Builder::new()
            .name(format!("feed-{name}"))
            .spawn(move || {
                let stats = ctx.stats.clone();
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(crate::Error::from)
                    .and_then(|runtime| runtime.block_on(feed.run(ctx)));
                match &result {
                    Ok(()) => {
                        stats.set_state(FeedState::Stopped);
                        tracing::info!(feed = %name, "feed stopped");
                    }
                    Err(error) => {
                        stats.set_state(FeedState::Failed);
                        tracing::error!(feed = %name, %error, "feed failed");
                    }
                }
                result
            })?;
        Ok(FeedThread { stats, handle })
    }

    /// The feed's figures.
    pub fn stats(&self) -> &Arc<FeedStats> {
        &self.stats
    }

    /// Waits for the feed to end and returns how it ended. A panic in the feed is reported as
    /// a failure, not propagated.
    pub fn join(self) -> Result<()> {
        self.handle.join().unwrap_or_else(|_| {
            self.stats.set_state(FeedState::Failed);
            Err(crate::Error::Io(std::io::Error::other(
                "feed thread panicked",
            )))
        })
    }
}

/// Lets a log line through at most once per period and counts what it held back, so a flood
/// of bad messages costs a counter increment each, not a log line each.
#[derive(Debug)]
pub(crate) struct LogLimit {
    period: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    /// At most one line per `period`.
    pub(crate) const fn new(period: Duration) -> LogLimit {
        LogLimit {
            period,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a line may be written now, `n` being how many were held back since the
    /// last one; `None` when this one is held back.
    pub(crate) fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < self.period => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}
