//! Valuations as JSON: the REST body and the WebSocket `valuation` message share one encoder.
//! Decimals are strings holding the exact value; `null` where a value is unknown.

use std::fmt::Write as _;

use engine::Price;
use engine::fixed::write_scaled;
use engine::json::write_str;

use crate::model::Valuation;

/// What a WebSocket `valuation` message carries besides the valuation.
#[derive(Debug, Clone, Copy)]
pub struct WsMeta {
    /// The book's publication counter.
    pub seq: u64,
    /// When the valuation was computed (ns).
    pub ts_event: i64,
    /// When it was published (ns).
    pub ts_recv: i64,
    /// A snapshot sent on subscribe.
    pub snapshot: bool,
}

fn decimal(out: &mut String, key: &str, value: Option<Price>) {
    let _ = write!(out, ",\"{key}\":");
    match value {
        Some(v) => {
            out.push('"');
            let _ = write_scaled(v.units(), out);
            out.push('"');
        }
        None => out.push_str("null"),
    }
}

/// Appends `v` as one JSON object: the REST form without `ws`, the WebSocket message with it
/// (`type`, `channel`, `seq`, `ts_event`, `ts_recv` first).
pub fn write_valuation(out: &mut String, v: &Valuation, ws: Option<WsMeta>) {
    match ws {
        Some(meta) => {
            let kind = if meta.snapshot {
                "snapshot"
            } else {
                "valuation"
            };
            let _ = write!(
                out,
                "{{\"type\":\"{kind}\",\"channel\":\"portfolio.{}\",\"seq\":{},\"ts_event\":{},\"ts_recv\":{},\"portfolio\":{}",
                v.portfolio, meta.seq, meta.ts_event, meta.ts_recv, v.portfolio
            );
        }
        None => {
            let _ = write!(out, "{{\"portfolio\":{}", v.portfolio);
        }
    }
    out.push_str(",\"base_currency\":");
    write_str(out, &v.base_currency);
    let _ = write!(out, ",\"ts\":{}", v.ts);
    for (key, value) in [
        ("market_value", v.market_value),
        ("cash", v.cash),
        ("nav", v.nav),
        ("realized", v.realized),
        ("unrealized", v.unrealized),
        ("day_change", v.day_change),
    ] {
        decimal(out, key, Some(value));
    }
    out.push_str(",\"cash_by_currency\":{");
    for (i, (currency, amount)) in v.cash_by_currency.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, currency);
        out.push_str(":\"");
        let _ = write_scaled(amount.units(), out);
        out.push('"');
    }
    out.push_str("},\"missing_rates\":[");
    for (i, pair) in v.missing_rates.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, pair);
    }
    out.push_str("],\"positions\":[");
    for (i, p) in v.positions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"instrument\":");
        write_str(out, &p.instrument);
        decimal(out, "quantity", Some(Price::from_units(p.quantity.units())));
        decimal(out, "last", p.last);
        decimal(out, "fx", p.fx);
        decimal(out, "market_value", p.market_value);
        decimal(out, "cost_basis", Some(p.cost_basis));
        decimal(out, "avg_cost", p.avg_cost);
        decimal(out, "unrealized", p.unrealized);
        decimal(out, "realized", Some(p.realized));
        decimal(out, "day_change", p.day_change);
        decimal(out, "weight", p.weight);
        out.push('}');
    }
    if ws.is_some_and(|m| m.snapshot) {
        out.push_str("],\"snapshot\":true}");
    } else {
        out.push_str("]}");
    }
}
