//! The Exchange feed's messages (`wss://ws-feed.exchange.coinbase.com`).
//!
//! Side: "The `side` field indicates the maker order side. If the side is `sell` this
//! indicates the maker was a sell order and the `match` is considered an up-tick" (Coinbase
//! Exchange WebSocket channels, `match`:
//! <https://docs.cdp.coinbase.com/exchange/websocket-feed/channels#match>). The aggressor is
//! the taker, on the other side. The capture agrees: a `ticker` (whose `side` is the taker's)
//! beside the `last_match` of the same trade has the opposite side.
//!
//! Heartbeats: a `heartbeat` says the product's `last_trade_id`, "that can be used to verify
//! that no messages were missed" (same page, heartbeat channel). When a trade of the product
//! has been seen and the heartbeat's id is past it, the trades in between were lost: that is
//! reported as an [`Event::Gap`] at once rather than at the product's next trade, which on a
//! quiet product may be minutes away. (This takes a heartbeat never to overtake its product's
//! trades on the connection; a trade that did would then read as out of order, and still be
//! published.) The gap's `received` is one past `last_trade_id`, so that
//! `received - expected` counts the lost trades as for any gap, and the trade-id tracker moves
//! to `last_trade_id`: the next trade then follows on without reporting the same loss twice.
//! Nothing is checked before the first trade (there is nothing to compare with), nor on the
//! heartbeat's `sequence`, which repeats while the product is quiet.

use engine::{Price, Qty, Quote, Side, Trade};
use serde_json::value::RawValue;

use super::message::{Message, number, owned_text, text, text_opt};
use crate::venue::{Event, ParseCtx, ParseError, SeqCheck, Sequences, price, qty, rfc3339};

/// The Exchange parser's per-product state.
#[derive(Debug, Default)]
pub(super) struct Exchange {
    /// Trade ids of `match`/`last_match`, kept across reconnects.
    trade_ids: Sequences,
    /// Whether a trade has been seen, by instrument id.
    traded: Vec<bool>,
    /// `sequence` of the matches channel (`match`, `last_match`), for this connection.
    match_sequences: Sequences,
    /// `sequence` of the ticker channel, for this connection.
    ticker_sequences: Sequences,
}

impl Exchange {
    /// Forgets the per-connection `sequence` checks: after a reconnect the first `ticker`
    /// repeats the last one's number.
    pub(super) fn reset(&mut self) {
        self.match_sequences.clear();
        self.ticker_sequences.clear();
    }

    pub(super) fn parse(
        &mut self,
        kind: &str,
        msg: &Message<'_>,
        ts_recv: i64,
        ctx: &mut ParseCtx,
    ) -> Result<(), ParseError> {
        match kind {
            "match" => self.trade(msg, false, ctx, ts_recv),
            "last_match" => self.trade(msg, true, ctx, ts_recv),
            "ticker" => self.ticker(msg, ts_recv, ctx),
            "heartbeat" => self.heartbeat(msg, ctx),
            "subscriptions" => {
                let channels = msg.channels.map_or("[]", |raw| raw.get());
                ctx.event(Event::Confirmed(format!(
                    "subscribed: {}",
                    shorten(channels)
                )));
                Ok(())
            }
            "error" => {
                let message = owned_text(msg.message).unwrap_or_else(|| "error".into());
                ctx.event(Event::VenueError(match owned_text(msg.reason) {
                    Some(reason) => format!("{message}: {reason}"),
                    None => message,
                }));
                Ok(())
            }
            // Depth (level2, level2_batch), the full channel and product status: not used.
            "snapshot" | "l2update" | "received" | "open" | "done" | "change" | "activate"
            | "status" => Ok(()),
            other => Err(ParseError::unknown(other)),
        }
    }

