//! History queries: bars at any interval a stored base divides, and ticks, from Parquet
//! files ∪ memory, paged with a cursor.
//!
//! A bar query picks the coarsest stored base interval that divides the asked interval and
//! has data for the instrument (1m for 1h, 1s for 15s; an imported `1h` base for `4h`), reads
//! the base bars of the range, keeps one bar per start (memory over files, then the newer
//! file), folds them into the asked interval, fills empty buckets if asked, and pages.

use engine::{Bar, InstrumentId, Interval, Qty};

use std::sync::Arc;

use crate::columnar::read::FileMeta;
use crate::columnar::schema::{BarRow, TickRow, bars_from_batch, ticks_from_batch};
use crate::error::Error;
use crate::store::Store;

/// How empty buckets are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fill {
    /// Left out (default).
    #[default]
    None,
    /// A row with the start and nulls.
    Null,
    /// A row carrying the previous close as open, high, low and close, volume 0, 0 trades.
    Prev,
}

impl std::str::FromStr for Fill {
    type Err = QueryError;

    fn from_str(text: &str) -> Result<Fill, QueryError> {
        match text {
            "none" => Ok(Fill::None),
            "null" => Ok(Fill::Null),
            "prev" => Ok(Fill::Prev),
            other => Err(QueryError::bad(
                "bad_fill",
                format!("bad fill {other:?}: expected none, null or prev"),
            )),
        }
    }
}

/// Why a query was refused.
#[derive(Debug)]
pub enum QueryError {
    /// The request is wrong (400).
    BadRequest {
        /// Error code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The instrument is unknown (404).
    NotFound {
        /// What was not found.
        message: String,
    },
    /// Reading storage failed (500).
    Internal(Error),
}

impl QueryError {
    /// A 400 error.
    pub fn bad(code: &'static str, message: impl Into<String>) -> QueryError {
        QueryError::BadRequest {
            code,
            message: message.into(),
        }
    }
}

impl From<Error> for QueryError {
    fn from(e: Error) -> Self {
        QueryError::Internal(e)
    }
}

impl From<arrow_schema::ArrowError> for QueryError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        QueryError::Internal(Error::Arrow(e))
    }
}

/// A time range and paging, common to bars and ticks.
#[derive(Debug, Clone)]
pub struct Range {
    /// Inclusive start (ns).
    pub start: i64,
    /// Exclusive end (ns).
    pub end: i64,
    /// Most rows to return; `None`: all of them, up to the server's row limit.
    pub limit: Option<usize>,
    /// Where the previous page stopped.
    pub cursor: Option<String>,
}

/// A bar query.
#[derive(Debug, Clone)]
pub struct BarQuery {
    /// `VENUE:SYMBOL`.
    pub instrument: String,
    /// The asked interval.
    pub interval: Interval,
    /// Range and paging.
    pub range: Range,
    /// Empty buckets.
    pub fill: Fill,
}

/// One page of bars.
#[derive(Debug, Clone)]
pub struct BarPage {
    /// Rows in time order.
    pub rows: Vec<BarRow>,
    /// The stored interval they were built from.
    pub base: Interval,
    /// Cursor for the next page, when there is more.
    pub next_cursor: Option<String>,
}

/// A tick query.
#[derive(Debug, Clone)]
pub struct TickQuery {
    /// `VENUE:SYMBOL`.
    pub instrument: String,
    /// Only trades (`Some(true)`), only quotes (`Some(false)`), or both.
    pub trades: Option<bool>,
    /// Range and paging.
    pub range: Range,
}

/// One page of ticks.
#[derive(Debug, Clone)]
pub struct TickPage {
    /// Rows by event time, then arrival.
    pub rows: Vec<TickRow>,
    /// Cursor for the next page, when there is more.
    pub next_cursor: Option<String>,
}

fn ceil_to(ts: i64, width: i64) -> i64 {
    let floor = ts.div_euclid(width) * width;
    if floor == ts {
        ts
    } else {
        floor.saturating_add(width)
    }
}

fn check_instrument(store: &Store, name: &str) -> Result<Option<InstrumentId>, QueryError> {
    store.refresh_if_imported();
    if !store.knows(name) {
        return Err(QueryError::NotFound {
            message: format!("unknown instrument {name:?}"),
        });
    }
    Ok(store.registry().id(name))
}

fn limit_of(range: &Range, max_rows: usize) -> Result<usize, QueryError> {
    match range.limit {
        Some(0) => Err(QueryError::bad("bad_limit", "limit must be at least 1")),
        Some(n) if n > max_rows => Err(QueryError::bad(
            "bad_limit",
            format!("limit {n} is above the server's row limit {max_rows}"),
        )),
        Some(n) => Ok(n),
        None => Ok(max_rows),
    }
}

