//! Wiring: builds the registry and the ring, starts the consumers and the feeds on their own
//! threads, serves HTTP, and shuts it all down in order on SIGINT or SIGTERM.
//!
//! Shutdown order: stop accepting HTTP, cancel the feeds and join their threads (no producer
//! is left), close the ring, let every consumer drain what was published, join them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use engine::latency::LatencyHistogram;
use engine::{Consumer, Gap, Registry, Ring, Tick, WaitOutcome};
use fanout::{Dispatcher, Hub, LatestTable};
use feeds::{
    Feed, FeedContext, FeedStats, FeedThread, Pace, Replay, ReplayFeed, SyntheticFeed, WsFeed,
};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Source};
use crate::ops::{self, OpsState};

/// Ticks a consumer takes from the ring per poll.
const POLL_BATCH: usize = 4096;
/// Longest WebSocket connections get to close on shutdown.
const WS_CLOSE_WAIT: Duration = Duration::from_secs(3);
/// Longest the HTTP server may take to finish open requests on shutdown.
const HTTP_DRAIN: Duration = Duration::from_secs(5);

/// What a consumer thread does with what it reads.
pub(crate) trait RingHandler: Send + 'static {
    /// One tick, in sequence order.
    fn on_tick(&mut self, tick: &Tick);
    /// After each batch of ticks.
    fn on_batch_end(&mut self) {}
    /// The consumer was lapped (non-gating consumers only).
    fn on_gap(&mut self, gap: Gap);
    /// How long to wait for ticks before calling [`RingHandler::on_idle`]; `None`: forever.
    fn idle_timeout(&self) -> Option<Duration> {
        None
    }
    /// Nothing arrived within the idle timeout.
    fn on_idle(&mut self) {}
    /// The ring is closed and drained.
    fn on_close(self)
    where
        Self: Sized,
    {
    }
}

/// Storage's consumer: journal, bars, memory (gating: it sees every tick).
struct StorageConsumer {
    writer: storage::writer::StorageWriter,
    durability: Durability,
}

/// Stage `storage.journal`: `ts_recv` → the journal fsync that made the tick durable, as
/// the storage consumer sees it (after each batch and every idle 50 ms). Each batch counts
/// its ticks at its oldest tick's latency, an upper bound.
struct Durability {
    journal: Option<storage::journal::JournalHandle>,
    /// (last journal index of a batch, its oldest `ts_recv`, its tick count), oldest first.
    pending: std::collections::VecDeque<(u64, i64, u64)>,
    oldest: i64,
    count: u64,
    latency: Arc<LatencyHistogram>,
}

/// Batches awaiting their fsync at most; past it (fsync = never) the oldest are forgotten.
const DURABILITY_PENDING: usize = 4096;

impl Durability {
    fn on_tick(&mut self, tick: &Tick) {
        self.oldest = self.oldest.min(tick.ts_recv);
        self.count += 1;
    }

    fn on_batch_end(&mut self) {
        if let Some(journal) = &self.journal
            && self.count > 0
        {
            if self.pending.len() >= DURABILITY_PENDING {
                self.pending.pop_front();
            }
            self.pending
                .push_back((journal.written_index(), self.oldest, self.count));
        }
        self.oldest = i64::MAX;
        self.count = 0;
        self.check();
    }

    fn check(&mut self) {
        let Some(journal) = &self.journal else {
            return;
        };
        let durable = journal.durable_index();
        let now = engine::clock::now_ns();
        while let Some(&(index, oldest, count)) = self.pending.front() {
            if index > durable {
                break;
            }
            self.latency.record_n(now - oldest, count);
            self.pending.pop_front();
        }
    }
}

impl RingHandler for StorageConsumer {
    fn on_tick(&mut self, tick: &Tick) {
        self.writer.on_tick(tick);
        self.durability.on_tick(tick);
    }

    fn on_batch_end(&mut self) {
        self.writer.on_batch_end();
        self.durability.on_batch_end();
    }

