//! Reading a JSON array one element at a time, without collecting it.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer as _, SeqAccess, Visitor};

use crate::venue::ParseError;

/// Reads the JSON array `text` element by element as `T`, handing each to `f` as it is read:
/// no vector of elements is built.
///
/// A JSON error (malformed text, an element of the wrong shape) stops the reading and is
/// returned. An error from `f` does not: the remaining elements are still handed over, and the
/// first such error is returned at the end, so one bad record does not hide its neighbours.
/// Either way, what `f` did with the elements before the error stays done.
///
/// Shared by the array-shaped feeds: Kraken's `data`, Polygon's and Alpaca's messages.
pub fn for_each<'de, T, F>(text: &'de str, f: F) -> Result<(), ParseError>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), ParseError>,
{
    let mut first_error = None;
    let mut de = serde_json::Deserializer::from_str(text);
    (&mut de).deserialize_seq(Elements {
        f,
        first_error: &mut first_error,
        element: PhantomData,
    })?;
    de.end()?;
    first_error.map_or(Ok(()), Err)
}

struct Elements<'e, T, F> {
    f: F,
    first_error: &'e mut Option<ParseError>,
    element: PhantomData<fn() -> T>,
}

impl<'de, T, F> Visitor<'de> for Elements<'_, T, F>
where
    T: Deserialize<'de>,
    F: FnMut(T) -> Result<(), ParseError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(element) = seq.next_element::<T>()? {
            if let Err(e) = (self.f)(element)
                && self.first_error.is_none()
            {
                *self.first_error = Some(e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Item {
        n: u64,
    }

    fn collect(text: &str) -> (Vec<u64>, Result<(), ParseError>) {
        let mut seen = Vec::new();
        let result = for_each(text, |item: Item| {
            seen.push(item.n);
            if item.n == 0 {
                Err(ParseError::Missing("n"))
            } else {
                Ok(())
            }
        });
        (seen, result)
    }

    #[test]
    fn elements_come_one_by_one_and_a_handler_error_does_not_stop_them() {
        let (seen, result) = collect(r#"[{"n":1},{"n":0},{"n":3}]"#);
        assert_eq!(seen, [1, 0, 3]);
        assert!(matches!(result, Err(ParseError::Missing("n"))));
        let (seen, result) = collect("[]");
        assert!(seen.is_empty() && result.is_ok());
    }

    #[test]
    fn malformed_text_stops_the_reading() {
        for text in [
            r#"[{"n":1},{"n":"#,
            r#"[{"n":1},{"m":2}]"#,
            r#"{"n":1}"#,
            r#"[{"n":1}] x"#,
            "",
        ] {
            let (_, result) = collect(text);
            assert!(matches!(result, Err(ParseError::Json(_))), "{text}");
        }
    }
}
