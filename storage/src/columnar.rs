//! Columnar files: the Arrow schemas of bars and ticks, writing Parquet files atomically, and
//! reading one instrument's rows back with row-group and page pruning.
//!
//! Files are sorted by `(instrument, ts)`, compressed with zstd, and carry row-group
//! statistics and the page index (column and offset indexes) on every column, with pages of
//! at most [`PAGE_ROWS`] rows ([`MONTH_PAGE_ROWS`] in month files), so a reader looking for
//! one instrument's time range decodes only the pages that can hold it.

/// Reading files back: metadata, pruning, decoding.
pub mod read;
/// Arrow schemas and the conversions between rows and record batches.
pub mod schema;
/// Writing Parquet files atomically.
pub mod write;

/// Most rows in one data page: the granularity of page pruning.
pub const PAGE_ROWS: usize = 1024;
/// Most rows in one data page of a month file (closed months of 1m and longer bars). One
/// instrument's month of 1m bars is a run of about 44,640 rows there, so larger pages waste
/// little to pruning (at most a page at each end of the run) and give zstd and the delta
/// decoder a quarter of the per-page work: a year's query decodes in about 20 % less time
/// (benches/BENCHMARKS.md, storage, "Fifth round").
pub const MONTH_PAGE_ROWS: usize = 4096;
/// Most rows in one row group.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Key-value metadata key holding the instruments a file holds, as a JSON array.
pub const META_INSTRUMENTS: &str = "nexamd.instruments";
/// Key-value metadata key holding the file's version: files with a higher version win when
/// two hold the same row.
pub const META_VERSION: &str = "nexamd.version";
/// Key-value metadata key holding the dataset (`bars/1m`, `ticks`).
pub const META_DATASET: &str = "nexamd.dataset";