    fn on_gap(&mut self, gap: Gap) {
        // A gating consumer is never lapped; should the ring ever say so, it is a bug worth
        // a loud line rather than a silent hole in history.
        tracing::error!(
            from = gap.from,
            to = gap.to,
            "storage consumer lapped: ticks missing from history"
        );
    }

    fn idle_timeout(&self) -> Option<Duration> {
        Some(Duration::from_millis(50))
    }

    fn on_idle(&mut self) {
        self.writer.on_idle();
        self.durability.check();
    }

    fn on_close(self) {
        self.writer.close();
    }
}

/// The fanout's consumer: the dispatcher, and a rate-limited log of laps.
struct FanoutConsumer {
    dispatcher: Dispatcher,
    last_log: Option<Instant>,
    laps: u64,
    missed: u64,
}

impl RingHandler for FanoutConsumer {
    fn on_tick(&mut self, tick: &Tick) {
        self.dispatcher.on_tick(tick);
    }

    fn on_batch_end(&mut self) {
        self.dispatcher.flush();
    }

    fn on_gap(&mut self, gap: Gap) {
        self.dispatcher.on_gap(gap);
        self.dispatcher.flush();
        self.laps += 1;
        self.missed += gap.missed();
        // At most one line a second, with the totals since the last one.
        if self
            .last_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(
                consumer = "fanout",
                laps = self.laps,
                missed = self.missed,
                resumed_at = gap.to,
                "consumer lapped by producers"
            );
            self.last_log = Some(Instant::now());
            (self.laps, self.missed) = (0, 0);
        }
    }
}

/// A consumer running on its own thread.
#[derive(Debug)]
pub struct ConsumerThread {
    /// Its name, as on the ring.
    pub name: String,
    /// Set once its loop runs.
    pub running: Arc<AtomicBool>,
    /// `ts_recv` → the consumer has handled the tick (end of its batch): stage `ring.<name>`.
    pub latency: Arc<LatencyHistogram>,
    handle: JoinHandle<()>,
}

/// Runs `consumer` on a thread until the ring is closed and drained.
fn spawn_consumer(mut consumer: Consumer, mut handler: impl RingHandler) -> Result<ConsumerThread> {
    let name = consumer.name().to_owned();
    let running = Arc::new(AtomicBool::new(false));
    let flag = running.clone();
    let latency = Arc::new(LatencyHistogram::new(format!("ring.{name}")));
    let stage = latency.clone();
    let handle = std::thread::Builder::new()
        .name(format!("consumer-{name}"))
        .spawn(move || {
            flag.store(true, Ordering::Release);
            let timeout = handler.idle_timeout();
            // The batch's receive times, recorded under one lock when the batch is handled.
            let mut received: Vec<i64> = Vec::with_capacity(POLL_BATCH);
            loop {
                match consumer.wait(timeout.map(|t| Instant::now() + t)) {
                    WaitOutcome::Ready => {
                        received.clear();
                        let polled = consumer.poll(POLL_BATCH, |tick| {
                            received.push(tick.ts_recv);
                            handler.on_tick(tick);
                        });
                        handler.on_batch_end();
                        if let Err(gap) = polled {
                            handler.on_gap(gap);
                        }
                        let now = engine::clock::now_ns();
                        stage.record_all(received.iter().map(|ts| now - ts));
                    }
                    WaitOutcome::Closed => break,
                    WaitOutcome::TimedOut => handler.on_idle(),
                }
            }
            handler.on_close();
            flag.store(false, Ordering::Release);
            tracing::info!(consumer = consumer.name(), "consumer drained and stopped");
        })
        .with_context(|| format!("cannot start consumer thread {name}"))?;
    Ok(ConsumerThread {
        name,
        running,
        latency,
        handle,
    })
}

/// Holds the data directory's lock file for the engine's lifetime.
#[derive(Debug)]
struct DataDirLock {
    _file: File,
}

fn lock_data_dir(dir: &Path) -> Result<DataDirLock> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let path = dir.join("LOCK");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "data directory {} is in use by another nexamd process",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Storage opened before the engine starts: the writer for the consumer thread, the store
/// for the history routes, the persister for its thread.
struct Storage {
    writer: storage::writer::StorageWriter,
    store: Arc<storage::store::Store>,
    persister: storage::persist::Persister,
    stats: Arc<storage::writer::WriterStats>,
    journal: Option<storage::journal::JournalHandle>,
    questdb: Option<Arc<storage::questdb::QuestDbSink>>,
}

