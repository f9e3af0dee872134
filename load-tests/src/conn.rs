//! One load connection: connect (from a spread source address), subscribe, then read and
//! count until told to stop, or never read at all when stalled.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use crate::stats::{ConnStats, LatencySink, now_ns};

type Ws = WebSocketStream<TcpStream>;

/// Most bytes one socket read asks for. tungstenite zero-fills that much of its buffer before
/// every read (128 KiB by default): with a thousand sockets each read returns a few KiB, and
/// the fill was a tenth of the generator's time.
const READ_CHUNK: usize = 8 * 1024;

/// How long the end of a connection (close handshake, or a stalled one's drain) may take.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// What all connection tasks share.
#[derive(Debug)]
pub struct Shared {
    /// `ws://HOST:PORT/v1/ws`.
    pub url: String,
    /// The resolved server address.
    pub target: SocketAddr,
    /// Source addresses 127.0.0.1..=127.0.0.S to spread over (IPv4 loopback targets only).
    pub source_addrs: u8,
    /// Time limit of connect plus handshake plus subscribe.
    pub connect_timeout: Duration,
    /// Limits the handshakes in flight.
    pub permits: Semaphore,
    /// True during the measurement window.
    pub measuring: AtomicBool,
    /// Becomes true when the run ends.
    pub stop: watch::Receiver<bool>,
    /// Where live-tick latencies go.
    pub latency: LatencySink,
}

/// What a connection does once connected.
#[derive(Debug)]
pub enum Role {
    /// Sends these subscribe frames, then reads and measures.
    Active(Vec<String>),
    /// Sends these subscribe frames, then never reads until the end.
    Stalled(Vec<String>),
}

/// How a connection ended.
#[derive(Debug)]
pub enum Outcome {
    /// It never got connected and subscribed; the reason, short and stable enough to count.
    Failed(String),
    /// It ran; `stalled` tells whether it was one of the stalled connections.
    Ran {
        /// Whether it was a stalled connection.
        stalled: bool,
        /// Its counters.
        stats: ConnStats,
    },
}

/// Runs connection `index`. `ready` is dropped once it is connected and subscribed (or has
/// failed): the runner waits for every such token to go before it starts the window.
pub async fn run(
    shared: Arc<Shared>,
    index: usize,
    role: Role,
    ready: mpsc::Sender<()>,
) -> Outcome {
    let frames = match &role {
        Role::Active(f) | Role::Stalled(f) => f,
    };
    // Waiting for a permit is not part of the attempt's time limit.
    let Ok(permit) = shared.permits.acquire().await else {
        return Outcome::Failed("shutdown".into());
    };
    let setup = timeout(shared.connect_timeout, setup(&shared, index, frames)).await;
    drop(permit);
    drop(ready);
    let ws = match setup {
        Ok(Ok(ws)) => ws,
        Ok(Err(reason)) => return Outcome::Failed(reason),
        Err(_) => return Outcome::Failed("timeout".into()),
    };
    match role {
        Role::Active(_) => Outcome::Ran {
            stalled: false,
            stats: read_loop(&shared, index, ws).await,
        },
        Role::Stalled(_) => Outcome::Ran {
            stalled: true,
            stats: stall(&shared, ws).await,
        },
    }
}

/// Connects and sends the subscribe frames.
async fn setup(shared: &Shared, index: usize, frames: &[String]) -> Result<Ws, String> {
    let socket = match shared.target {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {}", e.kind()))?;
    if let Some(source) = source_addr(shared.target.ip(), shared.source_addrs, index) {
        socket
            .bind(source)
            .map_err(|e| format!("bind: {}", e.kind()))?;
    }
    let stream = socket
        .connect(shared.target)
        .await
        .map_err(|e| format!("tcp: {}", e.kind()))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("tcp: {}", e.kind()))?;
    let config = WebSocketConfig::default().read_buffer_size(READ_CHUNK);
    let (mut ws, _) = client_async_with_config(shared.url.as_str(), stream, Some(config))
        .await
        .map_err(|e| match e {
            WsError::Http(resp) => format!("handshake: HTTP {}", resp.status().as_u16()),
            WsError::Io(io) => format!("handshake: {}", io.kind()),
            other => format!("handshake: {other}"),
        })?;
    for frame in frames {
        ws.feed(Message::text(frame.as_str()))
            .await
            .map_err(|e| format!("subscribe: {e}"))?;
    }
    ws.flush().await.map_err(|e| format!("subscribe: {e}"))?;
    Ok(ws)
}

