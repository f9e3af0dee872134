//! Optional QuestDB sink: ticks and bars written to QuestDB over ILP/HTTP (`questdb-rs`), set in
//! `[storage.questdb]`.
//!
//! The sink never blocks its caller, the gating storage consumer. [`QuestDbSink::on_tick`] and
//! [`QuestDbSink::on_bar`] copy the record into a bounded queue (`buffer_rows` slots, allocated
//! once) and return; when the queue is full the record is dropped and counted. A background
//! thread drains the queue into an ILP buffer, sends it every `flush_interval_ms` or every
//! `max_batch_rows` rows, and while QuestDB is unreachable keeps the batch and retries with
//! exponential backoff (`retry_initial_ms` doubling up to `retry_max_ms`), reconnecting when
//! QuestDB is back. Nothing is written to disk: the journal and the Parquet files are the
//! record, QuestDB is a convenience copy.
//!
//! # Tables
//!
//! With `create_tables` (the default) the sink issues `CREATE TABLE IF NOT EXISTS` on every
//! (re)connect, so the designated timestamps have meaningful names and retried batches cannot
//! duplicate rows (WAL tables with `DEDUP UPSERT KEYS`). `<p>` is `table_prefix` (`nexamd_`):
//!
//! | table | symbols | columns | designated timestamp | dedup keys |
//! |---|---|---|---|---|
//! | `<p>trades` | `instrument`, `side` | `price`, `size`, `trade_id` (null when the venue gives none), `seq`, `ts_recv` | `ts_event` | `ts_event, instrument, seq` |
//! | `<p>quotes` | `instrument` | `bid`, `bid_size`, `ask`, `ask_size`, `seq`, `ts_recv` | `ts_event` | `ts_event, instrument, seq` |
//! | `<p>bars` | `instrument`, `interval` | `open`, `high`, `low`, `close`, `volume`, `vwap`, `trades` (null when unknown) | `ts` (bar start) | `ts, instrument, interval` |
//!
//! # Exact or double
//!
//! `numbers = "decimal"` (the default) keeps prices and sizes exact: they are sent as ILP v3
//! decimals (`43250.12d`, the exact text of the fixed-point value) into `DECIMAL(19, 9)`
//! columns, which hold every `i64` count of 1e-9 units; timestamps are `TIMESTAMP_NS`. This
//! needs QuestDB 9.2 or later. `numbers = "double"` is for older servers: prices and sizes go
//! into `DOUBLE` columns as the nearest `f64` to the exact decimal (ILP v1), timestamps into
//! `TIMESTAMP` (µs). Either way the Parquet files remain the exact record.
//!
//! Rows QuestDB cannot take are dropped and counted as rejected: times before 1970 (ILP
//! timestamps are unsigned), instruments missing from the registry, and a batch the server
//! refuses three times in a row.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, select};
use engine::fixed::write_scaled;
use engine::{Bar, Instrument, Payload, Registry, Tick};
use questdb::ingress::{
    Buffer, Protocol, ProtocolVersion, Sender as IlpSender, SenderBuilder, TableName,
    TimestampNanos,
};
use serde::Deserialize;
use thiserror::Error;
use tracing::{debug, info, warn};

/// How prices and sizes are stored in QuestDB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Numbers {
    /// Exact `DECIMAL(19, 9)` columns through ILP v3 (QuestDB 9.2+).
    #[default]
    Decimal,
    /// `DOUBLE` columns holding the nearest `f64` (ILP v1, any QuestDB).
    Double,
}

