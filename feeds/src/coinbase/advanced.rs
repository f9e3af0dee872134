//! The Advanced Trade market data feed's messages (`wss://advanced-trade-ws.coinbase.com`):
//! `{"channel":..,"timestamp":..,"sequence_num":..,"events":[..]}`.
//!
//! Side of a market trade: "Each market trade belongs to a `side`, which refers to the makers
//! side, and can be of type `BUY`, or `SELL`" (Advanced Trade WebSocket Channels, Market Trades
//! Channel: <https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-channels>).
//! So the aggressor is the other side, as on the Exchange feed. NautilusTrader's Advanced Trade
//! adapter reads it the same way ("Coinbase reports the maker side on public market trades, so
//! the aggressor is the opposite side", `nautilus_coinbase::http::parse::coinbase_side_to_aggressor`),
//! after first taking it as the taker's. Beware: the REST `Trade` schema of market trades says
//! "Taker side of the trade", and cryptofeed takes the WebSocket `side` as is; the WebSocket
//! page is what this parser follows.
//!
//! `sequence_num` numbers every message of a connection from 0: a skip is an [`Event::Gap`]
//! with no instrument, a step back an [`Event::OutOfOrder`]. Trade ids are not checked for
//! gaps (the per-connection number already shows a lost message), but they keep a trade
//! `snapshot` (the recent trades sent on subscribing, newest first) from publishing again,
//! after a reconnect, trades published before it.

use engine::{Quote, Side, Trade};
use serde_json::value::RawValue;

use super::message::{
    MarketTrade, Message, Ticker, TickersEvent, TradesEvent, digits, for_each, number, text_opt,
};
use super::parse::{check_quote, check_trade, shorten};
use crate::venue::{Event, ParseCtx, ParseError, price, qty, rfc3339};

/// The Advanced Trade parser's state.
#[derive(Debug, Default)]
pub(super) struct Advanced {
    /// The connection's last `sequence_num`.
    last_sequence: Option<u64>,
    /// Trade ids published, by instrument id; kept across reconnects.
    published: Vec<Published>,
    /// Trade snapshots read so far: tags [`Published::snapshot`].
    snapshots: u64,
}

/// The trade ids published for one product.
#[derive(Debug, Clone, Copy, Default)]
struct Published {
    /// The highest.
    max: Option<u64>,
    /// The highest before the snapshot being read began: its trades up to here are repeats.
    floor: Option<u64>,
    /// Which snapshot `floor` is for.
    snapshot: u64,
}

impl Advanced {
    /// A new connection numbers its messages from 0 again.
    pub(super) fn reset(&mut self) {
        self.last_sequence = None;
    }

    pub(super) fn parse(
        &mut self,
        channel: &str,
        msg: &Message<'_>,
        events: &RawValue,
        ts_recv: i64,
        ctx: &mut ParseCtx,
    ) -> Result<(), ParseError> {
        if msg.sequence_num.is_some() {
            let sequence = number("sequence_num", msg.sequence_num)?;
            self.sequence(sequence, ctx);
        }
        match channel {
            "market_trades" => self.market_trades(events, ts_recv, ctx),
            "ticker" => {
                let ts_event = match text_opt("timestamp", msg.timestamp)? {
                    Some(time) => rfc3339("timestamp", time)?,
                    None => ts_recv,
                };
                tickers(events, ts_event, ts_recv, ctx)
            }
            "subscriptions" => {
                ctx.event(Event::Confirmed(format!(
                    "subscribed: {}",
                    shorten(events.get())
                )));
                Ok(())
            }
            // `ticker_batch` carries no best bid and ask; depth, status and candles: not used.
            "heartbeats" | "l2_data" | "status" | "candles" | "ticker_batch" => Ok(()),
            other => Err(ParseError::unknown(other)),
        }
    }

    fn sequence(&mut self, sequence: u64, ctx: &mut ParseCtx) {
        match self.last_sequence {
            Some(last) if sequence <= last => {
                ctx.event(Event::OutOfOrder {
                    instrument: None,
                    stream: "sequence_num",
                    last,
                    received: sequence,
                });
                return;
            }
            Some(last) if sequence != last + 1 => ctx.event(Event::Gap {
                instrument: None,
                stream: "sequence_num",
                expected: last + 1,
                received: sequence,
            }),
            _ => {}
        }
        self.last_sequence = Some(sequence);
    }

    /// `market_trades`: events of type `snapshot` or `update`, each a list of trades. A bad
    /// trade stops the message there.
    fn market_trades(
        &mut self,
        events: &RawValue,
        ts_recv: i64,
        ctx: &mut ParseCtx,
    ) -> Result<(), ParseError> {
        for_each(events, |event: TradesEvent<'_>| {
            let snapshot = match event.kind {
                "snapshot" => {
                    self.snapshots += 1;
                    Some(self.snapshots)
                }
                "update" => None,
                other => return Err(ParseError::invalid("type", format!("{other:.16}"))),
            };
            for_each(event.trades, |trade: MarketTrade<'_>| {
                self.trade(&trade, snapshot, ts_recv, ctx)
            })
        })
    }

    fn trade(
        &mut self,
        trade: &MarketTrade<'_>,
        snapshot: Option<u64>,
        ts_recv: i64,
        ctx: &mut ParseCtx,
    ) -> Result<(), ParseError> {
        let id = digits("trade_id", trade.trade_id)?;
        let price = price("price", trade.price)?;
        let size = qty("size", trade.size)?;
        check_trade(price, size)?;
        let side = match trade.side {
            // The maker's side: the taker, the aggressor, was on the other.
            "BUY" => Side::Sell,
            "SELL" => Side::Buy,
            other => return Err(ParseError::invalid("side", format!("{other:.16}"))),
        };
        let ts_event = rfc3339("time", trade.time)?;
        let instrument = ctx.instrument(trade.product_id)?;
        if self.repeated(instrument.0 as usize, id, snapshot) {
            return Ok(());
        }
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

    /// Whether trade `id` of a snapshot was published before the snapshot; records it.
    fn repeated(&mut self, index: usize, id: u64, snapshot: Option<u64>) -> bool {
        if index >= self.published.len() {
            self.published.resize(index + 1, Published::default());
        }
        let published = &mut self.published[index];
        if let Some(tag) = snapshot {
            if published.snapshot != tag {
                published.snapshot = tag;
                published.floor = published.max;
            }
            if published.floor.is_some_and(|floor| id <= floor) {
                return true;
            }
        }
        published.max = Some(published.max.map_or(id, |max| max.max(id)));
        false
    }
}

/// `ticker`: events holding lists of tickers, stamped with the message's time.
fn tickers(
    events: &RawValue,
    ts_event: i64,
    ts_recv: i64,
    ctx: &mut ParseCtx,
) -> Result<(), ParseError> {
    for_each(events, |event: TickersEvent<'_>| {
        for_each(event.tickers, |ticker: Ticker<'_>| {
            let quote = Quote {
                bid: price("best_bid", ticker.best_bid)?,
                bid_size: qty("best_bid_quantity", ticker.best_bid_quantity)?,
                ask: price("best_ask", ticker.best_ask)?,
                ask_size: qty("best_ask_quantity", ticker.best_ask_quantity)?,
            };
            check_quote(&quote)?;
            let instrument = ctx.instrument(ticker.product_id)?;
            ctx.quote(instrument, ts_event, ts_recv, quote);
            Ok(())
        })
    })
}
