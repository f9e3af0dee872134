//! Request bodies of the portfolio API, parsed from JSON into checked values.
//!
//! Amounts may be decimal strings (`"10.5"`) or JSON numbers (`10.5`); either way the value
//! is taken from its literal text ([`RawValue`]) and parsed exactly into fixed point, never
//! through `f64`. Times are RFC 3339 strings or integer nanoseconds (a number or a string of
//! digits). `null` counts as absent. Unknown fields are refused, so a misspelt optional field
//! is not silently ignored.

use std::collections::BTreeMap;

use engine::fixed::parse_scaled;
use engine::{Price, Qty};
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::model::{CostBasis, TxKind};

/// Longest portfolio name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A portfolio to create (`POST /v1/portfolios`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPortfolio {
    /// Display name (required; trimmed, 1 to [`MAX_NAME_CHARS`] characters).
    pub name: String,
    /// Base currency; `None` takes the configured default currency.
    pub base_currency: Option<String>,
    /// Cost basis (default FIFO).
    pub cost_basis: CostBasis,
    /// Whether short selling is allowed (default false).
    pub allow_short: bool,
}

/// A transaction to record (`POST /v1/portfolios/{id}/transactions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransaction {
    /// What it does.
    pub kind: TxKind,
    /// `VENUE:SYMBOL`: required for buy and sell, optional for the others.
    pub instrument: Option<String>,
    /// Units (buy, sell) or an amount of cash; positive.
    pub quantity: Qty,
    /// Price per unit: required for buy and sell, refused for the others.
    pub price: Option<Price>,
    /// Fee of a buy or sell (not negative); refused for the others.
    pub fee: Option<Price>,
    /// Cash currency code, if not the default.
    pub currency: Option<String>,
    /// When it happened, ns since the epoch.
    pub ts: i64,
}

/// A JSON object's fields, each kept as its literal text.
struct Fields {
    map: BTreeMap<String, Box<RawValue>>,
}

impl Fields {
    /// Parses `body` as a JSON object whose keys are all in `allowed`.
    fn parse(body: &[u8], allowed: &[&str]) -> Result<Fields> {
        let map: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(body).map_err(|e| {
            Error::invalid("bad_json", format!("the body is not a JSON object: {e}"))
        })?;
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Error::invalid(
                "unknown_field",
                format!("unknown field {unknown:?}; expected {}", allowed.join(", ")),
            ));
        }
        Ok(Fields { map })
    }

    /// The literal text of `name`, `None` when absent or `null`.
    fn raw(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(|v| v.get())
            .filter(|text| *text != "null")
    }

    fn required<T>(name: &str, value: Option<T>) -> Result<T> {
        value.ok_or_else(|| Error::invalid("missing_field", format!("{name} is required")))
    }

    /// A string field; `code` when it is another JSON type.
    fn string(&self, name: &str, code: &'static str) -> Result<Option<String>> {
        self.raw(name)
            .map(|text| {
                serde_json::from_str::<String>(text)
                    .map_err(|_| Error::invalid(code, format!("{name} must be a string")))
            })
            .transpose()
    }

    /// A boolean field.
    fn boolean(&self, name: &str) -> Result<Option<bool>> {
        match self.raw(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(Error::invalid(
                "bad_field",
                format!("{name} must be true or false"),
            )),
        }
    }

    /// A decimal field (string or number) as 1e-9 units; `code` when it is not one.
    fn decimal(&self, name: &str, code: &'static str) -> Result<Option<i64>> {
        let Some(text) = self.raw(name) else {
            return Ok(None);
        };
        let bad = |why: String| Error::invalid(code, format!("bad {name} {text}: {why}"));
        let digits = if text.starts_with('"') {
            serde_json::from_str::<String>(text).map_err(|e| bad(e.to_string()))?
        } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            text.to_owned()
        } else {
            return Err(bad("expected a decimal string or number".into()));
        };
        parse_scaled(digits.as_bytes())
            .map(Some)
            .map_err(|e| bad(e.to_string()))
    }

    /// A time: RFC 3339, or integer nanoseconds as a number or a string of digits.
    fn time(&self, name: &str) -> Result<Option<i64>> {
        let Some(text) = self.raw(name) else {
            return Ok(None);
        };
        let bad = |why: String| {
            Error::invalid(
                "bad_time",
                format!(
                    "bad {name} {text}: expected RFC 3339 or integer epoch nanoseconds ({why})"
                ),
            )
        };
        let parsed = if text.starts_with('"') {
            let inner = serde_json::from_str::<String>(text).map_err(|e| bad(e.to_string()))?;
            let integer = inner
                .strip_prefix('-')
                .unwrap_or(&inner)
                .bytes()
                .all(|b| b.is_ascii_digit());
            if integer {
                engine::time::parse_epoch_ns(&inner)
            } else {
                engine::time::parse_timestamp(&inner)
            }
        } else {
            engine::time::parse_epoch_ns(text)
        };
        parsed.map(Some).map_err(|e| bad(e.to_string()))
    }
}

