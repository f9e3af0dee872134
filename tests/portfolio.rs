//! Portfolios on the real binary: the known realized values over REST, bad transactions,
//! live valuations on `portfolio.<id>` beside the instrument's trades, a restart, and risk
//! figures from imported history.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::ws::{Client, kind};
use support::{Engine, binary, run_ok, start_with_config, units};

const CONFIG: &str = "[feeds.synthetic]\ninstruments = 5\nrate = 2000\n";

/// A request with a JSON body; status and parsed body (Null when empty).
fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn create(engine: &Engine, cost_basis: &str) -> u64 {
    let (status, body) = request(
        engine.addr,
        "POST",
        "/v1/portfolios",
        Some(&json!({"name": cost_basis, "base_currency": "USD", "cost_basis": cost_basis})),
    );
    assert_eq!(status, 201, "{body}");
    body["id"].as_u64().unwrap()
}

fn post(engine: &Engine, id: u64, tx: Value) -> (u16, Value) {
    request(
        engine.addr,
        "POST",
        &format!("/v1/portfolios/{id}/transactions"),
        Some(&tx),
    )
}

fn valuation(engine: &Engine, id: u64) -> Value {
    let (status, body) = request(
        engine.addr,
        "GET",
        &format!("/v1/portfolios/{id}/valuation"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body
}

fn field(value: &Value, key: &str) -> i128 {
    units(
        value[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {value}")),
    )
}

#[test]
fn known_realized_values_and_bad_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with_config(dir.path(), CONFIG);
    for (basis, realized) in [("fifo", "250"), ("average", "225")] {
        let id = create(&engine, basis);
        for tx in [
            json!({"type":"buy","instrument":"SIM:AAA","quantity":10,"price":100,"ts":"2024-01-02T10:00:00Z"}),
            json!({"type":"buy","instrument":"SIM:AAA","quantity":"10","price":"110","ts":"2024-01-03T10:00:00Z"}),
            json!({"type":"sell","instrument":"SIM:AAA","quantity":15,"price":"120","ts":1704362400000000000i64}),
        ] {
            let (status, body) = post(&engine, id, tx);
            assert_eq!(status, 201, "{body}");
        }
        let v = valuation(&engine, id);
        assert_eq!(field(&v, "realized"), units(realized), "{basis}: {v}");
        assert_eq!(field(&v["positions"][0], "quantity"), units("5"));
    }
    let id = create(&engine, "fifo");
    let cases = [
        (
            json!({"type":"sell","instrument":"SIM:AAA","quantity":1,"price":1,"ts":"2024-01-01T00:00:00Z"}),
            422,
            "insufficient_quantity",
        ),
        (
            json!({"type":"buy","instrument":"SIM:AAA","quantity":-1,"price":1,"ts":"2024-01-01T00:00:00Z"}),
            400,
            "bad_quantity",
        ),
        (
            json!({"type":"buy","instrument":"SIM:AAA","quantity":"ten","price":1,"ts":"2024-01-01T00:00:00Z"}),
            400,
            "bad_quantity",
        ),
        (
            json!({"type":"buy","instrument":"NOPE:X","quantity":1,"price":1,"ts":"2024-01-01T00:00:00Z"}),
            400,
            "unknown_instrument",
        ),
        (
            json!({"type":"buy","instrument":"SIM:AAA","quantity":1,"ts":"2024-01-01T00:00:00Z"}),
            400,
            "missing_field",
        ),
        (
            json!({"instrument":"SIM:AAA","quantity":1,"price":1,"ts":"2024-01-01T00:00:00Z"}),
            400,
            "missing_field",
        ),
    ];
    for (tx, status, code) in cases {
        let (got, body) = post(&engine, id, tx.clone());
        assert_eq!(got, status, "{tx}: {body}");
        assert_eq!(body["error"]["code"], code, "{tx}: {body}");
    }
    let (status, body) = request(engine.addr, "GET", "/v1/portfolios/999", None);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_portfolio"))
    );
}

#[test]
fn live_valuations_follow_the_trades_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = start_with_config(dir.path(), CONFIG);
    let id = create(&engine, "fifo");
    for tx in [
        json!({"type":"deposit","quantity":"5000","ts":"2024-01-01T00:00:00Z"}),
        json!({"type":"deposit","quantity":"100","currency":"EUR","ts":"2024-01-01T00:00:00Z"}),
        json!({"type":"buy","instrument":"SIM:AAA","quantity":"10","price":"100","ts":"2024-01-02T00:00:00Z"}),
        json!({"type":"buy","instrument":"SIM:AAB","quantity":"3","price":"50","ts":"2024-01-02T00:00:00Z"}),
    ] {
        assert_eq!(post(&engine, id, tx).0, 201);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = Client::connect(engine.addr).await;
        let channel = format!("portfolio.{id}");
        client
            .send_json(
                json!({"op":"subscribe","channels":[channel.clone(), "trades.SIM:AAA"],"req_id":1}),
            )
            .await;
        let mut prices: Vec<String> = Vec::new();
        let mut valuations: Vec<(Instant, Value)> = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            let message = client.next_json(Duration::from_secs(5)).await;
            match kind(&message) {
                "trade" => prices.push(message["price"].as_str().unwrap().to_owned()),
                "valuation" => {
                    assert_eq!(message["channel"], channel.as_str());
                    valuations.push((Instant::now(), message));
                }
                _ => {}
            }
        }
        assert!(valuations.len() >= 5, "{} valuations", valuations.len());
        // Until an instrument's first trade since start its `last` is null; after that, every
        // valuation is complete.
        let priced = |v: &Value| {
            v["positions"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| !p["last"].is_null())
        };
        let first_complete = valuations
            .iter()
            .position(|(_, v)| priced(v))
            .expect("a complete valuation");
        assert!(valuations[first_complete..].iter().all(|(_, v)| priced(v)));
        let valuations = valuations[first_complete..].to_vec();
        // At most about 10 a second (1 s windows, allowing one at each edge).
        for (i, (t, _)) in valuations.iter().enumerate() {
            let within = valuations[i..]
                .iter()
                .take_while(|(u, _)| *u - *t < Duration::from_secs(1))
                .count();
            assert!(within <= 11, "{within} valuations within a second");
        }
        for (_, v) in &valuations {
            let mut sum = 0;
            for p in v["positions"].as_array().unwrap() {
                let mv = field(p, "market_value");
                // quantity × last × fx, exactly (all rounding is below 1e-9 here: fx is 1).
                let expected = field(p, "quantity") * field(p, "last") / 1_000_000_000
                    * field(p, "fx")
                    / 1_000_000_000;
                assert_eq!(mv, expected, "{p}");
                sum += mv;
            }
            assert_eq!(sum, field(v, "market_value"), "{v}");
            assert_eq!(field(v, "nav"), field(v, "market_value") + field(v, "cash"));
            assert!(v["missing_rates"].as_array().unwrap().is_empty(), "{v}");
            // EUR cash is converted at SIM:EURUSD: cash ≠ the 3500 USD alone.
            assert_ne!(field(v, "cash"), units("3350"));
        }
        // The last valuation's SIM:AAA price is a trade that was streamed.
        let (_, last) = valuations.last().unwrap();
        let aaa = last["positions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["instrument"] == "SIM:AAA")
            .unwrap();
        assert!(
            prices.contains(&aaa["last"].as_str().unwrap().to_owned()),
            "{aaa}"
        );
    });

    let (_, before) = request(
        engine.addr,
        "GET",
        &format!("/v1/portfolios/{id}/transactions"),
        None,
    );
    engine.signal("TERM");
    assert!(engine.wait_exit(Duration::from_secs(15)).success());
    let restarted = start_with_config(dir.path(), CONFIG);
    let (_, after) = request(
        restarted.addr,
        "GET",
        &format!("/v1/portfolios/{id}/transactions"),
        None,
    );
    assert_eq!(before, after);
    let (_, list) = request(restarted.addr, "GET", "/v1/portfolios", None);
    assert_eq!(list["portfolios"][0]["id"], id);
    let v = valuation(&restarted, id);
    assert_eq!(field(&v["positions"][0], "quantity"), units("10"));
}

