//! History routes: `GET /v1/bars` and `GET /v1/ticks`, as JSON, CSV, an Arrow IPC stream or
//! a Parquet file.
//!
//! Times (`start`, `end`) are RFC 3339 (`2024-05-01T00:00:00Z`) or integer epoch nanoseconds.
//! Defaults: `end` now; `start` 1000 intervals before `end` for bars, one minute before for
//! ticks. When a page is cut short by `limit`, the cursor for the next page is in the JSON body
//! (`next_cursor`) and, for every format, in the `X-Next-Cursor` header.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::RecordBatch;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use engine::Interval;
use engine::fixed::write_scaled;
use engine::json::{error_body, write_str};

use crate::columnar::schema::{BAR_OUTPUT, BarRow, TickData, TickRow, bars_batch, ticks_batch};
use crate::columnar::write::to_bytes;
use crate::history::{
    BarQuery, Fill, QueryError, Range, TickQuery, query_bars, query_bars_columnar, query_ticks,
};
use crate::store::Store;

/// State of the history routes.
#[derive(Debug, Clone)]
pub struct HistoryState {
    /// The store.
    pub store: Arc<Store>,
    /// Most rows one response may hold.
    pub max_rows: usize,
}

/// The history routes, to be merged into the engine's router.
pub fn router(state: HistoryState) -> Router {
    Router::new()
        .route("/v1/bars", get(bars))
        .route("/v1/ticks", get(ticks))
        .with_state(state)
}

/// Response formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Arrow,
    Parquet,
}

