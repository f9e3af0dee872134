//! The WebSocket hub on the real binary, with a real client (tokio-tungstenite): protocol v1
//! operations, snapshots, live data, bad input, slow and silent clients, gaps and shutdown.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::ws::{Client, Ended, kind};
use support::{Engine, start_with_config, wait_until};

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// The default market, at a rate that gives every channel a few messages a second.
const MARKET: &str = "[feeds.synthetic]\ninstruments = 20\nrate = 4000\n";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn counter(engine: &Engine, name: &str) -> f64 {
    engine
        .metric(name)
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

fn assert_trade_fields(message: &Value, channel: &str) {
    assert_eq!(message["channel"], channel, "{message}");
    for field in ["seq", "ts_event", "ts_recv", "id"] {
        assert!(message[field].is_u64(), "{field} in {message}");
    }
    for field in ["price", "size"] {
        let text = message[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {message}"));
        assert!(
            text.parse::<engine::Price>().is_ok(),
            "{field} {text:?} is not an exact decimal"
        );
    }
    assert!(
        ["buy", "sell", "unknown"].contains(&message["side"].as_str().unwrap()),
        "{message}"
    );
}

#[test]
fn subscribe_snapshot_live_trades_list_ping_unsubscribe() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with_config(dir.path(), MARKET);
    let (_, body) = engine.get("/v1/instruments");
    let instruments: Value = serde_json::from_str(&body).unwrap();
    let first = instruments[0]["id"].as_str().unwrap().to_owned();
    let trades = format!("trades.{first}");
    let quotes = "quotes.SIM:AAB";
    runtime().block_on(async {
        let mut client = Client::connect(engine.addr).await;
        client
            .send_json(json!({"op":"subscribe","channels":[trades, quotes],"req_id":1}))
            .await;
        let subscribed = client.next_json(SECS(5)).await;
        assert_eq!(
            subscribed,
            json!({"type":"subscribed","channels":[trades, quotes],"req_id":1})
        );
        for channel in [trades.as_str(), quotes] {
            let snapshot = client.next_json(SECS(5)).await;
            assert_eq!(kind(&snapshot), "snapshot", "{snapshot}");
            assert_eq!(snapshot["snapshot"], true);
            assert_eq!(snapshot["channel"], channel);
        }

        // At least 20 live trades, every field present, seq strictly increasing per channel.
        let mut last_seq: HashMap<String, u64> = HashMap::new();
        let mut trade_count = 0;
        while trade_count < 20 {
            let message = client.next_json(SECS(5)).await;
            let channel = message["channel"].as_str().unwrap().to_owned();
            let seq = message["seq"].as_u64().unwrap();
            if let Some(previous) = last_seq.insert(channel.clone(), seq) {
                assert!(
                    seq > previous,
                    "seq went from {previous} to {seq} on {channel}"
                );
            }
            match kind(&message) {
                "trade" => {
                    assert_trade_fields(&message, &trades);
                    trade_count += 1;
                }
                "quote" => {
                    for field in ["bid", "bid_size", "ask", "ask_size"] {
                        assert!(message[field].is_string(), "{field} in {message}");
                    }
                }
                other => panic!("unexpected {other}: {message}"),
            }
        }

        client.send(r#"{"op":"list","req_id":"l"}"#).await;
        let (list, _) = client.until(SECS(5), |m| kind(m) == "list").await;
        assert_eq!(
            list,
            json!({"type":"list","channels":[quotes, trades],"req_id":"l"})
        );
        client.send(r#"{"op":"ping","req_id":2}"#).await;
        let (pong, _) = client.until(SECS(5), |m| kind(m) == "pong").await;
        assert_eq!(pong["req_id"], 2);
        assert!(pong["ts"].as_i64().unwrap() > 0);

        // After `unsubscribed`, nothing more arrives on the channel while quotes go on.
        client
            .send_json(json!({"op":"unsubscribe","channels":[trades, "trades.SIM:ZZZ"],"req_id":3}))
            .await;
        let (unsubscribed, _) = client.until(SECS(5), |m| kind(m) == "unsubscribed").await;
        assert_eq!(
            unsubscribed,
            json!({"type":"unsubscribed","channels":[trades],"req_id":3})
        );
        let mut quotes_after = 0;
        while quotes_after < 30 {
            let message = client.next_json(SECS(5)).await;
            assert_ne!(
                message["channel"],
                trades.as_str(),
                "message after unsubscribed: {message}"
            );
            quotes_after += usize::from(kind(&message) == "quote");
        }
    });
    // Sessions add their figures to the hub's in batches, at the latest when they end.
    wait_until(SECS(10), "messages counted in /metrics", || {
        (counter(&engine, "nexamd_ws_messages_sent_total") >= 50.0).then_some(())
    });
    let latency = wait_until(SECS(10), "fanout latency samples", || {
        let latency: Value = serde_json::from_str(&engine.get("/v1/latency").1).unwrap();
        (latency["stages"]["fanout"]["count"].as_u64().unwrap() >= 50).then_some(latency)
    });
    assert!(
        latency["stages"]["fanout"]["p99"].as_u64().unwrap() > 0,
        "{latency}"
    );
}

#[test]
fn bad_input_gets_an_error_and_the_connection_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with_config(
        dir.path(),
        &format!("{MARKET}[fanout]\nmax_channels = 3\nops_per_second = 1\nops_burst = 10\n"),
    );
    runtime().block_on(async {
        let mut client = Client::connect(engine.addr).await;
        let cases: [(&str, &str, Option<&str>); 7] = [
            ("{not json", "bad_json", None),
            (r#"{"op":"dance","req_id":1}"#, "unknown_op", None),
            (r#"{"op":"subscribe","channels":["trades.SIM:NOPE"],"req_id":2}"#, "unknown_instrument", Some("trades.SIM:NOPE")),
            (r#"{"op":"subscribe","channels":["candles.SIM:AAA"]}"#, "bad_channel", Some("candles.SIM:AAA")),
            (r#"{"op":"subscribe","channels":["portfolio.7"]}"#, "unknown_portfolio", Some("portfolio.7")),
            (r#"{"op":"subscribe"}"#, "bad_request", None),
            (r#"{"op":"subscribe","channels":["trades.SIM:AAA","trades.SIM:AAB","trades.SIM:AAC","trades.SIM:AAD"]}"#, "too_many_channels", None),
        ];
        for (frame, code, channel) in cases {
            client.send(frame).await;
            let error = client.next_json(SECS(5)).await;
            assert_eq!(kind(&error), "error", "{frame} -> {error}");
            assert_eq!(error["code"], code, "{frame} -> {error}");
            assert!(error["message"].is_string());
            if let Some(channel) = channel {
                assert_eq!(error["channel"], channel);
            }
        }
        // Past the operation budget (burst 10, 1/s), subscribes are refused.
        for _ in 0..12 {
            client.send(r#"{"op":"subscribe","channels":["trades.SIM:AAA"]}"#).await;
        }
        let mut refused = 0;
        for _ in 0..12 {
            // Snapshots and live trades of the subscribed channel may come in between.
            let (answer, _) = client
                .until(SECS(5), |m| matches!(kind(m), "subscribed" | "error"))
                .await;
            match kind(&answer) {
                "subscribed" => {}
                "error" => {
                    assert_eq!(answer["code"], "rate_limited", "{answer}");
                    refused += 1;
                }
                other => panic!("unexpected {other}: {answer}"),
            }
        }
        assert!(refused >= 1, "12 subscribes in a row were all allowed");
        // Still open: a ping is answered.
        client.send(r#"{"op":"ping","req_id":"alive"}"#).await;
        let (pong, _) = client.until(SECS(5), |m| kind(m) == "pong").await;
        assert_eq!(pong["req_id"], "alive");
    });
    assert!(counter(&engine, "nexamd_ws_errors_total") >= 8.0);
}

#[test]
fn binary_and_oversize_frames_close_with_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with_config(
        dir.path(),
        &format!("{MARKET}[fanout]\nmax_frame_bytes = 1024\n"),
    );
    runtime().block_on(async {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        let mut client = Client::connect(engine.addr).await;
        client
            .ws
            .send(Message::binary(vec![1, 2, 3]))
            .await
            .unwrap();
        assert_eq!(client.ended(SECS(5)).await, Ended::Close(1003));

        let mut client = Client::connect(engine.addr).await;
        let big = format!(r#"{{"op":"ping","req_id":"{}"}}"#, "x".repeat(2000));
        client.send(&big).await;
        assert_eq!(client.ended(SECS(5)).await, Ended::Close(1009));
    });
}

#[test]
fn a_stalled_client_is_conflated_then_closed_and_others_keep_receiving() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with_config(
        dir.path(),
        "[feeds.synthetic]\ninstruments = 100\nrate = 50000\n\
         [fanout]\nqueue_soft_bytes = 4096\nqueue_hard_bytes = 1048576\nstall_timeout_ms = 1500\n",
    );
    let every_channel: Vec<String> = (0..100u32)
        .flat_map(|i| {
            let name = format!(
                "SIM:{}{}{}",
                (b'A' + (i / 676 % 26) as u8) as char,
                (b'A' + (i / 26 % 26) as u8) as char,
                (b'A' + (i % 26) as u8) as char
            );
            [format!("trades.{name}"), format!("quotes.{name}")]
        })
        .collect();
    runtime().block_on(async {
        let mut stalled = Client::connect_small_buffer(engine.addr).await;
        stalled
            .send_json(json!({"op":"subscribe","channels":every_channel,"req_id":1}))
            .await;
        let mut healthy = Client::connect(engine.addr).await;
        healthy
            .send_json(json!({"op":"subscribe","channels":["trades.SIM:AAA","quotes.SIM:AAA"]}))
            .await;
        // The stalled client reads nothing from here on. The healthy one keeps reading while
        // the server conflates and then gives up on the stalled one.
        let mut received = 0u64;
        let deadline = std::time::Instant::now() + SECS(60);
        loop {
            let message = healthy.next_json(SECS(5)).await;
            received += 1;
            if received.is_multiple_of(50) {
                let closes = counter(&engine, "nexamd_ws_slow_consumer_closes_total");
                if closes >= 1.0 {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the stalled client was never closed"
                );
            }
            assert_ne!(kind(&message), "error");
        }
        assert!(
            counter(&engine, "nexamd_ws_conflated_total") > 0.0,
            "no conflation before the close"
        );
        // The healthy client is still served.
        for _ in 0..20 {
            let message = healthy.next_json(SECS(5)).await;
            assert!(
                ["trade", "quote", "snapshot", "subscribed"].contains(&kind(&message)),
                "{message}"
            );
        }
        // The stalled client, reading again, finds its connection ended.
        let ended = stalled.ended(SECS(20)).await;
        assert!(
            matches!(ended, Ended::Close(4008) | Ended::Dropped),
            "{ended:?}"
        );
        wait_until(SECS(10), "the stalled connection to be gone", || {
            (counter(&engine, "nexamd_ws_connections") == 1.0).then_some(())
        });
    });
}

#[test]
fn a_queue_past_its_hard_limit_closes_with_4008() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with_config(
        dir.path(),
        "[feeds.synthetic]\ninstruments = 100\nrate = 50000\n\
         [fanout]\nqueue_soft_bytes = 1024\nqueue_hard_bytes = 8192\nstall_timeout_ms = 60000\n",
    );
    // 100 channels of ~180-byte quotes: even conflated to one message each, past 8 KiB.
    let channels: Vec<String> = (0..100u32)
        .map(|i| {
            format!(
                "quotes.SIM:A{}{}",
                (b'A' + (i / 26) as u8) as char,
                (b'A' + (i % 26) as u8) as char
            )
        })
        .collect();
    runtime().block_on(async {
        let mut stalled = Client::connect_small_buffer(engine.addr).await;
        stalled
            .send_json(json!({"op":"subscribe","channels":channels}))
            .await;
        wait_until(SECS(30), "a slow-consumer close", || {
            (counter(&engine, "nexamd_ws_slow_consumer_closes_total") >= 1.0).then_some(())
        });
        let ended = stalled.ended(SECS(20)).await;
        assert!(
            matches!(ended, Ended::Close(4008) | Ended::Dropped),
            "{ended:?}"
        );
    });
}

#[test]
fn a_silent_client_is_closed_after_the_heartbeat_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start_with_config(
        dir.path(),
        &format!("{MARKET}[fanout]\nping_interval_ms = 100\nheartbeat_timeout_ms = 300\n"),
    );
    runtime().block_on(async {
        // Connected but never reading, so never answering pings.
        let mut silent = Client::connect(engine.addr).await;
        wait_until(SECS(10), "a heartbeat close", || {
            (counter(&engine, "nexamd_ws_heartbeat_closes_total") >= 1.0).then_some(())
        });
        assert_eq!(silent.ended(SECS(5)).await, Ended::Close(4009));
    });
}

#[test]
fn a_lapped_dispatcher_sends_gap_messages_and_delivery_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // A tiny ring and a fast feed: the fanout dispatcher is lapped again and again.
    let engine = start_with_config(
        dir.path(),
        "[engine]\nring_capacity = 16\n[feeds.synthetic]\ninstruments = 2\nrate = 2000000\n",
    );
    runtime().block_on(async {
        let mut client = Client::connect(engine.addr).await;
        client
            .send(r#"{"op":"subscribe","channels":["quotes.SIM:AAA"]}"#)
            .await;
        let (gap, _) = client.until(SECS(20), |m| kind(m) == "gap").await;
        let (from, to, missed) = (
            gap["from"].as_u64().unwrap(),
            gap["to"].as_u64().unwrap(),
            gap["missed"].as_u64().unwrap(),
        );
        assert!(from < to && missed > 0 && missed <= to - from, "{gap}");
        assert_eq!(gap["channels"], json!(["quotes.SIM:AAA"]));
        // Delivery goes on after the gap.
        let (quote, _) = client.until(SECS(10), |m| kind(m) == "quote").await;
        assert!(quote["seq"].as_u64().unwrap() >= to, "{quote} after {gap}");
    });
    assert!(counter(&engine, "nexamd_ws_gaps_total") >= 1.0);
}

#[test]
fn shutdown_closes_websockets_with_1001_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = start_with_config(dir.path(), MARKET);
    runtime().block_on(async {
        let mut client = Client::connect(engine.addr).await;
        client
            .send(r#"{"op":"subscribe","channels":["trades.SIM:AAA"]}"#)
            .await;
        client.next_json(SECS(5)).await;
        engine.signal("TERM");
        let ended = client.ended(SECS(10)).await;
        assert_eq!(
            ended,
            Ended::Close(1001),
            "log: {:#?}",
            engine.log.lock().unwrap()
        );
    });
    assert_eq!(engine.wait_exit(SECS(10)).code(), Some(0));
}
