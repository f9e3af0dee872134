//! The Coinbase parser against the cryptofeed capture `COINBASE.ws.28.0` (Exchange feed) and
//! against the messages Coinbase documents for Advanced Trade.
//!
//! Expected values are derived here without the parser or the engine's number and time parsing:
//! the raw messages are read with `serde_json::Value`, decimals converted by [`units`] and times
//! by [`epoch_ns`], both written below; the hand-written cases spell their values out.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::TS_RECV;
use engine::{InstrumentId, Quote, Registry, Side, Tick, TickKind, Trade};
use feeds::coinbase::{Api, Coinbase};
use feeds::{Event, ParseCtx, ParseError, Venue, VenueConfig};
use proptest::prelude::*;
use rstest::rstest;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Independent helpers.

/// A non-negative decimal string in units of 1e-9, by hand: at most 9 fraction digits.
fn units(text: &str) -> i128 {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    assert!(frac.len() <= 9, "{text}");
    let mut value: i128 = 0;
    for c in int.chars().chain(frac.chars()) {
        value = value * 10 + i128::from(c.to_digit(10).unwrap());
    }
    value * 10i128.pow(9 - frac.len() as u32)
}

/// `YYYY-MM-DDTHH:MM:SS[.f]Z` to ns since the epoch, counting days year by year.
fn epoch_ns(text: &str) -> i64 {
    let text = text.strip_suffix('Z').unwrap();
    let (date, time) = text.split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let (clock, frac) = time.split_once('.').unwrap_or((time, ""));
    let t: Vec<i64> = clock.split(':').map(|p| p.parse().unwrap()).collect();
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = 0;
    for year in 1970..d[0] {
        days += if leap(year) { 366 } else { 365 };
    }
    let months = [
        31,
        if leap(d[0]) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    days += months[..(d[1] - 1) as usize].iter().sum::<i64>() + d[2] - 1;
    let seconds = days * 86_400 + t[0] * 3_600 + t[1] * 60 + t[2];
    seconds * 1_000_000_000 + units(&format!("0.{frac}0")) as i64
}

#[test]
fn helpers_agree_with_hand_computed_values() {
    assert_eq!(units("0.00001305"), 13_050);
    assert_eq!(units("985"), 985_000_000_000);
    assert_eq!(units("1618677817.1295161"), 1_618_677_817_129_516_100);
    assert_eq!(epoch_ns("1970-01-01T00:00:00Z"), 0);
    // Python: datetime(2021, 4, 17, 16, 43, 37, 89723, tzinfo=timezone.utc).timestamp()
    assert_eq!(
        epoch_ns("2021-04-17T16:43:37.089723Z"),
        1_618_677_817_089_723_000
    );
    assert_eq!(epoch_ns("2024-03-01T00:00:00Z"), 1_709_251_200_000_000_000);
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

fn capture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/samples/captures/COINBASE.ws.28.0")
        .canonicalize()
        .expect("the capture shared/samples/captures/COINBASE.ws.28.0 beside the repository")
}

/// The received lines of the capture: `(receive time text, raw message)`. The first line names
/// the URL; `URL <- ts: msg` lines are what the client sent.
fn received() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(capture_path()).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().contains(" <-> "));
    lines
        .filter(|line| !line.starts_with("wss://"))
        .map(|line| {
            let (ts, raw) = line.split_once(": ").unwrap();
            (ts.to_string(), raw.to_string())
        })
        .collect()
}

struct Harness {
    venue: Coinbase,
    ctx: ParseCtx,
    registry: Arc<Registry>,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(Coinbase::parser())
    }

    fn with(venue: Coinbase) -> Harness {
        let (registry, ctx) = common::context(Coinbase::PREFIX);
        Harness {
            ctx,
            venue,
            registry,
        }
    }

    /// Parses one message; its ticks and events.
    fn parse(&mut self, text: &str, ts_recv: i64) -> Result<(Vec<Tick>, Vec<Event>), ParseError> {
        common::parse(&mut self.venue, &mut self.ctx, text, ts_recv)
    }

    fn ok(&mut self, text: &str) -> (Vec<Tick>, Vec<Event>) {
        self.parse(text, TS_RECV)
            .unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    fn name(&self, id: InstrumentId) -> String {
        self.registry.get(id).unwrap().name.to_string()
    }

    fn id(&self, name: &str) -> InstrumentId {
        self.registry.id(name).unwrap()
    }
}

fn trade(tick: &Tick) -> Trade {
    assert_eq!(tick.kind(), TickKind::Trade);
    tick.as_trade().unwrap()
}