impl Format {
    fn parse(text: Option<&String>) -> Result<Format, QueryError> {
        match text.map(String::as_str) {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some("arrow") => Ok(Format::Arrow),
            Some("parquet") => Ok(Format::Parquet),
            Some(other) => Err(QueryError::bad(
                "bad_format",
                format!("bad format {other:?}: expected json, csv, arrow or parquet"),
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

fn error_response(e: QueryError) -> Response {
    let (status, code, message) = match e {
        QueryError::BadRequest { code, message } => (StatusCode::BAD_REQUEST, code, message),
        QueryError::NotFound { message } => (StatusCode::NOT_FOUND, "unknown_instrument", message),
        QueryError::Internal(e) => {
            tracing::error!(error = %e, "history query failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "reading storage failed; see the server log".to_owned(),
            )
        }
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        error_body(code, &message),
    )
        .into_response()
}

fn now_ns() -> i64 {
    engine::clock::now_ns()
}

/// `RFC 3339` or integer epoch nanoseconds.
fn parse_time(key: &str, text: &str) -> Result<i64, QueryError> {
    let parsed = if text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        engine::time::parse_epoch_ns(text).map_err(|e| e.to_string())
    } else {
        engine::time::parse_timestamp(text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        QueryError::bad(
            "bad_time",
            format!("bad {key} {text:?}: expected RFC 3339 or epoch nanoseconds ({e})"),
        )
    })
}

fn required<'a>(params: &'a HashMap<String, String>, key: &str) -> Result<&'a str, QueryError> {
    params
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| QueryError::bad("missing_parameter", format!("{key} is required")))
}

fn range(params: &HashMap<String, String>, default_span: i64) -> Result<Range, QueryError> {
    let end = match params.get("end") {
        Some(text) => parse_time("end", text)?,
        None => now_ns(),
    };
    let start = match params.get("start") {
        Some(text) => parse_time("start", text)?,
        None => end.saturating_sub(default_span),
    };
    let limit = match params.get("limit") {
        Some(text) => Some(text.parse::<usize>().map_err(|_| {
            QueryError::bad(
                "bad_limit",
                format!("bad limit {text:?}: expected a positive integer"),
            )
        })?),
        None => None,
    };
    Ok(Range {
        start,
        end,
        limit,
        cursor: params.get("cursor").cloned(),
    })
}

fn known_params(params: &HashMap<String, String>, known: &[&str]) -> Result<(), QueryError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(QueryError::bad(
            "bad_parameter",
            format!(
                "unknown parameter {k:?}; expected one of {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

async fn bars(
    State(state): State<HistoryState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let run = move || -> Result<Response, QueryError> {
        known_params(
            &params,
            &[
                "instrument",
                "interval",
                "start",
                "end",
                "limit",
                "cursor",
                "fill",
                "format",
            ],
        )?;
        let instrument = required(&params, "instrument")?.to_owned();
        let interval: Interval = required(&params, "interval")?
            .parse()
            .map_err(|e: engine::bar::IntervalError| QueryError::bad("bad_interval", e.0))?;
        let fill = match params.get("fill") {
            Some(text) => text.parse::<Fill>()?,
            None => Fill::None,
        };
        let format = Format::parse(params.get("format"))?;
        let span = interval.nanos().saturating_mul(1000);
        let query = BarQuery {
            instrument,
            interval,
            range: range(&params, span)?,
            fill,
        };
        if matches!(format, Format::Arrow | Format::Parquet)
            && let Some((batches, cursor)) =
                query_bars_columnar(&state.store, &query, state.max_rows)?
        {
            if format == Format::Arrow {
                return arrow_sized(&batches, cursor.as_deref());
            }
            let body = to_bytes(&BAR_OUTPUT, &batches)?;
            return Ok(respond(format, body, cursor.as_deref()));
        }
        let page = query_bars(&state.store, &query, state.max_rows, now_ns())?;
        let cursor = page.next_cursor.as_deref();
        let body = match format {
            Format::Json => bars_json(&query.instrument, interval, &page.rows, cursor),
            Format::Csv => bars_csv(&page.rows),
            Format::Arrow => arrow_stream_one(&bars_batch(&page.rows, None)?)?,
            Format::Parquet => parquet_one(&bars_batch(&page.rows, None)?)?,
        };
        Ok(respond(format, body, cursor))
    };
    blocking(run).await
}

async fn ticks(
    State(state): State<HistoryState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let run = move || -> Result<Response, QueryError> {
        known_params(
            &params,
            &[
                "instrument",
                "type",
                "start",
                "end",
                "limit",
                "cursor",
                "format",
            ],
        )?;
        let instrument = required(&params, "instrument")?.to_owned();
        let trades = match params.get("type").map(String::as_str) {
            None => None,
            Some("trade") => Some(true),
            Some("quote") => Some(false),
            Some(other) => {
                return Err(QueryError::bad(
                    "bad_type",
                    format!("bad type {other:?}: expected trade or quote"),
                ));
            }
        };
        let format = Format::parse(params.get("format"))?;
        let query = TickQuery {
            instrument,
            trades,
            range: range(&params, 60 * engine::bar::NANOS_PER_SEC)?,
        };
        let page = query_ticks(&state.store, &query, state.max_rows)?;
        let body = match format {
            Format::Json => ticks_json(&query.instrument, &page.rows, page.next_cursor.as_deref()),
            Format::Csv => ticks_csv(&page.rows),
            Format::Arrow => arrow_stream_one(&ticks_batch(&page.rows, None)?)?,
            Format::Parquet => parquet_one(&ticks_batch(&page.rows, None)?)?,
        };
        Ok(respond(format, body, page.next_cursor.as_deref()))
    };
    blocking(run).await
}

async fn blocking(run: impl FnOnce() -> Result<Response, QueryError> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(run).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => error_response(e),
        Err(join) => {
            tracing::error!(error = %join, "history query task failed");
            error_response(QueryError::bad("internal", "the query failed"))
        }
    }
}

fn respond(format: Format, body: impl Into<axum::body::Body>, cursor: Option<&str>) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.content_type())],
        body.into(),
    )
        .into_response();
    if let Some(value) = cursor.and_then(|c| HeaderValue::from_str(c).ok()) {
        response.headers_mut().insert("x-next-cursor", value);
    }
    response
}

/// An Arrow IPC stream of one batch.
fn arrow_stream_one(batch: &RecordBatch) -> Result<Vec<u8>, QueryError> {
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    Ok(writer.into_inner()?)
}

