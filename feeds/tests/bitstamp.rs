//! The Bitstamp parser against the sample capture, hand-written messages and garbage.
//!
//! Expected values are worked out here from the raw JSON (through `serde_json::Value` and a
//! small decimal reader of this file), never by the parser under test.

mod common;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use common::{capture, name, parse, received, splice, units};
use engine::{Registry, Side, TickKind};
use feeds::bitstamp::Bitstamp;
use feeds::{Event, Keepalive, ParseCtx, ParseError, Venue, VenueConfig};
use proptest::prelude::*;
use rstest::rstest;
use serde_json::Value;

const CAPTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/samples/captures/BITSTAMP.ws.1.0"
);

fn context() -> (Arc<Registry>, ParseCtx) {
    common::context(Bitstamp::PREFIX)
}

#[test]
fn every_capture_message_parses_to_the_expected_ticks() {
    let (registry, mut ctx) = context();
    let mut venue = Bitstamp::parser();
    let lines = received(CAPTURE);
    // 702 diff_order_book data, 20 subscription_succeeded, 5 trades.
    assert_eq!(lines.len(), 727);
    let (mut trades, mut confirmed) = (0, 0);
    for line in &lines {
        let (ticks, events) = parse(&mut venue, &mut ctx, &line.text, line.ts)
            .unwrap_or_else(|e| panic!("{e}: {}", line.text));
        let raw: Value = serde_json::from_str(&line.text).unwrap();
        match raw["event"].as_str().unwrap() {
            "trade" => {
                trades += 1;
                assert!(events.is_empty());
                assert_eq!(ticks.len(), 1, "{}", line.text);
                let tick = ticks[0];
                let data = &raw["data"];
                let pair = raw["channel"]
                    .as_str()
                    .unwrap()
                    .strip_prefix("live_trades_")
                    .unwrap();
                assert_eq!(tick.kind(), TickKind::Trade);
                assert_eq!(
                    name(&registry, &tick),
                    format!("BITSTAMP:{}", pair.to_uppercase())
                );
                let micros: i64 = data["microtimestamp"].as_str().unwrap().parse().unwrap();
                assert_eq!(tick.ts_event, micros * 1_000);
                assert_eq!(tick.ts_recv, line.ts);
                let trade = tick.as_trade().unwrap();
                assert_eq!(
                    i128::from(trade.price.units()),
                    units(data["price_str"].as_str().unwrap())
                );
                assert_eq!(
                    i128::from(trade.size.units()),
                    units(data["amount_str"].as_str().unwrap())
                );
                let side = match data["type"].as_u64().unwrap() {
                    0 => Side::Buy,
                    1 => Side::Sell,
                    other => panic!("type {other}"),
                };
                assert_eq!(trade.side, side);
                assert_eq!(trade.id, data["id"].as_u64().unwrap());
            }
            "bts:subscription_succeeded" => {
                confirmed += 1;
                assert!(ticks.is_empty());
                let channel = raw["channel"].as_str().unwrap();
                assert_eq!(
                    events,
                    [Event::Confirmed(format!("subscribed to {channel}"))]
                );
            }
            _ => assert!(ticks.is_empty() && events.is_empty(), "{}", line.text),
        }
    }
    assert_eq!((trades, confirmed), (5, 20));
}

#[test]
fn on_connect_sends_what_the_capture_sent() {
    let lines = capture(CAPTURE);
    let sent: Vec<&str> = lines
        .iter()
        .filter(|line| line.sent && line.text.contains("live_trades_"))
        .map(|line| line.text.as_str())
        .collect();
    assert_eq!(sent.len(), 10);
    let pairs: Vec<String> = sent
        .iter()
        .map(|text| {
            let raw: Value = serde_json::from_str(text).unwrap();
            let channel = raw["data"]["channel"].as_str().unwrap();
            channel.strip_prefix("live_trades_").unwrap().to_uppercase()
        })
        .collect();
    let config = VenueConfig {
        instruments: pairs,
        ..VenueConfig::default()
    };
    let mut venue = Bitstamp::new(&config).unwrap();
    let mut out = Vec::new();
    venue.on_connect(&mut out);
    assert_eq!(out, sent);
    assert_eq!(venue.url(), "wss://ws.bitstamp.net");
    assert_eq!(venue.channels().len(), 10);
    assert_eq!(
        venue.channels()[1],
        ("BITSTAMP:ETHUSD".to_string(), TickKind::Trade)
    );
    assert_eq!((venue.name(), venue.prefix()), ("bitstamp", "BITSTAMP"));
    assert_eq!(
        venue.keepalive(),
        Some(Keepalive {
            interval: Duration::from_secs(30),
            message: r#"{"event":"bts:heartbeat"}"#.into()
        })
    );
}

