//! Reading stored files: each file's metadata (footer, page index, the instruments it holds)
//! is loaded once and cached; a query for one instrument's time range then keeps only the
//! row groups whose statistics can match, and inside them only the pages whose column index
//! can match, on both the instrument and the time column.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::statistics::Statistics;

use super::{META_INSTRUMENTS, META_VERSION};
use crate::error::{Error, Result};

/// A stored file and its cached metadata.
#[derive(Debug, Clone)]
pub struct FileMeta {
    /// Where it is.
    pub path: PathBuf,
    /// Higher versions win when two files hold the same row.
    pub version: u64,
    /// Rows in the file.
    pub rows: usize,
    /// The instruments it holds, sorted.
    pub instruments: Vec<String>,
    /// Smallest and largest time (`ts` or `ts_event`).
    pub ts_range: (i64, i64),
    /// Size in bytes.
    pub bytes: u64,
    arrow: ArrowReaderMetadata,
}

fn kv<'a>(md: &'a ParquetMetaData, key: &str) -> Option<&'a str> {
    md.file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_deref()
}

impl FileMeta {
    /// Opens `path` and reads its footer and page index.
    pub fn load(path: &Path) -> Result<FileMeta> {
        let file = File::open(path).map_err(Error::io("cannot open", path))?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let arrow = ArrowReaderMetadata::load(&file, options).map_err(Error::parquet(path))?;
        let md = arrow.metadata().clone();
        let corrupt = |message: String| Error::Corrupt {
            path: path.to_owned(),
            message,
        };
        let mut instruments: Vec<String> = match kv(&md, META_INSTRUMENTS) {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| corrupt(format!("bad {META_INSTRUMENTS}: {e}")))?,
            None => return Err(corrupt(format!("no {META_INSTRUMENTS} metadata"))),
        };
        instruments.sort();
        let version = kv(&md, META_VERSION)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let ts_col = time_column(&md).ok_or_else(|| corrupt("no time column".into()))?;
        let mut ts_range = (i64::MAX, i64::MIN);
        for rg in md.row_groups() {
            if let Some(Statistics::Int64(s)) = rg.column(ts_col).statistics() {
                if let Some(min) = s.min_opt() {
                    ts_range.0 = ts_range.0.min(*min);
                }
                if let Some(max) = s.max_opt() {
                    ts_range.1 = ts_range.1.max(*max);
                }
            }
        }
        Ok(FileMeta {
            path: path.to_owned(),
            version,
            rows: md.file_metadata().num_rows().max(0) as usize,
            instruments,
            ts_range,
            bytes,
            arrow,
        })
    }

    /// Whether the file holds rows of `instrument`.
    pub fn has(&self, instrument: &str) -> bool {
        self.instruments
            .binary_search_by(|i| i.as_str().cmp(instrument))
            .is_ok()
    }

    /// Whether the file can hold `instrument` rows with time in `[start, end)`.
    pub fn may_hold(&self, instrument: &str, start: i64, end: i64) -> bool {
        self.ts_range.0 < end && self.ts_range.1 >= start && self.has(instrument)
    }

    /// Reads the rows that can be `instrument`'s with time in `[start, end)`: whole pages,
    /// so the caller still filters rows exactly. Returns the batches and how many rows were
    /// decoded.
    pub fn read(&self, instrument: &str, start: i64, end: i64) -> Result<Vec<RecordBatch>> {
        self.read_columns(instrument, start, end, None)
    }

    /// [`FileMeta::read`] decoding only the named columns (`None`: all of them). A query that
    /// does not need a column does not pay to decompress and decode it.
    pub fn read_columns(
        &self,
        instrument: &str,
        start: i64,
        end: i64,
        columns: Option<&[&str]>,
    ) -> Result<Vec<RecordBatch>> {
        let md = self.arrow.metadata();
        let ts_col = time_column(md).ok_or_else(|| Error::Corrupt {
            path: self.path.clone(),
            message: "no time column".into(),
        })?;
        let key = instrument.as_bytes();
        let mut row_groups = Vec::new();
        let mut ranges: Vec<Range<usize>> = Vec::new();
        let mut offset = 0;
        for (rg, meta) in md.row_groups().iter().enumerate() {
            let rows = meta.num_rows().max(0) as usize;
            let bytes_match = match meta.column(0).statistics() {
                Some(s) => match (s.min_bytes_opt(), s.max_bytes_opt()) {
                    (Some(min), Some(max)) => min <= key && key <= max,
                    _ => true,
                },
                None => true,
            };
            let ts_match = match meta.column(ts_col).statistics() {
                Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                    (Some(min), Some(max)) => *min < end && *max >= start,
                    _ => true,
                },
                _ => true,
            };
            if !(bytes_match && ts_match) {
                continue;
            }
            let page_index = md.page_index_for_row_group(rg);
            let by_instrument = pages(
                page_index.column_index(0),
                page_index.offset_index(0).map(|o| o.page_locations()),
                rows,
                |index, page| match index {
                    ColumnIndexMetaData::BYTE_ARRAY(i) => {
                        match (i.min_value(page), i.max_value(page)) {
                            (Some(min), Some(max)) => min <= key && key <= max,
                            _ => !index.is_null_page(page),
                        }
                    }
                    _ => true,
                },
            );
            let by_time = pages(
                page_index.column_index(ts_col),
                page_index.offset_index(ts_col).map(|o| o.page_locations()),
                rows,
                |index, page| match index {
                    ColumnIndexMetaData::INT64(i) => match (i.min_value(page), i.max_value(page)) {
                        (Some(min), Some(max)) => *min < end && *max >= start,
                        _ => true,
                    },
                    _ => true,
                },
            );
            let selected = intersect(&by_instrument, &by_time);
            if selected.is_empty() {
                continue;
            }
            row_groups.push(rg);
            ranges.extend(selected.iter().map(|r| offset + r.start..offset + r.end));
            offset += rows;
        }
        if row_groups.is_empty() {
            return Ok(Vec::new());
        }
        let file = File::open(&self.path).map_err(Error::io("cannot open", &self.path))?;
        let mut builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.arrow.clone());
        if let Some(names) = columns {
            let mask =
                ProjectionMask::columns(md.file_metadata().schema_descr(), names.iter().copied());
            builder = builder.with_projection(mask);
        }
        let reader = builder
            .with_row_groups(row_groups)
            .with_row_selection(RowSelection::from_consecutive_ranges(
                ranges.into_iter(),
                offset,
            ))
            .with_batch_size(8192)
            .build()
            .map_err(Error::parquet(&self.path))?;
        reader.map(|batch| batch.map_err(Error::from)).collect()
    }

    /// Reads the whole file (compaction).
    pub fn read_all(&self) -> Result<Vec<RecordBatch>> {
        let file = File::open(&self.path).map_err(Error::io("cannot open", &self.path))?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.arrow.clone())
            .with_batch_size(64 * 1024)
            .build()
            .map_err(Error::parquet(&self.path))?;
        reader.map(|batch| batch.map_err(Error::from)).collect()
    }
}

