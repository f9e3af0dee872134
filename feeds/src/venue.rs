//! The interface every provider adapter implements: a [`Venue`] says what to send on a
//! WebSocket and turns each message it receives into ticks through a [`ParseCtx`].
//!
//! The same parser serves the live connection ([`crate::ws::WsFeed`]) and capture replay
//! ([`crate::replay`]), so what a replay prints is exactly what the engine would publish.
//!
//! Parsing rules shared by every venue:
//! - prices and sizes go from the message's decimal text straight into fixed point; where a
//!   venue sends a JSON number, its text is taken through [`RawValue`] ([`num`]), never `f64`;
//! - `ts_event` is the venue's trade or event time; where a message has none, it is `ts_recv`;
//! - a message of a known kind that carries no market data (heartbeats, subscription
//!   acknowledgements, depth updates nexamd does not use) parses to no tick; a message of an
//!   unknown kind is a [`ParseError::Unknown`], counted and logged by the caller.

mod array;
mod plan;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use engine::{InstrumentId, Price, Qty, Quote, Registry, Tick, TickKind, Trade};
use serde_json::value::RawValue;
use thiserror::Error;

pub use array::for_each;
pub(crate) use plan::Plan;

/// One provider's protocol and parser.
pub trait Venue: Send + 'static {
    /// The venue's name in config, `--venue`, metrics and logs: `binance`, `coinbase`, ...
    fn name(&self) -> &'static str;

    /// The instrument prefix: `BINANCE` names `BINANCE:BTCUSDT`.
    fn prefix(&self) -> &'static str;

    /// Where to connect. Binance puts its streams in the URL.
    fn url(&self) -> String;

    /// Messages to send right after the connection opens, in order: subscriptions, or the
    /// authentication that precedes them (the subscription then follows as a reply once the
    /// venue confirms, see [`ParseCtx::reply`]).
    fn on_connect(&mut self, out: &mut Vec<String>);

    /// Parses one text message received at `ts_recv` (ns). Ticks, replies and events go to
    /// `ctx`; nothing it does may panic, whatever `text` holds.
    fn parse(&mut self, text: &str, ts_recv: i64, ctx: &mut ParseCtx) -> Result<(), ParseError>;

    /// The (instrument, kind) channels the configuration subscribes to, watched by the stale
    /// watchdog. Instrument names are full (`BINANCE:BTCUSDT`).
    fn channels(&self) -> Vec<(String, TickKind)>;

    /// A venue-level ping to send every so often, where the venue wants one beside WebSocket
    /// pings (Kraken's `{"method":"ping"}`).
    fn keepalive(&self) -> Option<Keepalive> {
        None
    }

    /// Forgets per-connection state (an authentication step, a per-connection sequence)
    /// before a new connection. Per-instrument trade sequences are kept on purpose: the first
    /// trade after a reconnect then shows how many were missed.
    fn reset(&mut self) {}
}

/// A venue-level ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keepalive {
    /// How often.
    pub interval: Duration,
    /// The text message to send.
    pub message: String,
}

/// Something a message told the connection, beside ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The venue confirmed a subscription or a login; the text says what, for the log.
    Confirmed(String),
    /// A sequenced stream skipped: `expected` was due, `received` came.
    Gap {
        /// The instrument whose stream skipped; `None` for a per-connection sequence.
        instrument: Option<InstrumentId>,
        /// What the stream was (`trade id`, `sequence`, ...), for the log.
        stream: &'static str,
        /// The next number expected.
        expected: u64,
        /// The number received.
        received: u64,
    },
    /// A sequenced stream went back or repeated: `received` is not after `last`.
    OutOfOrder {
        /// The instrument; `None` for a per-connection sequence.
        instrument: Option<InstrumentId>,
        /// What the stream was, for the log.
        stream: &'static str,
        /// The last number seen.
        last: u64,
        /// The number received.
        received: u64,
    },
    /// The venue reported an error; the connection goes on.
    VenueError(String),
    /// The venue asked us to reconnect (Bitstamp's `bts:request_reconnect`).
    Reconnect(String),
    /// The venue refused us in a way retrying cannot mend (bad credentials): the feed stops.
    Fatal(String),
}

