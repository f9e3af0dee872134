//! Alpaca stock stream messages into ticks, replies, events, or nothing.

use engine::{Quote, Side, Trade};
use serde_json::value::RawValue;

use super::message::Record;
use crate::venue::{Event, ParseCtx, ParseError, price_raw, qty_raw, required, rfc3339, uint_raw};
use crate::venue::{LoginSession, for_each};

/// Parses one message: an array of objects, read one by one. An object that cannot be read
/// does not stop the others; the first such error is returned.
///
/// Kinds read for nothing, each documented by Alpaca but carrying no trade or quote:
/// - `b`, `d`, `u`: minute, daily and updated bars (nexamd builds its own bars from trades);
/// - `s`: trading status (halts and resumptions);
/// - `l`: limit up / limit down bands;
/// - `c`: trade corrections, and `x`: trade cancels and errors, sent with the trades channel.
///   A published tick is never amended, so the corrected or cancelled trade stays as first
///   published;
/// - `i`: order imbalances.
pub(crate) fn parse(
    session: &mut LoginSession,
    text: &str,
    ts_recv: i64,
    ctx: &mut ParseCtx,
) -> Result<(), ParseError> {
    for_each(text, |record: Record<'_>| match record.kind {
        "t" => trade(&record, ts_recv, ctx),
        "q" => quote(&record, ts_recv, ctx),
        "success" => {
            success(session, &record, ctx);
            Ok(())
        }
        "error" => {
            error(&record, ctx);
            Ok(())
        }
        "subscription" => {
            fn list(raw: Option<&RawValue>) -> &str {
                raw.map_or("[]", RawValue::get)
            }
            ctx.event(Event::Confirmed(format!(
                "subscription: trades {:.200} quotes {:.200}",
                list(record.trades),
                list(record.quotes)
            )));
            Ok(())
        }
        "b" | "d" | "u" | "s" | "l" | "c" | "x" | "i" => Ok(()),
        other => Err(ParseError::unknown(other)),
    })
}

/// `t`: a trade. `p` and `s` are JSON numbers read as text, `t` an RFC 3339 time with
/// nanoseconds, `i` the trade id (unique per exchange, not a sequence; 0 where missing). The
/// stock feeds give no aggressor side.
fn trade(record: &Record<'_>, ts_recv: i64, ctx: &mut ParseCtx) -> Result<(), ParseError> {
    let instrument = ctx.instrument(record.symbol.ok_or(ParseError::Missing("S"))?)?;
    let trade = Trade {
        price: price_raw("p", required("p", record.p)?)?,
        size: qty_raw("s", required("s", record.s)?)?,
        side: Side::Unknown,
        id: record
            .i
            .map(|raw| uint_raw("i", raw))
            .transpose()?
            .unwrap_or(0),
    };
    let ts_event = rfc3339("t", record.time.ok_or(ParseError::Missing("t"))?)?;
    ctx.trade(instrument, ts_event, ts_recv, trade);
    Ok(())
}

/// `q`: a quote. Sizes are as Alpaca sends them, in round lots.
fn quote(record: &Record<'_>, ts_recv: i64, ctx: &mut ParseCtx) -> Result<(), ParseError> {
    let instrument = ctx.instrument(record.symbol.ok_or(ParseError::Missing("S"))?)?;
    let quote = Quote {
        bid: price_raw("bp", required("bp", record.bp)?)?,
        bid_size: qty_raw("bs", required("bs", record.bs)?)?,
        ask: price_raw("ap", required("ap", record.ap)?)?,
        ask_size: qty_raw("as", required("as", record.ask_size)?)?,
    };
    let ts_event = rfc3339("t", record.time.ok_or(ParseError::Missing("t"))?)?;
    ctx.quote(instrument, ts_event, ts_recv, quote);
    Ok(())
}

/// `success`: `connected` on arrival, `authenticated` after the auth message, which the
/// subscription answers, once per connection.
fn success(session: &mut LoginSession, record: &Record<'_>, ctx: &mut ParseCtx) {
    let msg = record.msg.as_deref().unwrap_or("");
    if msg == "authenticated" {
        session.logged_in(ctx);
    }
    ctx.event(Event::Confirmed(format!("{msg:.200}")));
}

/// `error`, by code:
///
/// | code | message | becomes |
/// |---|---|---|
/// | 401 | not authenticated | fatal |
/// | 402 | auth failed | fatal: wrong key or secret |
/// | 404 | auth timeout | fatal |
/// | 408 | v2 not enabled | fatal: the account has no access to the data API |
/// | 409 | insufficient subscription | fatal: the feed (`sip`, ...) is not in the plan |
/// | 406 | connection limit exceeded | a venue error: the reconnect, after its backoff, tries again |
/// | others (400, 403, 405, 407, 500, ...) | | a venue error |
fn error(record: &Record<'_>, ctx: &mut ParseCtx) {
    let msg = record.msg.as_deref().unwrap_or("");
    let code = record.code.unwrap_or(0);
    let text = format!("{code} {msg:.200}");
    ctx.event(match code {
        401 | 402 | 404 | 408 | 409 => Event::Fatal(text),
        _ => Event::VenueError(text),
    });
}
