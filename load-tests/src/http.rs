//! A minimal HTTP/1.1 GET over a tokio `TcpStream`, enough for `GET /v1/instruments`.
//!
//! It sends `Connection: close`, reads the whole answer and understands `Content-Length`,
//! `Transfer-Encoding: chunked` or a body that ends with the connection.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer accepted (a registry of many thousand instruments fits easily).
const MAX_RESPONSE: u64 = 64 << 20;

/// An HTTP answer: status code and decoded body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

/// `GET path` from `server` (HOST:PORT), within `limit`.
pub async fn get(server: &str, path: &str, limit: Duration) -> Result<Response> {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {server}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.take(MAX_RESPONSE).read_to_end(&mut raw).await?;
        anyhow::Ok(raw)
    };
    let raw = tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| anyhow!("no complete answer within {limit:?}"))?
        .with_context(|| format!("GET http://{server}{path}"))?;
    parse_response(&raw).with_context(|| format!("GET http://{server}{path}: bad answer"))
}

/// Parses a complete HTTP/1.1 response.
pub fn parse_response(raw: &[u8]) -> Result<Response> {
    let head_end = find(raw, b"\r\n\r\n").ok_or_else(|| anyhow!("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..head_end]).context("headers are not UTF-8")?;
    let rest = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().context("bad Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or_else(|| anyhow!("body shorter than Content-Length {n}"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, body })
}

/// Decodes a `Transfer-Encoding: chunked` body (extensions and trailers ignored).
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = find(data, b"\r\n").ok_or_else(|| anyhow!("truncated chunk size"))?;
        let line = std::str::from_utf8(&data[..eol]).context("chunk size is not text")?;
        let hex = line.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(hex, 16).with_context(|| format!("bad chunk size {hex:?}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[derive(Deserialize)]
struct Instrument {
    id: String,
}

/// The ids of the first `m` instruments of `GET /v1/instruments` on `server`.
pub async fn fetch_instruments(server: &str, m: usize) -> Result<Vec<String>> {
    let resp = get(server, "/v1/instruments", Duration::from_secs(10)).await?;
    if resp.status != 200 {
        let text = String::from_utf8_lossy(&resp.body);
        bail!("GET /v1/instruments answered {}: {text}", resp.status);
    }
    let list: Vec<Instrument> = serde_json::from_slice(&resp.body)
        .context("GET /v1/instruments: not a list of instruments")?;
    Ok(list.into_iter().take(m).map(|i| i.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_body() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 2\r\n\r\n[]extra";
        let r = parse_response(raw).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"[]"[..]));
    }

    #[test]
    fn parses_chunked_body() {
        let raw = b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n4;x=y\r\n[{\"a\r\n3\r\n\":1\r\n2\r\n}]\r\n0\r\n\r\n";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.body, br#"[{"a":1}]"#);
    }

    #[test]
    fn body_until_close_and_errors() {
        let r = parse_response(b"HTTP/1.0 200 OK\r\n\r\nhello").unwrap();
        assert_eq!(r.body, b"hello");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nff\r\nab")
                .is_err()
        );
    }
}
