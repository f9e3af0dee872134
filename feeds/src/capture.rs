//! Capture files: recorded provider messages with the time each was received.
//!
//! Two line formats are read, and may be mixed in one file:
//!
//! - **cryptofeed**: the connection line `URL <-> <ts>`, lines `URL <- <ts>: <message>` for
//!   what the client sent (skipped), and `<ts>: <message>` (or `URL -> <ts>: <message>`) for
//!   what it received. `<ts>` is decimal epoch seconds (`1633998512.0633569`) and becomes
//!   `ts_recv` exactly, in ns.
//! - **NDJSON**: one JSON value per line. An object holding a receive time and the message,
//!   `{"ts_recv": <ns>, "msg": <message>}`, where the time may instead be `recv_ts` (decimal
//!   seconds, as cryptofeed writes it) and the message `raw` or `message`, either the JSON
//!   itself or a string holding it. Any other JSON line is a bare message; it has no
//!   recorded time, so its `ts_recv` is the time it is read.
//!
//! Blank lines are skipped. A line that fits neither format is an error for that line only.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::venue::decimal_seconds;

/// What one line of a capture holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureLine<'a> {
    /// A message the client received; `ts_recv` is `None` when the line records no time.
    Received {
        /// The recorded receive time, ns.
        ts_recv: Option<i64>,
        /// The raw message text.
        message: Cow<'a, str>,
    },
    /// A connection line, a message the client sent, or a blank line.
    Skip,
}

/// Why a capture line could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct CaptureError(String);

/// The NDJSON wrapper.
#[derive(Deserialize)]
struct Wrapped<'a> {
    #[serde(borrow)]
    ts_recv: Option<&'a RawValue>,
    #[serde(borrow)]
    recv_ts: Option<&'a RawValue>,
    #[serde(borrow, alias = "raw", alias = "message")]
    msg: Option<&'a RawValue>,
}

/// Reads one line (without its line break).
pub fn parse_line(line: &str) -> Result<CaptureLine<'_>, CaptureError> {
    let line = line.trim_end_matches(['\r', '\n']);
    let trimmed = line.trim_start();
    if trimmed.is_empty() {
        return Ok(CaptureLine::Skip);
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return ndjson(trimmed);
    }
    cryptofeed(line)
}

fn cryptofeed(line: &str) -> Result<CaptureLine<'_>, CaptureError> {
    let bad = |why: &str| CaptureError(format!("{why}: {:.80}", line));
    // `URL <-> ts`, `URL <- ts: msg`, `URL -> ts: msg`, or `ts: msg`.
    let (direction, rest) = if let Some((_, rest)) = line.split_once(" <-> ") {
        return if is_decimal(rest.trim()) {
            Ok(CaptureLine::Skip)
        } else {
            Err(bad("bad connection line"))
        };
    } else if let Some((_, rest)) = line.split_once(" <- ") {
        ("sent", rest)
    } else if let Some((_, rest)) = line.split_once(" -> ") {
        ("received", rest)
    } else {
        ("received", line)
    };
    let (ts, message) = rest
        .split_once(": ")
        .ok_or_else(|| bad("expected `<recv_ts>: <message>`"))?;
    if !is_decimal(ts) {
        return Err(bad("expected decimal epoch seconds before `: `"));
    }
    if direction == "sent" {
        return Ok(CaptureLine::Skip);
    }
    let ts_recv = decimal_seconds("recv_ts", ts).map_err(|e| bad(&e.to_string()))?;
    Ok(CaptureLine::Received {
        ts_recv: Some(ts_recv),
        message: Cow::Borrowed(message),
    })
}

