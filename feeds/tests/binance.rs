//! The Binance parser against the sample capture, hand-written messages and garbage.
//!
//! Expected values are worked out here from the raw JSON (through `serde_json::Value` and a
//! small decimal reader of this file), never by the parser under test.

mod common;

use std::sync::{Arc, LazyLock};

use common::{name, parse, received, splice, units};
use engine::{Registry, Side, TickKind};
use feeds::binance::Binance;
use feeds::{Event, ParseCtx, ParseError, Venue, VenueConfig};
use proptest::prelude::*;
use rstest::rstest;
use serde_json::Value;

const CAPTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/samples/captures/BINANCE.ws.1.0"
);

fn context() -> (Arc<Registry>, ParseCtx) {
    common::context(Binance::PREFIX)
}

#[test]
fn every_capture_message_parses_to_the_expected_ticks() {
    let (registry, mut ctx) = context();
    let mut venue = Binance::parser();
    let lines = received(CAPTURE);
    assert_eq!(lines.len(), 265); // 177 depthUpdate, 84 bookTicker, 2 aggTrade, 2 kline
    let (mut trades, mut quotes) = (0, 0);
    for line in &lines {
        let (ticks, events) = parse(&mut venue, &mut ctx, &line.text, line.ts)
            .unwrap_or_else(|e| panic!("{e}: {}", line.text));
        assert!(events.is_empty(), "{events:?}: {}", line.text);
        let raw: Value = serde_json::from_str(&line.text).unwrap();
        let data = raw.get("data").unwrap_or(&raw);
        let str_of = |key: &str| data[key].as_str().unwrap().to_owned();
        let kind = data.get("e").and_then(Value::as_str);
        let book_ticker = kind.is_none()
            && ["u", "s", "b", "B", "a", "A"]
                .iter()
                .all(|k| data.get(k).is_some());
        match kind {
            Some(kind @ ("trade" | "aggTrade")) => {
                trades += 1;
                assert_eq!(ticks.len(), 1, "{}", line.text);
                let tick = ticks[0];
                assert_eq!(tick.kind(), TickKind::Trade);
                assert_eq!(name(&registry, &tick), format!("BINANCE:{}", str_of("s")));
                assert_eq!(tick.ts_event, data["T"].as_i64().unwrap() * 1_000_000);
                assert_eq!(tick.ts_recv, line.ts);
                let trade = tick.as_trade().unwrap();
                assert_eq!(i128::from(trade.price.units()), units(&str_of("p")));
                assert_eq!(i128::from(trade.size.units()), units(&str_of("q")));
                let side = if data["m"].as_bool().unwrap() {
                    Side::Sell
                } else {
                    Side::Buy
                };
                assert_eq!(trade.side, side);
                let id_key = if kind == "trade" { "t" } else { "a" };
                assert_eq!(trade.id, data[id_key].as_u64().unwrap());
            }
            None if book_ticker => {
                quotes += 1;
                assert_eq!(ticks.len(), 1, "{}", line.text);
                let tick = ticks[0];
                assert_eq!(tick.kind(), TickKind::Quote);
                assert_eq!(name(&registry, &tick), format!("BINANCE:{}", str_of("s")));
                // Spot bookTicker carries no time: the receive time stands in.
                assert_eq!(tick.ts_event, line.ts);
                assert_eq!(tick.ts_recv, line.ts);
                let quote = tick.as_quote().unwrap();
                assert_eq!(i128::from(quote.bid.units()), units(&str_of("b")));
                assert_eq!(i128::from(quote.bid_size.units()), units(&str_of("B")));
                assert_eq!(i128::from(quote.ask.units()), units(&str_of("a")));
                assert_eq!(i128::from(quote.ask_size.units()), units(&str_of("A")));
            }
            _ => assert!(ticks.is_empty(), "{}", line.text),
        }
    }
    assert_eq!((trades, quotes), (2, 84));
}

#[test]
fn a_combined_trade_message() {
    let (registry, mut ctx) = context();
    let mut venue = Binance::parser();
    let text = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":12345,"p":"16500.01000000","q":"0.00100000","T":1672515782134,"m":true,"M":true}}"#;
    let (ticks, events) = parse(&mut venue, &mut ctx, text, 7).unwrap();
    assert!(events.is_empty());
    assert_eq!(ticks.len(), 1);
    assert_eq!(name(&registry, &ticks[0]), "BINANCE:BTCUSDT");
    assert_eq!(ticks[0].ts_event, 1_672_515_782_134_000_000);
    assert_eq!(ticks[0].ts_recv, 7);
    let trade = ticks[0].as_trade().unwrap();
    assert_eq!(trade.price.units(), 16_500_010_000_000);
    assert_eq!(trade.size.units(), 1_000_000);
    assert_eq!(trade.side, Side::Sell);
    assert_eq!(trade.id, 12345);
}

