//! The `/v1/portfolios` routes over real HTTP on loopback, with a real SQLite file and a fake
//! live side that records what it is told and computes nothing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Extension, Router};
use engine::Price;
use engine::fixed::SCALE;
use portfolio_core::currency::CurrencyConfig;
use portfolio_core::http::{MAX_BODY_BYTES, router};
use portfolio_core::ledger::{Ledger, to_price};
use portfolio_core::model::{LOCAL_PRINCIPAL, Live, PositionValue};
use portfolio_core::{Db, Portfolio, PortfolioId, Portfolios, Valuation};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Records updates and removals; its valuation just lists the ledger's holdings.
#[derive(Debug, Default)]
struct FakeLive {
    state: Mutex<BTreeMap<PortfolioId, (Portfolio, Ledger)>>,
    updates: Mutex<Vec<PortfolioId>>,
    removed: Mutex<Vec<PortfolioId>>,
}

impl FakeLive {
    fn realized(&self, id: PortfolioId, instrument: &str) -> Option<i128> {
        let state = self.state.lock().unwrap();
        state[&id].1.holding(instrument).map(|h| h.realized)
    }
}

impl Live for FakeLive {
    fn update(&self, portfolio: &Portfolio, ledger: &Ledger) {
        self.state
            .lock()
            .unwrap()
            .insert(portfolio.id, (portfolio.clone(), ledger.clone()));
        self.updates.lock().unwrap().push(portfolio.id);
    }

    fn remove(&self, id: PortfolioId) {
        self.state.lock().unwrap().remove(&id);
        self.removed.lock().unwrap().push(id);
    }

    fn valuation(&self, id: PortfolioId) -> Option<Valuation> {
        let state = self.state.lock().unwrap();
        let (portfolio, ledger) = state.get(&id)?;
        Some(Valuation {
            portfolio: id,
            base_currency: portfolio.base_currency.clone(),
            ts: 1,
            positions: ledger
                .holdings()
                .map(|h| PositionValue {
                    instrument: h.instrument.clone(),
                    quantity: h.quantity,
                    last: None,
                    fx: None,
                    market_value: None,
                    cost_basis: to_price(h.cost).unwrap_or_default(),
                    avg_cost: h.avg_cost(),
                    unrealized: None,
                    realized: to_price(h.realized).unwrap_or_default(),
                    day_change: None,
                    weight: None,
                })
                .collect(),
            cash_by_currency: ledger
                .cash()
                .iter()
                .map(|(c, v)| (c.clone(), to_price(*v).unwrap_or_default()))
                .collect(),
            market_value: Price::ZERO,
            cash: Price::ZERO,
            nav: Price::ZERO,
            realized: Price::ZERO,
            unrealized: Price::ZERO,
            day_change: Price::ZERO,
            missing_rates: vec![],
        })
    }
}

/// The service over the database in `dir`; SIM instruments are live, `OLD:X` only stored.
fn service(dir: &Path) -> (Arc<Portfolios>, Arc<FakeLive>) {
    let live = Arc::new(FakeLive::default());
    let registry = Arc::new(engine::Registry::new());
    registry.intern("SIM:AAA").unwrap();
    registry.intern("SIM:BBB").unwrap();
    let known = portfolio_core::service::registry_or(registry, |i: &str| i == "OLD:X");
    let db = Db::open_in(dir).unwrap();
    let service = Portfolios::open(db, live.clone(), CurrencyConfig::default(), known).unwrap();
    (Arc::new(service), live)
}

/// Serves `app` on an ephemeral loopback port.
async fn serve(app: Router) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an error response: status, JSON body with `code` and a message.
    fn assert_error(&self, status: u16, code: &str) -> &str {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.header("content-type"), Some("application/json"));
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "{}", self.body);
        let message = v["error"]["message"].as_str().unwrap();
        assert!(!message.is_empty());
        self.body.as_str()
    }
}

