//! The Alpaca stock stream parser against Alpaca's documented messages, with expected values
//! written by hand from the documentation; the session (auth, subscription reply, errors,
//! reset); malformed input; `[feeds.alpaca]` and its credentials.
//!
//! Sources of the documented messages:
//! - control messages (`connected`, `authenticated`, the error list, `subscription`):
//!   <https://docs.alpaca.markets/docs/streaming-market-data>;
//! - trades, quotes, bars, corrections, cancels, LULDs, statuses and the streaming examples:
//!   <https://docs.alpaca.markets/docs/real-time-stock-pricing-data>.

mod common;

use common::{Harness, TS_RECV, config, mutate, path};
use engine::{Price, Qty, Quote, Side, TickKind, Trade};
use feeds::alpaca::Alpaca;
use feeds::{Event, ParseError, Venue, VenueConfig};
use proptest::prelude::*;
use rstest::rstest;

const CONNECTED: &str = r#"[{"T":"success","msg":"connected"}]"#;
const AUTHENTICATED: &str = r#"[{"T":"success","msg":"authenticated"}]"#;
const SUBSCRIPTION: &str = r#"[{"T":"subscription","trades":["AAPL"],"quotes":["AMD","CLDR"],"bars":["*"],"updatedBars":[],"dailyBars":["VOO"],"statuses":["*"],"lulds":[],"corrections":["AAPL"],"cancelErrors":["AAPL"]}]"#;
const TRADE: &str = r#"[{"T":"t","i":96921,"S":"AAPL","x":"D","p":126.55,"s":1,"t":"2021-02-22T15:51:44.208Z","c":["@","I"],"z":"C"}]"#;
const QUOTES: &str = r#"[{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"X","ap":87.67,"as":1,"t":"2021-02-22T15:51:45.3355677Z","c":["R"],"z":"C"},{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"Q","ap":87.68,"as":4,"t":"2021-02-22T15:51:45.335689322Z","c":["R"],"z":"C"},{"T":"q","S":"AMD","bx":"U","bp":87.66,"bs":1,"ax":"X","ap":87.67,"as":1,"t":"2021-02-22T15:51:45.335806018Z","c":["R"],"z":"C"}]"#;
const TRADES_2023: &str = r#"[{"T":"t","S":"AAPL","i":628,"x":"K","p":162.92,"s":3,"c":["@","F","T","I"],"z":"C","t":"2023-04-06T11:54:26.838232225Z"},{"T":"t","S":"AAPL","i":75,"x":"Z","p":162.92,"s":3,"c":["@","F","T","I"],"z":"C","t":"2023-04-06T11:54:26.838562809Z"},{"T":"t","S":"AAPL","i":1465,"x":"P","p":162.91,"s":71,"c":["@","F","T","I"],"z":"C","t":"2023-04-06T11:54:26.83915973Z"}]"#;
const QUOTE_2023: &str = r#"[{"T":"q","S":"AMD","bx":"K","bp":91.95,"bs":2,"ax":"Q","ap":91.98,"as":1,"c":["R"],"z":"C","t":"2023-04-06T11:54:21.670905508Z"}]"#;

/// Documented objects that carry no trade or quote, each wrapped in the array every message
/// arrives in.
const NO_TICK: [&str; 6] = [
    r#"[{
"T": "b",
"S": "SPY",
"o": 388.985,
"h": 389.13,
"l": 388.975,
"c": 389.12,
"v": 49378,
"t": "2021-02-22T19:15:00Z"
}]"#,
    r#"[{
"T": "c",
"S": "EEM",
"x": "M",
"oi": 52983525033527,
"op": 39.1582,
"os": 440000,
"oc": [
" ",
"7"
],
"ci": 52983525034326,
"cp": 39.1809,
"cs": 440000,
"cc": [
" ",
"7"
],
"z": "B",
"t": "2023-04-06T14:25:06.542305024Z"
}]"#,
    r#"[{
"T": "x",
"S": "GOOGL",
"i": 465,
"x": "D",
"p": 105.31,
"s": 300,
"a": "C",
"z": "C",
"t": "2023-04-06T13:15:42.83540958Z"
}]"#,
    r#"[{
"T": "l",
"S": "IONM",
"u": 3.24,
"d": 2.65,
"i": "B",
"t": "2023-04-06T13:34:45.565004401Z",
"z": "C"
}]"#,
    r#"[{
"T": "s",
"S": "AAPL",
"sc": "H",
"sm": "Trading Halt",
"rc": "T12",
"rm": "Trading Halted; For information requested by NASDAQ",
"t": "2021-02-22T19:15:00Z",
"z": "C"
}]"#,
    r#"[{
