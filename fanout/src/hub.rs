//! The hub: who is subscribed to what, and the dispatcher that turns each tick into one
//! serialized message shared by every subscriber's queue.
//!
//! ```text
//!  ring ──► Dispatcher (one thread) ──► per-instrument subscriber lists (ArcSwap, lock-free read)
//!             │ serialize once                  │
//!             └──────► Conn queue (mutex held for one push) ──notify──► connection task ──► socket
//! ```
//!
//! Subscribing and unsubscribing replace a subscriber list copy-on-write under the hub's
//! writer lock while holding the connection's queue lock, so `subscribed` and the snapshot
//! always precede the channel's live messages, and nothing follows `unsubscribed`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use engine::latency::LatencyHistogram;
use engine::metrics::{Counter, MetricType, PromText};
use engine::publish::{PortfolioDirectory, ValuationSink};
use engine::{Bar, BarSink, Gap, Registry, Tick, TickKind};
use tokio::sync::Notify;

use crate::by_instrument::ByInstrument;
use crate::channel::{BAR_INTERVALS, Channel, ChannelKey};
use crate::config::FanoutConfig;
use crate::encode::{BarMeta, write_bar, write_tick};
use crate::latest::LatestTable;
use crate::protocol::{ReqId, channels_message, empty_snapshot_message, gap_message};
use crate::queue::{Outgoing, Push, Queue};
use axum::extract::ws::Utf8Bytes;

/// Close code for a slow consumer.
pub const CLOSE_SLOW: u16 = 4008;
/// Close code for a heartbeat timeout.
pub const CLOSE_HEARTBEAT: u16 = 4009;
/// Close code when the server shuts down.
pub const CLOSE_GOING_AWAY: u16 = 1001;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data whole, so a poisoned lock is still usable.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One WebSocket connection's shared state.
#[derive(Debug)]
pub struct Conn {
    id: u64,
    queue: Mutex<Queue>,
    /// Woken when messages were queued or a close was requested.
    pub(crate) notify: Notify,
    /// Woken when the hub wants the connection closed, even mid-write.
    pub(crate) kill: Notify,
    /// Set while the dispatcher holds this connection in its to-notify list; only the
    /// dispatcher thread reads or writes it.
    pending: AtomicBool,
    /// Close code the hub asked for; 0 while open.
    closing: AtomicU16,
    /// The connection's channels by name.
    channels: Mutex<BTreeMap<String, Channel>>,
}

impl Conn {
    fn new(id: u64) -> Conn {
        Conn {
            id,
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
            kill: Notify::new(),
            pending: AtomicBool::new(false),
            closing: AtomicU16::new(0),
            channels: Mutex::new(BTreeMap::new()),
        }
    }

    /// The connection's id, unique in this process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Asks the connection's task to close with `code` (the first request wins).
    pub fn request_close(&self, code: u16) {
        if self
            .closing
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.kill.notify_one();
            self.notify.notify_one();
        }
    }

    /// The close code requested, if any.
    pub fn close_requested(&self) -> Option<u16> {
        match self.closing.load(Ordering::Acquire) {
            0 => None,
            code => Some(code),
        }
    }

    /// Queues a control message and wakes the connection's task.
    pub fn send_control(&self, text: String, hub: &Hub) {
        lock(&self.queue).push(Outgoing::control(text), hub.config.policy());
        self.notify.notify_one();
    }

    /// Moves everything queued into `out`.
    pub fn drain_into(&self, out: &mut Vec<Outgoing>) {
        lock(&self.queue).drain_into(out);
    }

    /// The connection's channel names, in order.
    pub fn channel_names(&self) -> Vec<String> {
        lock(&self.channels).keys().cloned().collect()
    }
}

type Subscribers = ArcSwap<Vec<Arc<Conn>>>;

/// A bar channel's latest bar: instrument name, bar, publication.
type LatestBar = (Arc<str>, Bar, BarMeta);

/// Subscribers of one instrument's tick channels.
#[derive(Debug, Default)]
struct TickSubs {
    trades: Subscribers,
    quotes: Subscribers,
    /// The instrument's name, set on first subscribe, so dispatch needs no registry lookup.
    name: OnceLock<Arc<str>>,
}