/// The leaf index of the time column: `ts` (bars) or `ts_event` (ticks).
fn time_column(md: &ParquetMetaData) -> Option<usize> {
    let schema = md.file_metadata().schema_descr();
    (0..schema.num_columns()).find(|&i| matches!(schema.column(i).name(), "ts" | "ts_event"))
}

/// Row ranges of a row group whose pages pass `keep`; all rows without a page index.
fn pages(
    index: Option<&ColumnIndexMetaData>,
    locations: Option<&Vec<parquet::file::page_index::offset_index::PageLocation>>,
    rows: usize,
    keep: impl Fn(&ColumnIndexMetaData, usize) -> bool,
) -> Vec<Range<usize>> {
    let (Some(index), Some(locations)) = (index, locations) else {
        return std::iter::once(0..rows).collect();
    };
    let mut out: Vec<Range<usize>> = Vec::new();
    for (page, location) in locations.iter().enumerate() {
        let start = location.first_row_index.max(0) as usize;
        let end = locations
            .get(page + 1)
            .map_or(rows, |next| next.first_row_index.max(0) as usize);
        if !keep(index, page) {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.end == start => last.end = end,
            _ => out.push(start..end),
        }
    }
    out
}

/// The intersection of two sorted lists of disjoint ranges.
fn intersect(a: &[Range<usize>], b: &[Range<usize>]) -> Vec<Range<usize>> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(start..end);
        }
        if a[i].end < b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::single_range_in_vec_init)]
    fn ranges_intersect() {
        assert_eq!(intersect(&[0..10, 20..30], &[5..25]), vec![5..10, 20..25]);
        assert_eq!(intersect(&[0..10], &[10..20]), Vec::<Range<usize>>::new());
        assert_eq!(intersect(&[0..100], &[0..100]), vec![0..100]);
    }
}