/// Where a parser puts what it read. Reused from message to message: no allocation per tick
/// once warm.
#[derive(Debug)]
pub struct ParseCtx {
    symbols: Symbols,
    ticks: Vec<Tick>,
    replies: Vec<String>,
    events: Vec<Event>,
}

impl ParseCtx {
    /// A context that interns `PREFIX:SYMBOL` names into `registry`.
    pub fn new(registry: Arc<Registry>, prefix: &'static str) -> ParseCtx {
        ParseCtx {
            symbols: Symbols::new(registry, prefix),
            ticks: Vec::with_capacity(64),
            replies: Vec::new(),
            events: Vec::new(),
        }
    }

    /// The id of the venue's `symbol`, named `PREFIX:symbol`.
    pub fn instrument(&mut self, symbol: &str) -> Result<InstrumentId, ParseError> {
        self.symbols.id(symbol, false)
    }

    /// The id of the venue's `symbol` upper-cased (`btcusd` → `PREFIX:BTCUSD`).
    pub fn instrument_upper(&mut self, symbol: &str) -> Result<InstrumentId, ParseError> {
        self.symbols.id(symbol, true)
    }

    /// Adds a trade.
    pub fn trade(&mut self, instrument: InstrumentId, ts_event: i64, ts_recv: i64, trade: Trade) {
        self.ticks
            .push(Tick::trade(instrument, ts_event, ts_recv, trade));
    }

    /// Adds a quote.
    pub fn quote(&mut self, instrument: InstrumentId, ts_event: i64, ts_recv: i64, quote: Quote) {
        self.ticks
            .push(Tick::quote(instrument, ts_event, ts_recv, quote));
    }

    /// Queues a message to send back on the connection (a pong, a subscription after login).
    /// Replay drops them.
    pub fn reply(&mut self, message: String) {
        self.replies.push(message);
    }

    /// Reports an event.
    pub fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Checks `number` against the last one seen on `tracker` for `instrument`, reporting a
    /// gap or a step back as an event.
    pub fn sequence(
        &mut self,
        tracker: &mut Sequences,
        instrument: InstrumentId,
        stream: &'static str,
        number: u64,
    ) {
        match tracker.observe(instrument, number) {
            SeqCheck::First | SeqCheck::Next => {}
            SeqCheck::Gap { expected } => self.events.push(Event::Gap {
                instrument: Some(instrument),
                stream,
                expected,
                received: number,
            }),
            SeqCheck::Back { last } => self.events.push(Event::OutOfOrder {
                instrument: Some(instrument),
                stream,
                last,
                received: number,
            }),
        }
    }

    /// Checks `number` against the last one seen on `tracker` for `instrument`, for numbers
    /// that jump (update ids, per-channel sequences): only a step back or a repeat is news,
    /// reported as out of order.
    pub fn sequence_back(
        &mut self,
        tracker: &mut Sequences,
        instrument: InstrumentId,
        stream: &'static str,
        number: u64,
    ) {
        if let SeqCheck::Back { last } = tracker.observe(instrument, number) {
            self.events.push(Event::OutOfOrder {
                instrument: Some(instrument),
                stream,
                last,
                received: number,
            });
        }
    }

    /// Checks the trade id `number` of a snapshot (the recent trades a venue sends on
    /// subscribing) against the last one seen on `tracker` for `instrument`: whether the trade
    /// is new. One not after the last seen was published before a reconnect: `false`, without
    /// an event. A jump is reported as a gap, as for any trade.
    pub fn snapshot_sequence(
        &mut self,
        tracker: &mut Sequences,
        instrument: InstrumentId,
        stream: &'static str,
        number: u64,
    ) -> bool {
        match tracker.observe(instrument, number) {
            SeqCheck::Back { .. } => return false,
            SeqCheck::Gap { expected } => self.events.push(Event::Gap {
                instrument: Some(instrument),
                stream,
                expected,
                received: number,
            }),
            SeqCheck::First | SeqCheck::Next => {}
        }
        true
    }