impl Storage {
    fn open(config: &Config, registry: Arc<Registry>, hub: Arc<Hub>) -> Result<Storage> {
        let data_dir = &config.engine.data_dir;
        let (mut writer, store, state, recovered) =
            storage::writer::open(data_dir, &config.storage, registry)
                .with_context(|| format!("cannot open storage in {}", data_dir.display()))?;
        tracing::info!(
            replayed = recovered.replayed,
            uncommitted_removed = recovered.uncommitted_removed,
            journal_bytes_cut = recovered.journal_bytes_cut,
            enabled = config.storage.enabled,
            "storage opened"
        );
        writer.set_sink(hub);
        let stats = writer.stats();
        let journal = writer.journal_handle();
        let questdb = writer.questdb();
        let persister = storage::persist::Persister::new(
            store.clone(),
            config.storage.clone(),
            state,
            stats.clone(),
        );
        Ok(Storage {
            writer,
            store,
            persister,
            stats,
            journal,
            questdb,
        })
    }
}

/// The running engine's threads.
struct Engine {
    ring: Ring,
    feeds: Vec<FeedThread>,
    consumers: Vec<ConsumerThread>,
    persister: Option<(Arc<storage::persist::Stop>, JoinHandle<()>)>,
    shutdown: CancellationToken,
    /// Storage's latency stages (`storage.journal`, `storage.parquet`).
    storage_stages: Vec<Arc<LatencyHistogram>>,
}

impl Engine {
    fn start(
        config: &Config,
        registry: Arc<Registry>,
        hub: Arc<Hub>,
        storage: Option<(storage::writer::StorageWriter, storage::persist::Persister)>,
        portfolio: Option<Arc<portfolio_core::book::LiveBook>>,
    ) -> Result<Engine> {
        let mut feed_list: Vec<Box<dyn Feed>> = Vec::new();
        if let Some(synthetic) = config.feeds.synthetic.as_ref().filter(|s| s.enabled) {
            feed_list.push(Box::new(SyntheticFeed::new(synthetic.clone())));
        }
        for (name, venue_config) in config.feeds.venues().filter(|(_, c)| c.enabled) {
            let venue = feeds::venues::live(name, venue_config)
                .with_context(|| format!("feed {name} cannot start"))?;
            feed_list.push(Box::new(WsFeed::new(venue, venue_config.clone())));
        }
        if let Some(replay) = config.feeds.replay.as_ref().filter(|r| r.enabled) {
            let venue = feeds::venues::parser(&replay.venue).context("feed replay cannot start")?;
            feed_list.push(Box::new(ReplayFeed::new(Replay::new(
                venue,
                replay.file.clone(),
                Pace::from_speed(replay.speed),
            ))));
        }
        if feed_list.is_empty() {
            tracing::warn!("no feed is enabled: the engine will publish nothing");
        }
        let mut builder =
            Ring::builder(config.engine.ring_capacity).wait_strategy(config.engine.wait.strategy());
        if feed_list.len() == 1 {
            // One feed, one producer: the ring can skip the locked claim per tick.
            builder = builder.single_producer();
        }
        if storage.is_some() {
            builder = builder.gating("storage");
        }
        if portfolio.is_some() {
            builder = builder.gating("portfolio");
        }
        let (ring, gating) = builder.build()?;
        let mut gating = gating.into_iter();
        let mut consumers = Vec::new();
        let mut persister = None;
        let storage_consumer = storage.is_some().then(|| gating.next()).flatten();
        if let (Some(book), Some(consumer)) = (portfolio, gating.next()) {
            let handler = crate::portfolio::PortfolioConsumer {
                book,
                trades: Vec::with_capacity(POLL_BATCH),
            };
            consumers.push(spawn_consumer(consumer, handler)?);
        }
        let mut storage_stages = Vec::new();
        if let (Some((writer, mut background)), Some(consumer)) = (storage, storage_consumer) {
            let journal_latency = Arc::new(LatencyHistogram::new("storage.journal"));
            let parquet_latency = Arc::new(LatencyHistogram::new("storage.parquet"));
            background.set_latency(parquet_latency.clone());
            let durability = Durability {
                journal: writer.journal_handle(),
                pending: std::collections::VecDeque::new(),
                oldest: i64::MAX,
                count: 0,
                latency: journal_latency.clone(),
            };
            consumers.push(spawn_consumer(
                consumer,
                StorageConsumer { writer, durability },
            )?);
            storage_stages.extend([journal_latency, parquet_latency]);
            let stop = Arc::new(storage::persist::Stop::default());
            let handle = background
                .spawn(stop.clone())
                .context("cannot start the persister thread")?;
            persister = Some((stop, handle));
        }
        let fanout = FanoutConsumer {
            dispatcher: Dispatcher::new(hub),
            last_log: None,
            laps: 0,
            missed: 0,
        };
        consumers.push(spawn_consumer(ring.subscribe("fanout"), fanout)?);

        let shutdown = CancellationToken::new();
        let mut feeds = Vec::new();
        for mut feed in feed_list {
            feed.register(&registry)
                .with_context(|| format!("feed {} cannot register its instruments", feed.name()))?;
            let stats = Arc::new(FeedStats::new(feed.name()));
            let ctx = FeedContext {
                producer: ring.producer()?,
                registry: registry.clone(),
                stats,
                shutdown: shutdown.clone(),
            };
            feeds.push(FeedThread::spawn(feed, ctx)?);
        }
        Ok(Engine {
            ring,
            feeds,
            consumers,
            persister,
            shutdown,
            storage_stages,
        })
    }

