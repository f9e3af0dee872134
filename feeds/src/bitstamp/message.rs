//! The shapes of Bitstamp's messages, borrowed from the received text.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Every message: `{"event":..,"channel":..,"data":..}`. `data` is read once `event` says
/// what it is (an object for a trade, a string for `bts:request_reconnect`).
#[derive(Debug, Deserialize)]
pub(super) struct Message<'a> {
    #[serde(borrow)]
    pub event: &'a str,
    #[serde(borrow)]
    pub channel: Option<&'a str>,
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
}

/// The `data` of a `trade` event.
#[derive(Debug, Deserialize)]
pub(super) struct TradeData<'a> {
    /// Trade id, numbered across all pairs.
    #[serde(borrow)]
    pub id: Option<&'a RawValue>,
    /// Price as decimal text.
    #[serde(borrow)]
    pub price_str: Option<&'a str>,
    /// Price as a JSON number, read by its text where `price_str` is missing.
    #[serde(borrow)]
    pub price: Option<&'a RawValue>,
    /// Size as decimal text.
    #[serde(borrow)]
    pub amount_str: Option<&'a str>,
    /// Size as a JSON number.
    #[serde(borrow)]
    pub amount: Option<&'a RawValue>,
    /// 0: the buyer took liquidity; 1: the seller did.
    #[serde(rename = "type")]
    pub side: Option<u8>,
    /// Trade time, µs since the epoch, as a string.
    #[serde(borrow)]
    pub microtimestamp: Option<&'a RawValue>,
    /// Trade time, s since the epoch, as a string.
    #[serde(borrow)]
    pub timestamp: Option<&'a RawValue>,
}

/// The `data` of a `bts:error` event.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorData<'a> {
    #[serde(borrow)]
    pub code: Option<&'a RawValue>,
    pub message: Option<String>,
}