/// An Arrow IPC stream of `batches` (one message each, no concatenation), sent with its
/// `Content-Length`. `StreamEncoder` frames each batch around the decoded arrays' own
/// buffers, so nothing is copied: the body is the stored columns' memory, handed to the
/// socket, and its length is known before the first byte goes out. Clients read a body of
/// known length in one go: Python's `http.client` took 81 ms to read the 58.9 MB year of 1m
/// bars sent chunked (`Transfer-Encoding: chunked`) and 28 ms with a length
/// (benches/BENCHMARKS.md, storage, "Fifth round").
fn arrow_sized(batches: &[RecordBatch], cursor: Option<&str>) -> Result<Response, QueryError> {
    let mut encoder = arrow_ipc::writer::StreamEncoder::try_new(&BAR_OUTPUT)?;
    let mut buffers = Vec::new();
    for batch in batches {
        buffers.extend(encoder.encode(batch)?);
    }
    buffers.extend(encoder.finish()?);
    let len: usize = buffers.iter().map(|b| b.len()).sum();
    let parts = buffers
        .into_iter()
        .map(|b| Ok::<_, std::convert::Infallible>(bytes::Bytes::from_owner(b)));
    let body = axum::body::Body::from_stream(futures_util::stream::iter(parts));
    let mut response = respond(Format::Arrow, body, cursor);
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(response)
}

/// A Parquet file of one batch.
fn parquet_one(batch: &RecordBatch) -> Result<Vec<u8>, QueryError> {
    Ok(to_bytes(&batch.schema(), std::slice::from_ref(batch))?)
}

fn decimal(out: &mut String, units: Option<i64>) {
    if let Some(units) = units {
        let _ = write_scaled(units, out);
    }
}

fn bars_csv(rows: &[BarRow]) -> Vec<u8> {
    let mut out = String::with_capacity(64 + rows.len() * 100);
    out.push_str("ts,open,high,low,close,volume,trades,vwap\n");
    for row in rows {
        let _ = write!(out, "{}", row.ts);
        let bar = row.bar.as_ref();
        for units in [
            bar.map(|b| b.open.units()),
            bar.map(|b| b.high.units()),
            bar.map(|b| b.low.units()),
            bar.map(|b| b.close.units()),
            bar.map(|b| b.volume.units()),
        ] {
            out.push(',');
            decimal(&mut out, units);
        }
        out.push(',');
        if let Some(n) = bar.and_then(|b| b.trades) {
            let _ = write!(out, "{n}");
        }
        out.push(',');
        decimal(&mut out, bar.and_then(|b| b.vwap()).map(|p| p.units()));
        out.push('\n');
    }
    out.into_bytes()
}

/// A trade id as JSON: a number when the venue's id is one, else a string.
fn write_id(out: &mut String, id: Option<&str>) {
    match id {
        Some(id) if !id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit()) => {
            out.push_str(id)
        }
        Some(id) => write_str(out, id),
        None => out.push_str("null"),
    }
}

fn bars_json(
    instrument: &str,
    interval: Interval,
    rows: &[BarRow],
    cursor: Option<&str>,
) -> Vec<u8> {
    let mut out = String::with_capacity(64 + rows.len() * 160);
    out.push_str("{\"instrument\":");
    write_str(&mut out, instrument);
    let _ = write!(out, ",\"interval\":\"{interval}\",\"bars\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        match &row.bar {
            Some(bar) => bar.write_json_fields(&mut out),
            None => {
                let _ = write!(
                    out,
                    "\"ts\":{},\"open\":null,\"high\":null,\"low\":null,\"close\":null,\
                     \"volume\":null,\"trades\":null,\"vwap\":null",
                    row.ts
                );
            }
        }
        out.push('}');
    }
    end_json(out, cursor)
}

/// Closes the rows array of a JSON answer with its `next_cursor`.
fn end_json(mut out: String, cursor: Option<&str>) -> Vec<u8> {
    out.push_str("],\"next_cursor\":");
    match cursor {
        Some(c) => write_str(&mut out, c),
        None => out.push_str("null"),
    }
    out.push('}');
    out.into_bytes()
}