    /// Stops the feeds, closes the ring, drains the consumers.
    fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        let mut failed = Vec::new();
        for feed in self.feeds {
            let name = feed.stats().name().to_owned();
            if let Err(e) = feed.join() {
                failed.push(format!("{name}: {e}"));
            }
        }
        self.ring.close();
        let published = self.ring.published();
        for consumer in self.consumers {
            if consumer.handle.join().is_err() {
                failed.push(format!("consumer {} panicked", consumer.name));
            }
        }
        // The consumers are drained: a last persist cycle writes what became final.
        if let Some((stop, handle)) = self.persister {
            stop.stop();
            if handle.join().is_err() {
                failed.push("persister panicked".into());
            }
        }
        tracing::info!(published, "engine stopped");
        match failed.is_empty() {
            true => Ok(()),
            false => anyhow::bail!("unclean stop: {}", failed.join("; ")),
        }
    }
}

/// SIGINT and SIGTERM handlers, registered before the engine announces it is listening so a
/// signal sent right after start-up is never lost to the default action.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Registers both handlers; needs to run inside the runtime.
    fn install() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    /// Waits for either signal.
    async fn recv(&mut self) {
        let name = tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "shutting down");
    }
}

/// Runs the engine until SIGINT or SIGTERM.
pub fn run(config: Config, source: Source) -> Result<()> {
    let data_dir: PathBuf = config.engine.data_dir.clone();
    let _lock = lock_data_dir(&data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("http")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.server.listen))
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    let mut signals = {
        let _runtime = runtime.enter();
        Signals::install()?
    };

    let registry = Arc::new(Registry::new());
    let latest = Arc::new(LatestTable::new());
    let hub = Arc::new(Hub::new(
        registry.clone(),
        latest.clone(),
        config.fanout.clone(),
    ));
    let storage = Storage::open(&config, registry.clone(), hub.clone())?;
    let history = storage::http::HistoryState {
        store: storage.store.clone(),
        max_rows: config.storage.max_rows,
    };
    let storage_stats = (
        storage.stats.clone(),
        storage.journal.clone(),
        storage.questdb.clone(),
    );
    let portfolios = match config.portfolio.enabled {
        true => Some(crate::portfolio::open(
            &config,
            registry.clone(),
            latest.clone(),
            storage.store.clone(),
            hub.clone(),
        )?),
        false => None,
    };
    let engine = Engine::start(
        &config,
        registry.clone(),
        hub.clone(),
        config
            .storage
            .enabled
            .then_some((storage.writer, storage.persister)),
        portfolios.as_ref().map(|p| p.book.clone()),
    )?;
    let ops = OpsState::new(ops::OpsParts {
        ring: engine.ring.clone(),
        registry: registry.clone(),
        feeds: engine.feeds.iter().map(|f| f.stats().clone()).collect(),
        consumers: engine
            .consumers
            .iter()
            .map(|c| (c.name.clone(), c.running.clone()))
            .collect(),
        hub: hub.clone(),
        storage: storage_stats,
        portfolio: portfolios.as_ref().map(|p| p.book.clone()),
        stages: engine
            .consumers
            .iter()
            .map(|c| c.latency.clone())
            .chain(engine.storage_stages.iter().cloned())
            .collect(),
    });
    let mut app = ops::router(ops)
        .merge(fanout::router(hub.clone()))
        .merge(storage::http::router(history));
    if let Some(parts) = &portfolios {
        app = app
            .merge(portfolio_core::http::router_with_body_limit(
                parts.service.clone(),
                config.server.max_body_bytes,
            ))
            .merge(portfolio_core::http::risk_router(
                parts.service.clone(),
                parts.market.clone(),
            ));
    }
    let keys = if config.auth.enabled {
        let store = crate::keys::KeyStore::open(&data_dir)?;
        let live = store
            .list()?
            .iter()
            .filter(|k| k.revoked_ns.is_none())
            .count();
        if live == 0 {
            tracing::warn!(
                "auth is on but no API key exists: create one with `nexamd keys create`"
            );
        }
        Some(store)
    } else {
        None
    };
    let auth_on = keys.is_some();
    let app = app.layer(axum::middleware::from_fn_with_state(
        Arc::new(crate::auth::AuthState::new(keys)),
        crate::auth::layer,
    ));
    tracing::info!(%addr, config = %source, data_dir = %data_dir.display(), auth = auth_on, version = env!("CARGO_PKG_VERSION"), "listening");

    let served = runtime.block_on(async {
        let stop = CancellationToken::new();
        let mut server = tokio::spawn({
            let stop = stop.clone();
            async move {
                axum::serve(no_delay(listener), app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
            }
        });
        tokio::select! {
            () = signals.recv() => hub.close_all(fanout::hub::CLOSE_GOING_AWAY),
            ended = &mut server => {
                // The server only ends by itself on an error: stop the engine too.
                return match ended {
                    Ok(result) => result.context("HTTP server stopped"),
                    Err(join) => Err(anyhow::anyhow!("HTTP server task failed: {join}")),
                };
            }
        }
        // WebSocket sessions outlive the HTTP server's graceful shutdown: give them time to
        // send their 1001 close and finish the handshake before the runtime goes.
        let deadline = tokio::time::Instant::now() + WS_CLOSE_WAIT;
        while hub.connection_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
        match tokio::time::timeout(HTTP_DRAIN, server).await {
            Ok(Ok(result)) => result.context("HTTP server failed"),
            Ok(Err(join)) => Err(anyhow::anyhow!("HTTP server task failed: {join}")),
            Err(_) => {
                tracing::warn!("open HTTP connections did not finish in time; closing them");
                Ok(())
            }
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    let stopped = engine.stop();
    served.and(stopped)
}

/// `listener`, with `TCP_NODELAY` set on every connection it accepts. Without it Nagle's
/// algorithm holds each small WebSocket frame until the client's delayed ACK: 20-40 ms of
/// added latency even at light load (benches/BENCHMARKS.md, fanout, session 6).
fn no_delay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener as _;

    #[tokio::test]
    async fn accepted_connections_send_without_nagle_delay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = no_delay(listener);
        let (accepted, client) =
            tokio::join!(listener.accept(), tokio::net::TcpStream::connect(addr));
        assert!(
            !client.unwrap().nodelay().unwrap(),
            "a fresh socket has Nagle on"
        );
        assert!(
            accepted.0.nodelay().unwrap(),
            "the accepted socket must not"
        );
    }
}
