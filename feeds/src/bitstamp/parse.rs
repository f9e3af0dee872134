//! Bitstamp messages to ticks and events.

use engine::{Side, Trade};

use super::message::{ErrorData, Message, TradeData};
use crate::venue::{
    Event, ParseCtx, ParseError, decimal_seconds, micros, num, price, price_raw, qty, qty_raw,
    uint, uint_raw,
};

/// Channels whose events (`data`, `order_created`, ...) carry order book or order data that
/// nexamd does not read.
const BOOK_CHANNELS: &[&str] = &[
    "order_book_",
    "diff_order_book_",
    "detail_order_book_",
    "full_order_book_",
    "live_orders_",
];

/// The events of those channels.
const BOOK_EVENTS: &[&str] = &["data", "order_created", "order_changed", "order_deleted"];

const TRADES: &str = "live_trades_";

pub(super) fn parse(text: &str, ts_recv: i64, ctx: &mut ParseCtx) -> Result<(), ParseError> {
    let message: Message = serde_json::from_str(text)?;
    let channel = message.channel.unwrap_or("");
    match message.event {
        "trade" => trade(&message, channel, ts_recv, ctx),
        "bts:subscription_succeeded" => {
            ctx.event(Event::Confirmed(format!("subscribed to {channel}")));
            Ok(())
        }
        "bts:unsubscription_succeeded" => {
            ctx.event(Event::Confirmed(format!("unsubscribed from {channel}")));
            Ok(())
        }
        "bts:request_reconnect" => {
            ctx.event(Event::Reconnect("bts:request_reconnect".into()));
            Ok(())
        }
        "bts:error" => {
            ctx.event(Event::VenueError(error_text(&message, channel)));
            Ok(())
        }
        "bts:heartbeat" => Ok(()),
        event
            if BOOK_EVENTS.contains(&event)
                && BOOK_CHANNELS
                    .iter()
                    .any(|prefix| channel.starts_with(prefix)) =>
        {
            Ok(())
        }
        event => Err(ParseError::unknown(event)),
    }
}

fn trade(
    message: &Message,
    channel: &str,
    ts_recv: i64,
    ctx: &mut ParseCtx,
) -> Result<(), ParseError> {
    let pair = channel
        .strip_prefix(TRADES)
        .filter(|pair| !pair.is_empty())
        .ok_or_else(|| {
            ParseError::invalid("channel", format!("not {TRADES}<pair>: {channel:.64}"))
        })?;
    let data = message.data.ok_or(ParseError::Missing("data"))?;
    let data: TradeData = serde_json::from_str(data.get())?;
    let id = uint_raw("id", data.id.ok_or(ParseError::Missing("id"))?)?;
    let price = match (data.price_str, data.price) {
        (Some(text), _) => price("price_str", text)?,
        (None, Some(raw)) => price_raw("price", raw)?,
        (None, None) => return Err(ParseError::Missing("price_str")),
    };
    let size = match (data.amount_str, data.amount) {
        (Some(text), _) => qty("amount_str", text)?,
        (None, Some(raw)) => qty_raw("amount", raw)?,
        (None, None) => return Err(ParseError::Missing("amount_str")),
    };
    let side = match data.side.ok_or(ParseError::Missing("type"))? {
        0 => Side::Buy,
        1 => Side::Sell,
        other => return Err(ParseError::invalid("type", format!("not 0 or 1: {other}"))),
    };
    let ts_event = match (data.microtimestamp, data.timestamp) {
        (Some(us), _) => {
            let us = uint("microtimestamp", num(us))?;
            let us = i64::try_from(us)
                .map_err(|_| ParseError::invalid("microtimestamp", "out of range"))?;
            micros("microtimestamp", us)?
        }
        (None, Some(s)) => decimal_seconds("timestamp", num(s))?,
        (None, None) => return Err(ParseError::Missing("microtimestamp")),
    };
    let instrument = ctx.instrument_upper(pair)?;
    ctx.trade(
        instrument,
        ts_event,
        ts_recv,
        Trade {
            price,
            size,
            side,
            id,
        },
    );
    Ok(())
}

/// `channel: message (code ..)`, or the raw `data` where it is not the documented object.
fn error_text(message: &Message, channel: &str) -> String {
    let data = message.data.map_or("", |raw| raw.get());
    let text = match serde_json::from_str::<ErrorData>(data) {
        Ok(ErrorData {
            message: Some(text),
            code,
        }) => match code.map(|c| c.get()).filter(|c| *c != "null") {
            Some(code) => format!("{text} (code {code})"),
            None => text,
        },
        _ => data.to_owned(),
    };
    if channel.is_empty() {
        text
    } else {
        format!("{channel}: {text}")
    }
}
