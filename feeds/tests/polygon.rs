//! The Polygon stocks parser against Polygon's documented messages, with expected values
//! written by hand from the documentation; the session (auth, subscription reply, auth failure,
//! reset); malformed input; `[feeds.polygon]` and its credential.
//!
//! Sources of the documented messages:
//! - `T` and `Q` examples: Polygon's WebSocket spec, `.polygon/websocket.json` in
//!   <https://github.com/polygon-io/client-python> (the source of
//!   <https://polygon.io/docs/websocket/stocks/trades> and `/quotes`), where `t` is "The
//!   Timestamp in Unix MS";
//! - `connected` and `auth_success`: <https://polygon.io/docs/websockets> ("Connect to a
//!   cluster"), <https://massive.com/docs/websocket/stocks/trades.md>;
//! - `auth_failed`: as Polygon sent it in <https://github.com/polygon-io/client-php/issues/17>
//!   (the official Python client raises on this status);
//! - the subscribe confirmation and the mixed `T`/`Q`/`A` batch:
//!   <https://apis.io/examples/polygon/polygon-websocket-subscribe-example/>;
//! - the older `error` form of a refused key: <https://github.com/alpacahq/Alpaca-API/issues/68>.

mod common;

use common::{Harness, TS_RECV, config, mutate, path};
use engine::{Price, Qty, Quote, Side, Tick, TickKind, Trade};
use feeds::polygon::Polygon;
use feeds::{Event, ParseError, Venue, VenueConfig};
use proptest::prelude::*;
use rstest::rstest;

const TRADE: &str = r#"[{"ev":"T","sym":"MSFT","x":4,"i":"12345","z":3,"p":114.125,"s":100,"c":[0,12],"t":1536036818784,"q":3681328}]"#;
const QUOTE: &str = r#"[{"ev":"Q","sym":"MSFT","bx":4,"bp":114.125,"bs":100,"ax":7,"ap":114.128,"as":160,"c":0,"i":[604],"t":1536036818784,"q":50385480,"z":3}]"#;
const CONNECTED: &str = r#"[{
"ev":"status",
"status":"connected",
"message": "Connected Successfully"
}]"#;
const AUTH_SUCCESS: &str = r#"[{"ev":"status","status":"auth_success","message":"authenticated"}]"#;
const AUTH_FAILED: &str =
    r#"[{"ev":"status","status":"auth_failed","message":"authentication failed"}]"#;
const SUBSCRIBED: &str = r#"[{ "ev": "status", "status": "success", "message": "subscribed to: T.AAPL,Q.AAPL,A.AAPL" }]"#;
const BATCH: &str = r#"[
      { "ev": "T", "sym": "AAPL", "x": 4, "i": "12345", "p": 192.31, "s": 100, "c": [12], "t": 1748476801234 },
      { "ev": "Q", "sym": "AAPL", "bx": 11, "bp": 192.30, "bs": 200, "ax": 12, "ap": 192.32, "as": 150, "t": 1748476801240 },
      { "ev": "A", "sym": "AAPL", "v": 5400, "vw": 192.305, "o": 192.30, "c": 192.31, "h": 192.34, "l": 192.28, "s": 1748476740000, "e": 1748476800000 }
    ]"#;
const OLD_AUTH_ERROR: &str =
    r#"[{"ev":"status","status":"error","message":"authentication failed"}]"#;

/// A variable no test process sets.
const UNSET_VAR: &str = "NEXAMD_TEST_POLYGON_KEY_NEVER_SET_7f3a";

impl Harness<Polygon> {
    fn parser() -> Harness<Polygon> {
        Harness::new(Polygon::parser())
    }

    /// The live feed for AAPL and MSFT, its key taken from `PATH` (set in every test process).
    fn live() -> Harness<Polygon> {
        Harness::new(Polygon::new(&live_config()).unwrap())
    }
}

