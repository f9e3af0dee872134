//! `GET /v1/ws`: one task per connection that reads client operations, writes queued
//! messages in batches (many frames, one flush), pings on a timer and enforces the limits of
//! `docs/protocol.md`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine::access::{Identity, Role};
use engine::clock;
use engine::json::error_body;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite;

use crate::channel::Channel;
use crate::hub::{CLOSE_HEARTBEAT, CLOSE_SLOW, Conn, Hub};
use crate::protocol::{self, Op, ReqId, channels_message, error_message, pong_message};
use crate::queue::Outgoing;

/// Close code for a binary frame.
pub const CLOSE_UNSUPPORTED: u16 = 1003;
/// Close code for an oversize frame.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// How long the closing handshake may take before the socket is just dropped.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Read buffer per connection: small, so idle connections stay cheap.
const READ_BUFFER: usize = 4 * 1024;
/// Write buffer target before a flush is forced mid-batch.
const WRITE_BUFFER: usize = 64 * 1024;

/// The upgrade handler. The caller's [`Identity`] comes from the auth layer as a request
/// extension; without one (auth off) it is [`Identity::local`].
pub async fn upgrade(
    State(hub): State<Arc<Hub>>,
    identity: Option<Extension<Identity>>,
    ws: WebSocketUpgrade,
) -> Response {
    let identity = identity.map_or_else(Identity::local, |Extension(i)| i);
    let slot = match &identity.key_id {
        Some(key) => match hub.claim_key(key) {
            Some(slot) => Some(slot),
            None => {
                let body = error_body(
                    "too_many_connections",
                    &format!(
                        "this API key holds {} connections, its limit",
                        hub.config.max_connections_per_key
                    ),
                );
                return (StatusCode::TOO_MANY_REQUESTS, body).into_response();
            }
        },
        None => None,
    };
    let Some(conn) = hub.connect() else {
        let body = error_body(
            "too_many_connections",
            "the server is at its connection limit",
        );
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    };
    let max_frame = hub.config.max_frame_bytes;
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(WRITE_BUFFER + hub.config.queue_hard_bytes)
        .max_message_size(max_frame)
        .max_frame_size(max_frame)
        .on_failed_upgrade({
            let hub = hub.clone();
            let conn = conn.clone();
            move |error| {
                tracing::debug!(%error, "WebSocket upgrade failed");
                hub.disconnect(&conn);
            }
        })
        .on_upgrade(move |socket| async move {
            Session::new(hub.clone(), conn.clone(), identity)
                .run(socket)
                .await;
            hub.disconnect(&conn);
            drop(slot);
        })
}

/// A token bucket for subscribe and unsubscribe operations.
#[derive(Debug)]
struct OpBudget {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl OpBudget {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Why a session ended.
enum End {
    /// The peer went away or the socket failed: nothing more to send.
    Gone,
    /// Close with this code and reason.
    Close(u16, &'static str),
}

struct Session {
    hub: Arc<Hub>,
    conn: Arc<Conn>,
    identity: Identity,
    budget: OpBudget,
    batch: Vec<Outgoing>,
    /// `ts_recv` of the market data messages in the batch being written.
    batch_ts: Vec<i64>,
    /// Figures not yet added to the hub's shared histogram and counters: adding them once per
    /// [`REPORT_EVERY`] samples or [`REPORT_INTERVAL`] keeps those shared locks and cache
    /// lines out of every write.
    latencies: Vec<i64>,
    unreported_messages: u64,
    unreported_bytes: u64,
    reported_at: Instant,
}

/// Latency samples a session buffers before recording them.
const REPORT_EVERY: usize = 512;
/// Longest a session holds figures back from the hub.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

impl Session {
    fn new(hub: Arc<Hub>, conn: Arc<Conn>, identity: Identity) -> Session {
        let config = &hub.config;
        let budget = OpBudget {
            tokens: f64::from(config.ops_burst),
            rate: f64::from(config.ops_per_second),
            burst: f64::from(config.ops_burst),
            at: Instant::now(),
        };
        Session {
            hub,
            conn,
            identity,
            budget,
            batch: Vec::new(),
            batch_ts: Vec::new(),
            latencies: Vec::new(),
            unreported_messages: 0,
            unreported_bytes: 0,
            reported_at: Instant::now(),
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        let end = self.serve(&mut socket).await;
        self.report();
        if let End::Close(code, reason) = end {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            // The closing handshake: send our close frame, then read (and discard) until the
            // client's close comes back, so no RST destroys the frame before it is read.
            let handshake = async {
                socket.send(Message::Close(Some(frame))).await?;
                while let Some(message) = socket.recv().await {
                    if matches!(message?, Message::Close(_)) {
                        break;
                    }
                }
                Ok::<(), axum::Error>(())
            };
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, handshake).await;
        }
    }