/// The hub's counters, rendered into `/metrics`.
#[derive(Debug, Default)]
pub struct HubMetrics {
    /// Connections accepted since start.
    pub connections_total: Counter,
    /// Upgrades refused because of the connection limit.
    pub connections_refused: Counter,
    /// Channel subscriptions held now.
    pub subscriptions: AtomicU64,
    /// Messages written to sockets.
    pub messages_sent: Counter,
    /// Bytes of message text written to sockets.
    pub bytes_sent: Counter,
    /// Messages replaced in a queue by a newer one on the same channel.
    pub conflated: Counter,
    /// Connections closed as slow consumers.
    pub slow_closes: Counter,
    /// Connections closed for missing heartbeats.
    pub heartbeat_closes: Counter,
    /// Times the dispatcher was lapped by the ring.
    pub gaps: Counter,
    /// Ticks the dispatcher missed because it was lapped.
    pub gap_ticks: Counter,
    /// `error` messages sent to clients.
    pub errors: Counter,
}

/// A connection counted against its API key; dropping it gives the slot back.
#[derive(Debug)]
pub struct KeySlot {
    hub: Arc<Hub>,
    key: Arc<str>,
}

impl Drop for KeySlot {
    fn drop(&mut self) {
        let mut per_key = lock(&self.hub.per_key);
        if let Some(count) = per_key.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_key.remove(&self.key);
            }
        }
    }
}

/// The subscription registry and connection set. Share as `Arc<Hub>`.
#[derive(Debug)]
pub struct Hub {
    registry: Arc<Registry>,
    latest: Arc<LatestTable>,
    pub(crate) config: FanoutConfig,
    ticks: ByInstrument<TickSubs>,
    /// Subscribers of channels that do not carry ticks (bars), by key.
    others: Mutex<HashMap<ChannelKey, Vec<Arc<Conn>>>>,
    /// The latest valuation message per portfolio channel.
    latest_valuations: Mutex<HashMap<ChannelKey, Utf8Bytes>>,
    /// Who may see which portfolio; without one, no portfolio channel exists.
    portfolios: OnceLock<Arc<dyn PortfolioDirectory>>,
    /// The latest bar per bar channel, with its instrument name and publication number.
    latest_bars: Mutex<HashMap<ChannelKey, LatestBar>>,
    /// Bars published so far (each bar message's `seq`, one counter for all bar channels).
    bar_seq: AtomicU64,
    /// Valuations queued so far: their order in connection queues (the message text carries
    /// the portfolio service's own `seq`). Kept apart from `bar_seq`, so bar numbers run on
    /// without holes.
    valuation_seq: AtomicU64,
    /// Serializes subscriber list updates.
    writer: Mutex<()>,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    /// Open connections per API key id.
    per_key: Mutex<HashMap<Arc<str>, usize>>,
    next_id: AtomicU64,
    /// Counters.
    pub metrics: HubMetrics,
    /// `ts_recv` → socket write, per message.
    pub latency: LatencyHistogram,
}

impl Hub {
    /// A hub over the engine's registry and latest-value table.
    pub fn new(registry: Arc<Registry>, latest: Arc<LatestTable>, config: FanoutConfig) -> Hub {
        Hub {
            registry,
            latest,
            config,
            ticks: ByInstrument::default(),
            others: Mutex::new(HashMap::new()),
            latest_bars: Mutex::new(HashMap::new()),
            latest_valuations: Mutex::new(HashMap::new()),
            portfolios: OnceLock::new(),
            bar_seq: AtomicU64::new(0),
            valuation_seq: AtomicU64::new(0),
            writer: Mutex::new(()),
            conns: Mutex::new(HashMap::new()),
            per_key: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            metrics: HubMetrics::default(),
            latency: LatencyHistogram::new("fanout"),
        }
    }

    /// Sets who may see which portfolio (once, at start).
    pub fn set_portfolio_directory(&self, directory: Arc<dyn PortfolioDirectory>) {
        let _ = self.portfolios.set(directory);
    }

    /// Tells the portfolios that `id` got a subscriber (call without hub locks held).
    pub fn portfolio_subscribed(&self, id: u64) {
        if let Some(directory) = self.portfolios.get() {
            directory.subscribed(id);
        }
    }