fn quote(tick: &Tick) -> Quote {
    assert_eq!(tick.kind(), TickKind::Quote);
    tick.as_quote().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Golden: the whole capture.

#[test]
fn every_received_line_of_the_capture_parses() {
    let lines = received();
    assert_eq!(lines.len(), 4996);
    let mut h = Harness::new();
    let mut ticks = 0;
    for (ts, raw) in &lines {
        let (t, _) = h
            .parse(raw, units(ts) as i64)
            .unwrap_or_else(|e| panic!("{e}: {raw}"));
        ticks += t.len();
    }
    assert_eq!(ticks, 31 + 10 + 41);
}

#[test]
fn golden_every_match_last_match_and_ticker_of_the_capture() {
    let mut h = Harness::new();
    let (mut matches, mut last_matches, mut tickers, mut confirmed) = (0, 0, 0, 0);
    for (ts, raw) in received() {
        let ts_recv = units(&ts) as i64;
        let (ticks, events) = h.parse(&raw, ts_recv).unwrap();
        let v: Value = serde_json::from_str(&raw).unwrap();
        let s = |key: &str| v[key].as_str().unwrap().to_string();
        for event in &events {
            assert!(matches!(event, Event::Confirmed(_)), "{event:?} at {raw}");
            confirmed += 1;
        }
        match v["type"].as_str().unwrap() {
            kind @ ("match" | "last_match") => {
                if kind == "match" {
                    matches += 1;
                } else {
                    last_matches += 1;
                }
                assert_eq!(ticks.len(), 1, "{raw}");
                let tick = &ticks[0];
                let t = trade(tick);
                assert_eq!(
                    h.name(tick.instrument),
                    format!("COINBASE:{}", s("product_id"))
                );
                assert_eq!(i128::from(t.price.units()), units(&s("price")), "{raw}");
                assert_eq!(i128::from(t.size.units()), units(&s("size")), "{raw}");
                assert_eq!(t.id, v["trade_id"].as_u64().unwrap());
                // The maker's side in the message; the aggressor was the other.
                let expected = match s("side").as_str() {
                    "sell" => Side::Buy,
                    "buy" => Side::Sell,
                    other => panic!("side {other}"),
                };
                assert_eq!(t.side, expected, "{raw}");
                assert_eq!(tick.ts_event, epoch_ns(&s("time")));
                assert_eq!(tick.ts_recv, ts_recv);
            }
            "ticker" => {
                tickers += 1;
                assert_eq!(ticks.len(), 1, "a ticker is a quote only: {raw}");
                let tick = &ticks[0];
                let q = quote(tick);
                assert_eq!(
                    h.name(tick.instrument),
                    format!("COINBASE:{}", s("product_id"))
                );
                assert_eq!(i128::from(q.bid.units()), units(&s("best_bid")));
                assert_eq!(i128::from(q.ask.units()), units(&s("best_ask")));
                let size = |key: &str| v[key].as_str().map_or(0, units);
                assert_eq!(i128::from(q.bid_size.units()), size("best_bid_size"));
                assert_eq!(i128::from(q.ask_size.units()), size("best_ask_size"));
                let ts_event = v["time"].as_str().map_or(ts_recv, epoch_ns);
                assert_eq!(tick.ts_event, ts_event);
                assert_eq!(tick.ts_recv, ts_recv);
            }
            _ => assert!(ticks.is_empty(), "{raw}"),
        }
    }
    assert_eq!((matches, last_matches, tickers), (31, 10, 41));
    // Three `subscriptions`, and no trade-id gap or sequence step back in the capture.
    assert_eq!(confirmed, 3);
}

// ---------------------------------------------------------------------------------------------
// Exchange: hand-written cases.

#[test]
fn a_match_from_the_capture_by_hand() {
    let mut h = Harness::new();
    let (ticks, events) = h.ok(r#"{"type":"match","trade_id":280232,"maker_order_id":"2a0da34e-61f7-4c36-888e-c9dd15927b16","taker_order_id":"3c82abaa-c01e-4608-be59-6a1e69742891","side":"sell","size":"985","price":"0.00001305","product_id":"SKL-BTC","sequence":177100030,"time":"2021-04-17T16:43:37.089723Z"}"#);
    assert!(events.is_empty());
    assert_eq!(ticks.len(), 1);
    assert_eq!(h.name(ticks[0].instrument), "COINBASE:SKL-BTC");
    assert_eq!(ticks[0].ts_event, 1_618_677_817_089_723_000);
    assert_eq!(ticks[0].ts_recv, TS_RECV);
    assert_eq!(
        trade(&ticks[0]),
        Trade {
            price: "0.00001305".parse().unwrap(),
            size: "985".parse().unwrap(),
            side: Side::Buy,
            id: 280_232,
        }
    );
    assert_eq!(trade(&ticks[0]).price.units(), 13_050);
}

#[test]
fn a_buy_maker_is_a_sell_aggressor() {
    let mut h = Harness::new();
    let (ticks, _) = h.ok(r#"{"type":"last_match","trade_id":82007,"side":"buy","size":"1008.2","price":"0.5752","product_id":"SKL-GBP","sequence":27883326,"time":"2021-04-17T16:43:29.571587Z"}"#);
    let t = trade(&ticks[0]);
    assert_eq!(t.side, Side::Sell);
    assert_eq!(t.size.units(), 1_008_200_000_000);
    assert_eq!(t.price.units(), 575_200_000);
}

#[test]
fn the_documented_ticker_with_sizes() {
    // Coinbase Exchange WebSocket channels, ticker channel example.
    let mut h = Harness::new();
    let (ticks, events) = h.ok(r#"{"type":"ticker","sequence":37475248783,"product_id":"ETH-USD","price":"1285.22","open_24h":"1310.79","volume_24h":"245532.79269678","low_24h":"1280.52","high_24h":"1313.8","volume_30d":"9788783.60117027","best_bid":"1285.04","best_bid_size":"0.46688654","best_ask":"1285.27","best_ask_size":"1.56637040","side":"buy","time":"2022-10-19T23:28:22.061769Z","trade_id":370843401,"last_size":"11.4396987"}"#);
    assert!(events.is_empty());
    assert_eq!(ticks.len(), 1, "no trade from a ticker");
    assert_eq!(h.name(ticks[0].instrument), "COINBASE:ETH-USD");
    assert_eq!(ticks[0].ts_event, 1_666_222_102_061_769_000);
    let q = quote(&ticks[0]);
    assert_eq!(q.bid.units(), 1_285_040_000_000);
    assert_eq!(q.bid_size.units(), 466_886_540);
    assert_eq!(q.ask.units(), 1_285_270_000_000);
    assert_eq!(q.ask_size.units(), 1_566_370_400);
}

#[test]
fn a_ticker_without_time_or_sizes_takes_the_receive_time_and_zero_sizes() {
    let mut h = Harness::new();
    let (ticks, _) = h.ok(r#"{"type":"ticker","sequence":7,"product_id":"BTC-USD","price":"10","best_bid":"9.5","best_ask":"10.5"}"#);
    assert_eq!(ticks[0].ts_event, TS_RECV);
    let q = quote(&ticks[0]);
    assert_eq!(
        (q.bid.units(), q.ask.units()),
        (9_500_000_000, 10_500_000_000)
    );
    assert_eq!((q.bid_size.units(), q.ask_size.units()), (0, 0));
}

fn exchange_match(trade_id: u64, sequence: u64) -> String {
    format!(
        r#"{{"type":"match","trade_id":{trade_id},"side":"buy","size":"1","price":"100","product_id":"BTC-USD","sequence":{sequence},"time":"2024-01-02T03:04:05.000006Z"}}"#
    )
}

fn exchange_last_match(trade_id: u64, sequence: u64) -> String {
    exchange_match(trade_id, sequence).replace("\"match\"", "\"last_match\"")
}

#[test]
fn a_skipped_trade_id_is_exactly_one_gap() {
    let mut h = Harness::new();
    assert!(h.ok(&exchange_match(100, 1000)).1.is_empty());
    assert!(
        h.ok(&exchange_match(101, 1005)).1.is_empty(),
        "sequence jumps are normal"
    );
    let (ticks, events) = h.ok(&exchange_match(103, 1010));
    assert_eq!(ticks.len(), 1, "the trade after a gap is published");
    let btc = h.id("COINBASE:BTC-USD");
    assert_eq!(
        events,
        [Event::Gap {
            instrument: Some(btc),
            stream: "trade id",
            expected: 102,
            received: 103
        }]
    );
    assert!(h.ok(&exchange_match(104, 1011)).1.is_empty());
    // Another product's ids are its own.
    let eth = exchange_match(7, 3).replace("BTC-USD", "ETH-USD");
    assert!(h.ok(&eth).1.is_empty());
}

#[test]
fn a_sequence_that_goes_back_or_repeats_is_out_of_order() {
    let mut h = Harness::new();
    h.ok(&exchange_match(1, 50));
    let (ticks, events) = h.ok(&exchange_match(2, 50));
    assert_eq!(ticks.len(), 1);
    let btc = h.id("COINBASE:BTC-USD");
    assert_eq!(
        events,
        [Event::OutOfOrder {
            instrument: Some(btc),
            stream: "matches sequence",
            last: 50,
            received: 50
        }]
    );
    // The ticker channel's numbers are checked apart: the same number is fine there.
    let ticker =
        r#"{"type":"ticker","sequence":50,"product_id":"BTC-USD","best_bid":"1","best_ask":"2"}"#;
    assert!(h.ok(ticker).1.is_empty());
    let older = ticker.replace(":50,", ":49,");
    assert_eq!(
        h.ok(&older).1,
        [Event::OutOfOrder {
            instrument: Some(btc),
            stream: "ticker sequence",
            last: 50,
            received: 49
        }]
    );
    // A new connection numbers afresh.
    h.venue.reset();
    assert!(h.ok(ticker).1.is_empty());
}

#[test]
fn a_repeated_trade_id_is_out_of_order() {
    let mut h = Harness::new();
    h.ok(&exchange_match(10, 1));
    let (ticks, events) = h.ok(&exchange_match(10, 2));
    assert_eq!(ticks.len(), 1);
    assert!(matches!(
        events[..],
        [Event::OutOfOrder {
            stream: "trade id",
            last: 10,
            received: 10,
            ..
        }]
    ));
}

#[test]
fn last_match_after_a_reconnect_is_not_published_twice() {
    let mut h = Harness::new();
    h.ok(&exchange_match(10, 100));
    h.venue.reset();
    // Nothing traded while away: the last match is the trade already published.
    let (ticks, events) = h.ok(&exchange_last_match(10, 100));
    assert!(ticks.is_empty());
    assert!(events.is_empty());
    // Two trades while away: the last match shows one was lost.
    h.venue.reset();
    let (ticks, events) = h.ok(&exchange_last_match(12, 120));
    assert_eq!(trade(&ticks[0]).id, 12);
    assert!(matches!(
        events[..],
        [Event::Gap {
            stream: "trade id",
            expected: 11,
            received: 12,
            ..
        }]
    ));
}

fn heartbeat(last_trade_id: u64) -> String {
    format!(
        r#"{{"type":"heartbeat","sequence":90,"last_trade_id":{last_trade_id},"product_id":"BTC-USD","time":"2014-11-07T08:19:28.464459Z"}}"#
    )
}

#[test]
fn a_heartbeat_past_the_last_trade_is_a_gap_reported_once() {
    let mut h = Harness::new();
    // Before any trade there is nothing to compare with.
    assert_eq!(h.ok(&heartbeat(20)), (vec![], vec![]));
    h.ok(&exchange_match(10, 1));
    assert_eq!(h.ok(&heartbeat(10)), (vec![], vec![]));
    let btc = h.id("COINBASE:BTC-USD");
    let (ticks, events) = h.ok(&heartbeat(13));
    assert!(ticks.is_empty());
    // Trades 11, 12 and 13 were lost: received - expected = 3.
    assert_eq!(
        events,
        [Event::Gap {
            instrument: Some(btc),
            stream: "trade id (heartbeat last_trade_id)",
            expected: 11,
            received: 14
        }]
    );
    // The next trade follows on.
    assert!(h.ok(&exchange_match(14, 2)).1.is_empty());
    let (_, events) = h.ok(&heartbeat(15));
    assert!(matches!(
        events[..],
        [Event::Gap {
            expected: 15,
            received: 16,
            ..
        }]
    ));
}

#[rstest]
#[case::subscriptions(
    r#"{"type":"subscriptions","channels":[{"name":"ticker","product_ids":["BTC-USD"]}]}"#
)]
fn subscriptions_are_confirmed(#[case] text: &str) {
    let mut h = Harness::new();
    let (ticks, events) = h.ok(text);
    assert!(ticks.is_empty());
    match &events[..] {
        [Event::Confirmed(what)] => assert!(what.contains("BTC-USD"), "{what}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors_are_venue_errors() {
    let mut h = Harness::new();
    let (_, events) = h.ok(r#"{"type":"error","message":"Failed to subscribe","reason":"BTC-XYZ is not a valid product"}"#);
    assert_eq!(
        events,
        [Event::VenueError(
            "Failed to subscribe: BTC-XYZ is not a valid product".into()
        )]
    );
    let (_, events) = h.ok(r#"{"type":"error","message":"bad \"quote\""}"#);
    assert_eq!(events, [Event::VenueError("bad \"quote\"".into())]);
}

#[rstest]
#[case(r#"{"type":"snapshot","product_id":"BTC-USD","bids":[["10101.10","0.45054140"]],"asks":[["10102.55","0.57753524"]]}"#)]
#[case(r#"{"type":"l2update","product_id":"BTC-USD","time":"2019-08-14T20:42:27.265Z","changes":[["buy","10101.80000000","0.162567"]]}"#)]
#[case(r#"{"type":"received","time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD","sequence":10,"order_id":"d50ec984-77a8-460a-b958-66f114b0de9b","size":"1.34","price":"502.1","side":"buy","order_type":"limit"}"#)]
#[case(r#"{"type":"open","time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD","sequence":10,"order_id":"x","price":"200.2","remaining_size":"1.00","side":"sell"}"#)]
#[case(r#"{"type":"done","time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD","sequence":10,"price":"200.2","order_id":"x","reason":"filled","side":"sell","remaining_size":"0"}"#)]
#[case(r#"{"type":"change","time":"2014-11-07T08:19:27.028459Z","sequence":80,"order_id":"x","side":"sell","product_id":"BTC-USD","old_size":"12.234412","new_size":"5.23512","price":"400.23"}"#)]
#[case(r#"{"type":"activate","product_id":"test-product","timestamp":"1483736448.299000","user_id":"12","profile_id":"30000727-d308-cf50-7b1c-c06deb1934fc","order_id":"7b52009b-64fd-0a2a-49e6-d8a939753077","stop_type":"entry","side":"buy","stop_price":"80","size":"2","funds":"50","private":true}"#)]
#[case(r#"{"type":"status","products":[{"id":"BTC-USD","status":"online"}],"currencies":[]}"#)]
#[case(r#"{"type":"heartbeat","sequence":90,"last_trade_id":20,"product_id":"BTC-USD","time":"2014-11-07T08:19:28.464459Z"}"#)]
fn kinds_without_market_data_give_nothing(#[case] text: &str) {
    let mut h = Harness::new();
    assert_eq!(h.ok(text), (vec![], vec![]));
}

#[test]
fn an_unknown_kind_is_unknown() {
    let mut h = Harness::new();
    let err = h
        .parse(r#"{"type":"auction","product_id":"BTC-USD"}"#, TS_RECV)
        .unwrap_err();
    assert!(
        matches!(err, ParseError::Unknown(ref k) if k == "auction"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Advanced Trade: the documented messages (Advanced Trade WebSocket Channels page).

const AT_MARKET_TRADES: &str = r#"{
  "channel": "market_trades",
  "client_id": "",
  "timestamp": "2023-02-09T20:19:35.39625135Z",
  "sequence_num": 0,
  "events": [
    {
      "type": "snapshot",
      "trades": [
        {
          "trade_id": "000000000",
          "product_id": "ETH-USD",
          "price": "1260.01",
          "size": "0.3",
          "side": "BUY",
          "time": "2019-08-14T20:42:27.265Z"
        }
      ]
    }
  ]
}"#;

const AT_TICKER: &str = r#"{
  "channel": "ticker",
  "client_id": "",
  "timestamp": "2023-02-09T20:30:37.167359596Z",
  "sequence_num": 0,
  "events": [
    {
      "type": "snapshot",
      "tickers": [
        {
          "type": "ticker",
          "product_id": "BTC-USD",
          "price": "21932.98",
          "volume_24_h": "16038.28770938",
          "low_24_h": "21835.29",
          "high_24_h": "23011.18",
          "low_52_w": "15460",
          "high_52_w": "48240",
          "price_percent_chg_24_h": "-4.15775596190603",
          "best_bid": "21931.98",
          "best_bid_quantity": "8000.21",
          "best_ask": "21933.98",
          "best_ask_quantity": "8038.07770938"
        }
      ]
    }
  ]
}"#;

const AT_HEARTBEATS: &str = r#"{
  "channel": "heartbeats",
  "client_id": "",
  "timestamp": "2023-06-23T20:31:26.122969572Z",
  "sequence_num": 0,
  "events": [
    {
      "current_time": "2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105",
      "heartbeat_counter": "3049"
    }
  ]
}"#;

const AT_SUBSCRIPTIONS: &str = r#"{
  "channel": "subscriptions",
  "client_id": "",
  "timestamp": "2023-02-09T20:32:50.714964855Z",
  "sequence_num": 2,
  "events": [
    {
      "subscriptions": {
        "ticker": ["ETH-USD", "BTC-USD"]
      }
    }
  ]
}"#;

#[test]
fn advanced_documented_market_trades() {
    let mut h = Harness::new();
    let (ticks, events) = h.ok(AT_MARKET_TRADES);
    assert!(events.is_empty());
    assert_eq!(ticks.len(), 1);
    assert_eq!(h.name(ticks[0].instrument), "COINBASE:ETH-USD");
    assert_eq!(ticks[0].ts_event, 1_565_815_347_265_000_000);
    assert_eq!(ticks[0].ts_recv, TS_RECV);
    assert_eq!(
        trade(&ticks[0]),
        Trade {
            price: "1260.01".parse().unwrap(),
            size: "0.3".parse().unwrap(),
            // `side` is the maker's: a BUY maker means a seller crossed the spread.
            side: Side::Sell,
            id: 0,
        }
    );
    assert_eq!(trade(&ticks[0]).price.units(), 1_260_010_000_000);
}

#[test]
fn advanced_documented_ticker() {
    let mut h = Harness::new();
    let (ticks, events) = h.ok(AT_TICKER);
    assert!(events.is_empty());
    assert_eq!(ticks.len(), 1, "a ticker is a quote only");
    assert_eq!(h.name(ticks[0].instrument), "COINBASE:BTC-USD");
    assert_eq!(ticks[0].ts_event, 1_675_974_637_167_359_596);
    let q = quote(&ticks[0]);
    assert_eq!(q.bid.units(), 21_931_980_000_000);
    assert_eq!(q.bid_size.units(), 8_000_210_000_000);
    assert_eq!(q.ask.units(), 21_933_980_000_000);
    assert_eq!(q.ask_size.units(), 8_038_077_709_380);
}

#[test]
fn advanced_documented_heartbeats_and_subscriptions() {
    let mut h = Harness::new();
    assert_eq!(h.ok(AT_HEARTBEATS), (vec![], vec![]));
    let mut h = Harness::new();
    let (ticks, events) = h.ok(AT_SUBSCRIPTIONS);
    assert!(ticks.is_empty());
    match &events[..] {
        [Event::Confirmed(what)] => assert!(what.contains("ETH-USD"), "{what}"),
        other => panic!("{other:?}"),
    }
}

fn at_update(sequence_num: u64, trade_ids: &[u64]) -> String {
    at_trades("update", sequence_num, trade_ids)
}

fn at_trades(kind: &str, sequence_num: u64, trade_ids: &[u64]) -> String {
    let trades: Vec<Value> = trade_ids
        .iter()
        .map(|id| {
            json!({"trade_id": id.to_string(), "product_id": "BTC-USD", "price": "42000.5",
                   "size": "0.001", "side": "SELL", "time": "2024-01-02T03:04:05.123456Z"})
        })
        .collect();
    json!({"channel": "market_trades", "client_id": "", "timestamp": "2024-01-02T03:04:05.2Z",
           "sequence_num": sequence_num, "events": [{"type": kind, "trades": trades}]})
    .to_string()
}

#[test]
fn advanced_update_trades_in_order_with_a_buy_aggressor() {
    let mut h = Harness::new();
    let (ticks, events) = h.ok(&at_update(0, &[5, 6]));
    assert!(events.is_empty());
    let trades: Vec<Trade> = ticks.iter().map(trade).collect();
    assert_eq!(trades.iter().map(|t| t.id).collect::<Vec<_>>(), [5, 6]);
    assert!(trades.iter().all(|t| t.side == Side::Buy));
    assert_eq!(trades[0].price.units(), 42_000_500_000_000);
    assert_eq!(trades[0].size.units(), 1_000_000);
    assert_eq!(ticks[0].ts_event, 1_704_164_645_123_456_000);
}

#[test]
fn advanced_sequence_num_gap_and_step_back() {
    let mut h = Harness::new();
    assert!(h.ok(&at_update(0, &[1])).1.is_empty());
    assert!(h.ok(&at_update(1, &[2])).1.is_empty());
    let (ticks, events) = h.ok(&at_update(3, &[3]));
    assert_eq!(ticks.len(), 1);
    assert_eq!(
        events,
        [Event::Gap {
            instrument: None,
            stream: "sequence_num",
            expected: 2,
            received: 3
        }]
    );
    // Heartbeats and other channels count too.
    let heartbeat = AT_HEARTBEATS.replace("\"sequence_num\": 0", "\"sequence_num\": 4");
    assert!(h.ok(&heartbeat).1.is_empty());
    assert_eq!(
        h.ok(&heartbeat).1,
        [Event::OutOfOrder {
            instrument: None,
            stream: "sequence_num",
            last: 4,
            received: 4
        }]
    );
    // A new connection starts again from 0.
    h.venue.reset();
    assert!(h.ok(&at_update(0, &[4])).1.is_empty());
}

#[test]
fn advanced_snapshot_after_a_reconnect_publishes_only_new_trades() {
    let mut h = Harness::new();
    // Snapshots list the newest first; all are new on the first connection.
    let (ticks, _) = h.ok(&at_trades("snapshot", 0, &[105, 104, 103]));
    assert_eq!(
        ticks.iter().map(|t| trade(t).id).collect::<Vec<_>>(),
        [105, 104, 103]
    );
    let (ticks, _) = h.ok(&at_update(1, &[106]));
    assert_eq!(ticks.len(), 1);
    h.venue.reset();
    let (ticks, events) = h.ok(&at_trades("snapshot", 0, &[108, 107, 106, 105]));
    assert!(events.is_empty());
    assert_eq!(
        ticks.iter().map(|t| trade(t).id).collect::<Vec<_>>(),
        [108, 107]
    );
}

#[rstest]
#[case(r#"{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":0,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"21921.73","new_quantity":"0.06317902"}]}]}"#)]
#[case(r#"{"channel":"status","client_id":"","timestamp":"2023-02-09T20:29:49.753424311Z","sequence_num":0,"events":[{"type":"snapshot","products":[{"product_type":"SPOT","id":"BTC-USD","base_currency":"BTC","quote_currency":"USD","base_increment":"0.00000001","quote_increment":"0.01","display_name":"BTC/USD","status":"online","status_message":"","min_market_funds":"1"}]}]}"#)]
#[case(r#"{"channel":"candles","client_id":"","timestamp":"2023-06-09T20:19:35.39625135Z","sequence_num":0,"events":[{"type":"snapshot","candles":[{"start":"1688998200","high":"1867.72","low":"1865.63","open":"1867.38","close":"1866.81","volume":"0.20269406","product_id":"ETH-USD"}]}]}"#)]
fn advanced_channels_without_ticks_give_nothing(#[case] text: &str) {
    let mut h = Harness::new();
    assert_eq!(h.ok(text), (vec![], vec![]));
}

#[test]
fn advanced_errors_and_unknown_channels() {
    let mut h = Harness::new();
    let (_, events) = h.ok(r#"{"type":"error","message":"failure to subscribe"}"#);
    assert_eq!(events, [Event::VenueError("failure to subscribe".into())]);
    let err = h
        .parse(
            r#"{"channel":"user","sequence_num":0,"events":[]}"#,
            TS_RECV,
        )
        .unwrap_err();
    assert!(
        matches!(err, ParseError::Unknown(ref k) if k == "user"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Malformed input: an error, never a panic.

const GOOD_MATCH: &str = r#"{"type":"match","trade_id":1,"side":"buy","size":"1","price":"100","product_id":"BTC-USD","sequence":1,"time":"2024-01-02T03:04:05Z"}"#;

#[rstest]
#[case::empty("")]
#[case::not_json("match")]
#[case::truncated(&GOOD_MATCH[..GOOD_MATCH.len() - 1])]
#[case::truncated_half(&GOOD_MATCH[..60])]
#[case::array("[]")]
#[case::null("null")]
#[case::number("42")]
#[case::no_kind(r#"{"product_id":"BTC-USD"}"#)]
#[case::kind_not_a_string(r#"{"type":5}"#)]
#[case::unknown_kind(r#"{"type":"whatever"}"#)]
#[case::missing_price(&GOOD_MATCH.replace(r#""price":"100","#, ""))]
#[case::missing_time(&GOOD_MATCH.replace(r#","time":"2024-01-02T03:04:05Z""#, ""))]
#[case::missing_trade_id(&GOOD_MATCH.replace(r#""trade_id":1,"#, ""))]
#[case::missing_sequence(&GOOD_MATCH.replace(r#""sequence":1,"#, ""))]
#[case::price_a_number(&GOOD_MATCH.replace(r#""price":"100""#, r#""price":100"#))]
#[case::price_null(&GOOD_MATCH.replace(r#""price":"100""#, r#""price":null"#))]
#[case::price_an_object(&GOOD_MATCH.replace(r#""price":"100""#, r#""price":{"a":1}"#))]
#[case::price_escaped(&GOOD_MATCH.replace(r#""price":"100""#, r#""price":"1\u0030""#))]
#[case::price_text(&GOOD_MATCH.replace(r#""price":"100""#, r#""price":"abc""#))]
#[case::price_empty(&GOOD_MATCH.replace(r#""price":"100""#, r#""price":"""#))]
#[case::too_many_decimals(&GOOD_MATCH.replace(r#""size":"1""#, r#""size":"0.0000000001""#))]
#[case::huge_price(&GOOD_MATCH.replace(r#""price":"100""#, r#""price":"99999999999""#))]
#[case::huge_exponent(&GOOD_MATCH.replace(r#""price":"100""#, r#""price":"1e99999""#))]
#[case::negative_size(&GOOD_MATCH.replace(r#""size":"1""#, r#""size":"-1""#))]
#[case::zero_price(&GOOD_MATCH.replace(r#""price":"100""#, r#""price":"0""#))]
#[case::trade_id_a_string(&GOOD_MATCH.replace(r#""trade_id":1"#, r#""trade_id":"1""#))]
#[case::trade_id_negative(&GOOD_MATCH.replace(r#""trade_id":1"#, r#""trade_id":-1"#))]
#[case::trade_id_fraction(&GOOD_MATCH.replace(r#""trade_id":1"#, r#""trade_id":1.5"#))]
#[case::trade_id_huge(&GOOD_MATCH.replace(r#""trade_id":1"#, r#""trade_id":184467440737095516160"#))]
#[case::side_unknown(&GOOD_MATCH.replace(r#""side":"buy""#, r#""side":"BUY""#))]
#[case::time_bad(&GOOD_MATCH.replace("2024-01-02T03:04:05Z", "2024-13-02T03:04:05Z"))]
#[case::time_a_number(&GOOD_MATCH.replace(r#""time":"2024-01-02T03:04:05Z""#, r#""time":1704164645"#))]
#[case::product_a_number(&GOOD_MATCH.replace(r#""product_id":"BTC-USD""#, r#""product_id":7"#))]
#[case::product_with_space(&GOOD_MATCH.replace("BTC-USD", "BTC USD"))]
#[case::duplicate_field(&GOOD_MATCH.replace(r#""size":"1""#, r#""size":"1","size":"2""#))]
#[case::ticker_without_bid(r#"{"type":"ticker","product_id":"BTC-USD","best_ask":"1"}"#)]
#[case::ticker_negative_ask(
    r#"{"type":"ticker","product_id":"BTC-USD","best_bid":"1","best_ask":"-2"}"#
)]
#[case::ticker_bad_size(
    r#"{"type":"ticker","product_id":"BTC-USD","best_bid":"1","best_ask":"2","best_bid_size":"x"}"#
)]
#[case::heartbeat_without_id(r#"{"type":"heartbeat","product_id":"BTC-USD","sequence":1}"#)]
#[case::advanced_events_not_a_list(r#"{"channel":"market_trades","sequence_num":0,"events":{}}"#)]
#[case::advanced_channel_only(r#"{"channel":"market_trades"}"#)]
#[case::advanced_bad_sequence(r#"{"channel":"heartbeats","sequence_num":"1","events":[]}"#)]
#[case::advanced_bad_event_type(&at_trades("bogus", 0, &[1]))]
#[case::advanced_trade_id_not_digits(&at_update(0, &[1]).replace(r#""trade_id":"1""#, r#""trade_id":"1a""#))]
#[case::advanced_trade_id_signed(&at_update(0, &[1]).replace(r#""trade_id":"1""#, r#""trade_id":"+1""#))]
#[case::advanced_trade_id_number(&at_update(0, &[1]).replace(r#""trade_id":"1""#, r#""trade_id":1"#))]
#[case::advanced_side_lower(&at_update(0, &[1]).replace(r#""side":"SELL""#, r#""side":"sell""#))]
#[case::advanced_missing_size(&at_update(0, &[1]).replace(r#""size":"0.001","#, ""))]
#[case::advanced_ticker_missing_bid(&AT_TICKER.replace(r#""best_bid": "21931.98","#, ""))]
#[case::advanced_ticker_empty_bid(&AT_TICKER.replace(r#""best_bid": "21931.98""#, r#""best_bid": """#))]
#[case::advanced_ticker_bad_timestamp(&AT_TICKER.replace("2023-02-09T20:30:37", "2023-02-30T20:30:37"))]
fn malformed_messages_are_errors(#[case] text: &str) {
    let mut h = Harness::new();
    assert!(h.parse(text, TS_RECV).is_err(), "{text}");
}

/// Real messages to mutate: a sample of the capture and the Advanced Trade documents.
fn seeds() -> Vec<String> {
    let mut seeds: Vec<String> = received()
        .into_iter()
        .map(|(_, raw)| raw)
        .filter(|raw| !raw.contains("\"l2update\"") && !raw.contains("\"snapshot\",\"product_id\""))
        .collect();
    seeds.extend([AT_MARKET_TRADES, AT_TICKER, AT_HEARTBEATS, AT_SUBSCRIPTIONS].map(String::from));
    seeds.push(heartbeat(3));
    seeds
}

fn parse_any(h: &mut Harness, text: &str) {
    let _ = h.parse(text, TS_RECV);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        let mut h = Harness::new();
        parse_any(&mut h, &text);
    }

    #[test]
    fn arbitrary_json_like_text_never_panics(text in r#"[{}\[\]":,0-9a-z_.\-eE ]{0,200}"#) {
        let mut h = Harness::new();
        parse_any(&mut h, &format!("{{\"type\":\"match\",{text}"));
        parse_any(&mut h, &format!("{{\"channel\":\"market_trades\",\"events\":[{text}"));
        parse_any(&mut h, &text);
    }

    #[test]
    fn mutated_real_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let seeds = seeds();
        let mut bytes = seeds[pick.index(seeds.len())].clone().into_bytes();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
        }
        let mut h = Harness::new();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        parse_any(&mut h, &text);
        let end = cut.index(text.len() + 1);
        if text.is_char_boundary(end) {
            parse_any(&mut h, &text[..end]);
        }
        // The same parser goes on reading good messages afterwards.
        prop_assert!(h.parse(GOOD_MATCH, TS_RECV).is_ok());
    }

    #[test]
    fn field_values_never_panic(value in r#"(-?[0-9]{0,25}(\.[0-9]{0,15})?([eE][+-]?[0-9]{1,6})?|"[^"\\]{0,30}"|null|true|\[\]|\{\})"#) {
        let mut h = Harness::new();
        for field in ["trade_id", "sequence", "price", "size", "side", "time", "product_id"] {
            let v: Value = serde_json::from_str(GOOD_MATCH).unwrap();
            let text = v.to_string().replace(
                &format!("\"{field}\":{}", v[field]),
                &format!("\"{field}\":{value}"),
            );
            parse_any(&mut h, &text);
        }
        for field in ["trade_id", "price", "size", "side", "time"] {
            let text = at_update(0, &[1]);
            let v: Value = serde_json::from_str(&text).unwrap();
            let old = &v["events"][0]["trades"][0][field];
            let text = text.replace(&format!("\"{field}\":{old}"), &format!("\"{field}\":{value}"));
            parse_any(&mut h, &text);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration and subscription.

fn config(toml_text: &str) -> VenueConfig {
    toml::from_str(toml_text).unwrap()
}

#[rstest]
#[case::key_env(
    "instruments = [\"BTC-USD\"]\nkey_env = \"K\"",
    "feeds.coinbase.key_env"
)]
#[case::secret_env(
    "instruments = [\"BTC-USD\"]\nsecret_env = \"S\"",
    "feeds.coinbase.secret_env"
)]
#[case::api("instruments = [\"BTC-USD\"]\napi = \"pro\"", "feeds.coinbase.api")]
#[case::no_instruments("", "feeds.coinbase.instruments")]
#[case::lower_case("instruments = [\"btc-usd\"]", "feeds.coinbase.instruments")]
#[case::bad_symbol("instruments = [\"BTC USD\"]", "feeds.coinbase.instruments")]
#[case::unknown_channel(
    "instruments = [\"BTC-USD\"]\nchannels = [\"level2\"]",
    "feeds.coinbase.channels"
)]
#[case::exchange_channel_on_advanced(
    "instruments = [\"BTC-USD\"]\napi = \"advanced\"\nchannels = [\"matches\"]",
    "feeds.coinbase.channels"
)]
#[case::advanced_channel_on_exchange(
    "instruments = [\"BTC-USD\"]\nchannels = [\"market_trades\"]",
    "feeds.coinbase.channels"
)]
#[case::url(
    "instruments = [\"BTC-USD\"]\nurl = \"https://x\"",
    "feeds.coinbase.url"
)]
#[case::shared_key(
    "instruments = [\"BTC-USD\"]\nstale_after_ms = 0",
    "feeds.coinbase.stale_after_ms"
)]
fn config_errors_name_the_key(#[case] toml_text: &str, #[case] key: &str) {
    let err = Coinbase::new(&config(toml_text)).unwrap_err().to_string();
    assert!(err.contains(&format!("`{key}`")), "{err}");
}

