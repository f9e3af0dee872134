//! Operations routes: `GET /health`, `GET /ready` and `GET /metrics`, which read the figures of
//! every part of the engine, plus the JSON 404 for unknown paths.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use engine::json::{error_body, write_str, write_str_array};
use engine::latency::LatencyHistogram;
use engine::metrics::{MetricType, PromText};
use engine::{Registry, Ring};
use fanout::Hub;
use feeds::{FeedState, FeedStats};
use portfolio_core::book::LiveBook;
use storage::journal::JournalHandle;
use storage::questdb::QuestDbSink;
use storage::writer::WriterStats;

/// What the ops routes read.
#[derive(Debug, Clone)]
pub struct OpsState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    started: Instant,
    parts: OpsParts,
}

impl std::ops::Deref for Inner {
    type Target = OpsParts;

    fn deref(&self) -> &OpsParts {
        &self.parts
    }
}

/// The engine's parts the ops routes read.
#[derive(Debug)]
pub struct OpsParts {
    /// The ring.
    pub ring: Ring,
    /// The instruments.
    pub registry: Arc<Registry>,
    /// Each feed's figures.
    pub feeds: Vec<Arc<FeedStats>>,
    /// Each ring consumer's name and whether it runs.
    pub consumers: Vec<(String, Arc<AtomicBool>)>,
    /// The WebSocket hub.
    pub hub: Arc<Hub>,
    /// Storage's figures.
    pub storage: StorageStats,
    /// The portfolio book, when portfolios are on.
    pub portfolio: Option<Arc<LiveBook>>,
    /// Ring (per consumer) and storage latency stages.
    pub stages: Vec<Arc<LatencyHistogram>>,
}

/// Storage's counters, the journal's indexes and the QuestDB sink, for `/metrics`.
pub type StorageStats = (
    Arc<WriterStats>,
    Option<JournalHandle>,
    Option<Arc<QuestDbSink>>,
);

impl OpsState {
    /// State over the engine's parts.
    pub fn new(parts: OpsParts) -> OpsState {
        OpsState {
            inner: Arc::new(Inner {
                started: Instant::now(),
                parts,
            }),
        }
    }
}

/// The ops routes and the JSON fallback.
pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/latency", get(latency))
        .route("/v1/feeds", get(feeds_status))
        .fallback(not_found)
        .with_state(state)
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn not_found() -> Response {
    json(
        StatusCode::NOT_FOUND,
        error_body("not_found", "no such endpoint"),
    )
}

/// Alive: answers as soon as the server runs.
async fn health(State(state): State<OpsState>) -> Response {
    json(
        StatusCode::OK,
        format!(
            "{{\"status\":\"ok\",\"version\":\"{}\",\"uptime_s\":{}}}",
            env!("CARGO_PKG_VERSION"),
            state.inner.started.elapsed().as_secs()
        ),
    )
}