#[test]
fn risk_figures_from_imported_daily_history() {
    let dir = tempfile::tempdir().unwrap();
    // 40 days of one 1m bar a day at 12:00 for SIM:RSK, ending yesterday, prices 100, 101, ...
    let day = 86_400i64;
    let today = engine::clock::now_ns() / 1_000_000_000 / day * day;
    let mut csv = String::from("timestamp,open,high,low,close,volume\n");
    for k in (1..=40).rev() {
        let t = today - k * day + 12 * 3600;
        let close = 100 + (40 - k) + (k % 3);
        csv.push_str(&format!("{t},{close},{close},{close},{close},1\n"));
    }
    let file = dir.path().join("rsk.csv");
    std::fs::write(&file, csv).unwrap();
    run_ok(
        binary()
            .current_dir(dir.path())
            .args(["import", "--format", "ohlcv-csv", "--interval", "1m"])
            .arg(&file)
            .args(["--instrument", "SIM:RSK", "--data-dir", "data"]),
    );

    let engine = start_with_config(dir.path(), CONFIG);
    let id = create(&engine, "fifo");
    // Fully funded, so the portfolio is the instrument and nothing else.
    let bought = (today - 45 * day) * 1_000_000_000;
    for tx in [
        json!({"type":"deposit","quantity":"990","ts":bought}),
        json!({"type":"buy","instrument":"SIM:RSK","quantity":"10","price":"99","ts":bought}),
    ] {
        let (status, body) = post(&engine, id, tx);
        assert_eq!(status, 201, "{body}");
    }
    let (status, risk) = request(
        engine.addr,
        "GET",
        &format!("/v1/portfolios/{id}/risk?window=20&benchmark=SIM:RSK"),
        None,
    );
    assert_eq!(status, 200, "{risk}");
    assert!(risk["observations"].as_u64().unwrap() >= 15, "{risk}");
    // A buy-and-hold of the benchmark itself has a beta of 1.
    assert!(
        (risk["beta"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "{risk}"
    );
    assert!(risk["annual_volatility"].as_f64().unwrap() > 0.0);
    assert!(risk["max_drawdown"].as_f64().unwrap() <= 0.0);
    assert!(risk["cvar_95"].as_f64().unwrap() <= risk["var_95"].as_f64().unwrap());
    let (status, body) = request(
        engine.addr,
        "GET",
        &format!("/v1/portfolios/{id}/risk?window=0"),
        None,
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_parameter"))
    );
}
