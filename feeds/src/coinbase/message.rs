//! The shapes Coinbase sends, read in one pass with borrowed text and no allocation.
//!
//! A message is first read as [`Message`]: every top-level field either API uses, each kept as
//! raw JSON. Which fields matter, and what type they must have, depends on the message kind,
//! so the kind's parser checks them ([`text`], [`number`]): a field of an unexpected type in a
//! kind nexamd ignores (a full-channel `done`, a `status` product list) never fails a message.
//! Advanced Trade `events` arrays are walked element by element ([`for_each`]).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::venue::{ParseError, uint};

/// Any Coinbase message's top level. Exchange messages have `type`; Advanced Trade ones
/// `channel` and `events`.
#[derive(Debug, Deserialize)]
pub(super) struct Message<'a> {
    /// Exchange: the message kind (`match`, `ticker`, ...); also Advanced Trade's `error`.
    #[serde(rename = "type", borrow)]
    pub kind: Option<&'a str>,
    /// Advanced Trade: the channel (`market_trades`, `ticker`, ...).
    #[serde(borrow)]
    pub channel: Option<&'a str>,
    /// Advanced Trade: the channel's events.
    #[serde(borrow)]
    pub events: Option<&'a RawValue>,
    /// Advanced Trade: the message's number on the connection, from 0.
    #[serde(borrow)]
    pub sequence_num: Option<&'a RawValue>,
    /// Advanced Trade: when the message was sent (RFC 3339, ns).
    #[serde(borrow)]
    pub timestamp: Option<&'a RawValue>,

    // Exchange fields: `match`, `last_match`, `ticker`, `heartbeat`.
    #[serde(borrow)]
    pub product_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub trade_id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub sequence: Option<&'a RawValue>,
    #[serde(borrow)]
    pub price: Option<&'a RawValue>,
    #[serde(borrow)]
    pub size: Option<&'a RawValue>,
    #[serde(borrow)]
    pub side: Option<&'a RawValue>,
    #[serde(borrow)]
    pub time: Option<&'a RawValue>,
    #[serde(borrow)]
    pub best_bid: Option<&'a RawValue>,
    #[serde(borrow)]
    pub best_bid_size: Option<&'a RawValue>,
    #[serde(borrow)]
    pub best_ask: Option<&'a RawValue>,
    #[serde(borrow)]
    pub best_ask_size: Option<&'a RawValue>,
    #[serde(borrow)]
    pub last_trade_id: Option<&'a RawValue>,
    /// `subscriptions`: what is subscribed.
    #[serde(borrow)]
    pub channels: Option<&'a RawValue>,
    /// `error`: what went wrong.
    #[serde(borrow)]
    pub message: Option<&'a RawValue>,
    /// `error`: why.
    #[serde(borrow)]
    pub reason: Option<&'a RawValue>,
}

/// An Advanced Trade `market_trades` event.
#[derive(Debug, Deserialize)]
pub(super) struct TradesEvent<'a> {
    /// `snapshot` (recent trades, on subscribing) or `update`.
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(borrow)]
    pub trades: &'a RawValue,
}

/// One Advanced Trade market trade.
#[derive(Debug, Deserialize)]
pub(super) struct MarketTrade<'a> {
    /// Decimal digits in a string.
    pub trade_id: &'a str,
    pub product_id: &'a str,
    pub price: &'a str,
    pub size: &'a str,
    /// The maker's side, `BUY` or `SELL`.
    pub side: &'a str,
    pub time: &'a str,
}

/// An Advanced Trade `ticker` event.
#[derive(Debug, Deserialize)]
pub(super) struct TickersEvent<'a> {
    #[serde(borrow)]
    pub tickers: &'a RawValue,
}

/// One Advanced Trade ticker: only the top of book is read.
#[derive(Debug, Deserialize)]
pub(super) struct Ticker<'a> {
    pub product_id: &'a str,
    pub best_bid: &'a str,
    pub best_bid_quantity: &'a str,
    pub best_ask: &'a str,
    pub best_ask_quantity: &'a str,
}

