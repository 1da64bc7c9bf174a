//! Persistence of container records in `berth.db` (table `containers`, one JSON document per
//! container).

use berth_store::db::{Db, SqlResultExt};
use berth_types::{Error, ErrorKind, Result};
use rusqlite::{params, OptionalExtension};

use crate::container::record::Container;

/// Schema steps for the `containers` subsystem; append only.
const MIGRATIONS: &[&str] = &["CREATE TABLE containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);"];

pub struct ContainerRepo {
    db: Db,
}

fn to_json(c: &Container) -> Result<String> {
    serde_json::to_string(c).map_err(|e| Error::internal(e.to_string()))
}

impl ContainerRepo {
    pub fn open(db: Db) -> Result<Self> {
        db.migrate("containers", MIGRATIONS)?;
        Ok(Self { db })
    }

    /// Inserts a new container; a taken name is a `Conflict`.
    pub fn insert(&self, c: &Container) -> Result<()> {
        let doc = to_json(c)?;
        self.db
            .with(|conn| {
                conn.execute(
                    "INSERT INTO containers (id, name, doc) VALUES (?1, ?2, ?3)",
                    params![c.id, c.name, doc],
                )
                .db_err()
            })
            .map(|_| ())
            .map_err(|e| {
                if e.kind == ErrorKind::Conflict {
                    Error::conflict(e.message)
                } else {
                    e
                }
            })
    }

    /// Writes the whole record (state, name) back.
    pub fn save(&self, c: &Container) -> Result<()> {
        let doc = to_json(c)?;
        self.db
            .with(|conn| {
                conn.execute(
                    "UPDATE containers SET name = ?2, doc = ?3 WHERE id = ?1",
                    params![c.id, c.name, doc],
                )
                .db_err()
            })
            .map(|_| ())
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        self.db
            .with(|conn| {
                conn.execute("DELETE FROM containers WHERE id = ?1", params![id])
                    .db_err()
            })
            .map(|_| ())
    }

    pub fn name_owner(&self, name: &str) -> Result<Option<String>> {
        self.db.with(|conn| {
            conn.query_row(
                "SELECT id FROM containers WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .db_err()
        })
    }

    pub fn load_all(&self) -> Result<Vec<Container>> {
        let docs: Vec<String> = self.db.with(|conn| {
            let mut stmt = conn.prepare("SELECT doc FROM containers").db_err()?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).db_err()?;
            rows.collect::<Result<Vec<_>, _>>().db_err()
        })?;
        docs.iter()
            .map(|d| {
                serde_json::from_str(d)
                    .map_err(|e| Error::internal(format!("corrupt container record: {e}")))
            })
            .collect()
    }
}