#[test]
fn raw_stream_messages() {
    let (registry, mut ctx) = context();
    let mut venue = Binance::parser();

    let trade = r#"{"e":"trade","E":1672515782136,"s":"ETHUSDT","t":7,"p":"1200.5","q":"2","T":1672515782135,"m":false,"M":true}"#;
    let (ticks, _) = parse(&mut venue, &mut ctx, trade, 1).unwrap();
    assert_eq!(name(&registry, &ticks[0]), "BINANCE:ETHUSDT");
    assert_eq!(ticks[0].ts_event, 1_672_515_782_135_000_000);
    let t = ticks[0].as_trade().unwrap();
    assert_eq!(
        (t.price.units(), t.size.units(), t.side, t.id),
        (1_200_500_000_000, 2_000_000_000, Side::Buy, 7)
    );

    let agg = r#"{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":true,"M":true}"#;
    let (ticks, _) = parse(&mut venue, &mut ctx, agg, 1).unwrap();
    let t = ticks[0].as_trade().unwrap();
    assert_eq!(
        (t.price.units(), t.size.units(), t.side, t.id),
        (1_000_000, 100_000_000_000, Side::Sell, 12345)
    );

    let book = r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
    let (ticks, _) = parse(&mut venue, &mut ctx, book, 99).unwrap();
    assert_eq!(name(&registry, &ticks[0]), "BINANCE:BNBUSDT");
    assert_eq!((ticks[0].ts_event, ticks[0].ts_recv), (99, 99));
    let q = ticks[0].as_quote().unwrap();
    assert_eq!(
        (
            q.bid.units(),
            q.bid_size.units(),
            q.ask.units(),
            q.ask_size.units()
        ),
        (
            25_351_900_000,
            31_210_000_000,
            25_365_200_000,
            40_660_000_000
        )
    );
}

#[rstest]
// Futures: `e` and the transaction time `T`.
#[case(
    r#"{"e":"bookTicker","u":400900217,"E":1568014460893,"T":1568014460891,"s":"BNBUSDT","b":"25.3519","B":"31.21","a":"25.3652","A":"40.66"}"#,
    1_568_014_460_891_000_000
)]
// An event time alone.
#[case(
    r#"{"u":400900217,"E":1568014460893,"s":"BNBUSDT","b":"25.3519","B":"31.21","a":"25.3652","A":"40.66"}"#,
    1_568_014_460_893_000_000
)]
// No time: the receive time.
#[case(
    r#"{"stream":"bnbusdt@bookTicker","data":{"u":400900217,"s":"BNBUSDT","b":"25.3519","B":"31.21","a":"25.3652","A":"40.66"}}"#,
    5
)]
fn book_ticker_times(#[case] text: &str, #[case] ts_event: i64) {
    let (_, mut ctx) = context();
    let (ticks, _) = parse(&mut Binance::parser(), &mut ctx, text, 5).unwrap();
    assert_eq!(ticks.len(), 1);
    assert_eq!(ticks[0].ts_event, ts_event);
    assert_eq!(ticks[0].as_quote().unwrap().ask.units(), 25_365_200_000);
}

#[test]
fn microsecond_urls_read_microsecond_times() {
    let config = VenueConfig {
        url: Some("wss://stream.binance.com:9443/ws?timeUnit=MICROSECOND".into()),
        instruments: vec!["btcusdt".into()],
        ..VenueConfig::default()
    };
    let mut venue = Binance::new(&config).unwrap();
    let (_, mut ctx) = context();
    let text = r#"{"e":"trade","E":1672515782136000,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1672515782134567,"m":true,"M":true}"#;
    let (ticks, _) = parse(&mut venue, &mut ctx, text, 0).unwrap();
    assert_eq!(ticks[0].ts_event, 1_672_515_782_134_567_000);
}

