//! JSON output of portfolios, transactions and valuations, written straight into a `String`.
//!
//! Decimals are JSON strings holding the exact fixed-point value (`"1234.5"`), `null` where a
//! value is unknown; times are integer nanoseconds since the epoch; ids are integers. The same
//! valuation writer serves `GET /v1/portfolios/{id}/valuation` and, with a [`WsMeta`], the
//! WebSocket `valuation` (or `snapshot`) message of channel `portfolio.<id>`.

use std::fmt::Write as _;

use engine::fixed::write_scaled;
use engine::json::{write_str, write_str_array};

use crate::model::{Portfolio, PortfolioId, PositionValue, Transaction, Valuation};

/// What turns a valuation into a WebSocket message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsMeta {
    /// The message's sequence number.
    pub seq: u64,
    /// The time of the event that caused the valuation (ns).
    pub ts_event: i64,
    /// When that event was read (ns).
    pub ts_recv: i64,
    /// A snapshot sent on subscribe: `"type":"snapshot"` and `"snapshot":true`.
    pub snapshot: bool,
}

/// Appends `,"key":` (or `"key":` when `first`).
fn key(out: &mut String, name: &str, first: bool) {
    if !first {
        out.push(',');
    }
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
}

/// Appends a fixed-point value (1e-9 units) as a JSON string, or `null`.
fn decimal(out: &mut String, units: Option<i64>) {
    match units {
        Some(units) => {
            out.push('"');
            let _ = write_scaled(units, out);
            out.push('"');
        }
        None => out.push_str("null"),
    }
}

/// Appends `,"name":"<decimal>"` (or `null`).
fn field(out: &mut String, name: &str, units: Option<i64>) {
    key(out, name, false);
    decimal(out, units);
}

/// Appends an optional string, or `null`.
fn opt_str(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => write_str(out, text),
        None => out.push_str("null"),
    }
}

/// Appends one position object.
fn write_position(out: &mut String, p: &PositionValue) {
    out.push('{');
    key(out, "instrument", true);
    write_str(out, &p.instrument);
    field(out, "quantity", Some(p.quantity.units()));
    field(out, "last", p.last.map(|v| v.units()));
    field(out, "fx", p.fx.map(|v| v.units()));
    field(out, "market_value", p.market_value.map(|v| v.units()));
    field(out, "cost_basis", Some(p.cost_basis.units()));
    field(out, "avg_cost", p.avg_cost.map(|v| v.units()));
    field(out, "unrealized", p.unrealized.map(|v| v.units()));
    field(out, "realized", Some(p.realized.units()));
    field(out, "day_change", p.day_change.map(|v| v.units()));
    field(out, "weight", p.weight.map(|v| v.units()));
    out.push('}');
}

/// Appends a valuation as one JSON object: the REST form, or with `ws` the WebSocket message
/// (`type`, `channel`, `seq`, `ts_event`, `ts_recv` first, `"snapshot":true` last for a
/// snapshot), with the same valuation fields in both.
pub fn write_valuation(out: &mut String, v: &Valuation, ws: Option<WsMeta>) {
    out.push('{');
    if let Some(meta) = ws {
        let kind = if meta.snapshot {
            "snapshot"
        } else {
            "valuation"
        };
        let _ = write!(
            out,
            "\"type\":\"{kind}\",\"channel\":\"portfolio.{}\",\"seq\":{},\"ts_event\":{},\"ts_recv\":{},",
            v.portfolio, meta.seq, meta.ts_event, meta.ts_recv
        );
    }
    let _ = write!(out, "\"portfolio\":{}", v.portfolio);
    key(out, "base_currency", false);
    write_str(out, &v.base_currency);
    let _ = write!(out, ",\"ts\":{}", v.ts);
    field(out, "market_value", Some(v.market_value.units()));
    field(out, "cash", Some(v.cash.units()));
    key(out, "cash_by_currency", false);
    out.push('{');
    for (i, (currency, amount)) in v.cash_by_currency.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, currency);
        out.push(':');
        decimal(out, Some(amount.units()));
    }
    out.push('}');
    field(out, "nav", Some(v.nav.units()));
    field(out, "realized", Some(v.realized.units()));
    field(out, "unrealized", Some(v.unrealized.units()));
    field(out, "day_change", Some(v.day_change.units()));
    key(out, "missing_rates", false);
    write_str_array(out, v.missing_rates.iter().map(String::as_str));
    key(out, "positions", false);
    out.push('[');
    for (i, p) in v.positions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_position(out, p);
    }
    out.push(']');
    if ws.is_some_and(|m| m.snapshot) {
        out.push_str(",\"snapshot\":true");
    }
    out.push('}');
}

