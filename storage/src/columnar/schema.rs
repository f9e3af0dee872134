//! Arrow schemas for bars and ticks, and conversions between rows and record batches.
//!
//! Prices, sizes and volumes are `Decimal128(18, 9)`: the fixed-point units as they are, stored
//! as INT64 in Parquet. The exact notional of a bar (`Σ price × size`) is
//! `Decimal128(38, 18)`. Times are `Timestamp(ns, "UTC")`.

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{Decimal128Builder, StringBuilder, TimestampNanosecondBuilder};
use arrow_array::{
    Array, ArrayRef, Decimal128Array, RecordBatch, StringArray, TimestampNanosecondArray,
    UInt64Array,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use engine::{Bar, InstrumentId, Interval, Price, Qty, Quote, Side};

/// Precision of prices, sizes and volumes.
pub const DECIMAL_PRECISION: u8 = 18;
/// Scale of prices, sizes and volumes (1e-9 units).
pub const DECIMAL_SCALE: i8 = 9;

fn decimal(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
        nullable,
    )
}

fn timestamp(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        false,
    )
}

fn bar_fields() -> Vec<Field> {
    vec![
        timestamp("ts"),
        decimal("open", true),
        decimal("high", true),
        decimal("low", true),
        decimal("close", true),
        decimal("volume", true),
        Field::new("trades", DataType::UInt64, true),
        decimal("vwap", true),
    ]
}

fn tick_fields() -> Vec<Field> {
    vec![
        timestamp("ts_event"),
        timestamp("ts_recv"),
        Field::new("seq", DataType::UInt64, false),
        Field::new("type", DataType::Utf8, false),
        decimal("price", true),
        decimal("size", true),
        Field::new("side", DataType::Utf8, true),
        Field::new("id", DataType::Utf8, true),
        decimal("bid", true),
        decimal("bid_size", true),
        decimal("ask", true),
        decimal("ask_size", true),
    ]
}

fn with_instrument(mut fields: Vec<Field>, extra: Option<Field>) -> SchemaRef {
    fields.insert(0, Field::new("instrument", DataType::Utf8, false));
    fields.extend(extra);
    Arc::new(Schema::new(fields))
}

/// Bars as served: `ts, open, high, low, close, volume, trades, vwap`.
pub static BAR_OUTPUT: LazyLock<SchemaRef> = LazyLock::new(|| Arc::new(Schema::new(bar_fields())));
/// Bars as stored: `instrument` first and the exact `notional` last.
pub static BAR_FILE: LazyLock<SchemaRef> = LazyLock::new(|| {
    with_instrument(
        bar_fields(),
        Some(Field::new("notional", DataType::Decimal128(38, 18), true)),
    )
});
/// Ticks as served.
pub static TICK_OUTPUT: LazyLock<SchemaRef> =
    LazyLock::new(|| Arc::new(Schema::new(tick_fields())));
/// Ticks as stored: `instrument` first.
pub static TICK_FILE: LazyLock<SchemaRef> = LazyLock::new(|| with_instrument(tick_fields(), None));

/// A served bar row: the bucket start, and the bar unless the bucket is a `fill=null` hole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarRow {
    /// Bucket start (ns).
    pub ts: i64,
    /// The bar; `None` for an empty bucket filled with nulls.
    pub bar: Option<Bar>,
}

impl From<Bar> for BarRow {
    /// The row of a stored bar, at its start.
    fn from(bar: Bar) -> BarRow {
        BarRow {
            ts: bar.ts,
            bar: Some(bar),
        }
    }
}

/// A trade or quote read back from storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickData {
    /// A trade; the id is text because some venues' ids are not numbers.
    Trade {
        /// Price.
        price: Price,
        /// Size.
        size: Qty,
        /// Aggressor side.
        side: Side,
        /// The venue's trade id, if it gave one.
        id: Option<String>,
    },
    /// A quote.
    Quote(Quote),
}

