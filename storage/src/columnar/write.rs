//! Writing Parquet files: write to a hidden temporary name, fsync, rename into place, fsync
//! the directory. A reader never sees a partial file under a final name.

use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::DataType;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::schema::{BAR_FILE, TICK_FILE};
use super::{PAGE_ROWS, ROW_GROUP_ROWS};
use crate::error::{Error, Result};

/// The stored columns whose values are 64-bit integers on disk: times, counts, and the
/// decimals of precision 18 (prices, sizes, volumes, VWAP). They are written
/// `DELTA_BINARY_PACKED`: rows sorted by instrument then time make neighbours close (a
/// minute bar's `ts` steps by exactly 60 s, a price walks), so the deltas pack into few bits
/// before zstd sees them. Against PLAIN + zstd this decodes a year of one instrument's 1m
/// bars in about two thirds of the time, in 20 % less disk (benches/BENCHMARKS.md, storage,
/// "Fifth round").
fn delta_columns() -> impl Iterator<Item = String> {
    let int64 = |field: &arrow_schema::Field| match field.data_type() {
        DataType::Timestamp(..) | DataType::UInt64 | DataType::Int64 => true,
        DataType::Decimal128(precision, _) => *precision <= 18,
        _ => false,
    };
    [&*BAR_FILE, &*TICK_FILE]
        .into_iter()
        .flat_map(|schema| schema.fields().iter())
        .filter(move |field| int64(field))
        .map(|field| field.name().clone())
}

/// The writer properties of every stored file: zstd, page statistics (the page index), pages
/// of at most [`PAGE_ROWS`] rows, sorted by `(instrument, ts)`, 64-bit integer columns
/// delta-encoded ([`delta_columns`]).
pub fn properties(metadata: Vec<KeyValue>) -> WriterProperties {
    properties_with_pages(metadata, PAGE_ROWS)
}

/// [`properties`] with pages of at most `page_rows` rows (month files use
/// [`MONTH_PAGE_ROWS`](super::MONTH_PAGE_ROWS)).
pub fn properties_with_pages(metadata: Vec<KeyValue>, page_rows: usize) -> WriterProperties {
    let mut builder = WriterProperties::builder();
    for name in delta_columns() {
        builder =
            builder.set_column_encoding(ColumnPath::from(name), Encoding::DELTA_BINARY_PACKED);
    }
    builder
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        // Dictionaries only where values repeat: the instrument (and the tick kind and side).
        // Prices, sizes and times are nearly all distinct, and a dictionary page must be
        // read whole before any data page of its chunk, which defeats page pruning.
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from("instrument"), true)
        .set_column_dictionary_enabled(ColumnPath::from("type"), true)
        .set_column_dictionary_enabled(ColumnPath::from("side"), true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(page_rows)
        .set_write_batch_size(page_rows)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_sorting_columns(Some(vec![
            SortingColumn {
                column_idx: 0,
                descending: false,
                nulls_first: false,
            },
            SortingColumn {
                column_idx: 1,
                descending: false,
                nulls_first: false,
            },
        ]))
        .set_key_value_metadata(Some(metadata))
        .build()
}

/// Writes `batches` (sorted by instrument then time) to `path` atomically.
pub fn write_file(path: &Path, batches: &[RecordBatch], metadata: Vec<KeyValue>) -> Result<()> {
    write_file_with(path, batches, properties(metadata))
}

/// [`write_file`] with writer properties other than [`properties`] (for experiments on the
/// encoding).
pub fn write_file_with(
    path: &Path,
    batches: &[RecordBatch],
    properties: WriterProperties,
) -> Result<()> {
    let Some(first) = batches.first() else {
        return Ok(());
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io("cannot create", dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let file = File::create(&tmp).map_err(Error::io("cannot create", &tmp))?;
    let mut writer = ArrowWriter::try_new(file, first.schema(), Some(properties))
        .map_err(Error::parquet(&tmp))?;
    for batch in batches {
        writer.write(batch).map_err(Error::parquet(&tmp))?;
    }
    let file = writer.into_inner().map_err(Error::parquet(&tmp))?;
    file.sync_all().map_err(Error::io("cannot fsync", &tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(Error::io("cannot rename into place", path))?;
    sync_dir(dir)
}

/// fsyncs a directory, so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("cannot fsync directory", dir))
}

/// Batches of `schema` as one whole Parquet file in memory (for `format=parquet` responses).
pub fn to_bytes(schema: &arrow_schema::SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
        .map_err(Error::parquet("<response>"))?;
    for batch in batches {
        writer.write(batch).map_err(Error::parquet("<response>"))?;
    }
    writer.into_inner().map_err(Error::parquet("<response>"))
}
