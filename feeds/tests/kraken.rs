//! The Kraken v2 parser against Kraken's documented messages, with expected values written by
//! hand from the documentation; the session (subscriptions, keepalive); trade id gaps and
//! snapshot duplicates; malformed input; `[feeds.kraken]`.
//!
//! Sources of the documented messages:
//! - trade snapshot and subscribe request: <https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/trade>
//! - ticker snapshot: <https://docs.kraken.com/exchange/api-reference/spot-websocket-v2/ticker>
//! - subscribe acknowledgement: <https://docs.kraken.com/api/docs/websocket-v2/book>
//! - heartbeat: <https://docs.kraken.com/api/docs/websocket-v2/heartbeat>
//! - status: <https://docs.kraken.com/api/docs/websocket-v2/status>
//! - ping and pong: <https://docs.kraken.com/api/docs/websocket-v2/ping>

mod common;

use std::time::Duration;

use common::{Harness, TS_RECV, config, mutate};
use engine::{Price, Qty, Quote, Side, Tick, TickKind, Trade};
use feeds::kraken::Kraken;
use feeds::{Event, ParseError, Venue, VenueConfig};
use proptest::prelude::*;
use rstest::rstest;

const TRADE_SNAPSHOT: &str = r#"{
    "channel": "trade",
    "type": "snapshot",
    "data": [
        {
            "symbol": "MATIC/USD",
            "side": "buy",
            "price": 0.5147,
            "qty": 6423.46326,
            "ord_type": "limit",
            "trade_id": 4665846,
            "timestamp": "2023-09-25T07:48:36.925533Z"
        },
        {
            "symbol": "MATIC/USD",
            "side": "buy",
            "price": 0.5147,
            "qty": 1136.19677815,
            "ord_type": "limit",
            "trade_id": 4665847,
            "timestamp": "2023-09-25T07:49:36.925603Z"
        }
    ]
}"#;

const TICKER_SNAPSHOT: &str = r#"{
    "channel": "ticker",
    "type": "snapshot",
    "data": [
        {
            "symbol": "ALGO/USD",
            "bid": 0.10025,
            "bid_qty": 740.0,
            "ask": 0.10036,
            "ask_qty": 1361.44813783,
            "last": 0.10035,
            "volume": 997038.98383185,
            "vwap": 0.10148,
            "low": 0.09979,
            "high": 0.10285,
            "change": -0.00017,
            "change_pct": -0.17,
            "timestamp": "2023-09-25T09:04:31.742648Z"
        }
    ]
}"#;

const SUBSCRIBE_ACK: &str = r#"{
"method": "subscribe",
"result": {
"channel": "book",
"depth": 10,
"snapshot": true,
"symbol": "ALGO/USD"
},
"success": true,
"time_in": "2023-10-06T17:35:55.219022Z",
"time_out": "2023-10-06T17:35:55.219067Z"
}"#;

const HEARTBEAT: &str = r#"{
"channel": "heartbeat"
}"#;

const STATUS: &str = r#"{
"channel": "status",
"data": [
{
"api_version": "v2",
"connection_id": 13834774380200032777,
"system": "online",
"version": "2.0.0"
}
],
"type": "update"
}"#;

const PONG: &str = r#"{
"method": "pong",
"req_id": 101,
"time_in": "2023-09-24T14:10:23.799685Z",
"time_out": "2023-09-24T14:10:23.799703Z"
}"#;

impl Harness<Kraken> {
    fn parser() -> Harness<Kraken> {
        Harness::new(Kraken::parser())
    }
}

fn trade(tick: &Tick) -> Trade {
    tick.as_trade().expect("a trade")
}

fn config_error(config: &VenueConfig) -> (String, String) {
    common::config_error(Kraken::new(config))
}

/// A trade update for MATIC/USD with trade id `id` (the documented record's shape).
fn update(id: u64) -> String {
    format!(
        r#"{{"channel":"trade","type":"update","data":[{{"symbol":"MATIC/USD","side":"sell","price":0.5147,"qty":10,"ord_type":"market","trade_id":{id},"timestamp":"2023-09-25T07:50:00.000001Z"}}]}}"#
    )
}

