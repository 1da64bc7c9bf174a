//! Garbage collection of blobs, layer rows and unpacked layers.
//!
//! Reachability: an image row keeps its config blob (the image id) and its layers; a layer is
//! also kept while a container snapshot stacks on it (the snapshot's `lower` file) or a lease
//! protects it; a kept layer keeps its tar blob; a lease keeps any blob it names. Everything
//! else, on disk or in the `layers` table, is garbage.
//!
//! A collection runs under the image store's write lock (so database rows do not change under
//! it) and with the lease table frozen (so no writer can start reusing something it is about to
//! delete). It deletes rows first, then directories, then blobs: a crash in between leaves only
//! unreferenced files, which the next collection (at the latest, the one at startup) removes.

use std::collections::BTreeSet;

use berth_types::Digest;

use crate::error::ImageError;
use crate::records;
use crate::service::ImageService;

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Chain ids of the layers removed (rows and directories).
    pub layers_removed: Vec<Digest>,
    /// Blobs removed.
    pub blobs_removed: Vec<Digest>,
    /// Bytes freed: the removed blobs' sizes plus the removed layers' unpacked sizes.
    pub bytes_freed: u64,
}

/// Everything a collection decides on, read while the store is held still.
#[derive(Debug, Default)]
pub(crate) struct Inventory {
    pub disk_blobs: Vec<Digest>,
    pub disk_layers: Vec<Digest>,
    /// Image ids (= config blob digests).
    pub image_ids: BTreeSet<String>,
    /// Chain ids that some image lists.
    pub image_layers: BTreeSet<String>,
    /// Every `layers` row: (chain id, tar blob).
    pub layer_rows: Vec<(String, Option<String>)>,
    /// Chain ids under container snapshots.
    pub container_lowers: BTreeSet<Digest>,
}

/// What to delete.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub dead_rows: Vec<String>,
    pub dead_layers: Vec<Digest>,
    pub dead_blobs: Vec<Digest>,
}

/// Decides what is garbage. `leased_blob` / `leased_layer` tell what a lease protects.
pub(crate) fn plan(
    inv: &Inventory,
    leased_blob: &dyn Fn(&Digest) -> bool,
    leased_layer: &dyn Fn(&Digest) -> bool,
) -> Plan {
    let layer_live = |chain: &str| -> bool {
        inv.image_layers.contains(chain)
            || chain
                .parse::<Digest>()
                .is_ok_and(|d| inv.container_lowers.contains(&d) || leased_layer(&d))
    };
    let mut live_blobs: BTreeSet<String> = inv.image_ids.clone();
    let mut dead_rows = Vec::new();
    for (chain, blob) in &inv.layer_rows {
        if layer_live(chain) {
            live_blobs.extend(blob.clone());
        } else {
            dead_rows.push(chain.clone());
        }
    }
    let dead_layers = inv
        .disk_layers
        .iter()
        .filter(|d| !layer_live(&d.to_string()))
        .cloned()
        .collect();
    let dead_blobs = inv
        .disk_blobs
        .iter()
        .filter(|d| !live_blobs.contains(&d.to_string()) && !leased_blob(d))
        .cloned()
        .collect();
    Plan {
        dead_rows,
        dead_layers,
        dead_blobs,
    }
}

impl ImageService {
    /// What is on disk and what references it; the caller holds the write lock.
    pub(crate) fn inventory(&self) -> Result<Inventory, ImageError> {
        Ok(Inventory {
            disk_blobs: self.content.list()?,
            disk_layers: self.snapshots.layers()?,
            image_ids: records::all_images(&self.db)?
                .into_iter()
                .map(|r| r.id)
                .collect(),
            image_layers: records::referenced_layers(&self.db)?,
            layer_rows: records::all_layers(&self.db)?
                .into_iter()
                .map(|l| (l.chain_id, l.blob))
                .collect(),
            container_lowers: self.snapshots.snapshot_lowers()?,
        })
    }

    /// Blobs and unpacked layers nothing references or leases (what a collection would
    /// remove); the caller holds the write lock.
    pub(crate) fn unreferenced(&self) -> Result<(Vec<Digest>, Vec<Digest>), ImageError> {
        let frozen = self.leases.freeze()?;
        let p = plan(&self.inventory()?, &|d| frozen.protects_blob(d), &|d| {
            frozen.protects_layer(d)
        });
        Ok((p.dead_blobs, p.dead_layers))
    }

    /// Removes everything nothing references (see the module docs); takes the write lock.
    pub fn collect_garbage(&self) -> Result<GcReport, ImageError> {
        let _guard = self.lock()?;
        self.collect_locked(None)
    }