/// One stored tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickRow {
    /// The venue's event time (ns).
    pub ts_event: i64,
    /// When nexamd read it (ns).
    pub ts_recv: i64,
    /// The ring sequence number in the process that read it (restarts with each process).
    pub seq: u64,
    /// The trade or quote.
    pub data: TickData,
}

impl TickRow {
    /// A row from a live tick.
    pub fn from_tick(tick: &engine::Tick) -> TickRow {
        let data = match tick.payload() {
            engine::Payload::Trade(t) => TickData::Trade {
                price: t.price,
                size: t.size,
                side: t.side,
                id: (t.id != 0).then(|| t.id.to_string()),
            },
            engine::Payload::Quote(q) => TickData::Quote(q),
        };
        TickRow {
            ts_event: tick.ts_event,
            ts_recv: tick.ts_recv,
            seq: tick.seq,
            data,
        }
    }

    /// The sort key inside one instrument: event time, then arrival, then sequence.
    pub fn key(&self) -> (i64, i64, u64) {
        (self.ts_event, self.ts_recv, self.seq)
    }
}

fn decimals(values: impl IntoIterator<Item = Option<i64>>) -> Result<ArrayRef, ArrowError> {
    let mut builder = Decimal128Builder::new();
    for v in values {
        builder.append_option(v.map(i128::from));
    }
    Ok(Arc::new(builder.finish().with_precision_and_scale(
        DECIMAL_PRECISION,
        DECIMAL_SCALE,
    )?))
}

fn timestamps(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    let mut builder = TimestampNanosecondBuilder::new();
    for v in values {
        builder.append_value(v);
    }
    Arc::new(builder.finish().with_timezone("UTC"))
}

fn strings<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut builder = StringBuilder::new();
    for v in values {
        builder.append_option(v);
    }
    Arc::new(builder.finish())
}