#[test]
fn documented_trade_snapshot_gives_two_buy_trades() {
    let mut h = Harness::parser();
    let out = h.parse(TRADE_SNAPSHOT);
    out.result.unwrap();
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert_eq!(out.ticks.len(), 2);

    let first = &out.ticks[0];
    assert_eq!(h.name(first.instrument), "KRAKEN:MATIC/USD");
    assert_eq!(first.kind(), TickKind::Trade);
    // 2023-09-25T07:48:36Z is 1695628116 s.
    assert_eq!(first.ts_event, 1_695_628_116_925_533_000);
    assert_eq!(first.ts_recv, TS_RECV);
    assert_eq!(
        trade(first),
        Trade {
            price: Price::from_units(514_700_000),
            size: Qty::from_units(6_423_463_260_000),
            side: Side::Buy,
            id: 4_665_846,
        }
    );

    let second = &out.ticks[1];
    assert_eq!(second.instrument, first.instrument);
    assert_eq!(second.ts_event, 1_695_628_176_925_603_000);
    assert_eq!(
        trade(second),
        Trade {
            price: Price::from_units(514_700_000),
            size: Qty::from_units(1_136_196_778_150),
            side: Side::Buy,
            id: 4_665_847,
        }
    );
}

#[test]
fn documented_ticker_snapshot_gives_the_top_of_book() {
    let mut h = Harness::parser();
    let out = h.parse(TICKER_SNAPSHOT);
    out.result.unwrap();
    assert_eq!(out.ticks.len(), 1);
    let tick = &out.ticks[0];
    assert_eq!(h.name(tick.instrument), "KRAKEN:ALGO/USD");
    assert_eq!(tick.kind(), TickKind::Quote);
    // 2023-09-25T09:04:31Z is 1695632671 s.
    assert_eq!(tick.ts_event, 1_695_632_671_742_648_000);
    assert_eq!(tick.ts_recv, TS_RECV);
    assert_eq!(
        tick.as_quote().unwrap(),
        Quote {
            bid: Price::from_units(100_250_000),
            bid_size: Qty::from_units(740_000_000_000),
            ask: Price::from_units(100_360_000),
            ask_size: Qty::from_units(1_361_448_137_830),
        }
    );
}

#[test]
fn a_ticker_without_timestamp_takes_the_receive_time() {
    // The documented record without its `timestamp` (older versions of the channel).
    let text = TICKER_SNAPSHOT.replace(
        r#""change_pct": -0.17,
            "timestamp": "2023-09-25T09:04:31.742648Z""#,
        r#""change_pct": -0.17"#,
    );
    assert!(!text.contains("timestamp"));
    let mut h = Harness::parser();
    let out = h.parse(&text);
    out.result.unwrap();
    assert_eq!(out.ticks.len(), 1);
    assert_eq!(out.ticks[0].ts_event, TS_RECV);
    assert_eq!(
        out.ticks[0].as_quote().unwrap().bid,
        Price::from_units(100_250_000)
    );
}

#[test]
fn the_taker_side_is_the_aggressor_and_an_unknown_side_is_refused() {
    let mut h = Harness::parser();
    let out = h.parse(&update(7));
    out.result.unwrap();
    assert_eq!(trade(&out.ticks[0]).side, Side::Sell);
    assert_eq!(trade(&out.ticks[0]).size, Qty::from_units(10_000_000_000));
    assert_eq!(out.ticks[0].ts_event, 1_695_628_200_000_001_000);

    let out = h.parse(&update(8).replace("\"sell\"", "\"short\""));
    assert!(matches!(
        out.result,
        Err(ParseError::Invalid { field: "side", .. })
    ));
    assert!(out.ticks.is_empty());
}

