//! Persistence of portfolios and transactions in SQLite (`DATA_DIR/meta.sqlite`).
//!
//! - WAL journal, foreign keys on, `synchronous = NORMAL` (a power cut may lose the last
//!   commits, never corrupt the file).
//! - The schema is built by [`MIGRATIONS`], applied in order, each in its own transaction that
//!   also records its number in `PRAGMA user_version`. A database whose version is above the
//!   number of migrations this code knows is refused ([`DbError::TooNew`]), never written.
//! - Amounts are exact integers of 1e-9 units (never `REAL`); times are integer ns since the
//!   epoch. Ids come from `AUTOINCREMENT`, so a deleted id is never handed out again.
//! - Every call that reads or changes one portfolio takes its owner: another owner's portfolio
//!   behaves exactly like one that does not exist.

use std::path::{Path, PathBuf};

use engine::{Price, Qty};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use thiserror::Error;

use crate::model::{CostBasis, Portfolio, PortfolioId, Transaction, TxKind};

/// The file name of the database under the data directory.
pub const FILE_NAME: &str = "meta.sqlite";

/// The schema, one migration per entry; entry `i` takes the database to version `i + 1`.
/// Append only: never edit a migration that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 1: portfolios and transactions.
    "CREATE TABLE portfolios (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        owner         TEXT    NOT NULL,
        name          TEXT    NOT NULL,
        base_currency TEXT    NOT NULL,
        cost_basis    TEXT    NOT NULL CHECK (cost_basis IN ('fifo', 'average')),
        allow_short   INTEGER NOT NULL DEFAULT 0 CHECK (allow_short IN (0, 1)),
        created_ts    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX portfolios_by_owner ON portfolios (owner, id);
    CREATE TABLE transactions (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        portfolio_id INTEGER NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
        kind         TEXT    NOT NULL
                     CHECK (kind IN ('buy', 'sell', 'deposit', 'withdrawal', 'fee', 'dividend')),
        instrument   TEXT,
        quantity     INTEGER NOT NULL, -- 1e-9 units
        price        INTEGER,          -- 1e-9 units
        fee          INTEGER,          -- 1e-9 units
        currency     TEXT,
        ts           INTEGER NOT NULL  -- ns since the epoch
    ) STRICT;
    CREATE INDEX transactions_by_time ON transactions (portfolio_id, ts, id);",
];

/// A database error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DbError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The directory of the database could not be created.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database was written by a newer nexamd.
    #[error(
        "database schema version {found} is newer than this build knows ({known}); \
         run a newer nexamd or restore a backup"
    )]
    TooNew {
        /// The database's `user_version`.
        found: i64,
        /// The newest version this code knows.
        known: i64,
    },
    /// A stored row holds a value this code cannot read.
    #[error("bad stored value in {table} row {id}: {reason}")]
    BadRow {
        /// The table.
        table: &'static str,
        /// The row id.
        id: i64,
        /// What is wrong.
        reason: String,
    },
    /// An id too large for SQLite (above `i64::MAX`).
    #[error("id {0} is out of range")]
    IdRange(u64),
}

/// A database result.
pub type Result<T> = std::result::Result<T, DbError>;

/// A portfolio to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPortfolioRow<'a> {
    /// The owning principal.
    pub owner: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Base currency code.
    pub base_currency: &'a str,
    /// FIFO or average.
    pub cost_basis: CostBasis,
    /// Whether shorts are allowed.
    pub allow_short: bool,
    /// Creation time, ns.
    pub created_ts: i64,
}

/// The portfolio and transaction store. One connection; share it behind a mutex.
#[derive(Debug)]
pub struct Db {
    conn: Connection,
}

fn sql_id(id: u64) -> Result<i64> {
    i64::try_from(id).map_err(|_| DbError::IdRange(id))
}

fn row_id(table: &'static str, id: i64) -> Result<u64> {
    u64::try_from(id).map_err(|_| DbError::BadRow {
        table,
        id,
        reason: "negative id".into(),
    })
}

const PORTFOLIO_COLUMNS: &str =
    "id, owner, name, base_currency, cost_basis, allow_short, created_ts";