    async fn serve(&mut self, socket: &mut WebSocket) -> End {
        let config = self.hub.config.clone();
        let start = tokio::time::Instant::now() + config.ping_interval();
        let mut ping = tokio::time::interval_at(start, config.ping_interval());
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        // One waiter registration per wake-up, not per loop turn.
        let conn = self.conn.clone();
        let notified = conn.notify.notified();
        tokio::pin!(notified);
        loop {
            if let Some(code) = self.conn.close_requested() {
                return End::Close(code, close_reason(code));
            }
            // Biased, in this order: the ping timer is ready once an interval, and each client
            // frame is followed by a write of the queue (its answer goes out at once), so a
            // client that floods frames cannot starve its own queue, and the queue (ready at
            // every wake-up under load) cannot starve the reads. It also spares the random
            // start of an unbiased select.
            tokio::select! {
                biased;
                incoming = socket.recv() => {
                    last_heard = Instant::now();
                    match incoming {
                        None => return End::Gone,
                        Some(Ok(Message::Text(text))) => {
                            self.handle(text.as_str());
                            if let Err(end) = self.write_queued(socket).await {
                                return end;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            return End::Close(CLOSE_UNSUPPORTED, "binary frames are not accepted");
                        }
                        Some(Ok(Message::Close(_))) => return End::Gone,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Err(error)) => return read_error(error),
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > config.heartbeat_timeout() {
                        self.hub.metrics.heartbeat_closes.add(1);
                        return End::Close(CLOSE_HEARTBEAT, "heartbeat timeout");
                    }
                    match tokio::time::timeout(config.stall_timeout(), socket.send(Message::Ping(Default::default()))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return End::Gone,
                        Err(_) => return self.stalled(),
                    }
                }
                () = &mut notified => {
                    notified.set(conn.notify.notified());
                    if let Err(end) = self.write_queued(socket).await {
                        return end;
                    }
                }
            }
        }
    }

    /// Adds the buffered latency samples and counts to the hub's figures.
    fn report(&mut self) {
        self.hub.latency.record_all(self.latencies.drain(..));
        self.hub.metrics.messages_sent.add(self.unreported_messages);
        self.hub.metrics.bytes_sent.add(self.unreported_bytes);
        (self.unreported_messages, self.unreported_bytes) = (0, 0);
        self.reported_at = Instant::now();
    }

    fn stalled(&self) -> End {
        if self.conn.close_requested().is_none() {
            self.hub.metrics.slow_closes.add(1);
            tracing::info!(
                conn = self.conn.id(),
                "closing slow consumer: no write progress"
            );
        }
        End::Close(CLOSE_SLOW, close_reason(CLOSE_SLOW))
    }

    /// Writes everything queued as one batch: each frame fed to the sink, one flush at the
    /// end. Gives up when the socket accepts nothing for the stall timeout (each frame or
    /// flush the socket cannot take at once gets the whole timeout, counted from the step
    /// before it), or when the hub asks for a close.
    ///
    /// Most steps complete on their first poll (the socket has room), so the stall timer and
    /// the close signal are only armed for a step that has to wait. Arming them for every
    /// batch, with the selects' random starts, was about 5 % of the hub's samples under
    /// scenario (a) (benches/BENCHMARKS.md).
    async fn write_queued(&mut self, socket: &mut WebSocket) -> Result<(), End> {
        self.conn.drain_into(&mut self.batch);
        if self.batch.is_empty() {
            return Ok(());
        }
        let bytes: usize = self.batch.iter().map(|m| m.text.len()).sum();
        let count = self.batch.len();
        let stall = self.hub.config.stall_timeout();
        let conn = &*self.conn;
        let batch_ts = &mut self.batch_ts;
        let mut frames = self.batch.drain(..).map(|message| {
            if message.ts_recv != 0 {
                batch_ts.push(message.ts_recv);
            }
            Message::Text(message.text)
        });
        // `Err(None)`: the socket stalled.
        let outcome: Result<(), Option<End>> = loop {
            let frame = frames.next();
            let done = frame.is_none();
            let step = async {
                match frame {
                    Some(frame) => socket.feed(frame).await,
                    None => socket.flush().await,
                }
            };
            tokio::pin!(step);
            let result = match poll_once(step.as_mut()).await {
                Poll::Ready(result) => result,
                Poll::Pending => tokio::select! {
                    biased;
                    () = conn.kill.notified() => {
                        let code = conn.close_requested().unwrap_or(CLOSE_SLOW);
                        break Err(Some(End::Close(code, close_reason(code))));
                    }
                    result = &mut step => result,
                    () = tokio::time::sleep(stall) => break Err(None),
                },
            };
            if result.is_err() {
                break Err(Some(End::Gone));
            }
            if done {
                break Ok(());
            }
        };
        drop(frames);
        match outcome {
            Ok(()) => {}
            Err(Some(end)) => return Err(end),
            Err(None) => return Err(self.stalled()),
        }
        let now = clock::now_ns();
        self.latencies
            .extend(self.batch_ts.drain(..).map(|ts| now - ts));
        self.unreported_messages += count as u64;
        self.unreported_bytes += bytes as u64;
        if self.latencies.len() >= REPORT_EVERY || self.reported_at.elapsed() >= REPORT_INTERVAL {
            self.report();
        }
        Ok(())
    }

    /// Handles one client text frame; every answer goes through the queue.
    fn handle(&mut self, text: &str) {
        let request = match protocol::parse(text) {
            Ok(request) => request,
            Err(rejection) => {
                return self.error(
                    rejection.code,
                    &rejection.message,
                    None,
                    rejection.req_id.as_ref(),
                );
            }
        };
        let req_id = request.req_id.as_ref();
        match request.op {
            Op::Subscribe(names) => self.subscribe(names, req_id),
            Op::Unsubscribe(names) => {
                if !self.budget.take() {
                    return self.rate_limited(req_id);
                }
                self.hub.unsubscribe(&self.conn, &names, req_id);
            }
            Op::List => {
                let names = self.conn.channel_names();
                let text = channels_message("list", names.iter().map(String::as_str), req_id);
                self.conn.send_control(text, &self.hub);
            }
            Op::Ping => {
                self.conn
                    .send_control(pong_message(req_id, clock::now_ns()), &self.hub);
            }
        }
    }

    fn subscribe(&mut self, names: Vec<String>, req_id: Option<&ReqId>) {
        if !self.budget.take() {
            return self.rate_limited(req_id);
        }
        let mut parsed = Vec::with_capacity(names.len());
        for name in names {
            match Channel::parse(&name, self.hub.registry()) {
                Ok(Channel::Portfolio(_)) if !self.identity.role.allows(Role::Trader) => {
                    let message = format!(
                        "portfolio channels need the trader role; this key is a {}",
                        self.identity.role
                    );
                    return self.error("forbidden", &message, Some(&name), req_id);
                }
                Ok(Channel::Portfolio(id))
                    if !self.hub.portfolio_visible(id, &self.identity.principal) =>
                {
                    // Another principal's portfolio does not exist for this one.
                    let message = format!("unknown portfolio {id}");
                    return self.error("unknown_portfolio", &message, Some(&name), req_id);
                }
                Ok(channel) => parsed.push((name, channel)),
                Err(error) => return self.error(error.code, &error.message, Some(&name), req_id),
            }
        }
        let owned = self.conn.channel_names();
        let mut new: Vec<&str> = parsed
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| owned.binary_search_by(|o| o.as_str().cmp(name)).is_err())
            .collect();
        new.sort_unstable();
        new.dedup();
        let max = self.hub.config.max_channels;
        if owned.len() + new.len() > max {
            let message = format!(
                "a connection may hold at most {max} channels; it has {} and asked for {} more",
                owned.len(),
                new.len()
            );
            return self.error("too_many_channels", &message, None, req_id);
        }
        self.hub.subscribe(&self.conn, &parsed, req_id);
        for (_, channel) in &parsed {
            if let Channel::Portfolio(id) = channel {
                self.hub.portfolio_subscribed(*id);
            }
        }
    }