/// Ready: every feed runs (live, or connected but stale, or a replay that has finished) and
/// every consumer runs. 503 with the reasons otherwise.
async fn ready(State(state): State<OpsState>) -> Response {
    let inner = &state.inner;
    let mut waiting = Vec::new();
    for feed in &inner.feeds {
        let feed_state = feed.state();
        let running = matches!(
            feed_state,
            FeedState::Live | FeedState::Stale | FeedState::Stopped
        );
        if !running {
            waiting.push(format!("feed {} is {}", feed.name(), feed_state.as_str()));
        }
    }
    for (name, running) in &inner.consumers {
        if !running.load(Ordering::Acquire) {
            waiting.push(format!("consumer {name} is not running"));
        }
    }
    let ready = waiting.is_empty();
    let mut body = format!("{{\"ready\":{ready},\"waiting_for\":");
    write_str_array(&mut body, waiting.iter().map(String::as_str));
    body.push('}');
    let status = match ready {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    json(status, body)
}

/// Prometheus text exposition of every figure the engine keeps.
async fn metrics(State(state): State<OpsState>) -> Response {
    let inner = &state.inner;
    let mut text = PromText::new();
    text.family(
        "nexamd_build_info",
        MetricType::Gauge,
        "Build information; always 1.",
    )
    .sample(
        "nexamd_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );
    text.single(
        "nexamd_uptime_seconds",
        MetricType::Gauge,
        "Seconds since the engine started.",
        inner.started.elapsed().as_secs(),
    );
    text.single(
        "nexamd_instruments",
        MetricType::Gauge,
        "Instruments in the registry.",
        inner.registry.len(),
    );

    type FeedCounter = fn(&FeedStats) -> u64;
    let feed_counters: [(&str, &str, FeedCounter); 7] = [
        (
            "nexamd_ticks_ingested_total",
            "Ticks a feed published into the ring.",
            |f| f.ticks.get(),
        ),
        (
            "nexamd_feed_messages_total",
            "Provider messages a feed read.",
            |f| f.messages.get(),
        ),
        (
            "nexamd_feed_parse_errors_total",
            "Provider messages a feed could not parse.",
            |f| f.parse_errors.get(),
        ),
        (
            "nexamd_feed_gaps_total",
            "Sequence gaps a feed saw in its provider's stream.",
            |f| f.gaps.get(),
        ),
        (
            "nexamd_feed_out_of_order_total",
            "Sequenced provider messages that went back or repeated.",
            |f| f.out_of_order.get(),
        ),
        (
            "nexamd_feed_venue_errors_total",
            "Errors a provider reported to a feed.",
            |f| f.venue_errors.get(),
        ),
        (
            "nexamd_feed_reconnects_total",
            "Times a feed reconnected.",
            |f| f.reconnects.get(),
        ),
    ];
    for (name, help, read) in feed_counters {
        text.family(name, MetricType::Counter, help);
        for feed in &inner.feeds {
            text.sample(name, &[("feed", feed.name())], read(feed));
        }
    }
    text.family(
        "nexamd_feed_state",
        MetricType::Gauge,
        "1 for the state each feed is in, 0 for the others.",
    );
    for feed in &inner.feeds {
        let current = feed.state();
        for s in FeedState::ALL {
            text.sample(
                "nexamd_feed_state",
                &[("feed", feed.name()), ("state", s.as_str())],
                u8::from(s == current),
            );
        }
    }

    text.family(
        "nexamd_feed_stale_channels",
        MetricType::Gauge,
        "Subscribed channels of a feed silent for longer than its stale_after_ms.",
    );
    for feed in &inner.feeds {
        let stale = feed.channels().iter().filter(|c| c.is_stale()).count();
        text.sample(
            "nexamd_feed_stale_channels",
            &[("feed", feed.name())],
            stale,
        );
    }

    let ring = inner.ring.stats();
    text.single(
        "nexamd_ring_capacity",
        MetricType::Gauge,
        "Slots in the tick ring.",
        ring.capacity,
    );
    text.single(
        "nexamd_ring_published_total",
        MetricType::Counter,
        "Sequence numbers handed out by the ring (ticks published).",
        ring.published,
    );
    text.single(
        "nexamd_ring_depth",
        MetricType::Gauge,
        "Ticks published but not yet read by the slowest gating consumer.",
        ring.depth,
    );
    type ConsumerFigure = fn(&engine::ConsumerStats) -> u64;
    let consumer_figures: [(&str, MetricType, &str, ConsumerFigure); 3] = [
        (
            "nexamd_consumer_lag",
            MetricType::Gauge,
            "Ticks published but not yet read by the consumer.",
            |c| c.lag,
        ),
        (
            "nexamd_consumer_lapped_total",
            MetricType::Counter,
            "Times producers lapped the (non-gating) consumer.",
            |c| c.lapped,
        ),
        (
            "nexamd_consumer_missed_total",
            MetricType::Counter,
            "Ticks the consumer skipped because it was lapped.",
            |c| c.missed,
        ),
    ];
    for (name, kind, help, read) in consumer_figures {
        text.family(name, kind, help);
        for consumer in &ring.consumers {
            let gating = if consumer.gating { "true" } else { "false" };
            text.sample(
                name,
                &[("consumer", &consumer.name), ("gating", gating)],
                read(consumer),
            );
        }
    }
    text.single(
        "nexamd_latest_updates_total",
        MetricType::Counter,
        "Ticks applied to the latest-value table.",
        inner.hub.latest().updates.get(),
    );
    inner.hub.write_metrics(&mut text);
    write_storage_metrics(&mut text, &inner.storage);
    text.family(
        "nexamd_latency_seconds",
        MetricType::Histogram,
        "Latency per stage since start (docs/operations.md): parse.<feed> is read to ticks; \
         ring.<consumer> is ts_recv to the consumer having handled the tick; fanout is \
         ts_recv to socket write; storage.journal is ts_recv to journal fsync; \
         storage.parquet is ts_recv to the Parquet commit; portfolio is ts_recv of the tick \
         that moved a portfolio to its valuation published.",
    );
    for stage in stages(inner) {
        stage.write_prometheus_samples(&mut text, "nexamd_latency_seconds");
    }
    let body = text.finish();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, PromText::CONTENT_TYPE)],
        body,
    )
        .into_response()
}

