//! Persistence of container records in `berth.db` (table `containers`).

use std::path::Path;
use std::sync::Mutex;

use berth_types::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension};

use crate::container::Container;

pub struct ContainerRepo {
    conn: Mutex<Connection>,
}

fn db_err(e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.code == rusqlite::ErrorCode::ConstraintViolation {
            return Error::conflict(e.to_string());
        }
    }
    Error::internal(format!("database: {e}"))
}

impl ContainerRepo {
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db_err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS containers (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                doc TEXT NOT NULL
            );",
        )
        .map_err(db_err)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn.lock().map_err(|_| Error::internal("database lock poisoned"))
    }

    /// Inserts a new container; a taken name is a `Conflict`.
    pub fn insert(&self, c: &Container) -> Result<()> {
        let doc = serde_json::to_string(c).map_err(|e| Error::internal(e.to_string()))?;
        self.lock()?
            .execute("INSERT INTO containers (id, name, doc) VALUES (?1, ?2, ?3)", params![c.id, c.name, doc])
            .map_err(db_err)?;
        Ok(())
    }

    /// Writes the whole record (state, name) back.
    pub fn save(&self, c: &Container) -> Result<()> {
        let doc = serde_json::to_string(c).map_err(|e| Error::internal(e.to_string()))?;
        self.lock()?
            .execute("UPDATE containers SET name = ?2, doc = ?3 WHERE id = ?1", params![c.id, c.name, doc])
            .map_err(db_err)?;
        Ok(())
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        self.lock()?.execute("DELETE FROM containers WHERE id = ?1", params![id]).map_err(db_err)?;
        Ok(())
    }

    pub fn name_owner(&self, name: &str) -> Result<Option<String>> {
        self.lock()?
            .query_row("SELECT id FROM containers WHERE name = ?1", params![name], |r| r.get(0))
            .optional()
            .map_err(db_err)
    }

    pub fn load_all(&self) -> Result<Vec<Container>> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare("SELECT doc FROM containers").map_err(db_err)?;
        let docs = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        docs.iter()
            .map(|d| serde_json::from_str(d).map_err(|e| Error::internal(format!("corrupt container record: {e}"))))
            .collect()
    }
}