/// The text of a JSON string field, which must hold no escapes: decimals, ids, sides and times
/// never do.
pub(super) fn text<'a>(
    field: &'static str,
    raw: Option<&'a RawValue>,
) -> Result<&'a str, ParseError> {
    let json = raw.ok_or(ParseError::Missing(field))?.get();
    match json.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if !inner.contains('\\') => Ok(inner),
        _ => Err(ParseError::invalid(
            field,
            format!("expected a plain string, got {json:.32}"),
        )),
    }
}

/// A JSON string field that may be absent (`null` reads as absent: serde gives `None`).
pub(super) fn text_opt<'a>(
    field: &'static str,
    raw: Option<&'a RawValue>,
) -> Result<Option<&'a str>, ParseError> {
    raw.map(|raw| text(field, Some(raw))).transpose()
}

/// An unsigned integer field written as a JSON number.
pub(super) fn number(field: &'static str, raw: Option<&RawValue>) -> Result<u64, ParseError> {
    digits(field, raw.ok_or(ParseError::Missing(field))?.get())
}

/// An unsigned integer from decimal digits only (no sign, point or exponent).
pub(super) fn digits(field: &'static str, text: &str) -> Result<u64, ParseError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::invalid(
            field,
            format!("not an unsigned integer: {text:.32}"),
        ));
    }
    uint(field, text)
}

/// A JSON string of any content (an error message), unescaped; `None` if absent or not a
/// string.
pub(super) fn owned_text(raw: Option<&RawValue>) -> Option<String> {
    raw.and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
}

/// Calls `f` on each element of the JSON array `raw` as it is read, collecting nothing:
/// [`crate::venue::for_each`], with the elements after one that `f` refused left alone, so
/// the first error stops the walk.
pub(super) fn for_each<'a, T, F>(raw: &'a RawValue, mut f: F) -> Result<(), ParseError>
where
    T: Deserialize<'a>,
    F: FnMut(T) -> Result<(), ParseError>,
{
    let mut failed = false;
    crate::venue::for_each(raw.get(), |item: T| {
        if failed {
            return Ok(());
        }
        let result = f(item);
        failed = result.is_err();
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn raw(json: &str) -> Box<RawValue> {
        serde_json::from_str(json).unwrap()
    }

    #[rstest]
    #[case("\"0.35\"", Some("0.35"))]
    #[case("\"\"", Some(""))]
    #[case("0.35", None)]
    #[case("\"a\\\"b\"", None)]
    #[case("[\"x\"]", None)]
    #[case("null", None)]
    fn text_takes_plain_strings_only(#[case] json: &str, #[case] expected: Option<&str>) {
        let value = raw(json);
        assert_eq!(text("f", Some(&value)).ok(), expected);
    }

    #[rstest]
    #[case("17", Some(17))]
    #[case("18446744073709551615", Some(u64::MAX))]
    #[case("18446744073709551616", None)]
    #[case("-1", None)]
    #[case("1.0", None)]
    #[case("1e3", None)]
    #[case("\"17\"", None)]
    fn number_takes_json_integers_only(#[case] json: &str, #[case] expected: Option<u64>) {
        let value = raw(json);
        assert_eq!(number("f", Some(&value)).ok(), expected);
    }

    #[test]
    fn for_each_walks_and_stops_at_the_first_error() {
        let list = raw("[1, 2, 3, 4]");
        let mut seen = Vec::new();
        for_each(&list, |n: u64| {
            seen.push(n);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [1, 2, 3, 4]);

        seen.clear();
        let err = for_each(&list, |n: u64| {
            seen.push(n);
            if n == 2 {
                Err(ParseError::Missing("two"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert!(matches!(err, ParseError::Missing("two")));
        assert_eq!(seen, [1, 2]);

        assert!(for_each(&raw("{}"), |_: u64| Ok(())).is_err());
        assert!(for_each(&raw("[1, \"x\"]"), |_: u64| Ok(())).is_err());
    }
}
