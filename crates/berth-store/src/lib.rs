//! berth-store: the daemon's persistent state below the services.
//!
//! * [`Db`] — the SQLite database (`<data-root>/berth.db`, WAL, foreign keys on), shared across
//!   threads, with per-subsystem schema migrations ([`Db::migrate`]).
//! * [`DocTable`] — a table of JSON documents keyed by id (containers, networks, sandboxes).
//! * [`ContentStore`] — content-addressed blobs under `content/blobs/sha256/<hex>`, written
//!   through `content/ingest/` so that a partial blob is never visible.
//! * [`Leases`] — in-memory leases that protect blobs and layers an operation is still writing
//!   from garbage collection.
//!
//! Errors are per-module `thiserror` enums that convert into [`berth_types::Error`].

pub mod content;
pub mod db;
pub mod doc_table;
pub mod lease;

pub use content::{BlobWriter, ContentError, ContentStore, ParkedBlob};
pub use db::{Db, DbError, SqlResultExt};
pub use doc_table::{DocTable, Document};
pub use lease::{Frozen, Lease, LeaseError, Leases};
pub use rusqlite;
