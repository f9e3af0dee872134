//! The shapes of Binance's messages, borrowed from the received text.
//!
//! One struct, [`Message`], holds every field the parser reads from any payload kind, so a
//! message is read in one pass whatever its kind. Fields whose type differs between kinds
//! (`a` is the aggregate trade id, the best ask or the ask levels) are kept as raw JSON text
//! and read once the kind is known. A combined-stream frame is a [`Message`] whose `data` is a
//! [`Body`], itself a [`Message`]: the bare payload of a raw stream and the `data` of a
//! combined one are read by the same code.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer};
use serde_json::value::RawValue;

/// A received message: a combined frame (`stream`, `data` with `D` = [`Body`]), a bare payload
/// (`D` = [`IgnoredAny`]), or a reply to a request.
#[derive(Debug, Deserialize)]
pub(super) struct Message<'a, D> {
    /// The stream name of a combined frame: `btcusdt@trade`.
    #[serde(borrow)]
    pub stream: Option<&'a str>,
    /// The payload of a combined frame.
    pub data: Option<D>,

    /// The event kind: `trade`, `aggTrade`, `depthUpdate`, ... (absent on spot `bookTicker`).
    #[serde(borrow)]
    pub e: Option<&'a str>,
    /// Event time.
    #[serde(rename = "E")]
    pub event_time: Option<i64>,
    /// Trade time (trades; futures `bookTicker`).
    #[serde(rename = "T")]
    pub trade_time: Option<i64>,
    /// Symbol, upper case.
    #[serde(borrow)]
    pub s: Option<&'a str>,
    /// Trade id (`trade`).
    pub t: Option<u64>,
    /// Price (`trade`, `aggTrade`).
    #[serde(borrow)]
    pub p: Option<&'a RawValue>,
    /// Quantity (`trade`, `aggTrade`).
    #[serde(borrow)]
    pub q: Option<&'a RawValue>,
    /// Whether the buyer was the maker (`trade`, `aggTrade`).
    pub m: Option<bool>,
    /// Book update id (`bookTicker`, `depthUpdate`).
    pub u: Option<u64>,
    /// Best bid (`bookTicker`); bid levels (`depthUpdate`).
    #[serde(borrow)]
    pub b: Option<&'a RawValue>,
    /// Best bid size (`bookTicker`).
    #[serde(borrow, rename = "B")]
    pub bid_size: Option<&'a RawValue>,
    /// Aggregate trade id (`aggTrade`); best ask (`bookTicker`); ask levels (`depthUpdate`).
    #[serde(borrow)]
    pub a: Option<&'a RawValue>,
    /// Best ask size (`bookTicker`).
    #[serde(borrow, rename = "A")]
    pub ask_size: Option<&'a RawValue>,
    /// A partial book depth snapshot (`<symbol>@depth5`).
    #[serde(borrow, rename = "lastUpdateId")]
    pub last_update_id: Option<&'a RawValue>,

    /// A reply's result (`null` for a successful `SUBSCRIBE`); kept even when `null`.
    #[serde(borrow, default, deserialize_with = "present")]
    pub result: Option<&'a RawValue>,
    /// A reply's request id; kept even when `null`.
    #[serde(borrow, default, deserialize_with = "present")]
    pub id: Option<&'a RawValue>,
    /// A refused request: `{"error":{"code":2,"msg":"..."},"id":1}`.
    #[serde(borrow)]
    pub error: Option<&'a RawValue>,
    /// An error without envelope: `{"code":2,"msg":"..."}`.
    #[serde(borrow)]
    pub code: Option<&'a RawValue>,
    /// The text of such an error.
    #[serde(borrow)]
    pub msg: Option<&'a RawValue>,
}

/// A payload, as it stands alone or inside a frame.
pub(super) type Payload<'a> = Message<'a, IgnoredAny>;

/// What a message is read as.
pub(super) type Frame<'a> = Message<'a, Body<'a>>;

/// The `data` of a combined frame.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per message, on the stack; boxing it would allocate per message"
)]
pub(super) enum Body<'a> {
    /// One payload.
    Object(Payload<'a>),
    /// An array of payloads (the all-market `!ticker@arr` streams), not read.
    Array,
    /// Anything else (a string, a number): no payload Binance sends.
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Body<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BodyVisitor(std::marker::PhantomData))
    }
}

struct BodyVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for BodyVisitor<'a> {
    type Value = Body<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a stream payload")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Body<'a>, A::Error> {
        Payload::deserialize(MapAccessDeserializer::new(map)).map(Body::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Body<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Body::Array)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Body<'a>, E> {
        Ok(Body::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Body<'a>, E> {
        Ok(Body::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Body<'a>, E> {
        Ok(Body::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Body<'a>, E> {
        Ok(Body::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Body<'a>, E> {
        Ok(Body::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Body<'a>, E> {
        Ok(Body::Other)
    }
}

/// Keeps a field that is there, `null` included (`Option` alone reads `null` as absent).
fn present<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'a RawValue>, D::Error> {
    <&'a RawValue>::deserialize(deserializer).map(Some)
}
