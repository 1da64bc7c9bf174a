//! Persistence of pod sandboxes in `berth.db` (table `sandboxes`, one JSON document each).

use berth_store::db::{Db, SqlResultExt};
use berth_types::{Error, Result};
use rusqlite::params;

use super::PodRecord;

/// Schema steps for the `sandboxes` subsystem; append only.
const MIGRATIONS: &[&str] = &["CREATE TABLE sandboxes (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);"];

pub(crate) struct PodRepo {
    db: Db,
}

fn to_json(p: &PodRecord) -> Result<String> {
    serde_json::to_string(p).map_err(|e| Error::internal(e.to_string()))
}

impl PodRepo {
    pub fn open(db: Db) -> Result<Self> {
        db.migrate("sandboxes", MIGRATIONS)?;
        Ok(Self { db })
    }

    pub fn insert(&self, p: &PodRecord) -> Result<()> {
        let doc = to_json(p)?;
        self.db
            .with(|conn| {
                conn.execute(
                    "INSERT INTO sandboxes (id, doc) VALUES (?1, ?2)",
                    params![p.id, doc],
                )
                .db_err()
            })
            .map(|_| ())
    }

    pub fn save(&self, p: &PodRecord) -> Result<()> {
        let doc = to_json(p)?;
        self.db
            .with(|conn| {
                conn.execute(
                    "UPDATE sandboxes SET doc = ?2 WHERE id = ?1",
                    params![p.id, doc],
                )
                .db_err()
            })
            .map(|_| ())
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        self.db
            .with(|conn| {
                conn.execute("DELETE FROM sandboxes WHERE id = ?1", params![id])
                    .db_err()
            })
            .map(|_| ())
    }

    pub fn load_all(&self) -> Result<Vec<PodRecord>> {
        let docs: Vec<String> = self.db.with(|conn| {
            let mut stmt = conn.prepare("SELECT doc FROM sandboxes").db_err()?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).db_err()?;
            rows.collect::<Result<Vec<_>, _>>().db_err()
        })?;
        docs.iter()
            .map(|d| {
                serde_json::from_str(d)
                    .map_err(|e| Error::internal(format!("corrupt sandbox record: {e}")))
            })
            .collect()
    }
}