#[test]
fn a_subscribe_acknowledgement_is_confirmed() {
    let mut h = Harness::parser();
    let out = h.parse(SUBSCRIBE_ACK);
    out.result.unwrap();
    assert!(out.ticks.is_empty());
    assert_eq!(out.events.len(), 1);
    let Event::Confirmed(text) = &out.events[0] else {
        panic!("{:?}", out.events)
    };
    assert!(text.contains("book") && text.contains("ALGO/USD"), "{text}");
}

#[test]
fn a_refused_subscription_is_a_venue_error_with_its_reason() {
    // The acknowledgement schema with `success` false and `error`: no documented example.
    let text = r#"{"method":"subscribe","error":"Currency pair not supported","success":false,"time_in":"2023-10-06T17:35:55.219022Z","time_out":"2023-10-06T17:35:55.219067Z"}"#;
    let mut h = Harness::parser();
    let out = h.parse(text);
    out.result.unwrap();
    assert_eq!(out.events.len(), 1);
    let Event::VenueError(reason) = &out.events[0] else {
        panic!("{:?}", out.events)
    };
    assert!(reason.contains("Currency pair not supported"), "{reason}");
}

#[rstest]
#[case::heartbeat(HEARTBEAT)]
#[case::status(STATUS)]
#[case::pong(PONG)]
fn heartbeat_status_and_pong_are_nothing(#[case] text: &str) {
    let mut h = Harness::parser();
    let out = h.parse(text);
    out.result.unwrap();
    assert!(out.ticks.is_empty() && out.events.is_empty() && out.replies.is_empty());
}

#[rstest]
#[case::other_channel(r#"{"channel":"book","type":"update","data":[]}"#, "book")]
#[case::other_method(r#"{"method":"add_order","success":true}"#, "add_order")]
#[case::neither(r#"{"result":{}}"#, "(no channel or method)")]
fn an_unknown_message_is_unknown(#[case] text: &str, #[case] kind: &str) {
    let mut h = Harness::parser();
    match h.parse(text).result {
        Err(ParseError::Unknown(k)) => assert_eq!(k, kind),
        other => panic!("{other:?}"),
    }
}

#[test]
fn trade_id_jumps_are_gaps_and_steps_back_are_out_of_order() {
    let mut h = Harness::parser();
    assert!(h.parse(&update(10)).events.is_empty());
    assert!(h.parse(&update(11)).events.is_empty());
    let out = h.parse(&update(14));
    let id = out.ticks[0].instrument;
    assert_eq!(
        out.events,
        [Event::Gap {
            instrument: Some(id),
            stream: "trade id",
            expected: 12,
            received: 14,
        }]
    );
    // A late trade is reported and still published.
    let out = h.parse(&update(13));
    assert_eq!(
        out.events,
        [Event::OutOfOrder {
            instrument: Some(id),
            stream: "trade id",
            last: 14,
            received: 13,
        }]
    );
    assert_eq!(trade(&out.ticks[0]).id, 13);
    assert!(h.parse(&update(15)).events.is_empty());
}

#[test]
fn a_snapshot_after_a_reconnect_skips_the_trades_already_seen() {
    let mut h = Harness::parser();
    let first = h.parse(&update(4_665_846));
    assert_eq!(first.ticks.len(), 1);

    h.venue.reset();
    let out = h.parse(TRADE_SNAPSHOT);
    out.result.unwrap();
    // 4665846 was published before the reconnect; only 4665847 is new.
    assert_eq!(out.ticks.len(), 1);
    assert_eq!(trade(&out.ticks[0]).id, 4_665_847);
    assert!(out.events.is_empty(), "{:?}", out.events);

    // The same snapshot again: nothing new, and no out-of-order noise.
    let out = h.parse(TRADE_SNAPSHOT);
    assert!(out.ticks.is_empty() && out.events.is_empty());

    // A snapshot that starts past the next id still reports the gap.
    let out = h.parse(
        &TRADE_SNAPSHOT
            .replace("4665846", "4665850")
            .replace("4665847", "4665851"),
    );
    assert_eq!(out.ticks.len(), 2);
    assert_eq!(
        out.events,
        [Event::Gap {
            instrument: Some(out.ticks[0].instrument),
            stream: "trade id",
            expected: 4_665_848,
            received: 4_665_850,
        }]
    );
}

