//! History import: parsers for bar and trade files written by others, for
//! `nexamd import --format F FILE --instrument ID`.
//!
//! Formats ([`ImportFormat`]):
//!
//! - `binance-klines`: Binance's public kline CSV (`data.binance.vision`), twelve columns and
//!   usually no header (a header line is skipped when its first field is not a number). Open
//!   times are milliseconds, or microseconds in spot files from 2025 on, told apart by magnitude.
//!   The interval is `close_time - open_time + 1 unit`, the same on every row.
//! - `ohlcv-csv`: any CSV with a header naming `timestamp`, `open`, `high`, `low`, `close`,
//!   `volume` (case-insensitive, with aliases) and optionally `trades`, `vwap`, `quote_volume`.
//!   Timestamps go through [`engine::time::parse_timestamp`]; the interval is the one given, or
//!   the smallest step between consecutive rows.
//! - `tardis-trades`: Tardis.dev `trades` CSV (`timestamp` and `local_timestamp` in µs since the
//!   epoch, `side` the aggressor), read with [`read_trades`].
//!
//! Parsing is strict: prices and sizes are parsed exactly from their decimal text (never through
//! `f64`), and the first malformed row aborts the import with an error naming the line, the
//! column and the text. Rows must be in time order; bars must not repeat a timestamp and must
//! start on a multiple of their interval (UTC). Blank lines and a UTF-8 byte order mark are
//! skipped. Quoting is the simple kind: a field may be wrapped in double quotes, with `""` for a
//! quote inside; a quoted field cannot span lines.

use std::borrow::Cow;
use std::fmt;
use std::io::BufRead;
use std::num::ParseIntError;
use std::str::FromStr;

use engine::bar::NANOS_PER_SEC;
use engine::fixed::parse_scaled;
use engine::time::{self, TimeError, format_rfc3339};
use engine::{Bar, DecimalError, InstrumentId, Interval, Price, Qty, Side};
use thiserror::Error;

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImportFormat {
    /// Binance kline CSV (bars).
    BinanceKlines,
    /// Tardis.dev trades CSV (trades).
    TardisTrades,
    /// Generic OHLCV CSV with a header (bars).
    OhlcvCsv,
}

impl ImportFormat {
    /// Every format, in the order the command line lists them.
    pub const ALL: [ImportFormat; 3] = [
        ImportFormat::BinanceKlines,
        ImportFormat::TardisTrades,
        ImportFormat::OhlcvCsv,
    ];

    /// The command-line name: `binance-klines`, `tardis-trades` or `ohlcv-csv`.
    pub const fn name(self) -> &'static str {
        match self {
            ImportFormat::BinanceKlines => "binance-klines",
            ImportFormat::TardisTrades => "tardis-trades",
            ImportFormat::OhlcvCsv => "ohlcv-csv",
        }
    }

    /// True for formats read with [`read_bars`], false for [`read_trades`].
    pub const fn holds_bars(self) -> bool {
        !matches!(self, ImportFormat::TardisTrades)
    }
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ImportFormat {
    type Err = ImportError;

    fn from_str(text: &str) -> Result<ImportFormat> {
        ImportFormat::ALL
            .into_iter()
            .find(|format| format.name() == text)
            .ok_or_else(|| ImportError::UnknownFormat(text.chars().take(64).collect()))
    }
}

/// One imported trade (tardis-trades).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedTrade {
    /// The venue's time, ns since the epoch (tardis `timestamp`).
    pub ts_event: i64,
    /// When the recorder received it, ns since the epoch (tardis `local_timestamp`).
    pub ts_recv: i64,
    /// Traded price.
    pub price: Price,
    /// Traded quantity (tardis `amount`).
    pub size: Qty,
    /// Aggressor side.
    pub side: Side,
    /// The venue's trade id, as text (may be empty).
    pub id: String,
}

/// Why an import failed. Row errors carry the 1-based line number in the file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The format name is not one of [`ImportFormat::ALL`].
    #[error("unknown import format {0:?}: expected binance-klines, tardis-trades or ohlcv-csv")]
    UnknownFormat(String),
    /// [`read_bars`] was asked for a format that holds trades.
    #[error("format {0} holds trades, not bars")]
    NotBars(ImportFormat),
    /// The file could not be read.
    #[error("reading line {line}: {source}")]
    Io {
        /// The line being read.
        line: usize,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no rows.
    #[error("the file holds no rows")]
    Empty,
    /// A CSV line that cannot be split into fields.
    #[error("line {line}: {reason}")]
    Csv {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A row with the wrong number of fields.
    #[error("line {line}: expected {expected} fields, found {found}")]
    FieldCount {
        /// The line.
        line: usize,
        /// Fields the format or header calls for.
        expected: usize,
        /// Fields on the line.
        found: usize,
    },
    /// The header lacks a required column.
    #[error("line {line}: the header has no {column:?} column{aliases}")]
    MissingColumn {
        /// The header's line.
        line: usize,
        /// The column looked for.
        column: &'static str,
        /// Other accepted names, as text (may be empty).
        aliases: String,
    },
    /// Two header columns name the same field.
    #[error("line {line}: columns {first:?} and {second:?} both name {column:?}")]
    DuplicateColumn {
        /// The header's line.
        line: usize,
        /// The field they both name.
        column: &'static str,
        /// The first header text.
        first: String,
        /// The second header text.
        second: String,
    },
    /// A price or quantity that is not an exact decimal that fits.
    #[error("line {line}, column {column:?}: bad decimal {text:?}: {source}")]
    Decimal {
        /// The line.
        line: usize,
        /// The column.
        column: String,
        /// The field's text (truncated to 64 characters).
        text: String,
        /// What is wrong with it.
        #[source]
        source: DecimalError,
    },
    /// A count or epoch that is not an integer that fits.
    #[error("line {line}, column {column:?}: bad integer {text:?}: {source}")]
    Integer {
        /// The line.
        line: usize,
        /// The column.
        column: String,
        /// The field's text (truncated to 64 characters).
        text: String,
        /// What is wrong with it.
        #[source]
        source: ParseIntError,
    },
    /// A timestamp that does not parse.
    #[error("line {line}, column {column:?}: {source}")]
    Time {
        /// The line.
        line: usize,
        /// The column.
        column: String,
        /// What is wrong with it (names the text).
        #[source]
        source: TimeError,
    },
    /// A field whose text parses but whose value is not acceptable.
    #[error("line {line}, column {column:?}: {reason} {text:?}")]
    Value {
        /// The line.
        line: usize,
        /// The column.
        column: String,
        /// The field's text (truncated to 64 characters).
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A row at or before the previous row's time.
    #[error(
        "line {line}: timestamp {} is {} the previous row's {}: rows must be in time order{}",
        format_rfc3339(*ts),
        if ts == previous { "the same as" } else { "before" },
        format_rfc3339(*previous),
        if *duplicates_allowed { "" } else { " without duplicates" }
    )]
    Order {
        /// The line.
        line: usize,
        /// This row's time (ns).
        ts: i64,
        /// The previous row's time (ns).
        previous: i64,
        /// Whether equal times are allowed (trades) or not (bars).
        duplicates_allowed: bool,
    },
    /// A bar that does not start on a multiple of its interval.
    #[error(
        "line {line}: bar time {} is not aligned to the {interval} interval (UTC)",
        format_rfc3339(*ts)
    )]
    Unaligned {
        /// The line.
        line: usize,
        /// The bar's start (ns).
        ts: i64,
        /// The interval.
        interval: Interval,
    },
    /// A bar interval that cannot be used, or that changes between rows.
    #[error("line {line}: {reason}")]
    Interval {
        /// The line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// No interval was given and the rows do not show one (fewer than two rows).
    #[error(
        "cannot infer the bar interval from a single row: give the interval (e.g. --interval 1m)"
    )]
    NoInterval,
    /// The rows of a trades file name more than one symbol.
    #[error("line {line}: symbol {found:?} differs from {first:?}: import one instrument per file")]
    MixedSymbols {
        /// The line.
        line: usize,
        /// The symbol of the first row.
        first: String,
        /// This row's symbol.
        found: String,
    },
}

