//! Binance messages to ticks and events.

use engine::{Quote, Side, Trade};
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::Binance;
use super::message::{Body, Frame, Message};
use super::subscription::TimeUnit;
use crate::venue::{
    Event, ParseCtx, ParseError, micros, millis, num, price_raw, qty_raw, required, uint_raw,
};

/// Event kinds Binance sends that carry nothing nexamd reads: order book depth, candles,
/// rolling tickers, average price, and the futures-only streams.
const IGNORED: &[&str] = &[
    "depthUpdate",
    "kline",
    "24hrTicker",
    "24hrMiniTicker",
    "1hTicker",
    "4hTicker",
    "1dTicker",
    "avgPrice",
    "markPriceUpdate",
    "forceOrder",
    "continuous_kline",
    "indexPriceKline",
    "markPriceKline",
    "compositeIndex",
    "contractInfo",
    "assetIndexUpdate",
];

/// The two trade streams, each numbered by its own id.
#[derive(Clone, Copy)]
enum TradeStream {
    Trade,
    AggTrade,
}

impl Binance {
    pub(super) fn parse_message(
        &mut self,
        text: &str,
        ts_recv: i64,
        ctx: &mut ParseCtx,
    ) -> Result<(), ParseError> {
        if text.trim_start().starts_with('[') {
            // A raw all-market stream (`/ws/!ticker@arr`): an array of tickers, not read.
            serde_json::from_str::<IgnoredAny>(text)?;
            return Ok(());
        }
        let frame: Frame = serde_json::from_str(text)?;
        match &frame.data {
            Some(Body::Object(payload)) => self.payload(payload, ts_recv, ctx),
            Some(Body::Array) if frame.stream.is_some() => Ok(()),
            Some(_) => Err(ParseError::unknown(frame.stream.unwrap_or("data"))),
            None => self.payload(&frame, ts_recv, ctx),
        }
    }

    /// One payload, bare or from a frame.
    fn payload<D>(
        &mut self,
        m: &Message<'_, D>,
        ts_recv: i64,
        ctx: &mut ParseCtx,
    ) -> Result<(), ParseError> {
        match m.e {
            Some("trade") => self.trade(m, TradeStream::Trade, ts_recv, ctx),
            Some("aggTrade") => self.trade(m, TradeStream::AggTrade, ts_recv, ctx),
            Some("bookTicker") => self.book_ticker(m, ts_recv, ctx),
            Some("serverShutdown") => {
                ctx.event(Event::Reconnect("server shutdown".into()));
                Ok(())
            }
            Some(kind) if IGNORED.contains(&kind) => Ok(()),
            Some(kind) => Err(ParseError::unknown(kind)),
            None => self.untyped(m, ts_recv, ctx),
        }
    }

    /// A payload without `e`: a spot `bookTicker`, a depth snapshot or a reply.
    fn untyped<D>(
        &mut self,
        m: &Message<'_, D>,
        ts_recv: i64,
        ctx: &mut ParseCtx,
    ) -> Result<(), ParseError> {
        if m.u.is_some()
            && m.s.is_some()
            && m.b.is_some()
            && m.bid_size.is_some()
            && m.a.is_some()
            && m.ask_size.is_some()
        {
            return self.book_ticker(m, ts_recv, ctx);
        }
        if m.last_update_id.is_some() {
            return Ok(());
        }
        if let Some(error) = m.error {
            ctx.event(Event::VenueError(with_id(error.get(), m.id)));
            return Ok(());
        }
        if let (Some(code), Some(msg)) = (m.code, m.msg) {
            ctx.event(Event::VenueError(with_id(
                &format!("code {}: {}", code.get(), msg.get()),
                m.id,
            )));
            return Ok(());
        }
        if let (Some(result), Some(id)) = (m.result, m.id) {
            ctx.event(Event::Confirmed(format!(
                "request {}: result {}",
                id.get(),
                result.get()
            )));
            return Ok(());
        }
        Err(ParseError::unknown(
            m.stream.unwrap_or("payload without `e`"),
        ))
    }

    fn trade<D>(
        &mut self,
        m: &Message<'_, D>,
        stream: TradeStream,
        ts_recv: i64,
        ctx: &mut ParseCtx,
    ) -> Result<(), ParseError> {
        let symbol = m.s.ok_or(ParseError::Missing("s"))?;
        let id = match stream {
            TradeStream::Trade => m.t.ok_or(ParseError::Missing("t"))?,
            TradeStream::AggTrade => uint_raw("a", m.a.ok_or(ParseError::Missing("a"))?)?,
        };
        let price = price_raw("p", m.p.ok_or(ParseError::Missing("p"))?)?;
        let size = qty_raw("q", m.q.ok_or(ParseError::Missing("q"))?)?;
        // `m`: the buyer was the maker, so the seller took liquidity.
        let side = if m.m.ok_or(ParseError::Missing("m"))? {
            Side::Sell
        } else {
            Side::Buy
        };
        let ts_event = self.event_time(m, ts_recv)?;
        let instrument = ctx.instrument_upper(symbol)?;
        let (tracker, name) = match stream {
            TradeStream::Trade => (&mut self.trade_ids, "trade id"),
            TradeStream::AggTrade => (&mut self.agg_trade_ids, "aggTrade id"),
        };
        ctx.sequence(tracker, instrument, name, id);
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

    fn book_ticker<D>(
        &mut self,
        m: &Message<'_, D>,
        ts_recv: i64,
        ctx: &mut ParseCtx,
    ) -> Result<(), ParseError> {
        let symbol = m.s.ok_or(ParseError::Missing("s"))?;
        let update = m.u.ok_or(ParseError::Missing("u"))?;
        let quote = Quote {
            bid: price_raw("b", required("b", m.b)?)?,
            bid_size: qty_raw("B", required("B", m.bid_size)?)?,
            ask: price_raw("a", required("a", m.a)?)?,
            ask_size: qty_raw("A", required("A", m.ask_size)?)?,
        };
        let ts_event = self.event_time(m, ts_recv)?;
        let instrument = ctx.instrument_upper(symbol)?;
        // Update ids jump (they count every book change): only a step back or a repeat is news.
        // It is counted, and the quote still published: every update the venue sent comes
        // out (a replay must reproduce the capture), and ordering is the consumer's call.
        ctx.sequence_back(
            &mut self.book_updates,
            instrument,
            "bookTicker update id",
            update,
        );
        ctx.quote(instrument, ts_event, ts_recv, quote);
        Ok(())
    }

    /// `T`, else `E`, else the receive time.
    fn event_time<D>(&self, m: &Message<'_, D>, ts_recv: i64) -> Result<i64, ParseError> {
        let (field, time) = match (m.trade_time, m.event_time) {
            (Some(t), _) => ("T", t),
            (None, Some(e)) => ("E", e),
            (None, None) => return Ok(ts_recv),
        };
        match self.time_unit {
            TimeUnit::Millis => millis(field, time),
            TimeUnit::Micros => micros(field, time),
        }
    }
}

/// An error text with the request id it answers, if any.
fn with_id(text: &str, id: Option<&RawValue>) -> String {
    match id {
        Some(id) => format!("{text} (request {})", num(id)),
        None => text.to_owned(),
    }
}