/// A currency code: 3 to 8 capital letters.
pub fn check_currency(code: &str) -> Result<()> {
    if (3..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "bad_currency",
            format!("{code:?} is not a currency code (3 to 8 capital letters, like USD)"),
        ))
    }
}

/// A portfolio name, trimmed: 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "bad_name",
            format!("name must be 1 to {MAX_NAME_CHARS} characters without control characters"),
        ));
    }
    Ok(name.to_owned())
}

/// `{"name", "base_currency"?, "cost_basis"?, "allow_short"?}`.
pub fn parse_new_portfolio(body: &[u8]) -> Result<NewPortfolio> {
    let f = Fields::parse(
        body,
        &["name", "base_currency", "cost_basis", "allow_short"],
    )?;
    let name = check_name(&Fields::required("name", f.string("name", "bad_name")?)?)?;
    let base_currency = f.string("base_currency", "bad_currency")?;
    if let Some(code) = &base_currency {
        check_currency(code)?;
    }
    let cost_basis = match f.string("cost_basis", "bad_cost_basis")? {
        None => CostBasis::Fifo,
        Some(name) => CostBasis::from_name(&name).ok_or_else(|| {
            Error::invalid(
                "bad_cost_basis",
                format!("unknown cost basis {name:?}: expected fifo or average"),
            )
        })?,
    };
    Ok(NewPortfolio {
        name,
        base_currency,
        cost_basis,
        allow_short: f.boolean("allow_short")?.unwrap_or(false),
    })
}

/// `{"name"}`: the new name of a portfolio.
pub fn parse_rename(body: &[u8]) -> Result<String> {
    let f = Fields::parse(body, &["name"])?;
    check_name(&Fields::required("name", f.string("name", "bad_name")?)?)
}

fn parse_kind(text: &str) -> Result<TxKind> {
    TxKind::from_name(text).ok_or_else(|| {
        Error::invalid(
            "bad_type",
            format!(
                "unknown type {text:?}: expected buy, sell, deposit, withdrawal, fee or dividend"
            ),
        )
    })
}

