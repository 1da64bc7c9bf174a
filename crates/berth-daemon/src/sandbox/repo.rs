//! Persistence of pod sandboxes in `berth.db` (table `sandboxes`, one JSON document each).

use berth_store::db::Db;
use berth_store::{DocTable, Document};
use berth_types::Result;

use super::PodRecord;

/// Schema steps for the `sandboxes` subsystem; append only.
const MIGRATIONS: &[&str] = &["CREATE TABLE sandboxes (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);"];

impl Document for PodRecord {
    const TABLE: &'static str = "sandboxes";
    const KIND: &'static str = "sandbox";
    fn id(&self) -> &str {
        &self.id
    }
}

pub(crate) struct PodRepo {
    docs: DocTable<PodRecord>,
}

impl PodRepo {
    pub fn open(db: Db) -> Result<Self> {
        db.migrate("sandboxes", MIGRATIONS)?;
        Ok(Self {
            docs: DocTable::new(db),
        })
    }

    pub fn insert(&self, p: &PodRecord) -> Result<()> {
        self.docs.insert(p)
    }

    pub fn save(&self, p: &PodRecord) -> Result<()> {
        self.docs.save(p)
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        self.docs.delete(id)
    }

    pub fn load_all(&self) -> Result<Vec<PodRecord>> {
        self.docs.load_all()
    }
}