/// Bar rows as a batch. With `instrument`, the stored layout (every row of that instrument);
/// without, the served layout. Columns are built as whole vectors, not value by value.
pub fn bars_batch(rows: &[BarRow], instrument: Option<&[&str]>) -> Result<RecordBatch, ArrowError> {
    let decimal_column = |f: &dyn Fn(&Bar) -> Option<i64>| -> Result<ArrayRef, ArrowError> {
        let all = rows.iter().all(|r| r.bar.as_ref().and_then(f).is_some());
        let array = if all {
            Decimal128Array::from_iter_values(
                rows.iter()
                    .filter_map(|r| r.bar.as_ref().and_then(f))
                    .map(i128::from),
            )
        } else {
            rows.iter()
                .map(|r| r.bar.as_ref().and_then(f).map(i128::from))
                .collect()
        };
        Ok(Arc::new(array.with_precision_and_scale(
            DECIMAL_PRECISION,
            DECIMAL_SCALE,
        )?))
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(10);
    if let Some(names) = instrument {
        columns.push(strings(names.iter().map(|n| Some(*n))));
    }
    columns.push(Arc::new(
        TimestampNanosecondArray::from_iter_values(rows.iter().map(|r| r.ts)).with_timezone("UTC"),
    ));
    columns.push(decimal_column(&|b| Some(b.open.units()))?);
    columns.push(decimal_column(&|b| Some(b.high.units()))?);
    columns.push(decimal_column(&|b| Some(b.low.units()))?);
    columns.push(decimal_column(&|b| Some(b.close.units()))?);
    columns.push(decimal_column(&|b| Some(b.volume.units()))?);
    columns.push(Arc::new(
        rows.iter()
            .map(|r| r.bar.and_then(|b| b.trades))
            .collect::<UInt64Array>(),
    ));
    columns.push(decimal_column(&|b| b.vwap().map(Price::units))?);
    let schema = match instrument {
        Some(_) => {
            let notional: Decimal128Array = rows
                .iter()
                .map(|r| r.bar.and_then(|b| b.notional))
                .collect();
            columns.push(Arc::new(notional.with_precision_and_scale(38, 18)?));
            BAR_FILE.clone()
        }
        None => BAR_OUTPUT.clone(),
    };
    RecordBatch::try_new(schema, columns)
}

/// Tick rows as a batch, stored (with `instrument`) or served layout.
pub fn ticks_batch(
    rows: &[TickRow],
    instrument: Option<&[&str]>,
) -> Result<RecordBatch, ArrowError> {
    let trade = |f: fn(&Price, &Qty) -> i64| {
        decimals(rows.iter().map(|r| match &r.data {
            TickData::Trade { price, size, .. } => Some(f(price, size)),
            TickData::Quote(_) => None,
        }))
    };
    let quote = |f: fn(&Quote) -> i64| {
        decimals(rows.iter().map(|r| match &r.data {
            TickData::Quote(q) => Some(f(q)),
            TickData::Trade { .. } => None,
        }))
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(13);
    if let Some(names) = instrument {
        columns.push(strings(names.iter().map(|n| Some(*n))));
    }
    columns.push(timestamps(rows.iter().map(|r| r.ts_event)));
    columns.push(timestamps(rows.iter().map(|r| r.ts_recv)));
    columns.push(Arc::new(UInt64Array::from_iter_values(
        rows.iter().map(|r| r.seq),
    )));
    columns.push(strings(rows.iter().map(|r| {
        Some(match r.data {
            TickData::Trade { .. } => "trade",
            TickData::Quote(_) => "quote",
        })
    })));
    columns.push(trade(|p, _| p.units())?);
    columns.push(trade(|_, q| q.units())?);
    columns.push(strings(rows.iter().map(|r| match &r.data {
        TickData::Trade { side, .. } => Some(side.as_str()),
        TickData::Quote(_) => None,
    })));
    columns.push(strings(rows.iter().map(|r| match &r.data {
        TickData::Trade { id, .. } => id.as_deref(),
        TickData::Quote(_) => None,
    })));
    columns.push(quote(|q| q.bid.units())?);
    columns.push(quote(|q| q.bid_size.units())?);
    columns.push(quote(|q| q.ask.units())?);
    columns.push(quote(|q| q.ask_size.units())?);
    let schema = match instrument {
        Some(_) => TICK_FILE.clone(),
        None => TICK_OUTPUT.clone(),
    };
    RecordBatch::try_new(schema, columns)
}

/// The column `name` of `batch` as a `T` array; an error names it when it is missing or of
/// another type.
pub(crate) fn column<'a, T: 'static>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a T, ArrowError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            ArrowError::SchemaError(format!("column {name:?} is missing or of another type"))
        })
}

fn opt_i64(array: &Decimal128Array, i: usize) -> Option<i64> {
    (!array.is_null(i)).then(|| array.value(i) as i64)
}

/// The value columns of a stored-layout bar batch, to read rows as [`Bar`]s.
#[derive(Debug)]
pub struct BarColumns<'a> {
    ts: &'a TimestampNanosecondArray,
    open: &'a Decimal128Array,
    high: &'a Decimal128Array,
    low: &'a Decimal128Array,
    close: &'a Decimal128Array,
    volume: &'a Decimal128Array,
    trades: &'a UInt64Array,
    notional: &'a Decimal128Array,
}

impl<'a> BarColumns<'a> {
    /// The columns of `batch`; an error names a missing one.
    pub fn new(batch: &'a RecordBatch) -> Result<BarColumns<'a>, ArrowError> {
        let [open, high, low, close, volume] =
            ["open", "high", "low", "close", "volume"].map(|n| column::<Decimal128Array>(batch, n));
        Ok(BarColumns {
            ts: column::<TimestampNanosecondArray>(batch, "ts")?,
            open: open?,
            high: high?,
            low: low?,
            close: close?,
            volume: volume?,
            trades: column::<UInt64Array>(batch, "trades")?,
            notional: column::<Decimal128Array>(batch, "notional")?,
        })
    }

    /// The `ts` of every row.
    pub fn times(&self) -> &'a [i64] {
        self.ts.values()
    }

