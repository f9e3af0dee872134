//! Fixed-point decimals: [`Price`] and [`Qty`], signed `i64` counts of 1e-9.
//!
//! Values are parsed straight from the provider's decimal text and written back as the exact
//! decimal. No `f64` is involved on the way in: a digit that cannot be held exactly is an
//! error ([`DecimalError::TooPrecise`]), never a rounding.
//!
//! Accepted text: an optional sign, digits with at most one `.` (either side may be empty but
//! not both), and an optional exponent `e`/`E` with an optional sign and up to 4 digits.
//! Trailing zeros past the ninth fraction digit are accepted because they change nothing.

use std::fmt;
use std::str::FromStr;

use crate::error::DecimalError;

/// Units per whole: values are counts of 1e-9.
pub const SCALE: i64 = 1_000_000_000;
/// Number of fraction digits a value holds.
pub const FRACTION_DIGITS: u32 = 9;

/// Parses decimal text into a count of 1e-9 units, exactly or not at all.
pub fn parse_scaled(text: &[u8]) -> Result<i64, DecimalError> {
    let (negative, body, body_start) = match text.first() {
        Some(b'-') => (true, &text[1..], 1),
        Some(b'+') => (false, &text[1..], 1),
        _ => (false, text, 0),
    };
    let (mantissa, exponent) = match body.iter().position(|&b| b == b'e' || b == b'E') {
        Some(i) => (&body[..i], parse_exponent(&body[i + 1..])?),
        None => (body, 0),
    };
    let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, &[][..]),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(DecimalError::Empty);
    }
    let frac_start = body_start + int.len() + 1;
    check_digits(int, body_start)?;
    check_digits(frac, frac_start)?;

    // Digits of int then frac, indexed 0..len; digit k stands for 10^(int.len() - 1 - k + exponent).
    let len = int.len() + frac.len();
    let digit = |k: usize| if k < int.len() { int[k] } else { frac[k - int.len()] } - b'0';
    let Some(first) = (0..len).find(|&k| digit(k) != 0) else {
        return Ok(0);
    };
    let last = (first..len).rev().find(|&k| digit(k) != 0).unwrap_or(first);
    let power = |k: usize| int.len() as i64 - 1 - k as i64 + exponent;
    if power(last) < -(FRACTION_DIGITS as i64) {
        return Err(DecimalError::TooPrecise);
    }
    // i64::MAX is 9.2e18 units = 9.2e9 whole: a leading digit at 10^10 or above cannot fit.
    if power(first) > 9 {
        return Err(DecimalError::Overflow);
    }
    // At most 20 significant digits remain (10^9 down to 10^-9 plus one), so u128 holds them.
    let mut units: u128 = 0;
    for k in first..=last {
        units = units * 10 + u128::from(digit(k));
    }
    let shift = (power(last) + FRACTION_DIGITS as i64) as u32;
    units *= 10u128.pow(shift);
    if negative {
        if units > i64::MIN.unsigned_abs() as u128 {
            return Err(DecimalError::Overflow);
        }
        Ok((units as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(units).map_err(|_| DecimalError::Overflow)
    }
}

fn check_digits(digits: &[u8], offset: usize) -> Result<(), DecimalError> {
    match digits.iter().position(|b| !b.is_ascii_digit()) {
        Some(i) => Err(DecimalError::InvalidCharacter {
            position: offset + i,
        }),
        None => Ok(()),
    }
}

fn parse_exponent(text: &[u8]) -> Result<i64, DecimalError> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(DecimalError::InvalidExponent);
    }
    let value = digits
        .iter()
        .fold(0i64, |acc, &b| acc * 10 + i64::from(b - b'0'));
    Ok(if negative { -value } else { value })
}

/// Writes `units` (1e-9) as the shortest exact decimal: `1.5`, `-0.000000001`, `42`.
pub fn write_scaled(units: i64, out: &mut impl fmt::Write) -> fmt::Result {
    let magnitude = units.unsigned_abs();
    let whole = magnitude / SCALE as u64;
    let mut frac = magnitude % SCALE as u64;
    if units < 0 {
        out.write_char('-')?;
    }
    write!(out, "{whole}")?;
    if frac != 0 {
        let mut digits = FRACTION_DIGITS as usize;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        write!(out, ".{frac:0digits$}")?;
    }
    Ok(())
}