/// Result with [`ImportError`].
pub type Result<T, E = ImportError> = std::result::Result<T, E>;

/// How strictly to read numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// The bar interval: checked against the file (binance-klines) or used as is (ohlcv-csv);
    /// when `None` it is taken from the file. Ignored for trades.
    pub interval: Option<Interval>,
    /// Round prices and sizes with more than 9 fraction digits to 1e-9 (half away from zero)
    /// instead of refusing them. Off by default. Meant for files whose writer printed binary
    /// floats (`218102.59507500002` for `218102.595075`); the rounding works on the decimal
    /// text, never through `f64`.
    pub round_excess_digits: bool,
}

/// Reads bars of `instrument` from a bar format (`binance-klines` or `ohlcv-csv`), strictly:
/// a price or size with more than 9 fraction digits is an error (see [`read_bars_with`]).
///
/// `interval`, when given, is checked against the file (binance-klines) or used as is
/// (ohlcv-csv); when absent it is taken from the file.
pub fn read_bars(
    format: ImportFormat,
    reader: impl BufRead,
    instrument: InstrumentId,
    interval: Option<Interval>,
) -> Result<Vec<Bar>> {
    let options = ImportOptions {
        interval,
        ..ImportOptions::default()
    };
    read_bars_with(format, reader, instrument, options)
}

/// [`read_bars`] with explicit [`ImportOptions`].
pub fn read_bars_with(
    format: ImportFormat,
    reader: impl BufRead,
    instrument: InstrumentId,
    options: ImportOptions,
) -> Result<Vec<Bar>> {
    match format {
        ImportFormat::BinanceKlines => read_binance_klines(reader, instrument, options),
        ImportFormat::OhlcvCsv => read_ohlcv_csv(reader, instrument, options),
        ImportFormat::TardisTrades => Err(ImportError::NotBars(format)),
    }
}

/// Reads a Tardis.dev trades CSV (`exchange,symbol,timestamp,local_timestamp,id,side,price,amount`,
/// header required, columns found by name). Every row must name the same symbol, and times must
/// not go backwards (equal times are fine: one match fills several orders). Strict about
/// decimals, like [`read_bars`].
pub fn read_trades(reader: impl BufRead) -> Result<Vec<ImportedTrade>> {
    read_trades_with(reader, ImportOptions::default())
}