fn live_config() -> VenueConfig {
    VenueConfig {
        key_env: Some("PATH".into()),
        ..config(&["AAPL", "MSFT"])
    }
}

fn config_error(config: &VenueConfig) -> (String, String) {
    common::config_error(Polygon::new(config))
}

#[test]
fn documented_trade() {
    let mut h = Harness::parser();
    let out = h.parse(TRADE);
    out.result.unwrap();
    assert_eq!(out.ticks.len(), 1);
    let tick = &out.ticks[0];
    assert_eq!(h.name(tick.instrument), "POLYGON:MSFT");
    assert_eq!(tick.kind(), TickKind::Trade);
    // 1536036818784 ms.
    assert_eq!(tick.ts_event, 1_536_036_818_784_000_000);
    assert_eq!(tick.ts_recv, TS_RECV);
    assert_eq!(
        tick.as_trade().unwrap(),
        Trade {
            price: Price::from_units(114_125_000_000),
            size: Qty::from_units(100_000_000_000),
            side: Side::Unknown,
            id: 12_345,
        }
    );
}

#[test]
fn documented_quote() {
    let mut h = Harness::parser();
    let out = h.parse(QUOTE);
    out.result.unwrap();
    assert_eq!(out.ticks.len(), 1);
    let tick = &out.ticks[0];
    assert_eq!(h.name(tick.instrument), "POLYGON:MSFT");
    assert_eq!(tick.kind(), TickKind::Quote);
    assert_eq!(tick.ts_event, 1_536_036_818_784_000_000);
    assert_eq!(
        tick.as_quote().unwrap(),
        Quote {
            bid: Price::from_units(114_125_000_000),
            bid_size: Qty::from_units(100_000_000_000),
            ask: Price::from_units(114_128_000_000),
            ask_size: Qty::from_units(160_000_000_000),
        }
    );
}

#[test]
fn a_batch_gives_its_trade_and_quote_and_skips_the_aggregate() {
    let mut h = Harness::parser();
    let out = h.parse(BATCH);
    out.result.unwrap();
    assert!(out.events.is_empty());
    assert_eq!(out.ticks.len(), 2);
    let (trade, quote) = (&out.ticks[0], &out.ticks[1]);
    assert_eq!(h.name(trade.instrument), "POLYGON:AAPL");
    assert_eq!(trade.ts_event, 1_748_476_801_234_000_000);
    assert_eq!(
        trade.as_trade().unwrap(),
        Trade {
            price: Price::from_units(192_310_000_000),
            size: Qty::from_units(100_000_000_000),
            side: Side::Unknown,
            id: 12_345,
        }
    );
    assert_eq!(quote.instrument, trade.instrument);
    assert_eq!(quote.ts_event, 1_748_476_801_240_000_000);
    assert_eq!(
        quote.as_quote().unwrap(),
        Quote {
            bid: Price::from_units(192_300_000_000),
            bid_size: Qty::from_units(200_000_000_000),
            ask: Price::from_units(192_320_000_000),
            ask_size: Qty::from_units(150_000_000_000),
        }
    );
}