/// Parses a whole HTTP/1.1 response, or `None` if `raw` is not one yet.
fn parse_response(raw: &[u8]) -> Option<Response> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[head_end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut at = rest;
        loop {
            let line_end = at.windows(2).position(|w| w == b"\r\n")?;
            let size =
                usize::from_str_radix(std::str::from_utf8(&at[..line_end]).ok()?, 16).ok()?;
            at = &at[line_end + 2..];
            if size == 0 {
                break body;
            }
            body.extend_from_slice(at.get(..size)?);
            at = at.get(size + 2..)?;
        }
    } else {
        let length: usize = find("content-length").map_or(Some(0), |v| v.parse().ok())?;
        rest.get(..length)?.to_vec()
    };
    Some(Response {
        status,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

/// One request on a fresh connection (`Connection: close`), within a deadline.
async fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&[u8]>) -> Response {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let body = body.unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        // The server may answer (413) and close before taking a whole oversized body: a
        // failed write is then expected, and the answer is still there to read.
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body).await;
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
        parse_response(&raw)
            .unwrap_or_else(|| panic!("no whole response: {}", String::from_utf8_lossy(&raw)))
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer within 10 s"))
}

async fn post(addr: SocketAddr, path: &str, body: &str) -> Response {
    request(addr, "POST", path, Some(body.as_bytes())).await
}

async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, None).await
}

fn whole(n: i128) -> i128 {
    n * i128::from(SCALE) * i128::from(SCALE)
}

