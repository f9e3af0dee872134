//! Journal settings: where, how big, and when to fsync.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::block::MAX_BLOCK_PAYLOAD;
use super::{Error, Result};

/// Default segment size before rolling to a new file: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Default block payload size at which a block is written without waiting for `flush`.
pub const DEFAULT_BLOCK_BYTES: usize = 256 << 10;
/// Default group-commit interval.
pub const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_millis(50);

/// When written blocks are fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// A background thread fsyncs what was written, at most once per `interval`: the
    /// appending thread never waits for the disk. The default, with 50 ms.
    Group {
        /// Shortest time between two rounds of fsyncs.
        interval: Duration,
    },
    /// Every block is fsynced before the write returns: durable at `flush` return, slow.
    Always,
    /// Never fsync: the OS writes back when it likes. Survives a process crash, not an OS one.
    Never,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy::Group {
            interval: DEFAULT_GROUP_INTERVAL,
        }
    }
}

impl SyncPolicy {
    /// The same policy with a group-commit interval of `interval` (config key given apart
    /// from the policy name); `Always` and `Never` are unchanged.
    pub fn with_interval(self, interval: Duration) -> SyncPolicy {
        match self {
            SyncPolicy::Group { .. } => SyncPolicy::Group { interval },
            other => other,
        }
    }
}

impl FromStr for SyncPolicy {
    type Err = Error;

    /// `group` (with the default interval), `always` or `never`, in any case.
    fn from_str(text: &str) -> Result<SyncPolicy> {
        match text.trim().to_ascii_lowercase().as_str() {
            "group" => Ok(SyncPolicy::default()),
            "always" => Ok(SyncPolicy::Always),
            "never" => Ok(SyncPolicy::Never),
            _ => Err(Error::UnknownSyncPolicy(text.chars().take(32).collect())),
        }
    }
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncPolicy::Group { interval } => write!(f, "group ({interval:?})"),
            SyncPolicy::Always => f.write_str("always"),
            SyncPolicy::Never => f.write_str("never"),
        }
    }
}

/// How to open a journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// The directory of segment files (`journal/` under the data directory); created if
    /// missing.
    pub dir: PathBuf,
    /// Roll to a new segment when the active one would grow past this many bytes.
    pub segment_bytes: u64,
    /// Write the buffered block when its payload would grow past this many bytes, without
    /// waiting for `flush` (bounds memory and replay's read size).
    pub block_bytes: usize,
    /// When to fsync.
    pub sync: SyncPolicy,
}

impl JournalConfig {
    /// The defaults for `dir`: 64 MiB segments, 256 KiB blocks, group commit every 50 ms.
    pub fn new(dir: impl Into<PathBuf>) -> JournalConfig {
        JournalConfig {
            dir: dir.into(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            block_bytes: DEFAULT_BLOCK_BYTES,
            sync: SyncPolicy::default(),
        }
    }

    /// Checks the sizes and the interval.
    pub(super) fn validate(&self) -> Result<()> {
        // Leave room for the entry that overflows the limit and the one definition before it.
        let max_block = MAX_BLOCK_PAYLOAD / 2;
        if self.block_bytes == 0 || self.block_bytes > max_block {
            return Err(Error::Config(format!(
                "block_bytes must be 1..={max_block}, not {}",
                self.block_bytes
            )));
        }
        if self.segment_bytes == 0 {
            return Err(Error::Config("segment_bytes must be above 0".into()));
        }
        if let SyncPolicy::Group { interval } = self.sync
            && interval.is_zero()
        {
            return Err(Error::Config(
                "the group-commit interval must be above 0".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("group", SyncPolicy::Group { interval: DEFAULT_GROUP_INTERVAL })]
    #[case(" Always ", SyncPolicy::Always)]
    #[case("NEVER", SyncPolicy::Never)]
    fn parses_policy_names(#[case] text: &str, #[case] expected: SyncPolicy) {
        assert_eq!(text.parse::<SyncPolicy>().unwrap(), expected);
    }

    #[test]
    fn rejects_unknown_policy_and_sets_interval_apart() {
        assert!(matches!(
            "fsync".parse::<SyncPolicy>(),
            Err(Error::UnknownSyncPolicy(name)) if name == "fsync"
        ));
        let ms = Duration::from_millis(5);
        assert_eq!(
            SyncPolicy::default().with_interval(ms),
            SyncPolicy::Group { interval: ms }
        );
        assert_eq!(SyncPolicy::Always.with_interval(ms), SyncPolicy::Always);
    }

    #[test]
    fn validates_sizes_and_interval() {
        let config = JournalConfig::new("/tmp/j");
        assert!(config.validate().is_ok());
        for bad in [
            JournalConfig {
                block_bytes: 0,
                ..config.clone()
            },
            JournalConfig {
                segment_bytes: 0,
                ..config.clone()
            },
            JournalConfig {
                sync: SyncPolicy::Group {
                    interval: Duration::ZERO,
                },
                ..config.clone()
            },
        ] {
            assert!(matches!(bad.validate(), Err(Error::Config(_))), "{bad:?}");
        }
    }
}
