//! [`WsFeed`]: runs a [`Venue`] over a WebSocket connection, and keeps it running.
//!
//! - **Connect**, send the venue's opening messages (subscriptions, or a login whose
//!   confirmation triggers them), then read. Each text message is stamped `ts_recv` when it is
//!   read, parsed by the venue, and its ticks published into the ring as one batch.
//! - **Reconnect** whenever the connection drops, errs, closes, goes silent for
//!   `idle_reconnect_ms`, or the venue asks for it: after a delay that starts at
//!   `backoff_initial_ms`, doubles per failed attempt up to `backoff_max_ms`, and is drawn
//!   with jitter from `[d/2, d]` so that many feeds dropped at once do not return at once. A
//!   connection that lasted [`STABLE_AFTER`] resets the delay. The subscriptions are sent
//!   again on every connection.
//! - **Keepalive**: WebSocket pings are answered by the library; a venue that wants its own
//!   ping ([`Venue::keepalive`]) gets it on a timer.
//! - **Watchdog**, once a second: a subscribed (instrument, kind) channel without a tick for
//!   `stale_after_ms` is marked stale in [`FeedStats::channels`]; the feed is `stale` when no
//!   message at all came for that long or every channel is stale, `live` otherwise.
//! - **Bad input**: a message that does not parse is counted (`parse_errors`) and logged at
//!   most once a second; ticks parsed before the error in the same message are kept. Gaps
//!   and steps back in the venue's sequences are counted and logged the same way.
//! - A venue's [`Event::Fatal`] (refused credentials) ends the feed as failed: retrying would
//!   only be refused again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{InstrumentId, TickKind, clock};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::config::VenueConfig;
use crate::error::{Error, Result};
use crate::feed::{Feed, FeedContext, FeedFuture, FeedState, FeedStats, LogLimit};
use crate::venue::{Event, ParseCtx, Venue};

/// A connection that lasted this long resets the reconnect delay.
pub const STABLE_AFTER: Duration = Duration::from_secs(30);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A provider feed over WebSocket.
pub struct WsFeed {
    venue: Box<dyn Venue>,
    config: VenueConfig,
}

impl std::fmt::Debug for WsFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsFeed")
            .field("venue", &self.venue.name())
            .field("url", &self.venue.url())
            .finish()
    }
}

impl WsFeed {
    /// A feed running `venue` with the connection settings of `config`.
    pub fn new(venue: Box<dyn Venue>, config: VenueConfig) -> WsFeed {
        WsFeed { venue, config }
    }
}

impl Feed for WsFeed {
    fn name(&self) -> &str {
        self.venue.name()
    }

    fn register(&mut self, registry: &engine::Registry) -> Result<()> {
        for (instrument, _) in self.venue.channels() {
            registry.intern(&instrument)?;
        }
        Ok(())
    }

    fn run(self: Box<Self>, ctx: FeedContext) -> FeedFuture {
        Box::pin(run(*self, ctx))
    }
}

/// How a connection ended.
enum End {
    /// Shut down on request.
    Shutdown,
    /// Dropped, closed, silent or asked to reconnect: try again.
    Dropped,
    /// Refused for good.
    Fatal(String),
}

