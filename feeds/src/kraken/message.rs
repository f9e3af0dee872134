//! Kraken WebSocket v2 messages as they arrive, borrowed from the message text.
//!
//! Every message is one JSON object: channel data (`{"channel":"trade","type":"update",
//! "data":[...]}`), or a response to a request (`{"method":"subscribe","success":true,...}`).
//! The envelope is read first with `data` kept as raw text, because the channel that says how
//! to read `data` may come after it in the object; the elements of `data` are then read one by
//! one by [`for_each`](crate::venue::for_each), straight into [`Trade`] or [`Ticker`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

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