#[test]
fn a_trade_with_numbers_and_seconds_only() {
    let (registry, mut ctx) = context();
    let text = r#"{"data":{"id":42,"timestamp":"1641343699","amount":0.5,"price":3805.44,"type":1},"channel":"live_trades_btcusd","event":"trade"}"#;
    let (ticks, _) = parse(&mut Bitstamp::parser(), &mut ctx, text, 3).unwrap();
    assert_eq!(name(&registry, &ticks[0]), "BITSTAMP:BTCUSD");
    assert_eq!(
        (ticks[0].ts_event, ticks[0].ts_recv),
        (1_641_343_699_000_000_000, 3)
    );
    let t = ticks[0].as_trade().unwrap();
    assert_eq!(
        (t.price.units(), t.size.units(), t.side, t.id),
        (3_805_440_000_000, 500_000_000, Side::Sell, 42)
    );
}

#[test]
fn a_trade_with_strings() {
    let (_, mut ctx) = context();
    let text = r#"{"data":{"id":216000477,"timestamp":"1641343699","amount":0.0792,"amount_str":"0.07920000","price":3805.44,"price_str":"3805.44","type":0,"microtimestamp":"1641343699596000","buy_order_id":1,"sell_order_id":2},"channel":"live_trades_ethusd","event":"trade"}"#;
    let (ticks, _) = parse(&mut Bitstamp::parser(), &mut ctx, text, 0).unwrap();
    assert_eq!(ticks[0].ts_event, 1_641_343_699_596_000_000);
    let t = ticks[0].as_trade().unwrap();
    assert_eq!(
        (t.price.units(), t.size.units(), t.side, t.id),
        (3_805_440_000_000, 79_200_000, Side::Buy, 216_000_477)
    );
}

