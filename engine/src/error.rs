//! Errors raised by the engine crate.

use thiserror::Error;

/// Why a decimal text could not become a fixed-point number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecimalError {
    /// The text is empty, or only a sign, a point or an exponent marker.
    #[error("empty decimal")]
    Empty,
    /// A byte that is not part of a decimal number.
    #[error("invalid character at byte {position}")]
    InvalidCharacter {
        /// Offset of the offending byte in the input.
        position: usize,
    },
    /// The exponent after `e`/`E` is missing or out of range.
    #[error("invalid exponent")]
    InvalidExponent,
    /// A non-zero digit below 1e-9: the value cannot be held exactly.
    #[error("more than 9 fraction digits")]
    TooPrecise,
    /// The value does not fit in an i64 of 1e-9 units.
    #[error("value out of range")]
    Overflow,
}

/// Errors of the engine crate.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A price or quantity text was not an exact decimal that fits.
    #[error("bad decimal {text:?}: {source}")]
    Decimal {
        /// The text as given (truncated to 64 bytes).
        text: String,
        /// What was wrong with it.
        #[source]
        source: DecimalError,
    },
    /// An instrument name that is not `VENUE:SYMBOL`.
    #[error("invalid instrument name {0:?}: expected VENUE:SYMBOL")]
    InvalidInstrument(String),
    /// The registry holds `u32::MAX` instruments already.
    #[error("instrument registry is full")]
    RegistryFull,
    /// A single-producer ring has handed out its producer already.
    #[error("this ring allows a single producer, and it is taken")]
    ProducerTaken,
    /// A ring capacity that is not a power of two of at least 2.
    #[error("ring capacity {0} must be a power of two of at least 2")]
    InvalidCapacity(usize),
}

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