    /// Row `i` as a bar of `instrument` at `interval`.
    pub fn bar(&self, i: usize, instrument: InstrumentId, interval: Interval) -> Bar {
        let price = |a: &Decimal128Array| Price::from_units(opt_i64(a, i).unwrap_or(0));
        Bar {
            instrument,
            interval,
            ts: self.ts.value(i),
            open: price(self.open),
            high: price(self.high),
            low: price(self.low),
            close: price(self.close),
            volume: Qty::from_units(opt_i64(self.volume, i).unwrap_or(0)),
            trades: (!self.trades.is_null(i)).then(|| self.trades.value(i)),
            notional: (!self.notional.is_null(i)).then(|| self.notional.value(i)),
        }
    }
}

/// The stored bars of `name` with `ts` in `[start, end)` from a stored-layout batch.
pub fn bars_from_batch(
    batch: &RecordBatch,
    name: &str,
    interval: Interval,
    id: InstrumentId,
    (start, end): (i64, i64),
    out: &mut Vec<Bar>,
) -> Result<(), ArrowError> {
    let instrument = column::<StringArray>(batch, "instrument")?;
    let columns = BarColumns::new(batch)?;
    out.reserve(batch.num_rows());
    for (i, &t) in columns.times().iter().enumerate() {
        if t < start || t >= end || instrument.value(i) != name {
            continue;
        }
        out.push(columns.bar(i, id, interval));
    }
    Ok(())
}

/// The stored ticks of `name` with `ts_event` in `[start, end)` from a stored-layout batch.
pub fn ticks_from_batch(
    batch: &RecordBatch,
    name: &str,
    (start, end): (i64, i64),
    out: &mut Vec<TickRow>,
) -> Result<(), ArrowError> {
    let instrument = column::<StringArray>(batch, "instrument")?;
    let ts_event = column::<TimestampNanosecondArray>(batch, "ts_event")?;
    let ts_recv = column::<TimestampNanosecondArray>(batch, "ts_recv")?;
    let seq = column::<UInt64Array>(batch, "seq")?;
    let kind = column::<StringArray>(batch, "type")?;
    let side = column::<StringArray>(batch, "side")?;
    let id = column::<StringArray>(batch, "id")?;
    let [price, size, bid, bid_size, ask, ask_size] =
        ["price", "size", "bid", "bid_size", "ask", "ask_size"]
            .map(|n| column::<Decimal128Array>(batch, n));
    let (price, size, bid, bid_size, ask, ask_size) =
        (price?, size?, bid?, bid_size?, ask?, ask_size?);
    for i in 0..batch.num_rows() {
        let t = ts_event.value(i);
        if t < start || t >= end || instrument.value(i) != name {
            continue;
        }
        let units = |a: &Decimal128Array| opt_i64(a, i).unwrap_or(0);
        let data = match kind.value(i) {
            "trade" => TickData::Trade {
                price: Price::from_units(units(price)),
                size: Qty::from_units(units(size)),
                side: match if side.is_null(i) { "" } else { side.value(i) } {
                    "buy" => Side::Buy,
                    "sell" => Side::Sell,
                    _ => Side::Unknown,
                },
                id: (!id.is_null(i)).then(|| id.value(i).to_owned()),
            },
            _ => TickData::Quote(Quote {
                bid: Price::from_units(units(bid)),
                bid_size: Qty::from_units(units(bid_size)),
                ask: Price::from_units(units(ask)),
                ask_size: Qty::from_units(units(ask_size)),
            }),
        };
        out.push(TickRow {
            ts_event: t,
            ts_recv: ts_recv.value(i),
            seq: seq.value(i),
            data,
        });
    }
    Ok(())
}