async fn run(feed: WsFeed, ctx: FeedContext) -> Result<()> {
    let WsFeed { venue, config } = feed;
    let channels = Channels::new(&ctx, venue.channels());
    let mut session = Session {
        parse: ParseCtx::new(ctx.registry.clone(), venue.prefix()),
        venue,
        config,
        stats: ctx.stats.clone(),
        producer: ctx.producer,
        channels,
        errors_log: LogLimit::new(Duration::from_secs(1)),
        gaps_log: LogLimit::new(Duration::from_secs(1)),
        parse_times: Vec::with_capacity(PARSE_SAMPLES),
    };
    let mut backoff = Backoff::new(&session.config, ctx.stats.name());
    let url = session.venue.url();
    let mut attempt = 0u64;
    loop {
        if ctx.shutdown.is_cancelled() {
            return Ok(());
        }
        if attempt > 0 {
            ctx.stats.set_state(FeedState::Reconnecting);
            ctx.stats.reconnects.add_single_writer(1);
        }
        attempt += 1;
        session.venue.reset();
        let connect = tokio_tungstenite::connect_async_with_config(url.as_str(), None, true);
        let started = Instant::now();
        let end = tokio::select! {
            _ = ctx.shutdown.cancelled() => End::Shutdown,
            connected = tokio::time::timeout(session.config.connect_timeout(), connect) => {
                match connected {
                    Ok(Ok((socket, _))) => {
                        tracing::info!(feed = session.venue.name(), %url, attempt, "connected");
                        session.serve(socket, &ctx.shutdown).await
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(feed = session.venue.name(), %url, attempt, %error, "connect failed");
                        End::Dropped
                    }
                    Err(_) => {
                        tracing::warn!(feed = session.venue.name(), %url, attempt, "connect timed out");
                        End::Dropped
                    }
                }
            }
        };
        match end {
            End::Shutdown => return Ok(()),
            End::Fatal(reason) => {
                tracing::error!(feed = session.venue.name(), %reason, "venue refused the feed; not retrying");
                return Err(Error::Refused(reason));
            }
            End::Dropped => {}
        }
        if started.elapsed() >= STABLE_AFTER {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        tracing::info!(
            feed = session.venue.name(),
            delay_ms = delay.as_millis() as u64,
            "reconnecting"
        );
        ctx.stats.set_state(FeedState::Reconnecting);
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Everything one feed keeps across connections.
struct Session {
    venue: Box<dyn Venue>,
    config: VenueConfig,
    parse: ParseCtx,
    stats: Arc<FeedStats>,
    producer: engine::Producer,
    channels: Channels,
    errors_log: LogLimit,
    gaps_log: LogLimit,
    /// Parse latencies not yet recorded: recorded in batches, not under a lock per message.
    parse_times: Vec<i64>,
}

/// Parse latencies buffered before they are recorded.
const PARSE_SAMPLES: usize = 256;

impl Session {
    /// Runs one connection until it ends.
    async fn serve(
        &mut self,
        mut socket: Socket,
        shutdown: &tokio_util::sync::CancellationToken,
    ) -> End {
        let mut opening = Vec::new();
        self.venue.on_connect(&mut opening);
        for message in opening {
            if let Err(error) = socket.send(Message::text(message)).await {
                tracing::warn!(feed = self.venue.name(), %error, "sending subscription failed");
                return End::Dropped;
            }
        }
        let connected_ns = clock::now_ns();
        self.channels.restart(connected_ns);
        let mut last_message = Instant::now();
        let mut seen_any = false;
        let mut watchdog = tokio::time::interval(Duration::from_secs(1));
        watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let keepalive = self.venue.keepalive();
        let mut ping = tokio::time::interval(
            keepalive
                .as_ref()
                .map_or(Duration::from_secs(3600), |k| k.interval),
        );
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.reset();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = socket.close(None).await;
                    return End::Shutdown;
                }
                message = socket.next() => {
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                            Ok(text) => text.into(),
                            Err(_) => {
                                self.parse_error(&"binary message is not UTF-8", "<binary>");
                                continue;
                            }
                        },
                        Some(Ok(Message::Close(frame))) => {
                            tracing::warn!(feed = self.venue.name(), ?frame, "venue closed the connection");
                            return End::Dropped;
                        }
                        Some(Ok(_)) => {
                            // Ping, pong or a raw frame: proof of life, nothing to parse.
                            last_message = Instant::now();
                            continue;
                        }
                        Some(Err(error)) => {
                            tracing::warn!(feed = self.venue.name(), %error, "connection failed");
                            return End::Dropped;
                        }
                        None => {
                            tracing::warn!(feed = self.venue.name(), "connection ended");
                            return End::Dropped;
                        }
                    };
                    last_message = Instant::now();
                    if !seen_any {
                        seen_any = true;
                        self.stats.set_state(FeedState::Live);
                    }
                    if let Some(end) = self.on_message(text.as_str(), &mut socket).await {
                        return end;
                    }
                }
                _ = watchdog.tick() => {
                    self.stats.parse_latency.record_all(self.parse_times.drain(..));
                    let silent = last_message.elapsed();
                    if silent >= self.config.idle_reconnect() {
                        tracing::warn!(
                            feed = self.venue.name(),
                            silent_ms = silent.as_millis() as u64,
                            "no message for too long; reconnecting"
                        );
                        return End::Dropped;
                    }
                    let all_stale = self.channels.watch(&self.stats, self.config.stale_after(), self.venue.name());
                    if seen_any {
                        let stale = silent >= self.config.stale_after() || all_stale;
                        let state = if stale { FeedState::Stale } else { FeedState::Live };
                        if self.stats.state() != state {
                            tracing::warn!(feed = self.venue.name(), state = state.as_str(), "feed state changed");
                            self.stats.set_state(state);
                        }
                    }
                }
                _ = ping.tick(), if keepalive.is_some() => {
                    if let Some(keepalive) = &keepalive
                        && let Err(error) = socket.send(Message::text(keepalive.message.clone())).await
                    {
                        tracing::warn!(feed = self.venue.name(), %error, "keepalive failed");
                        return End::Dropped;
                    }
                }
            }
        }
    }

    /// Parses and publishes one message; `Some` when the connection must end.
    async fn on_message(&mut self, text: &str, socket: &mut Socket) -> Option<End> {
        let ts_recv = clock::now_ns();
        self.stats.messages.add_single_writer(1);
        self.stats.set_last_message_ns(ts_recv);
        self.parse.clear();
        if let Err(error) = self.venue.parse(text, ts_recv, &mut self.parse) {
            self.parse_error(&error, text);
        }
        let ticks = self.parse.ticks();
        if !ticks.is_empty() {
            self.parse_times.push(clock::now_ns() - ts_recv);
            if self.parse_times.len() >= PARSE_SAMPLES {
                self.stats
                    .parse_latency
                    .record_all(self.parse_times.drain(..));
            }
            self.producer.publish_batch(ticks);
            self.stats.ticks.add_single_writer(ticks.len() as u64);
            for tick in ticks {
                self.channels.seen(tick.instrument, tick.kind(), ts_recv);
            }
        }
        let replies: Vec<String> = self.parse.take_replies().collect();
        for reply in replies {
            if let Err(error) = socket.send(Message::text(reply)).await {
                tracing::warn!(feed = self.venue.name(), %error, "sending a reply failed");
                return Some(End::Dropped);
            }
        }
        let events: Vec<Event> = self.parse.take_events().collect();
        let mut end = None;
        for event in events {
            if let Some(e) = self.on_event(event) {
                end = Some(e);
            }
        }
        end
    }

    fn on_event(&mut self, event: Event) -> Option<End> {
        let feed = self.venue.name();
        match event {
            Event::Confirmed(what) => tracing::info!(feed, %what, "venue confirmed"),
            Event::Gap {
                instrument,
                stream,
                expected,
                received,
            } => {
                self.stats.gaps.add_single_writer(1);
                if let Some(suppressed) = self.gaps_log.allow() {
                    let instrument = self.instrument_name(instrument);
                    tracing::warn!(feed, %instrument, stream, expected, received, missed = received - expected, suppressed, "sequence gap");
                }
            }
            Event::OutOfOrder {
                instrument,
                stream,
                last,
                received,
            } => {
                self.stats.out_of_order.add_single_writer(1);
                if let Some(suppressed) = self.gaps_log.allow() {
                    let instrument = self.instrument_name(instrument);
                    tracing::warn!(feed, %instrument, stream, last, received, suppressed, "sequence went back");
                }
            }
            Event::VenueError(reason) => {
                self.stats.venue_errors.add_single_writer(1);
                if let Some(suppressed) = self.errors_log.allow() {
                    tracing::warn!(feed, %reason, suppressed, "venue reported an error");
                }
            }
            Event::Reconnect(reason) => {
                tracing::info!(feed, %reason, "venue asked to reconnect");
                return Some(End::Dropped);
            }
            Event::Fatal(reason) => return Some(End::Fatal(reason)),
        }
        None
    }

    fn instrument_name(&self, id: Option<InstrumentId>) -> String {
        id.and_then(|id| self.parse.registry().get(id))
            .map_or_else(|| "-".to_owned(), |i| i.to_string())
    }

    fn parse_error(&mut self, error: &dyn std::fmt::Display, text: &str) {
        self.stats.parse_errors.add_single_writer(1);
        if let Some(suppressed) = self.errors_log.allow() {
            let message: String = text.chars().take(200).collect();
            tracing::warn!(feed = self.venue.name(), %error, %message, suppressed, "unparsable message");
        }
    }
}

