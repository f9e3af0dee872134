//! The WebSocket feed runtime against mock venue servers on loopback: connect and subscribe,
//! publish, reconnect after a drop (and subscribe again), stale detection, idle reconnect, gap
//! detection, bad messages, and a login refused for good. The servers serve captured or
//! documented messages.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{Consumer, Registry, Ring, Side, Tick};
use feeds::binance::Binance;
use feeds::polygon::Polygon;
use feeds::{Feed, FeedContext, FeedState, FeedStats, FeedThread, VenueConfig, WsFeed};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(10);

/// Two bookTicker updates and an aggTrade for NKNUSDT, verbatim from the Binance capture.
const BOOK_1: &str = r#"{"stream":"nknusdt@bookTicker","data":{"u":499869762,"s":"NKNUSDT","b":"0.35130000","B":"6195.00000000","a":"0.35290000","A":"17.00000000"}}"#;
const BOOK_2: &str = r#"{"stream":"nknusdt@bookTicker","data":{"u":499869780,"s":"NKNUSDT","b":"0.35130000","B":"6195.00000000","a":"0.35280000","A":"58.00000000"}}"#;

fn agg_trade(id: u64) -> String {
    format!(
        r#"{{"stream":"nknusdt@aggTrade","data":{{"e":"aggTrade","E":1633998523963,"s":"NKNUSDT","a":{id},"p":"0.35280000","q":"58.00000000","f":19862790,"l":19862790,"T":1633998523963,"m":false,"M":true}}}}"#
    )
}

/// One accepted connection: the request path and the socket.
struct Conn {
    path: String,
    ws: WebSocketStream<TcpStream>,
}

impl Conn {
    async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_owned())).await.unwrap();
    }

    /// The next text message the client sent.
    async fn recv_text(&mut self) -> String {
        loop {
            let message = tokio::time::timeout(DEADLINE, self.ws.next())
                .await
                .expect("the client sent nothing")
                .expect("the client closed")
                .unwrap();
            if let Message::Text(text) = message {
                return text.as_str().to_owned();
            }
        }
    }
}

/// A mock venue: accepts WebSocket connections on a free loopback port and hands them over.
#[allow(clippy::result_large_err)] // the handshake callback's signature is tungstenite's
async fn mock_server() -> (SocketAddr, mpsc::UnboundedReceiver<Conn>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut path = String::new();
                let callback = |request: &Request, response: Response| {
                    path = request.uri().to_string();
                    Ok(response)
                };
                if let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await {
                    let _ = tx.send(Conn { path, ws });
                }
            });
        }
    });
    (addr, rx)
}

async fn next_conn(rx: &mut mpsc::UnboundedReceiver<Conn>) -> Conn {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("the feed did not connect")
        .expect("server stopped")
}

struct Running {
    registry: Arc<Registry>,
    stats: Arc<FeedStats>,
    consumer: Consumer,
    shutdown: CancellationToken,
    thread: Option<FeedThread>,
    _ring: Ring,
}

impl Running {
    fn start(mut feed: Box<dyn Feed>) -> Running {
        let registry = Arc::new(Registry::new());
        let (ring, mut consumers) = Ring::builder(4096).gating("test").build().unwrap();
        let consumer = consumers.remove(0);
        let stats = Arc::new(FeedStats::new(feed.name()));
        let shutdown = CancellationToken::new();
        feed.register(&registry).unwrap();
        let ctx = FeedContext {
            producer: ring.producer().unwrap(),
            registry: registry.clone(),
            stats: stats.clone(),
            shutdown: shutdown.clone(),
        };
        let thread = FeedThread::spawn(feed, ctx).unwrap();
        Running {
            registry,
            stats,
            consumer,
            shutdown,
            thread: Some(thread),
            _ring: ring,
        }
    }

    /// Reads ticks until `n` have come, within the deadline.
    async fn ticks(&mut self, n: usize) -> Vec<Tick> {
        let mut out = Vec::new();
        let deadline = Instant::now() + DEADLINE;
        while out.len() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} ticks came",
                out.len()
            );
            let _ = self.consumer.poll(1024, |tick| out.push(*tick));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        out
    }

    fn name(&self, tick: &Tick) -> String {
        self.registry.get(tick.instrument).unwrap().to_string()
    }

    fn stop(mut self) -> feeds::Result<()> {
        self.shutdown.cancel();
        self.thread.take().unwrap().join()
    }
}