#[test]
fn the_session_subscribes_each_channel_and_pings() {
    let mut kraken = Kraken::new(&config(&["BTC/USD", "ETH/USD"])).unwrap();
    assert_eq!(kraken.name(), "kraken");
    assert_eq!(Kraken::NAME, "kraken");
    assert_eq!(kraken.prefix(), "KRAKEN");
    assert_eq!(kraken.url(), "wss://ws.kraken.com/v2");
    let mut out = Vec::new();
    kraken.on_connect(&mut out);
    assert_eq!(
        out,
        [
            r#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD","ETH/USD"],"snapshot":false}}"#,
            r#"{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD","ETH/USD"],"event_trigger":"bbo","snapshot":true}}"#,
        ]
    );
    assert_eq!(
        kraken.channels(),
        [
            ("KRAKEN:BTC/USD".to_string(), TickKind::Trade),
            ("KRAKEN:BTC/USD".to_string(), TickKind::Quote),
            ("KRAKEN:ETH/USD".to_string(), TickKind::Trade),
            ("KRAKEN:ETH/USD".to_string(), TickKind::Quote),
        ]
    );
    let keepalive = kraken.keepalive().unwrap();
    assert_eq!(keepalive.interval, Duration::from_secs(30));
    assert_eq!(keepalive.message, r#"{"method":"ping"}"#);

    // Only the trade channel, on another endpoint.
    let mut only_trades = config(&["BTC/USD"]);
    only_trades.channels = vec!["trade".into()];
    only_trades.url = Some("wss://beta-ws.kraken.com/v2".into());
    let mut kraken = Kraken::new(&only_trades).unwrap();
    let mut out = Vec::new();
    kraken.on_connect(&mut out);
    assert_eq!(
        out,
        [
            r#"{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"],"snapshot":false}}"#
        ]
    );
    assert_eq!(kraken.url(), "wss://beta-ws.kraken.com/v2");
    assert_eq!(
        kraken.channels(),
        [("KRAKEN:BTC/USD".to_string(), TickKind::Trade)]
    );
}

#[test]
fn the_parser_alone_subscribes_to_nothing() {
    let mut kraken = Kraken::parser();
    let mut out = Vec::new();
    kraken.on_connect(&mut out);
    assert!(out.is_empty());
    assert!(kraken.channels().is_empty());
}

#[rstest]
#[case::no_instruments(&[], &[], "feeds.kraken.instruments")]
#[case::not_a_v2_symbol(&["XBTUSD"], &[], "feeds.kraken.instruments")]
#[case::empty_side(&["BTC/"], &[], "feeds.kraken.instruments")]
#[case::twice(&["BTC/USD", "BTC/USD"], &[], "feeds.kraken.instruments")]
#[case::unknown_channel(&["BTC/USD"], &["book"], "feeds.kraken.channels")]
#[case::channel_twice(&["BTC/USD"], &["trade", "trade"], "feeds.kraken.channels")]
fn bad_config_names_its_key(
    #[case] instruments: &[&str],
    #[case] channels: &[&str],
    #[case] key: &str,
) {
    let mut c = config(instruments);
    c.channels = channels.iter().map(|s| s.to_string()).collect();
    assert_eq!(config_error(&c).0, key);
}

#[test]
fn keys_kraken_has_no_use_for_are_refused() {
    let base = config(&["BTC/USD"]);
    for (c, key) in [
        (
            VenueConfig {
                api: Some("advanced".into()),
                ..base.clone()
            },
            "feeds.kraken.api",
        ),
        (
            VenueConfig {
                key_env: Some("KEY".into()),
                ..base.clone()
            },
            "feeds.kraken.key_env",
        ),
        (
            VenueConfig {
                secret_env: Some("SECRET".into()),
                ..base.clone()
            },
            "feeds.kraken.secret_env",
        ),
        (
            VenueConfig {
                url: Some("https://x".into()),
                ..base.clone()
            },
            "feeds.kraken.url",
        ),
    ] {
        assert_eq!(config_error(&c).0, key);
    }
    let (_, reason) = config_error(&VenueConfig {
        channels: vec!["book".into()],
        ..base
    });
    assert!(
        reason.contains("trade") && reason.contains("ticker"),
        "{reason}"
    );
}

#[test]
fn the_example_config_builds_the_feed() {
    let file: toml::Table = toml::from_str(include_str!("../../config/kraken.toml")).unwrap();
    let feeds = file["feeds"].as_table().unwrap();
    assert_eq!(feeds["synthetic"]["enabled"].as_bool(), Some(false));
    let config: VenueConfig = feeds["kraken"].clone().try_into().unwrap();
    assert_eq!(config.instruments, ["BTC/USD", "ETH/USD"]);
    let kraken = Kraken::new(&config).unwrap();
    assert_eq!(kraken.channels().len(), 4);
}

/// Wrong, partial and hostile variants of the documented messages: each is an error or, at
/// most, no tick.
#[rstest]
#[case::empty("")]
#[case::truncated(&TRADE_SNAPSHOT[..TRADE_SNAPSHOT.len() / 2])]
#[case::truncated_at_end(&TRADE_SNAPSHOT[..TRADE_SNAPSHOT.len() - 1])]
#[case::not_an_object("[1,2,3]")]
#[case::a_number("42")]
#[case::null("null")]
#[case::data_missing(r#"{"channel":"trade","type":"update"}"#)]
#[case::data_an_object(r#"{"channel":"trade","type":"update","data":{}}"#)]
#[case::data_null(r#"{"channel":"ticker","data":null}"#)]
#[case::element_not_an_object(r#"{"channel":"trade","data":[1]}"#)]
#[case::element_a_string(r#"{"channel":"ticker","data":["ALGO/USD"]}"#)]
#[case::bad_type(r#"{"channel":"trade","type":"delta","data":[]}"#)]
#[case::channel_a_number(r#"{"channel":5}"#)]
#[case::price_a_bool(&update(1).replace("0.5147", "true"))]
#[case::price_null(&update(1).replace("0.5147", "null"))]
#[case::price_text(&update(1).replace("0.5147", "\"cheap\""))]
#[case::price_an_object(&update(1).replace("0.5147", "{\"v\":1}"))]
#[case::price_negative_exponent_too_far(&update(1).replace("0.5147", "5e-12"))]
#[case::too_many_decimals(&update(1).replace("0.5147", "0.5147000001"))]
#[case::huge_price(&update(1).replace("0.5147", "1e400"))]
#[case::price_past_i64(&update(1).replace("0.5147", "99999999999"))]
#[case::qty_past_i64(&update(1).replace("\"qty\":10", "\"qty\":123456789012345678901234567890"))]
#[case::trade_id_negative(&update(1).replace("\"trade_id\":1", "\"trade_id\":-1"))]
#[case::trade_id_a_float(&update(1).replace("\"trade_id\":1", "\"trade_id\":1.5"))]
#[case::trade_id_past_u64(&update(1).replace("\"trade_id\":1", "\"trade_id\":18446744073709551616"))]
#[case::trade_id_missing(&update(1).replace("\"trade_id\":1,", ""))]
#[case::timestamp_a_number(&update(1).replace("\"2023-09-25T07:50:00.000001Z\"", "1695628200"))]
#[case::timestamp_garbage(&update(1).replace("2023-09-25T07:50:00.000001Z", "yesterday"))]
#[case::timestamp_impossible(&update(1).replace("2023-09-25", "2023-02-30"))]
#[case::timestamp_past_i64(&update(1).replace("2023-09-25", "2300-01-01"))]
#[case::symbol_with_space(&update(1).replace("MATIC/USD", "MATIC USD"))]
#[case::symbol_empty(&update(1).replace("MATIC/USD", ""))]
#[case::symbol_escaped(&update(1).replace("MATIC/USD", "MATIC\\/USD"))]
#[case::bid_missing(&TICKER_SNAPSHOT.replace("\"bid\": 0.10025,", ""))]
#[case::ask_qty_text(&TICKER_SNAPSHOT.replace("1361.44813783", "\"lots\""))]
#[case::ticker_time_garbage(&TICKER_SNAPSHOT.replace("2023-09-25T09:04:31.742648Z", "now"))]
#[case::trailing_garbage(&format!("{HEARTBEAT} x"))]
#[case::deeply_nested(&format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)))]
fn malformed_input_is_an_error(#[case] text: &str) {
    let mut h = Harness::parser();
    let out = h.parse(text);
    assert!(out.result.is_err(), "{text:.200}: {:?}", out.ticks);
    assert!(out.ticks.is_empty(), "{text:.200}");
}

#[rstest]
#[case::empty_trades(r#"{"channel":"trade","type":"update","data":[]}"#)]
#[case::empty_tickers(r#"{"channel":"ticker","type":"snapshot","data":[]}"#)]
#[case::heartbeat_with_extras(r#"{"channel":"heartbeat","data":[1,2]}"#)]
fn empty_data_is_no_tick(#[case] text: &str) {
    let mut h = Harness::parser();
    let out = h.parse(text);
    out.result.unwrap();
    assert!(out.ticks.is_empty() && out.events.is_empty());
}

#[test]
fn one_bad_record_does_not_hide_the_good_ones() {
    let text = r#"{"channel":"trade","type":"update","data":[
        {"symbol":"MATIC/USD","side":"buy","price":0.5147,"qty":1,"ord_type":"limit","trade_id":1,"timestamp":"2023-09-25T07:48:36.925533Z"},
        {"symbol":"MATIC/USD","side":"buy","price":0.51470000001,"qty":1,"ord_type":"limit","trade_id":2,"timestamp":"2023-09-25T07:48:36.925533Z"},
        {"symbol":"MATIC/USD","side":"sell","price":0.5148,"qty":2,"ord_type":"limit","trade_id":3,"timestamp":"2023-09-25T07:48:36.925533Z"}
    ]}"#;
    let mut h = Harness::parser();
    let out = h.parse(text);
    assert!(matches!(
        out.result,
        Err(ParseError::Invalid { field: "price", .. })
    ));
    let ids: Vec<u64> = out.ticks.iter().map(|t| trade(t).id).collect();
    assert_eq!(ids, [1, 3]);
}