fn connect(venue: &mut Coinbase) -> Vec<Value> {
    let mut out = Vec::new();
    venue.on_connect(&mut out);
    out.iter()
        .map(|m| serde_json::from_str(m).unwrap())
        .collect()
}

#[test]
fn exchange_subscribes_with_one_message() {
    let mut venue = Coinbase::new(&config("instruments = [\"BTC-USD\", \"ETH-USD\"]")).unwrap();
    assert_eq!(venue.api(), Api::Exchange);
    assert_eq!(venue.name(), "coinbase");
    assert_eq!(venue.prefix(), "COINBASE");
    assert_eq!(venue.url(), "wss://ws-feed.exchange.coinbase.com");
    assert_eq!(
        connect(&mut venue),
        [
            json!({"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"],
                "channels": ["matches", "ticker", "heartbeat"]})
        ]
    );
    assert_eq!(
        venue.channels(),
        [
            ("COINBASE:BTC-USD".to_string(), TickKind::Trade),
            ("COINBASE:BTC-USD".to_string(), TickKind::Quote),
            ("COINBASE:ETH-USD".to_string(), TickKind::Trade),
            ("COINBASE:ETH-USD".to_string(), TickKind::Quote),
        ]
    );
    assert_eq!(venue.keepalive(), None);

    let mut venue = Coinbase::new(&config(
        "instruments = [\"BTC-USD\"]\napi = \"exchange\"\nchannels = [\"ticker\"]\nurl = \"wss://example.invalid/feed\"",
    ))
    .unwrap();
    assert_eq!(venue.url(), "wss://example.invalid/feed");
    assert_eq!(
        connect(&mut venue),
        [json!({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["ticker"]})]
    );
    assert_eq!(
        venue.channels(),
        [("COINBASE:BTC-USD".to_string(), TickKind::Quote)]
    );
}