/// `{"type", "instrument"?, "quantity", "price"?, "fee"?, "currency"?, "ts"?}`; without `ts`
/// the transaction happens now.
pub fn parse_new_transaction(body: &[u8]) -> Result<NewTransaction> {
    let f = Fields::parse(
        body,
        &[
            "type",
            "instrument",
            "quantity",
            "price",
            "fee",
            "currency",
            "ts",
        ],
    )?;
    let kind = parse_kind(&Fields::required("type", f.string("type", "bad_type")?)?)?;
    let instrument = f.string("instrument", "bad_field")?;
    let quantity = Fields::required("quantity", f.decimal("quantity", "bad_quantity")?)?;
    if quantity <= 0 {
        return Err(Error::invalid(
            "bad_quantity",
            format!(
                "quantity must be positive (a sale is type sell), got {}",
                Qty::from_units(quantity)
            ),
        ));
    }
    let price = f.decimal("price", "bad_price")?.map(Price::from_units);
    let fee = f.decimal("fee", "bad_fee")?.map(Price::from_units);
    let currency = f.string("currency", "bad_currency")?;
    if let Some(code) = &currency {
        check_currency(code)?;
    }
    let ts = f.time("ts")?.unwrap_or_else(engine::clock::now_ns);
    let name = kind.as_str();
    if kind.is_trade() {
        Fields::required("instrument", instrument.as_ref())?;
        let price = Fields::required("price", price)?;
        if price.is_negative() {
            return Err(Error::invalid("bad_price", "price must not be negative"));
        }
        if fee.is_some_and(Price::is_negative) {
            return Err(Error::invalid("bad_fee", "fee must not be negative"));
        }
    } else {
        if price.is_some() {
            return Err(Error::invalid(
                "bad_price",
                format!("a {name} has no price"),
            ));
        }
        if fee.is_some() {
            return Err(Error::invalid(
                "bad_fee",
                format!("a {name} takes no fee (record a fee transaction)"),
            ));
        }
    }
    Ok(NewTransaction {
        kind,
        instrument,
        quantity: Qty::from_units(quantity),
        price,
        fee,
        currency,
        ts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn code(r: Result<impl std::fmt::Debug>) -> &'static str {
        match r {
            Err(e) => e.code(),
            Ok(v) => panic!("accepted: {v:?}"),
        }
    }

    #[test]
    fn a_transaction_without_ts_happens_now() {
        let before = engine::clock::now_ns();
        let tx = parse_new_transaction(br#"{"type":"deposit","quantity":1}"#).unwrap();
        assert!(tx.ts >= before && tx.ts <= engine::clock::now_ns());
    }

    #[test]
    fn amounts_as_strings_and_numbers_are_exact() {
        let t = parse_new_transaction(
            br#"{"type":"buy","instrument":"SIM:AAA","quantity":0.1,"price":"110.000000001","fee":1e-9,"ts":"2024-05-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(t.kind, TxKind::Buy);
        assert_eq!(t.quantity.units(), 100_000_000);
        assert_eq!(t.price.unwrap().units(), 110_000_000_001);
        assert_eq!(t.fee.unwrap().units(), 1);
        assert_eq!(t.ts, 1_714_521_600_000_000_000);
        // A number too precise for f64 keeps every digit.
        let t = parse_new_transaction(
            br#"{"type":"deposit","quantity":9007199254.740993001,"ts":1714521600000000001}"#,
        )
        .unwrap();
        assert_eq!(t.quantity.units(), 9_007_199_254_740_993_001);
        assert_eq!(t.ts, 1_714_521_600_000_000_001);
        let t = parse_new_transaction(
            br#"{"type":"dividend","instrument":"SIM:AAA","quantity":"3","ts":"17","currency":null}"#,
        )
        .unwrap();
        assert_eq!((t.ts, t.currency), (17, None));
    }

    #[rstest]
    #[case::not_json(b"{", "bad_json")]
    #[case::not_an_object(b"[1]", "bad_json")]
    #[case::unknown_field(br#"{"type":"buy","qty":1}"#, "unknown_field")]
    #[case::no_type(br#"{"quantity":1,"ts":1}"#, "missing_field")]
    #[case::bad_type(br#"{"type":"gift","quantity":1,"ts":1}"#, "bad_type")]
    #[case::no_quantity(br#"{"type":"deposit","ts":1}"#, "missing_field")]
    #[case::negative(br#"{"type":"deposit","quantity":"-1","ts":1}"#, "bad_quantity")]
    #[case::negative_number(br#"{"type":"deposit","quantity":-1,"ts":1}"#, "bad_quantity")]
    #[case::zero(br#"{"type":"deposit","quantity":0,"ts":1}"#, "bad_quantity")]
    #[case::text(br#"{"type":"deposit","quantity":"ten","ts":1}"#, "bad_quantity")]
    #[case::boolean(br#"{"type":"deposit","quantity":true,"ts":1}"#, "bad_quantity")]
    #[case::too_precise(br#"{"type":"deposit","quantity":"1e-10","ts":1}"#, "bad_quantity")]
    #[case::bad_ts(br#"{"type":"deposit","quantity":1,"ts":"yesterday"}"#, "bad_time")]
    #[case::float_ts(br#"{"type":"deposit","quantity":1,"ts":1.5}"#, "bad_time")]
    #[case::no_instrument(br#"{"type":"buy","quantity":1,"price":1,"ts":1}"#, "missing_field")]
    #[case::no_price(
        br#"{"type":"buy","instrument":"SIM:A","quantity":1,"ts":1}"#,
        "missing_field"
    )]
    #[case::negative_price(
        br#"{"type":"sell","instrument":"SIM:A","quantity":1,"price":-1,"ts":1}"#,
        "bad_price"
    )]
    #[case::negative_fee(
        br#"{"type":"buy","instrument":"SIM:A","quantity":1,"price":1,"fee":"-1","ts":1}"#,
        "bad_fee"
    )]
    #[case::cash_price(br#"{"type":"deposit","quantity":1,"price":1,"ts":1}"#, "bad_price")]
    #[case::cash_fee(br#"{"type":"deposit","quantity":1,"fee":1,"ts":1}"#, "bad_fee")]
    #[case::bad_currency(
        br#"{"type":"deposit","quantity":1,"currency":"usd","ts":1}"#,
        "bad_currency"
    )]
    #[case::instrument_number(br#"{"type":"fee","instrument":5,"quantity":1,"ts":1}"#, "bad_field")]
    fn bad_transactions(#[case] body: &[u8], #[case] expected: &str) {
        assert_eq!(code(parse_new_transaction(body)), expected);
    }

    #[test]
    fn missing_field_names_it() {
        let e =
            parse_new_transaction(br#"{"type":"buy","instrument":"SIM:A","quantity":1,"ts":1}"#)
                .unwrap_err();
        assert_eq!(e.to_string(), "price is required");
    }

    #[test]
    fn portfolios() {
        let p = parse_new_portfolio(br#"{"name":"  Main ","cost_basis":"average","allow_short":true,"base_currency":"EUR"}"#)
            .unwrap();
        assert_eq!(
            p,
            NewPortfolio {
                name: "Main".into(),
                base_currency: Some("EUR".into()),
                cost_basis: CostBasis::Average,
                allow_short: true,
            }
        );
        let p = parse_new_portfolio(br#"{"name":"x"}"#).unwrap();
        assert_eq!(
            (p.cost_basis, p.allow_short, p.base_currency),
            (CostBasis::Fifo, false, None)
        );
        assert_eq!(
            code(parse_new_portfolio(br#"{"name":"x","cost_basis":"lifo"}"#)),
            "bad_cost_basis"
        );
        assert_eq!(code(parse_new_portfolio(br#"{"name":"  "}"#)), "bad_name");
        assert_eq!(code(parse_new_portfolio(br#"{}"#)), "missing_field");
        assert_eq!(
            code(parse_new_portfolio(br#"{"name":"x","allow_short":"yes"}"#)),
            "bad_field"
        );
        assert_eq!(
            code(parse_new_portfolio(br#"{"name":"x","base_currency":"US"}"#)),
            "bad_currency"
        );
        assert_eq!(parse_rename(br#"{"name":"New"}"#).unwrap(), "New");
        assert_eq!(
            code(parse_rename(br#"{"name":"New","cost_basis":"fifo"}"#)),
            "unknown_field"
        );
        let long = format!(r#"{{"name":"{}"}}"#, "x".repeat(MAX_NAME_CHARS + 1));
        assert_eq!(code(parse_rename(long.as_bytes())), "bad_name");
    }
}
