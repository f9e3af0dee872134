//! The QuestDB sink against an in-test HTTP server that speaks just enough of QuestDB's HTTP
//! API (`/exec` for the DDL, `/write` for ILP), and against a real QuestDB when `QUESTDB_ADDR`
//! (its HTTP `host:port`) is set.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::{Bar, InstrumentId, Interval, Quote, Registry, Side, Tick, Trade};
use storage::questdb::{Numbers, QuestDbConfig, QuestDbSink, QuestDbStats};

/// One HTTP request as received.
#[derive(Clone, Debug)]
struct Request {
    target: String,
    body: String,
}

/// A stand-in for QuestDB's HTTP server: records requests, answers 204 to `/write` (or 400
/// when told to refuse) and `{"ddl":"OK"}` to `/exec`.
struct FakeQuestDb {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    refuse_writes: Arc<AtomicBool>,
    closing: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeQuestDb {
    fn start() -> FakeQuestDb {
        FakeQuestDb::on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    fn on(addr: SocketAddr) -> FakeQuestDb {
        let listener = TcpListener::bind(addr).expect("bind the fake QuestDB");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let refuse_writes = Arc::new(AtomicBool::new(false));
        let closing = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (requests, refuse, closing) =
                (requests.clone(), refuse_writes.clone(), closing.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if closing.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (requests, refuse) = (requests.clone(), refuse.clone());
                    std::thread::spawn(move || serve(stream, &requests, &refuse));
                }
            })
        };
        FakeQuestDb {
            addr,
            requests,
            refuse_writes,
            closing,
            acceptor: Some(acceptor),
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// Every `/write` body, concatenated in arrival order.
    fn ilp(&self) -> String {
        self.requests()
            .iter()
            .filter(|r| r.target.starts_with("/write"))
            .map(|r| r.body.as_str())
            .collect()
    }

    /// The SQL of every `/exec` request.
    fn sql(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter_map(|r| r.target.strip_prefix("/exec?query="))
            .map(percent_decode)
            .collect()
    }
}

impl Drop for FakeQuestDb {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Serves keep-alive HTTP/1.1 requests with a Content-Length body until the client closes.
fn serve(stream: TcpStream, requests: &Mutex<Vec<Request>>, refuse: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let target = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let response = if target.starts_with("/write") {
            if refuse.load(Ordering::SeqCst) {
                json_response(
                    "400 Bad Request",
                    r#"{"code":"invalid","message":"refused"}"#,
                )
            } else {
                "HTTP/1.1 204 No Content\r\n\r\n".to_owned()
            }
        } else if target.starts_with("/exec") {
            json_response("200 OK", r#"{"ddl":"OK"}"#)
        } else {
            json_response("404 Not Found", "{}")
        };
        requests
            .lock()
            .expect("requests lock")
            .push(Request { target, body });
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn json_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Polls `condition` until it holds or `within` passes; returns the last stats seen.
fn wait_for(
    sink: &QuestDbSink,
    within: Duration,
    what: &str,
    condition: impl Fn(&QuestDbStats) -> bool,
) -> QuestDbStats {
    let deadline = Instant::now() + within;
    loop {
        let stats = sink.stats();
        if condition(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

const WAIT: Duration = Duration::from_secs(10);
const TS: i64 = 1_700_000_040_000_000_000; // a whole minute, 2023-11-14T22:34:00Z

fn fast_config(addr: SocketAddr) -> QuestDbConfig {
    QuestDbConfig {
        flush_interval_ms: 10,
        retry_initial_ms: 10,
        retry_max_ms: 40,
        request_timeout_ms: 2_000,
        ..QuestDbConfig::new(addr.to_string())
    }
}

fn registry() -> (Arc<Registry>, InstrumentId) {
    let registry = Arc::new(Registry::new());
    let id = registry.intern("BINANCE:BTCUSDT").expect("intern");
    (registry, id)
}

fn trade(
    id: InstrumentId,
    seq: u64,
    ts: i64,
    price: &str,
    size: &str,
    side: Side,
    trade: u64,
) -> Tick {
    let mut tick = Tick::trade(
        id,
        ts,
        ts + 1_000,
        Trade {
            price: price.parse().expect("price"),
            size: size.parse().expect("size"),
            side,
            id: trade,
        },
    );
    tick.seq = seq;
    tick
}

fn quote(id: InstrumentId, seq: u64) -> Tick {
    let mut tick = Tick::quote(
        id,
        TS + 5,
        TS + 7,
        Quote {
            bid: "43250.1".parse().expect("bid"),
            bid_size: "1.25".parse().expect("bid size"),
            ask: "43250.2".parse().expect("ask"),
            ask_size: "0.004".parse().expect("ask size"),
        },
    );
    tick.seq = seq;
    tick
}

fn bar(id: InstrumentId) -> Bar {
    let mut bar = Bar::from_trade(
        id,
        Interval::MINUTE,
        TS + 3,
        "1".parse().expect("price"),
        "2".parse().expect("size"),
    );
    bar.push_trade("1.5".parse().expect("price"), "2".parse().expect("size"));
    bar
}

#[test]
fn writes_exact_ilp_lines_for_a_trade_a_quote_and_a_bar() {
    let fake = FakeQuestDb::start();
    let (registry, id) = registry();
    let sink = QuestDbSink::start(fast_config(fake.addr), registry).expect("start");
    assert!(sink.on_tick(&trade(id, 7, TS, "43250.12", "0.5", Side::Buy, 123)));
    // Before 1970: ILP timestamps are unsigned, so this row is dropped as rejected.
    assert!(sink.on_tick(&trade(id, 8, -1_000, "1", "1", Side::Sell, 0)));
    assert!(sink.on_tick(&quote(id, 9)));
    assert!(sink.on_bar(&bar(id)));
    let stats = wait_for(&sink, WAIT, "three rows sent", |s| s.sent_rows == 3);
    assert!(stats.connected);
    assert_eq!((stats.dropped_rows, stats.rejected_rows), (1, 1));

    let ddl = fake.sql();
    assert_eq!(ddl.len(), 3, "{ddl:?}");
    let created = |table: &str| format!("CREATE TABLE IF NOT EXISTS \"{table}\" (");
    assert!(ddl[0].starts_with(&created("nexamd_trades")), "{}", ddl[0]);
    assert!(ddl[0].contains("\"price\" DECIMAL(19, 9)"), "{}", ddl[0]);
    assert!(ddl[1].starts_with(&created("nexamd_quotes")), "{}", ddl[1]);
    assert!(ddl[2].starts_with(&created("nexamd_bars")), "{}", ddl[2]);
    assert_eq!(
        fake.ilp(),
        concat!(
            "nexamd_trades,instrument=BINANCE:BTCUSDT,side=buy price=43250.12d,size=0.5d,",
            "trade_id=123i,seq=7i,ts_recv=1700000040000001000n 1700000040000000000n\n",
            "nexamd_quotes,instrument=BINANCE:BTCUSDT bid=43250.1d,bid_size=1.25d,",
            "ask=43250.2d,ask_size=0.004d,seq=9i,ts_recv=1700000040000000007n ",
            "1700000040000000005n\n",
            // open 1, high 1.5, low 1, close 1.5, volume 4, vwap (2 + 3) / 4 = 1.25, 2 trades
            "nexamd_bars,instrument=BINANCE:BTCUSDT,interval=1m open=1d,high=1.5d,low=1d,",
            "close=1.5d,volume=4d,vwap=1.25d,trades=2i 1700000040000000000n\n",
        )
    );
    let stats = sink.stop();
    assert_eq!(
        (stats.sent_rows, stats.dropped_rows, stats.queued_rows),
        (3, 1, 0)
    );
}

#[test]
fn double_mode_writes_floats_over_ilp_v1() {
    let fake = FakeQuestDb::start();
    let (registry, id) = registry();
    let config = QuestDbConfig {
        numbers: Numbers::Double,
        table_prefix: "md_".into(),
        ..fast_config(fake.addr)
    };
    let sink = QuestDbSink::start(config, registry).expect("start");
    sink.on_tick(&trade(id, 3, TS, "0.1", "3", Side::Sell, 0));
    wait_for(&sink, WAIT, "one row sent", |s| s.sent_rows == 1);
    assert!(fake.sql()[0].contains("\"price\" DOUBLE, \"size\" DOUBLE"));
    // v1: designated timestamp in ns without a suffix, other timestamps in µs with `t`; no
    // trade_id when the venue gave none.
    assert_eq!(
        fake.ilp(),
        "md_trades,instrument=BINANCE:BTCUSDT,side=sell price=0.1,size=3.0,seq=3i,\
         ts_recv=1700000040000001t 1700000040000000000\n"
    );
    sink.stop();
}

#[test]
fn drops_when_full_without_blocking_then_reconnects() {
    // A port with nothing listening: connects are refused until the fake comes up on it.
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("reserve a port");
    let (registry, id) = registry();
    let config = QuestDbConfig {
        buffer_rows: 50,
        max_batch_rows: 10,
        ..fast_config(addr)
    };
    let sink = QuestDbSink::start(config, registry).expect("start");

    let started = Instant::now();
    let mut taken = Vec::new();
    let mut slowest = Duration::ZERO;
    for n in 1..=200u64 {
        let call = Instant::now();
        if sink.on_tick(&trade(id, n, TS + n as i64, "1", "1", Side::Buy, n)) {
            taken.push(n);
        }
        slowest = slowest.max(call.elapsed());
    }
    let refused = 200 - taken.len() as u64;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(1),
        "200 calls took {elapsed:?}"
    );
    assert!(
        slowest < Duration::from_millis(100),
        "slowest call {slowest:?}"
    );
    // The queue holds 50 and the worker may have taken one batch of 10 before failing.
    let stats = sink.stats();
    assert_eq!(stats.dropped_rows, refused);
    assert!((140..=150).contains(&refused), "{stats:?}");
    let stats = wait_for(&sink, WAIT, "failed connects", |s| s.send_errors >= 2);
    assert!(!stats.connected);
    assert_eq!(stats.sent_rows, 0);

    let fake = FakeQuestDb::on(addr);
    let accepted = 200 - refused;
    let stats = wait_for(&sink, WAIT, "the backlog sent", |s| s.sent_rows == accepted);
    assert!(stats.connected);
    // Exactly the rows on_tick took, in order.
    assert_eq!(trade_ids(&fake.ilp()), taken);

    for n in 201..=205u64 {
        assert!(sink.on_tick(&trade(id, n, TS + n as i64, "1", "1", Side::Buy, n)));
    }
    wait_for(&sink, WAIT, "new rows sent", |s| {
        s.sent_rows == accepted + 5
    });
    let ids = trade_ids(&fake.ilp());
    assert_eq!(&ids[ids.len() - 5..], [201, 202, 203, 204, 205]);
    let stats = sink.stop();
    assert_eq!(stats.dropped_rows, refused);
}

fn trade_ids(ilp: &str) -> Vec<u64> {
    ilp.lines()
        .filter_map(|line| line.split("trade_id=").nth(1))
        .filter_map(|rest| rest.split('i').next())
        .map(|id| id.parse().expect("trade id"))
        .collect()
}

#[test]
fn stop_gives_up_on_an_unreachable_server_by_its_deadline() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("reserve a port");
    let (registry, id) = registry();
    let config = QuestDbConfig {
        stop_timeout_ms: 100,
        ..fast_config(addr)
    };
    let sink = QuestDbSink::start(config, registry).expect("start");
    for n in 1..=5 {
        sink.on_tick(&trade(id, n, TS, "1", "1", Side::Buy, n));
    }
    let started = Instant::now();
    let stats = sink.stop();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!((stats.sent_rows, stats.dropped_rows), (0, 5));
}

#[test]
fn a_batch_refused_three_times_is_dropped_as_rejected() {
    let fake = FakeQuestDb::start();
    fake.refuse_writes.store(true, Ordering::SeqCst);
    let (registry, id) = registry();
    let sink = QuestDbSink::start(fast_config(fake.addr), registry).expect("start");
    sink.on_tick(&trade(id, 1, TS, "1", "1", Side::Buy, 1));
    let stats = wait_for(&sink, WAIT, "the batch dropped", |s| s.rejected_rows == 1);
    assert_eq!(
        (stats.sent_rows, stats.dropped_rows, stats.send_errors),
        (0, 1, 3)
    );
    let writes = fake
        .requests()
        .iter()
        .filter(|r| r.target.starts_with("/write"))
        .count();
    assert_eq!(writes, 3);
    // The connection stays usable for the next batch.
    fake.refuse_writes.store(false, Ordering::SeqCst);
    sink.on_tick(&trade(id, 2, TS, "1", "1", Side::Buy, 2));
    wait_for(&sink, WAIT, "the next row sent", |s| s.sent_rows == 1);
    sink.stop();
}

/// Against a real QuestDB (9.2 or later for decimals): `QUESTDB_ADDR=127.0.0.1:9000`.
#[test]
fn real_questdb_when_questdb_addr_is_set() {
    let Ok(addr) = std::env::var("QUESTDB_ADDR") else {
        eprintln!(
            "skipped: set QUESTDB_ADDR=host:port (QuestDB's HTTP port) to run against a real QuestDB"
        );
        return;
    };
    let prefix = format!(
        "nexamd_test_{}_{}_",
        std::process::id(),
        engine::clock::now_ns() % 1_000_000_000
    );
    let (registry, id) = registry();
    let config = QuestDbConfig {
        table_prefix: prefix.clone(),
        ..QuestDbConfig::new(addr.clone())
    };
    let sink = QuestDbSink::start(config, registry).expect("start");
    sink.on_tick(&trade(id, 7, TS, "43250.123456789", "0.5", Side::Buy, 123));
    sink.on_tick(&quote(id, 9));
    sink.on_bar(&bar(id));
    let stats = wait_for(&sink, Duration::from_secs(30), "three rows sent", |s| {
        s.sent_rows == 3
    });
    assert_eq!(stats.dropped_rows, 0);
    sink.stop();

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let query = |sql: &str| -> String {
        agent
            .get(format!("http://{addr}/exec"))
            .query("query", sql)
            .call()
            .and_then(|mut r| r.body_mut().read_to_string())
            .expect("query QuestDB")
    };
    // WAL tables apply rows asynchronously: wait for them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let sql = format!("SELECT price, size, trade_id, side FROM {prefix}trades");
    let trades = loop {
        let answer = query(&sql);
        if answer.contains("43250.123456789") || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(trades.contains("43250.123456789"), "{trades}");
    assert!(trades.contains("\"buy\""), "{trades}");
    for table in ["trades", "quotes", "bars"] {
        query(&format!("DROP TABLE IF EXISTS {prefix}{table}"));
    }
}
