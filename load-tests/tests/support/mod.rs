//! A tiny in-test nexamd stand-in on 127.0.0.1:0: `GET /v1/instruments` (chunked) and
//! `GET /v1/ws` on the same port. A WebSocket connection answers `subscribe` with
//! `subscribed`, one old snapshot per channel and one `gap`, then streams a `trade` or `quote`
//! per channel every 10 ms with `ts_recv` = now. A connection that asks for more than
//! [`SLOW_CONSUMER_CHANNELS`] channels is closed with 4008 shortly after, like a slow consumer.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use load_tests::stats::now_ns;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, interval, sleep, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Subscriptions larger than this get closed with 4008.
pub const SLOW_CONSUMER_CHANNELS: usize = 20;
/// `missed` of the one `gap` each subscribed connection gets.
pub const GAP_MISSED: u64 = 7;

/// What the fake server saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Source address of each WebSocket connection.
    pub peers: Vec<IpAddr>,
    /// Channels of each subscribe operation.
    pub subscribes: Vec<Vec<String>>,
}

/// A running fake server; stops when dropped.
#[derive(Debug)]
pub struct FakeServer {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    /// Starts serving `instruments` on a free loopback port.
    pub async fn start(instruments: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let list: Vec<Value> = instruments
            .iter()
            .map(|id| json!({"id": id, "last": null}))
            .collect();
        let body = Arc::new(Value::Array(list).to_string());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let seen2 = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                tokio::spawn(handle(stream, peer, Arc::clone(&body), Arc::clone(&seen2)));
            }
        });
        FakeServer { addr, seen, task }
    }
}

async fn handle(stream: TcpStream, peer: SocketAddr, body: Arc<String>, seen: Arc<Mutex<Seen>>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut head = [0u8; 16];
    let is_ws = loop {
        let Ok(Ok(n)) = timeout_at(deadline, stream.peek(&mut head)).await else {
            return;
        };
        if n >= 9 {
            break head.starts_with(b"GET /v1/w");
        }
        tokio::task::yield_now().await;
    };
    if is_ws {
        seen.lock().unwrap().peers.push(peer.ip());
        websocket(stream, seen).await;
    } else {
        instruments(stream, &body).await;
    }
}

async fn instruments(mut stream: TcpStream, body: &str) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let (a, b) = body.split_at(body.len() / 2);
    let resp = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n\
         {:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
}

async fn websocket(stream: TcpStream, seen: Arc<Mutex<Seen>>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let mut channels: Vec<String> = Vec::new();
    let mut ticks = interval(Duration::from_millis(10));
    let slow_close = sleep(Duration::from_secs(3600));
    tokio::pin!(slow_close);
    let mut seq = 0u64;
    loop {
        tokio::select! {
            msg = ws.next() => {
                let Some(Ok(Message::Text(text))) = msg else { return };
                let op: Value = serde_json::from_str(text.as_str()).unwrap();
                let subs: Vec<String> = serde_json::from_value(op["channels"].clone()).unwrap();
                seen.lock().unwrap().subscribes.push(subs.clone());
                let mut out = vec![json!({"type": "subscribed", "channels": subs, "req_id": op["req_id"]})];
                for c in &subs {
                    out.push(json!({"type": "snapshot", "channel": c, "seq": 1, "ts_event": 1, "ts_recv": 1, "snapshot": true}));
                }
                out.push(json!({"type": "gap", "from": 1, "to": 1 + GAP_MISSED, "missed": GAP_MISSED, "channels": subs}));
                for m in out {
                    if ws.feed(Message::text(m.to_string())).await.is_err() { return; }
                }
                if ws.flush().await.is_err() { return; }
                channels.extend(subs);
                if channels.len() > SLOW_CONSUMER_CHANNELS {
                    slow_close.as_mut().reset(Instant::now() + Duration::from_millis(200));
                }
            }
            _ = ticks.tick() => {
                for c in &channels {
                    seq += 1;
                    let kind = if c.starts_with("quotes.") { "quote" } else { "trade" };
                    let now = now_ns();
                    let m = json!({"type": kind, "channel": c, "seq": seq, "ts_event": now, "ts_recv": now, "price": "1.5", "size": "2"});
                    if ws.feed(Message::text(m.to_string())).await.is_err() { return; }
                }
                if ws.flush().await.is_err() { return; }
            }
            _ = &mut slow_close => {
                let frame = CloseFrame { code: CloseCode::from(4008), reason: "slow consumer".into() };
                let _ = ws.close(Some(frame)).await;
                return;
            }
        }
    }
}
