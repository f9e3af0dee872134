//! Polygon.io stocks (`wss://socket.polygon.io/stocks`): trades and NBBO quotes.
//!
//! ```toml
//! [feeds.polygon]
//! instruments = ["AAPL", "MSFT"]   # tickers
//! channels = ["T", "Q"]            # the default: both
//! key_env = "POLYGON_API_KEY"      # the default: the variable holding the API key
//! ```
//!
//! Instruments are named `POLYGON:AAPL`. The session (`parse.rs`):
//!
//! 1. Polygon greets with `status` `connected`;
//! 2. [`Venue::on_connect`] sends `{"action":"auth","params":"<key>"}`;
//! 3. on `status` `auth_success`, the parser replies with the subscription,
//!    `{"action":"subscribe","params":"T.AAPL,Q.AAPL,..."}`, instruments × channels;
//!    `auth_failed` is [`Event::Fatal`](crate::Event): a wrong key does not heal by retrying;
//! 4. then `T` events become trades and `Q` events quotes.
//!
//! Every message is an array of events. Times are SIP timestamps in Unix milliseconds (the
//! WebSocket feed's unit; the REST API's are nanoseconds). Trades carry no aggressor side.
//! Quote sizes are in round lots, as Polygon sends them.
//!
//! The API key is read from the environment when the feed is built, is sent only in the auth
//! message, and is never logged: the `Debug` output leaves it out.

mod message;
mod parse;
mod subscription;

use engine::TickKind;

use crate::config::VenueConfig;
use crate::error::Result;
use crate::venue::{LoginSession, ParseCtx, ParseError, Venue};

/// The config table.
const TABLE: &str = "feeds.polygon";

/// The Polygon stocks feed.
#[derive(Debug, Clone)]
pub struct Polygon {
    url: String,
    watched: Vec<(String, TickKind)>,
    /// The auth message, holding the key, and the subscription.
    session: LoginSession,
}

impl Polygon {
    /// The config table's and `--venue`'s name.
    pub const NAME: &'static str = "polygon";
    /// The instrument prefix: `POLYGON:AAPL`.
    pub const PREFIX: &'static str = "POLYGON";
    /// The real-time stocks cluster.
    pub const DEFAULT_URL: &'static str = "wss://socket.polygon.io/stocks";
    /// The environment variable holding the API key when `key_env` is not set.
    pub const DEFAULT_KEY_ENV: &'static str = "POLYGON_API_KEY";

    /// The live feed `[feeds.polygon]` describes, with the API key read from the environment
    /// variable `key_env` names. Errors name the key under `feeds.polygon`, and the variable
    /// when it is not set.
    pub fn new(config: &VenueConfig) -> Result<Polygon> {
        let plan = subscription::plan(config)?;
        let key = config.credential(TABLE, "key_env", Polygon::DEFAULT_KEY_ENV)?;
        Ok(Polygon {
            url: config.url_or(Polygon::DEFAULT_URL),
            watched: plan.watched(Polygon::PREFIX, "T"),
            session: LoginSession::new(subscription::auth(&key), subscription::subscribe(&plan)),
        })
    }

    /// A parser only, for replaying captures: no key, no subscription.
    pub fn parser() -> Polygon {
        Polygon {
            url: Polygon::DEFAULT_URL.to_owned(),
            watched: Vec::new(),
            session: LoginSession::default(),
        }
    }
}

impl Venue for Polygon {
    fn name(&self) -> &'static str {
        Polygon::NAME
    }

    fn prefix(&self) -> &'static str {
        Polygon::PREFIX
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