/// A bar query checked and resolved: the instrument's id, the bucket range, the row limit.
struct Plan {
    id: Option<InstrumentId>,
    start: i64,
    end: i64,
    limit: usize,
}

fn plan(store: &Store, q: &BarQuery, max_rows: usize) -> Result<Plan, QueryError> {
    let id = check_instrument(store, &q.instrument)?;
    let width = q.interval.nanos();
    let mut start = ceil_to(q.range.start, width);
    if let Some(cursor) = &q.range.cursor {
        let after: i64 = cursor
            .parse()
            .map_err(|_| QueryError::bad("bad_cursor", format!("bad cursor {cursor:?}")))?;
        start = start.max(after.saturating_add(width));
    }
    let end = ceil_to(q.range.end, width);
    if q.range.start > q.range.end {
        return Err(QueryError::bad("bad_range", "start is after end"));
    }
    let limit = limit_of(&q.range, max_rows)?;
    let buckets = (end.saturating_sub(start).max(0) / width) as u128;
    if q.range.limit.is_none() && buckets > max_rows as u128 {
        return Err(QueryError::bad(
            "range_too_large",
            format!(
                "the range holds up to {buckets} bars, more than the {max_rows} one response may \
                 hold: narrow it, or page with limit and cursor"
            ),
        ));
    }
    Ok(Plan {
        id,
        start,
        end,
        limit,
    })
}

/// Answers a bar query at a stored interval without empty buckets filled straight from the
/// decoded Arrow columns: rows of the instrument in range are filtered out of each file's
/// pruned pages and concatenated, without building a [`Bar`] per row. `None` when the query
/// needs the general path (resampling, fill, or stored rows that overlap), which gives the
/// same rows.
pub fn query_bars_columnar(
    store: &Store,
    q: &BarQuery,
    max_rows: usize,
) -> Result<Option<(arrow_array::RecordBatch, Option<String>)>, QueryError> {
    use arrow_array::{Array, BooleanArray, RecordBatch, StringArray, TimestampNanosecondArray};
    if q.fill != Fill::None {
        return Ok(None);
    }
    let Plan {
        id,
        start,
        end,
        limit,
    } = plan(store, q, max_rows)?;
    if choose_base(store, &q.instrument, id, q.interval) != q.interval {
        return Ok(None);
    }
    let (files, memory) = store.bar_snapshot(&q.instrument, id, q.interval, (start, end));
    let schema = crate::columnar::schema::BAR_OUTPUT.clone();
    let name = q.instrument.as_str();
    let read = |files: &[Arc<FileMeta>]| -> Result<Vec<RecordBatch>, QueryError> {
        let mut out = Vec::new();
        for file in files {
            for batch in file.read(name, start, end)? {
                let column = |n: &str| batch.column_by_name(n).cloned();
                let (Some(instrument), Some(ts)) = (column("instrument"), column("ts")) else {
                    return Err(QueryError::Internal(crate::Error::Corrupt {
                        path: file.path.clone(),
                        message: "no instrument or ts column".into(),
                    }));
                };
                let instrument = instrument.as_any().downcast_ref::<StringArray>();
                let ts = ts.as_any().downcast_ref::<TimestampNanosecondArray>();
                let (Some(instrument), Some(ts)) = (instrument, ts) else {
                    return Err(QueryError::bad("internal", "unexpected column types"));
                };
                let mask: BooleanArray = (0..batch.num_rows())
                    .map(|i| {
                        let t = ts.value(i);
                        Some(t >= start && t < end && instrument.value(i) == name)
                    })
                    .collect();
                let columns = schema
                    .fields()
                    .iter()
                    .map(|f| {
                        let c = column(f.name()).ok_or_else(|| {
                            QueryError::bad("internal", format!("no {} column", f.name()))
                        })?;
                        Ok(arrow_select::filter::filter(c.as_ref(), &mask)?)
                    })
                    .collect::<Result<Vec<_>, QueryError>>()?;
                out.push(RecordBatch::try_new(schema.clone(), columns)?);
            }
        }
        Ok(out)
    };
    let mut batches = read_in_halves(&files, read)?;
    if !memory.is_empty() {
        let rows: Vec<BarRow> = memory
            .iter()
            .map(|b| BarRow {
                ts: b.ts,
                bar: Some(*b),
            })
            .collect();
        batches.push(crate::columnar::schema::bars_batch(&rows, None)?);
    }
    let all = arrow_select::concat::concat_batches(&schema, &batches)?;
    let ts = all
        .column(0)
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .ok_or_else(|| QueryError::bad("internal", "unexpected ts column"))?;
    // Rows in order and each start once (the usual case: disjoint daily files, then memory
    // after them); anything else goes the general way, which merges.
    if !ts.values().windows(2).all(|w| w[0] < w[1]) {
        return Ok(None);
    }
    if all.num_rows() > limit {
        let page = all.slice(0, limit);
        let cursor = limit.checked_sub(1).map(|i| ts.value(i).to_string());
        return Ok(Some((page, cursor)));
    }
    Ok(Some((all, None)))
}