    /// Whether `principal` may subscribe to portfolio `id`.
    pub fn portfolio_visible(&self, id: u64, principal: &str) -> bool {
        self.portfolios
            .get()
            .is_some_and(|d| d.visible(id, principal))
    }

    /// The hub's configuration.
    pub fn config(&self) -> &FanoutConfig {
        &self.config
    }

    /// The instrument registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The latest-value table.
    pub fn latest(&self) -> &LatestTable {
        &self.latest
    }

    /// Registers a new connection, or `None` at the connection limit.
    pub fn connect(&self) -> Option<Arc<Conn>> {
        let mut conns = lock(&self.conns);
        if conns.len() >= self.config.max_connections {
            self.metrics.connections_refused.add(1);
            return None;
        }
        let conn = Arc::new(Conn::new(self.next_id.fetch_add(1, Ordering::Relaxed)));
        conns.insert(conn.id, conn.clone());
        self.metrics.connections_total.add(1);
        Some(conn)
    }

    /// Counts a connection against API key `key`, or `None` when the key already holds
    /// `max_connections_per_key` connections. The slot is given back when dropped.
    pub fn claim_key(self: &Arc<Self>, key: &Arc<str>) -> Option<KeySlot> {
        let mut per_key = lock(&self.per_key);
        let count = per_key.entry(key.clone()).or_insert(0);
        if *count >= self.config.max_connections_per_key {
            self.metrics.connections_refused.add(1);
            return None;
        }
        *count += 1;
        Some(KeySlot {
            hub: self.clone(),
            key: key.clone(),
        })
    }

    /// Removes a connection and all its subscriptions.
    pub fn disconnect(&self, conn: &Arc<Conn>) {
        let names = conn.channel_names();
        self.remove_channels(conn, &names);
        lock(&self.conns).remove(&conn.id);
    }

    /// Asks every connection to close with `code` (used on shutdown).
    pub fn close_all(&self, code: u16) {
        for conn in lock(&self.conns).values() {
            conn.request_close(code);
        }
    }

    fn tick_subscribers(&self, channel: Channel) -> Option<&Subscribers> {
        let (id, quotes) = match channel {
            Channel::Trades(id) => (id, false),
            Channel::Quotes(id) => (id, true),
            Channel::Bars { .. } | Channel::Portfolio(_) => return None,
        };
        let subs = self.ticks.get_or_init(id)?;
        Some(if quotes { &subs.quotes } else { &subs.trades })
    }

    /// Subscribes `conn` to parsed `channels` and queues `subscribed` then one snapshot per
    /// channel. Channels the connection already has are re-confirmed and re-snapshotted.
    pub fn subscribe(
        &self,
        conn: &Arc<Conn>,
        channels: &[(String, Channel)],
        req_id: Option<&ReqId>,
    ) {
        let _writer = lock(&self.writer);
        let mut queue = lock(&conn.queue);
        let policy = self.config.policy();
        let mut snapshots = Vec::with_capacity(channels.len());
        let mut added = 0;
        {
            let mut owned = lock(&conn.channels);
            for (name, channel) in channels {
                let floor = self.snapshot(*channel).map_or(0, |t| t.seq);
                queue.open_channel(channel.key(), floor);
                snapshots.push(self.snapshot_message(*channel, name));
                if owned.insert(name.clone(), *channel).is_none() {
                    added += 1;
                    self.add_subscriber(conn, *channel);
                }
            }
        }
        self.metrics
            .subscriptions
            .fetch_add(added, Ordering::Relaxed);
        let names = channels.iter().map(|(name, _)| name.as_str());
        queue.push(
            Outgoing::control(channels_message("subscribed", names, req_id)),
            policy,
        );
        for text in snapshots {
            queue.push(Outgoing::control(text), policy);
        }
        drop(queue);
        conn.notify.notify_one();
    }

    /// The latest tick on a tick channel (bars: see [`Hub::bar_snapshot_message`]).
    fn snapshot(&self, channel: Channel) -> Option<Tick> {
        match channel {
            Channel::Trades(id) => self.latest.trade(id),
            Channel::Quotes(id) => self.latest.quote(id),
            Channel::Bars { .. } | Channel::Portfolio(_) => None,
        }
    }