/// Waits for `condition`, failing with `what` past the deadline.
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn binance_config(addr: SocketAddr) -> VenueConfig {
    VenueConfig {
        url: Some(format!("ws://{addr}")),
        instruments: vec!["nknusdt".into()],
        channels: vec!["aggTrade".into(), "bookTicker".into()],
        backoff_initial_ms: 20,
        backoff_max_ms: 100,
        ..VenueConfig::default()
    }
}

fn binance_feed(config: VenueConfig) -> Box<dyn Feed> {
    let venue = Binance::new(&config).unwrap();
    Box::new(WsFeed::new(Box::new(venue), config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_subscribes_and_publishes_exact_ticks() {
    let (addr, mut conns) = mock_server().await;
    let mut feed = Running::start(binance_feed(binance_config(addr)));
    let mut conn = next_conn(&mut conns).await;
    assert_eq!(
        conn.path, "/stream?streams=nknusdt@aggTrade/nknusdt@bookTicker",
        "combined streams in the URL"
    );
    conn.send(BOOK_1).await;
    conn.send(&agg_trade(15683430)).await;
    let ticks = feed.ticks(2).await;
    assert_eq!(feed.name(&ticks[0]), "BINANCE:NKNUSDT");
    let quote = ticks[0].as_quote().unwrap();
    assert_eq!(quote.bid.to_string(), "0.3513");
    assert_eq!(quote.ask_size.to_string(), "17");
    let trade = ticks[1].as_trade().unwrap();
    assert_eq!(
        (trade.price.to_string(), trade.size.to_string()),
        ("0.3528".into(), "58".into())
    );
    assert_eq!(trade.side, Side::Buy, "m:false: the buyer took liquidity");
    assert_eq!(trade.id, 15683430);
    assert_eq!(ticks[1].ts_event, 1_633_998_523_963_000_000);
    assert!(
        ticks[1].ts_recv > ticks[1].ts_event,
        "ts_recv is the read time"
    );
    assert_eq!(feed.stats.state(), FeedState::Live);
    assert_eq!(feed.stats.messages.get(), 2);
    assert_eq!(feed.stats.channels().len(), 2);
    // Parse latencies are recorded in batches, at the latest by the next watchdog round.
    until("parse latencies", || {
        feed.stats.parse_latency.summary().count == 2
    })
    .await;
    assert_eq!(feed.stats.parse_latency.stage(), "parse.binance");
    feed.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_drop_and_subscribes_again() {
    let (addr, mut conns) = mock_server().await;
    // A `/ws` URL: the subscription goes in a SUBSCRIBE message, to be sent on every connection.
    let config = VenueConfig {
        url: Some(format!("ws://{addr}/ws")),
        ..binance_config(addr)
    };
    let mut feed = Running::start(binance_feed(config));
    let mut first = next_conn(&mut conns).await;
    let subscribe = first.recv_text().await;
    assert!(subscribe.contains("SUBSCRIBE") && subscribe.contains("nknusdt@aggTrade"));
    first.send(&agg_trade(1)).await;
    feed.ticks(1).await;
    drop(first);

    let mut second = next_conn(&mut conns).await;
    assert_eq!(second.recv_text().await, subscribe, "subscribed again");
    second.send(&agg_trade(2)).await;
    second.send(BOOK_2).await;
    let ticks = feed.ticks(2).await;
    assert_eq!(ticks[0].as_trade().unwrap().id, 2);
    until("the feed to be live again", || {
        feed.stats.state() == FeedState::Live
    })
    .await;
    assert_eq!(feed.stats.reconnects.get(), 1);
    assert_eq!(feed.stats.gaps.get(), 0, "ids 1 then 2: no gap");
    feed.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_channel_goes_stale_and_a_silent_connection_is_replaced() {
    let (addr, mut conns) = mock_server().await;
    let config = VenueConfig {
        stale_after_ms: 200,
        idle_reconnect_ms: 1500,
        ..binance_config(addr)
    };
    let feed = Running::start(binance_feed(config));
    let mut conn = next_conn(&mut conns).await;
    conn.send(BOOK_1).await;
    until("the feed to be live", || {
        feed.stats.state() == FeedState::Live
    })
    .await;
    // Quotes came, trades never: the trade channel goes stale first, then the whole feed.
    until("the trade channel to go stale", || {
        feed.stats
            .channels()
            .iter()
            .any(|c| c.kind == engine::TickKind::Trade && c.is_stale())
    })
    .await;
    until("the feed to go stale", || {
        feed.stats.state() == FeedState::Stale
    })
    .await;
    // Still silent: the connection is dropped and made again.
    let mut again = next_conn(&mut conns).await;
    again.send(BOOK_2).await;
    until("the feed to be live again", || {
        feed.stats.state() == FeedState::Live
    })
    .await;
    assert!(feed.stats.reconnects.get() >= 1);
    drop(conn);
    feed.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_are_counted_and_bad_messages_do_not_stop_the_feed() {
    let (addr, mut conns) = mock_server().await;
    let mut feed = Running::start(binance_feed(binance_config(addr)));
    let mut conn = next_conn(&mut conns).await;
    conn.send(&agg_trade(10)).await;
    conn.send("{\"stream\":\"nknusdt@aggTrade\",\"data\":{\"e\":\"aggTrade\",")
        .await;
    conn.send("not json at all").await;
    conn.send(&agg_trade(11)).await;
    conn.send(&agg_trade(14)).await;
    let ticks = feed.ticks(3).await;
    let ids: Vec<u64> = ticks.iter().map(|t| t.as_trade().unwrap().id).collect();
    assert_eq!(ids, [10, 11, 14]);
    until("the gap to be counted", || feed.stats.gaps.get() == 1).await;
    assert_eq!(feed.stats.parse_errors.get(), 2);
    assert_eq!(feed.stats.reconnects.get(), 0, "the connection survived");
    feed.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polygon_logs_in_then_subscribes_and_a_refused_login_ends_the_feed() {
    let (addr, mut conns) = mock_server().await;
    let config = VenueConfig {
        url: Some(format!("ws://{addr}/stocks")),
        instruments: vec!["AAPL".into()],
        // A variable every test process has stands in for the API key.
        key_env: Some("PATH".into()),
        backoff_initial_ms: 20,
        backoff_max_ms: 100,
        ..VenueConfig::default()
    };
    let venue = Polygon::new(&config).unwrap();
    let mut feed = Running::start(Box::new(WsFeed::new(Box::new(venue), config)));
    let mut conn = next_conn(&mut conns).await;
    conn.send(r#"[{"ev":"status","status":"connected","message":"Connected Successfully"}]"#)
        .await;
    let auth = conn.recv_text().await;
    assert!(auth.contains("\"action\":\"auth\""), "{auth}");
    conn.send(r#"[{"ev":"status","status":"auth_success","message":"authenticated"}]"#)
        .await;
    let subscribe = conn.recv_text().await;
    assert!(
        subscribe.contains("\"action\":\"subscribe\"") && subscribe.contains("T.AAPL"),
        "{subscribe}"
    );
    conn.send(r#"[{"ev":"T","sym":"AAPL","x":4,"i":"52983525029461","z":3,"p":175.35,"s":100,"c":[14,41],"t":1696518000123,"q":1234}]"#)
        .await;
    let ticks = feed.ticks(1).await;
    let trade = ticks[0].as_trade().unwrap();
    assert_eq!(feed.name(&ticks[0]), "POLYGON:AAPL");
    assert_eq!(trade.price.to_string(), "175.35");
    assert_eq!(trade.side, Side::Unknown);
    assert_eq!(ticks[0].ts_event, 1_696_518_000_123_000_000);
    drop(conn);

    // The next connection's login is refused: the feed stops as failed instead of retrying.
    let mut conn = next_conn(&mut conns).await;
    let _auth = conn.recv_text().await;
    conn.send(r#"[{"ev":"status","status":"auth_failed","message":"authentication failed"}]"#)
        .await;
    until("the feed to fail", || {
        feed.stats.state() == FeedState::Failed
    })
    .await;
    let result = feed.stop();
    assert!(result.is_err(), "a refused login is an error");
}