    /// `match` or `last_match` (the product's last trade, sent on subscribing).
    fn trade(
        &mut self,
        msg: &Message<'_>,
        last_match: bool,
        ctx: &mut ParseCtx,
        ts_recv: i64,
    ) -> Result<(), ParseError> {
        let product = text("product_id", msg.product_id)?;
        let trade_id = number("trade_id", msg.trade_id)?;
        let sequence = number("sequence", msg.sequence)?;
        let price = price("price", text("price", msg.price)?)?;
        let size = qty("size", text("size", msg.size)?)?;
        check_trade(price, size)?;
        let side = match text("side", msg.side)? {
            // The maker's side: the taker, the aggressor, was on the other.
            "buy" => Side::Sell,
            "sell" => Side::Buy,
            other => return Err(ParseError::invalid("side", format!("{other:.16}"))),
        };
        let ts_event = rfc3339("time", text("time", msg.time)?)?;
        let instrument = ctx.instrument(product)?;

        let index = instrument.0 as usize;
        if index >= self.traded.len() {
            self.traded.resize(index + 1, false);
        }
        self.traded[index] = true;
        ctx.sequence_back(
            &mut self.match_sequences,
            instrument,
            "matches sequence",
            sequence,
        );
        if last_match {
            // A `last_match` at or before a trade already seen repeats it after a reconnect:
            // it was published then. Anything else is checked as a `match` is.
            if !ctx.snapshot_sequence(&mut self.trade_ids, instrument, "trade id", trade_id) {
                return Ok(());
            }
        } else {
            ctx.sequence(&mut self.trade_ids, instrument, "trade id", trade_id);
        }
        ctx.trade(
            instrument,
            ts_event,
            ts_recv,
            Trade {
                price,
                size,
                side,
                id: trade_id,
            },
        );
        Ok(())
    }

    /// `ticker`: the top of book after a trade. Sizes came later to the channel than prices:
    /// where they are missing they are 0.
    fn ticker(
        &mut self,
        msg: &Message<'_>,
        ts_recv: i64,
        ctx: &mut ParseCtx,
    ) -> Result<(), ParseError> {
        let product = text("product_id", msg.product_id)?;
        let quote = Quote {
            bid: price("best_bid", text("best_bid", msg.best_bid)?)?,
            bid_size: size_or_zero("best_bid_size", msg.best_bid_size)?,
            ask: price("best_ask", text("best_ask", msg.best_ask)?)?,
            ask_size: size_or_zero("best_ask_size", msg.best_ask_size)?,
        };
        check_quote(&quote)?;
        let ts_event = match text_opt("time", msg.time)? {
            Some(time) => rfc3339("time", time)?,
            None => ts_recv,
        };
        let sequence = match msg.sequence {
            Some(_) => Some(number("sequence", msg.sequence)?),
            None => None,
        };
        let instrument = ctx.instrument(product)?;
        if let Some(sequence) = sequence {
            ctx.sequence_back(
                &mut self.ticker_sequences,
                instrument,
                "ticker sequence",
                sequence,
            );
        }
        ctx.quote(instrument, ts_event, ts_recv, quote);
        Ok(())
    }

    /// `heartbeat`: see the module docs.
    fn heartbeat(&mut self, msg: &Message<'_>, ctx: &mut ParseCtx) -> Result<(), ParseError> {
        let product = text("product_id", msg.product_id)?;
        let last_trade_id = number("last_trade_id", msg.last_trade_id)?;
        let instrument = ctx.instrument(product)?;
        if !self
            .traded
            .get(instrument.0 as usize)
            .copied()
            .unwrap_or(false)
        {
            return Ok(());
        }
        let expected = match self.trade_ids.observe(instrument, last_trade_id) {
            // The heartbeat's trade is the one after the last seen: that one was lost.
            SeqCheck::Next => last_trade_id,
            SeqCheck::Gap { expected } => expected,
            SeqCheck::First | SeqCheck::Back { .. } => return Ok(()),
        };
        ctx.event(Event::Gap {
            instrument: Some(instrument),
            stream: "trade id (heartbeat last_trade_id)",
            expected,
            received: last_trade_id.saturating_add(1),
        });
        Ok(())
    }
}

/// A size that may be absent (or `null`): 0 then.
fn size_or_zero(field: &'static str, raw: Option<&RawValue>) -> Result<Qty, ParseError> {
    match text_opt(field, raw)? {
        Some(size) => qty(field, size),
        None => Ok(Qty::ZERO),
    }
}

/// A trade's price and size must be positive.
pub(super) fn check_trade(price: Price, size: Qty) -> Result<(), ParseError> {
    if price.units() <= 0 {
        return Err(ParseError::invalid("price", "not positive"));
    }
    if size.units() <= 0 {
        return Err(ParseError::invalid("size", "not positive"));
    }
    Ok(())
}

/// A quote's prices and sizes must not be negative (a zero size is an empty side).
pub(super) fn check_quote(quote: &Quote) -> Result<(), ParseError> {
    for (field, units) in [
        ("best_bid", quote.bid.units()),
        ("best_ask", quote.ask.units()),
        ("bid size", quote.bid_size.units()),
        ("ask size", quote.ask_size.units()),
    ] {
        if units < 0 {
            return Err(ParseError::invalid(field, "negative"));
        }
    }
    Ok(())
}

/// At most 256 characters of `text`, for a log line.
pub(super) fn shorten(text: &str) -> &str {
    match text.char_indices().nth(256) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}