fn write_storage_metrics(text: &mut PromText, (stats, journal, questdb): &StorageStats) {
    let counters = [
        (
            "nexamd_storage_ticks_total",
            "Ticks the storage consumer handled.",
            stats.ticks.get(),
        ),
        (
            "nexamd_storage_bars_closed_total",
            "Bars closed (1s and 1m).",
            stats.bars_closed.get(),
        ),
        (
            "nexamd_storage_bars_amended_total",
            "Closed bars amended by a late trade within the grace period.",
            stats.bars_amended.get(),
        ),
        (
            "nexamd_storage_late_trades_total",
            "Trades left out of bars: later than the grace period.",
            stats.late_trades.get(),
        ),
        (
            "nexamd_storage_journal_errors_total",
            "Journal appends or writes that failed.",
            stats.journal_errors.get(),
        ),
        (
            "nexamd_storage_segments_deleted_total",
            "Journal segments deleted once covered by Parquet.",
            stats.segments_deleted.get(),
        ),
        (
            "nexamd_storage_files_written_total",
            "Parquet files written by the persister.",
            stats.files_written.get(),
        ),
        (
            "nexamd_storage_files_compacted_total",
            "Parquet files merged by compaction.",
            stats.files_compacted.get(),
        ),
        (
            "nexamd_storage_files_expired_total",
            "Parquet files removed by retention.",
            stats.partitions_expired.get(),
        ),
        (
            "nexamd_storage_persist_errors_total",
            "Persist, compaction or retention cycles that failed.",
            stats.persist_errors.get(),
        ),
    ];
    for (name, help, value) in counters {
        text.single(name, MetricType::Counter, help, value);
    }
    if let Some(journal) = journal {
        let j = journal.stats();
        text.single(
            "nexamd_journal_written_index",
            MetricType::Gauge,
            "Highest journal index written to the OS.",
            journal.written_index(),
        );
        text.single(
            "nexamd_journal_durable_index",
            MetricType::Gauge,
            "Highest journal index known fsynced.",
            journal.durable_index(),
        );
        text.single(
            "nexamd_journal_bytes_written_total",
            MetricType::Counter,
            "Bytes written to journal segments.",
            j.bytes_written,
        );
        text.single(
            "nexamd_journal_fsyncs_total",
            MetricType::Counter,
            "Journal fsyncs.",
            j.fsyncs,
        );
    }
    if let Some(questdb) = questdb {
        let q = questdb.stats();
        let counters = [
            (
                "nexamd_questdb_sent_rows_total",
                "Rows QuestDB acknowledged.",
                q.sent_rows,
            ),
            (
                "nexamd_questdb_dropped_rows_total",
                "Rows dropped: queue full while QuestDB is slow or down, refused, or unsent at stop.",
                q.dropped_rows,
            ),
            (
                "nexamd_questdb_send_errors_total",
                "Failed QuestDB connects and requests.",
                q.send_errors,
            ),
        ];
        for (name, help, value) in counters {
            text.single(name, MetricType::Counter, help, value);
        }
        text.single(
            "nexamd_questdb_connected",
            MetricType::Gauge,
            "1 when the last QuestDB request succeeded.",
            u8::from(q.connected),
        );
        text.single(
            "nexamd_questdb_queued_rows",
            MetricType::Gauge,
            "Rows waiting for QuestDB.",
            q.queued_rows,
        );
    }
}

