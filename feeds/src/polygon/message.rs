//! Polygon stocks WebSocket messages as they arrive, borrowed from the message text.
//!
//! Every message is a JSON array of events, each an object whose `ev` says what it is: `T`
//! (trade), `Q` (NBBO quote), `status`, or one of the feeds nexamd does not subscribe to.
//! The events of one message are read one by one into [`Record`], with no vector built.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// One event of any kind: the fields nexamd reads, side by side, each present only in its
/// kinds. Fields that mean different things in different events (`i` is the trade id, a
/// string, in `T` and the indicators, an array, in `Q`; `s` is the size in `T` and a start
/// time in aggregates) are kept as raw JSON and read only for the kind that has them. Every
/// other field (`x`, `c`, `z`, `q`, `trfi`, `trft`, `ds`, `bx`, `ax`, ...) is skipped.
#[derive(Debug, Deserialize)]
pub(crate) struct Record<'a> {
    /// `T`, `Q`, `status`, `A`, `AM`, ...
    pub ev: &'a str,
    /// The ticker (`T`, `Q`).
    #[serde(borrow)]
    pub sym: Option<&'a str>,
    /// `T`: the trade id, a string.
    #[serde(borrow)]
    pub i: Option<&'a RawValue>,
    /// `T`: the price.
    #[serde(borrow)]
    pub p: Option<&'a RawValue>,
    /// `T`: the size in shares.
    #[serde(borrow)]
    pub s: Option<&'a RawValue>,
    /// `T`, `Q`: the SIP timestamp, Unix milliseconds.
    #[serde(borrow)]
    pub t: Option<&'a RawValue>,
    /// `Q`: the bid price.
    #[serde(borrow)]
    pub bp: Option<&'a RawValue>,
    /// `Q`: the bid size in round lots.
    #[serde(borrow)]
    pub bs: Option<&'a RawValue>,
    /// `Q`: the ask price.
    #[serde(borrow)]
    pub ap: Option<&'a RawValue>,
    /// `Q`: the ask size in round lots.
    #[serde(rename = "as", borrow)]
    pub ask_size: Option<&'a RawValue>,
    /// `status`: `connected`, `auth_success`, `auth_failed`, `success`, ...
    #[serde(borrow)]
    pub status: Option<&'a str>,
    /// `status`: the text that goes with it.
    #[serde(borrow)]
    pub message: Option<Cow<'a, str>>,
}