/// Answers a bar query. `now` (ns) bounds filled buckets: only closed ones are filled.
pub fn query_bars(
    store: &Store,
    q: &BarQuery,
    max_rows: usize,
    now: i64,
) -> Result<BarPage, QueryError> {
    let Plan {
        id,
        start,
        end,
        limit,
    } = plan(store, q, max_rows)?;
    let width = q.interval.nanos();
    let base = choose_base(store, &q.instrument, id, q.interval);
    let mut bars = read_bars(store, &q.instrument, id, base, (start, end))?;
    if base != q.interval {
        bars = resample(&bars, q.interval);
    }
    let mut rows: Vec<BarRow> = Vec::with_capacity(bars.len().min(limit.saturating_add(1)));
    // Only closed buckets are filled: those starting before the current one.
    let fill_end = end.min(q.interval.bucket(now));
    match q.fill {
        Fill::None => rows.extend(bars.iter().take(limit.saturating_add(1)).map(|b| BarRow {
            ts: b.ts,
            bar: Some(*b),
        })),
        Fill::Null | Fill::Prev => {
            let mut prev = match q.fill {
                Fill::Prev => last_close_before(store, &q.instrument, id, base, start)?,
                _ => None,
            };
            let mut next = bars.iter().peekable();
            let mut ts = start;
            while ts < end && rows.len() <= limit {
                match next.peek() {
                    Some(bar) if bar.ts == ts => {
                        prev = Some(**bar);
                        rows.push(BarRow {
                            ts,
                            bar: Some(**bar),
                        });
                        next.next();
                    }
                    Some(bar) if ts >= fill_end => {
                        // Past the last closed bucket: stored bars only.
                        ts = bar.ts;
                        continue;
                    }
                    None if ts >= fill_end => break,
                    _ => rows.push(BarRow {
                        ts,
                        bar: match q.fill {
                            Fill::Prev => prev.map(|p| carried(&p, ts, q.interval)),
                            _ => None,
                        },
                    }),
                }
                ts = ts.saturating_add(width);
            }
        }
    }
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| r.ts.to_string())
    } else {
        None
    };
    Ok(BarPage {
        rows,
        base,
        next_cursor,
    })
}

/// A `fill=prev` bar: the previous close, no volume.
fn carried(prev: &Bar, ts: i64, interval: Interval) -> Bar {
    Bar {
        ts,
        interval,
        open: prev.close,
        high: prev.close,
        low: prev.close,
        close: prev.close,
        volume: Qty::ZERO,
        trades: Some(0),
        notional: Some(0),
        ..*prev
    }
}

/// The coarsest stored interval dividing `interval` with data for the instrument; else the
/// coarsest dividing one.
fn choose_base(
    store: &Store,
    name: &str,
    id: Option<InstrumentId>,
    interval: Interval,
) -> Interval {
    let with_data = store.bar_intervals_with(name, id);
    if let Some(best) = with_data.iter().rev().find(|b| b.divides(interval)) {
        return *best;
    }
    store
        .bar_intervals()
        .into_iter()
        .rev()
        .find(|b| b.divides(interval))
        .unwrap_or(Interval::SECOND)
}

/// Base bars of `[start, end)`, one per start, in time order.
pub fn read_bars(
    store: &Store,
    name: &str,
    id: Option<InstrumentId>,
    base: Interval,
    (start, end): (i64, i64),
) -> Result<Vec<Bar>, QueryError> {
    let (files, memory) = store.bar_snapshot(name, id, base, (start, end));
    let id = id.unwrap_or(InstrumentId(u32::MAX));
    // (ts, priority): memory wins over files, a newer file over an older one.
    let read = |files: &[Arc<FileMeta>]| -> Result<Vec<(i64, u64, Bar)>, QueryError> {
        let mut out = Vec::new();
        let mut decoded = Vec::new();
        for file in files {
            for batch in file.read(name, start, end)? {
                bars_from_batch(&batch, name, base, id, (start, end), &mut decoded)?;
            }
            out.extend(decoded.drain(..).map(|b| (b.ts, file.version, b)));
        }
        Ok(out)
    };
    let mut all = read_in_halves(&files, read)?;
    all.extend(memory.into_iter().map(|b| (b.ts, u64::MAX, b)));
    // Files hold disjoint, sorted days: usually the rows are already in order with no
    // duplicate, and neither sort nor merge is needed.
    if !all.windows(2).all(|w| w[0].0 < w[1].0) {
        all.sort_by_key(|(ts, priority, _)| (*ts, *priority));
        let mut out: Vec<Bar> = Vec::with_capacity(all.len());
        for (ts, _, bar) in all {
            match out.last_mut() {
                Some(last) if last.ts == ts => *last = bar,
                _ => out.push(bar),
            }
        }
        return Ok(out);
    }
    Ok(all.into_iter().map(|(_, _, bar)| bar).collect())
}

