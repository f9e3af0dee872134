//! Access control through the real binary: keys made with `nexamd keys`, the engine started
//! with `--auth`, real HTTP and WebSocket clients.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::ws::Client;
use support::{binary, http_request, run_ok};

const WITHIN: Duration = Duration::from_secs(10);

/// `nexamd keys create`: the key is the last word of the output.
fn create_key(dir: &Path, principal: &str, role: &str) -> String {
    let output = run_ok(
        binary()
            .current_dir(dir)
            .args(["keys", "create", "--principal", principal, "--role", role])
            .args(["--data-dir", "data"]),
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout.split_whitespace().last().unwrap().to_owned()
}

fn call(addr: SocketAddr, method: &str, path: &str, key: Option<&str>, body: &str) -> (u16, Value) {
    let bearer = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = bearer
        .as_deref()
        .map(|b| ("Authorization", b))
        .into_iter()
        .collect();
    let (status, _, body) = http_request(addr, method, path, &headers, body);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn start(dir: &Path, extra_config: &str) -> support::Engine {
    let config = format!(
        "[feeds.synthetic]\nrate = 2000\ninstruments = 5\n[storage]\nenabled = false\n{extra_config}"
    );
    std::fs::write(dir.join("nexamd.toml"), config).unwrap();
    support::start(
        dir,
        &["--config", "nexamd.toml", "--data-dir", "data", "--auth"],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_roles_and_portfolio_isolation() {
    let dir = tempfile::tempdir().unwrap();
    let viewer = create_key(dir.path(), "vera", "viewer");
    let alice = create_key(dir.path(), "alice", "trader");
    let bob = create_key(dir.path(), "bob", "trader");
    let admin = create_key(dir.path(), "root", "admin");
    let engine = start(dir.path(), "");
    let addr = engine.addr;

    // Open routes, and 401 without a key or with a wrong one.
    assert_eq!(call(addr, "GET", "/health", None, "").0, 200);
    assert_eq!(call(addr, "GET", "/ready", None, "").0 / 100, 2);
    let (status, body) = call(addr, "GET", "/v1/instruments", None, "");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("missing_key"))
    );
    let wrong = format!("{}0", &viewer[..viewer.len() - 1]);
    let wrong = if wrong == viewer {
        format!("{}1", &viewer[..viewer.len() - 1])
    } else {
        wrong
    };
    for key in [wrong.as_str(), "nxk_nonsense", "Basic abc"] {
        let (status, body) = call(addr, "GET", "/v1/instruments", Some(key), "");
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("invalid_key")),
            "{key}"
        );
    }

    // A viewer reads market data, and may not touch portfolios or ops.
    assert_eq!(
        call(addr, "GET", "/v1/instruments", Some(&viewer), "").0,
        200
    );
    assert_eq!(
        call(
            addr,
            "GET",
            "/v1/snapshot?instruments=SIM:AAA",
            Some(&viewer),
            ""
        )
        .0,
        200
    );
    let new_portfolio = r#"{"name":"core","base_currency":"USD","cost_basis":"fifo"}"#;
    let (status, body) = call(addr, "POST", "/v1/portfolios", Some(&viewer), new_portfolio);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(
        call(addr, "GET", "/v1/portfolios", Some(&viewer), "").0,
        403
    );
    assert_eq!(call(addr, "GET", "/metrics", Some(&viewer), "").0, 403);

    // Ops routes are the admin's.
    assert_eq!(call(addr, "GET", "/metrics", Some(&alice), "").0, 403);
    assert_eq!(call(addr, "GET", "/v1/feeds", Some(&alice), "").0, 403);
    for path in ["/metrics", "/v1/feeds", "/v1/latency"] {
        assert_eq!(call(addr, "GET", path, Some(&admin), "").0, 200, "{path}");
    }

    // Alice's portfolio does not exist for Bob.
    let (status, created) = call(addr, "POST", "/v1/portfolios", Some(&alice), new_portfolio);
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_u64().unwrap();
    let path = format!("/v1/portfolios/{id}");
    assert_eq!(call(addr, "GET", &path, Some(&alice), "").0, 200);
    assert_eq!(call(addr, "GET", &path, Some(&bob), "").0, 404);
    let deposit = r#"{"type":"deposit","quantity":"1000","ts":"2024-01-02T10:00:00Z"}"#;
    let txs = format!("{path}/transactions");
    assert_eq!(call(addr, "POST", &txs, Some(&bob), deposit).0, 404);
    assert_eq!(call(addr, "POST", &txs, Some(&alice), deposit).0, 201);
    let (_, listed) = call(addr, "GET", "/v1/portfolios", Some(&bob), "");
    assert_eq!(listed["portfolios"], json!([]), "absent from Bob's list");
    let (_, listed) = call(addr, "GET", "/v1/portfolios", Some(&alice), "");
    assert_eq!(listed["portfolios"][0]["id"], id);

    // WebSocket: no key, no connection; a key in the URL; portfolio channels by owner and role.
    assert_eq!(Client::try_connect(addr, "").await.err(), Some(401));
    assert_eq!(
        Client::try_connect(addr, "?token=nxk_bad").await.err(),
        Some(401)
    );
    let channel = format!("portfolio.{id}");
    let mut as_bob = Client::try_connect(addr, &format!("?token={bob}"))
        .await
        .unwrap();
    as_bob
        .send_json(json!({"op":"subscribe","channels":[channel],"req_id":1}))
        .await;
    let answer = as_bob.next_json(WITHIN).await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["code"], "unknown_portfolio", "{answer}");
    let mut as_viewer = Client::try_connect(addr, &format!("?token={viewer}"))
        .await
        .unwrap();
    as_viewer
        .send_json(json!({"op":"subscribe","channels":[channel],"req_id":2}))
        .await;
    let answer = as_viewer.next_json(WITHIN).await;
    assert_eq!(
        (answer["type"].as_str(), answer["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );
    as_viewer
        .send_json(json!({"op":"subscribe","channels":["trades.SIM:AAA"],"req_id":3}))
        .await;
    let answer = as_viewer.next_json(WITHIN).await;
    assert_eq!(answer["type"], "subscribed", "{answer}");
    let mut as_alice = Client::try_connect(addr, &format!("?token={alice}"))
        .await
        .unwrap();
    as_alice
        .send_json(json!({"op":"subscribe","channels":[channel],"req_id":4}))
        .await;
    let answer = as_alice.next_json(WITHIN).await;
    assert_eq!(answer["type"], "subscribed", "{answer}");

    // A revoked key stops working at once.
    let output = binary()
        .current_dir(dir.path())
        .args(["keys", "list", "--data-dir", "data"])
        .output()
        .unwrap();
    let list = String::from_utf8(output.stdout).unwrap();
    assert_eq!(list.lines().count(), 5, "{list}");
    let viewer_id = viewer.split('_').nth(1).unwrap();
    assert!(list.contains(viewer_id) && list.contains("vera"), "{list}");
    run_ok(binary().current_dir(dir.path()).args([
        "keys",
        "revoke",
        viewer_id,
        "--data-dir",
        "data",
    ]));
    assert_eq!(
        call(addr, "GET", "/v1/instruments", Some(&viewer), "").0,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_and_connection_limits_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path(), "vera", "viewer");
    let other = create_key(dir.path(), "walt", "viewer");
    let trader = create_key(dir.path(), "tess", "trader");
    let engine = start(
        dir.path(),
        "[fanout]\nmax_connections_per_key = 2\n[server]\nmax_body_bytes = 200\n",
    );
    let addr = engine.addr;

    // The body limit.
    let name = "x".repeat(300);
    let big = format!(r#"{{"name":"{name}","base_currency":"USD","cost_basis":"fifo"}}"#);
    let (status, body) = call(addr, "POST", "/v1/portfolios", Some(&trader), &big);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    let bearer = format!("Bearer {key}");
    let (_, head, _) = http_request(
        addr,
        "GET",
        "/v1/instruments",
        &[("Authorization", &bearer), ("X-Request-Id", "trace-42")],
        "",
    );
    assert!(head.contains("x-request-id: trace-42"), "{head}");
    // One JSON log line per request, with its id and principal.
    let event = support::wait_until(WITHIN, "the request's log line", || {
        engine
            .log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|event| event["message"] == "request" && event["request_id"] == "trace-42")
    });
    assert_eq!(event["principal"], "vera", "{event}");
    assert_eq!(event["status"], 200, "{event}");
    assert_eq!(event["path"], "/v1/instruments", "{event}");
    let (_, head, _) = http_request(addr, "GET", "/health", &[], "");
    assert!(head.contains("x-request-id: "), "a generated id: {head}");

    let first = Client::try_connect(addr, &format!("?token={key}"))
        .await
        .unwrap();
    let second = Client::try_connect(addr, &format!("?token={key}"))
        .await
        .unwrap();
    assert_eq!(
        Client::try_connect(addr, &format!("?token={key}"))
            .await
            .err(),
        Some(429),
        "a third connection on a key limited to two"
    );
    // Another key is not affected, and a closed connection frees its slot.
    let _other = Client::try_connect(addr, &format!("?token={other}"))
        .await
        .unwrap();
    drop(first);
    support::wait_until(WITHIN, "a freed slot", || {
        let runtime = tokio::runtime::Handle::current();
        let query = format!("?token={key}");
        std::thread::scope(|s| {
            s.spawn(|| runtime.block_on(Client::try_connect(addr, &query)).ok())
                .join()
                .unwrap()
        })
    });
    drop(second);
}

#[test]
fn a_public_address_needs_auth() {
    let dir = tempfile::tempdir().unwrap();
    let output = binary()
        .current_dir(dir.path())
        .args(["--listen", "0.0.0.0:0", "--data-dir", "data"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("auth"), "{stderr}");

    // --insecure starts anyway, loudly.
    let mut child = binary()
        .current_dir(dir.path())
        .args(["--listen", "0.0.0.0:0", "--data-dir", "data", "--insecure"])
        .args(["--log-format", "json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut warned = false;
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("no listening line");
        warned |= line.contains("INSECURE") || line.contains("WARNING: --insecure");
        if line.contains("\"listening\"") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned, "a loud warning before serving");
}
