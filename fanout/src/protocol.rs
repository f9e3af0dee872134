//! Protocol v1 (`docs/protocol.md`): client operations in, control messages out.

use std::fmt::Write as _;

use engine::json::{write_str, write_str_array};
use serde::Deserialize;

/// Longest accepted string `req_id`.
pub const MAX_REQ_ID_LEN: usize = 64;
/// Largest accepted integer `req_id` (2^53, exact in every JSON client).
pub const MAX_REQ_ID: u64 = 1 << 53;

/// A client's request id, echoed in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReqId {
    /// An integer id.
    Int(u64),
    /// A string id.
    Str(String),
}

/// A client operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Add channels.
    Subscribe(Vec<String>),
    /// Remove channels.
    Unsubscribe(Vec<String>),
    /// List the connection's channels.
    List,
    /// Ask for a pong.
    Ping,
}

/// A parsed client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What to do.
    pub op: Op,
    /// Echoed in the answer.
    pub req_id: Option<ReqId>,
}

/// A frame that is not a valid operation: answered with an `error` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Protocol error code.
    pub code: &'static str,
    /// Human-readable reason.
    pub message: String,
    /// The frame's `req_id`, if it had a usable one.
    pub req_id: Option<ReqId>,
}

#[derive(Deserialize)]
struct RawRequest {
    op: Option<serde_json::Value>,
    channels: Option<serde_json::Value>,
    req_id: Option<serde_json::Value>,
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Request, Rejection> {
    let reject = |code, message: String, req_id| Rejection {
        code,
        message,
        req_id,
    };
    let raw: RawRequest = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value @ serde_json::Value::Object(_)) => {
            serde_json::from_value(value).map_err(|e| reject("bad_json", e.to_string(), None))?
        }
        Ok(_) => return Err(reject("bad_json", "expected a JSON object".into(), None)),
        Err(e) => return Err(reject("bad_json", format!("invalid JSON: {e}"), None)),
    };
    let req_id = match raw.req_id {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) if n.as_u64().is_some_and(|n| n <= MAX_REQ_ID) => {
            n.as_u64().map(ReqId::Int)
        }
        Some(serde_json::Value::String(s)) if s.len() <= MAX_REQ_ID_LEN => Some(ReqId::Str(s)),
        Some(_) => {
            return Err(reject(
                "bad_request",
                format!(
                    "req_id must be an integer from 0 to 2^53 or a string of at most {MAX_REQ_ID_LEN} bytes"
                ),
                None,
            ));
        }
    };
    let op = match raw.op {
        Some(serde_json::Value::String(op)) => op,
        Some(_) => return Err(reject("bad_request", "op must be a string".into(), req_id)),
        None => return Err(reject("bad_request", "missing field op".into(), req_id)),
    };
    let channels = |raw: Option<serde_json::Value>| -> Result<Vec<String>, Rejection> {
        let bad = |message: &str| reject("bad_request", message.into(), req_id.clone());
        match raw {
            Some(serde_json::Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    serde_json::Value::String(s) => Ok(s),
                    _ => Err(bad("channels must be strings")),
                })
                .collect(),
            Some(_) => Err(bad("channels must be a list of strings")),
            None => Err(bad("missing field channels")),
        }
    };
    let op = match op.as_str() {
        "subscribe" => Op::Subscribe(channels(raw.channels)?),
        "unsubscribe" => Op::Unsubscribe(channels(raw.channels)?),
        "list" => Op::List,
        "ping" => Op::Ping,
        _ => {
            let mut shown = op;
            shown.truncate(32);
            return Err(reject(
                "unknown_op",
                format!("unknown op {shown:?}"),
                req_id,
            ));
        }
    };
    Ok(Request { op, req_id })
}

fn write_req_id(out: &mut String, req_id: Option<&ReqId>) {
    match req_id {
        Some(ReqId::Int(n)) => {
            let _ = write!(out, ",\"req_id\":{n}");
        }
        Some(ReqId::Str(s)) => {
            out.push_str(",\"req_id\":");
            write_str(out, s);
        }
        None => {}
    }
}

/// `{"type":KIND,"channels":[...],"req_id":..}` for `subscribed`, `unsubscribed` and `list`.
pub fn channels_message<'a>(
    kind: &str,
    channels: impl IntoIterator<Item = &'a str>,
    req_id: Option<&ReqId>,
) -> String {
    let mut out = format!("{{\"type\":\"{kind}\",\"channels\":");
    write_str_array(&mut out, channels);
    write_req_id(&mut out, req_id);
    out.push('}');
    out
}

/// `{"type":"error","code":..,"message":..,"channel":..,"req_id":..}`.
pub fn error_message(
    code: &str,
    message: &str,
    channel: Option<&str>,
    req_id: Option<&ReqId>,
) -> String {
    let mut out = String::from("{\"type\":\"error\",\"code\":");
    write_str(&mut out, code);
    out.push_str(",\"message\":");
    write_str(&mut out, message);
    if let Some(channel) = channel {
        out.push_str(",\"channel\":");
        write_str(&mut out, channel);
    }
    write_req_id(&mut out, req_id);
    out.push('}');
    out
}