    /// The ticks of the message just parsed.
    pub fn ticks(&self) -> &[Tick] {
        &self.ticks
    }

    /// The registry names are interned in.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.symbols.registry
    }

    /// Takes the replies queued so far.
    pub fn take_replies(&mut self) -> std::vec::Drain<'_, String> {
        self.replies.drain(..)
    }

    /// Takes the events reported so far.
    pub fn take_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    /// Forgets the ticks, replies and events of the last message.
    pub fn clear(&mut self) {
        self.ticks.clear();
        self.replies.clear();
        self.events.clear();
    }
}

/// Venue symbol → instrument id, interning `PREFIX:SYMBOL` on first sight. A hit is one hash
/// lookup by `&str`, without allocation.
struct Symbols {
    registry: Arc<Registry>,
    prefix: &'static str,
    cache: HashMap<Box<str>, InstrumentId>,
}

impl fmt::Debug for Symbols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Symbols")
            .field("prefix", &self.prefix)
            .field("cached", &self.cache.len())
            .finish()
    }
}

/// Most distinct symbols one parser interns; past it a new symbol is an error, so a feed
/// that sends garbage symbols cannot fill the registry.
pub const MAX_SYMBOLS: usize = 100_000;

impl Symbols {
    fn new(registry: Arc<Registry>, prefix: &'static str) -> Symbols {
        Symbols {
            registry,
            prefix,
            cache: HashMap::new(),
        }
    }

    fn id(&mut self, symbol: &str, upper: bool) -> Result<InstrumentId, ParseError> {
        if let Some(&id) = self.cache.get(symbol) {
            return Ok(id);
        }
        if self.cache.len() >= MAX_SYMBOLS {
            return Err(ParseError::Invalid {
                field: "symbol",
                reason: format!("more than {MAX_SYMBOLS} symbols"),
            });
        }
        let name = if upper {
            format!("{}:{}", self.prefix, symbol.to_ascii_uppercase())
        } else {
            format!("{}:{symbol}", self.prefix)
        };
        let id = self
            .registry
            .intern(&name)
            .map_err(|e| ParseError::Invalid {
                field: "symbol",
                reason: e.to_string(),
            })?;
        self.cache.insert(symbol.into(), id);
        Ok(id)
    }
}

/// The session of a venue that logs in before it subscribes (Polygon, Alpaca): the login
/// message goes first on every connection; the subscription waits until the venue confirms
/// the login, then goes once per connection.
///
/// The login message holds the credentials: `Debug` never shows it.
#[derive(Clone, Default)]
pub struct LoginSession {
    /// The login message; `None` for a parser only.
    auth: Option<String>,
    /// The subscription to send once logged in; `None` for a parser only.
    pub subscribe: Option<String>,
    /// Whether this connection has logged in (and the subscription was sent).
    pub authenticated: bool,
}

impl fmt::Debug for LoginSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginSession")
            .field("auth", &self.auth.as_ref().map(|_| "(set, not shown)"))
            .field("subscribe", &self.subscribe)
            .field("authenticated", &self.authenticated)
            .finish()
    }
}

impl LoginSession {
    /// A session that sends `auth` on connecting and `subscribe` after the login.
    pub fn new(auth: String, subscribe: String) -> LoginSession {
        LoginSession {
            auth: Some(auth),
            subscribe: Some(subscribe),
            authenticated: false,
        }
    }

    /// What to send when a connection opens: the login message.
    pub fn on_connect(&self, out: &mut Vec<String>) {
        out.extend(self.auth.iter().cloned());
    }