/// [`read_trades`] with explicit [`ImportOptions`] (only `round_excess_digits` applies).
pub fn read_trades_with(
    reader: impl BufRead,
    options: ImportOptions,
) -> Result<Vec<ImportedTrade>> {
    let mut lines = Lines::new(reader);
    let (header_line, header) = lines.next_line()?.ok_or(ImportError::Empty)?;
    let header = split_csv(&header, header_line)?;
    let cols = Columns::find(
        &header,
        header_line,
        &[
            ("timestamp", &[], true),
            ("local_timestamp", &[], true),
            ("id", &[], true),
            ("side", &[], true),
            ("price", &[], true),
            ("amount", &[], true),
            ("symbol", &[], false),
        ],
    )?;
    let [ts, local, id, side, price, amount, symbol] = cols.index;
    // Required columns are present (Columns::find checked).
    let [ts, local, id, side, price, amount] =
        [ts, local, id, side, price, amount].map(Option::unwrap_or_default);
    let mut trades = Vec::new();
    let mut first_symbol: Option<String> = None;
    while let Some((line, text)) = lines.next_line()? {
        let row = Row::split(&text, line, header.len(), options.round_excess_digits)?;
        let side_field = row.get(side);
        let trade = ImportedTrade {
            ts_event: row.epoch_micros(ts, "timestamp")?,
            ts_recv: row.epoch_micros(local, "local_timestamp")?,
            price: row.price(price, "price")?,
            size: row.qty(amount, "amount")?,
            side: match side_field {
                "buy" => Side::Buy,
                "sell" => Side::Sell,
                "unknown" | "" => Side::Unknown,
                _ => {
                    return Err(row.value_error(
                        "side",
                        side_field,
                        "expected buy, sell or unknown",
                    ));
                }
            },
            id: row.get(id).to_owned(),
        };
        if let Some(symbol) = symbol {
            let found = row.get(symbol);
            match &first_symbol {
                None => first_symbol = Some(found.to_owned()),
                Some(first) if first != found => {
                    return Err(ImportError::MixedSymbols {
                        line,
                        first: first.clone(),
                        found: found.to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
        if let Some(previous) = trades.last().map(|t: &ImportedTrade| t.ts_event)
            && trade.ts_event < previous
        {
            return Err(ImportError::Order {
                line,
                ts: trade.ts_event,
                previous,
                duplicates_allowed: true,
            });
        }
        trades.push(trade);
    }
    if trades.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(trades)
}

const KLINE_FIELDS: usize = 12;

fn read_binance_klines(
    reader: impl BufRead,
    instrument: InstrumentId,
    options: ImportOptions,
) -> Result<Vec<Bar>> {
    let given = options.interval;
    let mut lines = Lines::new(reader);
    let mut bars: Vec<Bar> = Vec::new();
    let mut interval = given;
    let mut first = true;
    while let Some((line, text)) = lines.next_line()? {
        let row = Row::split(&text, line, 0, options.round_excess_digits)?;
        if first {
            first = false;
            let lead = row.get(0);
            if lead.is_empty() || !lead.bytes().all(|b| b.is_ascii_digit()) {
                continue; // a header line
            }
        }
        if row.fields.len() != KLINE_FIELDS {
            return Err(ImportError::FieldCount {
                line,
                expected: KLINE_FIELDS,
                found: row.fields.len(),
            });
        }
        let open_time = row.integer::<i64>(0, "open_time")?;
        let close_time = row.integer::<i64>(6, "close_time")?;
        // Binance files hold milliseconds, or microseconds (spot, 2025 on).
        let unit_ns = if open_time.unsigned_abs() < time::EPOCH_MILLIS_BELOW as u64 {
            1_000_000
        } else if open_time.unsigned_abs() < time::EPOCH_MICROS_BELOW as u64 {
            1_000
        } else {
            return Err(row.value_error(
                "open_time",
                row.get(0),
                "expected milliseconds or microseconds since the epoch",
            ));
        };
        let ts = open_time
            .checked_mul(unit_ns)
            .ok_or_else(|| row.value_error("open_time", row.get(0), "out of range"))?;
        let width_ns = close_time
            .checked_sub(open_time)
            .and_then(|w| w.checked_add(1))
            .and_then(|w| w.checked_mul(unit_ns))
            .filter(|&w| w > 0)
            .ok_or_else(|| row.value_error("close_time", row.get(6), "is not after open_time"))?;
        let width = (width_ns % NANOS_PER_SEC == 0)
            .then(|| Interval::from_seconds(width_ns / NANOS_PER_SEC))
            .flatten()
            .ok_or_else(|| ImportError::Interval {
                line,
                reason: format!(
                    "close_time - open_time + 1 is {width_ns} ns, not a whole number of seconds \
                     between 1s and 366d"
                ),
            })?;
        match interval {
            None => interval = Some(width),
            Some(expected) if expected != width => {
                return Err(ImportError::Interval {
                    line,
                    reason: format!(
                        "bar width {width} (close_time - open_time + 1) differs from {expected}"
                    ),
                });
            }
            Some(_) => {}
        }
        let volume = row.qty(5, "volume")?;
        let quote_volume = row.qty(7, "quote_asset_volume")?;
        let bar = Bar {
            instrument,
            interval: width,
            ts,
            open: row.price(1, "open")?,
            high: row.price(2, "high")?,
            low: row.price(3, "low")?,
            close: row.price(4, "close")?,
            volume,
            trades: Some(row.integer::<u64>(8, "number_of_trades")?),
            notional: Some(Bar::notional_from_quote_volume(quote_volume)),
        };
        check_bar(line, &bar, bars.last())?;
        bars.push(bar);
    }
    if bars.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(bars)
}

const TIMESTAMP_ALIASES: &[&str] = &["time", "ts", "date", "datetime", "open_time"];
const TRADES_ALIASES: &[&str] = &["count", "trade_count", "number_of_trades"];
const NOTIONAL_ALIASES: &[&str] = &["notional"];

fn read_ohlcv_csv(
    reader: impl BufRead,
    instrument: InstrumentId,
    options: ImportOptions,
) -> Result<Vec<Bar>> {
    let given = options.interval;
    let mut lines = Lines::new(reader);
    let (header_line, header) = lines.next_line()?.ok_or(ImportError::Empty)?;
    let header = split_csv(&header, header_line)?;
    let cols = Columns::find(
        &header,
        header_line,
        &[
            ("timestamp", TIMESTAMP_ALIASES, true),
            ("open", &[], true),
            ("high", &[], true),
            ("low", &[], true),
            ("close", &[], true),
            ("volume", &[], true),
            ("trades", TRADES_ALIASES, false),
            ("vwap", &[], false),
            ("quote_volume", NOTIONAL_ALIASES, false),
        ],
    )?;
    let [
        ts,
        open,
        high,
        low,
        close,
        volume,
        trades,
        vwap,
        quote_volume,
    ] = cols.index;
    // Required columns are present (Columns::find checked).
    let [ts, open, high, low, close, volume] =
        [ts, open, high, low, close, volume].map(Option::unwrap_or_default);

    // The interval may come from the rows, so read them all first, then check alignment.
    let mut rows: Vec<(usize, Bar)> = Vec::new();
    let placeholder = given.unwrap_or(Interval::SECOND);
    while let Some((line, text)) = lines.next_line()? {
        let row = Row::split(&text, line, header.len(), options.round_excess_digits)?;
        let volume = row.qty(volume, &cols.names[5])?;
        let notional = match (
            quote_volume.and_then(|i| row.optional(i)),
            vwap.and_then(|i| row.optional(i)),
        ) {
            (Some(_), _) => Some(Bar::notional_from_quote_volume(
                row.qty(quote_volume.unwrap_or_default(), &cols.names[8])?,
            )),
            (None, Some(_)) => Some(Bar::notional_for_vwap(
                row.price(vwap.unwrap_or_default(), &cols.names[7])?,
                volume,
            )),
            (None, None) => None,
        };
        let bar = Bar {
            instrument,
            interval: placeholder,
            ts: row.timestamp(ts, &cols.names[0])?,
            open: row.price(open, &cols.names[1])?,
            high: row.price(high, &cols.names[2])?,
            low: row.price(low, &cols.names[3])?,
            close: row.price(close, &cols.names[4])?,
            volume,
            trades: match trades.and_then(|i| row.optional(i).map(|_| i)) {
                Some(i) => Some(row.integer::<u64>(i, &cols.names[6])?),
                None => None,
            },
            notional,
        };
        if let Some((_, previous)) = rows.last()
            && bar.ts <= previous.ts
        {
            return Err(ImportError::Order {
                line,
                ts: bar.ts,
                previous: previous.ts,
                duplicates_allowed: false,
            });
        }
        rows.push((line, bar));
    }
    if rows.is_empty() {
        return Err(ImportError::Empty);
    }
    let interval = match given {
        Some(interval) => interval,
        None => infer_interval(&rows)?,
    };
    rows.into_iter()
        .map(|(line, bar)| {
            let bar = Bar { interval, ..bar };
            check_aligned(line, &bar)?;
            Ok(bar)
        })
        .collect()
}

/// The smallest step between consecutive rows (rows are strictly increasing by now).
fn infer_interval(rows: &[(usize, Bar)]) -> Result<Interval> {
    let (line, step) = rows
        .windows(2)
        .map(|pair| (pair[1].0, pair[1].1.ts - pair[0].1.ts))
        .min_by_key(|&(_, step)| step)
        .ok_or(ImportError::NoInterval)?;
    (step % NANOS_PER_SEC == 0)
        .then(|| Interval::from_seconds(step / NANOS_PER_SEC))
        .flatten()
        .ok_or_else(|| ImportError::Interval {
            line,
            reason: format!(
                "the smallest step between rows, {step} ns (from the previous row to this one), \
                 is not a whole number of seconds between 1s and 366d: give the interval"
            ),
        })
}

fn check_aligned(line: usize, bar: &Bar) -> Result<()> {
    if bar.interval.bucket(bar.ts) != bar.ts {
        return Err(ImportError::Unaligned {
            line,
            ts: bar.ts,
            interval: bar.interval,
        });
    }
    Ok(())
}

fn check_bar(line: usize, bar: &Bar, previous: Option<&Bar>) -> Result<()> {
    if let Some(previous) = previous
        && bar.ts <= previous.ts
    {
        return Err(ImportError::Order {
            line,
            ts: bar.ts,
            previous: previous.ts,
            duplicates_allowed: false,
        });
    }
    check_aligned(line, bar)
}

/// Rounds plain decimal text (`[+-]digits.digits`, more than 9 fraction digits) to 1e-9 units,
/// half away from zero, working on the digits. `None` for any other text or on overflow.
fn round_to_units(text: &str) -> Option<i64> {
    let (int, frac) = text.split_once('.')?;
    if frac.len() <= 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let truncated = parse_scaled(format!("{int}.{}", &frac[..9]).as_bytes()).ok()?;
    if frac.as_bytes()[9] < b'5' {
        return Some(truncated);
    }
    if int.starts_with('-') {
        truncated.checked_sub(1)
    } else {
        truncated.checked_add(1)
    }
}

/// Non-blank lines with their 1-based numbers, without line ends or a leading BOM.
struct Lines<R> {
    reader: R,
    line: usize,
    buf: String,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R) -> Self {
        Lines {
            reader,
            line: 0,
            buf: String::new(),
        }
    }

    fn next_line(&mut self) -> Result<Option<(usize, String)>> {
        loop {
            self.buf.clear();
            self.line += 1;
            let read = self
                .reader
                .read_line(&mut self.buf)
                .map_err(|source| ImportError::Io {
                    line: self.line,
                    source,
                })?;
            if read == 0 {
                return Ok(None);
            }
            let mut text = self.buf.trim_end_matches(['\n', '\r']);
            if self.line == 1 {
                text = text.trim_start_matches('\u{feff}');
            }
            if !text.trim().is_empty() {
                return Ok(Some((self.line, text.to_owned())));
            }
        }
    }
}

/// Splits one CSV line. Unquoted fields are trimmed of spaces; a quoted field keeps its text,
/// with `""` standing for one quote.
fn split_csv(text: &str, line: usize) -> Result<Vec<Cow<'_, str>>> {
    if !text.contains('"') {
        return Ok(text.split(',').map(|f| Cow::Borrowed(f.trim())).collect());
    }
    let mut fields = Vec::new();
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        if let Some(quoted) = trimmed.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let after = loop {
                match chars.next() {
                    Some((i, '"')) => {
                        if quoted[i + 1..].starts_with('"') {
                            value.push('"');
                            chars.next();
                        } else {
                            break &quoted[i + 1..];
                        }
                    }
                    Some((_, c)) => value.push(c),
                    None => {
                        return Err(ImportError::Csv {
                            line,
                            reason: "unterminated quoted field",
                        });
                    }
                }
            };
            fields.push(Cow::Owned(value));
            let after = after.trim_start();
            match after.strip_prefix(',') {
                Some(next) => rest = next,
                None if after.is_empty() => return Ok(fields),
                None => {
                    return Err(ImportError::Csv {
                        line,
                        reason: "text after a closing quote",
                    });
                }
            }
        } else {
            let (field, next) = match rest.split_once(',') {
                Some((field, next)) => (field, Some(next)),
                None => (rest, None),
            };
            if field.contains('"') {
                return Err(ImportError::Csv {
                    line,
                    reason: "a quote inside an unquoted field",
                });
            }
            fields.push(Cow::Borrowed(field.trim()));
            match next {
                Some(next) => rest = next,
                None => return Ok(fields),
            }
        }
    }
}

/// Header columns found by name: `index[k]` is the position of the k-th wanted column.
struct Columns<const N: usize> {
    index: [Option<usize>; N],
    /// The header text of each found column (the canonical name where absent).
    names: [String; N],
}

impl<const N: usize> Columns<N> {
    /// `wanted`: (canonical name, aliases, required).
    fn find(
        header: &[Cow<'_, str>],
        line: usize,
        wanted: &[(&'static str, &[&str], bool); N],
    ) -> Result<Self> {
        let mut index: [Option<usize>; N] = [None; N];
        let mut names: [String; N] = std::array::from_fn(|k| wanted[k].0.to_owned());
        for (position, text) in header.iter().enumerate() {
            let lower = text.to_ascii_lowercase();
            let Some(k) = wanted
                .iter()
                .position(|(name, aliases, _)| *name == lower || aliases.contains(&lower.as_str()))
            else {
                continue;
            };
            if let Some(first) = index[k] {
                return Err(ImportError::DuplicateColumn {
                    line,
                    column: wanted[k].0,
                    first: header[first].to_string(),
                    second: text.to_string(),
                });
            }
            index[k] = Some(position);
            names[k] = text.to_string();
        }
        for (k, (name, aliases, required)) in wanted.iter().enumerate() {
            if *required && index[k].is_none() {
                return Err(ImportError::MissingColumn {
                    line,
                    column: name,
                    aliases: if aliases.is_empty() {
                        String::new()
                    } else {
                        format!(" (nor {})", aliases.join(", "))
                    },
                });
            }
        }
        Ok(Columns { index, names })
    }
}

/// One split row and its line number, with typed field readers.
struct Row<'a> {
    line: usize,
    fields: Vec<Cow<'a, str>>,
    round_excess_digits: bool,
}

fn shown(text: &str) -> String {
    text.chars().take(64).collect()
}

impl<'a> Row<'a> {
    /// Splits `text`; with `expected > 0` the field count must match.
    fn split(
        text: &'a str,
        line: usize,
        expected: usize,
        round_excess_digits: bool,
    ) -> Result<Self> {
        let fields = split_csv(text, line)?;
        if expected > 0 && fields.len() != expected {
            return Err(ImportError::FieldCount {
                line,
                expected,
                found: fields.len(),
            });
        }
        Ok(Row {
            line,
            fields,
            round_excess_digits,
        })
    }

    fn get(&self, index: usize) -> &str {
        self.fields.get(index).map_or("", |f| f.as_ref())
    }

    /// The field if present and not empty.
    fn optional(&self, index: usize) -> Option<&str> {
        Some(self.get(index)).filter(|f| !f.is_empty())
    }

    fn value_error(&self, column: &str, text: &str, reason: &'static str) -> ImportError {
        ImportError::Value {
            line: self.line,
            column: column.to_owned(),
            text: shown(text),
            reason,
        }
    }

    fn decimal_error(&self, column: &str, text: &str, source: DecimalError) -> ImportError {
        ImportError::Decimal {
            line: self.line,
            column: column.to_owned(),
            text: shown(text),
            source,
        }
    }

    /// A decimal field as 1e-9 units: exact, or rounded when asked and the text has more
    /// than 9 fraction digits.
    fn units(&self, index: usize, column: &str) -> Result<i64> {
        let text = self.get(index);
        match parse_scaled(text.as_bytes()) {
            Err(DecimalError::TooPrecise) if self.round_excess_digits => {
                round_to_units(text).ok_or(DecimalError::TooPrecise)
            }
            other => other,
        }
        .map_err(|source| self.decimal_error(column, text, source))
    }

    fn price(&self, index: usize, column: &str) -> Result<Price> {
        self.units(index, column).map(Price::from_units)
    }

    fn qty(&self, index: usize, column: &str) -> Result<Qty> {
        self.units(index, column).map(Qty::from_units)
    }

    fn integer<T: FromStr<Err = ParseIntError>>(&self, index: usize, column: &str) -> Result<T> {
        let text = self.get(index);
        text.parse().map_err(|source| ImportError::Integer {
            line: self.line,
            column: column.to_owned(),
            text: shown(text),
            source,
        })
    }

    fn timestamp(&self, index: usize, column: &str) -> Result<i64> {
        time::parse_timestamp(self.get(index)).map_err(|source| ImportError::Time {
            line: self.line,
            column: column.to_owned(),
            source,
        })
    }

    /// An integer count of microseconds as ns.
    fn epoch_micros(&self, index: usize, column: &str) -> Result<i64> {
        let micros = self.integer::<i64>(index, column)?;
        micros
            .checked_mul(1_000)
            .ok_or_else(|| self.value_error(column, self.get(index), "out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/samples/history/");
    const ID: InstrumentId = InstrumentId(7);
    const S: i64 = NANOS_PER_SEC;

    fn sample(name: &str) -> std::io::BufReader<std::fs::File> {
        let path = format!("{SAMPLES}{name}");
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        std::io::BufReader::new(file)
    }

    fn p(text: &str) -> Price {
        text.parse().unwrap()
    }

    fn q(text: &str) -> Qty {
        text.parse().unwrap()
    }

    fn bars(format: ImportFormat, text: &str, interval: Option<Interval>) -> Result<Vec<Bar>> {
        read_bars(format, text.as_bytes(), ID, interval)
    }

    fn err(result: Result<impl fmt::Debug>) -> String {
        result.unwrap_err().to_string()
    }

    #[rstest]
    #[case("binance-klines", ImportFormat::BinanceKlines)]
    #[case("tardis-trades", ImportFormat::TardisTrades)]
    #[case("ohlcv-csv", ImportFormat::OhlcvCsv)]
    fn format_names_round_trip(#[case] name: &str, #[case] format: ImportFormat) {
        assert_eq!(name.parse::<ImportFormat>().unwrap(), format);
        assert_eq!(format.to_string(), name);
    }

    #[test]
    fn unknown_formats_and_trade_formats_are_refused_for_bars() {
        assert!("csv".parse::<ImportFormat>().is_err());
        assert_eq!(
            err(bars(ImportFormat::TardisTrades, "", None)),
            "format tardis-trades holds trades, not bars"
        );
    }

    #[test]
    fn binance_sample_reads_ten_one_minute_bars() {
        let bars = read_bars(
            ImportFormat::BinanceKlines,
            sample("ADABTC-1m-2021-11-27.binance-klines.csv"),
            ID,
            None,
        )
        .unwrap();
        assert_eq!(bars.len(), 10);
        let first = bars[0];
        assert_eq!(first.instrument, ID);
        assert_eq!(first.interval, Interval::MINUTE);
        assert_eq!(first.ts, 1_637_971_200 * S);
        assert_eq!(
            (first.open, first.high, first.low, first.close),
            (
                p("0.00002853"),
                p("0.00002854"),
                p("0.00002851"),
                p("0.00002854")
            )
        );
        assert_eq!(first.volume, q("36304.2"));
        assert_eq!(first.trades, Some(79));
        // quote volume 1.03547608 in 1e-18 units
        assert_eq!(first.notional, Some(1_035_476_080_000_000_000));
        // 1.03547608 / 36304.2 = 0.0000285222117..., rounded to 1e-9
        assert_eq!(first.vwap(), Some(p("0.000028522")));
        let last = bars[9];
        assert_eq!(last.ts, 1_637_971_740 * S);
        assert_eq!(
            (last.open, last.high, last.low, last.close),
            (
                p("0.00002863"),
                p("0.00002865"),
                p("0.00002863"),
                p("0.00002865")
            )
        );
        assert_eq!(last.volume, q("8160.5"));
        assert_eq!(last.trades, Some(38));
        assert!(bars.windows(2).all(|w| w[1].ts == w[0].ts + 60 * S));
    }

    const KLINE_MS: &str = "1637971200000,1.5,2,1,1.75,10,1637971259999,15,3,4,6,0\n\
                            1637971260000,1.75,1.75,1.5,1.5,2,1637971319999,3.25,1,0,0,0\n";
    const KLINE_US: &str = "1735689600000000,1.5,2,1,1.75,10,1735689659999999,15,3,4,6,0\n\
                            1735689660000000,1.75,1.75,1.5,1.5,2,1735689719999999,3.25,1,0,0,0\n";

    #[test]
    fn binance_microsecond_files_read_like_millisecond_ones() {
        let ms = bars(ImportFormat::BinanceKlines, KLINE_MS, None).unwrap();
        let us = bars(ImportFormat::BinanceKlines, KLINE_US, None).unwrap();
        assert_eq!(us.len(), 2);
        assert_eq!(us[0].ts, 1_735_689_600 * S);
        assert_eq!(us[1].ts, 1_735_689_660 * S);
        assert_eq!(us[0].interval, Interval::MINUTE);
        for (a, b) in ms.iter().zip(&us) {
            assert_eq!(
                (a.open, a.close, a.volume, a.trades),
                (b.open, b.close, b.volume, b.trades)
            );
        }
        assert_eq!(us[1].notional, Some(3_250_000_000_000_000_000));
    }

    #[test]
    fn binance_header_line_is_skipped_and_interval_checked() {
        let with_header = format!(
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,\
             taker_buy_volume,taker_buy_quote_volume,ignore\r\n{}",
            KLINE_MS.replace('\n', "\r\n")
        );
        let bars = bars(
            ImportFormat::BinanceKlines,
            &with_header,
            Some(Interval::MINUTE),
        )
        .unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].ts, 1_637_971_200 * S);
        let five: Interval = "5m".parse().unwrap();
        assert_eq!(
            err(read_bars(
                ImportFormat::BinanceKlines,
                KLINE_MS.as_bytes(),
                ID,
                Some(five)
            )),
            "line 1: bar width 1m (close_time - open_time + 1) differs from 5m"
        );
    }

    #[rstest]
    #[case::bad_decimal(
        "1637971200000,1.5,2,1,1.75,10,1637971259999,15,3,4,6,0\n\
         1637971260000,abc,1.75,1.5,1.5,2,1637971319999,3.25,1,0,0,0\n",
        "line 2, column \"open\": bad decimal \"abc\": invalid character at byte 0"
    )]
    #[case::too_precise(
        "1637971200000,1.5,2,1,1.75,0.0000000001,1637971259999,15,3,4,6,0\n",
        "line 1, column \"volume\": bad decimal \"0.0000000001\": more than 9 fraction digits"
    )]
    #[case::bad_count(
        "1637971200000,1.5,2,1,1.75,10,1637971259999,15,x,4,6,0\n",
        "line 1, column \"number_of_trades\": bad integer \"x\": invalid digit found in string"
    )]
    #[case::short_row(
        "1637971200000,1.5,2,1,1.75,10,1637971259999,15,3,4,6,0\n\n\
         1637971260000,1.75,1.75\n",
        "line 3: expected 12 fields, found 3"
    )]
    #[case::width_changes(
        "1637971200000,1.5,2,1,1.75,10,1637971259999,15,3,4,6,0\n\
         1637971260000,1.75,1.75,1.5,1.5,2,1637971379999,3.25,1,0,0,0\n",
        "line 2: bar width 2m (close_time - open_time + 1) differs from 1m"
    )]
    #[case::not_whole_seconds(
        "1637971200000,1.5,2,1,1.75,10,1637971200499,15,3,4,6,0\n",
        "line 1: close_time - open_time + 1 is 500000000 ns, not a whole number of seconds \
         between 1s and 366d"
    )]
    #[case::out_of_order(
        "1637971260000,1.5,2,1,1.75,10,1637971319999,15,3,4,6,0\n\
         1637971200000,1.75,1.75,1.5,1.5,2,1637971259999,3.25,1,0,0,0\n",
        "line 2: timestamp 2021-11-27T00:00:00Z is before the previous row's \
         2021-11-27T00:01:00Z: rows must be in time order without duplicates"
    )]
    #[case::duplicate(
        "1637971200000,1.5,2,1,1.75,10,1637971259999,15,3,4,6,0\n\
         1637971200000,1.75,1.75,1.5,1.5,2,1637971259999,3.25,1,0,0,0\n",
        "line 2: timestamp 2021-11-27T00:00:00Z is the same as the previous row's \
         2021-11-27T00:00:00Z: rows must be in time order without duplicates"
    )]
    #[case::unaligned(
        "1637971230000,1.5,2,1,1.75,10,1637971289999,15,3,4,6,0\n",
        "line 1: bar time 2021-11-27T00:00:30Z is not aligned to the 1m interval (UTC)"
    )]
    #[case::empty("\n\n", "the file holds no rows")]
    #[case::header_only("open_time,open\n", "the file holds no rows")]
    fn binance_bad_files_name_the_line(#[case] text: &str, #[case] message: &str) {
        assert_eq!(err(bars(ImportFormat::BinanceKlines, text, None)), message);
    }

    const BTC_PERP: &str = "btc-perp-20211231-20220201_1m.csv";

    #[test]
    fn ohlcv_sample_holds_float_noise_that_strict_reading_refuses() {
        // Line 249's volume was printed from a binary float.
        assert_eq!(
            err(read_bars(
                ImportFormat::OhlcvCsv,
                sample(BTC_PERP),
                ID,
                None
            )),
            "line 249, column \"volume\": bad decimal \"218102.59507500002\": \
             more than 9 fraction digits"
        );
    }

    #[test]
    fn ohlcv_sample_reads_a_month_of_minutes_when_rounding() {
        let options = ImportOptions {
            round_excess_digits: true,
            ..ImportOptions::default()
        };
        let bars = read_bars_with(ImportFormat::OhlcvCsv, sample(BTC_PERP), ID, options).unwrap();
        // 2021-12-31 23:01 to 2022-02-01 05:31 inclusive, every minute: 45031 rows.
        assert_eq!(bars.len(), 45_031);
        let first = bars[0];
        assert_eq!(first.interval, Interval::MINUTE);
        assert_eq!(first.ts, 1_640_991_660 * S);
        assert_eq!(
            (first.open, first.high, first.low, first.close),
            (p("46319"), p("46385"), p("46319"), p("46377"))
        );
        assert_eq!(first.volume, q("2300413.7295"));
        assert_eq!((first.trades, first.notional), (None, None));
        let last = bars[45_030];
        assert_eq!(last.ts, 1_643_693_460 * S);
        assert_eq!(
            (last.open, last.high, last.low, last.close),
            (p("38525"), p("38546"), p("38525"), p("38544"))
        );
        assert_eq!(last.volume, q("685906.9735"));
        // Lines 249 and 17527 (rows 248 and 17526, from 1): 218102.59507500002 and
        // 380591.00179999997 in the file.
        assert_eq!(bars[247].volume, q("218102.595075"));
        assert_eq!(bars[17_525].volume, q("380591.0018"));
        assert!(bars.windows(2).all(|w| w[1].ts == w[0].ts + 60 * S));
    }

    #[rstest]
    #[case("1.0000000005", Some(1_000_000_001))]
    #[case("-1.0000000005", Some(-1_000_000_001))]
    #[case("1.00000000049999", Some(1_000_000_000))]
    #[case("0.9999999999", Some(1_000_000_000))]
    #[case(".00000000051", Some(1))]
    #[case("9223372036.8547758079", None)]
    #[case("1.5", None)]
    #[case("1e-10", None)]
    #[case("1.00000000x1", None)]
    fn excess_digits_round_half_away_from_zero(#[case] text: &str, #[case] units: Option<i64>) {
        assert_eq!(round_to_units(text), units);
    }

    #[test]
    fn ohlcv_columns_are_found_by_name_with_aliases() {
        let text = "Close,VOLUME,Time,open,high,low,Count,vwap\n\
                    \"2.5\",4,2024-01-01T00:05:00Z,2,3,1,7,2.25\n\
                    3,1,2024-01-01T00:10:00Z,2.5,3,2.5,,\n";
        let bars = bars(ImportFormat::OhlcvCsv, text, None).unwrap();
        let five: Interval = "5m".parse().unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].interval, five);
        assert_eq!(bars[0].ts, 1_704_067_500 * S);
        assert_eq!((bars[0].open, bars[0].close), (p("2"), p("2.5")));
        assert_eq!(bars[0].trades, Some(7));
        assert_eq!(bars[0].vwap(), Some(p("2.25")));
        assert_eq!(bars[0].notional, Some(9 * 10i128.pow(18)));
        assert_eq!((bars[1].trades, bars[1].notional), (None, None));
    }

    #[test]
    fn ohlcv_quote_volume_wins_over_vwap_and_interval_may_be_given() {
        let text = "timestamp,open,high,low,close,volume,vwap,notional\n\
                    1704067200,1,1,1,1,2,5,3\n";
        let bars = bars(ImportFormat::OhlcvCsv, text, Some(Interval::MINUTE)).unwrap();
        assert_eq!(bars[0].notional, Some(3 * 10i128.pow(18)));
        assert_eq!(bars[0].vwap(), Some(p("1.5")));
        assert_eq!(bars[0].interval, Interval::MINUTE);
    }

    #[rstest]
    #[case::no_header(
        "2021-12-31 23:01:00,1,1,1,1,1\n",
        "line 1: the header has no \"timestamp\" column (nor time, ts, date, datetime, open_time)"
    )]
    #[case::missing_volume(
        "timestamp,open,high,low,close\n2021-12-31,1,1,1,1\n",
        "line 1: the header has no \"volume\" column"
    )]
    #[case::two_times(
        "time,ts,open,high,low,close,volume\n",
        "line 1: columns \"time\" and \"ts\" both name \"timestamp\""
    )]
    #[case::bad_decimal(
        "timestamp,open,high,low,close,volume\n2021-12-31T00:00:00Z,1,1,1,1,1\n\
         2021-12-31T00:01:00Z,1,1,1,1.2.3,1\n",
        "line 3, column \"close\": bad decimal \"1.2.3\": invalid character at byte 3"
    )]
    #[case::bad_time(
        "timestamp,open,high,low,close,volume\n2021-02-30T00:00:00Z,1,1,1,1,1\n",
        "line 2, column \"timestamp\": bad timestamp \"2021-02-30T00:00:00Z\": no such day in that month"
    )]
    #[case::field_count(
        "timestamp,open,high,low,close,volume\n2021-12-31T00:00:00Z,1,1,1,1\n",
        "line 2: expected 6 fields, found 5"
    )]
    #[case::empty_required(
        "timestamp,open,high,low,close,volume\n2021-12-31T00:00:00Z,1,1,1,1,\n",
        "line 2, column \"volume\": bad decimal \"\": empty decimal"
    )]
    #[case::unterminated_quote(
        "timestamp,open,high,low,close,volume\n\"2021-12-31,1,1,1,1,1\n",
        "line 2: unterminated quoted field"
    )]
    #[case::out_of_order(
        "timestamp,open,high,low,close,volume\n2021-12-31T00:01:00Z,1,1,1,1,1\n\
         2021-12-31T00:00:00Z,1,1,1,1,1\n",
        "line 3: timestamp 2021-12-31T00:00:00Z is before the previous row's \
         2021-12-31T00:01:00Z: rows must be in time order without duplicates"
    )]
    #[case::unaligned(
        "timestamp,open,high,low,close,volume\n2021-12-31T00:00:00Z,1,1,1,1,1\n\
         2021-12-31T00:01:00Z,1,1,1,1,1\n2021-12-31T00:02:30Z,1,1,1,1,1\n",
        "line 4: bar time 2021-12-31T00:02:30Z is not aligned to the 1m interval (UTC)"
    )]
    #[case::single_row(
        "timestamp,open,high,low,close,volume\n2021-12-31T00:00:00Z,1,1,1,1,1\n",
        "cannot infer the bar interval from a single row: give the interval (e.g. --interval 1m)"
    )]
    #[case::sub_second_step(
        "timestamp,open,high,low,close,volume\n2021-12-31T00:00:00Z,1,1,1,1,1\n\
         2021-12-31T00:00:00.5Z,1,1,1,1,1\n",
        "line 3: the smallest step between rows, 500000000 ns (from the previous row to this \
         one), is not a whole number of seconds between 1s and 366d: give the interval"
    )]
    #[case::empty("", "the file holds no rows")]
    #[case::header_only("timestamp,open,high,low,close,volume\n", "the file holds no rows")]
    fn ohlcv_bad_files_name_the_line(#[case] text: &str, #[case] message: &str) {
        assert_eq!(err(bars(ImportFormat::OhlcvCsv, text, None)), message);
    }

    #[test]
    fn ohlcv_given_interval_must_fit_the_rows() {
        let text = "timestamp,open,high,low,close,volume\n2021-12-31T00:01:00Z,1,1,1,1,1\n";
        let five: Interval = "5m".parse().unwrap();
        assert_eq!(
            err(bars(ImportFormat::OhlcvCsv, text, Some(five))),
            "line 2: bar time 2021-12-31T00:01:00Z is not aligned to the 5m interval (UTC)"
        );
    }

    #[test]
    fn tardis_sample_reads_ten_trades() {
        let trades = read_trades(sample("bitmex_trades_XBTUSD.tardis.csv")).unwrap();
        assert_eq!(trades.len(), 10);
        assert_eq!(
            trades[0],
            ImportedTrade {
                ts_event: 1_583_020_803_145_000_000,
                ts_recv: 1_583_020_803_307_160_000,
                price: p("8531.5"),
                size: q("2152"),
                side: Side::Sell,
                id: "ccc3c1fa-212c-e8b0-1706-9b9c4f3d5ecf".into(),
            }
        );
        assert_eq!(
            trades[9],
            ImportedTrade {
                ts_event: 1_583_020_803_276_000_000,
                ts_recv: 1_583_020_803_336_743_000,
                price: p("8531.5"),
                size: q("1"),
                side: Side::Sell,
                id: "7cae8d7b-b69d-025b-cc3c-84b911f37a8a".into(),
            }
        );
    }

    const TARDIS_HEADER: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n";

    #[test]
    fn tardis_sides_and_equal_times() {
        let text = format!(
            "{TARDIS_HEADER}x,A,1000,1001,1,buy,1.5,2\nx,A,1000,1002,,unknown,1.5,3\n\
             x,A,1001,1003,3,sell,1,1\n"
        );
        let trades = read_trades(text.as_bytes()).unwrap();
        let sides: Vec<Side> = trades.iter().map(|t| t.side).collect();
        assert_eq!(sides, [Side::Buy, Side::Unknown, Side::Sell]);
        assert_eq!(trades[1].id, "");
        assert_eq!(trades[1].ts_event, 1_000_000);
    }

    #[rstest]
    #[case::bad_side(
        "x,A,1000,1001,1,bid,1.5,2\n",
        "line 2, column \"side\": expected buy, sell or unknown \"bid\""
    )]
    #[case::bad_price(
        "x,A,1000,1001,1,buy,NaN,2\n",
        "line 2, column \"price\": bad decimal \"NaN\": invalid character at byte 0"
    )]
    #[case::bad_time(
        "x,A,1000.5,1001,1,buy,1,2\n",
        "line 2, column \"timestamp\": bad integer \"1000.5\": invalid digit found in string"
    )]
    #[case::backwards(
        "x,A,2000,2001,1,buy,1,2\nx,A,1000,2002,2,buy,1,2\n",
        "line 3: timestamp 1970-01-01T00:00:00.001Z is before the previous row's \
         1970-01-01T00:00:00.002Z: rows must be in time order"
    )]
    #[case::two_symbols(
        "x,A,1000,1001,1,buy,1,2\nx,B,1000,1001,2,buy,1,2\n",
        "line 3: symbol \"B\" differs from \"A\": import one instrument per file"
    )]
    #[case::header_only("", "the file holds no rows")]
    fn tardis_bad_rows_name_the_line(#[case] rows: &str, #[case] message: &str) {
        let text = format!("{TARDIS_HEADER}{rows}");
        assert_eq!(err(read_trades(text.as_bytes())), message);
    }

    #[rstest]
    #[case("a,b,c", &["a", "b", "c"])]
    #[case(" a , b ,c ", &["a", "b", "c"])]
    #[case("\"a,b\",c", &["a,b", "c"])]
    #[case("\"say \"\"hi\"\"\", \"\" ,x", &["say \"hi\"", "", "x"])]
    #[case("a,,", &["a", "", ""])]
    fn csv_fields_split_with_simple_quoting(#[case] line: &str, #[case] fields: &[&str]) {
        let split = split_csv(line, 1).unwrap();
        assert_eq!(split, fields);
    }

    #[rstest]
    #[case("\"a\"b,c", "line 1: text after a closing quote")]
    #[case("a\"b,c", "line 1: a quote inside an unquoted field")]
    fn csv_quoting_errors(#[case] line: &str, #[case] message: &str) {
        assert_eq!(split_csv(line, 1).unwrap_err().to_string(), message);
    }
}