/// `{"type":"pong","req_id":..,"ts":..}`.
pub fn pong_message(req_id: Option<&ReqId>, ts: i64) -> String {
    let mut out = String::from("{\"type\":\"pong\"");
    write_req_id(&mut out, req_id);
    let _ = write!(out, ",\"ts\":{ts}}}");
    out
}

/// `{"type":"snapshot","channel":..,"snapshot":true,"empty":true}`: nothing to show yet.
pub fn empty_snapshot_message(channel: &str) -> String {
    let mut out = String::from("{\"type\":\"snapshot\",\"channel\":");
    write_str(&mut out, channel);
    out.push_str(",\"snapshot\":true,\"empty\":true}");
    out
}

/// `{"type":"gap","from":..,"to":..,"missed":..,"channels":[...]}`.
pub fn gap_message<'a>(
    from: u64,
    to: u64,
    missed: u64,
    channels: impl IntoIterator<Item = &'a str>,
) -> String {
    let mut out =
        format!("{{\"type\":\"gap\",\"from\":{from},\"to\":{to},\"missed\":{missed},\"channels\":");
    write_str_array(&mut out, channels);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn parses_every_op() {
        assert_eq!(
            parse(r#"{"op":"subscribe","channels":["trades.SIM:AAA"],"req_id":1}"#),
            Ok(Request {
                op: Op::Subscribe(vec!["trades.SIM:AAA".into()]),
                req_id: Some(ReqId::Int(1))
            })
        );
        assert_eq!(
            parse(r#"{"op":"unsubscribe","channels":[],"req_id":"a"}"#),
            Ok(Request {
                op: Op::Unsubscribe(vec![]),
                req_id: Some(ReqId::Str("a".into()))
            })
        );
        assert_eq!(parse(r#"{"op":"list"}"#).unwrap().op, Op::List);
        assert_eq!(parse(r#"{"op":"ping","extra":true}"#).unwrap().op, Op::Ping);
    }

    #[rstest]
    #[case("not json", "bad_json", None)]
    #[case("[1,2]", "bad_json", None)]
    #[case("\"op\"", "bad_json", None)]
    #[case(r#"{"req_id":3}"#, "bad_request", Some(ReqId::Int(3)))]
    #[case(r#"{"op":7}"#, "bad_request", None)]
    #[case(r#"{"op":"subscribe","req_id":4}"#, "bad_request", Some(ReqId::Int(4)))]
    #[case(r#"{"op":"subscribe","channels":"trades.X:Y"}"#, "bad_request", None)]
    #[case(r#"{"op":"subscribe","channels":[1]}"#, "bad_request", None)]
    #[case(r#"{"op":"dance","req_id":"r"}"#, "unknown_op", Some(ReqId::Str("r".into())))]
    #[case(r#"{"op":"ping","req_id":-1}"#, "bad_request", None)]
    #[case(r#"{"op":"ping","req_id":1.5}"#, "bad_request", None)]
    #[case(r#"{"op":"ping","req_id":{}}"#, "bad_request", None)]
    fn rejects_bad_frames(#[case] text: &str, #[case] code: &str, #[case] req_id: Option<ReqId>) {
        let rejection = parse(text).unwrap_err();
        assert_eq!(
            (rejection.code, rejection.req_id),
            (code, req_id),
            "{}",
            rejection.message
        );
    }

    #[test]
    fn writes_control_messages() {
        assert_eq!(
            channels_message("subscribed", ["trades.SIM:AAA"], Some(&ReqId::Int(1))),
            r#"{"type":"subscribed","channels":["trades.SIM:AAA"],"req_id":1}"#
        );
        assert_eq!(
            channels_message("list", [], Some(&ReqId::Str("x\"".into()))),
            r#"{"type":"list","channels":[],"req_id":"x\""}"#
        );
        assert_eq!(
            error_message("unknown_instrument", "no", Some("trades.A:B"), None),
            r#"{"type":"error","code":"unknown_instrument","message":"no","channel":"trades.A:B"}"#
        );
        assert_eq!(
            pong_message(Some(&ReqId::Int(9)), 5),
            r#"{"type":"pong","req_id":9,"ts":5}"#
        );
        assert_eq!(
            gap_message(10, 15, 5, ["quotes.A:B"]),
            r#"{"type":"gap","from":10,"to":15,"missed":5,"channels":["quotes.A:B"]}"#
        );
        assert_eq!(
            empty_snapshot_message("bars.1m.A:B"),
            r#"{"type":"snapshot","channel":"bars.1m.A:B","snapshot":true,"empty":true}"#
        );
    }
}