/// A valuation as the REST body of `GET /v1/portfolios/{id}/valuation`.
pub fn valuation_json(v: &Valuation) -> String {
    let mut out = String::with_capacity(320 + v.positions.len() * 280);
    write_valuation(&mut out, v, None);
    out
}

/// A valuation as a WebSocket message of channel `portfolio.<id>`.
pub fn valuation_ws_json(v: &Valuation, meta: WsMeta) -> String {
    let mut out = String::with_capacity(400 + v.positions.len() * 280);
    write_valuation(&mut out, v, Some(meta));
    out
}

/// Appends a portfolio object: `id`, `owner`, `name`, `base_currency`, `cost_basis`,
/// `allow_short`, `created_ts`.
pub fn write_portfolio(out: &mut String, p: &Portfolio) {
    let _ = write!(out, "{{\"id\":{}", p.id);
    key(out, "owner", false);
    write_str(out, &p.owner);
    key(out, "name", false);
    write_str(out, &p.name);
    key(out, "base_currency", false);
    write_str(out, &p.base_currency);
    let _ = write!(
        out,
        ",\"cost_basis\":\"{}\",\"allow_short\":{},\"created_ts\":{}}}",
        p.cost_basis.as_str(),
        p.allow_short,
        p.created_ts
    );
}

/// A portfolio as a JSON object.
pub fn portfolio_json(p: &Portfolio) -> String {
    let mut out = String::with_capacity(160);
    write_portfolio(&mut out, p);
    out
}

/// `{"portfolios":[...]}`.
pub fn portfolios_json(list: &[Portfolio]) -> String {
    let mut out = String::with_capacity(32 + list.len() * 160);
    out.push_str("{\"portfolios\":[");
    for (i, p) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_portfolio(&mut out, p);
    }
    out.push_str("]}");
    out
}

/// Appends a transaction object: `id`, `portfolio`, `type`, `instrument`, `quantity`,
/// `price`, `fee`, `currency` (as given, `null` when not), `ts`.
pub fn write_transaction(out: &mut String, portfolio: PortfolioId, tx: &Transaction) {
    let _ = write!(
        out,
        "{{\"id\":{},\"portfolio\":{portfolio},\"type\":\"{}\"",
        tx.id,
        tx.kind.as_str()
    );
    key(out, "instrument", false);
    opt_str(out, tx.instrument.as_deref());
    field(out, "quantity", Some(tx.quantity.units()));
    field(out, "price", tx.price.map(|v| v.units()));
    field(out, "fee", tx.fee.map(|v| v.units()));
    key(out, "currency", false);
    opt_str(out, tx.currency.as_deref());
    let _ = write!(out, ",\"ts\":{}}}", tx.ts);
}

/// A transaction as a JSON object.
pub fn transaction_json(portfolio: PortfolioId, tx: &Transaction) -> String {
    let mut out = String::with_capacity(200);
    write_transaction(&mut out, portfolio, tx);
    out
}

