//! Errors raised by the storage crate.

use std::path::PathBuf;

use thiserror::Error;

/// Errors of the storage crate.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`cannot write`, `cannot rename`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A Parquet file could not be written or read.
    #[error("parquet {path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The Parquet library's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Arrow arrays could not be built or encoded.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The journal failed.
    #[error("journal: {0}")]
    Journal(#[source] Box<crate::journal::Error>),
    /// The QuestDB sink could not start.
    #[error("questdb: {0}")]
    QuestDb(#[source] Box<crate::questdb::QuestDbError>),
    /// A file under the data directory does not hold what nexamd wrote there.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }

    /// A Parquet error on `path`.
    pub fn parquet(
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(parquet::errors::ParquetError) -> Error {
        let path = path.into();
        move |source| Error::Parquet { path, source }
    }
}

/// Result with the storage crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
