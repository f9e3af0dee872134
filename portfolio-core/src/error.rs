//! The errors of the portfolio service, each with its API code and HTTP status.

use thiserror::Error;

use crate::db::DbError;
use crate::ledger::LedgerError;
use crate::model::PortfolioId;

/// Why a portfolio request failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is malformed or a value is invalid (400 with `code`: `bad_json`,
    /// `missing_field`, `unknown_field`, `bad_field`, `bad_type`, `bad_quantity`, `bad_price`,
    /// `bad_fee`, `bad_time`, `bad_currency`, `bad_cost_basis`, `bad_name`,
    /// `unknown_instrument`).
    #[error("{message}")]
    Invalid {
        /// The API code.
        code: &'static str,
        /// What is wrong, for a person.
        message: String,
    },
    /// No such portfolio for this principal (another principal's portfolio included).
    #[error("no portfolio {0}")]
    UnknownPortfolio(PortfolioId),
    /// No such transaction in the portfolio.
    #[error("no transaction {tx} in portfolio {portfolio}")]
    UnknownTransaction {
        /// The portfolio.
        portfolio: PortfolioId,
        /// The transaction id asked for.
        tx: u64,
    },
    /// The new transaction itself cannot be applied (an oversell, a currency mismatch...).
    #[error("{0}")]
    Ledger(#[source] LedgerError),
    /// The change would make another, recorded transaction invalid (for example a later sale
    /// would sell more than is then held).
    #[error("transaction {tx} would become invalid: {source}")]
    HistoryConflict {
        /// The recorded transaction that would fail.
        tx: u64,
        /// Why it would fail.
        #[source]
        source: LedgerError,
    },
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] DbError),
}

/// A result of the portfolio service.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A 400 error with `code`.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Error {
        Error::Invalid {
            code,
            message: message.into(),
        }
    }

    /// The API error code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { code, .. } => code,
            Error::UnknownPortfolio(_) => "unknown_portfolio",
            Error::UnknownTransaction { .. } => "unknown_transaction",
            Error::Ledger(e) => e.code(),
            Error::HistoryConflict { .. } => "history_conflict",
            Error::Db(_) => "internal",
        }
    }

    /// The HTTP status: 400, 404, 409, 422 or 500.
    pub fn status(&self) -> u16 {
        match self {
            Error::Invalid { .. } => 400,
            Error::UnknownPortfolio(_) | Error::UnknownTransaction { .. } => 404,
            Error::Ledger(LedgerError::Oversell { .. } | LedgerError::CurrencyMismatch { .. }) => {
                422
            }
            Error::Ledger(_) => 400,
            Error::HistoryConflict { .. } => 409,
            Error::Db(_) => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn codes_and_statuses() {
        let oversell = LedgerError::Oversell {
            instrument: "SIM:AAA".into(),
            held: "1".parse().unwrap(),
            wanted: "2".parse().unwrap(),
        };
        let cases = [
            (Error::invalid("bad_json", "x"), "bad_json", 400),
            (Error::UnknownPortfolio(3), "unknown_portfolio", 404),
            (
                Error::UnknownTransaction {
                    portfolio: 1,
                    tx: 2,
                },
                "unknown_transaction",
                404,
            ),
            (
                Error::Ledger(oversell.clone()),
                "insufficient_quantity",
                422,
            ),
            (
                Error::Ledger(LedgerError::ZeroQuantity),
                "bad_quantity",
                400,
            ),
            (
                Error::HistoryConflict {
                    tx: 4,
                    source: oversell,
                },
                "history_conflict",
                409,
            ),
        ];
        for (e, code, status) in cases {
            assert_eq!((e.code(), e.status()), (code, status), "{e}");
        }
        let conflict = Error::HistoryConflict {
            tx: 4,
            source: LedgerError::ZeroQuantity,
        };
        assert!(conflict.source().is_some());
    }
}