const DOCUMENTED: [&str; 6] = [
    TRADE_SNAPSHOT,
    TICKER_SNAPSHOT,
    SUBSCRIBE_ACK,
    HEARTBEAT,
    STATUS,
    PONG,
];

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let mut h = Harness::parser();
        let _ = h.parse(&text);
    }

    #[test]
    fn json_like_text_never_panics(
        parts in prop::collection::vec(
            prop::sample::select(vec![
                "{", "}", "[", "]", ",", ":", "\"channel\"", "\"trade\"", "\"ticker\"",
                "\"data\"", "\"type\"", "\"snapshot\"", "\"price\"", "\"qty\"", "\"symbol\"",
                "\"BTC/USD\"", "\"trade_id\"", "\"timestamp\"", "\"side\"", "\"buy\"", "0.1",
                "-1", "1e400", "18446744073709551616", "null", "true", "\"method\"",
                "\"subscribe\"", "\"success\"", "\"2023-09-25T07:48:36.925533Z\"",
            ]),
            0..60,
        )
    ) {
        let mut h = Harness::parser();
        let _ = h.parse(&parts.concat());
    }

    #[test]
    fn mutated_documented_messages_never_panic(
        which in 0..DOCUMENTED.len(),
        at in any::<prop::sample::Index>(),
        with in "\\PC{0,3}",
        cut in any::<bool>(),
    ) {
        let original = DOCUMENTED[which];
        let text = mutate(original, at.index(original.len() + 1), &with, cut);
        let mut h = Harness::parser();
        let out = h.parse(&text);
        // Whatever survives the mutation, a tick is never more than the message held.
        prop_assert!(out.ticks.len() <= 2);
    }
}