    fn rate_limited(&mut self, req_id: Option<&ReqId>) {
        let message = format!(
            "at most {} subscribe/unsubscribe operations per second",
            self.hub.config.ops_per_second
        );
        self.error("rate_limited", &message, None, req_id);
    }

    fn error(&mut self, code: &str, message: &str, channel: Option<&str>, req_id: Option<&ReqId>) {
        self.hub.metrics.errors.add(1);
        tracing::debug!(conn = self.conn.id(), code, message, "client error");
        self.conn
            .send_control(error_message(code, message, channel, req_id), &self.hub);
    }
}

fn close_reason(code: u16) -> &'static str {
    match code {
        CLOSE_SLOW => "slow consumer",
        CLOSE_HEARTBEAT => "heartbeat timeout",
        crate::hub::CLOSE_GOING_AWAY => "server shutting down",
        _ => "closing",
    }
}

/// Maps a read error to how the session ends: an oversize frame gets 1009, the rest end it.
fn read_error(error: axum::Error) -> End {
    let inner = error.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => End::Close(CLOSE_TOO_BIG, "frame too large"),
        Some(tungstenite::Error::Protocol(_)) => End::Close(1002, "protocol error"),
        _ => End::Gone,
    }
}

/// Polls `future` once with the task's own context: `Ready` if it completed at once; if not,
/// its waker is registered and it can go on being awaited.
async fn poll_once<F: Future>(mut future: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
}
