//! Persistence of volume records in `berth.db` (table `volumes`). The data itself lives under
//! `<data-root>/volumes/<name>/_data`.

use std::collections::HashMap;

use berth_store::db::{Db, SqlResultExt};
use berth_types::{Error, Result};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

/// Schema steps for the `volumes` subsystem; append only.
const MIGRATIONS: &[&str] = &["CREATE TABLE volumes (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);"];

/// The label dockerd puts on volumes it created without a name (`-v /path`, image `VOLUME`).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// What berth keeps about one volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    /// RFC 3339, seconds.
    pub created_at: String,
    pub labels: HashMap<String, String>,
    /// The local driver's `type`, `device`, `o`.
    pub options: HashMap<String, String>,
    /// Whether the create gave driver options at all (even none: the docker CLI's `{}`); a
    /// volume made without them shows `Options: null`, as dockerd keeps them nil. Records from
    /// before this field show theirs.
    #[serde(default = "options_given_before")]
    pub options_given: bool,
}

fn options_given_before() -> bool {
    true
}

impl VolumeRecord {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }

    /// Options make the local driver mount something at `_data` on first use.
    pub fn needs_mount(&self) -> bool {
        !self.options.is_empty()
    }
}

pub struct VolumeStore {
    db: Db,
}

impl VolumeStore {
    pub fn open(db: Db) -> Result<Self> {
        db.migrate("volumes", MIGRATIONS)?;
        Ok(Self { db })
    }

    /// Inserts a record; `Ok(false)` when the name is taken (the caller decides what that means).
    pub fn insert(&self, v: &VolumeRecord) -> Result<bool> {
        let doc = serde_json::to_string(v).map_err(|e| Error::internal(e.to_string()))?;
        let n = self.db.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO volumes (name, doc) VALUES (?1, ?2)",
                params![v.name, doc],
            )
            .db_err()
        })?;
        Ok(n == 1)
    }

    pub fn get(&self, name: &str) -> Result<Option<VolumeRecord>> {
        let doc: Option<String> = self.db.with(|c| {
            c.query_row(
                "SELECT doc FROM volumes WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .db_err()
        })?;
        doc.map(|d| parse(&d)).transpose()
    }

    pub fn list(&self) -> Result<Vec<VolumeRecord>> {
        let docs: Vec<String> = self.db.with(|c| {
            let mut stmt = c
                .prepare("SELECT doc FROM volumes ORDER BY name")
                .db_err()?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).db_err()?;
            rows.collect::<Result<Vec<_>, _>>().db_err()
        })?;
        docs.iter().map(|d| parse(d)).collect()
    }

    pub fn delete(&self, name: &str) -> Result<()> {
        self.db
            .with(|c| {
                c.execute("DELETE FROM volumes WHERE name = ?1", params![name])
                    .db_err()
            })
            .map(|_| ())
    }
}

fn parse(doc: &str) -> Result<VolumeRecord> {
    serde_json::from_str(doc).map_err(|e| Error::internal(format!("corrupt volume record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_names_are_unique() {
        let store = VolumeStore::open(Db::open_in_memory().expect("db")).expect("open");
        let v = VolumeRecord {
            name: "data".into(),
            driver: "local".into(),
            created_at: "2024-01-01T00:00:00Z".into(),
            labels: HashMap::from([(ANONYMOUS_LABEL.to_string(), String::new())]),
            options: HashMap::new(),
            options_given: false,
        };
        assert!(store.insert(&v).expect("insert"));
        assert!(!store.insert(&v).expect("second insert"));
        assert_eq!(store.get("data").expect("get"), Some(v.clone()));
        assert!(store
            .get("data")
            .expect("get")
            .is_some_and(|r| r.anonymous()));
        assert_eq!(store.list().expect("list").len(), 1);
        store.delete("data").expect("delete");
        assert_eq!(store.get("data").expect("get"), None);
    }
}