    /// The snapshot message for `channel` (called `name`).
    fn snapshot_message(&self, channel: Channel, name: &str) -> String {
        match channel {
            Channel::Bars { .. } => return self.bar_snapshot_message(channel, name),
            Channel::Portfolio(_) => {
                return match lock(&self.latest_valuations).get(&channel.key()) {
                    Some(text) => as_snapshot(text.as_str()),
                    None => empty_snapshot_message(name),
                };
            }
            Channel::Trades(_) | Channel::Quotes(_) => {}
        }
        let tick = self.snapshot(channel);
        let instrument = channel.instrument().and_then(|id| self.registry.get(id));
        match (tick, instrument) {
            (Some(tick), Some(instrument)) => {
                let mut text = String::with_capacity(256);
                write_tick(&mut text, &instrument.name, &tick, true);
                text
            }
            _ => empty_snapshot_message(name),
        }
    }

    /// The latest bar published on a bar channel, as a snapshot.
    fn bar_snapshot_message(&self, channel: Channel, name: &str) -> String {
        match lock(&self.latest_bars).get(&channel.key()) {
            Some((instrument, bar, meta)) => {
                let mut text = String::with_capacity(320);
                let meta = BarMeta {
                    snapshot: true,
                    amended: false,
                    ..*meta
                };
                write_bar(&mut text, instrument, bar, meta);
                text
            }
            None => empty_snapshot_message(name),
        }
    }

    fn add_subscriber(&self, conn: &Arc<Conn>, channel: Channel) {
        // The dispatcher writes the instrument's name into each message: set it before the
        // connection appears in a list the dispatcher reads.
        if channel.is_tick_channel()
            && let Some(id) = channel.instrument()
            && let (Some(subs), Some(instrument)) =
                (self.ticks.get_or_init(id), self.registry.get(id))
        {
            subs.name.get_or_init(|| instrument.name.clone());
        }
        match self.tick_subscribers(channel) {
            Some(list) => {
                let mut next = Vec::clone(&list.load());
                next.push(conn.clone());
                list.store(Arc::new(next));
            }
            None => lock(&self.others)
                .entry(channel.key())
                .or_default()
                .push(conn.clone()),
        }
    }

    fn remove_subscriber(&self, conn: &Arc<Conn>, channel: Channel) {
        match self.tick_subscribers(channel) {
            Some(list) => {
                let next: Vec<Arc<Conn>> = list
                    .load()
                    .iter()
                    .filter(|c| c.id != conn.id)
                    .cloned()
                    .collect();
                list.store(Arc::new(next));
            }
            None => {
                let mut others = lock(&self.others);
                if let Some(list) = others.get_mut(&channel.key()) {
                    list.retain(|c| c.id != conn.id);
                    if list.is_empty() {
                        others.remove(&channel.key());
                    }
                }
            }
        }
    }

    /// Unsubscribes `conn` from the named channels it has and queues `unsubscribed` listing
    /// those removed.
    pub fn unsubscribe(&self, conn: &Arc<Conn>, names: &[String], req_id: Option<&ReqId>) {
        let _writer = lock(&self.writer);
        let mut queue = lock(&conn.queue);
        let removed = self.remove_locked(conn, &mut queue, names);
        let text = channels_message("unsubscribed", removed.iter().map(String::as_str), req_id);
        queue.push(Outgoing::control(text), self.config.policy());
        drop(queue);
        conn.notify.notify_one();
    }

    /// Removes the named channels without answering (the connection is going away).
    fn remove_channels(&self, conn: &Arc<Conn>, names: &[String]) {
        let _writer = lock(&self.writer);
        let mut queue = lock(&conn.queue);
        self.remove_locked(conn, &mut queue, names);
    }

    /// With the writer and queue locks held: drops the connection's named channels from the
    /// subscriber lists and its queue; returns the names it had.
    fn remove_locked(&self, conn: &Arc<Conn>, queue: &mut Queue, names: &[String]) -> Vec<String> {
        let mut owned = lock(&conn.channels);
        let removed: Vec<String> = names
            .iter()
            .filter_map(|name| {
                let channel = owned.remove(name)?;
                self.remove_subscriber(conn, channel);
                queue.close_channel(channel.key());
                Some(name.clone())
            })
            .collect();
        self.metrics
            .subscriptions
            .fetch_sub(removed.len() as u64, Ordering::Relaxed);
        removed
    }