#[test]
fn control_events() {
    let (_, mut ctx) = context();
    let mut venue = Bitstamp::parser();
    let mut events = |text: &str| {
        let (ticks, events) = parse(&mut venue, &mut ctx, text, 0).unwrap();
        assert!(ticks.is_empty());
        events
    };
    assert_eq!(
        events(r#"{"event":"bts:request_reconnect","channel":"","data":""}"#),
        [Event::Reconnect("bts:request_reconnect".into())]
    );
    assert_eq!(
        events(
            r#"{"event":"bts:error","channel":"","data":{"code":null,"message":"Bad subscription string."}}"#
        ),
        [Event::VenueError("Bad subscription string.".into())]
    );
    assert_eq!(
        events(
            r#"{"event":"bts:error","channel":"live_trades_x","data":{"code":7,"message":"No."}}"#
        ),
        [Event::VenueError("live_trades_x: No. (code 7)".into())]
    );
    assert_eq!(
        events(
            r#"{"event":"bts:unsubscription_succeeded","channel":"live_trades_btcusd","data":{}}"#
        ),
        [Event::Confirmed(
            "unsubscribed from live_trades_btcusd".into()
        )]
    );
    for ignored in [
        r#"{"event":"bts:heartbeat","channel":"","data":{"status":"success"}}"#,
        r#"{"data":{"timestamp":"1","microtimestamp":"1","bids":[["1","2"]],"asks":[]},"channel":"order_book_btcusd","event":"data"}"#,
        r#"{"data":{"id":1,"id_str":"1","order_type":0,"datetime":"1","microtimestamp":"1","amount":1,"amount_str":"1","price":1,"price_str":"1"},"channel":"live_orders_btcusd","event":"order_created"}"#,
        r#"{"data":{},"channel":"detail_order_book_btcusd","event":"data"}"#,
        r#"{"data":{"id":1},"channel":"live_orders_btcusd","event":"order_deleted"}"#,
    ] {
        assert!(events(ignored).is_empty(), "{ignored}");
    }
}

#[rstest]
#[case(r#"{"event":"mystery","channel":"live_trades_btcusd","data":{}}"#)]
#[case(r#"{"event":"data","channel":"live_trades_btcusd","data":{}}"#)]
#[case(r#"{"event":"order_created","channel":"something_btcusd","data":{}}"#)]
#[case(r#"{"event":"bts:mystery"}"#)]
fn unknown_events(#[case] text: &str) {
    let (_, mut ctx) = context();
    let err = parse(&mut Bitstamp::parser(), &mut ctx, text, 0).unwrap_err();
    assert!(matches!(err, ParseError::Unknown(_)), "{err}");
}

const GOOD: &str =
    r#""id":1,"amount_str":"1.5","price_str":"2","type":0,"microtimestamp":"1641343699596000""#;

#[rstest]
// Truncated, not JSON, not an object.
#[case(r#"{"data":{"id":216000477,"timestamp":"1641343699","amount":0.0792,"amount_str":"0.0792"#)]
#[case("")]
#[case("{")]
#[case("null")]
#[case("[1,2]")]
#[case("\u{0}\u{1}garbage\u{fffd}")]
#[case(r#"{"channel":"live_trades_btcusd"}"#)]
// Wrong types.
#[case(r#"{"event":7,"channel":"live_trades_btcusd","data":{}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":"trade"}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"1","price_str":"2","type":"0","microtimestamp":"1"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"1","price_str":2,"type":0,"microtimestamp":"1"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":"x","amount_str":"1","price_str":"2","type":0,"microtimestamp":"1"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"1","price_str":"abc","type":0,"microtimestamp":"1"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"1","price_str":"2","type":0,"microtimestamp":"soon"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"1","price_str":"2","type":2,"microtimestamp":"1"}}"#)]
// Missing fields.
#[case(r#"{"event":"trade","channel":"live_trades_btcusd"}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"amount_str":"1","price_str":"2","type":0,"microtimestamp":"1"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"price_str":"2","type":0,"microtimestamp":"1"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"1","type":0,"microtimestamp":"1"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"1","price_str":"2","microtimestamp":"1"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"1","price_str":"2","type":0}}"#)]
// Bad channels.
#[case(&format!(r#"{{"event":"trade","channel":"live_trades_","data":{{{GOOD}}}}}"#))]
#[case(&format!(r#"{{"event":"trade","channel":"order_book_btcusd","data":{{{GOOD}}}}}"#))]
#[case(&format!(r#"{{"event":"trade","data":{{{GOOD}}}}}"#))]
#[case(&format!(r#"{{"event":"trade","channel":"live_trades_btc usd","data":{{{GOOD}}}}}"#))]
// Huge numbers, too many decimals.
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"1","price_str":"123456789012","type":0,"microtimestamp":"1"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":99999999999999999999999,"amount_str":"1","price_str":"2","type":0,"microtimestamp":"1"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"1","price_str":"2","type":0,"microtimestamp":"99999999999999999999"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"1","price_str":"2","type":0,"microtimestamp":"9999999999999999"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"1","price_str":"2","type":0,"timestamp":"99999999999"}}"#)]
#[case(r#"{"event":"trade","channel":"live_trades_btcusd","data":{"id":1,"amount_str":"0.0000000001","price_str":"2","type":0,"microtimestamp":"1"}}"#)]
fn malformed_messages_are_errors(#[case] text: &str) {
    let (_, mut ctx) = context();
    let result = parse(&mut Bitstamp::parser(), &mut ctx, text, 0);
    assert!(result.is_err(), "{text}: {result:?}");
    assert!(ctx.ticks().is_empty());
}

#[test]
fn the_good_fields_make_a_trade() {
    // The base of the bad-channel cases above is itself a valid trade.
    let text = format!(r#"{{"event":"trade","channel":"live_trades_btcusd","data":{{{GOOD}}}}}"#);
    let (_, mut ctx) = context();
    let (ticks, _) = parse(&mut Bitstamp::parser(), &mut ctx, &text, 0).unwrap();
    assert_eq!(ticks.len(), 1);
}

fn config(instruments: &[&str], channels: &[&str]) -> VenueConfig {
    VenueConfig {
        instruments: instruments.iter().map(|s| s.to_string()).collect(),
        channels: channels.iter().map(|s| s.to_string()).collect(),
        ..VenueConfig::default()
    }
}

#[rstest]
#[case(config(&["btcusd"], &["diff_order_book"]), "feeds.bitstamp.channels")]
#[case(config(&[], &[]), "feeds.bitstamp.instruments")]
#[case(config(&["btc/usd"], &[]), "feeds.bitstamp.instruments")]
#[case(VenueConfig { api: Some("exchange".into()), ..config(&["btcusd"], &[]) }, "feeds.bitstamp.api")]
#[case(VenueConfig { key_env: Some("KEY".into()), ..config(&["btcusd"], &[]) }, "feeds.bitstamp.key_env")]
#[case(VenueConfig { secret_env: Some("S".into()), ..config(&["btcusd"], &[]) }, "feeds.bitstamp.secret_env")]
fn bad_configs_name_their_key(#[case] config: VenueConfig, #[case] key: &str) {
    let err = Bitstamp::new(&config).unwrap_err().to_string();
    assert!(err.contains(key), "{err}");
}

#[test]
fn a_configured_url_is_used_as_given() {
    let venue = Bitstamp::new(&VenueConfig {
        url: Some("wss://ws.example/v2".into()),
        ..config(&["BTCUSD", "btcusd"], &["live_trades"])
    })
    .unwrap();
    assert_eq!(venue.url(), "wss://ws.example/v2");
    assert_eq!(
        venue.channels(),
        [("BITSTAMP:BTCUSD".to_string(), TickKind::Trade)]
    );
}

static CORPUS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut corpus: Vec<String> = received(CAPTURE)
        .into_iter()
        .map(|line| line.text)
        .collect();
    corpus.extend(
        [
            r#"{"data":{"id":42,"timestamp":"1641343699","amount":0.5,"price":3805.44,"type":1},"channel":"live_trades_btcusd","event":"trade"}"#,
            r#"{"event":"bts:request_reconnect","channel":"","data":""}"#,
            r#"{"event":"bts:error","channel":"","data":{"code":null,"message":"Bad subscription string."}}"#,
        ]
        .map(String::from),
    );
    corpus
});

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let (_, mut ctx) = context();
        let _ = parse(&mut Bitstamp::parser(), &mut ctx, &text, 0);
    }

    #[test]
    fn mutated_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        len in 0usize..16,
        insert in "[-0-9a-zA-Z\"{}\\[\\]:,. e_\\\\]{0,12}",
    ) {
        let text = &CORPUS[pick.index(CORPUS.len())];
        let mutated = splice(text, at.index(text.len() + 1), len, &insert);
        let (_, mut ctx) = context();
        let mut venue = Bitstamp::parser();
        let _ = parse(&mut venue, &mut ctx, text, 0);
        let _ = parse(&mut venue, &mut ctx, &mutated, 0);
    }
}

#[test]
fn the_example_config_builds_a_feed() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/bitstamp.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(
        table["feeds"]["synthetic"]["enabled"].as_bool(),
        Some(false)
    );
    let config: VenueConfig = table["feeds"]["bitstamp"].clone().try_into().unwrap();
    let mut venue = Bitstamp::new(&config).unwrap();
    let mut out = Vec::new();
    venue.on_connect(&mut out);
    assert_eq!(
        out[0],
        r#"{"event":"bts:subscribe","data":{"channel":"live_trades_btcusd"}}"#
    );
}
