//! Alpaca market data v2, stock stream (`wss://stream.data.alpaca.markets/v2/iex`): trades
//! and quotes.
//!
//! ```toml
//! [feeds.alpaca]
//! instruments = ["AAPL", "MSFT"]
//! channels = ["trades", "quotes"]        # the default: both
//! key_env = "APCA_API_KEY_ID"            # the defaults: the variables holding the key
//! secret_env = "APCA_API_SECRET_KEY"     # and the secret
//! # url = "wss://stream.data.alpaca.markets/v2/sip"   # with a SIP subscription
//! ```
//!
//! Instruments are named `ALPACA:AAPL`. The session (`parse.rs`):
//!
//! 1. Alpaca greets with `{"T":"success","msg":"connected"}`;
//! 2. [`Venue::on_connect`] sends `{"action":"auth","key":"...","secret":"..."}`;
//! 3. on `{"T":"success","msg":"authenticated"}`, the parser replies with the subscription,
//!    `{"action":"subscribe","trades":[...],"quotes":[...]}`, which Alpaca confirms with a
//!    `subscription` message;
//! 4. then `t` objects become trades and `q` objects quotes.
//!
//! Errors 401, 402, 404, 408 and 409 (credentials or plan) are [`Event::Fatal`](crate::Event);
//! 406 (another connection holds the key's one connection) and the rest are venue errors, the
//! reconnect's backoff trying again.
//!
//! Every message is an array. Times are RFC 3339 with nanoseconds. Trades carry no aggressor
//! side. Quote sizes are in round lots, as Alpaca sends them.
//!
//! The key and secret are read from the environment when the feed is built, are sent only in
//! the auth message, and are never logged: the `Debug` output leaves them out.

mod message;
mod parse;
mod subscription;

use engine::TickKind;

use crate::config::VenueConfig;
use crate::error::Result;
use crate::venue::{LoginSession, ParseCtx, ParseError, Venue};

/// The config table.
const TABLE: &str = "feeds.alpaca";

/// The Alpaca stock stream.
#[derive(Debug, Clone)]
pub struct Alpaca {
    url: String,
    watched: Vec<(String, TickKind)>,
    /// The auth message, holding the key and secret, and the subscription.
    session: LoginSession,
}

impl Alpaca {
    /// The config table's and `--venue`'s name.
    pub const NAME: &'static str = "alpaca";
    /// The instrument prefix: `ALPACA:AAPL`.
    pub const PREFIX: &'static str = "ALPACA";
    /// The IEX feed, open to every account; `…/v2/sip` needs a paid plan.
    pub const DEFAULT_URL: &'static str = "wss://stream.data.alpaca.markets/v2/iex";
    /// The environment variable holding the API key id when `key_env` is not set.
    pub const DEFAULT_KEY_ENV: &'static str = "APCA_API_KEY_ID";
    /// The environment variable holding the API secret when `secret_env` is not set.
    pub const DEFAULT_SECRET_ENV: &'static str = "APCA_API_SECRET_KEY";

    /// The live feed `[feeds.alpaca]` describes, with the key and secret read from the
    /// environment variables `key_env` and `secret_env` name. Errors name the key under
    /// `feeds.alpaca`, and the variable when it is not set.
    pub fn new(config: &VenueConfig) -> Result<Alpaca> {
        let plan = subscription::plan(config)?;
        let key = config.credential(TABLE, "key_env", Alpaca::DEFAULT_KEY_ENV)?;
        let secret = config.credential(TABLE, "secret_env", Alpaca::DEFAULT_SECRET_ENV)?;
        Ok(Alpaca {
            url: config.url_or(Alpaca::DEFAULT_URL),
            watched: plan.watched(Alpaca::PREFIX, "trades"),
            session: LoginSession::new(
                subscription::auth(&key, &secret),
                subscription::subscribe(&plan),
            ),
        })
    }

    /// A parser only, for replaying captures: no credentials, no subscription.
    pub fn parser() -> Alpaca {
        Alpaca {
            url: Alpaca::DEFAULT_URL.to_owned(),
            watched: Vec::new(),
            session: LoginSession::default(),
        }
    }
}

impl Venue for Alpaca {
    fn name(&self) -> &'static str {
        Alpaca::NAME
    }

    fn prefix(&self) -> &'static str {
        Alpaca::PREFIX
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    fn on_connect(&mut self, out: &mut Vec<String>) {
        self.session.on_connect(out);
    }

    fn parse(&mut self, text: &str, ts_recv: i64, ctx: &mut ParseCtx) -> Result<(), ParseError> {
        parse::parse(&mut self.session, text, ts_recv, ctx)
    }

    fn channels(&self) -> Vec<(String, TickKind)> {
        self.watched.clone()
    }

    /// A new connection authenticates again.
    fn reset(&mut self) {
        self.session.reset();
    }
}
