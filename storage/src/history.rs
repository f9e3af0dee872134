//! History queries: bars at any interval a stored base divides, and ticks, from Parquet
//! files ∪ memory, paged with a cursor.
//!
//! A bar query picks the coarsest stored base interval that divides the asked interval and
//! has data for the instrument (1m for 1h, 1s for 15s; an imported `1h` base for `4h`), reads
//! the base bars of the range, keeps one bar per start (memory over files, then the newer
//! file), folds them into the asked interval, fills empty buckets if asked, and pages.

use engine::{Bar, InstrumentId, Interval, Qty};

use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::columnar::read::FileMeta;
use crate::columnar::schema::{
    BarColumns, BarRow, TickRow, bars_from_batch, column, ticks_from_batch,
};
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

/// The rows of one instrument's time range in a decoded batch of a stored file.
enum Rows {
    /// One run of rows: the usual case, as files are sorted by instrument, then time.
    Run(std::ops::Range<usize>),
    /// Scattered rows (a file not sorted that way).
    Mask(arrow_array::BooleanArray),
}

/// Finds the rows of `name` with `ts` in `[start, end)` in `batch` (stored layout).
fn rows_of(batch: &RecordBatch, name: &str, (start, end): (i64, i64)) -> Result<Rows, QueryError> {
    use arrow_array::{BooleanArray, StringArray, TimestampNanosecondArray};
    let instrument = column::<StringArray>(batch, "instrument");
    let ts = column::<TimestampNanosecondArray>(batch, "ts");
    let (Ok(instrument), Ok(ts)) = (instrument, ts) else {
        return Err(QueryError::bad("internal", "no instrument or ts column"));
    };
    let wanted = |i: usize| {
        let t = ts.value(i);
        t >= start && t < end && instrument.value(i) == name
    };
    let n = batch.num_rows();
    let Some(first) = (0..n).find(|&i| wanted(i)) else {
        return Ok(Rows::Run(0..0));
    };
    let last = first + (first..n).take_while(|&i| wanted(i)).count();
    if (last..n).all(|i| !wanted(i)) {
        return Ok(Rows::Run(first..last));
    }
    Ok(Rows::Mask(
        (0..n).map(|i| Some(wanted(i))).collect::<BooleanArray>(),
    ))
}

/// `batch`'s `columns`, keeping only `rows` (a zero-copy slice for a run).
fn take_rows(
    batch: &RecordBatch,
    rows: &Rows,
    schema: &arrow_schema::SchemaRef,
) -> Result<RecordBatch, QueryError> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let c = batch
                .column_by_name(f.name())
                .ok_or_else(|| QueryError::bad("internal", format!("no {} column", f.name())))?;
            Ok(match rows {
                Rows::Run(run) => c.slice(run.start, run.len()),
                Rows::Mask(mask) => arrow_select::filter::filter(c.as_ref(), mask)?,
            })
        })
        .collect::<Result<Vec<_>, QueryError>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The `ts` values of a batch in the output layout.
fn times(batch: &RecordBatch) -> &[i64] {
    use arrow_array::{Array, TimestampNanosecondArray};
    batch
        .column(0)
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .map_or(&[], |ts| ts.values().as_ref())
}

/// A columnar answer: the rows as batches in time order, and the cursor of the next page.
pub type ColumnarPage = (Vec<RecordBatch>, Option<String>);

