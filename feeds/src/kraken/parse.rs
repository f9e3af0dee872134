//! Kraken v2 messages into ticks, events, or nothing.

use std::fmt::Write as _;

use engine::{Quote, Side, Trade};

use super::message::{self, Envelope, Ticker};
use crate::venue::{Event, ParseCtx, ParseError, Sequences, for_each, price_raw, qty_raw, rfc3339};

/// The stream name in gap and out-of-order events.
const TRADE_ID: &str = "trade id";

/// Parses one message. `trade_ids` holds the last trade id per instrument, kept across
/// reconnects.
pub(crate) fn parse(
    trade_ids: &mut Sequences,
    text: &str,
    ts_recv: i64,
    ctx: &mut ParseCtx,
) -> Result<(), ParseError> {
    let message: Envelope<'_> = serde_json::from_str(text)?;
    if let Some(channel) = message.channel {
        return match channel {
            "trade" => trades(trade_ids, &message, ts_recv, ctx),
            "ticker" => tickers(&message, ts_recv, ctx),
            // Liveness only: the connection's idle timer already counts every message.
            "heartbeat" => Ok(()),
            // The trading engine's state (`online`, `maintenance`, ...), sent on connect and
            // when it changes. Market data stops by itself when the engine does.
            "status" => Ok(()),
            other => Err(ParseError::unknown(other)),
        };
    }
    match message.method {
        Some(method @ ("subscribe" | "unsubscribe")) => {
            acknowledgement(method, &message, ctx);
            Ok(())
        }
        // The answer to the keepalive ping.
        Some("pong") => Ok(()),
        Some(other) => Err(ParseError::unknown(other)),
        None => Err(ParseError::unknown("(no channel or method)")),
    }
}

/// A subscription acknowledgement: one per symbol and channel.
fn acknowledgement(method: &str, message: &Envelope<'_>, ctx: &mut ParseCtx) {
    // `subscribe trade BTC/USD`, or as much of it as the message says.
    let mut what = method.to_owned();
    if let Some(result) = &message.result {
        for part in [result.channel, result.symbol].into_iter().flatten() {
            let _ = write!(what, " {part:.64}");
        }
    }
    if message.success == Some(true) {
        ctx.event(Event::Confirmed(what));
    } else {
        let error = message.error.as_deref().unwrap_or("no reason given");
        ctx.event(Event::VenueError(format!("{what} refused: {error:.200}")));
    }
}

/// `trade` data: every record is a trade; its `side` is the taker's, so the aggressor.
///
/// Trade ids are consecutive per symbol, so each is checked against the last one seen: a jump
/// is reported as a gap, a step back as out of order (and the trade still published). In a
/// `snapshot` (the last trades, sent on subscription when asked for), a trade whose id is not
/// after the last one seen was already published before a reconnect: it is skipped, silently.
fn trades(
    trade_ids: &mut Sequences,
    message: &Envelope<'_>,
    ts_recv: i64,
    ctx: &mut ParseCtx,
) -> Result<(), ParseError> {
    let snapshot = snapshot(message)?;
    let data = message.data.ok_or(ParseError::Missing("data"))?;
    for_each(data.get(), |record: message::Trade<'_>| {
        let instrument = ctx.instrument(record.symbol)?;
        let side = match record.side {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            other => return Err(ParseError::invalid("side", format!("{other:.16}"))),
        };
        let trade = Trade {
            price: price_raw("price", record.price)?,
            size: qty_raw("qty", record.qty)?,
            side,
            id: record.trade_id,
        };
        let ts_event = rfc3339("timestamp", record.timestamp)?;
        if snapshot {
            if !ctx.snapshot_sequence(trade_ids, instrument, TRADE_ID, record.trade_id) {
                return Ok(());
            }
        } else {
            ctx.sequence(trade_ids, instrument, TRADE_ID, record.trade_id);
        }
        ctx.trade(instrument, ts_event, ts_recv, trade);
        Ok(())
    })
}

/// `ticker` data: the top of book of each record, as a quote. Its time is the record's
/// `timestamp` where the venue sends one, else the time the message was read.
fn tickers(message: &Envelope<'_>, ts_recv: i64, ctx: &mut ParseCtx) -> Result<(), ParseError> {
    snapshot(message)?;
    let data = message.data.ok_or(ParseError::Missing("data"))?;
    for_each(data.get(), |record: Ticker<'_>| {
        let instrument = ctx.instrument(record.symbol)?;
        let quote = Quote {
            bid: price_raw("bid", record.bid)?,
            bid_size: qty_raw("bid_qty", record.bid_qty)?,
            ask: price_raw("ask", record.ask)?,
            ask_size: qty_raw("ask_qty", record.ask_qty)?,
        };
        let ts_event = match record.timestamp {
            Some(text) => rfc3339("timestamp", text)?,
            None => ts_recv,
        };
        ctx.quote(instrument, ts_event, ts_recv, quote);
        Ok(())
    })
}

/// Whether channel data is a snapshot (`type` is `snapshot`) or an update (`update`, or no
/// `type`).
fn snapshot(message: &Envelope<'_>) -> Result<bool, ParseError> {
    match message.kind {
        Some("snapshot") => Ok(true),
        Some("update") | None => Ok(false),
        Some(other) => Err(ParseError::invalid("type", format!("{other:.16}"))),
    }
}