    /// Connections open now.
    pub fn connection_count(&self) -> usize {
        lock(&self.conns).len()
    }

    /// Appends the hub's metric families.
    pub fn write_metrics(&self, text: &mut PromText) {
        let m = &self.metrics;
        text.single(
            "nexamd_ws_connections",
            MetricType::Gauge,
            "WebSocket connections open.",
            self.connection_count(),
        );
        text.single(
            "nexamd_ws_subscriptions",
            MetricType::Gauge,
            "Channel subscriptions held by open connections.",
            m.subscriptions.load(Ordering::Relaxed),
        );
        let counters: [(&str, &str, &Counter); 10] = [
            (
                "nexamd_ws_connections_total",
                "WebSocket connections accepted.",
                &m.connections_total,
            ),
            (
                "nexamd_ws_connections_refused_total",
                "WebSocket upgrades refused at the connection limit.",
                &m.connections_refused,
            ),
            (
                "nexamd_ws_messages_sent_total",
                "Messages written to WebSocket connections.",
                &m.messages_sent,
            ),
            (
                "nexamd_ws_bytes_sent_total",
                "Bytes of message text written to WebSocket connections.",
                &m.bytes_sent,
            ),
            (
                "nexamd_ws_conflated_total",
                "Queued messages replaced by a newer one on the same channel.",
                &m.conflated,
            ),
            (
                "nexamd_ws_slow_consumer_closes_total",
                "Connections closed as slow consumers (4008).",
                &m.slow_closes,
            ),
            (
                "nexamd_ws_heartbeat_closes_total",
                "Connections closed for missing heartbeats (4009).",
                &m.heartbeat_closes,
            ),
            (
                "nexamd_ws_gaps_total",
                "Times the fanout dispatcher was lapped by the ring.",
                &m.gaps,
            ),
            (
                "nexamd_ws_gap_ticks_total",
                "Ticks the fanout dispatcher skipped because it was lapped.",
                &m.gap_ticks,
            ),
            (
                "nexamd_ws_errors_total",
                "error messages sent to WebSocket clients.",
                &m.errors,
            ),
        ];
        for (name, help, counter) in counters {
            text.single(name, MetricType::Counter, help, counter.get());
        }
    }
}

impl BarSink for Hub {
    /// Serializes the bar once and queues it for every subscriber of its channel. Called by
    /// storage's consumer thread when a bar closes or is amended; only the base intervals
    /// in [`BAR_INTERVALS`] have channels.
    fn publish_bar(&self, name: &str, bar: &Bar, amended: bool) {
        let live = |label: &&str| label.parse::<engine::Interval>().ok() == Some(bar.interval);
        let Some(interval) = BAR_INTERVALS.iter().position(live) else {
            return;
        };
        let key = Channel::Bars {
            interval: interval as u8,
            instrument: bar.instrument,
        }
        .key();
        let meta = BarMeta {
            seq: self.bar_seq.fetch_add(1, Ordering::Relaxed) + 1,
            ts_recv: engine::clock::now_ns(),
            snapshot: false,
            amended,
        };
        self.publish_other(
            key,
            || {
                lock(&self.latest_bars).insert(key, (Arc::from(name), *bar, meta));
            },
            || {
                let mut text = String::with_capacity(320);
                write_bar(&mut text, name, bar, meta);
                Outgoing {
                    text: text.into(),
                    key: Some(key),
                    seq: meta.seq,
                    ts_recv: meta.ts_recv,
                }
            },
        );
    }
}