"T": "i",
"S": "INAQU",
"p": 9.12,
"z": "C",
"t": "2024-12-13T19:58:09.242138635Z"
}]"#,
];

/// Variables no test process sets.
const UNSET_KEY: &str = "NEXAMD_TEST_ALPACA_KEY_NEVER_SET_51c2";
const UNSET_SECRET: &str = "NEXAMD_TEST_ALPACA_SECRET_NEVER_SET_9d04";

impl Harness<Alpaca> {
    fn parser() -> Harness<Alpaca> {
        Harness::new(Alpaca::parser())
    }

    /// The live feed for AAPL and MSFT, key and secret taken from `PATH` (set in every test
    /// process).
    fn live() -> Harness<Alpaca> {
        Harness::new(Alpaca::new(&live_config()).unwrap())
    }
}

fn live_config() -> VenueConfig {
    VenueConfig {
        key_env: Some("PATH".into()),
        secret_env: Some("PATH".into()),
        ..config(&["AAPL", "MSFT"])
    }
}

fn config_error(config: &VenueConfig) -> (String, String) {
    common::config_error(Alpaca::new(config))
}

fn trade(id: u64, price: i64, size: i64) -> Trade {
    Trade {
        price: Price::from_units(price),
        size: Qty::from_units(size),
        side: Side::Unknown,
        id,
    }
}

#[test]
fn documented_trade() {
    let mut h = Harness::parser();
    let out = h.parse(TRADE);
    out.result.unwrap();
    assert_eq!(out.ticks.len(), 1);
    let tick = &out.ticks[0];
    assert_eq!(h.name(tick.instrument), "ALPACA:AAPL");
    assert_eq!(tick.kind(), TickKind::Trade);
    // 2021-02-22T15:51:44Z is 1614009104 s.
    assert_eq!(tick.ts_event, 1_614_009_104_208_000_000);
    assert_eq!(tick.ts_recv, TS_RECV);
    assert_eq!(
        tick.as_trade().unwrap(),
        trade(96_921, 126_550_000_000, 1_000_000_000)
    );
}

#[test]
fn documented_quotes_one_message_three_quotes() {
    let mut h = Harness::parser();
    let out = h.parse(QUOTES);
    out.result.unwrap();
    assert_eq!(out.ticks.len(), 3);
    for tick in &out.ticks {
        assert_eq!(h.name(tick.instrument), "ALPACA:AMD");
        assert_eq!(tick.kind(), TickKind::Quote);
    }
    // 2021-02-22T15:51:45Z is 1614009105 s.
    let times: Vec<i64> = out.ticks.iter().map(|t| t.ts_event).collect();
    assert_eq!(
        times,
        [
            1_614_009_105_335_567_700,
            1_614_009_105_335_689_322,
            1_614_009_105_335_806_018
        ]
    );
    let x = Quote {
        bid: Price::from_units(87_660_000_000),
        bid_size: Qty::from_units(1_000_000_000),
        ask: Price::from_units(87_670_000_000),
        ask_size: Qty::from_units(1_000_000_000),
    };
    let q = Quote {
        ask: Price::from_units(87_680_000_000),
        ask_size: Qty::from_units(4_000_000_000),
        ..x
    };
    let quotes: Vec<Quote> = out.ticks.iter().map(|t| t.as_quote().unwrap()).collect();
    assert_eq!(quotes, [x, q, x]);
}

#[test]
fn documented_streaming_example() {
    let mut h = Harness::parser();
    let out = h.parse(QUOTE_2023);
    out.result.unwrap();
    assert_eq!(out.ticks.len(), 1);
    // 2023-04-06T11:54:21Z is 1680782061 s.
    assert_eq!(out.ticks[0].ts_event, 1_680_782_061_670_905_508);
    assert_eq!(
        out.ticks[0].as_quote().unwrap(),
        Quote {
            bid: Price::from_units(91_950_000_000),
            bid_size: Qty::from_units(2_000_000_000),
            ask: Price::from_units(91_980_000_000),
            ask_size: Qty::from_units(1_000_000_000),
        }
    );

    let out = h.parse(TRADES_2023);
    out.result.unwrap();
    // 2023-04-06T11:54:26Z is 1680782066 s.
    let got: Vec<(i64, Trade)> = out
        .ticks
        .iter()
        .map(|t| (t.ts_event, t.as_trade().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (
                1_680_782_066_838_232_225,
                trade(628, 162_920_000_000, 3_000_000_000)
            ),
            (
                1_680_782_066_838_562_809,
                trade(75, 162_920_000_000, 3_000_000_000)
            ),
            (
                1_680_782_066_839_159_730,
                trade(1465, 162_910_000_000, 71_000_000_000)
            ),
        ]
    );
    // Trade ids are per exchange, not a sequence: nothing to report.
    assert!(out.events.is_empty());
}