/// `[storage.questdb]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestDbConfig {
    /// QuestDB's HTTP address, `host:port` (the HTTP port, 9000 by default).
    pub addr: String,
    /// Rows the queue holds while QuestDB is slow or down; past it new rows are dropped. The
    /// queue is allocated up front, about 128 bytes a row (12.8 MB for the default).
    #[serde(default = "defaults::buffer_rows")]
    pub buffer_rows: usize,
    /// Most rows sent in one request.
    #[serde(default = "defaults::max_batch_rows")]
    pub max_batch_rows: usize,
    /// Longest time a row waits in the sink before it is sent, in ms.
    #[serde(default = "defaults::flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// Prefix of the table names (letters, digits and `_`).
    #[serde(default = "defaults::table_prefix")]
    pub table_prefix: String,
    /// Exact decimals or doubles.
    #[serde(default)]
    pub numbers: Numbers,
    /// Create the tables (`CREATE TABLE IF NOT EXISTS`) on each connect.
    #[serde(default = "defaults::create_tables")]
    pub create_tables: bool,
    /// Timeout of one HTTP request, in ms.
    #[serde(default = "defaults::request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// First wait after a failed request, in ms; doubles on each further failure.
    #[serde(default = "defaults::retry_initial_ms")]
    pub retry_initial_ms: u64,
    /// Longest wait between retries, in ms.
    #[serde(default = "defaults::retry_max_ms")]
    pub retry_max_ms: u64,
    /// How long [`QuestDbSink::stop`] keeps trying to send what is queued, in ms.
    #[serde(default = "defaults::stop_timeout_ms")]
    pub stop_timeout_ms: u64,
}

mod defaults {
    pub(super) fn buffer_rows() -> usize {
        100_000
    }
    pub(super) fn max_batch_rows() -> usize {
        10_000
    }
    pub(super) fn flush_interval_ms() -> u64 {
        200
    }
    pub(super) fn table_prefix() -> String {
        "nexamd_".to_owned()
    }
    pub(super) fn create_tables() -> bool {
        true
    }
    pub(super) fn request_timeout_ms() -> u64 {
        5_000
    }
    pub(super) fn retry_initial_ms() -> u64 {
        100
    }
    pub(super) fn retry_max_ms() -> u64 {
        5_000
    }
    pub(super) fn stop_timeout_ms() -> u64 {
        2_000
    }
}

impl QuestDbConfig {
    /// The defaults, for QuestDB at `addr`.
    pub fn new(addr: impl Into<String>) -> QuestDbConfig {
        QuestDbConfig {
            addr: addr.into(),
            buffer_rows: defaults::buffer_rows(),
            max_batch_rows: defaults::max_batch_rows(),
            flush_interval_ms: defaults::flush_interval_ms(),
            table_prefix: defaults::table_prefix(),
            numbers: Numbers::default(),
            create_tables: defaults::create_tables(),
            request_timeout_ms: defaults::request_timeout_ms(),
            retry_initial_ms: defaults::retry_initial_ms(),
            retry_max_ms: defaults::retry_max_ms(),
            stop_timeout_ms: defaults::stop_timeout_ms(),
        }
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &'static str, reason: String| Err(QuestDbError::Config { key, reason });
        match self.addr.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => return bad("addr", format!("{:?} is not host:port", self.addr)),
        }
        if self.buffer_rows == 0 {
            return bad("buffer_rows", "must be at least 1".into());
        }
        if self.max_batch_rows == 0 {
            return bad("max_batch_rows", "must be at least 1".into());
        }
        for (key, value) in [
            ("flush_interval_ms", self.flush_interval_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("retry_initial_ms", self.retry_initial_ms),
        ] {
            if value == 0 {
                return bad(key, "must be at least 1".into());
            }
        }
        if self.retry_max_ms < self.retry_initial_ms {
            return bad("retry_max_ms", "must be at least retry_initial_ms".into());
        }
        let prefix_ok = self
            .table_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !prefix_ok {
            return bad(
                "table_prefix",
                format!(
                    "{:?} may hold only letters, digits and _",
                    self.table_prefix
                ),
            );
        }
        for table in Tables::new(&self.table_prefix).names() {
            if let Err(e) = TableName::new(table) {
                return bad("table_prefix", e.msg().to_owned());
            }
        }
        Ok(())
    }
}