/// The source address of connection `index`: 127.0.0.(1 + index % count), port 0, for an
/// IPv4 loopback server; none (the kernel chooses) otherwise.
pub fn source_addr(target: IpAddr, count: u8, index: usize) -> Option<SocketAddr> {
    if !(target.is_ipv4() && target.is_loopback()) {
        return None;
    }
    let host = u8::try_from(1 + index % usize::from(count.max(1))).ok()?;
    Some(SocketAddr::from((Ipv4Addr::new(127, 0, 0, host), 0)))
}

/// Reads and counts until stop; then closes politely.
async fn read_loop(shared: &Shared, index: usize, mut ws: Ws) -> ConnStats {
    let mut stats = ConnStats::default();
    let mut latency = shared.latency.buffer(index);
    let mut stop_rx = shared.stop.clone();
    let stop = stop_rx.wait_for(|s| *s);
    tokio::pin!(stop);
    let mut server_closed = false;
    loop {
        let msg = tokio::select! {
            biased;
            _ = &mut stop => break,
            msg = ws.next() => msg,
        };
        match msg {
            Some(Ok(Message::Text(text))) => {
                let now = now_ns();
                let measuring = shared.measuring.load(Ordering::Relaxed);
                if let Some(ns) = stats.on_text(text.as_str(), now, measuring) {
                    latency.record(ns);
                }
            }
            Some(Ok(Message::Binary(_))) => stats.bad_frames += 1,
            Some(Ok(Message::Close(frame))) => {
                server_closed = true;
                stats.on_close(frame.map(|f| u16::from(f.code)));
            }
            Some(Ok(_)) => {} // pings are answered by tungstenite itself
            Some(Err(e)) if !server_closed => {
                stats.on_drop(drop_reason(Some(e)));
                return stats;
            }
            None if !server_closed => {
                stats.on_drop(drop_reason(None));
                return stats;
            }
            Some(Err(_)) | None => return stats,
        }
    }
    latency.flush();
    let _ = timeout(CLOSE_GRACE, async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    stats
}

/// How a connection ended without a close frame: `eof` or the error, briefly.
fn drop_reason(error: Option<WsError>) -> String {
    match error {
        None | Some(WsError::ConnectionClosed | WsError::AlreadyClosed) => "eof".to_owned(),
        Some(WsError::Io(e)) => e.kind().to_string(),
        Some(WsError::Protocol(p)) => format!("protocol: {p}"),
        Some(other) => other.to_string(),
    }
}

/// Never reads until stop; then drains what arrived to see whether the server closed it.
async fn stall(shared: &Shared, mut ws: Ws) -> ConnStats {
    let mut stats = ConnStats::default();
    let mut stop_rx = shared.stop.clone();
    let _ = stop_rx.wait_for(|s| *s).await;
    let _ = timeout(CLOSE_GRACE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => {
                    stats.on_close(frame.map(|f| u16::from(f.code)));
                    return;
                }
                Some(Ok(_)) => {}
                end @ (Some(Err(_)) | None) => {
                    stats.on_drop(drop_reason(end.and_then(Result::err)));
                    return;
                }
            }
        }
    })
    .await;
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_cycle_over_loopback_only() {
        let lo: IpAddr = Ipv4Addr::LOCALHOST.into();
        let hosts: Vec<_> = (0..5)
            .map(|i| source_addr(lo, 3, i).unwrap().to_string())
            .collect();
        assert_eq!(
            hosts,
            [
                "127.0.0.1:0",
                "127.0.0.2:0",
                "127.0.0.3:0",
                "127.0.0.1:0",
                "127.0.0.2:0"
            ]
        );
        assert_eq!(
            source_addr(lo, 254, 253).unwrap().to_string(),
            "127.0.0.254:0"
        );
        assert_eq!(source_addr(Ipv4Addr::new(10, 0, 0, 1).into(), 8, 0), None);
        assert_eq!(
            source_addr(std::net::Ipv6Addr::LOCALHOST.into(), 8, 0),
            None
        );
    }
}