macro_rules! fixed_point {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(0);
            /// The largest value, 9223372036.854775807.
            pub const MAX: Self = Self(i64::MAX);
            /// The smallest value, -9223372036.854775808.
            pub const MIN: Self = Self(i64::MIN);

            /// From a raw count of 1e-9 units.
            pub const fn from_units(units: i64) -> Self {
                Self(units)
            }

            /// The raw count of 1e-9 units.
            pub const fn units(self) -> i64 {
                self.0
            }

            /// A whole number, if it fits.
            pub const fn from_int(whole: i64) -> Option<Self> {
                match whole.checked_mul(SCALE) {
                    Some(units) => Some(Self(units)),
                    None => None,
                }
            }

            /// Parses exact decimal text given as bytes (as found in a raw message).
            pub fn parse_bytes(text: &[u8]) -> Result<Self, DecimalError> {
                parse_scaled(text).map(Self)
            }

            /// `self + rhs`, or `None` on overflow.
            pub const fn checked_add(self, rhs: Self) -> Option<Self> {
                match self.0.checked_add(rhs.0) {
                    Some(units) => Some(Self(units)),
                    None => None,
                }
            }

            /// `self - rhs`, or `None` on overflow.
            pub const fn checked_sub(self, rhs: Self) -> Option<Self> {
                match self.0.checked_sub(rhs.0) {
                    Some(units) => Some(Self(units)),
                    None => None,
                }
            }

            /// `-self`, or `None` for [`Self::MIN`].
            pub const fn checked_neg(self) -> Option<Self> {
                match self.0.checked_neg() {
                    Some(units) => Some(Self(units)),
                    None => None,
                }
            }

            /// `self * n` for a whole `n`, or `None` on overflow.
            pub const fn checked_mul_int(self, n: i64) -> Option<Self> {
                match self.0.checked_mul(n) {
                    Some(units) => Some(Self(units)),
                    None => None,
                }
            }

            /// `self / n` for a whole `n`, if the quotient is exact; `None` if `n` is zero,
            /// the result overflows or a digit below 1e-9 would be lost.
            pub const fn checked_div_int_exact(self, n: i64) -> Option<Self> {
                if n == 0 || self.0 % n != 0 {
                    return None;
                }
                match self.0.checked_div(n) {
                    Some(units) => Some(Self(units)),
                    None => None,
                }
            }

            /// True for zero.
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// True below zero.
            pub const fn is_negative(self) -> bool {
                self.0 < 0
            }
        }

        impl FromStr for $name {
            type Err = DecimalError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse_bytes(text.as_bytes())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_scaled(self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

fixed_point!(
    /// A price: signed fixed-point with 9 fraction digits.
    Price
);
fixed_point!(
    /// A quantity (size, volume): signed fixed-point with 9 fraction digits.
    Qty
);

impl Price {
    /// The exact notional `self × qty` in units of 1e-18, wide enough never to overflow.
    pub const fn notional_e18(self, qty: Qty) -> i128 {
        self.0 as i128 * qty.0 as i128
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("0", 0)]
    #[case("-0", 0)]
    #[case("+0.000", 0)]
    #[case("1", 1_000_000_000)]
    #[case("1.5", 1_500_000_000)]
    #[case("-1.5", -1_500_000_000)]
    #[case(".5", 500_000_000)]
    #[case("5.", 5_000_000_000)]
    #[case("0.000000001", 1)]
    #[case("-0.000000001", -1)]
    #[case("43250.12000000", 43_250_120_000_000)]
    #[case("0.10000000000000000000", 100_000_000)]
    #[case("00012.340", 12_340_000_000)]
    #[case("1e3", 1_000_000_000_000)]
    #[case("1.5E-7", 150)]
    #[case("25e-9", 25)]
    #[case("9223372036.854775807", i64::MAX)]
    #[case("-9223372036.854775808", i64::MIN)]
    #[case("0e9999", 0)]
    fn parses_exact_values(#[case] text: &str, #[case] units: i64) {
        assert_eq!(
            text.parse::<Price>(),
            Ok(Price::from_units(units)),
            "{text}"
        );
    }

    #[rstest]
    #[case("", DecimalError::Empty)]
    #[case("-", DecimalError::Empty)]
    #[case(".", DecimalError::Empty)]
    #[case("e5", DecimalError::Empty)]
    #[case("1.2.3", DecimalError::InvalidCharacter { position: 3 })]
    #[case(" 1", DecimalError::InvalidCharacter { position: 0 })]
    #[case("1 ", DecimalError::InvalidCharacter { position: 1 })]
    #[case("--1", DecimalError::InvalidCharacter { position: 1 })]
    #[case("NaN", DecimalError::InvalidCharacter { position: 0 })]
    #[case("inf", DecimalError::InvalidCharacter { position: 0 })]
    #[case("0x10", DecimalError::InvalidCharacter { position: 1 })]
    #[case("1_000", DecimalError::InvalidCharacter { position: 1 })]
    #[case("1e", DecimalError::InvalidExponent)]
    #[case("1e+", DecimalError::InvalidExponent)]
    #[case("1e12345", DecimalError::InvalidExponent)]
    #[case("1.0000000001", DecimalError::TooPrecise)]
    #[case("0.0000000005", DecimalError::TooPrecise)]
    #[case("1e-10", DecimalError::TooPrecise)]
    #[case("25e-10", DecimalError::TooPrecise)]
    #[case("9223372036.854775808", DecimalError::Overflow)]
    #[case("-9223372036.854775809", DecimalError::Overflow)]
    #[case("10000000000", DecimalError::Overflow)]
    #[case("1e10", DecimalError::Overflow)]
    #[case("99999999999999999999999999999999999999999", DecimalError::Overflow)]
    fn rejects_inexact_or_malformed_text(#[case] text: &str, #[case] error: DecimalError) {
        assert_eq!(text.parse::<Qty>(), Err(error), "{text}");
    }

    #[rstest]
    #[case(0, "0")]
    #[case(1, "0.000000001")]
    #[case(-1, "-0.000000001")]
    #[case(1_500_000_000, "1.5")]
    #[case(-42_000_000_000, "-42")]
    #[case(43_250_120_000_000, "43250.12")]
    #[case(i64::MAX, "9223372036.854775807")]
    #[case(i64::MIN, "-9223372036.854775808")]
    fn displays_the_exact_decimal(#[case] units: i64, #[case] text: &str) {
        assert_eq!(Price::from_units(units).to_string(), text);
        assert_eq!(
            format!("{:?}", Qty::from_units(units)),
            format!("Qty({text})")
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let one = Price::from_int(1).unwrap();
        assert_eq!(Price::MAX.checked_add(Price::from_units(1)), None);
        assert_eq!(Price::MIN.checked_sub(Price::from_units(1)), None);
        assert_eq!(Price::MIN.checked_neg(), None);
        assert_eq!(Price::MAX.checked_mul_int(2), None);
        assert_eq!(Price::from_int(10_000_000_000), None);
        assert_eq!(one.checked_add(one), Price::from_int(2));
        assert_eq!(one.checked_div_int_exact(4), Some("0.25".parse().unwrap()));
        assert_eq!(Price::from_units(1).checked_div_int_exact(2), None);
        assert_eq!(one.checked_div_int_exact(0), None);
        let price: Price = "43250.5".parse().unwrap();
        let qty: Qty = "0.002".parse().unwrap();
        assert_eq!(price.notional_e18(qty), 86_501 * 10i128.pow(15));
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(units in any::<i64>()) {
            let price = Price::from_units(units);
            prop_assert_eq!(price.to_string().parse::<Price>(), Ok(price));
        }

        #[test]
        fn parse_matches_integer_arithmetic(whole in -9_000_000_000i64..9_000_000_000, frac in 0u32..1_000_000_000, zeros in 0usize..12) {
            // Build the text by hand and compare with the value computed in integers.
            let sign = if whole < 0 { "-" } else { "" };
            let text = format!("{sign}{}.{frac:09}{}", whole.unsigned_abs(), "0".repeat(zeros));
            let magnitude = whole.unsigned_abs() as i64 * SCALE + i64::from(frac);
            let expected = if whole < 0 { -magnitude } else { magnitude };
            prop_assert_eq!(text.parse::<Qty>(), Ok(Qty::from_units(expected)));
        }

        #[test]
        fn exponent_form_equals_plain_form(units in -999_999_999_999i64..999_999_999_999, shift in 0i64..9) {
            // units × 1e-9 written as (units × 10^shift) e-(9+shift)
            let text = format!("{}e-{}", i128::from(units) * 10i128.pow(shift as u32), 9 + shift);
            prop_assert_eq!(text.parse::<Price>(), Ok(Price::from_units(units)));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[-+0-9.eE]{0,30}") {
            let _ = text.parse::<Price>();
        }
    }
}
