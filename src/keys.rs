//! API keys: created, listed and revoked by `nexamd keys`, checked by the auth layer.
//!
//! A key reads `nxk_<id>_<secret>`: `id` is 12 hex digits that name the key (in lists, logs
//! and `keys revoke`), `secret` is 32 random bytes in hex. The data directory's database
//! (`meta.sqlite`, table `api_keys`) keeps the id, the principal, the role, and the SHA-256 of
//! the whole key, never the key itself: whoever reads the database cannot present a key.
//! Keys are 256-bit random, so one unsalted fast hash is enough; checking compares hashes in
//! constant time.
//!
//! The engine reads the table on every check (a point query on the primary key), so a key
//! created or revoked by the CLI while the engine runs counts from the next request.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use engine::access::{Identity, Role};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{Connection, OptionalExtension, params};

/// The prefix of every key.
const PREFIX: &str = "nxk_";
/// Hex digits in a key id.
const ID_HEX: usize = 12;
/// Random bytes in a key's secret.
const SECRET_BYTES: usize = 32;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT    PRIMARY KEY,
    principal   TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('viewer', 'trader', 'admin')),
    hash        BLOB    NOT NULL,
    created_ts  INTEGER NOT NULL,
    revoked_ts  INTEGER
) STRICT";

/// One key as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's id.
    pub id: String,
    /// Who it acts for.
    pub principal: String,
    /// What it may do.
    pub role: Role,
    /// When it was created (ns).
    pub created_ns: i64,
    /// When it was revoked (ns), if it was.
    pub revoked_ns: Option<i64>,
}

/// The key table of a data directory's database.
#[derive(Debug)]
pub struct KeyStore {
    conn: Mutex<Connection>,
}

