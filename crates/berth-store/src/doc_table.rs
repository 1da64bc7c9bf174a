//! Tables of JSON documents, one row per record: `id`, a unique `name` when the record has
//! one, and the record's serde form in `doc`. Containers, networks and pod sandboxes are kept
//! this way; each repo adds its own queries beside these.

use std::marker::PhantomData;

use berth_types::{Error, Result};
use rusqlite::params;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::db::{Db, SqlResultExt};

/// A record kept as one JSON document per row.
pub trait Document: Serialize + DeserializeOwned {
    /// The table (a constant of the code, never input).
    const TABLE: &'static str;
    /// What a record is called in errors (`corrupt container record: …`).
    const KIND: &'static str;
    fn id(&self) -> &str;
    /// The value of the table's unique `name` column; `None` for tables without one.
    fn name(&self) -> Option<&str> {
        None
    }
}

/// The rows of one [`Document`] table.
pub struct DocTable<T> {
    db: Db,
    _records: PhantomData<fn() -> T>,
}

impl<T: Document> DocTable<T> {
    /// The table on `db`; its schema is the owner's migration (see [`Db::migrate`]).
    pub fn new(db: Db) -> Self {
        Self {
            db,
            _records: PhantomData,
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Inserts a new record; a taken id or name is a `Conflict`.
    pub fn insert(&self, record: &T) -> Result<()> {
        self.write(
            record,
            "INSERT INTO {table} (id, name, doc) VALUES (?1, ?2, ?3)",
            "INSERT INTO {table} (id, doc) VALUES (?1, ?2)",
        )
    }

    /// Writes the whole record (and its name) back.
    pub fn save(&self, record: &T) -> Result<()> {
        self.write(
            record,
            "UPDATE {table} SET name = ?2, doc = ?3 WHERE id = ?1",
            "UPDATE {table} SET doc = ?2 WHERE id = ?1",
        )
    }

    /// Runs `named` (parameters id, name, doc) for a record with a name, else `unnamed` (id,
    /// doc); `{table}` in either is the record's table.
    fn write(&self, record: &T, named: &str, unnamed: &str) -> Result<()> {
        let doc = to_json(record)?;
        let sql = |s: &str| s.replace("{table}", T::TABLE);
        self.db
            .with(|conn| {
                match record.name() {
                    Some(name) => conn.execute(&sql(named), params![record.id(), name, doc]),
                    None => conn.execute(&sql(unnamed), params![record.id(), doc]),
                }
                .db_err()
            })
            .map(|_| ())
    }

    /// Removes the row of `id` (none is not an error).
    pub fn delete(&self, id: &str) -> Result<()> {
        let table = T::TABLE;
        self.db
            .with(|conn| {
                conn.execute(&format!("DELETE FROM {table} WHERE id = ?1"), params![id])
                    .db_err()
            })
            .map(|_| ())
    }

    /// Every record; a row that does not parse is an internal error naming the kind.
    pub fn load_all(&self) -> Result<Vec<T>> {
        let table = T::TABLE;
        let docs: Vec<String> = self.db.with(|conn| {
            let mut stmt = conn.prepare(&format!("SELECT doc FROM {table}")).db_err()?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).db_err()?;
            rows.collect::<Result<Vec<_>, _>>().db_err()
        })?;
        docs.iter()
            .map(|d| {
                serde_json::from_str(d)
                    .map_err(|e| Error::internal(format!("corrupt {} record: {e}", T::KIND)))
            })
            .collect()
    }
}

fn to_json<T: Serialize>(record: &T) -> Result<String> {
    serde_json::to_string(record).map_err(|e| Error::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::ErrorKind;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Thing {
        id: String,
        name: String,
        size: u32,
    }

    impl Document for Thing {
        const TABLE: &'static str = "things";
        const KIND: &'static str = "thing";
        fn id(&self) -> &str {
            &self.id
        }
        fn name(&self) -> Option<&str> {
            Some(&self.name)
        }
    }

    fn table() -> DocTable<Thing> {
        let db = Db::open_in_memory().expect("works");
        db.migrate(
            "things",
            &["CREATE TABLE things (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);"],
        )
        .expect("works");
        DocTable::new(db)
    }

    fn thing(id: &str, name: &str, size: u32) -> Thing {
        Thing {
            id: id.into(),
            name: name.into(),
            size,
        }
    }

    #[test]
    fn insert_save_delete_and_load_round_trip() {
        let t = table();
        t.insert(&thing("a", "one", 1)).expect("works");
        t.insert(&thing("b", "two", 2)).expect("works");
        t.save(&thing("a", "uno", 3)).expect("works");
        t.delete("b").expect("works");
        t.delete("never-there").expect("works");
        assert_eq!(t.load_all().expect("works"), vec![thing("a", "uno", 3)]);
    }

    #[test]
    fn a_taken_name_is_a_conflict() {
        let t = table();
        t.insert(&thing("a", "one", 1)).expect("works");
        let err = t.insert(&thing("b", "one", 2)).expect_err("an error");
        assert_eq!(err.kind, ErrorKind::Conflict);
    }

    #[test]
    fn a_corrupt_row_is_named() {
        let t = table();
        t.db()
            .with(|c| {
                c.execute(
                    "INSERT INTO things (id, name, doc) VALUES ('x', 'x', '{')",
                    [],
                )
                .db_err()
            })
            .expect("works");
        let err = t.load_all().expect_err("an error");
        assert!(
            err.message.starts_with("corrupt thing record"),
            "{}",
            err.message
        );
    }
}