/// Each feed's state, counters and channels.
async fn feeds_status(State(state): State<OpsState>) -> Response {
    use std::fmt::Write as _;
    let time = |out: &mut String, ns: i64| {
        if ns == 0 {
            out.push_str("null");
        } else {
            write_str(out, &engine::time::format_rfc3339(ns));
        }
    };
    let mut body = String::from("{\"feeds\":[");
    for (i, feed) in state.inner.feeds.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str("{\"name\":");
        write_str(&mut body, feed.name());
        let _ = write!(
            body,
            ",\"state\":\"{}\",\"messages\":{},\"ticks\":{},\"parse_errors\":{},\"gaps\":{},\"out_of_order\":{},\"venue_errors\":{},\"reconnects\":{},\"last_message\":",
            feed.state().as_str(),
            feed.messages.get(),
            feed.ticks.get(),
            feed.parse_errors.get(),
            feed.gaps.get(),
            feed.out_of_order.get(),
            feed.venue_errors.get(),
            feed.reconnects.get(),
        );
        time(&mut body, feed.last_message_ns());
        body.push_str(",\"channels\":[");
        for (j, channel) in feed.channels().iter().enumerate() {
            if j > 0 {
                body.push(',');
            }
            body.push_str("{\"instrument\":");
            write_str(&mut body, &channel.instrument);
            let kind = match channel.kind {
                engine::TickKind::Trade => "trades",
                engine::TickKind::Quote => "quotes",
            };
            let _ = write!(
                body,
                ",\"kind\":\"{kind}\",\"stale\":{},\"last_tick\":",
                channel.is_stale()
            );
            time(&mut body, channel.last_tick_ns());
            body.push('}');
        }
        body.push_str("]}");
    }
    body.push_str("]}");
    json(StatusCode::OK, body)
}

/// Every latency stage, in pipeline order.
fn stages(inner: &Inner) -> Vec<&LatencyHistogram> {
    let (ring, others): (Vec<&LatencyHistogram>, Vec<_>) = inner
        .stages
        .iter()
        .map(|s| &**s)
        .partition(|s| s.stage().starts_with("ring."));
    let mut stages: Vec<&LatencyHistogram> = inner.feeds.iter().map(|f| &f.parse_latency).collect();
    stages.extend(ring);
    stages.push(&inner.hub.latency);
    stages.extend(others);
    if let Some(book) = &inner.portfolio {
        stages.push(&book.latency);
    }
    stages
}

/// Latency percentiles per stage, in ns: since start, and over the last minute (`window`).
async fn latency(State(state): State<OpsState>) -> Response {
    let mut body = format!(
        "{{\"unit\":\"ns\",\"window_s\":{},\"stages\":{{",
        engine::latency::WINDOW.as_secs()
    );
    for (i, histogram) in stages(&state.inner).into_iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        write_str(&mut body, histogram.stage());
        body.push(':');
        histogram.write_json(&mut body);
    }
    body.push_str("}}");
    json(StatusCode::OK, body)
}