    /// The venue confirmed the login: queue the subscription, unless this connection
    /// already did.
    pub fn logged_in(&mut self, ctx: &mut ParseCtx) {
        if !self.authenticated {
            self.authenticated = true;
            if let Some(subscribe) = &self.subscribe {
                ctx.reply(subscribe.clone());
            }
        }
    }

    /// A new connection must log in again.
    pub fn reset(&mut self) {
        self.authenticated = false;
    }
}

/// What [`Sequences::observe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// The first number seen for the key.
    First,
    /// One after the last.
    Next,
    /// Numbers were skipped; `expected` was due.
    Gap {
        /// The number that was due.
        expected: u64,
    },
    /// Not after the last.
    Back {
        /// The last number seen.
        last: u64,
    },
}

/// The last sequence number seen per instrument, for streams numbered 1, 2, 3, ... per
/// instrument (trade ids on Binance, Coinbase and Kraken). A flat vector by instrument id.
#[derive(Debug, Default, Clone)]
pub struct Sequences {
    last: Vec<Option<u64>>,
}

impl Sequences {
    /// Records `number` for `instrument` and says how it follows the last one.
    pub fn observe(&mut self, instrument: InstrumentId, number: u64) -> SeqCheck {
        let index = instrument.0 as usize;
        if index >= self.last.len() {
            self.last.resize(index + 1, None);
        }
        let slot = &mut self.last[index];
        let check = match *slot {
            None => SeqCheck::First,
            Some(last) if number == last.wrapping_add(1) => SeqCheck::Next,
            Some(last) if number > last => SeqCheck::Gap { expected: last + 1 },
            Some(last) => SeqCheck::Back { last },
        };
        if !matches!(check, SeqCheck::Back { .. }) {
            *slot = Some(number);
        }
        check
    }

    /// Forgets every number.
    pub fn clear(&mut self) {
        self.last.clear();
    }
}

/// Why a message could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not JSON, or not the shape the venue documents.
    #[error("malformed message: {0}")]
    Json(#[from] serde_json::Error),
    /// A field that must be there is not.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// A field has an unusable value.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A message of a kind the venue parser does not know.
    #[error("unknown message kind `{0}`")]
    Unknown(String),
}

impl ParseError {
    /// An [`ParseError::Invalid`] for `field`.
    pub fn invalid(field: &'static str, reason: impl fmt::Display) -> ParseError {
        ParseError::Invalid {
            field,
            reason: reason.to_string(),
        }
    }

    /// An [`ParseError::Unknown`] naming `kind`, cut to 64 characters for the log.
    pub fn unknown(kind: &str) -> ParseError {
        ParseError::Unknown(kind.chars().take(64).collect())
    }
}

/// The value of a field that must be there.
pub fn required<T>(field: &'static str, value: Option<T>) -> Result<T, ParseError> {
    value.ok_or(ParseError::Missing(field))
}

/// The text of a JSON number or string value, without quotes: `0.35` for both `0.35` and
/// `"0.35"`. Decimal and integer fields never hold escapes, so a string is taken as is.
pub fn num(raw: &RawValue) -> &str {
    let text = raw.get();
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
}

/// A price from decimal text.
pub fn price(field: &'static str, text: &str) -> Result<Price, ParseError> {
    Price::parse_bytes(text.as_bytes()).map_err(|e| ParseError::invalid(field, e))
}

/// A quantity from decimal text.
pub fn qty(field: &'static str, text: &str) -> Result<Qty, ParseError> {
    Qty::parse_bytes(text.as_bytes()).map_err(|e| ParseError::invalid(field, e))
}

/// A price from a JSON number or string.
pub fn price_raw(field: &'static str, raw: &RawValue) -> Result<Price, ParseError> {
    price(field, num(raw))
}

/// A quantity from a JSON number or string.
pub fn qty_raw(field: &'static str, raw: &RawValue) -> Result<Qty, ParseError> {
    qty(field, num(raw))
}