impl Hub {
    /// Sends a message of a channel that does not carry ticks (bars, valuations) to its
    /// subscribers. `remember` keeps it as the channel's snapshot under the hub's writer
    /// lock, which a subscribe holds throughout: a subscriber either gets it as its snapshot
    /// or is in the list and gets it live, never neither. `message` is built only when
    /// someone subscribes, and queues are pushed after the locks are released (a subscribe
    /// takes a queue lock before the subscriber lists).
    fn publish_other(
        &self,
        key: ChannelKey,
        remember: impl FnOnce(),
        message: impl FnOnce() -> Outgoing,
    ) {
        let list = {
            let _writer = lock(&self.writer);
            remember();
            match lock(&self.others).get(&key) {
                Some(list) if !list.is_empty() => list.clone(),
                _ => return,
            }
        };
        let message = message();
        let policy = self.config.policy();
        for conn in &list {
            match lock(&conn.queue).push(message.clone(), policy) {
                Push::Full => conn.request_close(CLOSE_SLOW),
                Push::Conflated => self.metrics.conflated.add(1),
                Push::Queued | Push::Filtered => {}
            }
            conn.notify.notify_one();
        }
    }
}

/// A `valuation` message turned into its snapshot form: `"type":"snapshot"` and
/// `"snapshot":true`, the rest unchanged.
fn as_snapshot(message: &str) -> String {
    let body = message
        .strip_prefix("{\"type\":\"valuation\"")
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or("");
    format!("{{\"type\":\"snapshot\"{body},\"snapshot\":true}}")
}

impl ValuationSink for Hub {
    /// Queues the valuation for the channel's subscribers and keeps it as the snapshot. Called
    /// by the portfolio book (its consumer thread, or a REST request right after a
    /// transaction).
    fn publish_valuation(&self, portfolio: u64, message: String, ts_recv: i64) {
        let key = Channel::Portfolio(portfolio).key();
        let text = Utf8Bytes::from(message);
        self.publish_other(
            key,
            || {
                lock(&self.latest_valuations).insert(key, text.clone());
            },
            || Outgoing {
                text: text.clone(),
                key: Some(key),
                seq: self.valuation_seq.fetch_add(1, Ordering::Relaxed) + 1,
                ts_recv,
            },
        );
    }

    fn forget_portfolio(&self, portfolio: u64) {
        lock(&self.latest_valuations).remove(&Channel::Portfolio(portfolio).key());
    }

    fn has_subscribers(&self, portfolio: u64) -> bool {
        lock(&self.others)
            .get(&Channel::Portfolio(portfolio).key())
            .is_some_and(|l| !l.is_empty())
    }
}

/// Shortest time between two `gap` messages to one connection: laps in between are merged.
pub const GAP_MESSAGE_INTERVAL: Duration = Duration::from_millis(100);

/// Laps not yet told to clients: the first skipped sequence, the last resume point, and how
/// many ticks were skipped in all.
#[derive(Debug, Clone, Copy)]
struct PendingGap {
    from: u64,
    to: u64,
    missed: u64,
}

/// Runs on the fanout consumer's thread: applies each tick to the latest-value table and
/// queues it for its subscribers, notifying each touched connection once per batch.
#[derive(Debug)]
pub struct Dispatcher {
    hub: Arc<Hub>,
    touched: Vec<Arc<Conn>>,
    pending_gap: Option<PendingGap>,
    last_gap_sent: Option<Instant>,
}

impl Dispatcher {
    /// A dispatcher for `hub`. Only one may run per hub.
    pub fn new(hub: Arc<Hub>) -> Dispatcher {
        Dispatcher {
            hub,
            touched: Vec::new(),
            pending_gap: None,
            last_gap_sent: None,
        }
    }

    /// Handles one tick.
    #[inline]
    pub fn on_tick(&mut self, tick: &Tick) {
        let hub = &*self.hub;
        hub.latest.apply(tick);
        let Some(subs) = hub.ticks.get(tick.instrument) else {
            return;
        };
        let list = match tick.kind() {
            TickKind::Trade => subs.trades.load(),
            TickKind::Quote => subs.quotes.load(),
        };
        if list.is_empty() {
            return;
        }
        let Some(name) = subs.name.get() else {
            return;
        };
        // Serialized once; every subscriber's queue shares these bytes.
        let mut text = String::with_capacity(192 + name.len());
        write_tick(&mut text, name, tick, false);
        let message = Outgoing {
            text: text.into(),
            key: Some(Channel::for_tick(tick.kind(), tick.instrument).key()),
            seq: tick.seq,
            ts_recv: tick.ts_recv,
        };
        let policy = hub.config.policy();
        for conn in list.iter() {
            let outcome = lock(&conn.queue).push(message.clone(), policy);
            match outcome {
                Push::Queued => {}
                Push::Conflated => hub.metrics.conflated.add_single_writer(1),
                Push::Filtered => continue,
                Push::Full => {
                    if conn.close_requested().is_none() {
                        hub.metrics.slow_closes.add(1);
                        tracing::info!(
                            conn = conn.id,
                            "closing slow consumer: queue past its hard limit"
                        );
                    }
                    conn.request_close(CLOSE_SLOW);
                    continue;
                }
            }
            touch(&mut self.touched, conn);
        }
    }