fn ndjson(line: &str) -> Result<CaptureLine<'_>, CaptureError> {
    let bad = |why: String| CaptureError(format!("{why}: {:.80}", line));
    if line.starts_with('{')
        && let Ok(wrapped) = serde_json::from_str::<Wrapped<'_>>(line)
        && let Some(msg) = wrapped.msg
    {
        let ts_recv = match (wrapped.ts_recv, wrapped.recv_ts) {
            (Some(ns), _) => Some(
                crate::venue::num(ns)
                    .parse::<i64>()
                    .map_err(|_| bad("`ts_recv` must be integer ns".into()))?,
            ),
            (None, Some(seconds)) => Some(
                decimal_seconds("recv_ts", crate::venue::num(seconds))
                    .map_err(|e| bad(e.to_string()))?,
            ),
            // `msg` without a time: a venue message that happens to have a `msg` field.
            (None, None) => None,
        };
        if let Some(ts_recv) = ts_recv {
            let message = if msg.get().starts_with('"') {
                Cow::Owned(
                    serde_json::from_str::<String>(msg.get())
                        .map_err(|e| bad(format!("bad message string: {e}")))?,
                )
            } else {
                Cow::Borrowed(msg.get())
            };
            return Ok(CaptureLine::Received {
                ts_recv: Some(ts_recv),
                message,
            });
        }
    }
    Ok(CaptureLine::Received {
        ts_recv: None,
        message: Cow::Borrowed(line),
    })
}

fn is_decimal(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|&b| b == b'.').count() <= 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn received(ts: i64, message: &str) -> CaptureLine<'_> {
        CaptureLine::Received {
            ts_recv: Some(ts),
            message: Cow::Borrowed(message),
        }
    }

    #[rstest]
    #[case("wss://ws.bitstamp.net/ <-> 1641343690.598303", CaptureLine::Skip)]
    #[case(
        "wss://ws.bitstamp.net/ <- 1641343691.067583: {\"event\":\"bts:subscribe\"}",
        CaptureLine::Skip
    )]
    #[case("", CaptureLine::Skip)]
    #[case(
        "1633998512.0633569: {\"stream\":\"x\"}",
        received(1_633_998_512_063_356_900, "{\"stream\":\"x\"}")
    )]
    #[case(
        "wss://x -> 1633998512.5: {\"a\":1}",
        received(1_633_998_512_500_000_000, "{\"a\":1}")
    )]
    #[case(
        "{\"ts_recv\":1633998512063356900,\"msg\":{\"a\":\"b: c\"}}",
        received(1_633_998_512_063_356_900, "{\"a\":\"b: c\"}")
    )]
    #[case(
        "{\"recv_ts\":1633998512.0633569,\"raw\":{\"a\":1}}",
        received(1_633_998_512_063_356_900, "{\"a\":1}")
    )]
    fn lines_are_read(#[case] line: &str, #[case] expected: CaptureLine<'_>) {
        assert_eq!(parse_line(line).unwrap(), expected);
    }

    #[test]
    fn string_messages_are_unescaped_and_bare_messages_have_no_time() {
        let line = r#"{"ts_recv":5,"message":"{\"p\":\"1.5\"}"}"#;
        assert_eq!(
            parse_line(line).unwrap(),
            CaptureLine::Received {
                ts_recv: Some(5),
                message: Cow::Owned("{\"p\":\"1.5\"}".into()),
            }
        );
        let bare = r#"{"e":"trade","p":"1"}"#;
        assert_eq!(
            parse_line(bare).unwrap(),
            CaptureLine::Received {
                ts_recv: None,
                message: Cow::Borrowed(bare),
            }
        );
    }

    #[rstest]
    #[case("hello world")]
    #[case("12x: {}")]
    #[case("wss://x <-> soon")]
    #[case("1.2.3: {}")]
    fn malformed_lines_are_errors(#[case] line: &str) {
        assert!(parse_line(line).is_err(), "{line}");
    }

    #[test]
    fn every_sample_capture_line_reads() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/samples/captures");
        for name in ["BINANCE.ws.1.0", "BITSTAMP.ws.1.0", "COINBASE.ws.28.0"] {
            let text = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
            let received = text
                .lines()
                .map(|line| parse_line(line).unwrap_or_else(|e| panic!("{name}: {e}")))
                .filter(|line| matches!(line, CaptureLine::Received { .. }))
                .count();
            assert!(received > 100, "{name}: {received}");
        }
    }
}
