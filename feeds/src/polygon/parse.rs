//! Polygon stocks events into ticks, replies, events, or nothing.

use engine::{Quote, Side, Trade};
use serde_json::value::RawValue;

use super::message::Record;
use crate::venue::{Event, ParseCtx, ParseError, millis, num, price_raw, qty_raw, required};
use crate::venue::{LoginSession, for_each};

/// Parses one message: an array of events, read one by one. An event that cannot be read does
/// not stop the others; the first such error is returned.
pub(crate) fn parse(
    session: &mut LoginSession,
    text: &str,
    ts_recv: i64,
    ctx: &mut ParseCtx,
) -> Result<(), ParseError> {
    for_each(text, |record: Record<'_>| match record.ev {
        "T" => trade(&record, ts_recv, ctx),
        "Q" => quote(&record, ts_recv, ctx),
        "status" => status(session, &record, ctx),
        // Aggregates (per second, per minute), limit up/limit down bands, imbalances and fair
        // market value: other Polygon stocks feeds, not subscribed to, carrying no tick.
        "A" | "AM" | "LULD" | "NOI" | "FMV" => Ok(()),
        other => Err(ParseError::unknown(other)),
    })
}

/// `T`: a trade. `p` and `s` are JSON numbers read as text, `t` is the SIP time in Unix
/// milliseconds, and the aggressor side is not given. `i`, the trade id, is a string: one of
/// digits becomes the tick's id, any other (or none, or one past `u64`) id 0, "none", since
/// Polygon's ids are unique only per exchange and are not a sequence to check.
fn trade(record: &Record<'_>, ts_recv: i64, ctx: &mut ParseCtx) -> Result<(), ParseError> {
    let instrument = ctx.instrument(record.sym.ok_or(ParseError::Missing("sym"))?)?;
    let trade = Trade {
        price: price_raw("p", required("p", record.p)?)?,
        size: qty_raw("s", required("s", record.s)?)?,
        side: Side::Unknown,
        id: record.i.map_or(0, trade_id),
    };
    let ts_event = epoch_millis("t", required("t", record.t)?)?;
    ctx.trade(instrument, ts_event, ts_recv, trade);
    Ok(())
}

/// `Q`: an NBBO quote. Sizes are as Polygon sends them, in round lots (usually 100 shares).
fn quote(record: &Record<'_>, ts_recv: i64, ctx: &mut ParseCtx) -> Result<(), ParseError> {
    let instrument = ctx.instrument(record.sym.ok_or(ParseError::Missing("sym"))?)?;
    let quote = Quote {
        bid: price_raw("bp", required("bp", record.bp)?)?,
        bid_size: qty_raw("bs", required("bs", record.bs)?)?,
        ask: price_raw("ap", required("ap", record.ap)?)?,
        ask_size: qty_raw("as", required("as", record.ask_size)?)?,
    };
    let ts_event = epoch_millis("t", required("t", record.t)?)?;
    ctx.quote(instrument, ts_event, ts_recv, quote);
    Ok(())
}

/// A `status` event:
///
/// | status | becomes |
/// |---|---|
/// | `connected` | confirmed |
/// | `auth_success` (or the older `success` with message `authenticated`) | confirmed, and the subscription sent as a reply, once per connection |
/// | `success` (`subscribed to: T.AAPL`) | confirmed |
/// | `auth_failed` | fatal: the key is wrong |
/// | `error` saying `authentication failed` or `not authorized` | fatal: the key is wrong or the plan has no WebSocket access |
/// | `max_connections` | a venue error: another client took the key's one connection; the reconnect takes it back |
/// | `auth_timeout`, any other `error`, any other status | a venue error |
fn status(
    session: &mut LoginSession,
    record: &Record<'_>,
    ctx: &mut ParseCtx,
) -> Result<(), ParseError> {
    let status = record.status.ok_or(ParseError::Missing("status"))?;
    let message = record.message.as_deref().unwrap_or("");
    let event = match status {
        "connected" => Event::Confirmed(format!("connected: {message:.200}")),
        "auth_success" => authenticated(session, ctx),
        "success" if message == "authenticated" => authenticated(session, ctx),
        "success" => Event::Confirmed(format!("{message:.200}")),
        "auth_failed" => Event::Fatal(format!("authentication failed: {message:.200}")),
        "error" if refuses_key(message) => Event::Fatal(format!("error: {message:.200}")),
        other => Event::VenueError(format!("{other:.32}: {message:.200}")),
    };
    ctx.event(event);
    Ok(())
}

/// Sends the subscription, unless this connection already did.
fn authenticated(session: &mut LoginSession, ctx: &mut ParseCtx) -> Event {
    session.logged_in(ctx);
    Event::Confirmed("authenticated".to_owned())
}

fn refuses_key(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("authentication failed") || message.contains("not authorized")
}

/// Epoch milliseconds (a JSON integer) to ns.
fn epoch_millis(field: &'static str, raw: &RawValue) -> Result<i64, ParseError> {
    let text = num(raw);
    let ms = text
        .parse()
        .map_err(|_| ParseError::invalid(field, format!("not integer milliseconds: {text:.32}")))?;
    millis(field, ms)
}

/// The trade id's digits as a number; 0 for anything else.
fn trade_id(raw: &RawValue) -> u64 {
    let text = num(raw);
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().unwrap_or(0)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trade_ids_are_digits_or_none() {
        for (raw, id) in [
            (r#""12345""#, 12_345),
            ("12345", 12_345),
            (r#""""#, 0),
            (r#""52983525029461A""#, 0),
            (r#""-1""#, 0),
            (r#""+1""#, 0),
            (r#""99999999999999999999""#, 0),
        ] {
            let raw: Box<RawValue> = serde_json::from_str(raw).unwrap();
            assert_eq!(trade_id(&raw), id, "{raw}");
        }
    }
}