#[test]
fn bars_corrections_cancels_lulds_statuses_and_imbalances_are_no_tick() {
    let mut h = Harness::parser();
    for text in NO_TICK {
        let out = h.parse(text);
        out.result.unwrap();
        assert!(out.ticks.is_empty() && out.events.is_empty(), "{text}");
    }
}

#[test]
fn the_session_authenticates_then_subscribes_once_per_connection() {
    let mut h = Harness::live();
    let mut out = Vec::new();
    h.venue.on_connect(&mut out);
    assert_eq!(out.len(), 1);
    let auth: serde_json::Value = serde_json::from_str(&out[0]).unwrap();
    assert_eq!(
        auth,
        serde_json::json!({"action": "auth", "key": path(), "secret": path()})
    );

    let greeting = h.parse(CONNECTED);
    greeting.result.unwrap();
    assert!(greeting.replies.is_empty());
    assert_eq!(greeting.events, [Event::Confirmed("connected".into())]);

    let authed = h.parse(AUTHENTICATED);
    authed.result.unwrap();
    assert_eq!(
        authed.replies,
        [r#"{"action":"subscribe","trades":["AAPL","MSFT"],"quotes":["AAPL","MSFT"]}"#]
    );
    assert_eq!(authed.events, [Event::Confirmed("authenticated".into())]);

    let subscribed = h.parse(SUBSCRIPTION);
    subscribed.result.unwrap();
    assert!(subscribed.replies.is_empty());
    assert!(
        matches!(&subscribed.events[..], [Event::Confirmed(text)] if text.contains(r#"["AMD","CLDR"]"#)),
        "{:?}",
        subscribed.events
    );

    // The same connection: no second subscription.
    assert!(h.parse(AUTHENTICATED).replies.is_empty());
    // A new connection authenticates and subscribes again.
    h.venue.reset();
    assert_eq!(h.parse(AUTHENTICATED).replies.len(), 1);
}

#[test]
fn only_the_channels_asked_for_are_subscribed() {
    let mut c = live_config();
    c.channels = vec!["quotes".into()];
    let mut h = Harness::new(Alpaca::new(&c).unwrap());
    assert_eq!(
        h.parse(AUTHENTICATED).replies,
        [r#"{"action":"subscribe","quotes":["AAPL","MSFT"]}"#]
    );
    assert_eq!(
        h.venue.channels(),
        [
            ("ALPACA:AAPL".to_string(), TickKind::Quote),
            ("ALPACA:MSFT".to_string(), TickKind::Quote),
        ]
    );
}

#[rstest]
#[case(r#"[{"T":"error","code":400,"msg":"invalid syntax"}]"#, false)]
#[case(r#"[{"T":"error","code":401,"msg":"not authenticated"}]"#, true)]
#[case(r#"[{"T":"error","code":402,"msg":"auth failed"}]"#, true)]
#[case(r#"[{"T":"error","code":403,"msg":"already authenticated"}]"#, false)]
#[case(r#"[{"T":"error","code":404,"msg":"auth timeout"}]"#, true)]
#[case(r#"[{"T":"error","code":405,"msg":"symbol limit exceeded"}]"#, false)]
#[case(
    r#"[{"T":"error","code":406,"msg":"connection limit exceeded"}]"#,
    false
)]
#[case(r#"[{"T":"error","code":407,"msg":"slow client"}]"#, false)]
#[case(r#"[{"T":"error","code":408,"msg":"v2 not enabled"}]"#, true)]
#[case(
    r#"[{"T":"error","code":409,"msg":"insufficient subscription"}]"#,
    true
)]
#[case(r#"[{"T":"error","code":500,"msg":"internal error"}]"#, false)]
fn documented_errors_are_fatal_or_venue_errors(#[case] text: &str, #[case] fatal: bool) {
    let mut h = Harness::live();
    let out = h.parse(text);
    out.result.unwrap();
    assert!(out.replies.is_empty());
    let msg = &text[text.find("\"msg\":\"").unwrap() + 7..text.len() - 3];
    match &out.events[..] {
        [Event::Fatal(reason)] if fatal => assert!(reason.contains(msg), "{reason}"),
        [Event::VenueError(reason)] if !fatal => assert!(reason.contains(msg), "{reason}"),
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn the_parser_alone_sends_nothing() {
    let mut h = Harness::parser();
    let mut out = Vec::new();
    h.venue.on_connect(&mut out);
    assert!(out.is_empty());
    assert!(h.venue.channels().is_empty());
    let authed = h.parse(AUTHENTICATED);
    assert!(authed.replies.is_empty());
    assert_eq!(authed.events, [Event::Confirmed("authenticated".into())]);
}

#[test]
fn the_feed_describes_itself_and_never_shows_its_credentials() {
    let alpaca = Alpaca::new(&live_config()).unwrap();
    assert_eq!(Alpaca::NAME, "alpaca");
    assert_eq!(alpaca.name(), "alpaca");
    assert_eq!(alpaca.prefix(), "ALPACA");
    assert_eq!(alpaca.url(), "wss://stream.data.alpaca.markets/v2/iex");
    assert_eq!(
        alpaca.channels(),
        [
            ("ALPACA:AAPL".to_string(), TickKind::Trade),
            ("ALPACA:AAPL".to_string(), TickKind::Quote),
            ("ALPACA:MSFT".to_string(), TickKind::Trade),
            ("ALPACA:MSFT".to_string(), TickKind::Quote),
        ]
    );
    assert_eq!(alpaca.keepalive(), None);
    let debug = format!("{alpaca:?}");
    assert!(!debug.contains(&path()), "{debug}");
    assert!(debug.contains("not shown"), "{debug}");
}

#[test]
fn a_missing_credential_variable_is_named() {
    let (key, reason) = config_error(&VenueConfig {
        key_env: Some(UNSET_KEY.into()),
        ..live_config()
    });
    assert_eq!(key, "feeds.alpaca.key_env");
    assert!(reason.contains(UNSET_KEY), "{reason}");

    let (key, reason) = config_error(&VenueConfig {
        secret_env: Some(UNSET_SECRET.into()),
        ..live_config()
    });
    assert_eq!(key, "feeds.alpaca.secret_env");
    assert!(reason.contains(UNSET_SECRET), "{reason}");

    // Without key_env and secret_env, the default variables are named.
    if std::env::var_os(Alpaca::DEFAULT_KEY_ENV).is_none() {
        let (key, reason) = config_error(&config(&["AAPL"]));
        assert_eq!(key, "feeds.alpaca.key_env");
        assert!(reason.contains("APCA_API_KEY_ID"), "{reason}");
    }
    if std::env::var_os(Alpaca::DEFAULT_SECRET_ENV).is_none() {
        let (key, reason) = config_error(&VenueConfig {
            key_env: Some("PATH".into()),
            ..config(&["AAPL"])
        });
        assert_eq!(key, "feeds.alpaca.secret_env");
        assert!(reason.contains("APCA_API_SECRET_KEY"), "{reason}");
    }
}

#[rstest]
#[case::no_instruments(&[], &[], "feeds.alpaca.instruments")]
#[case::wildcard(&["*"], &[], "feeds.alpaca.instruments")]
#[case::twice(&["AAPL", "AAPL"], &[], "feeds.alpaca.instruments")]
#[case::with_space(&["BRK A"], &[], "feeds.alpaca.instruments")]
#[case::unknown_channel(&["AAPL"], &["bars"], "feeds.alpaca.channels")]
#[case::channel_twice(&["AAPL"], &["quotes", "quotes"], "feeds.alpaca.channels")]
fn bad_config_names_its_key(
    #[case] instruments: &[&str],
    #[case] channels: &[&str],
    #[case] key: &str,
) {
    let c = VenueConfig {
        channels: channels.iter().map(|s| s.to_string()).collect(),
        ..live_config()
    };
    let c = VenueConfig {
        instruments: instruments.iter().map(|s| s.to_string()).collect(),
        ..c
    };
    assert_eq!(config_error(&c).0, key);
}

#[test]
fn keys_alpaca_has_no_use_for_are_refused() {
    let (key, _) = config_error(&VenueConfig {
        api: Some("advanced".into()),
        ..live_config()
    });
    assert_eq!(key, "feeds.alpaca.api");
}

#[test]
fn the_example_config_builds_the_feed() {
    let file: toml::Table = toml::from_str(include_str!("../../config/alpaca.toml")).unwrap();
    let feeds = file["feeds"].as_table().unwrap();
    assert_eq!(feeds["synthetic"]["enabled"].as_bool(), Some(false));
    let mut config: VenueConfig = feeds["alpaca"].clone().try_into().unwrap();
    assert_eq!(config.instruments, ["AAPL", "MSFT"]);
    config.key_env = Some("PATH".into());
    config.secret_env = Some("PATH".into());
    let mut alpaca = Alpaca::new(&config).unwrap();
    let mut out = Vec::new();
    alpaca.on_connect(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(alpaca.channels().len(), 4);
}

#[rstest]
#[case::empty("")]
#[case::truncated(&TRADE[..TRADE.len() / 2])]
#[case::object_not_array(r#"{"T":"success","msg":"connected"}"#)]
#[case::element_a_number("[1]")]
#[case::element_null("[null]")]
#[case::no_type(r#"[{"S":"AAPL"}]"#)]
#[case::type_a_number(r#"[{"T":1}]"#)]
#[case::unknown_type(r#"[{"T":"n","S":"AAPL"}]"#)]
#[case::symbol_missing(&TRADE.replace(r#""S":"AAPL","#, ""))]
#[case::symbol_with_space(&TRADE.replace("AAPL", "AA PL"))]
#[case::price_missing(&TRADE.replace(r#""p":126.55,"#, ""))]
#[case::price_text(&TRADE.replace("126.55", "\"high\""))]
#[case::price_too_precise(&TRADE.replace("126.55", "126.5500000001"))]
#[case::price_huge(&TRADE.replace("126.55", "1e400"))]
#[case::size_past_i64(&TRADE.replace(r#""s":1,"#, r#""s":99999999999,"#))]
#[case::size_an_object(&TRADE.replace(r#""s":1,"#, r#""s":{},"#))]
#[case::id_negative(&TRADE.replace("96921", "-96921"))]
#[case::id_a_float(&TRADE.replace("96921", "96921.5"))]
#[case::id_past_u64(&TRADE.replace("96921", "18446744073709551616"))]
#[case::time_missing(&TRADE.replace(r#""t":"2021-02-22T15:51:44.208Z","#, ""))]
#[case::time_a_number(&TRADE.replace(r#""2021-02-22T15:51:44.208Z""#, "1614009104"))]
#[case::time_garbage(&TRADE.replace("2021-02-22T15:51:44.208Z", "soon"))]
#[case::time_too_fine(&TRADE.replace("44.208Z", "44.2080000001Z"))]
#[case::time_impossible(&TRADE.replace("2021-02-22", "2021-02-29"))]
#[case::bid_size_missing(&QUOTE_2023.replace(r#""bs":2,"#, ""))]
#[case::ask_a_bool(&QUOTE_2023.replace("91.98", "false"))]
#[case::code_text(r#"[{"T":"error","code":"x","msg":"?"}]"#)]
fn malformed_input_is_an_error(#[case] text: &str) {
    let mut h = Harness::parser();
    let out = h.parse(text);
    assert!(out.result.is_err(), "{text:.200}");
    assert!(out.ticks.is_empty(), "{text:.200}");
}

#[test]
fn an_empty_array_is_no_tick() {
    let mut h = Harness::parser();
    let out = h.parse("[]");
    out.result.unwrap();
    assert!(out.ticks.is_empty() && out.events.is_empty());
}

#[test]
fn one_bad_object_does_not_hide_the_others() {
    let text = TRADES_2023.replace("162.91", "\"?\"");
    let mut h = Harness::parser();
    let out = h.parse(&text);
    assert!(matches!(
        out.result,
        Err(ParseError::Invalid { field: "p", .. })
    ));
    let ids: Vec<u64> = out.ticks.iter().map(|t| t.as_trade().unwrap().id).collect();
    assert_eq!(ids, [628, 75]);
}

const DOCUMENTED: [&str; 7] = [
    CONNECTED,
    AUTHENTICATED,
    SUBSCRIPTION,
    TRADE,
    QUOTES,
    TRADES_2023,
    QUOTE_2023,
];

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let mut h = Harness::live();
        let _ = h.parse(&text);
    }

    #[test]
    fn json_like_text_never_panics(
        parts in prop::collection::vec(
            prop::sample::select(vec![
                "{", "}", "[", "]", ",", ":", "\"T\"", "\"t\"", "\"q\"", "\"S\"", "\"AAPL\"",
                "\"p\"", "\"s\"", "\"i\"", "\"bp\"", "\"as\"", "\"msg\"", "\"code\"",
                "\"success\"", "\"error\"", "\"authenticated\"", "402",
                "\"2021-02-22T15:51:44.208Z\"", "0.1", "-1", "1e400",
                "99999999999999999999", "null", "true",
            ]),
            0..60,
        )
    ) {
        let mut h = Harness::live();
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
        let mut h = Harness::live();
        let out = h.parse(&text);
        prop_assert!(out.ticks.len() <= 3);
        prop_assert!(out.replies.len() <= 1);
    }
}
