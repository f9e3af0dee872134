//! Kraken WebSocket v2 messages as they arrive, borrowed from the message text.
//!
//! Every message is one JSON object: channel data (`{"channel":"trade","type":"update",
//! "data":[...]}`), or a response to a request (`{"method":"subscribe","success":true,...}`).
//! The envelope is read first with `data` kept as raw text, because the channel that says how
//! to read `data` may come after it in the object; the elements of `data` are then read one by
//! one by [`for_each`], straight into [`Trade`] or [`Ticker`].

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::venue::ParseError;

/// Any Kraken v2 message: the fields of channel data and of method responses side by side,
/// each present only in its kind.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<'a> {
    /// `trade`, `ticker`, `heartbeat`, `status`, ... on channel data.
    #[serde(borrow)]
    pub channel: Option<&'a str>,
    /// `snapshot` or `update` on channel data.
    #[serde(rename = "type", borrow)]
    pub kind: Option<&'a str>,
    /// The channel's records, as raw JSON (an array).
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
    /// `subscribe`, `unsubscribe`, `pong`, ... on responses.
    #[serde(borrow)]
    pub method: Option<&'a str>,
    /// Whether the request succeeded.
    pub success: Option<bool>,
    /// Why it did not.
    #[serde(borrow)]
    pub error: Option<Cow<'a, str>>,
    /// What a subscription acknowledgement subscribed.
    #[serde(borrow)]
    pub result: Option<AckResult<'a>>,
}

/// `result` of a subscription acknowledgement (one per symbol).
#[derive(Debug, Deserialize)]
pub(crate) struct AckResult<'a> {
    #[serde(borrow)]
    pub channel: Option<&'a str>,
    #[serde(borrow)]
    pub symbol: Option<&'a str>,
}

/// One record of the `trade` channel.
#[derive(Debug, Deserialize)]
pub(crate) struct Trade<'a> {
    pub symbol: &'a str,
    /// The taker's side: `buy` or `sell`.
    pub side: &'a str,
    /// A JSON number; its text is read exactly.
    pub price: &'a RawValue,
    pub qty: &'a RawValue,
    /// Sequential per book.
    pub trade_id: u64,
    /// RFC 3339.
    pub timestamp: &'a str,
}

/// One record of the `ticker` channel (top of book and 24 h statistics; only the book is
/// read).
#[derive(Debug, Deserialize)]
pub(crate) struct Ticker<'a> {
    pub symbol: &'a str,
    pub bid: &'a RawValue,
    pub bid_qty: &'a RawValue,
    pub ask: &'a RawValue,
    pub ask_qty: &'a RawValue,
    /// RFC 3339; not in every version of the channel.
    #[serde(borrow)]
    pub timestamp: Option<&'a str>,
}

/// Reads the JSON array `text` element by element as `T`, handing each to `f` as it is read:
/// no vector of elements is built.
///
/// A JSON error (malformed text, an element of the wrong shape) stops the reading and is
/// returned. An error from `f` does not: the remaining elements are still handed over, and the
/// first such error is returned at the end, so one bad record does not hide its neighbours.
/// Either way, what `f` did with the elements before the error stays done.
///
/// Shared by the three array-shaped feeds (Kraken's `data`, Polygon's and Alpaca's messages);
/// its natural home is `venue.rs`.
pub(crate) fn for_each<'de, T, F>(text: &'de str, f: F) -> Result<(), ParseError>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), ParseError>,
{
    let mut first_error = None;
    let mut de = serde_json::Deserializer::from_str(text);
    (&mut de).deserialize_seq(Elements {
        f,
        first_error: &mut first_error,
        element: PhantomData,
    })?;
    de.end()?;
    first_error.map_or(Ok(()), Err)
}

struct Elements<'e, T, F> {
    f: F,
    first_error: &'e mut Option<ParseError>,
    element: PhantomData<fn() -> T>,
}

impl<'de, T, F> Visitor<'de> for Elements<'_, T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), ParseError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(element) = seq.next_element::<T>()? {
            if let Err(e) = (self.f)(element)
                && self.first_error.is_none()
            {
                *self.first_error = Some(e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Item {
        n: u64,
    }

    fn collect(text: &str) -> (Vec<u64>, Result<(), ParseError>) {
        let mut seen = Vec::new();
        let result = for_each(text, |item: Item| {
            seen.push(item.n);
            if item.n == 0 {
                Err(ParseError::Missing("n"))
            } else {
                Ok(())
            }
        });
        (seen, result)
    }

    #[test]
    fn elements_come_one_by_one_and_a_handler_error_does_not_stop_them() {
        let (seen, result) = collect(r#"[{"n":1},{"n":0},{"n":3}]"#);
        assert_eq!(seen, [1, 0, 3]);
        assert!(matches!(result, Err(ParseError::Missing("n"))));
        let (seen, result) = collect("[]");
        assert!(seen.is_empty() && result.is_ok());
    }

    #[test]
    fn malformed_text_stops_the_reading() {
        for text in [
            r#"[{"n":1},{"n":"#,
            r#"[{"n":1},{"m":2}]"#,
            r#"{"n":1}"#,
            r#"[{"n":1}] x"#,
            "",
        ] {
            let (_, result) = collect(text);
            assert!(matches!(result, Err(ParseError::Json(_))), "{text}");
        }
    }
}