/// An unsigned integer (a trade id, a sequence) from a JSON number or string of digits.
pub fn uint_raw(field: &'static str, raw: &RawValue) -> Result<u64, ParseError> {
    uint(field, num(raw))
}

/// An unsigned integer from text.
pub fn uint(field: &'static str, text: &str) -> Result<u64, ParseError> {
    text.parse()
        .map_err(|_| ParseError::invalid(field, format!("not an unsigned integer: {text:.32}")))
}

/// Epoch milliseconds to ns, refusing overflow.
pub fn millis(field: &'static str, ms: i64) -> Result<i64, ParseError> {
    ms.checked_mul(1_000_000)
        .ok_or_else(|| ParseError::invalid(field, format!("out of range: {ms}")))
}

/// Epoch microseconds to ns, refusing overflow.
pub fn micros(field: &'static str, us: i64) -> Result<i64, ParseError> {
    us.checked_mul(1_000)
        .ok_or_else(|| ParseError::invalid(field, format!("out of range: {us}")))
}

/// An RFC 3339 time (`2021-04-17T16:43:37.089723Z`) to epoch ns.
pub fn rfc3339(field: &'static str, text: &str) -> Result<i64, ParseError> {
    engine::time::parse_timestamp(text).map_err(|e| ParseError::invalid(field, e))
}

/// Decimal epoch seconds (`1633998512.0633569`, as in capture files) to ns, exactly: digits
/// past the ninth fraction digit must be zeros.
pub fn decimal_seconds(field: &'static str, text: &str) -> Result<i64, ParseError> {
    // Seconds in units of 1e-9 are nanoseconds: the fixed-point parser does exactly this.
    engine::fixed::parse_scaled(text.as_bytes()).map_err(|e| ParseError::invalid(field, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("0.35280000", "0.3528")]
    #[case("\"0.35280000\"", "0.3528")]
    #[case("6423.46326", "6423.46326")]
    #[case("1e-5", "0.00001")]
    fn numbers_keep_their_text(#[case] raw: &str, #[case] expected: &str) {
        let raw: Box<RawValue> = serde_json::from_str(raw).unwrap();
        assert_eq!(price_raw("p", &raw).unwrap().to_string(), expected);
    }

    #[test]
    fn capture_seconds_are_exact() {
        assert_eq!(
            decimal_seconds("ts", "1633998512.0633569").unwrap(),
            1_633_998_512_063_356_900
        );
        assert_eq!(
            decimal_seconds("ts", "1641343691").unwrap(),
            1_641_343_691_000_000_000
        );
        assert!(decimal_seconds("ts", "1641343691.0000000001").is_err());
    }

    #[test]
    fn sequences_find_gaps_and_steps_back() {
        let mut seq = Sequences::default();
        let a = InstrumentId(3);
        let b = InstrumentId(0);
        assert_eq!(seq.observe(a, 10), SeqCheck::First);
        assert_eq!(seq.observe(a, 11), SeqCheck::Next);
        assert_eq!(seq.observe(b, 11), SeqCheck::First);
        assert_eq!(seq.observe(a, 14), SeqCheck::Gap { expected: 12 });
        assert_eq!(seq.observe(a, 13), SeqCheck::Back { last: 14 });
        assert_eq!(seq.observe(a, 15), SeqCheck::Next);
    }

    #[test]
    fn symbols_are_interned_once_with_the_prefix() {
        let registry = Arc::new(Registry::new());
        let mut ctx = ParseCtx::new(registry.clone(), "BITSTAMP");
        let id = ctx.instrument_upper("btcusd").unwrap();
        assert_eq!(ctx.instrument_upper("btcusd").unwrap(), id);
        assert_eq!(registry.id("BITSTAMP:BTCUSD"), Some(id));
        assert!(ctx.instrument("bad symbol").is_err());
    }
}
