//! The commit record, `DATA_DIR/storage.json`: which engine-written Parquet files are
//! committed, how far the journal is covered, and how far each instrument's bars are
//! persisted.
//!
//! A persist cycle writes its Parquet files (named by the next generation), then replaces
//! this file atomically: that rename is the commit. On start, engine-written files of a later
//! generation than the record's are leftovers of an interrupted cycle and are deleted (their
//! rows are rebuilt from the journal), and files a committed compaction replaced are deleted
//! if they are still there.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::columnar::write::sync_dir;
use crate::error::{Error, Result};

/// The record's file name under the data directory.
pub const STATE_FILE: &str = "storage.json";

/// The commit record.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Last committed generation; engine-written files are `part-<generation>.parquet`.
    pub generation: u64,
    /// Every tick with a journal index up to this one is in Parquet.
    pub ticks_through: u64,
    /// Replay the journal from this index on start (bars still open or in memory need it).
    pub replay_from: u64,
    /// Per instrument and base interval, the start of the last persisted final bar (ns).
    pub persisted: BTreeMap<String, BTreeMap<String, i64>>,
    /// Files replaced by a committed compaction, deleted after the commit.
    #[serde(default)]
    pub replaced: Vec<PathBuf>,
}

impl State {
    /// Reads the record under `root`; a missing file is a fresh start.
    pub fn load(root: &Path) -> Result<State> {
        let path = root.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                path,
                message: format!("bad commit record: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Error::io("cannot read", path)(e)),
        }
    }

    /// Writes the record atomically (temporary file, fsync, rename, fsync the directory).
    pub fn commit(&self, root: &Path) -> Result<()> {
        let path = root.join(STATE_FILE);
        let tmp = root.join(format!(".{STATE_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Corrupt {
            path: path.clone(),
            message: format!("cannot encode the commit record: {e}"),
        })?;
        let mut file = File::create(&tmp).map_err(Error::io("cannot create", &tmp))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(Error::io("cannot write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(Error::io("cannot rename into place", &path))?;
        sync_dir(root)
    }
}

/// The generation in an engine-written file name (`part-<generation>.parquet`).
pub fn file_generation(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("part-")?
        .strip_suffix(".parquet")?
        .parse()
        .ok()
}

/// The file name of generation `generation`.
pub fn part_name(generation: u64) -> String {
    format!("part-{generation:016}.parquet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_missing_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        let mut state = State {
            generation: 7,
            ticks_through: 100,
            replay_from: 42,
            ..State::default()
        };
        state
            .persisted
            .entry("SIM:AAA".into())
            .or_default()
            .insert("1m".into(), 60_000_000_000);
        state.commit(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), state);
        std::fs::write(dir.path().join(STATE_FILE), b"{not json").unwrap();
        assert!(State::load(dir.path()).is_err());
    }

    #[test]
    fn generations_come_from_part_names_only() {
        assert_eq!(
            file_generation(Path::new("a/part-0000000000000012.parquet")),
            Some(12)
        );
        assert_eq!(file_generation(Path::new("a/import-5.parquet")), None);
        assert_eq!(part_name(3), "part-0000000000000003.parquet");
    }
}