/// Answers a bar query at a stored interval without empty buckets filled straight from the
/// decoded Arrow columns: each file's pruned pages give the instrument's rows as a zero-copy
/// slice (files are sorted by instrument, then time), and the slices are answered as they
/// are, several batches, without building a [`Bar`] per row or copying the columns into one.
/// `None` when the query needs the general path (resampling, fill, or stored rows that
/// overlap), which gives the same rows.
pub fn query_bars_columnar(
    store: &Store,
    q: &BarQuery,
    max_rows: usize,
) -> Result<Option<ColumnarPage>, QueryError> {
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
    let mut wanted: Vec<&str> = vec!["instrument"];
    wanted.extend(schema.fields().iter().map(|f| f.name().as_str()));
    let read = |files: &[Arc<FileMeta>]| -> Result<Vec<RecordBatch>, QueryError> {
        let mut out = Vec::new();
        for file in files {
            for batch in file.read_columns(name, start, end, Some(&wanted))? {
                let rows = rows_of(&batch, name, (start, end))?;
                if !matches!(&rows, Rows::Run(run) if run.is_empty()) {
                    out.push(take_rows(&batch, &rows, &schema)?);
                }
            }
        }
        Ok(out)
    };
    let mut batches = read_in_halves(&files, read)?;
    if !memory.is_empty() {
        let rows: Vec<BarRow> = memory.into_iter().map(BarRow::from).collect();
        batches.push(crate::columnar::schema::bars_batch(&rows, None)?);
    }
    // Rows in order and each start once (the usual case: disjoint files, then memory after
    // them); anything else goes the general way, which merges.
    let mut previous = i64::MIN;
    for batch in &batches {
        let ts = times(batch);
        if ts.first().is_some_and(|&first| first <= previous) || !ts.windows(2).all(|w| w[0] < w[1])
        {
            return Ok(None);
        }
        previous = ts.last().copied().unwrap_or(previous);
    }
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if total <= limit {
        return Ok(Some((batches, None)));
    }
    // Keep the first `limit` rows; the cursor is the last one's start.
    let mut page = Vec::new();
    let mut left = limit;
    for batch in batches {
        if left == 0 {
            break;
        }
        let take = batch.num_rows().min(left);
        page.push(batch.slice(0, take));
        left -= take;
    }
    let cursor = page
        .last()
        .and_then(|b| times(b).last())
        .map(i64::to_string);
    Ok(Some((page, cursor)))
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
    let folded = if base == q.interval {
        None
    } else {
        resample_columnar(store, &q.instrument, id, (base, q.interval), (start, end))?
    };
    let bars = match folded {
        Some(bars) => bars,
        None => {
            let bars = read_bars(store, &q.instrument, id, base, (start, end))?;
            if base == q.interval {
                bars
            } else {
                resample(&bars, q.interval)
            }
        }
    };
    let mut rows: Vec<BarRow> = Vec::with_capacity(bars.len().min(limit.saturating_add(1)));
    // Only closed buckets are filled: those starting before the current one.
    let fill_end = end.min(q.interval.bucket(now));
    match q.fill {
        Fill::None => rows.extend(
            bars.iter()
                .take(limit.saturating_add(1))
                .map(|b| BarRow::from(*b)),
        ),
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
                        rows.push(BarRow::from(**bar));
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

/// Base bars folded into a coarser interval as they come, checking that they come in strict
/// time order.
struct Fold {
    interval: Interval,
    out: Vec<Bar>,
    /// The first and last base bar's start.
    span: Option<(i64, i64)>,
    /// False once a base bar did not come after the one before.
    ordered: bool,
}

impl Fold {
    fn new(interval: Interval) -> Fold {
        Fold {
            interval,
            out: Vec::new(),
            span: None,
            ordered: true,
        }
    }

    #[inline]
    fn push(&mut self, bar: Bar) {
        match &mut self.span {
            Some((_, last)) if bar.ts <= *last => {
                self.ordered = false;
                return;
            }
            Some((_, last)) => *last = bar.ts,
            None => self.span = Some((bar.ts, bar.ts)),
        }
        fold_into(&mut self.out, &bar, self.interval);
    }

    /// Appends a fold of later bars.
    fn append(&mut self, later: Fold) {
        self.ordered &= later.ordered;
        let Some((first, last)) = later.span else {
            return;
        };
        if self.span.is_some_and(|(_, mine)| first <= mine) {
            self.ordered = false;
            return;
        }
        self.span = Some((self.span.map_or(first, |(f, _)| f), last));
        let mut rest = later.out.into_iter();
        if let (Some(mine), Some(next)) = (self.out.last_mut(), rest.as_slice().first())
            && mine.ts == next.ts
        {
            mine.merge(next);
            rest.next();
        }
        self.out.extend(rest);
    }
}

/// Base bars of `[start, end)` at `base`, folded into `interval` straight from the decoded
/// columns of the instrument's rows, without a [`Bar`] per row in between; only the columns
/// the fold needs are decoded. `None` when the rows do not come in strict time order (stored
/// rows that overlap), for the general path, which merges first.
fn resample_columnar(
    store: &Store,
    name: &str,
    id: Option<InstrumentId>,
    (base, interval): (Interval, Interval),
    (start, end): (i64, i64),
) -> Result<Option<Vec<Bar>>, QueryError> {
    const COLUMNS: [&str; 9] = [
        "instrument",
        "ts",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "trades",
        "notional",
    ];
    let (files, memory) = store.bar_snapshot(name, id, base, (start, end));
    let id = id.unwrap_or(InstrumentId(u32::MAX));
    let read = |files: &[Arc<FileMeta>]| -> Result<Vec<Fold>, QueryError> {
        let mut fold = Fold::new(interval);
        for file in files {
            for batch in file.read_columns(name, start, end, Some(&COLUMNS))? {
                let columns = BarColumns::new(&batch)?;
                match rows_of(&batch, name, (start, end))? {
                    Rows::Run(run) => run.for_each(|i| fold.push(columns.bar(i, id, base))),
                    Rows::Mask(mask) => (0..batch.num_rows())
                        .filter(|&i| mask.value(i))
                        .for_each(|i| fold.push(columns.bar(i, id, base))),
                }
            }
        }
        Ok(vec![fold])
    };
    let mut folds = read_in_halves(&files, read)?.into_iter();
    let mut all = folds.next().unwrap_or_else(|| Fold::new(interval));
    folds.for_each(|later| all.append(later));
    let mut tail = Fold::new(interval);
    memory.into_iter().for_each(|bar| tail.push(bar));
    all.append(tail);
    Ok(all.ordered.then_some(all.out))
}

/// Folds base bars (in time order) into bars of `interval`.
pub fn resample(bars: &[Bar], interval: Interval) -> Vec<Bar> {
    let mut out: Vec<Bar> = Vec::new();
    for bar in bars {
        fold_into(&mut out, bar, interval);
    }
    out
}

/// Folds `bar` into the last bar of `out` when it falls in the same bucket of `interval`,
/// else starts the next bucket with it.
#[inline]
fn fold_into(out: &mut Vec<Bar>, bar: &Bar, interval: Interval) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columnar::schema::bars_batch;
    use engine::Price;

    fn bar(ts: i64, close: i64) -> Bar {
        let p = Price::from_units(close);
        let mut b = Bar::from_trade(InstrumentId(1), Interval::MINUTE, ts, p, Qty::from_units(5));
        b.close = p;
        b
    }

    fn stored(rows: &[(&str, i64)]) -> RecordBatch {
        let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
        let rows: Vec<BarRow> = rows
            .iter()
            .map(|&(_, ts)| BarRow {
                ts,
                bar: Some(bar(ts, 7)),
            })
            .collect();
        bars_batch(&rows, Some(&names)).unwrap()
    }

    #[test]
    fn one_instruments_rows_are_a_run_in_a_sorted_batch_and_a_mask_otherwise() {
        let sorted = stored(&[("A", 1), ("B", 1), ("B", 2), ("B", 3), ("C", 1)]);
        assert!(matches!(rows_of(&sorted, "B", (2, 10)).unwrap(), Rows::Run(r) if r == (2..4)));
        assert!(matches!(rows_of(&sorted, "D", (0, 10)).unwrap(), Rows::Run(r) if r.is_empty()));
        let scattered = stored(&[("B", 1), ("A", 1), ("B", 2)]);
        let Rows::Mask(mask) = rows_of(&scattered, "B", (0, 10)).unwrap() else {
            panic!("rows 0 and 2 are not one run");
        };
        let kept: Vec<bool> = (0..3).map(|i| mask.value(i)).collect();
        assert_eq!(kept, [true, false, true]);
    }

    #[test]
    fn a_fold_matches_resample_and_notices_rows_out_of_order() {
        let hour = Interval::from_seconds(3600).unwrap();
        let minute = 60 * engine::bar::NANOS_PER_SEC;
        let bars: Vec<Bar> = (0..150).map(|m| bar(m * minute, 100 + m)).collect();
        let (first, second) = bars.split_at(75);
        let mut fold = Fold::new(hour);
        first.iter().for_each(|b| fold.push(*b));
        let mut later = Fold::new(hour);
        second.iter().for_each(|b| later.push(*b));
        fold.append(later);
        assert!(fold.ordered);
        assert_eq!(fold.out, resample(&bars, hour));

        let mut again = Fold::new(hour);
        again.push(bars[3]);
        again.push(bars[3]);
        assert!(!again.ordered, "a repeated start");
        let mut overlap = Fold::new(hour);
        second.iter().for_each(|b| overlap.push(*b));
        let mut earlier = Fold::new(hour);
        first.iter().for_each(|b| earlier.push(*b));
        overlap.append(earlier);
        assert!(!overlap.ordered, "a later fold starting before the end");
    }
}