/// The subscribed channels' last tick times, kept on the feed's thread and copied to
/// [`FeedStats`] once a second.
struct Channels {
    /// Channel index by instrument id and kind (`[trade, quote]`).
    index: Vec<[Option<u32>; 2]>,
    /// The newest tick's `ts_recv` per channel (0 before the first).
    last_tick: Vec<i64>,
    stale: Vec<bool>,
    /// When the current connection opened: silence counts from no earlier than this.
    connected_ns: i64,
}

impl Channels {
    fn new(ctx: &FeedContext, channels: Vec<(String, TickKind)>) -> Channels {
        let mut index: Vec<[Option<u32>; 2]> = Vec::new();
        let mut kept = Vec::new();
        for (name, kind) in channels {
            let Ok(id) = ctx.registry.intern(&name) else {
                continue;
            };
            let slot = id.0 as usize;
            if index.len() <= slot {
                index.resize(slot + 1, [None; 2]);
            }
            let position = u32::try_from(kept.len()).unwrap_or(u32::MAX);
            index[slot][kind_slot(kind)].get_or_insert(position);
            kept.push((name, kind));
        }
        let count = kept.len();
        ctx.stats.set_channels(kept);
        Channels {
            index,
            last_tick: vec![0; count],
            stale: vec![false; count],
            connected_ns: clock::now_ns(),
        }
    }