/// `{"transactions":[...]}`.
pub fn transactions_json(portfolio: PortfolioId, list: &[Transaction]) -> String {
    let mut out = String::with_capacity(32 + list.len() * 200);
    out.push_str("{\"transactions\":[");
    for (i, tx) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_transaction(&mut out, portfolio, tx);
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CostBasis, TxKind};
    use engine::Price;

    fn p(text: &str) -> Price {
        text.parse().unwrap()
    }

    fn valuation() -> Valuation {
        Valuation {
            portfolio: 7,
            base_currency: "USD".into(),
            ts: 1_700_000_000_000_000_000,
            positions: vec![PositionValue {
                instrument: "SIM:AAA".into(),
                quantity: "5".parse().unwrap(),
                last: Some(p("120.5")),
                fx: Some(p("1")),
                market_value: Some(p("602.5")),
                cost_basis: p("550"),
                avg_cost: Some(p("110")),
                unrealized: Some(p("52.5")),
                realized: p("250"),
                day_change: None,
                weight: Some(p("0.000000001")),
            }],
            cash_by_currency: vec![("EUR".into(), p("-0.5")), ("USD".into(), p("-300"))],
            market_value: p("602.5"),
            cash: p("-300.55"),
            nav: p("301.95"),
            realized: p("250"),
            unrealized: p("52.5"),
            day_change: p("0"),
            missing_rates: vec!["EUR/USD".into()],
        }
    }

    const FIELDS: &str = r#""portfolio":7,"base_currency":"USD","ts":1700000000000000000,"market_value":"602.5","cash":"-300.55","cash_by_currency":{"EUR":"-0.5","USD":"-300"},"nav":"301.95","realized":"250","unrealized":"52.5","day_change":"0","missing_rates":["EUR/USD"],"positions":[{"instrument":"SIM:AAA","quantity":"5","last":"120.5","fx":"1","market_value":"602.5","cost_basis":"550","avg_cost":"110","unrealized":"52.5","realized":"250","day_change":null,"weight":"0.000000001"}]"#;

    #[test]
    fn valuation_rest_form_is_exact_with_nulls() {
        assert_eq!(valuation_json(&valuation()), format!("{{{FIELDS}}}"));
    }

    #[test]
    fn valuation_ws_forms_carry_the_channel_and_meta() {
        let v = valuation();
        let meta = WsMeta {
            seq: 3,
            ts_event: 10,
            ts_recv: 11,
            snapshot: false,
        };
        assert_eq!(
            valuation_ws_json(&v, meta),
            format!(
                r#"{{"type":"valuation","channel":"portfolio.7","seq":3,"ts_event":10,"ts_recv":11,{FIELDS}}}"#
            )
        );
        let snap = valuation_ws_json(
            &v,
            WsMeta {
                snapshot: true,
                ..meta
            },
        );
        assert!(snap.starts_with(r#"{"type":"snapshot","channel":"portfolio.7","seq":3,"#));
        assert!(snap.ends_with(r#""weight":"0.000000001"}],"snapshot":true}"#));
        // Every form is valid JSON.
        for text in [valuation_json(&v), valuation_ws_json(&v, meta), snap] {
            serde_json::from_str::<serde_json::Value>(&text).unwrap();
        }
    }

    #[test]
    fn empty_valuation() {
        let v = Valuation {
            positions: vec![],
            cash_by_currency: vec![],
            missing_rates: vec![],
            ..valuation()
        };
        let text = valuation_json(&v);
        assert!(text.contains(r#""cash_by_currency":{},"#), "{text}");
        assert!(
            text.ends_with(r#""missing_rates":[],"positions":[]}"#),
            "{text}"
        );
    }

    #[test]
    fn portfolio_and_transaction_objects() {
        let portfolio = Portfolio {
            id: 1,
            owner: "local".into(),
            name: "My \"main\"".into(),
            base_currency: "USD".into(),
            cost_basis: CostBasis::Average,
            allow_short: false,
            created_ts: 5,
        };
        assert_eq!(
            portfolios_json(std::slice::from_ref(&portfolio)),
            r#"{"portfolios":[{"id":1,"owner":"local","name":"My \"main\"","base_currency":"USD","cost_basis":"average","allow_short":false,"created_ts":5}]}"#
        );
        let tx = Transaction {
            id: 9,
            kind: TxKind::Buy,
            instrument: Some("SIM:AAA".into()),
            quantity: "0.000000001".parse().unwrap(),
            price: Some(p("110")),
            fee: None,
            currency: Some("EUR".into()),
            ts: -1,
        };
        assert_eq!(
            transactions_json(1, std::slice::from_ref(&tx)),
            r#"{"transactions":[{"id":9,"portfolio":1,"type":"buy","instrument":"SIM:AAA","quantity":"0.000000001","price":"110","fee":null,"currency":"EUR","ts":-1}]}"#
        );
    }
}
