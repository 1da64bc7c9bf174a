//! Persistence of container records in `berth.db` (table `containers`, one JSON document per
//! container).

use berth_store::db::{Db, SqlResultExt};
use berth_store::{DocTable, Document};
use berth_types::Result;
use rusqlite::{params, OptionalExtension};

use crate::container::record::Container;

/// Schema steps for the `containers` subsystem; append only.
const MIGRATIONS: &[&str] = &["CREATE TABLE containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);"];

impl Document for Container {
    const TABLE: &'static str = "containers";
    const KIND: &'static str = "container";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> Option<&str> {
        Some(&self.name)
    }
}

pub struct ContainerRepo {
    docs: DocTable<Container>,
}

impl ContainerRepo {
    pub fn open(db: Db) -> Result<Self> {
        db.migrate("containers", MIGRATIONS)?;
        Ok(Self {
            docs: DocTable::new(db),
        })
    }

    /// Inserts a new container; a taken name is a `Conflict`.
    pub fn insert(&self, c: &Container) -> Result<()> {
        self.docs.insert(c)
    }

    /// Writes the whole record (state, name) back.
    pub fn save(&self, c: &Container) -> Result<()> {
        self.docs.save(c)
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        self.docs.delete(id)
    }

    pub fn name_owner(&self, name: &str) -> Result<Option<String>> {
        self.docs.db().with(|conn| {
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
        self.docs.load_all()
    }
}
