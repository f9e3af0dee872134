//! Alpaca market data v2 stock stream messages as they arrive, borrowed from the message text.
//!
//! Every message is a JSON array of objects whose `T` says what each is: `t` (trade), `q`
//! (quote), the control messages `success`, `error` and `subscription`, or data nexamd does
//! not read. The objects of one message are read one by one into [`Record`], with no vector
//! built.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// One object of any kind: the fields nexamd reads, side by side, each present only in its
/// kinds. Fields read as numbers are kept as raw JSON and read only for the kinds that have
/// them (`i` is the trade id, a number, in `t` but an indicator, a string, in `l`). Every other
/// field (`x`, `c`, `z`, `bx`, `ax`, ...) is skipped.
#[derive(Debug, Deserialize)]
pub(crate) struct Record<'a> {
    /// `t`, `q`, `success`, `error`, `subscription`, `b`, `d`, `u`, `s`, `l`, `c`, `x`, `i`.
    #[serde(rename = "T")]
    pub kind: &'a str,
    /// The symbol.
    #[serde(rename = "S", borrow)]
    pub symbol: Option<&'a str>,
    /// `t`: the trade id.
    #[serde(borrow)]
    pub i: Option<&'a RawValue>,
    /// `t`: the price.
    #[serde(borrow)]
    pub p: Option<&'a RawValue>,
    /// `t`: the size in shares.
    #[serde(borrow)]
    pub s: Option<&'a RawValue>,
    /// `t`, `q`: RFC 3339 with nanoseconds.
    #[serde(rename = "t", borrow)]
    pub time: Option<&'a str>,
    /// `q`: the bid price.
    #[serde(borrow)]
    pub bp: Option<&'a RawValue>,
    /// `q`: the bid size in round lots.
    #[serde(borrow)]
    pub bs: Option<&'a RawValue>,
    /// `q`: the ask price.
    #[serde(borrow)]
    pub ap: Option<&'a RawValue>,
    /// `q`: the ask size in round lots.
    #[serde(rename = "as", borrow)]
    pub ask_size: Option<&'a RawValue>,
    /// `success`, `error`: the text.
    #[serde(borrow)]
    pub msg: Option<Cow<'a, str>>,
    /// `error`: the code (`402`, ...).
    pub code: Option<i64>,
    /// `subscription`: the symbols now subscribed to trades.
    #[serde(borrow)]
    pub trades: Option<&'a RawValue>,
    /// `subscription`: the symbols now subscribed to quotes.
    #[serde(borrow)]
    pub quotes: Option<&'a RawValue>,
}