const TX_COLUMNS: &str = "id, kind, instrument, quantity, price, fee, currency, ts";

/// A portfolio row as stored (its columns in order), before its text columns are checked.
type RawPortfolio = (i64, String, String, String, String, bool, i64);
/// A transaction row as stored (its columns in order).
type RawTx = (
    i64,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
);

fn portfolio_from(raw: RawPortfolio) -> Result<Portfolio> {
    let (id, owner, name, base_currency, basis, allow_short, created_ts) = raw;
    let cost_basis = CostBasis::from_name(&basis).ok_or_else(|| DbError::BadRow {
        table: "portfolios",
        id,
        reason: format!("cost basis {basis:?}"),
    })?;
    Ok(Portfolio {
        id: row_id("portfolios", id)?,
        owner,
        name,
        base_currency,
        cost_basis,
        allow_short,
        created_ts,
    })
}

fn tx_from(raw: RawTx) -> Result<Transaction> {
    let (id, kind, instrument, quantity, price, fee, currency, ts) = raw;
    let kind = TxKind::from_name(&kind).ok_or_else(|| DbError::BadRow {
        table: "transactions",
        id,
        reason: format!("kind {kind:?}"),
    })?;
    Ok(Transaction {
        id: row_id("transactions", id)?,
        kind,
        instrument,
        quantity: Qty::from_units(quantity),
        price: price.map(Price::from_units),
        fee: fee.map(Price::from_units),
        currency,
        ts,
    })
}

