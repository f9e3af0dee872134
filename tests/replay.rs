//! `nexamd replay` on the sample captures, run as the real binary.
//!
//! With `--emit ndjson`, every trade and best bid/offer in each capture must come out exactly
//! as read independently from the raw message here (serde_json::Value, the test's own decimal
//! and RFC 3339 readers): price, size, aggressor side, id, `ts_event`, and `ts_recv` equal to
//! the recorded time. Without `--emit`, the capture drives the whole engine.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::{binary, run_ok, units, wait_until};

const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/samples/captures");

/// One normalized tick as the test expects it: decimals as 1e-9 units.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    Trade {
        instrument: String,
        ts_event: i64,
        ts_recv: i64,
        price: i128,
        size: i128,
        side: String,
        id: u64,
    },
    Quote {
        instrument: String,
        ts_event: i64,
        ts_recv: i64,
        bid: i128,
        bid_size: i128,
        ask: i128,
        ask_size: i128,
    },
}

/// The received messages of a cryptofeed capture with their receive times in ns.
fn received(file: &str) -> Vec<(i64, Value)> {
    let text = std::fs::read_to_string(Path::new(CAPTURES).join(file)).unwrap();
    text.lines()
        .skip(1)
        .filter(|line| !line.is_empty() && !line.starts_with("wss://"))
        .map(|line| {
            let (ts, message) = line.split_once(": ").unwrap();
            (
                units(ts) as i64,
                serde_json::from_str(message).expect(message),
            )
        })
        .collect()
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
}

