//! Currencies: which currency each instrument is quoted in, and which FX instrument converts
//! one currency into another (`[portfolio]` in the config).
//!
//! ```toml
//! [portfolio]
//! default_currency = "USD"            # instruments not listed below
//! [portfolio.currencies]              # by instrument, or by venue with "VENUE:*"
//! "SIM:BMW" = "EUR"
//! "LSE:*" = "GBP"
//! [portfolio.fx]                      # FROM/TO = instrument whose trade price is TO per FROM
//! "EUR/USD" = "SIM:EURUSD"
//! ```
//!
//! A rate is used directly (`EUR/USD` for EUR → USD) or inverted (`EUR/USD` for USD → EUR);
//! nothing is chained through a third currency.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[portfolio]`: whether portfolios run, how often valuations go out, and currencies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CurrencyConfig {
    /// Whether portfolios are served and revalued (default true).
    pub enabled: bool,
    /// Valuations published per portfolio per second at most (default 10; newest wins).
    pub max_valuations_per_second: u32,
    /// The currency of instruments not listed (default `USD`).
    pub default_currency: String,
    /// Instrument (`VENUE:SYMBOL`) or venue (`VENUE:*`) → currency.
    pub currencies: BTreeMap<String, String>,
    /// `FROM/TO` → the instrument whose trade price is units of TO per unit of FROM.
    pub fx: BTreeMap<String, String>,
}

impl Default for CurrencyConfig {
    fn default() -> Self {
        CurrencyConfig {
            enabled: true,
            max_valuations_per_second: 10,
            default_currency: "USD".into(),
            currencies: BTreeMap::new(),
            // The synthetic feed's FX pairs.
            fx: [
                ("EUR/USD", "SIM:EURUSD"),
                ("GBP/USD", "SIM:GBPUSD"),
                ("USD/JPY", "SIM:USDJPY"),
            ]
            .into_iter()
            .map(|(pair, instrument)| (pair.to_owned(), instrument.to_owned()))
            .collect(),
        }
    }
}

/// How to convert between two currencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversion {
    /// The same currency.
    Identity,
    /// Multiply by the instrument's price.
    Direct(String),
    /// Divide by the instrument's price.
    Inverse(String),
    /// No rate is configured: the name of the missing pair, `FROM/TO`.
    Missing(String),
}

impl CurrencyConfig {
    /// The shortest time between two published valuations of one portfolio.
    pub fn min_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1) / self.max_valuations_per_second.max(1)
    }

    /// Checks the codes and pairs; returns the dotted key and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let code_ok =
            |c: &str| (3..=8).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_uppercase());
        if !code_ok(&self.default_currency) {
            return Err((
                "portfolio.default_currency".into(),
                format!(
                    "{:?} is not a currency code (3 to 8 capital letters)",
                    self.default_currency
                ),
            ));
        }
        for (key, code) in &self.currencies {
            if !key.contains(':') {
                return Err((
                    format!("portfolio.currencies.{key}"),
                    "expected VENUE:SYMBOL or VENUE:*".into(),
                ));
            }
            if !code_ok(code) {
                return Err((
                    format!("portfolio.currencies.{key}"),
                    format!("{code:?} is not a currency code"),
                ));
            }
        }
        for (pair, instrument) in &self.fx {
            let ok = pair
                .split_once('/')
                .is_some_and(|(a, b)| code_ok(a) && code_ok(b) && a != b);
            if !ok {
                return Err((
                    format!("portfolio.fx.{pair}"),
                    "expected FROM/TO currency codes, like EUR/USD".into(),
                ));
            }
            if !instrument.contains(':') {
                return Err((
                    format!("portfolio.fx.{pair}"),
                    format!("{instrument:?} is not VENUE:SYMBOL"),
                ));
            }
        }
        Ok(())
    }

    /// The currency `instrument` is quoted in.
    pub fn currency_of(&self, instrument: &str) -> &str {
        if let Some(code) = self.currencies.get(instrument) {
            return code;
        }
        let venue = instrument.split_once(':').map_or(instrument, |(v, _)| v);
        self.currencies
            .get(&format!("{venue}:*"))
            .unwrap_or(&self.default_currency)
    }

    /// How to turn an amount in `from` into `to`.
    pub fn conversion(&self, from: &str, to: &str) -> Conversion {
        if from == to {
            return Conversion::Identity;
        }
        if let Some(instrument) = self.fx.get(&format!("{from}/{to}")) {
            return Conversion::Direct(instrument.clone());
        }
        if let Some(instrument) = self.fx.get(&format!("{to}/{from}")) {
            return Conversion::Inverse(instrument.clone());
        }
        Conversion::Missing(format!("{from}/{to}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CurrencyConfig {
        let mut c = CurrencyConfig::default();
        c.fx.clear();
        c.currencies.insert("SIM:BMW".into(), "EUR".into());
        c.currencies.insert("LSE:*".into(), "GBP".into());
        c.fx.insert("EUR/USD".into(), "SIM:EURUSD".into());
        c
    }

    #[test]
    fn instruments_map_by_name_then_venue_then_default() {
        let c = config();
        assert_eq!(c.currency_of("SIM:BMW"), "EUR");
        assert_eq!(c.currency_of("LSE:VOD"), "GBP");
        assert_eq!(c.currency_of("SIM:AAA"), "USD");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn rates_are_direct_inverse_or_missing() {
        let c = config();
        assert_eq!(c.conversion("USD", "USD"), Conversion::Identity);
        assert_eq!(
            c.conversion("EUR", "USD"),
            Conversion::Direct("SIM:EURUSD".into())
        );
        assert_eq!(
            c.conversion("USD", "EUR"),
            Conversion::Inverse("SIM:EURUSD".into())
        );
        assert_eq!(
            c.conversion("GBP", "USD"),
            Conversion::Missing("GBP/USD".into())
        );
    }

    #[test]
    fn bad_settings_name_their_key() {
        let mut c = config();
        c.fx.insert("EURUSD".into(), "SIM:X".into());
        assert_eq!(c.validate().unwrap_err().0, "portfolio.fx.EURUSD");
        let mut c = config();
        c.default_currency = "usd".into();
        assert_eq!(c.validate().unwrap_err().0, "portfolio.default_currency");
    }
}