#[test]
fn replies_and_known_payloads() {
    let (_, mut ctx) = context();
    let mut venue = Binance::parser();
    let mut one_event = |text: &str| {
        let (ticks, mut events) = parse(&mut venue, &mut ctx, text, 0).unwrap();
        assert!(ticks.is_empty());
        assert_eq!(events.len(), 1, "{text}");
        events.pop().unwrap()
    };
    assert!(matches!(
        one_event(r#"{"result":null,"id":1}"#),
        Event::Confirmed(_)
    ));
    assert!(matches!(
        one_event(r#"{"result":["btcusdt@trade"],"id":3}"#),
        Event::Confirmed(_)
    ));
    match one_event(r#"{"error":{"code":2,"msg":"Invalid request: unknown variant"},"id":1}"#) {
        Event::VenueError(text) => assert!(text.contains("Invalid request"), "{text}"),
        other => panic!("{other:?}"),
    }
    match one_event(r#"{"code":0,"msg":"Unknown property","id":5}"#) {
        Event::VenueError(text) => assert!(text.contains("Unknown property"), "{text}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        one_event(r#"{"e":"serverShutdown","E":1699999999999}"#),
        Event::Reconnect(_)
    ));

    for ignored in [
        r#"{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}"#,
        r#"{"stream":"btcusdt@depth5","data":{"lastUpdateId":160,"bids":[],"asks":[]}}"#,
        r#"{"e":"24hrTicker","E":1,"s":"BNBBTC","p":"0.0015","P":"250.00","w":"0.0018","x":"0.0009","c":"0.0025","Q":"10","b":"0.0024","B":"10","a":"0.0026","A":"100","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18","O":0,"C":86400000,"F":0,"L":18150,"n":18151}"#,
        r#"{"e":"24hrMiniTicker","E":1,"s":"BNBBTC","c":"0.0025","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18"}"#,
        r#"{"e":"avgPrice","E":1693907033000,"s":"BTCUSDT","i":"5m","w":"25776.86000000","T":1693907032213}"#,
        r#"{"stream":"!miniTicker@arr","data":[{"e":"24hrMiniTicker","E":1,"s":"BNBBTC"}]}"#,
        r#"[{"e":"24hrTicker","E":1,"s":"BNBBTC"}]"#,
    ] {
        let (ticks, events) = parse(&mut venue, &mut ctx, ignored, 0).unwrap();
        assert!(ticks.is_empty() && events.is_empty(), "{ignored}");
    }
}

#[rstest]
#[case(r#"{"e":"mystery","E":1,"s":"BTCUSDT"}"#)]
#[case(r#"{}"#)]
#[case(r#"{"foo":1}"#)]
#[case(r#"{"stream":"btcusdt@trade","data":"hello"}"#)]
#[case(r#"{"stream":"btcusdt@trade"}"#)]
fn unknown_kinds(#[case] text: &str) {
    let (_, mut ctx) = context();
    let err = parse(&mut Binance::parser(), &mut ctx, text, 0).unwrap_err();
    assert!(matches!(err, ParseError::Unknown(_)), "{err}");
}

#[rstest]
// Truncated.
#[case(r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":12345,"p":"16500.01"#)]
#[case(r#"{"e":"trade""#)]
#[case("[")]
#[case("")]
// Not an object.
#[case("null")]
#[case("123")]
#[case(r#""text""#)]
#[case("\u{0}\u{1}garbage\u{fffd}")]
#[case("\u{fffd}\u{fffd}{")]
// Wrong types.
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":"12345","p":"1","q":"1","T":1,"m":true}"#)]
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":"yes"}"#)]
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":true,"q":"1","T":1,"m":true}"#)]
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":[],"T":1,"m":true}"#)]
#[case(r#"{"e":"trade","E":1,"s":7,"t":1,"p":"1","q":"1","T":1,"m":true}"#)]
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":-1,"p":"1","q":"1","T":1,"m":true}"#)]
#[case(r#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":"abc","p":"1","q":"1","T":1,"m":true}"#)]
#[case(r#"{"u":1,"s":"BNBUSDT","b":[],"B":"1","a":"1","A":"1"}"#)]
#[case(r#"{"u":1,"s":"BNBUSDT","b":"1","B":"1","a":"x","A":"1"}"#)]
// Missing fields.
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"q":"1","T":1,"m":true}"#)]
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","T":1,"m":true}"#)]
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","p":"1","q":"1","T":1,"m":true}"#)]
#[case(r#"{"e":"trade","E":1,"t":1,"p":"1","q":"1","T":1,"m":true}"#)]
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1}"#)]
#[case(r#"{"e":"aggTrade","E":1,"s":"BTCUSDT","p":"1","q":"1","T":1,"m":true}"#)]
#[case(r#"{"e":"bookTicker","u":1,"s":"BNBUSDT","b":"1","B":"1","a":"1"}"#)]
// Huge numbers.
#[case(
    r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"99999999999999999999","q":"1","T":1,"m":true}"#
)]
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":123456789012345678901234567890,"p":"1","q":"1","T":1,"m":true}"#)]
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":99999999999999999,"m":true}"#)]
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1e99999","q":"1","T":1,"m":true}"#)]
// Too many decimals.
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"0.0000000001","T":1,"m":true}"#)]
// Not a symbol.
#[case(r#"{"e":"trade","E":1,"s":"BAD SYMBOL","t":1,"p":"1","q":"1","T":1,"m":true}"#)]
// Duplicate key.
#[case(r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"t":2,"p":"1","q":"1","T":1,"m":true}"#)]
fn malformed_messages_are_errors(#[case] text: &str) {
    let (_, mut ctx) = context();
    let result = parse(&mut Binance::parser(), &mut ctx, text, 0);
    assert!(result.is_err(), "{text}: {result:?}");
    assert!(ctx.ticks().is_empty());
}

