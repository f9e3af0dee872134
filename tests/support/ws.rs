//! A WebSocket test client (tokio-tungstenite) for the real binary.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How a connection ended, seen from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Close(u16),
    /// The stream ended or failed without a close frame.
    Dropped,
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws"))
            .await
            .expect("WebSocket connect");
        Client { ws }
    }

    /// Connects to `ws://ADDR/v1/ws` + `query` (e.g. `?token=KEY`); the HTTP status on a
    /// refused upgrade.
    pub async fn try_connect(addr: SocketAddr, query: &str) -> Result<Client, u16> {
        match tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws{query}")).await {
            Ok((ws, _)) => Ok(Client { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(other) => panic!("WebSocket connect: {other}"),
        }
    }

    /// Connects with an 8 KiB socket receive buffer, so a client that stops reading backs
    /// the server up quickly.
    pub async fn connect_small_buffer(addr: SocketAddr) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(8 * 1024).unwrap();
        let stream = socket.connect(addr).await.expect("TCP connect");
        let (ws, _) = tokio_tungstenite::client_async(
            format!("ws://{addr}/v1/ws"),
            MaybeTlsStream::Plain(stream),
        )
        .await
        .expect("WebSocket handshake");
        Client { ws }
    }

    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send(&value.to_string()).await;
    }

    /// The next JSON message, skipping control frames; panics on timeout or close.
    pub async fn next_json(&mut self, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let frame = timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no message within {within:?}"));
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str()).expect("server sent JSON");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                other => panic!("connection ended while waiting for a message: {other:?}"),
            }
        }
    }

    /// Reads until a message satisfies `wanted`, returning it and everything read before it.
    pub async fn until(
        &mut self,
        within: Duration,
        mut wanted: impl FnMut(&Value) -> bool,
    ) -> (Value, Vec<Value>) {
        let deadline = Instant::now() + within;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.next_json(left.max(Duration::from_millis(1))).await;
            if wanted(&message) {
                return (message, before);
            }
            before.push(message);
        }
    }

    /// Reads (discarding messages) until the connection ends.
    pub async fn ended(&mut self, within: Duration) -> Ended {
        let deadline = Instant::now() + within;
        loop {
            match timeout_at(deadline, self.ws.next()).await {
                Err(_) => panic!("connection still open after {within:?}"),
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return frame
                        .map_or(Ended::Dropped, |f: CloseFrame| Ended::Close(f.code.into()));
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(error))) => {
                    eprintln!("connection dropped: {error}");
                    return Ended::Dropped;
                }
                Ok(None) => {
                    eprintln!("connection dropped: end of stream");
                    return Ended::Dropped;
                }
            }
        }
    }
}

/// The value of `type`.
pub fn kind(message: &Value) -> &str {
    message["type"].as_str().unwrap_or("")
}
