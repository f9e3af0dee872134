//! `[storage]` configuration: what the writer keeps, for how long, and how hard it syncs.

use std::time::Duration;

use serde::Deserialize;

/// How the journal makes appended ticks durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    /// A background thread fsyncs at most every `group_commit_ms` (default).
    #[default]
    Group,
    /// fsync after every batch of ticks read from the ring.
    Always,
    /// Never fsync: the operating system writes back when it likes.
    Never,
}

/// `[storage.journal]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalSettings {
    /// `group` (default), `always` or `never`.
    pub fsync: FsyncMode,
    /// Longest time between group commits, in milliseconds (default 50).
    pub group_commit_ms: u64,
    /// Segment size before a new segment starts, in MiB (default 64).
    pub segment_mib: u64,
}

impl Default for JournalSettings {
    fn default() -> Self {
        JournalSettings {
            fsync: FsyncMode::Group,
            group_commit_ms: 50,
            segment_mib: 64,
        }
    }
}

/// `[storage.retention]`: days each dataset is kept; 0 keeps it forever.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Trades and quotes (default 7).
    pub ticks_days: u32,
    /// 1-second bars (default 30).
    pub bars_1s_days: u32,
    /// 1-minute bars (default 0: kept).
    pub bars_1m_days: u32,
    /// Bars of any other stored interval, such as imported hourly bars (default 0: kept).
    pub bars_other_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            ticks_days: 7,
            bars_1s_days: 30,
            bars_1m_days: 0,
            bars_other_days: 0,
        }
    }
}

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Whether the writer runs (default true). Off, nothing is journaled or persisted and the
    /// history endpoints serve only what is already on disk.
    pub enabled: bool,
    /// How long after a bar closes a late trade still amends it, in milliseconds (default 2000).
    pub grace_ms: u64,
    /// How often final bars and ticks are written to Parquet, in milliseconds (default 10000).
    pub flush_interval_ms: u64,
    /// A day's partition holding more files than this is compacted into one (default 8).
    pub compact_files: usize,
    /// Most rows one history response may hold (default 1,000,000).
    pub max_rows: usize,
    /// Journal settings.
    pub journal: JournalSettings,
    /// Retention per dataset.
    pub retention: RetentionConfig,
    /// The optional QuestDB sink (`[storage.questdb]`); absent: off.
    pub questdb: Option<crate::questdb::QuestDbConfig>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            enabled: true,
            grace_ms: 2_000,
            flush_interval_ms: 10_000,
            compact_files: 8,
            max_rows: 1_000_000,
            journal: JournalSettings::default(),
            retention: RetentionConfig::default(),
            questdb: None,
        }
    }
}

impl StorageConfig {
    /// The grace period in nanoseconds.
    pub fn grace_ns(&self) -> i64 {
        i64::try_from(self.grace_ms)
            .unwrap_or(i64::MAX / 1_000_000)
            .saturating_mul(1_000_000)
    }

    /// The flush interval.
    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms.max(10))
    }

    /// Checks values serde cannot: returns the dotted key and the reason.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, reason: &str| Err((key.to_owned(), reason.to_owned()));
        if self.max_rows == 0 {
            return bad("storage.max_rows", "must be at least 1");
        }
        if self.compact_files < 2 {
            return bad("storage.compact_files", "must be at least 2");
        }
        if self.journal.segment_mib == 0 || self.journal.segment_mib > 4096 {
            return bad("storage.journal.segment_mib", "must be between 1 and 4096");
        }
        if self.journal.fsync == FsyncMode::Group && self.journal.group_commit_ms == 0 {
            return bad(
                "storage.journal.group_commit_ms",
                "must be at least 1 with fsync = \"group\"",
            );
        }
        if let Some(questdb) = &self.questdb
            && let Err(crate::questdb::QuestDbError::Config { key, reason }) = questdb.validate()
        {
            return Err((format!("storage.questdb.{key}"), reason));
        }
        Ok(())
    }
}