/// Creates a portfolio and records buy 10 @ 100, buy 10 @ 110, sell 15 @ 120 with amounts
/// as numbers and strings and times in both forms; returns its id and the transaction ids.
async fn known_history(addr: SocketAddr, basis: &str) -> (PortfolioId, Vec<u64>) {
    let created = post(
        addr,
        "/v1/portfolios",
        &format!(r#"{{"name":"{basis} book","cost_basis":"{basis}"}}"#),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let p = created.json();
    let id = p["id"].as_u64().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/portfolios/{id}").as_str())
    );
    assert_eq!(p["cost_basis"], basis);
    assert_eq!(p["base_currency"], "USD");
    assert_eq!(p["allow_short"], false);
    assert_eq!(p["owner"], LOCAL_PRINCIPAL);
    let path = format!("/v1/portfolios/{id}/transactions");
    let mut ids = Vec::new();
    for body in [
        r#"{"type":"buy","instrument":"SIM:AAA","quantity":10,"price":100,"ts":"2024-05-01T10:00:00Z"}"#,
        r#"{"type":"buy","instrument":"SIM:AAA","quantity":"10","price":"110","ts":1714558500000000000}"#,
        r#"{"type":"sell","instrument":"SIM:AAA","quantity":15,"price":"120","ts":"2024-05-01T11:00:00.5+00:00"}"#,
    ] {
        let r = post(addr, &path, body).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let tx = r.json();
        assert_eq!(tx["portfolio"], id);
        ids.push(tx["id"].as_u64().unwrap());
    }
    (id, ids)
}

#[tokio::test]
async fn crud_and_the_known_realized_values() {
    let dir = tempfile::tempdir().unwrap();
    let (service, live) = service(dir.path());
    let (addr, _server) = serve(router(service.clone())).await;

    let (fifo, fifo_txs) = known_history(addr, "fifo").await;
    let (average, _) = known_history(addr, "average").await;

    // Realized P&L: FIFO 15 × 120 − (1000 + 5 × 110) = 250; average 1800 − 15 × 105 = 225.
    for (id, realized) in [(fifo, 250), (average, 225)] {
        let ledger = service.ledger(LOCAL_PRINCIPAL, id).unwrap();
        assert_eq!(ledger.holding("SIM:AAA").unwrap().realized, whole(realized));
        assert_eq!(live.realized(id, "SIM:AAA"), Some(whole(realized)));
    }
    let all = service.all_ledgers().unwrap();
    assert_eq!(
        all.iter().map(|(p, _)| p.id).collect::<Vec<_>>(),
        vec![fifo, average]
    );

    // Reads.
    let list = get(addr, "/v1/portfolios").await;
    assert_eq!(list.status, 200);
    let names: Vec<_> = list.json()["portfolios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["fifo book", "average book"]);
    let one = get(addr, &format!("/v1/portfolios/{fifo}")).await;
    assert_eq!((one.status, one.json()["id"].as_u64()), (200, Some(fifo)));
    let txs = get(addr, &format!("/v1/portfolios/{fifo}/transactions")).await;
    assert_eq!(txs.status, 200);
    let txs = txs.json();
    let txs = txs["transactions"].as_array().unwrap();
    let shown: Vec<_> = txs
        .iter()
        .map(|t| {
            (
                t["type"].as_str().unwrap(),
                t["quantity"].as_str().unwrap(),
                t["price"].as_str().unwrap(),
                t["ts"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("buy", "10", "100", 1_714_557_600_000_000_000),
            ("buy", "10", "110", 1_714_558_500_000_000_000),
            ("sell", "15", "120", 1_714_561_200_500_000_000),
        ]
    );
    assert_eq!(txs[0]["fee"], Value::Null);

    // Rename.
    let renamed = request(
        addr,
        "PATCH",
        &format!("/v1/portfolios/{fifo}"),
        Some(br#"{"name":"Renamed"}"#),
    )
    .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.json()["name"], "Renamed");
    assert_eq!(
        get(addr, &format!("/v1/portfolios/{fifo}")).await.json()["name"],
        "Renamed"
    );

    // Valuation: the live side's, exact decimals as strings, null where unknown.
    let v = get(addr, &format!("/v1/portfolios/{average}/valuation")).await;
    assert_eq!(v.status, 200, "{}", v.body);
    let v = v.json();
    assert_eq!(v["portfolio"], average);
    assert_eq!(v["base_currency"], "USD");
    assert_eq!(v["cash_by_currency"]["USD"], "-300");
    let position = &v["positions"][0];
    assert_eq!(position["instrument"], "SIM:AAA");
    assert_eq!(position["quantity"], "5");
    assert_eq!(position["realized"], "225");
    assert_eq!(position["avg_cost"], "105");
    assert_eq!(position["last"], Value::Null);
    for key in [
        "market_value",
        "cash",
        "nav",
        "realized",
        "unrealized",
        "day_change",
        "missing_rates",
        "ts",
    ] {
        assert!(v.get(key).is_some(), "{key} missing");
    }

    // Deleting a transaction: the first buy would leave the sale short (409); the sale, then
    // the buys go.
    let tx_path = |tx: u64| format!("/v1/portfolios/{fifo}/transactions/{tx}");
    let r = request(addr, "DELETE", &tx_path(fifo_txs[0]), None).await;
    r.assert_error(409, "history_conflict");
    let r = request(addr, "DELETE", &tx_path(fifo_txs[2]), None).await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    assert_eq!(live.realized(fifo, "SIM:AAA"), Some(0));
    request(addr, "DELETE", &tx_path(fifo_txs[2]), None)
        .await
        .assert_error(404, "unknown_transaction");
    request(
        addr,
        "DELETE",
        &format!("/v1/portfolios/{fifo}/transactions/x"),
        None,
    )
    .await
    .assert_error(404, "unknown_transaction");
    assert_eq!(
        service.transactions(LOCAL_PRINCIPAL, fifo).unwrap().len(),
        2
    );

    // Deleting a portfolio.
    let r = request(addr, "DELETE", &format!("/v1/portfolios/{fifo}"), None).await;
    assert_eq!(r.status, 204);
    assert_eq!(*live.removed.lock().unwrap(), vec![fifo]);
    get(addr, &format!("/v1/portfolios/{fifo}"))
        .await
        .assert_error(404, "unknown_portfolio");
    get(addr, &format!("/v1/portfolios/{fifo}/transactions"))
        .await
        .assert_error(404, "unknown_portfolio");
    assert_eq!(
        get(addr, "/v1/portfolios").await.json()["portfolios"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let (service, live) = service(dir.path());
    let (addr, _server) = serve(router(service.clone())).await;
    let (id, _) = known_history(addr, "fifo").await;
    let txs = format!("/v1/portfolios/{id}/transactions");
    let updates_before = live.updates.lock().unwrap().len();

    let cases: &[(&str, &str, &str, u16, &str)] = &[
        // Selling more than is held (5 left).
        (
            "POST",
            &txs,
            r#"{"type":"sell","instrument":"SIM:AAA","quantity":"5.000000001","price":1,"ts":1714600000000000000}"#,
            422,
            "insufficient_quantity",
        ),
        // Selling before anything was bought (back-dated).
        (
            "POST",
            &txs,
            r#"{"type":"sell","instrument":"SIM:AAA","quantity":1,"price":1,"ts":1}"#,
            422,
            "insufficient_quantity",
        ),
        (
            "POST",
            &txs,
            r#"{"type":"buy","instrument":"SIM:AAA","quantity":"-1","price":1,"ts":1}"#,
            400,
            "bad_quantity",
        ),
        (
            "POST",
            &txs,
            r#"{"type":"buy","instrument":"SIM:AAA","quantity":-1,"price":1,"ts":1}"#,
            400,
            "bad_quantity",
        ),
        (
            "POST",
            &txs,
            r#"{"type":"buy","instrument":"SIM:AAA","quantity":"ten","price":1,"ts":1}"#,
            400,
            "bad_quantity",
        ),
        (
            "POST",
            &txs,
            r#"{"type":"buy","instrument":"SIM:AAA","quantity":[1],"price":1,"ts":1}"#,
            400,
            "bad_quantity",
        ),
        (
            "POST",
            &txs,
            r#"{"type":"buy","instrument":"NOPE:ZZZ","quantity":1,"price":1,"ts":1}"#,
            400,
            "unknown_instrument",
        ),
        (
            "POST",
            &txs,
            r#"{"type":"buy","instrument":"SIM:AAA","price":1,"ts":1}"#,
            400,
            "missing_field",
        ),
        (
            "POST",
            &txs,
            r#"{"type":"buy","instrument":"SIM:AAA","quantity":1,"ts":1}"#,
            400,
            "missing_field",
        ),
        (
            "POST",
            &txs,
            r#"{"type":"buy","instrument":"SIM:AAA","quantity":1,"price":1,"ts":1"#,
            400,
            "bad_json",
        ),
        ("POST", &txs, "not json", 400, "bad_json"),
        (
            "POST",
            &txs,
            r#"{"type":"swap","quantity":1,"ts":1}"#,
            400,
            "bad_type",
        ),
        (
            "POST",
            &txs,
            r#"{"type":"deposit","quantity":1,"ts":"soon"}"#,
            400,
            "bad_time",
        ),
        (
            "POST",
            &txs,
            r#"{"type":"deposit","quantity":1,"ts":1,"note":"x"}"#,
            400,
            "unknown_field",
        ),
        (
            "POST",
            "/v1/portfolios/999999/transactions",
            r#"{"type":"deposit","quantity":1,"ts":1}"#,
            404,
            "unknown_portfolio",
        ),
        (
            "POST",
            "/v1/portfolios/abc/transactions",
            r#"{"type":"deposit","quantity":1,"ts":1}"#,
            404,
            "unknown_portfolio",
        ),
        ("GET", "/v1/portfolios/999999", "", 404, "unknown_portfolio"),
        (
            "GET",
            "/v1/portfolios/999999/valuation",
            "",
            404,
            "unknown_portfolio",
        ),
        (
            "DELETE",
            "/v1/portfolios/999999",
            "",
            404,
            "unknown_portfolio",
        ),
        (
            "PATCH",
            "/v1/portfolios/999999",
            r#"{"name":"x"}"#,
            404,
            "unknown_portfolio",
        ),
        (
            "POST",
            "/v1/portfolios",
            r#"{"name":"x","cost_basis":"lifo"}"#,
            400,
            "bad_cost_basis",
        ),
        (
            "POST",
            "/v1/portfolios",
            r#"{"cost_basis":"fifo"}"#,
            400,
            "missing_field",
        ),
        (
            "POST",
            "/v1/portfolios",
            r#"{"name":"x","base_currency":"dollars"}"#,
            400,
            "bad_currency",
        ),
        (
            "POST",
            "/v1/portfolios",
            r#"{"name":"x","allow_short":"no"}"#,
            400,
            "bad_field",
        ),
        ("POST", "/v1/portfolios", "[]", 400, "bad_json"),
        (
            "PATCH",
            &format!("/v1/portfolios/{id}"),
            r#"{"name":""}"#,
            400,
            "bad_name",
        ),
        (
            "PATCH",
            &format!("/v1/portfolios/{id}"),
            r#"{"cost_basis":"average"}"#,
            400,
            "unknown_field",
        ),
    ];
    for &(method, path, body, status, code) in cases {
        let r = request(addr, method, path, Some(body.as_bytes())).await;
        assert_eq!(r.status, status, "{method} {path} {body}: {}", r.body);
        r.assert_error(status, code);
    }
    // A missing field is named.
    let r = post(
        addr,
        &txs,
        r#"{"type":"buy","instrument":"SIM:AAA","price":1,"ts":1}"#,
    )
    .await;
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("quantity")
    );

    // An oversized body.
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
    post(addr, "/v1/portfolios", &big)
        .await
        .assert_error(413, "payload_too_large");

    // Nothing was recorded and the live side was told nothing.
    assert_eq!(service.transactions(LOCAL_PRINCIPAL, id).unwrap().len(), 3);
    assert_eq!(service.list(LOCAL_PRINCIPAL).unwrap().len(), 1);
    assert_eq!(live.updates.lock().unwrap().len(), updates_before);

    // An instrument only in history counts as known; short selling when the portfolio allows it.
    let r = post(
        addr,
        &txs,
        r#"{"type":"buy","instrument":"OLD:X","quantity":1,"price":1,"ts":1}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let short = post(addr, "/v1/portfolios", r#"{"name":"s","allow_short":true}"#).await;
    let short_id = short.json()["id"].as_u64().unwrap();
    let r = post(
        addr,
        &format!("/v1/portfolios/{short_id}/transactions"),
        r#"{"type":"sell","instrument":"SIM:BBB","quantity":3,"price":"2.5","ts":5}"#,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let held = service.ledger(LOCAL_PRINCIPAL, short_id).unwrap();
    assert_eq!(
        held.holding("SIM:BBB").unwrap().quantity,
        "-3".parse().unwrap()
    );
}

#[tokio::test]
async fn everything_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (fifo, average, listed, fifo_txs) = {
        let (service, _live) = service(dir.path());
        let (addr, server) = serve(router(service.clone())).await;
        let (fifo, _) = known_history(addr, "fifo").await;
        let (average, _) = known_history(addr, "average").await;
        let deposit = post(
            addr,
            &format!("/v1/portfolios/{fifo}/transactions"),
            r#"{"type":"deposit","quantity":"1000.5","currency":"EUR","ts":"2024-01-01T00:00:00Z"}"#,
        )
        .await;
        assert_eq!(deposit.status, 201);
        let listed = get(addr, "/v1/portfolios").await.body;
        let fifo_txs = get(addr, &format!("/v1/portfolios/{fifo}/transactions"))
            .await
            .body;
        server.abort();
        let _ = server.await;
        (fifo, average, listed, fifo_txs)
    };
    // Everything from the service above is dropped; open again from the file.
    let (service, live) = service(dir.path());
    // The live side got every portfolio's replayed ledger at open.
    let mut updated = live.updates.lock().unwrap().clone();
    updated.sort_unstable();
    assert_eq!(updated, vec![fifo, average]);
    assert_eq!(live.realized(fifo, "SIM:AAA"), Some(whole(250)));
    assert_eq!(live.realized(average, "SIM:AAA"), Some(whole(225)));
    let (addr, _server) = serve(router(service.clone())).await;
    assert_eq!(get(addr, "/v1/portfolios").await.body, listed);
    assert_eq!(
        get(addr, &format!("/v1/portfolios/{fifo}/transactions"))
            .await
            .body,
        fifo_txs
    );
    // The EUR deposit (back-dated, first in time order) is in the ledger.
    let ledger = service.ledger(LOCAL_PRINCIPAL, fifo).unwrap();
    assert_eq!(ledger.cash()["EUR"], whole(1000) + whole(1) / 2);
    // And new ids do not collide with old ones.
    let r = post(
        addr,
        &format!("/v1/portfolios/{average}/transactions"),
        r#"{"type":"buy","instrument":"SIM:AAA","quantity":1,"price":1,"ts":1714600000000000000}"#,
    )
    .await;
    assert_eq!(r.status, 201);
    let all_ids: Vec<u64> = [fifo, average]
        .iter()
        .flat_map(|&p| service.transactions(LOCAL_PRINCIPAL, p).unwrap())
        .map(|t| t.id)
        .collect();
    let mut unique = all_ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), all_ids.len());
}

#[tokio::test]
async fn another_principals_portfolios_are_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let (service, _live) = service(dir.path());
    let (addr, _server) = serve(router(service.clone())).await;
    let (id, txs) = known_history(addr, "fifo").await;

    // Through the service.
    let other = "mallory";
    assert!(service.list(other).unwrap().is_empty());
    assert_eq!(
        service.get(other, id).unwrap_err().code(),
        "unknown_portfolio"
    );
    assert_eq!(
        service.transactions(other, id).unwrap_err().code(),
        "unknown_portfolio"
    );
    assert_eq!(
        service.ledger(other, id).unwrap_err().code(),
        "unknown_portfolio"
    );
    assert_eq!(
        service.valuation(other, id).unwrap_err().code(),
        "unknown_portfolio"
    );
    assert_eq!(
        service
            .delete_transaction(other, id, txs[2])
            .unwrap_err()
            .code(),
        "unknown_portfolio"
    );
    assert_eq!(
        service.delete(other, id).unwrap_err().code(),
        "unknown_portfolio"
    );

    // Through HTTP, with the principal set the way an auth layer will set it.
    let as_other = router(service.clone()).layer(Extension(engine::access::Identity {
        principal: other.into(),
        role: engine::access::Role::Trader,
        key_id: None,
    }));
    let (other_addr, _other_server) = serve(as_other).await;
    let listed = get(other_addr, "/v1/portfolios").await;
    assert_eq!(listed.json()["portfolios"].as_array().unwrap().len(), 0);
    for (method, path, body) in [
        ("GET", format!("/v1/portfolios/{id}"), ""),
        ("GET", format!("/v1/portfolios/{id}/transactions"), ""),
        ("GET", format!("/v1/portfolios/{id}/valuation"), ""),
        (
            "PATCH",
            format!("/v1/portfolios/{id}"),
            r#"{"name":"mine"}"#,
        ),
        ("DELETE", format!("/v1/portfolios/{id}"), ""),
        (
            "POST",
            format!("/v1/portfolios/{id}/transactions"),
            r#"{"type":"deposit","quantity":1,"ts":1}"#,
        ),
        (
            "DELETE",
            format!("/v1/portfolios/{id}/transactions/{}", txs[2]),
            "",
        ),
    ] {
        request(other_addr, method, &path, Some(body.as_bytes()))
            .await
            .assert_error(404, "unknown_portfolio");
    }
    // The owner still sees it whole.
    let mine = get(addr, &format!("/v1/portfolios/{id}")).await;
    assert_eq!(mine.json()["name"], "fifo book");
    assert_eq!(service.transactions(LOCAL_PRINCIPAL, id).unwrap().len(), 3);
}
