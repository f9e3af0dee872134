//! Small JSON writing helpers shared by every crate's HTTP and WebSocket output, so a message
//! is written straight into one buffer without an intermediate `serde_json::Value`.

use std::fmt::Write as _;

/// Appends `text` as a JSON string literal, quotes included.
pub fn write_str(out: &mut String, text: &str) {
    out.push('"');
    write_escaped(out, text);
    out.push('"');
}

/// Appends `text` escaped for the inside of a JSON string, without quotes.
pub fn write_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Appends `items` as a JSON array of strings.
pub fn write_str_array<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, item);
    }
    out.push(']');
}

/// The body of every HTTP error: `{"error":{"code":"...","message":"..."}}`.
pub fn error_body(code: &str, message: &str) -> String {
    let mut out = String::with_capacity(48 + code.len() + message.len());
    out.push_str("{\"error\":{\"code\":");
    write_str(&mut out, code);
    out.push_str(",\"message\":");
    write_str(&mut out, message);
    out.push_str("}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_json_requires() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let mut out = String::new();
        write_str_array(&mut out, ["x", "y\""]);
        assert_eq!(out, r#"["x","y\""]"#);
        assert_eq!(
            error_body("bad_request", "no \"x\""),
            r#"{"error":{"code":"bad_request","message":"no \"x\""}}"#
        );
    }
}