/// Days since 1970-01-01 of a civil date (the test's own, after H. Hinnant's algorithm).
fn days(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2021-04-17T16:43:37.089723Z` in ns.
fn rfc3339_ns(text: &str) -> i64 {
    let n = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    assert!(text.ends_with('Z'), "{text}");
    let seconds = days(n(0..4), n(5..7), n(8..10)) * 86_400 + n(11..13) * 3600 + n(14..16) * 60;
    let rest = &text[17..text.len() - 1];
    seconds * 1_000_000_000 + units(rest) as i64
}

fn binance_expected() -> Vec<Expected> {
    let mut out = Vec::new();
    for (ts_recv, message) in received("BINANCE.ws.1.0") {
        let stream = message["stream"].as_str().unwrap_or_default();
        let data = &message["data"];
        let instrument = format!("BINANCE:{}", text(&data["s"]));
        if stream.ends_with("@aggTrade") || stream.ends_with("@trade") {
            let id = if stream.ends_with("@aggTrade") {
                &data["a"]
            } else {
                &data["t"]
            };
            out.push(Expected::Trade {
                instrument,
                ts_event: data["T"].as_i64().unwrap() * 1_000_000,
                ts_recv,
                price: units(text(&data["p"])),
                size: units(text(&data["q"])),
                // m: the buyer was the maker, so the seller was the aggressor.
                side: if data["m"].as_bool().unwrap() {
                    "sell"
                } else {
                    "buy"
                }
                .into(),
                id: id.as_u64().unwrap(),
            });
        } else if stream.ends_with("@bookTicker") {
            out.push(Expected::Quote {
                instrument,
                // Spot bookTicker carries no time of its own.
                ts_event: ts_recv,
                ts_recv,
                bid: units(text(&data["b"])),
                bid_size: units(text(&data["B"])),
                ask: units(text(&data["a"])),
                ask_size: units(text(&data["A"])),
            });
        }
    }
    out
}

fn coinbase_expected() -> Vec<Expected> {
    let mut out = Vec::new();
    for (ts_recv, message) in received("COINBASE.ws.28.0") {
        let instrument = || format!("COINBASE:{}", text(&message["product_id"]));
        match message["type"].as_str().unwrap() {
            "match" | "last_match" => out.push(Expected::Trade {
                instrument: instrument(),
                ts_event: rfc3339_ns(text(&message["time"])),
                ts_recv,
                price: units(text(&message["price"])),
                size: units(text(&message["size"])),
                // Coinbase names the maker's side; the aggressor took the other.
                side: match text(&message["side"]) {
                    "sell" => "buy",
                    "buy" => "sell",
                    other => panic!("side {other}"),
                }
                .into(),
                id: message["trade_id"].as_u64().unwrap(),
            }),
            "ticker" => out.push(Expected::Quote {
                instrument: instrument(),
                ts_event: message["time"].as_str().map_or(ts_recv, rfc3339_ns),
                ts_recv,
                bid: units(text(&message["best_bid"])),
                bid_size: message["best_bid_size"].as_str().map_or(0, units),
                ask: units(text(&message["best_ask"])),
                ask_size: message["best_ask_size"].as_str().map_or(0, units),
            }),
            _ => {}
        }
    }
    out
}

fn bitstamp_expected() -> Vec<Expected> {
    let mut out = Vec::new();
    for (ts_recv, message) in received("BITSTAMP.ws.1.0") {
        if message["event"] != "trade" {
            continue;
        }
        let channel = text(&message["channel"]);
        let pair = channel.strip_prefix("live_trades_").unwrap();
        let data = &message["data"];
        out.push(Expected::Trade {
            instrument: format!("BITSTAMP:{}", pair.to_uppercase()),
            ts_event: text(&data["microtimestamp"]).parse::<i64>().unwrap() * 1000,
            ts_recv,
            price: units(text(&data["price_str"])),
            size: units(text(&data["amount_str"])),
            side: match data["type"].as_u64().unwrap() {
                0 => "buy",
                1 => "sell",
                other => panic!("type {other}"),
            }
            .into(),
            id: data["id"].as_u64().unwrap(),
        });
    }
    out
}

/// What `nexamd replay --emit ndjson` printed, read back into [`Expected`].
fn emitted(venue: &str, file: &Path) -> Vec<Expected> {
    let output = run_ok(
        binary()
            .args(["replay", "--venue", venue])
            .arg(file)
            .args(["--emit", "ndjson"])
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped()),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("0 unparsable messages"), "{stderr}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let tick: Value = serde_json::from_str(line).expect(line);
            let instrument = text(&tick["instrument"]).to_owned();
            let ts_event = tick["ts_event"].as_i64().unwrap();
            let ts_recv = tick["ts_recv"].as_i64().unwrap();
            match text(&tick["kind"]) {
                "trade" => Expected::Trade {
                    instrument,
                    ts_event,
                    ts_recv,
                    price: units(text(&tick["price"])),
                    size: units(text(&tick["size"])),
                    side: text(&tick["side"]).to_owned(),
                    id: tick["id"].as_u64().unwrap(),
                },
                "quote" => Expected::Quote {
                    instrument,
                    ts_event,
                    ts_recv,
                    bid: units(text(&tick["bid"])),
                    bid_size: units(text(&tick["bid_size"])),
                    ask: units(text(&tick["ask"])),
                    ask_size: units(text(&tick["ask_size"])),
                },
                other => panic!("kind {other}"),
            }
        })
        .collect()
}

fn count(ticks: &[Expected]) -> (usize, usize) {
    let trades = ticks
        .iter()
        .filter(|t| matches!(t, Expected::Trade { .. }))
        .count();
    (trades, ticks.len() - trades)
}

#[test]
fn binance_capture_replays_exactly() {
    let expected = binance_expected();
    assert_eq!(count(&expected), (2, 84), "the capture's trades and quotes");
    let got = emitted("binance", &Path::new(CAPTURES).join("BINANCE.ws.1.0"));
    assert_eq!(got, expected);
}

#[test]
fn coinbase_capture_replays_exactly() {
    let expected = coinbase_expected();
    assert_eq!(count(&expected), (41, 41), "match + last_match, and ticker");
    let got = emitted("coinbase", &Path::new(CAPTURES).join("COINBASE.ws.28.0"));
    assert_eq!(got, expected);
}

#[test]
fn bitstamp_capture_replays_exactly() {
    let expected = bitstamp_expected();
    assert!(count(&expected).0 > 0);
    let got = emitted("bitstamp", &Path::new(CAPTURES).join("BITSTAMP.ws.1.0"));
    assert_eq!(got, expected);
}

#[test]
fn ndjson_captures_keep_their_recorded_times() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("capture.ndjson");
    let trade = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000123,"s":"BTCUSDT","t":7,"p":"37000.10000000","q":"0.01200000","b":88,"a":50,"T":1700000000120,"m":true,"M":true}}"#;
    let lines = [
        format!(r#"{{"ts_recv":1700000000150000001,"msg":{trade}}}"#),
        format!(
            r#"{{"recv_ts":1700000000.25,"raw":{}}}"#,
            serde_json::to_string(&trade.replace("\"t\":7", "\"t\":8")).unwrap()
        ),
        String::new(),
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let got = emitted("binance", &file);
    let trade = |id, ts_recv| Expected::Trade {
        instrument: "BINANCE:BTCUSDT".into(),
        ts_event: 1_700_000_000_120_000_000,
        ts_recv,
        price: units("37000.1"),
        size: units("0.012"),
        side: "sell".into(),
        id,
    };
    assert_eq!(
        got,
        [
            trade(7, 1_700_000_000_150_000_001),
            trade(8, 1_700_000_000_250_000_000)
        ]
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let output = binary()
        .args(["replay", "--venue", "nasdaq", "x", "--emit", "ndjson"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nasdaq") && stderr.contains("binance"),
        "{stderr}"
    );
    let output = binary()
        .args(["replay", "--venue", "binance", "/nonexistent/capture"])
        .args(["--emit", "ndjson"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/capture"));
}

#[test]
fn a_replay_drives_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let capture = Path::new(CAPTURES).join("COINBASE.ws.28.0");
    let engine = support::start(
        dir.path(),
        &[
            "replay",
            "--venue",
            "coinbase",
            capture.to_str().unwrap(),
            "--max",
            "--data-dir",
            "data",
        ],
    );
    let expected = coinbase_expected();
    let feeds: Value = wait_until(Duration::from_secs(20), "the replay to finish", || {
        let (_, body) = engine.get("/v1/feeds");
        let feeds: Value = serde_json::from_str(&body).unwrap();
        (feeds["feeds"][0]["state"] == "stopped").then_some(feeds)
    });
    let replay = &feeds["feeds"][0];
    assert_eq!(replay["name"], "replay");
    assert_eq!(replay["ticks"].as_u64().unwrap(), expected.len() as u64);
    assert_eq!(replay["parse_errors"], 0);

    // The last trade of a product is its snapshot's trade.
    let last = expected
        .iter()
        .rev()
        .find_map(|t| match t {
            Expected::Trade {
                instrument, price, ..
            } if instrument == "COINBASE:BAND-GBP" => Some(*price),
            _ => None,
        })
        .unwrap();
    let (status, body) = engine.get("/v1/snapshot?instruments=COINBASE:BAND-GBP");
    assert_eq!(status, 200, "{body}");
    let snapshot: Value = serde_json::from_str(&body).unwrap();
    let trade = &snapshot["COINBASE:BAND-GBP"]["trade"];
    assert_eq!(units(text(&trade["price"])), last, "{body}");
    let (status, _) = engine.get("/ready");
    assert_eq!(status, 200, "a finished replay leaves the engine ready");
}