#[test]
fn advanced_subscribes_once_per_channel() {
    let mut venue = Coinbase::new(&config(
        "instruments = [\"BTC-USD\", \"ETH-USD\"]\napi = \"advanced\"",
    ))
    .unwrap();
    assert_eq!(venue.api(), Api::Advanced);
    assert_eq!(venue.url(), "wss://advanced-trade-ws.coinbase.com");
    assert_eq!(
        connect(&mut venue),
        [
            json!({"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "market_trades"}),
            json!({"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "ticker"}),
            // The documented heartbeats request names no products.
            json!({"type": "subscribe", "channel": "heartbeats"}),
        ]
    );
    assert_eq!(
        venue.channels(),
        [
            ("COINBASE:BTC-USD".to_string(), TickKind::Trade),
            ("COINBASE:BTC-USD".to_string(), TickKind::Quote),
            ("COINBASE:ETH-USD".to_string(), TickKind::Trade),
            ("COINBASE:ETH-USD".to_string(), TickKind::Quote),
        ]
    );
}

#[test]
fn the_replay_parser_sends_nothing_and_watches_nothing() {
    let mut venue = Coinbase::parser();
    assert!(connect(&mut venue).is_empty());
    assert!(venue.channels().is_empty());
    assert_eq!(venue.api(), Api::Exchange);
}

#[test]
fn the_example_config_builds_a_feed() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/coinbase.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let file: toml::Table = toml::from_str(&text).unwrap();
    let feeds = file["feeds"].as_table().unwrap();
    assert_eq!(feeds["synthetic"]["enabled"].as_bool(), Some(false));
    let table = feeds["coinbase"].clone();
    let config: VenueConfig = table.try_into().unwrap();
    let mut venue = Coinbase::new(&config).unwrap();
    assert_eq!(venue.api(), Api::Exchange);
    assert_eq!(
        connect(&mut venue),
        [
            json!({"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"],
                "channels": ["matches", "ticker", "heartbeat"]})
        ]
    );
}