/// Errors of the QuestDB sink's setup. Send failures at run time are counted in
/// [`QuestDbStats`] and logged, never returned.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum QuestDbError {
    /// A configuration value that cannot be used.
    #[error("[storage.questdb] {key}: {reason}")]
    Config {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The background thread could not be started.
    #[error("cannot start the QuestDB sink thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// Result with [`QuestDbError`].
pub type Result<T, E = QuestDbError> = std::result::Result<T, E>;

/// What the sink has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuestDbStats {
    /// Rows QuestDB acknowledged.
    pub sent_rows: u64,
    /// Rows that will never reach QuestDB: queue full, rejected, or unsent at stop.
    pub dropped_rows: u64,
    /// Of `dropped_rows`, those QuestDB refused or that ILP cannot carry.
    pub rejected_rows: u64,
    /// Failed connects and requests.
    pub send_errors: u64,
    /// Whether the last request to QuestDB succeeded.
    pub connected: bool,
    /// Rows waiting in the queue.
    pub queued_rows: usize,
}

#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
    errors: AtomicU64,
    connected: AtomicBool,
}

impl Counters {
    // All counters are statistics read on their own: Relaxed is enough.
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// One queued record: copied in, no allocation.
#[derive(Clone, Copy, Debug)]
enum Row {
    Tick(Tick),
    Bar(Bar),
}

/// The sink. Dropping it stops it like [`QuestDbSink::stop`].
#[derive(Debug)]
pub struct QuestDbSink {
    queue: Sender<Row>,
    /// Dropped to tell the worker to finish.
    stop: Option<Sender<()>>,
    worker: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl QuestDbSink {
    /// Validates `config` and starts the background thread. Does not wait for QuestDB: an
    /// unreachable server shows as `connected: false` and growing `send_errors`.
    pub fn start(config: QuestDbConfig, registry: Arc<Registry>) -> Result<QuestDbSink> {
        config.validate()?;
        let (queue, rows) = crossbeam_channel::bounded(config.buffer_rows);
        let (stop, stop_rx) = crossbeam_channel::bounded(0);
        let counters = Arc::new(Counters::default());
        let worker = Worker::new(config, registry, rows, stop_rx, counters.clone());
        let worker = std::thread::Builder::new()
            .name("questdb-sink".into())
            .spawn(move || worker.run())
            .map_err(QuestDbError::Spawn)?;
        Ok(QuestDbSink {
            queue,
            stop: Some(stop),
            worker: Some(worker),
            counters,
        })
    }

    /// Queues a tick without blocking; false (and counted) if the queue is full.
    pub fn on_tick(&self, tick: &Tick) -> bool {
        self.enqueue(Row::Tick(*tick))
    }

    /// Queues a bar without blocking; false (and counted) if the queue is full.
    pub fn on_bar(&self, bar: &Bar) -> bool {
        self.enqueue(Row::Bar(*bar))
    }

    fn enqueue(&self, row: Row) -> bool {
        match self.queue.try_send(row) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                Counters::add(&self.counters.dropped, 1);
                false
            }
        }
    }

    /// The counters now.
    pub fn stats(&self) -> QuestDbStats {
        let c = &self.counters;
        QuestDbStats {
            sent_rows: c.sent.load(Ordering::Relaxed),
            dropped_rows: c.dropped.load(Ordering::Relaxed),
            rejected_rows: c.rejected.load(Ordering::Relaxed),
            send_errors: c.errors.load(Ordering::Relaxed),
            connected: c.connected.load(Ordering::Relaxed),
            queued_rows: self.queue.len(),
        }
    }

    /// Sends what is queued, trying for at most `stop_timeout_ms` (plus one request timeout),
    /// then stops the thread. Rows still unsent are counted as dropped.
    pub fn stop(mut self) -> QuestDbStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        self.stop.take();
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            warn!("the QuestDB sink thread panicked");
        }
    }
}

