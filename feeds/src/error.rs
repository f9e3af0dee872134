//! Errors of the feeds crate.

use thiserror::Error;

/// Why a feed could not start or had to stop.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is unusable; `key` is its path under the feed's table.
    #[error("invalid value for `{key}`: {reason}")]
    Config {
        /// Dotted key path, for example `feeds.synthetic.rate`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An instrument could not be registered.
    #[error(transparent)]
    Engine(#[from] engine::Error),
    /// The venue refused the feed in a way retrying cannot mend (bad credentials).
    #[error("refused by the venue: {0}")]
    Refused(String),
    /// A capture file could not be read.
    #[error("cannot read {path}: {source}")]
    Capture {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The feed's thread or runtime could not be started.
    #[error("cannot start feed thread: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Whether reconnecting could help. Configuration errors never heal by retrying.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Io(_))
    }
}

/// Result with the feeds crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