impl KeyStore {
    /// Opens (creating if needed) `DATA_DIR/meta.sqlite` and its key table.
    pub fn open(data_dir: &Path) -> Result<KeyStore> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let path = data_dir.join("meta.sqlite");
        let conn =
            Connection::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute(SCHEMA, [])
            .with_context(|| format!("cannot create the key table in {}", path.display()))?;
        Ok(KeyStore {
            conn: Mutex::new(conn),
        })
    }

    /// Creates a key for `principal` with `role`; returns its info and the key itself, which
    /// is shown this once and never stored.
    pub fn create(&self, principal: &str, role: Role) -> Result<(KeyInfo, String)> {
        validate_principal(principal)?;
        let rng = SystemRandom::new();
        let mut id_bytes = [0u8; ID_HEX / 2];
        let mut secret = [0u8; SECRET_BYTES];
        rng.fill(&mut id_bytes)
            .and_then(|()| rng.fill(&mut secret))
            .map_err(|_| anyhow::anyhow!("the system random source failed"))?;
        let id = hex(&id_bytes);
        let key = format!("{PREFIX}{id}_{}", hex(&secret));
        let created_ns = engine::clock::now_ns();
        self.lock()
            .execute(
                "INSERT INTO api_keys (id, principal, role, hash, created_ts) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, principal, role.as_str(), hash(&key).as_ref(), created_ns],
            )
            .context("cannot store the key")?;
        let info = KeyInfo {
            id,
            principal: principal.to_owned(),
            role,
            created_ns,
            revoked_ns: None,
        };
        Ok((info, key))
    }

    /// Every key, oldest first.
    pub fn list(&self) -> Result<Vec<KeyInfo>> {
        let conn = self.lock();
        let mut statement = conn.prepare(
            "SELECT id, principal, role, created_ts, revoked_ts FROM api_keys ORDER BY created_ts, id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, i64>(3)?,
                row.get::<_, Option<i64>>(4)?,
            ))
        })?;
        let mut keys = Vec::new();
        for row in rows {
            let (id, principal, role, created_ns, revoked_ns) = row?;
            keys.push(KeyInfo {
                id,
                principal,
                role: role.parse().map_err(anyhow::Error::msg)?,
                created_ns,
                revoked_ns,
            });
        }
        Ok(keys)
    }

    /// Revokes the key named by its id (or by the whole key). Revoking a revoked key is
    /// an error, as is an unknown id.
    pub fn revoke(&self, id_or_key: &str) -> Result<KeyInfo> {
        let id = key_id(id_or_key).unwrap_or(id_or_key);
        let now = engine::clock::now_ns();
        let changed = self.lock().execute(
            "UPDATE api_keys SET revoked_ts = ?2 WHERE id = ?1 AND revoked_ts IS NULL",
            params![id, now],
        )?;
        let info = self.list()?.into_iter().find(|k| k.id == id);
        match (changed, info) {
            (1, Some(info)) => Ok(info),
            (_, Some(_)) => bail!("key {id} is already revoked"),
            (_, None) => bail!("no key {id}"),
        }
    }

    /// The identity a presented key acts for, or `None` for a malformed, unknown or revoked
    /// key. Errors are the database's.
    pub fn check(&self, key: &str) -> Result<Option<Identity>> {
        let Some(id) = key_id(key) else {
            return Ok(None);
        };
        let row = self
            .lock()
            .prepare(
                "SELECT principal, role, hash FROM api_keys WHERE id = ?1 AND revoked_ts IS NULL",
            )?
            .query_row([id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Vec<u8>>(2)?,
                ))
            })
            .optional()?;
        let Some((principal, role, stored)) = row else {
            return Ok(None);
        };
        if !constant_time_eq(&stored, hash(key).as_ref()) {
            return Ok(None);
        }
        let role: Role = role.parse().map_err(anyhow::Error::msg)?;
        Ok(Some(Identity {
            principal: principal.into(),
            role,
            key_id: Some(id.into()),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // The connection holds no invariant a panicking holder could break halfway.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The id inside a well-formed key (`nxk_<id>_<secret>`).
fn key_id(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_ok = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    (hex_ok(id, ID_HEX) && hex_ok(secret, SECRET_BYTES * 2)).then_some(id)
}

/// Principal names: 1 to 64 of letters, digits, `.`, `_`, `-`, `@`.
fn validate_principal(principal: &str) -> Result<()> {
    let ok = !principal.is_empty()
        && principal.len() <= 64
        && principal
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if !ok {
        bail!("invalid principal {principal:?}: 1 to 64 letters, digits, '.', '_', '-' or '@'");
    }
    Ok(())
}

fn hash(key: &str) -> ring::digest::Digest {
    digest(&SHA256, key.as_bytes())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_checked_listed_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(dir.path()).unwrap();
        let (info, key) = store.create("alice", Role::Trader).unwrap();
        assert!(key.starts_with("nxk_") && key.contains(&info.id));
        let identity = store.check(&key).unwrap().unwrap();
        assert_eq!(
            (&*identity.principal, identity.role),
            ("alice", Role::Trader)
        );
        assert_eq!(identity.key_id.as_deref(), Some(info.id.as_str()));

        // A wrong secret with a real id, a malformed key, an unknown id: all refused.
        let mut wrong = key.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '0' { '1' } else { '0' });
        for bad in [wrong.as_str(), "nxk_", "Bearer", &key[..key.len() - 1], ""] {
            assert!(store.check(bad).unwrap().is_none(), "{bad}");
        }
        // The database (and its write-ahead log) holds no key text.
        let secret = key.rsplit('_').next().unwrap();
        for file in ["meta.sqlite", "meta.sqlite-wal"] {
            let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }

        assert_eq!(store.list().unwrap(), std::slice::from_ref(&info));
        let revoked = store.revoke(&info.id).unwrap();
        assert!(revoked.revoked_ns.is_some());
        assert!(store.check(&key).unwrap().is_none(), "revoked");
        assert!(store.revoke(&info.id).is_err(), "twice");
        assert!(store.revoke("000000000000").is_err(), "unknown");
        assert!(store.create("no spaces", Role::Viewer).is_err());
    }
}