    /// A new connection: every channel's silence counts from now.
    fn restart(&mut self, now_ns: i64) {
        self.connected_ns = now_ns;
    }

    fn seen(&mut self, instrument: InstrumentId, kind: TickKind, ts_recv: i64) {
        if let Some(Some(i)) = self
            .index
            .get(instrument.0 as usize)
            .map(|slots| slots[kind_slot(kind)])
            && let Some(last) = self.last_tick.get_mut(i as usize)
        {
            *last = ts_recv;
        }
    }

    /// Marks channels stale or fresh, logs the changes, and says whether every channel is
    /// stale (false when there are none).
    fn watch(&mut self, stats: &FeedStats, stale_after: Duration, feed: &str) -> bool {
        let now = clock::now_ns();
        let limit = i64::try_from(stale_after.as_nanos()).unwrap_or(i64::MAX);
        let statuses = stats.channels();
        let mut all = !self.stale.is_empty();
        for (i, status) in statuses.iter().enumerate() {
            let (Some(&last), Some(was)) = (self.last_tick.get(i), self.stale.get_mut(i)) else {
                continue;
            };
            let stale = now.saturating_sub(last.max(self.connected_ns)) >= limit;
            if stale != *was {
                *was = stale;
                let kind = match status.kind {
                    TickKind::Trade => "trades",
                    TickKind::Quote => "quotes",
                };
                if stale {
                    tracing::warn!(feed, instrument = %status.instrument, kind, "channel stale");
                } else {
                    tracing::info!(feed, instrument = %status.instrument, kind, "channel live again");
                }
            }
            all &= stale;
            status.update(last, stale);
        }
        all
    }
}

const fn kind_slot(kind: TickKind) -> usize {
    match kind {
        TickKind::Trade => 0,
        TickKind::Quote => 1,
    }
}

/// Exponential reconnect delays with jitter.
#[derive(Debug)]
struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    rng: u64,
}

impl Backoff {
    fn new(config: &VenueConfig, name: &str) -> Backoff {
        let initial = Duration::from_millis(config.backoff_initial_ms);
        let seed = name.bytes().fold(clock::now_ns() as u64, |h, b| {
            h.rotate_left(5) ^ u64::from(b)
        });
        Backoff {
            initial,
            max: Duration::from_millis(config.backoff_max_ms),
            next: initial,
            rng: seed | 1,
        }
    }

    /// The next delay, drawn from `[d/2, d]`; `d` then doubles up to the max.
    fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(self.max);
        let half = d / 2;
        let span = u64::try_from((d - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if span == 0 {
            0
        } else {
            self.random() % (span + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    fn reset(&mut self) {
        self.next = self.initial;
    }

    /// splitmix64.
    fn random(&mut self) -> u64 {
        engine::random::splitmix64(&mut self.rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_max_and_resets() {
        let config = VenueConfig {
            backoff_initial_ms: 100,
            backoff_max_ms: 1000,
            ..VenueConfig::default()
        };
        let mut backoff = Backoff::new(&config, "test");
        let bounds = [100, 200, 400, 800, 1000, 1000];
        for max in bounds {
            let d = backoff.next_delay();
            let max = Duration::from_millis(max);
            assert!(
                d >= max / 2 && d <= max,
                "{d:?} outside [{:?}, {max:?}]",
                max / 2
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