impl Drop for QuestDbSink {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Table names for a prefix.
struct Tables {
    trades: String,
    quotes: String,
    bars: String,
}

impl Tables {
    fn new(prefix: &str) -> Tables {
        Tables {
            trades: format!("{prefix}trades"),
            quotes: format!("{prefix}quotes"),
            bars: format!("{prefix}bars"),
        }
    }

    fn names(&self) -> [&str; 3] {
        [&self.trades, &self.quotes, &self.bars]
    }

    /// `CREATE TABLE IF NOT EXISTS` for each table. Identifiers are double-quoted, since some
    /// column names (`interval`, `open`, `close`) are SQL words.
    fn ddl(&self, numbers: Numbers) -> [String; 3] {
        let (num, ts) = match numbers {
            Numbers::Decimal => ("DECIMAL(19, 9)", "TIMESTAMP_NS"),
            Numbers::Double => ("DOUBLE", "TIMESTAMP"),
        };
        let (sym, long) = ("SYMBOL", "LONG");
        [
            create(
                &self.trades,
                &[
                    ("instrument", sym),
                    ("side", sym),
                    ("price", num),
                    ("size", num),
                    ("trade_id", long),
                    ("seq", long),
                    ("ts_recv", ts),
                    ("ts_event", ts),
                ],
                &["ts_event", "instrument", "seq"],
            ),
            create(
                &self.quotes,
                &[
                    ("instrument", sym),
                    ("bid", num),
                    ("bid_size", num),
                    ("ask", num),
                    ("ask_size", num),
                    ("seq", long),
                    ("ts_recv", ts),
                    ("ts_event", ts),
                ],
                &["ts_event", "instrument", "seq"],
            ),
            create(
                &self.bars,
                &[
                    ("instrument", sym),
                    ("interval", sym),
                    ("open", num),
                    ("high", num),
                    ("low", num),
                    ("close", num),
                    ("volume", num),
                    ("vwap", num),
                    ("trades", long),
                    ("ts", ts),
                ],
                &["ts", "instrument", "interval"],
            ),
        ]
    }
}

/// A WAL table partitioned by day whose designated timestamp is the last column and whose
/// dedup keys (which start with it) are `keys`.
fn create(table: &str, columns: &[(&str, &str)], keys: &[&str]) -> String {
    let keys = keys
        .iter()
        .map(|key| format!("\"{key}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let definitions = columns
        .iter()
        .map(|(name, kind)| format!("\"{name}\" {kind}"))
        .collect::<Vec<_>>()
        .join(", ");
    let designated = columns.last().map_or("", |(name, _)| name);
    format!(
        "CREATE TABLE IF NOT EXISTS \"{table}\" ({definitions}) TIMESTAMP(\"{designated}\") \
         PARTITION BY DAY WAL DEDUP UPSERT KEYS({keys})"
    )
}

/// Why a connect or a send failed (logged and counted).
#[derive(Debug, Error)]
enum SendError {
    #[error("{0}")]
    Ilp(#[from] questdb::Error),
    #[error("creating tables: {0}")]
    Http(#[from] Box<ureq::Error>),
    #[error("creating tables: QuestDB answered {status}: {body}")]
    Ddl { status: u16, body: String },
}

/// A batch the server refuses this many times in a row is dropped.
const MAX_REFUSALS: u32 = 3;

struct Worker {
    config: QuestDbConfig,
    registry: Arc<Registry>,
    rows: Receiver<Row>,
    stop: Receiver<()>,
    counters: Arc<Counters>,
    tables: Tables,
    protocol: ProtocolVersion,
    sender: Option<IlpSender>,
    buffer: Buffer,
    /// Instruments by id, filled from the registry on first sight.
    names: Vec<Option<Arc<Instrument>>>,
    /// Decimal text of the value being written.
    scratch: String,
    backoff: Duration,
    refusals: u32,
    /// Whether the last connect or send failed (to warn once per outage, not per retry).
    failing: bool,
    /// Set once the sink is told to stop: the time to give up.
    deadline: Option<Instant>,
}

impl Worker {
    fn new(
        config: QuestDbConfig,
        registry: Arc<Registry>,
        rows: Receiver<Row>,
        stop: Receiver<()>,
        counters: Arc<Counters>,
    ) -> Worker {
        let protocol = match config.numbers {
            Numbers::Decimal => ProtocolVersion::V3,
            Numbers::Double => ProtocolVersion::V1,
        };
        Worker {
            tables: Tables::new(&config.table_prefix),
            backoff: Duration::from_millis(config.retry_initial_ms),
            config,
            registry,
            rows,
            stop,
            counters,
            protocol,
            sender: None,
            buffer: Buffer::new(protocol),
            names: Vec::new(),
            scratch: String::with_capacity(32),
            refusals: 0,
            failing: false,
            deadline: None,
        }
    }

    fn run(mut self) {
        let flush_interval = Duration::from_millis(self.config.flush_interval_ms);
        // When the rows now in the ILP buffer started to gather.
        let mut batch_started: Option<Instant> = None;
        loop {
            if self.deadline.is_none()
                && let Err(crossbeam_channel::TryRecvError::Disconnected) = self.stop.try_recv()
            {
                self.begin_stop();
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            if self.buffer.row_count() < self.config.max_batch_rows {
                let wait = match (self.deadline, batch_started) {
                    (Some(_), _) => Duration::ZERO,
                    (None, None) => flush_interval,
                    (None, Some(started)) => flush_interval.saturating_sub(started.elapsed()),
                };
                self.fill(wait);
            }
            if self.buffer.is_empty() {
                batch_started = None;
                if self.deadline.is_some() && self.rows.is_empty() {
                    break;
                }
                continue;
            }
            let started = *batch_started.get_or_insert_with(Instant::now);
            let due = self.deadline.is_some()
                || self.buffer.row_count() >= self.config.max_batch_rows
                || started.elapsed() >= flush_interval;
            if due {
                if self.send() {
                    batch_started = None;
                } else {
                    self.wait_backoff();
                }
            }
        }
        let unsent = self.buffer.row_count() + self.rows.len();
        Counters::add(&self.counters.dropped, unsent);
        if unsent > 0 {
            warn!(unsent, "QuestDB sink stopped with rows unsent");
        }
    }

    /// Moves queued rows into the ILP buffer, waiting up to `wait` for the first one (and for
    /// a stop request, unless stopping already).
    fn fill(&mut self, wait: Duration) {
        if self.deadline.is_none() && self.rows.is_empty() {
            enum Woken {
                Row(Row),
                Stop,
                Timeout,
            }
            let woken = select! {
                recv(self.rows) -> row => row.map_or(Woken::Timeout, Woken::Row),
                recv(self.stop) -> _ => Woken::Stop,
                default(wait) => Woken::Timeout,
            };
            match woken {
                Woken::Row(row) => self.write(&row),
                Woken::Stop => self.begin_stop(),
                Woken::Timeout => {}
            }
        }
        while self.buffer.row_count() < self.config.max_batch_rows {
            match self.rows.try_recv() {
                Ok(row) => self.write(&row),
                Err(_) => break,
            }
        }
    }

    fn begin_stop(&mut self) {
        self.deadline = Some(Instant::now() + Duration::from_millis(self.config.stop_timeout_ms));
    }

    /// Sleeps for the current backoff (cut short by a stop request), then doubles it.
    fn wait_backoff(&mut self) {
        match self.deadline {
            None => match self.stop.recv_timeout(self.backoff) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => self.begin_stop(),
            },
            Some(deadline) => {
                std::thread::sleep(
                    self.backoff
                        .min(deadline.saturating_duration_since(Instant::now())),
                );
            }
        }
        let max = Duration::from_millis(self.config.retry_max_ms);
        self.backoff = (self.backoff * 2).min(max);
    }

    /// Connects if needed and sends the buffer; true when the buffer is gone (sent or dropped).
    fn send(&mut self) -> bool {
        let rows = self.buffer.row_count();
        let result = match self.sender.as_mut() {
            Some(sender) => sender.flush_and_keep(&self.buffer).map_err(SendError::from),
            None => match self.connect() {
                Ok(mut sender) => {
                    let sent = sender.flush_and_keep(&self.buffer).map_err(SendError::from);
                    self.sender = Some(sender);
                    sent
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(()) => {
                Counters::add(&self.counters.sent, rows);
                if !self.counters.connected.swap(true, Ordering::Relaxed) {
                    info!(addr = %self.config.addr, "QuestDB sink connected");
                }
                self.failing = false;
                self.buffer.clear();
                self.backoff = Duration::from_millis(self.config.retry_initial_ms);
                self.refusals = 0;
                true
            }
            Err(error) => {
                Counters::add(&self.counters.errors, 1);
                let refused = matches!(&error, SendError::Ilp(e)
                    if e.code() == questdb::ErrorCode::ServerFlushError);
                if refused {
                    // QuestDB answered but refused the batch: keep the connection.
                    self.refusals += 1;
                    warn!(addr = %self.config.addr, rows, attempt = self.refusals, %error, "QuestDB refused a batch");
                    if self.refusals >= MAX_REFUSALS {
                        Counters::add(&self.counters.dropped, rows);
                        Counters::add(&self.counters.rejected, rows);
                        self.buffer.clear();
                        self.refusals = 0;
                        return true;
                    }
                } else {
                    self.sender = None;
                    self.counters.connected.store(false, Ordering::Relaxed);
                    if self.failing {
                        debug!(addr = %self.config.addr, %error, "QuestDB sink still failing");
                    } else {
                        self.failing = true;
                        warn!(addr = %self.config.addr, %error, "QuestDB sink cannot send; retrying with backoff");
                    }
                }
                false
            }
        }
    }

    fn connect(&self) -> Result<IlpSender, SendError> {
        let timeout = Duration::from_millis(self.config.request_timeout_ms);
        if self.config.create_tables {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(timeout))
                .http_status_as_error(false)
                .build()
                .into();
            let url = format!("http://{}/exec", self.config.addr);
            for sql in self.tables.ddl(self.config.numbers) {
                let mut response = agent
                    .get(&url)
                    .query("query", &sql)
                    .call()
                    .map_err(Box::new)?;
                let status = response.status().as_u16();
                if status >= 300 {
                    let body = response.body_mut().read_to_string().unwrap_or_default();
                    return Err(SendError::Ddl {
                        status,
                        body: body.chars().take(300).collect(),
                    });
                }
            }
        }
        let (host, port) = self
            .config
            .addr
            .rsplit_once(':')
            .unwrap_or((&self.config.addr, "9000"));
        Ok(SenderBuilder::new(Protocol::Http, host, port)
            .protocol_version(self.protocol)?
            // Retries are ours, so that a stop request is never stuck behind them.
            .retry_timeout(Duration::ZERO)?
            .request_timeout(timeout)?
            .build()?)
    }

    /// Appends one row to the ILP buffer; a row ILP cannot carry is dropped and counted.
    fn write(&mut self, row: &Row) {
        let instrument = match row {
            Row::Tick(tick) => tick.instrument,
            Row::Bar(bar) => bar.instrument,
        };
        let slot = instrument.0 as usize;
        if self.names.len() <= slot {
            self.names.resize(slot + 1, None);
        }
        if self.names[slot].is_none() {
            self.names[slot] = self.registry.get(instrument);
        }
        let written = match self.names[slot].clone() {
            Some(name) => {
                // A row is complete or not there at all: rewind a row that fails halfway.
                let _ = self.buffer.set_marker();
                let written = match row {
                    Row::Tick(tick) => self.write_tick(&name.name, tick),
                    Row::Bar(bar) => self.write_bar(&name.name, bar),
                };
                if written.is_err() {
                    let _ = self.buffer.rewind_to_marker();
                }
                self.buffer.clear_marker();
                written.map_err(|e| e.to_string())
            }
            None => Err(format!(
                "instrument {} is not in the registry",
                instrument.0
            )),
        };
        if let Err(reason) = written {
            Counters::add(&self.counters.dropped, 1);
            Counters::add(&self.counters.rejected, 1);
            debug!(%reason, "row dropped: ILP cannot carry it");
        }
    }

    fn write_tick(&mut self, instrument: &str, tick: &Tick) -> questdb::Result<()> {
        let numbers = self.config.numbers;
        let (b, s) = (&mut self.buffer, &mut self.scratch);
        match tick.payload() {
            Payload::Trade(trade) => {
                b.table(self.tables.trades.as_str())?
                    .symbol("instrument", instrument)?
                    .symbol("side", trade.side.as_str())?;
                number(b, s, numbers, "price", trade.price.units())?;
                number(b, s, numbers, "size", trade.size.units())?;
                if let Ok(id) = i64::try_from(trade.id)
                    && id != 0
                {
                    b.column_i64("trade_id", id)?;
                }
            }
            Payload::Quote(quote) => {
                b.table(self.tables.quotes.as_str())?
                    .symbol("instrument", instrument)?;
                number(b, s, numbers, "bid", quote.bid.units())?;
                number(b, s, numbers, "bid_size", quote.bid_size.units())?;
                number(b, s, numbers, "ask", quote.ask.units())?;
                number(b, s, numbers, "ask_size", quote.ask_size.units())?;
            }
        }
        b.column_i64("seq", tick.seq as i64)?
            .column_ts("ts_recv", TimestampNanos::new(tick.ts_recv))?
            .at(TimestampNanos::new(tick.ts_event))
    }

    fn write_bar(&mut self, instrument: &str, bar: &Bar) -> questdb::Result<()> {
        let numbers = self.config.numbers;
        let (b, s) = (&mut self.buffer, &mut self.scratch);
        s.clear();
        let _ = write!(s, "{}", bar.interval);
        b.table(self.tables.bars.as_str())?
            .symbol("instrument", instrument)?
            .symbol("interval", s.as_str())?;
        number(b, s, numbers, "open", bar.open.units())?;
        number(b, s, numbers, "high", bar.high.units())?;
        number(b, s, numbers, "low", bar.low.units())?;
        number(b, s, numbers, "close", bar.close.units())?;
        number(b, s, numbers, "volume", bar.volume.units())?;
        if let Some(vwap) = bar.vwap() {
            number(b, s, numbers, "vwap", vwap.units())?;
        }
        if let Some(trades) = bar.trades.and_then(|n| i64::try_from(n).ok()) {
            b.column_i64("trades", trades)?;
        }
        b.at(TimestampNanos::new(bar.ts))
    }
}

/// Writes a fixed-point value as an exact ILP decimal, or as the nearest `f64` (parsed from
/// the exact decimal text, so correctly rounded).
fn number(
    buffer: &mut Buffer,
    scratch: &mut String,
    numbers: Numbers,
    column: &str,
    units: i64,
) -> questdb::Result<()> {
    scratch.clear();
    let _ = write_scaled(units, scratch);
    match numbers {
        Numbers::Decimal => buffer.column_dec(column, scratch.as_str())?,
        Numbers::Double => buffer.column_f64(column, scratch.parse().unwrap_or(f64::NAN))?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn config_takes_defaults_and_refuses_unknown_keys() {
        let config: QuestDbConfig = toml::from_str("addr = \"127.0.0.1:9000\"").unwrap();
        assert_eq!(config, QuestDbConfig::new("127.0.0.1:9000"));
        assert_eq!(config.buffer_rows, 100_000);
        assert_eq!(config.flush_interval_ms, 200);
        assert_eq!(config.table_prefix, "nexamd_");
        assert_eq!(config.numbers, Numbers::Decimal);
        let double: QuestDbConfig =
            toml::from_str("addr = \"db:9000\"\nnumbers = \"double\"\nbuffer_rows = 5").unwrap();
        assert_eq!((double.numbers, double.buffer_rows), (Numbers::Double, 5));
        let unknown = toml::from_str::<QuestDbConfig>("addr = \"db:9000\"\nbufer_rows = 5");
        assert!(unknown.unwrap_err().to_string().contains("bufer_rows"));
    }

    #[rstest]
    #[case::no_port(QuestDbConfig::new("localhost"), "addr")]
    #[case::bad_port(QuestDbConfig::new("localhost:http"), "addr")]
    #[case::no_host(QuestDbConfig::new(":9000"), "addr")]
    #[case::no_buffer(QuestDbConfig { buffer_rows: 0, ..QuestDbConfig::new("h:1") }, "buffer_rows")]
    #[case::no_batch(QuestDbConfig { max_batch_rows: 0, ..QuestDbConfig::new("h:1") }, "max_batch_rows")]
    #[case::no_interval(QuestDbConfig { flush_interval_ms: 0, ..QuestDbConfig::new("h:1") }, "flush_interval_ms")]
    #[case::backoff(QuestDbConfig { retry_max_ms: 1, ..QuestDbConfig::new("h:1") }, "retry_max_ms")]
    #[case::prefix(QuestDbConfig { table_prefix: "a b".into(), ..QuestDbConfig::new("h:1") }, "table_prefix")]
    fn bad_config_names_the_key(#[case] config: QuestDbConfig, #[case] key: &str) {
        match config.validate() {
            Err(QuestDbError::Config { key: found, .. }) => assert_eq!(found, key),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_queue_slot_stays_small() {
        // The config docs promise about 128 bytes a queued row.
        assert!(
            std::mem::size_of::<Row>() <= 128,
            "{}",
            std::mem::size_of::<Row>()
        );
    }

    #[test]
    fn ddl_follows_the_number_choice() {
        let tables = Tables::new("x_");
        let [trades, quotes, bars] = tables.ddl(Numbers::Decimal);
        assert_eq!(
            trades,
            "CREATE TABLE IF NOT EXISTS \"x_trades\" (\"instrument\" SYMBOL, \"side\" SYMBOL, \
             \"price\" DECIMAL(19, 9), \"size\" DECIMAL(19, 9), \"trade_id\" LONG, \"seq\" LONG, \
             \"ts_recv\" TIMESTAMP_NS, \"ts_event\" TIMESTAMP_NS) TIMESTAMP(\"ts_event\") \
             PARTITION BY DAY WAL DEDUP UPSERT KEYS(\"ts_event\", \"instrument\", \"seq\")"
        );
        assert!(quotes.starts_with(
            "CREATE TABLE IF NOT EXISTS \"x_quotes\" (\"instrument\" SYMBOL, \"bid\" DECIMAL(19, 9),"
        ));
        assert!(bars.ends_with(
            "\"trades\" LONG, \"ts\" TIMESTAMP_NS) TIMESTAMP(\"ts\") PARTITION BY DAY WAL \
             DEDUP UPSERT KEYS(\"ts\", \"instrument\", \"interval\")"
        ));
        let [trades, _, bars] = tables.ddl(Numbers::Double);
        assert!(trades.contains("\"price\" DOUBLE, \"size\" DOUBLE,"));
        assert!(trades.contains("\"ts_event\" TIMESTAMP)"));
        assert!(bars.contains("\"vwap\" DOUBLE, \"trades\" LONG, \"ts\" TIMESTAMP)"));
    }
}