#[test]
fn a_skipped_trade_id_is_one_gap() {
    let (registry, mut ctx) = context();
    let mut venue = Binance::parser();
    let trade = |symbol: &str, id: u64| {
        format!(r#"{{"e":"trade","E":1,"s":"{symbol}","t":{id},"p":"1","q":"1","T":1,"m":false}}"#)
    };
    let agg = |id: u64| {
        format!(
            r#"{{"e":"aggTrade","E":1,"s":"BTCUSDT","a":{id},"p":"1","q":"1","T":1,"m":false}}"#
        )
    };
    let mut events = Vec::new();
    let messages = [
        trade("BTCUSDT", 100),
        trade("BTCUSDT", 101),
        trade("ETHUSDT", 5), // another symbol: its own sequence
        agg(9),              // another stream: its own sequence
        agg(10),
        trade("BTCUSDT", 104),
        trade("ETHUSDT", 6),
        trade("BTCUSDT", 105),
    ];
    for text in &messages {
        let (ticks, batch) = parse(&mut venue, &mut ctx, text, 0).unwrap();
        assert_eq!(ticks.len(), 1, "the trade is published all the same");
        events.extend(batch);
    }
    let btc = registry.id("BINANCE:BTCUSDT").unwrap();
    assert_eq!(
        events,
        [Event::Gap {
            instrument: Some(btc),
            stream: "trade id",
            expected: 102,
            received: 104
        }]
    );
}

#[test]
fn a_book_ticker_going_back_is_out_of_order() {
    let (registry, mut ctx) = context();
    let mut venue = Binance::parser();
    let book = |u: u64| format!(r#"{{"u":{u},"s":"BNBUSDT","b":"1","B":"1","a":"2","A":"1"}}"#);
    let mut out = Vec::new();
    for u in [10, 15, 40, 40, 12, 41] {
        let (ticks, events) = parse(&mut venue, &mut ctx, &book(u), 0).unwrap();
        out.push((u, ticks.len(), events));
    }
    let id = registry.id("BINANCE:BNBUSDT").unwrap();
    let back = |last, received| {
        vec![Event::OutOfOrder {
            instrument: Some(id),
            stream: "bookTicker update id",
            last,
            received,
        }]
    };
    assert_eq!(
        out,
        [
            (10, 1, vec![]),
            (15, 1, vec![]), // jumps are normal
            (40, 1, vec![]),
            (40, 1, back(40, 40)), // a repeat: counted, still published
            (12, 1, back(40, 12)),
            (41, 1, vec![]),
        ]
    );
}

fn config(instruments: &[&str], channels: &[&str]) -> VenueConfig {
    VenueConfig {
        instruments: instruments.iter().map(|s| s.to_string()).collect(),
        channels: channels.iter().map(|s| s.to_string()).collect(),
        ..VenueConfig::default()
    }
}

#[test]
fn the_url_names_the_streams() {
    let venue = Binance::new(&config(&["BTCUSDT", "ethusdt"], &[])).unwrap();
    assert_eq!(
        venue.url(),
        "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/btcusdt@bookTicker/ethusdt@trade/ethusdt@bookTicker"
    );
    let mut out = Vec::new();
    Binance::new(&config(&["BTCUSDT"], &[]))
        .unwrap()
        .on_connect(&mut out);
    assert!(out.is_empty());
    assert_eq!(
        venue.channels(),
        [
            ("BINANCE:BTCUSDT".to_string(), TickKind::Trade),
            ("BINANCE:BTCUSDT".to_string(), TickKind::Quote),
            ("BINANCE:ETHUSDT".to_string(), TickKind::Trade),
            ("BINANCE:ETHUSDT".to_string(), TickKind::Quote),
        ]
    );
    assert_eq!((venue.name(), venue.prefix()), ("binance", "BINANCE"));

    let mut base = config(&["btcusdt"], &["aggTrade", "trade"]);
    base.url = Some("wss://data-stream.binance.vision/".into());
    let venue = Binance::new(&base).unwrap();
    assert_eq!(
        venue.url(),
        "wss://data-stream.binance.vision/stream?streams=btcusdt@aggTrade/btcusdt@trade"
    );
    // Both trade streams feed one (instrument, trade) channel.
    assert_eq!(
        venue.channels(),
        [("BINANCE:BTCUSDT".to_string(), TickKind::Trade)]
    );
}

#[test]
fn a_url_with_a_path_subscribes_by_message() {
    let mut with_path = config(&["btcusdt", "BNBBTC"], &["bookTicker"]);
    with_path.url = Some("wss://stream.binance.com:9443/ws".into());
    let mut venue = Binance::new(&with_path).unwrap();
    assert_eq!(venue.url(), "wss://stream.binance.com:9443/ws");
    let mut out = Vec::new();
    venue.on_connect(&mut out);
    assert_eq!(
        out,
        [r#"{"method":"SUBSCRIBE","params":["btcusdt@bookTicker","bnbbtc@bookTicker"],"id":1}"#]
    );
}

#[rstest]
#[case(config(&["btcusdt"], &["depth"]), "feeds.binance.channels")]
#[case(config(&[], &[]), "feeds.binance.instruments")]
#[case(config(&["btc/usdt"], &[]), "feeds.binance.instruments")]
#[case(VenueConfig { api: Some("exchange".into()), ..config(&["btcusdt"], &[]) }, "feeds.binance.api")]
#[case(VenueConfig { key_env: Some("KEY".into()), ..config(&["btcusdt"], &[]) }, "feeds.binance.key_env")]
#[case(VenueConfig { secret_env: Some("S".into()), ..config(&["btcusdt"], &[]) }, "feeds.binance.secret_env")]
#[case(VenueConfig { url: Some("https://x".into()), ..config(&["btcusdt"], &[]) }, "feeds.binance.url")]
fn bad_configs_name_their_key(#[case] config: VenueConfig, #[case] key: &str) {
    let err = Binance::new(&config).unwrap_err().to_string();
    assert!(err.contains(key), "{err}");
}

#[test]
fn too_many_streams_are_refused() {
    let symbols: Vec<String> = (0..600).map(|i| format!("S{i}USDT")).collect();
    let symbols: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let err = Binance::new(&config(&symbols, &[]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("feeds.binance.instruments") && err.contains("1024"),
        "{err}"
    );
}

/// Real and hand-written messages to mutate.
static CORPUS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut corpus: Vec<String> = received(CAPTURE).into_iter().map(|r| r.text).collect();
    corpus.extend(
        [
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":12345,"p":"16500.01000000","q":"0.00100000","T":1672515782134,"m":true,"M":true}}"#,
            r#"{"e":"trade","E":1672515782136,"s":"ETHUSDT","t":7,"p":"1200.5","q":"2","T":1672515782135,"m":false,"M":true}"#,
            r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#,
            r#"{"result":null,"id":1}"#,
            r#"{"error":{"code":2,"msg":"Invalid request"},"id":1}"#,
        ]
        .map(String::from),
    );
    corpus
});

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let (_, mut ctx) = context();
        let _ = parse(&mut Binance::parser(), &mut ctx, &text, 0);
    }

    #[test]
    fn mutated_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        len in 0usize..16,
        insert in "[-0-9a-zA-Z\"{}\\[\\]:,. e\\\\]{0,12}",
    ) {
        let text = &CORPUS[pick.index(CORPUS.len())];
        let mutated = splice(text, at.index(text.len() + 1), len, &insert);
        let (_, mut ctx) = context();
        let mut venue = Binance::parser();
        // Twice, so the second goes through the warm symbol cache and sequences.
        let _ = parse(&mut venue, &mut ctx, text, 0);
        let _ = parse(&mut venue, &mut ctx, &mutated, 0);
    }
}

#[test]
fn the_example_config_builds_a_feed() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/binance.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(
        table["feeds"]["synthetic"]["enabled"].as_bool(),
        Some(false)
    );
    let config: VenueConfig = table["feeds"]["binance"].clone().try_into().unwrap();
    let venue = Binance::new(&config).unwrap();
    assert!(
        venue
            .url()
            .starts_with("wss://stream.binance.com:9443/stream?streams=btcusdt@trade/")
    );
}