    /// The collection itself; the caller holds the write lock. With `only`, just those layers
    /// (chain ids) and blobs are candidates.
    pub(crate) fn collect_locked(
        &self,
        only: Option<(&[Digest], &[Digest])>,
    ) -> Result<GcReport, ImageError> {
        let frozen = self.leases.freeze()?;
        let inv = self.inventory()?;
        let mut plan = plan(&inv, &|d| frozen.protects_blob(d), &|d| {
            frozen.protects_layer(d)
        });
        if let Some((layers, blobs)) = only {
            plan.dead_rows
                .retain(|r| layers.iter().any(|l| l.to_string() == *r));
            plan.dead_layers.retain(|l| layers.contains(l));
            plan.dead_blobs.retain(|b| blobs.contains(b));
        }

        let mut report = GcReport::default();
        let sizes = records::layer_sizes(&self.db)?;
        records::delete_layers(&self.db, &plan.dead_rows)?;
        for chain in &plan.dead_layers {
            let size = match sizes.get(&chain.to_string()) {
                Some(s) => *s as u64,
                None => berth_snapshot::dir_size(&self.snapshots.layer_diff(chain)).unwrap_or(0),
            };
            self.snapshots.remove_layer(chain)?;
            report.bytes_freed += size;
            report.layers_removed.push(chain.clone());
        }
        // Rows whose directory was already gone still count as removed layers.
        for row in &plan.dead_rows {
            if let Ok(d) = row.parse::<Digest>() {
                if !report.layers_removed.contains(&d) {
                    report.layers_removed.push(d);
                }
            }
        }
        for blob in &plan.dead_blobs {
            let size = self.content.size(blob).unwrap_or(0);
            self.content.delete(blob)?;
            report.bytes_freed += size;
            report.blobs_removed.push(blob.clone());
        }
        drop(frozen);
        if !report.layers_removed.is_empty() || !report.blobs_removed.is_empty() {
            tracing::info!(
                layers = report.layers_removed.len(),
                blobs = report.blobs_removed.len(),
                bytes = report.bytes_freed,
                "garbage collected"
            );
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::of(s.as_bytes())
    }

    fn inventory() -> Inventory {
        // Image I uses layers L1 (tar blob T1) and L2 (T2); layer L3 (T3) is only under a
        // container; L4 (T4) belongs to nothing; X is a stray blob; L5 a stray directory.
        Inventory {
            disk_blobs: vec![d("I"), d("T1"), d("T2"), d("T3"), d("T4"), d("X")],
            disk_layers: vec![d("L1"), d("L2"), d("L3"), d("L4"), d("L5")],
            image_ids: [d("I").to_string()].into(),
            image_layers: [d("L1").to_string(), d("L2").to_string()].into(),
            layer_rows: ["1", "2", "3", "4"]
                .iter()
                .map(|n| {
                    (
                        d(&format!("L{n}")).to_string(),
                        Some(d(&format!("T{n}")).to_string()),
                    )
                })
                .collect(),
            container_lowers: [d("L3")].into(),
        }
    }

    #[test]
    fn images_containers_and_leases_keep_what_they_reach() {
        let p = plan(&inventory(), &|_| false, &|_| false);
        assert_eq!(p.dead_rows, [d("L4").to_string()]);
        assert_eq!(p.dead_layers, [d("L4"), d("L5")]);
        assert_eq!(p.dead_blobs, [d("T4"), d("X")]);

        let leased = plan(&inventory(), &|b| *b == d("X"), &|l| *l == d("L4"));
        assert!(leased.dead_rows.is_empty());
        assert_eq!(leased.dead_layers, [d("L5")]);
        // The leased layer keeps its tar blob too.
        assert!(leased.dead_blobs.is_empty());
    }

    #[test]
    fn a_layer_shared_by_two_images_stays_until_both_are_gone() {
        let mut inv = inventory();
        inv.image_ids.insert(d("J").to_string());
        inv.disk_blobs.push(d("J"));
        // Image I is deleted; J still uses L2.
        inv.image_ids.remove(&d("I").to_string());
        inv.image_layers = [d("L2").to_string()].into();
        let p = plan(&inv, &|_| false, &|_| false);
        assert!(p.dead_layers.contains(&d("L1")) && !p.dead_layers.contains(&d("L2")));
        assert!(p.dead_blobs.contains(&d("I")) && p.dead_blobs.contains(&d("T1")));
        assert!(!p.dead_blobs.contains(&d("T2")) && !p.dead_blobs.contains(&d("J")));
    }
}