impl Db {
    /// Opens (creating it and its directory if needed) the database at `path` and brings its
    /// schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        // WAL: readers never block the writer; `journal_mode` answers the mode it set.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Db::setup(conn)
    }

    /// The database in `data_dir` ([`FILE_NAME`]).
    pub fn open_in(data_dir: impl AsRef<Path>) -> Result<Db> {
        Db::open(data_dir.as_ref().join(FILE_NAME))
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Db> {
        Db::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Db> {
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn, MIGRATIONS)?;
        Ok(Db { conn })
    }

    /// The schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Creates a portfolio; returns it with its new id.
    pub fn create_portfolio(&mut self, new: &NewPortfolioRow<'_>) -> Result<Portfolio> {
        self.conn.execute(
            "INSERT INTO portfolios (owner, name, base_currency, cost_basis, allow_short, created_ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                new.owner,
                new.name,
                new.base_currency,
                new.cost_basis.as_str(),
                new.allow_short,
                new.created_ts
            ],
        )?;
        Ok(Portfolio {
            id: row_id("portfolios", self.conn.last_insert_rowid())?,
            owner: new.owner.to_owned(),
            name: new.name.to_owned(),
            base_currency: new.base_currency.to_owned(),
            cost_basis: new.cost_basis,
            allow_short: new.allow_short,
            created_ts: new.created_ts,
        })
    }

    /// `owner`'s portfolio `id`; `None` if there is none (or it is another owner's).
    pub fn portfolio(&self, owner: &str, id: PortfolioId) -> Result<Option<Portfolio>> {
        let raw = self
            .conn
            .query_row(
                &format!("SELECT {PORTFOLIO_COLUMNS} FROM portfolios WHERE id = ?1 AND owner = ?2"),
                params![sql_id(id)?, owner],
                |row| RawPortfolio::try_from(row),
            )
            .optional()?;
        raw.map(portfolio_from).transpose()
    }

    /// `owner`'s portfolios, by id.
    pub fn portfolios(&self, owner: &str) -> Result<Vec<Portfolio>> {
        self.select_portfolios("WHERE owner = ?1 ORDER BY id", Some(owner))
    }

    /// Every portfolio of every owner, by id: for loading the live state at start, never for
    /// answering a request.
    pub fn all_portfolios(&self) -> Result<Vec<Portfolio>> {
        self.select_portfolios("ORDER BY id", None)
    }

    fn select_portfolios(&self, tail: &str, owner: Option<&str>) -> Result<Vec<Portfolio>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {PORTFOLIO_COLUMNS} FROM portfolios {tail}"
        ))?;
        let rows = stmt
            .query_map(params_from_iter(owner), |row| RawPortfolio::try_from(row))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(portfolio_from).collect()
    }

    /// Renames `owner`'s portfolio `id`; returns it renamed, or `None` if there is none.
    pub fn rename_portfolio(
        &mut self,
        owner: &str,
        id: PortfolioId,
        name: &str,
    ) -> Result<Option<Portfolio>> {
        let changed = self.conn.execute(
            "UPDATE portfolios SET name = ?1 WHERE id = ?2 AND owner = ?3",
            params![name, sql_id(id)?, owner],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        self.portfolio(owner, id)
    }

    /// Deletes `owner`'s portfolio `id` and its transactions; false if there was none.
    pub fn delete_portfolio(&mut self, owner: &str, id: PortfolioId) -> Result<bool> {
        let changed = self.conn.execute(
            "DELETE FROM portfolios WHERE id = ?1 AND owner = ?2",
            params![sql_id(id)?, owner],
        )?;
        Ok(changed > 0)
    }

    /// The transactions of `owner`'s portfolio `id` in (ts, id) order; `None` if there is no
    /// such portfolio.
    pub fn transactions(&self, owner: &str, id: PortfolioId) -> Result<Option<Vec<Transaction>>> {
        if self.portfolio(owner, id)?.is_none() {
            return Ok(None);
        }
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {TX_COLUMNS} FROM transactions WHERE portfolio_id = ?1 ORDER BY ts, id"
        ))?;
        let rows = stmt
            .query_map([sql_id(id)?], |row| RawTx::try_from(row))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(tx_from)
            .collect::<Result<_>>()
            .map(Some)
    }

    /// Records `tx` (its `id` is ignored) in `owner`'s portfolio `id`; returns it with its new
    /// id, or `None` if there is no such portfolio.
    pub fn insert_transaction(
        &mut self,
        owner: &str,
        id: PortfolioId,
        tx: &Transaction,
    ) -> Result<Option<Transaction>> {
        let db_tx = self.conn.transaction()?;
        let inserted = db_tx.execute(
            "INSERT INTO transactions
                 (portfolio_id, kind, instrument, quantity, price, fee, currency, ts)
             SELECT id, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM portfolios WHERE id = ?1 AND owner = ?2",
            params![
                sql_id(id)?,
                owner,
                tx.kind.as_str(),
                tx.instrument,
                tx.quantity.units(),
                tx.price.map(Price::units),
                tx.fee.map(Price::units),
                tx.currency,
                tx.ts
            ],
        )?;
        if inserted == 0 {
            return Ok(None);
        }
        let new_id = row_id("transactions", db_tx.last_insert_rowid())?;
        db_tx.commit()?;
        Ok(Some(Transaction {
            id: new_id,
            ..tx.clone()
        }))
    }

    /// Deletes transaction `tx_id` of `owner`'s portfolio `id`; false if there was none.
    pub fn delete_transaction(&mut self, owner: &str, id: PortfolioId, tx_id: u64) -> Result<bool> {
        let changed = self.conn.execute(
            "DELETE FROM transactions WHERE id = ?1 AND portfolio_id IN
                 (SELECT id FROM portfolios WHERE id = ?2 AND owner = ?3)",
            params![sql_id(tx_id)?, sql_id(id)?, owner],
        )?;
        Ok(changed > 0)
    }
}

