//! Leases: what an operation that is still writing content protects from garbage collection.
//!
//! An import (later: load, commit, pull) writes blobs and unpacks layers before the database
//! rows that reference them exist. Between the two, the content is unreferenced, so a
//! concurrent prune or GC would see garbage. The writer therefore takes a [`Lease`] first and
//! adds each blob and layer to it *before* making it visible (before the rename into
//! `blobs/sha256/` or `overlay/`); it drops the lease only after its rows are committed.
//!
//! The registry is in memory: a lease only has to outlive an operation of this daemon process.
//! After a crash nothing is writing any more, so whatever the crashed operation left
//! unreferenced is garbage, and the startup GC removes it.
//!
//! A collector calls [`Leases::freeze`] and keeps the returned guard while it decides what to
//! delete *and* deletes it: a writer that adds a resource meanwhile waits, then checks for the
//! resource's existence after the collector is done, so it never reuses something the
//! collector is about to remove.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_types::Digest;

/// Why a lease operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("lease table lock poisoned: a thread panicked while holding it")]
    Poisoned,
}

impl From<LeaseError> for berth_types::Error {
    fn from(e: LeaseError) -> Self {
        berth_types::Error::internal(e.to_string())
    }
}

#[derive(Debug, Default)]
struct Entry {
    purpose: String,
    blobs: BTreeSet<Digest>,
    layers: BTreeSet<Digest>,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    held: BTreeMap<u64, Entry>,
}

/// The registry of active leases. Cheap to clone; clones share the table.
#[derive(Debug, Clone, Default)]
pub struct Leases {
    table: Arc<Mutex<Table>>,
}

fn lock(table: &Mutex<Table>) -> Result<MutexGuard<'_, Table>, LeaseError> {
    table.lock().map_err(|_| LeaseError::Poisoned)
}

impl Leases {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a new, empty lease; `purpose` names the operation (for logs and `system check`).
    pub fn acquire(&self, purpose: &str) -> Result<Lease, LeaseError> {
        let mut t = lock(&self.table)?;
        t.next_id += 1;
        let id = t.next_id;
        t.held.insert(
            id,
            Entry {
                purpose: purpose.to_string(),
                ..Entry::default()
            },
        );
        Ok(Lease {
            inner: Arc::new(Handle {
                id,
                table: self.table.clone(),
            }),
        })
    }

    /// Blocks new protections until the guard is dropped and tells what is protected now.
    pub fn freeze(&self) -> Result<Frozen<'_>, LeaseError> {
        Ok(Frozen {
            table: lock(&self.table)?,
        })
    }

    /// The purposes of the leases held now, oldest first.
    pub fn active(&self) -> Result<Vec<String>, LeaseError> {
        Ok(lock(&self.table)?
            .held
            .values()
            .map(|e| e.purpose.clone())
            .collect())
    }
}

/// The lease table, held still while a collector decides and deletes.
pub struct Frozen<'a> {
    table: MutexGuard<'a, Table>,
}

impl Frozen<'_> {
    pub fn protects_blob(&self, digest: &Digest) -> bool {
        self.table.held.values().any(|e| e.blobs.contains(digest))
    }

    pub fn protects_layer(&self, chain_id: &Digest) -> bool {
        self.table
            .held
            .values()
            .any(|e| e.layers.contains(chain_id))
    }
}

struct Handle {
    id: u64,
    table: Arc<Mutex<Table>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // A poisoned table means a thread panicked mid-update; the entry is then best dropped too.
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.held.remove(&self.id);
    }
}

/// A held lease. Clones share it; it is released when the last clone is dropped.
#[derive(Clone)]
pub struct Lease {
    inner: Arc<Handle>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("id", &self.inner.id).finish()
    }
}

impl Lease {
    fn update(&self, f: impl FnOnce(&mut Entry)) -> Result<(), LeaseError> {
        let mut t = lock(&self.inner.table)?;
        if let Some(e) = t.held.get_mut(&self.inner.id) {
            f(e);
        }
        Ok(())
    }

    /// Protects the blob `digest` (call before the blob becomes visible or is reused).
    pub fn protect_blob(&self, digest: &Digest) -> Result<(), LeaseError> {
        self.update(|e| {
            e.blobs.insert(digest.clone());
        })
    }

    /// Protects the unpacked layer `chain_id` (call before unpacking or reusing it).
    pub fn protect_layer(&self, chain_id: &Digest) -> Result<(), LeaseError> {
        self.update(|e| {
            e.layers.insert(chain_id.clone());
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_lasts_as_long_as_the_lease() {
        let leases = Leases::new();
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let lease = leases.acquire("import").expect("acquire");
        lease.protect_blob(&a).expect("protect");
        lease.protect_layer(&b).expect("protect");
        {
            let f = leases.freeze().expect("freeze");
            assert!(f.protects_blob(&a) && f.protects_layer(&b));
            assert!(!f.protects_blob(&b) && !f.protects_layer(&a));
        }
        assert_eq!(leases.active().expect("active"), ["import"]);
        let clone = lease.clone();
        drop(lease);
        assert!(leases.freeze().expect("freeze").protects_blob(&a));
        drop(clone);
        assert!(!leases.freeze().expect("freeze").protects_blob(&a));
        assert!(leases.active().expect("active").is_empty());
    }

    #[test]
    fn protecting_waits_for_a_frozen_table() {
        let leases = Leases::new();
        let lease = leases.acquire("import").expect("acquire");
        let d = Digest::of(b"x");
        let frozen = leases.freeze().expect("freeze");
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            lease.protect_blob(&d).expect("protect");
            tx.send(()).expect("send");
            lease
        });
        // While the collector holds the table, the writer cannot slip a protection in.
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop(frozen);
        rx.recv().expect("protected after the freeze");
        let _lease = t.join().expect("join");
        assert!(leases
            .freeze()
            .expect("freeze")
            .protects_blob(&Digest::of(b"x")));
    }
}
