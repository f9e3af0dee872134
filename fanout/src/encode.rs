//! Market data messages as JSON text, written straight into a buffer from the tick.
//!
//! Field names follow protocol v1 (`docs/protocol.md`): every message has `type`, `channel`,
//! `seq`, `ts_event` and `ts_recv`; trades add `price`, `size`, `side`, `id`; quotes add
//! `bid`, `bid_size`, `ask`, `ask_size`. Prices and sizes are JSON strings holding the exact
//! decimal, so no client parses them through a binary float by accident.

use std::fmt::Write as _;

use engine::fixed::write_scaled;
use engine::json::write_escaped;
use engine::{Payload, Tick};

/// The channel a tick belongs on: `trades.<instrument>` or `quotes.<instrument>`.
pub fn channel_prefix(tick: &Tick) -> &'static str {
    match tick.kind() {
        engine::TickKind::Trade => "trades.",
        engine::TickKind::Quote => "quotes.",
    }
}

fn write_decimal(out: &mut String, key: &str, units: i64) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":\"");
    let _ = write_scaled(units, out);
    out.push('"');
}

/// Appends the message for `tick` on `instrument`'s channel. A `snapshot` (the latest value,
/// sent on subscribe) has `"type":"snapshot"` and `"snapshot":true`; live messages have
/// `"type":"trade"` or `"type":"quote"`.
pub fn write_tick(out: &mut String, instrument: &str, tick: &Tick, snapshot: bool) {
    let payload = tick.payload();
    let kind = match (snapshot, payload) {
        (true, _) => "snapshot",
        (false, Payload::Trade(_)) => "trade",
        (false, Payload::Quote(_)) => "quote",
    };
    out.push_str("{\"type\":\"");
    out.push_str(kind);
    out.push_str("\",\"channel\":\"");
    out.push_str(channel_prefix(tick));
    write_escaped(out, instrument);
    out.push('"');
    let _ = write!(
        out,
        ",\"seq\":{},\"ts_event\":{},\"ts_recv\":{}",
        tick.seq, tick.ts_event, tick.ts_recv
    );
    match payload {
        Payload::Trade(trade) => {
            write_decimal(out, "price", trade.price.units());
            write_decimal(out, "size", trade.size.units());
            let _ = write!(
                out,
                ",\"side\":\"{}\",\"id\":{}",
                trade.side.as_str(),
                trade.id
            );
        }
        Payload::Quote(quote) => {
            write_decimal(out, "bid", quote.bid.units());
            write_decimal(out, "bid_size", quote.bid_size.units());
            write_decimal(out, "ask", quote.ask.units());
            write_decimal(out, "ask_size", quote.ask_size.units());
        }
    }
    if snapshot {
        out.push_str(",\"snapshot\":true");
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::{InstrumentId, Price, Qty, Quote, Side, Trade};

    #[test]
    fn writes_a_trade_with_exact_decimals() {
        let mut tick = Tick::trade(
            InstrumentId(0),
            1_700_000_000_000_000_000,
            1_700_000_000_000_000_500,
            Trade {
                price: "43250.12".parse::<Price>().unwrap(),
                size: "0.0015".parse::<Qty>().unwrap(),
                side: Side::Sell,
                id: 77,
            },
        );
        tick.seq = 5;
        let mut out = String::new();
        write_tick(&mut out, "BINANCE:BTCUSDT", &tick, false);
        assert_eq!(
            out,
            r#"{"type":"trade","channel":"trades.BINANCE:BTCUSDT","seq":5,"ts_event":1700000000000000000,"ts_recv":1700000000000000500,"price":"43250.12","size":"0.0015","side":"sell","id":77}"#
        );
    }

    #[test]
    fn writes_a_quote_snapshot() {
        let tick = Tick::quote(
            InstrumentId(0),
            1,
            2,
            Quote {
                bid: "-0.5".parse().unwrap(),
                bid_size: "10".parse().unwrap(),
                ask: "0.000000001".parse().unwrap(),
                ask_size: "3.25".parse().unwrap(),
            },
        );
        let mut out = String::new();
        write_tick(&mut out, "SIM:A\"B", &tick, true);
        assert_eq!(
            out,
            r#"{"type":"snapshot","channel":"quotes.SIM:A\"B","seq":0,"ts_event":1,"ts_recv":2,"bid":"-0.5","bid_size":"10","ask":"0.000000001","ask_size":"3.25","snapshot":true}"#
        );
    }
}

/// A bar message on `bars.<interval>.<instrument>`: `"type":"bar"` (or `"snapshot"` with
/// `"snapshot":true`), `seq` (the hub's bar publication counter), `ts_event` (the bar's end),
/// `ts_recv` (when it was published), the bar's fields, and `"amended":true` when a late trade
/// changed a bar already sent.
pub fn write_bar(out: &mut String, instrument: &str, bar: &engine::Bar, meta: BarMeta) {
    out.push_str(if meta.snapshot {
        "{\"type\":\"snapshot\",\"channel\":\"bars."
    } else {
        "{\"type\":\"bar\",\"channel\":\"bars."
    });
    let _ = write!(out, "{}.", bar.interval);
    write_escaped(out, instrument);
    let _ = write!(
        out,
        "\",\"seq\":{},\"ts_event\":{},\"ts_recv\":{},",
        meta.seq,
        bar.end(),
        meta.ts_recv
    );
    bar.write_json_fields(out);
    if meta.snapshot {
        out.push_str(",\"snapshot\":true");
    }
    if meta.amended {
        out.push_str(",\"amended\":true");
    }
    out.push('}');
}

/// What a bar message carries besides the bar.
#[derive(Debug, Clone, Copy)]
pub struct BarMeta {
    /// The hub's bar publication counter.
    pub seq: u64,
    /// When the bar was published (ns).
    pub ts_recv: i64,
    /// A snapshot sent on subscribe.
    pub snapshot: bool,
    /// A late trade changed the bar after it was first sent.
    pub amended: bool,
}