/// Applies the migrations the database has not seen, in order.
fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<()> {
    let known = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > known {
        return Err(DbError::TooNew { found, known });
    }
    for (version, sql) in (1..)
        .zip(migrations)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "meta.sqlite migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_row<'a>(owner: &'a str, name: &'a str) -> NewPortfolioRow<'a> {
        NewPortfolioRow {
            owner,
            name,
            base_currency: "USD",
            cost_basis: CostBasis::Average,
            allow_short: true,
            created_ts: 42,
        }
    }

    fn tx(kind: TxKind, ts: i64, quantity: &str) -> Transaction {
        Transaction {
            id: 0,
            kind,
            instrument: Some("SIM:AAA".into()),
            quantity: quantity.parse().unwrap(),
            price: Some("100.000000001".parse().unwrap()),
            fee: None,
            currency: None,
            ts,
        }
    }

    #[test]
    fn migrates_to_the_latest_version_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(FILE_NAME);
        let db = Db::open(&path).unwrap();
        assert_eq!(db.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let mode: String = db
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = db
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        drop(db);
        // Reopening applies nothing twice.
        let db = Db::open(&path).unwrap();
        assert_eq!(db.schema_version().unwrap(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        drop(Db::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        match Db::open(&path) {
            Err(DbError::TooNew { found: 99, known }) => {
                assert_eq!(known, MIGRATIONS.len() as i64)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn migrations_apply_in_order_from_the_recorded_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &["CREATE TABLE a (x INTEGER)"]).unwrap();
        migrate(
            &mut conn,
            &["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y INTEGER)"],
        )
        .unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2);
        // A failing migration leaves the version where it was.
        let err = migrate(&mut conn, &["", "", "CREATE TABLE c (z INTEGER); NOT SQL"]);
        assert!(err.is_err());
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2);
        let c_exists: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'c'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(c_exists, 0);
    }

    #[test]
    fn portfolios_are_owner_scoped() {
        let mut db = Db::open_in_memory().unwrap();
        let a = db.create_portfolio(&new_row("alice", "A")).unwrap();
        let b = db.create_portfolio(&new_row("bob", "B")).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(db.portfolio("alice", a.id).unwrap(), Some(a.clone()));
        assert_eq!(db.portfolio("bob", a.id).unwrap(), None);
        assert_eq!(db.portfolios("alice").unwrap(), vec![a.clone()]);
        assert_eq!(db.all_portfolios().unwrap().len(), 2);
        assert_eq!(db.rename_portfolio("bob", a.id, "x").unwrap(), None);
        assert!(!db.delete_portfolio("bob", a.id).unwrap());
        assert_eq!(
            db.insert_transaction("bob", a.id, &tx(TxKind::Buy, 1, "1"))
                .unwrap(),
            None
        );
        assert_eq!(db.transactions("bob", a.id).unwrap(), None);
        let renamed = db.rename_portfolio("alice", a.id, "A2").unwrap().unwrap();
        assert_eq!(renamed.name, "A2");
        assert!(db.portfolio("alice", u64::MAX).is_err());
    }

    #[test]
    fn transactions_round_trip_exactly_in_time_then_id_order() {
        let mut db = Db::open_in_memory().unwrap();
        let p = db.create_portfolio(&new_row("alice", "A")).unwrap();
        let late = db
            .insert_transaction("alice", p.id, &tx(TxKind::Buy, 20, "1"))
            .unwrap()
            .unwrap();
        let early = db
            .insert_transaction("alice", p.id, &tx(TxKind::Buy, 10, "0.000000001"))
            .unwrap()
            .unwrap();
        let mut cash = tx(TxKind::Deposit, 20, "5");
        cash.instrument = None;
        cash.price = None;
        cash.fee = Some("0.5".parse().unwrap());
        cash.currency = Some("EUR".into());
        let same_ts = db
            .insert_transaction("alice", p.id, &cash)
            .unwrap()
            .unwrap();
        let list = db.transactions("alice", p.id).unwrap().unwrap();
        assert_eq!(list, vec![early.clone(), late.clone(), same_ts.clone()]);
        assert_eq!(list[0].quantity, "0.000000001".parse().unwrap());
        assert!(!db.delete_transaction("bob", p.id, late.id).unwrap());
        assert!(db.delete_transaction("alice", p.id, late.id).unwrap());
        assert!(!db.delete_transaction("alice", p.id, late.id).unwrap());
        // Deleting the portfolio deletes its transactions (foreign key cascade).
        assert!(db.delete_portfolio("alice", p.id).unwrap());
        let left: i64 = db
            .conn
            .query_row("SELECT count(*) FROM transactions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
        // Ids are not reused.
        let again = db.create_portfolio(&new_row("alice", "A")).unwrap();
        assert!(again.id > p.id);
    }
}