fn ticks_json(instrument: &str, rows: &[TickRow], cursor: Option<&str>) -> Vec<u8> {
    let mut out = String::with_capacity(64 + rows.len() * 180);
    out.push_str("{\"instrument\":");
    write_str(&mut out, instrument);
    out.push_str(",\"ticks\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let kind = match row.data {
            TickData::Trade { .. } => "trade",
            TickData::Quote(_) => "quote",
        };
        let _ = write!(
            out,
            "{{\"type\":\"{kind}\",\"seq\":{},\"ts_event\":{},\"ts_recv\":{}",
            row.seq, row.ts_event, row.ts_recv
        );
        let field = |out: &mut String, key: &str, units: i64| {
            let _ = write!(out, ",\"{key}\":\"");
            let _ = write_scaled(units, out);
            out.push('"');
        };
        match &row.data {
            TickData::Trade {
                price,
                size,
                side,
                id,
            } => {
                field(&mut out, "price", price.units());
                field(&mut out, "size", size.units());
                let _ = write!(out, ",\"side\":\"{}\",\"id\":", side.as_str());
                write_id(&mut out, id.as_deref());
            }
            TickData::Quote(q) => {
                field(&mut out, "bid", q.bid.units());
                field(&mut out, "bid_size", q.bid_size.units());
                field(&mut out, "ask", q.ask.units());
                field(&mut out, "ask_size", q.ask_size.units());
            }
        }
        out.push('}');
    }
    end_json(out, cursor)
}

fn ticks_csv(rows: &[TickRow]) -> Vec<u8> {
    let mut out = String::with_capacity(96 + rows.len() * 120);
    out.push_str("ts_event,ts_recv,seq,type,price,size,side,id,bid,bid_size,ask,ask_size\n");
    for row in rows {
        let _ = write!(out, "{},{},{},", row.ts_event, row.ts_recv, row.seq);
        match &row.data {
            TickData::Trade {
                price,
                size,
                side,
                id,
            } => {
                out.push_str("trade,");
                decimal(&mut out, Some(price.units()));
                out.push(',');
                decimal(&mut out, Some(size.units()));
                let _ = write!(out, ",{},", side.as_str());
                if let Some(id) = id {
                    // Ids with a comma or quote are quoted, CSV style.
                    if id.contains([',', '"', '\n']) {
                        let _ = write!(out, "\"{}\"", id.replace('"', "\"\""));
                    } else {
                        out.push_str(id);
                    }
                }
                out.push_str(",,,,");
            }
            TickData::Quote(q) => {
                out.push_str("quote,,,,,");
                let values = [
                    q.bid.units(),
                    q.bid_size.units(),
                    q.ask.units(),
                    q.ask_size.units(),
                ];
                for (i, units) in values.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    decimal(&mut out, Some(units));
                }
            }
        }
        out.push('\n');
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::{Bar, InstrumentId, Interval, Price, Qty};

    fn bar(minute: i64, trades: Option<u64>) -> BarRow {
        let price = Price::from_units(100_000_000_000 + minute * 7_000_000);
        BarRow {
            ts: minute * 60_000_000_000,
            bar: Some(Bar {
                instrument: InstrumentId(0),
                interval: Interval::MINUTE,
                ts: minute * 60_000_000_000,
                open: price,
                high: price,
                low: price,
                close: price,
                volume: Qty::from_units(1_000_000_000 + minute),
                trades,
                notional: trades.map(|_| i128::from(price.units()) * 1_000_000_000),
            }),
        }
    }

    #[test]
    fn a_sized_arrow_answer_holds_the_sliced_batches_and_its_exact_length() {
        // Two batches, with nulls (a fill=null hole, a bar without a trade count), served as
        // slices at odd offsets, as the columnar answer serves runs of decoded pages.
        let rows: Vec<BarRow> = (0..1000)
            .map(|m| match m % 97 {
                0 => BarRow {
                    ts: m * 60_000_000_000,
                    bar: None,
                },
                5 => bar(m, None),
                _ => bar(m, Some(m as u64)),
            })
            .collect();
        let whole = bars_batch(&rows, None).unwrap();
        let batches = vec![whole.slice(3, 500), whole.slice(611, 389)];
        let response = arrow_sized(&batches, Some("next")).unwrap();
        let headers = response.headers().clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let body = runtime
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap();
        assert_eq!(
            headers[header::CONTENT_LENGTH].to_str().unwrap(),
            body.len().to_string()
        );
        assert_eq!(headers["x-next-cursor"], "next");
        let reader =
            arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None).unwrap();
        let read: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(read, batches);
    }
}
