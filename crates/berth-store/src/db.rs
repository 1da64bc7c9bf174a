//! The SQLite metadata database and its per-subsystem migrations.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use berth_types::Error;
use rusqlite::{Connection, Transaction};

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database lock poisoned: a thread panicked while holding it")]
    Poisoned,
    #[error("schema of {subsystem} is at version {found}, newer than this berth knows ({known})")]
    SchemaTooNew {
        subsystem: String,
        found: i64,
        known: i64,
    },
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        match &e {
            DbError::Sqlite(rusqlite::Error::QueryReturnedNoRows) => {
                Error::not_found(e.to_string())
            }
            DbError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Error::conflict(e.to_string())
            }
            _ => Error::internal(e.to_string()),
        }
    }
}

/// A handle on `berth.db`, cheap to clone and safe to share between threads.
///
/// One connection behind a mutex: SQLite serialises writers anyway, and the daemon's metadata
/// queries are short, so a pool would buy nothing but `SQLITE_BUSY` handling.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating if needed) the database at `path`, in WAL mode with foreign keys on.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DbError> {
        let conn = Connection::open(path)?;
        Self::configure(conn)
    }

    /// An in-memory database (tests, tools).
    pub fn open_in_memory() -> Result<Self, DbError> {
        Self::configure(Connection::open_in_memory()?)
    }

    fn configure(conn: Connection) -> Result<Self, DbError> {
        conn.busy_timeout(Duration::from_secs(10))?;
        // journal_mode returns a row; in-memory databases answer "memory", which is fine.
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch(
            "PRAGMA foreign_keys=ON;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS schema_versions (
                 subsystem TEXT PRIMARY KEY,
                 version INTEGER NOT NULL
             );",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, DbError> {
        self.conn.lock().map_err(|_| DbError::Poisoned)
    }

    /// Runs `f` with the connection (no transaction: autocommit per statement).
    pub fn with<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let conn = self.lock()?;
        f(&conn)
    }

    /// Runs `f` inside a transaction, committed when `f` returns `Ok`, rolled back otherwise.
    pub fn transaction<T, E>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<DbError>,
    {
        let mut conn = self.lock()?;
        let tx = conn.transaction().map_err(DbError::from)?;
        let out = f(&tx)?;
        tx.commit().map_err(DbError::from)?;
        Ok(out)
    }

    /// The schema version recorded for `subsystem` (0 when it has none yet).
    pub fn schema_version(&self, subsystem: &str) -> Result<i64, DbError> {
        self.with(|c| version_of(c, subsystem))
    }

    /// Brings `subsystem`'s schema up to date: statement `i` of `steps` is version `i + 1`; the
    /// steps not yet applied run in order within one transaction, so a failure leaves the schema
    /// where it was. Steps must only ever be appended, never edited.
    pub fn migrate(&self, subsystem: &str, steps: &[&str]) -> Result<(), DbError> {
        let known = steps.len() as i64;
        self.transaction(|tx| {
            let current = version_of(tx, subsystem)?;
            if current > known {
                return Err(DbError::SchemaTooNew {
                    subsystem: subsystem.to_string(),
                    found: current,
                    known,
                });
            }
            if current == known {
                return Ok(());
            }
            for step in &steps[current as usize..] {
                tx.execute_batch(step)?;
            }
            tx.execute(
                "INSERT INTO schema_versions (subsystem, version) VALUES (?1, ?2)
                 ON CONFLICT(subsystem) DO UPDATE SET version = excluded.version",
                rusqlite::params![subsystem, known],
            )?;
            Ok(())
        })
    }
}

/// Converts SQLite results straight into [`berth_types::Error`], for closures passed to
/// [`Db::with`] / [`Db::transaction`] that return berth's error type.
pub trait SqlResultExt<T> {
    fn db_err(self) -> Result<T, Error>;
}

impl<T> SqlResultExt<T> for Result<T, rusqlite::Error> {
    fn db_err(self) -> Result<T, Error> {
        self.map_err(|e| Error::from(DbError::from(e)))
    }
}

fn version_of(conn: &Connection, subsystem: &str) -> Result<i64, DbError> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row(
            "SELECT version FROM schema_versions WHERE subsystem = ?1",
            [subsystem],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(db: &Db, sql: &str) -> i64 {
        db.with(|c| {
            c.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map_err(DbError::from)
        })
        .expect("count")
    }

    #[test]
    fn migrations_apply_once_in_order_and_resume() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("berth.db");
        let db = Db::open(&path).expect("open");
        let v1 = ["CREATE TABLE t (id TEXT PRIMARY KEY)"];
        db.migrate("things", &v1).expect("v1");
        db.migrate("things", &v1).expect("v1 again is a no-op");
        assert_eq!(db.schema_version("things").expect("version"), 1);

        // Reopen and append a step: only the new one runs (the first would fail if re-run).
        drop(db);
        let db = Db::open(&path).expect("reopen");
        let v2 = [
            "CREATE TABLE t (id TEXT PRIMARY KEY)",
            "ALTER TABLE t ADD COLUMN name TEXT",
        ];
        db.migrate("things", &v2).expect("v2");
        assert_eq!(db.schema_version("things").expect("version"), 2);
        db.with(|c| {
            c.execute("INSERT INTO t (id, name) VALUES ('a', 'b')", [])
                .map_err(DbError::from)
        })
        .expect("insert");
        assert_eq!(count(&db, "SELECT count(*) FROM t"), 1);
        assert!(matches!(
            db.migrate("things", &v1),
            Err(DbError::SchemaTooNew { .. })
        ));
        let mode: String = db
            .with(|c| {
                c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .map_err(DbError::from)
            })
            .expect("mode");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn failed_migration_leaves_schema_untouched() {
        let db = Db::open_in_memory().expect("open");
        let steps = ["CREATE TABLE a (x INTEGER)", "THIS IS NOT SQL"];
        assert!(db.migrate("broken", &steps).is_err());
        assert_eq!(db.schema_version("broken").expect("version"), 0);
        assert_eq!(
            count(&db, "SELECT count(*) FROM sqlite_master WHERE name = 'a'"),
            0
        );
    }

    #[test]
    fn foreign_keys_are_enforced_and_errors_map_to_kinds() {
        let db = Db::open_in_memory().expect("open");
        db.migrate(
            "fk",
            &["CREATE TABLE p (id TEXT PRIMARY KEY); CREATE TABLE c (p TEXT NOT NULL REFERENCES p(id))"],
        )
        .expect("migrate");
        let err = db
            .with(|c| {
                c.execute("INSERT INTO c (p) VALUES ('missing')", [])
                    .map_err(DbError::from)
            })
            .expect_err("fk violation");
        assert_eq!(Error::from(err).kind, berth_types::ErrorKind::Conflict);
    }

    #[test]
    fn transaction_rolls_back_on_error() {
        let db = Db::open_in_memory().expect("open");
        db.migrate("t", &["CREATE TABLE t (x INTEGER)"])
            .expect("migrate");
        let r: Result<(), DbError> = db.transaction(|tx| {
            tx.execute("INSERT INTO t VALUES (1)", [])?;
            Err(DbError::Poisoned)
        });
        assert!(r.is_err());
        assert_eq!(count(&db, "SELECT count(*) FROM t"), 0);
    }
}