/// Files from which a bar query reads on two threads.
const PARALLEL_FILES: usize = 8;

/// Runs `read` over `files`; many files (a long range) are read on two threads, in two halves
/// of the date-ordered list, so the results concatenate in order.
fn read_in_halves<T: Send>(
    files: &[Arc<FileMeta>],
    read: impl Fn(&[Arc<FileMeta>]) -> Result<Vec<T>, QueryError> + Sync,
) -> Result<Vec<T>, QueryError> {
    if files.len() < PARALLEL_FILES {
        return read(files);
    }
    let (first, second) = files.split_at(files.len() / 2);
    let (a, b) = std::thread::scope(|scope| {
        let other = scope.spawn(|| read(second));
        (read(first), other.join())
    });
    let mut a = a?;
    a.extend(b.map_err(|_| QueryError::bad("internal", "a reader thread failed"))??);
    Ok(a)
}

/// Folds base bars (in time order) into bars of `interval`.
pub fn resample(bars: &[Bar], interval: Interval) -> Vec<Bar> {
    let mut out: Vec<Bar> = Vec::new();
    for bar in bars {
        let ts = interval.bucket(bar.ts);
        match out.last_mut() {
            Some(last) if last.ts == ts => last.merge(bar),
            _ => out.push(Bar {
                ts,
                interval,
                ..*bar
            }),
        }
    }
    out
}

/// The last bar before `start` at `base` (for `fill=prev`), looking back through files newest
/// first.
fn last_close_before(
    store: &Store,
    name: &str,
    id: Option<InstrumentId>,
    base: Interval,
    start: i64,
) -> Result<Option<Bar>, QueryError> {
    // Look back a day at a time, up to 30 days.
    let day = 86_400 * engine::bar::NANOS_PER_SEC;
    let mut end = start;
    for _ in 0..30 {
        let from = end.saturating_sub(day);
        if let Some(last) = read_bars(store, name, id, base, (from, end))?.pop() {
            return Ok(Some(last));
        }
        end = from;
    }
    Ok(None)
}

/// Answers a tick query.
pub fn query_ticks(store: &Store, q: &TickQuery, max_rows: usize) -> Result<TickPage, QueryError> {
    let id = check_instrument(store, &q.instrument)?;
    if q.range.start > q.range.end {
        return Err(QueryError::bad("bad_range", "start is after end"));
    }
    let limit = limit_of(&q.range, max_rows)?;
    let after = match &q.range.cursor {
        Some(cursor) => Some(
            parse_tick_cursor(cursor)
                .ok_or_else(|| QueryError::bad("bad_cursor", format!("bad cursor {cursor:?}")))?,
        ),
        None => None,
    };
    let start = match after {
        Some((ts, _, _)) => q.range.start.max(ts),
        None => q.range.start,
    };
    let (start, end) = (start, q.range.end);
    let (files, memory) = store.tick_snapshot(&q.instrument, id, (start, end));
    let mut rows: Vec<TickRow> = Vec::new();
    for file in &files {
        for batch in file.read(&q.instrument, start, end)? {
            ticks_from_batch(&batch, &q.instrument, (start, end), &mut rows)?;
        }
    }
    rows.extend(memory.iter().map(TickRow::from_tick));
    if let Some(trades) = q.trades {
        rows.retain(|r| {
            matches!(r.data, crate::columnar::schema::TickData::Trade { .. }) == trades
        });
    }
    if let Some(after) = after {
        rows.retain(|r| r.key() > after);
    }
    rows.sort_by_key(TickRow::key);
    let next_cursor = if rows.len() > limit {
        if q.range.limit.is_none() {
            return Err(QueryError::bad(
                "range_too_large",
                format!(
                    "the range holds more than the {max_rows} ticks one response may hold: \
                     narrow it, or page with limit and cursor"
                ),
            ));
        }
        rows.truncate(limit);
        rows.last().map(|r| {
            let (a, b, c) = r.key();
            format!("{a}.{b}.{c}")
        })
    } else {
        None
    };
    Ok(TickPage { rows, next_cursor })
}

fn parse_tick_cursor(text: &str) -> Option<(i64, i64, u64)> {
    let mut parts = text.split('.');
    let key = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    parts.next().is_none().then_some(key)
}