    /// Wakes every connection that got messages since the last flush, and sends pending gap
    /// messages when they are due. Call after each batch.
    pub fn flush(&mut self) {
        if self.pending_gap.is_some()
            && self
                .last_gap_sent
                .is_none_or(|t| t.elapsed() >= GAP_MESSAGE_INTERVAL)
        {
            self.send_gap();
        }
        for conn in self.touched.drain(..) {
            conn.pending.store(false, Ordering::Relaxed);
            conn.notify.notify_one();
        }
    }

    /// Records that the dispatcher skipped `gap`. Clients hear of it at the next
    /// [`Dispatcher::flush`], merged with other laps within [`GAP_MESSAGE_INTERVAL`].
    pub fn on_gap(&mut self, gap: Gap) {
        self.hub.metrics.gaps.add(1);
        self.hub.metrics.gap_ticks.add(gap.missed());
        let pending = self.pending_gap.get_or_insert(PendingGap {
            from: gap.from,
            to: gap.to,
            missed: 0,
        });
        pending.to = gap.to;
        pending.missed += gap.missed();
    }

    /// Tells every connection with a tick channel about the pending gap.
    fn send_gap(&mut self) {
        let Some(gap) = self.pending_gap.take() else {
            return;
        };
        self.last_gap_sent = Some(Instant::now());
        let hub = &*self.hub;
        let conns: Vec<Arc<Conn>> = lock(&hub.conns).values().cloned().collect();
        for conn in conns {
            let names: Vec<String> = lock(&conn.channels)
                .iter()
                .filter(|(_, channel)| channel.is_tick_channel())
                .map(|(name, _)| name.clone())
                .collect();
            if !names.is_empty() {
                let text = gap_message(
                    gap.from,
                    gap.to,
                    gap.missed,
                    names.iter().map(String::as_str),
                );
                lock(&conn.queue).push(Outgoing::control(text), hub.config.policy());
                touch(&mut self.touched, &conn);
            }
        }
    }
}

/// Adds `conn` to the dispatcher's connections to wake at the next flush, once. `pending` is
/// read and written by the dispatcher thread only, so a load and a store do: no locked
/// read-modify-write per subscriber per tick.
#[inline]
fn touch(touched: &mut Vec<Arc<Conn>>, conn: &Arc<Conn>) {
    if !conn.pending.load(Ordering::Relaxed) {
        conn.pending.store(true, Ordering::Relaxed);
        touched.push(conn.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::{Interval, Price, Qty};

    #[test]
    fn valuations_leave_the_bar_numbers_without_holes() {
        let registry = Arc::new(Registry::new());
        let id = registry.intern("SIM:AAA").unwrap();
        let hub = Arc::new(Hub::new(
            registry,
            Arc::new(LatestTable::new()),
            FanoutConfig::default(),
        ));
        let conn = hub.connect().unwrap();
        let channel = Channel::Portfolio(7);
        hub.subscribe(&conn, &[("portfolio.7".into(), channel)], None);
        let bar = |ts| {
            Bar::from_trade(
                id,
                Interval::SECOND,
                ts,
                Price::from_units(5),
                Qty::from_units(1),
            )
        };
        hub.publish_bar("SIM:AAA", &bar(0), false);
        hub.publish_valuation(7, "{\"type\":\"valuation\"}".into(), 1);
        hub.publish_bar("SIM:AAA", &bar(1_000_000_000), false);
        let bars = Channel::Bars {
            interval: 0,
            instrument: id,
        };
        let snapshot = hub.bar_snapshot_message(bars, "bars.1s.SIM:AAA");
        assert!(snapshot.contains("\"seq\":2,"), "{snapshot}");
    }
}