#[rstest]
#[case::letters(r#""52983525029461A""#)]
#[case::empty(r#""""#)]
#[case::missing("")]
fn a_trade_id_that_is_not_digits_is_none(#[case] id: &str) {
    let text = if id.is_empty() {
        TRADE.replace(r#""i":"12345","#, "")
    } else {
        TRADE.replace(r#""12345""#, id)
    };
    let mut h = Harness::parser();
    let out = h.parse(&text);
    out.result.unwrap();
    assert_eq!(out.ticks[0].as_trade().unwrap().id, 0);
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
        serde_json::json!({"action": "auth", "params": path()})
    );

    let greeting = h.parse(CONNECTED);
    greeting.result.unwrap();
    assert!(greeting.replies.is_empty());
    assert!(
        matches!(&greeting.events[..], [Event::Confirmed(text)] if text.contains("Connected Successfully"))
    );

    let authed = h.parse(AUTH_SUCCESS);
    authed.result.unwrap();
    assert_eq!(
        authed.replies,
        [r#"{"action":"subscribe","params":"T.AAPL,Q.AAPL,T.MSFT,Q.MSFT"}"#]
    );
    assert!(matches!(&authed.events[..], [Event::Confirmed(_)]));

    let subscribed = h.parse(SUBSCRIBED);
    subscribed.result.unwrap();
    assert!(subscribed.replies.is_empty());
    assert!(matches!(&subscribed.events[..], [Event::Confirmed(text)] if text.contains("T.AAPL")));

    // The same connection: no second subscription.
    assert!(h.parse(AUTH_SUCCESS).replies.is_empty());
    // A new connection authenticates and subscribes again.
    h.venue.reset();
    assert_eq!(h.parse(AUTH_SUCCESS).replies.len(), 1);
}

#[test]
fn the_older_success_form_of_authentication_also_subscribes() {
    let mut h = Harness::live();
    let out = h.parse(r#"[{"ev":"status","status":"success","message":"authenticated"}]"#);
    assert_eq!(out.replies.len(), 1);
}

#[rstest]
#[case::auth_failed(AUTH_FAILED)]
#[case::old_error_form(OLD_AUTH_ERROR)]
#[case::not_authorized(r#"[{"ev":"status","status":"error","message":"not authorized"}]"#)]
fn a_refused_key_is_fatal_and_subscribes_nothing(#[case] text: &str) {
    let mut h = Harness::live();
    let out = h.parse(text);
    out.result.unwrap();
    assert!(out.replies.is_empty());
    assert!(
        matches!(&out.events[..], [Event::Fatal(reason)] if reason.contains("authentication failed") || reason.contains("not authorized")),
        "{:?}",
        out.events
    );
}

#[rstest]
#[case::max_connections(r#"[{"ev":"status","status":"max_connections","message":"Maximum number of connections exceeded"}]"#)]
#[case::auth_timeout(r#"[{"ev":"status","status":"auth_timeout","message":"auth timeout"}]"#)]
#[case::other_error(r#"[{"ev":"status","status":"error","message":"invalid subscription"}]"#)]
#[case::unheard_of(r#"[{"ev":"status","status":"degraded"}]"#)]
fn other_statuses_are_venue_errors(#[case] text: &str) {
    let mut h = Harness::live();
    let out = h.parse(text);
    out.result.unwrap();
    assert!(
        matches!(&out.events[..], [Event::VenueError(_)]),
        "{:?}",
        out.events
    );
    assert!(out.replies.is_empty());
}

#[test]
fn the_parser_alone_sends_nothing() {
    let mut h = Harness::parser();
    let mut out = Vec::new();
    h.venue.on_connect(&mut out);
    assert!(out.is_empty());
    assert!(h.venue.channels().is_empty());
    let authed = h.parse(AUTH_SUCCESS);
    assert!(authed.replies.is_empty());
    assert!(matches!(&authed.events[..], [Event::Confirmed(_)]));
}

#[test]
fn the_feed_describes_itself_and_never_shows_its_key() {
    let polygon = Polygon::new(&live_config()).unwrap();
    assert_eq!(Polygon::NAME, "polygon");
    assert_eq!(polygon.name(), "polygon");
    assert_eq!(polygon.prefix(), "POLYGON");
    assert_eq!(polygon.url(), "wss://socket.polygon.io/stocks");
    assert_eq!(
        polygon.channels(),
        [
            ("POLYGON:AAPL".to_string(), TickKind::Trade),
            ("POLYGON:AAPL".to_string(), TickKind::Quote),
            ("POLYGON:MSFT".to_string(), TickKind::Trade),
            ("POLYGON:MSFT".to_string(), TickKind::Quote),
        ]
    );
    assert_eq!(polygon.keepalive(), None);
    let debug = format!("{polygon:?}");
    assert!(!debug.contains(&path()), "{debug}");
    assert!(debug.contains("not shown"), "{debug}");
}

#[test]
fn a_missing_key_variable_is_named() {
    let c = VenueConfig {
        key_env: Some(UNSET_VAR.into()),
        ..config(&["AAPL"])
    };
    let (key, reason) = config_error(&c);
    assert_eq!(key, "feeds.polygon.key_env");
    assert!(reason.contains(UNSET_VAR), "{reason}");
    // Without key_env, the default variable is named.
    if std::env::var_os(Polygon::DEFAULT_KEY_ENV).is_none() {
        let (key, reason) = config_error(&config(&["AAPL"]));
        assert_eq!(key, "feeds.polygon.key_env");
        assert!(reason.contains("POLYGON_API_KEY"), "{reason}");
    }
}

#[rstest]
#[case::no_instruments(&[], &[], "feeds.polygon.instruments")]
#[case::wildcard(&["*"], &[], "feeds.polygon.instruments")]
#[case::comma(&["AAPL,MSFT"], &[], "feeds.polygon.instruments")]
#[case::twice(&["AAPL", "AAPL"], &[], "feeds.polygon.instruments")]
#[case::unknown_channel(&["AAPL"], &["AM"], "feeds.polygon.channels")]
#[case::channel_twice(&["AAPL"], &["T", "T"], "feeds.polygon.channels")]
fn bad_config_names_its_key(
    #[case] instruments: &[&str],
    #[case] channels: &[&str],
    #[case] key: &str,
) {
    let c = VenueConfig {
        channels: channels.iter().map(|s| s.to_string()).collect(),
        key_env: Some("PATH".into()),
        ..config(instruments)
    };
    assert_eq!(config_error(&c).0, key);
}

#[test]
fn keys_polygon_has_no_use_for_are_refused() {
    let base = live_config();
    let (key, _) = config_error(&VenueConfig {
        secret_env: Some("PATH".into()),
        ..base.clone()
    });
    assert_eq!(key, "feeds.polygon.secret_env");
    let (key, _) = config_error(&VenueConfig {
        api: Some("exchange".into()),
        ..base
    });
    assert_eq!(key, "feeds.polygon.api");
}

#[test]
fn the_example_config_builds_the_feed() {
    let file: toml::Table = toml::from_str(include_str!("../../config/polygon.toml")).unwrap();
    let feeds = file["feeds"].as_table().unwrap();
    assert_eq!(feeds["synthetic"]["enabled"].as_bool(), Some(false));
    let mut config: VenueConfig = feeds["polygon"].clone().try_into().unwrap();
    assert_eq!(config.instruments, ["AAPL", "MSFT"]);
    config.key_env = Some("PATH".into());
    let mut polygon = Polygon::new(&config).unwrap();
    let mut out = Vec::new();
    polygon.on_connect(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(polygon.channels().len(), 4);
}

#[rstest]
#[case::empty("")]
#[case::truncated(&TRADE[..TRADE.len() / 2])]
#[case::truncated_in_the_first_event(&BATCH[..40])]
#[case::object_not_array(r#"{"ev":"T","sym":"MSFT"}"#)]
#[case::element_a_number("[1]")]
#[case::element_null("[null]")]
#[case::no_ev(r#"[{"sym":"MSFT"}]"#)]
#[case::ev_a_number(r#"[{"ev":1}]"#)]
#[case::unknown_ev(r#"[{"ev":"XQ","sym":"BTC-USD"}]"#)]
#[case::status_without_status(r#"[{"ev":"status","message":"hi"}]"#)]
#[case::sym_missing(&TRADE.replace(r#""sym":"MSFT","#, ""))]
#[case::sym_with_space(&TRADE.replace("MSFT", "MS FT"))]
#[case::price_missing(&TRADE.replace(r#""p":114.125,"#, ""))]
#[case::price_text(&TRADE.replace("114.125", "\"a lot\""))]
#[case::price_too_precise(&TRADE.replace("114.125", "114.1250000001"))]
#[case::price_huge(&TRADE.replace("114.125", "1e400"))]
#[case::size_past_i64(&TRADE.replace(r#""s":100"#, r#""s":99999999999"#))]
#[case::size_an_array(&TRADE.replace(r#""s":100"#, r#""s":[100]"#))]
#[case::time_missing(&TRADE.replace(r#""t":1536036818784,"#, ""))]
#[case::time_a_float(&TRADE.replace("1536036818784", "1536036818784.5"))]
#[case::time_text(&TRADE.replace("1536036818784", "\"noon\""))]
#[case::time_past_i64_ns(&TRADE.replace("1536036818784", "9223372036854775"))]
#[case::time_past_i64(&TRADE.replace("1536036818784", "99999999999999999999"))]
#[case::bid_missing(&QUOTE.replace(r#""bp":114.125,"#, ""))]
#[case::ask_size_null(&QUOTE.replace(r#""as":160"#, r#""as":null"#))]
fn malformed_input_is_an_error(#[case] text: &str) {
    let mut h = Harness::parser();
    let out = h.parse(text);
    assert!(out.result.is_err(), "{text:.200}");
    assert!(out.ticks.is_empty(), "{text:.200}");
}

/// Events are read as they come: a frame cut short (or followed by garbage) is an error, and
/// the complete events before the fault still give their ticks.
#[test]
fn a_broken_frame_is_an_error_after_its_complete_events() {
    let mut h = Harness::parser();
    let cut = BATCH.find(r#"{ "ev": "Q""#).unwrap() + 20;
    let out = h.parse(&BATCH[..cut]);
    assert!(matches!(out.result, Err(ParseError::Json(_))));
    assert_eq!(out.ticks.len(), 1);
    assert_eq!(out.ticks[0].as_trade().unwrap().id, 12_345);

    let out = h.parse(&format!("{TRADE}]"));
    assert!(matches!(out.result, Err(ParseError::Json(_))));
    assert_eq!(out.ticks.len(), 1);
}

#[test]
fn an_empty_array_is_no_tick() {
    let mut h = Harness::parser();
    let out = h.parse("[]");
    out.result.unwrap();
    assert!(out.ticks.is_empty() && out.events.is_empty());
}

#[test]
fn one_bad_event_does_not_hide_the_others() {
    let text = format!(
        "[{},{},{}]",
        &TRADE[1..TRADE.len() - 1],
        r#"{"ev":"T","sym":"MSFT","i":"2","p":"x","s":1,"t":1536036818785}"#,
        &QUOTE[1..QUOTE.len() - 1]
    );
    let mut h = Harness::parser();
    let out = h.parse(&text);
    assert!(matches!(
        out.result,
        Err(ParseError::Invalid { field: "p", .. })
    ));
    let kinds: Vec<TickKind> = out.ticks.iter().map(Tick::kind).collect();
    assert_eq!(kinds, [TickKind::Trade, TickKind::Quote]);
}

const DOCUMENTED: [&str; 8] = [
    TRADE,
    QUOTE,
    CONNECTED,
    AUTH_SUCCESS,
    AUTH_FAILED,
    SUBSCRIBED,
    BATCH,
    OLD_AUTH_ERROR,
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
                "{", "}", "[", "]", ",", ":", "\"ev\"", "\"T\"", "\"Q\"", "\"status\"",
                "\"sym\"", "\"AAPL\"", "\"p\"", "\"s\"", "\"t\"", "\"i\"", "\"bp\"", "\"as\"",
                "\"message\"", "\"auth_success\"", "1536036818784", "0.1", "-1", "1e400",
                "99999999999999999999", "null", "true", "\"12345\"",
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
        prop_assert!(out.ticks.len() <= 2);
        prop_assert!(out.replies.len() <= 1);
    }
}
