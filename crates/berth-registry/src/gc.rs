//! Online garbage collection: mark every blob a kept manifest references, then delete the
//! rest, while the server keeps serving.
//!
//! Safety against concurrent pushes: a blob or untagged manifest is deleted only when its
//! mtime is older than the grace period, and the server renews that mtime (under the shared
//! `gc.lock`) whenever it tells a client a blob exists or commits, mounts or references one.
//! Each deletion re-checks the mtime under the exclusive lock, so a push that started before
//! the deletion finds its blob young, and one that starts after finds it gone and uploads it.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, SystemTime};

use berth_types::Digest;

use crate::error::RegistryError;
use crate::http::manifests::descriptor_digest;
use crate::storage::Storage;

/// What to collect.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Report what would go, delete nothing.
    pub dry_run: bool,
    /// Also remove manifests no tag reaches (directly, through an index, or as a referrer).
    pub delete_untagged: bool,
    /// Nothing younger than this is deleted.
    pub grace: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            delete_untagged: false,
            grace: Duration::from_secs(60 * 60),
        }
    }
}

/// What a collection did (or, dry, would do).
#[derive(Debug, Default)]
pub struct GcReport {
    /// Blobs kept because a manifest references them.
    pub marked: usize,
    /// `(repository, manifest)` pairs removed as untagged.
    pub manifests_removed: Vec<(String, Digest)>,
    pub blobs_removed: Vec<Digest>,
    pub bytes_freed: u64,
    /// Unreferenced blobs kept because they are younger than the grace period.
    pub young_kept: usize,
}

/// A manifest's references: config and layers (blobs), children (manifests), subject.
#[derive(Debug, Default)]
struct References {
    blobs: Vec<Digest>,
    children: Vec<Digest>,
    subject: Option<Digest>,
}

fn references(storage: &Storage, digest: &Digest) -> Option<References> {
    let body = storage.content().read_bytes(digest).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let list = |key: &str| -> Vec<Digest> {
        value
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|d| descriptor_digest(d).ok()).collect())
            .unwrap_or_default()
    };
    let mut blobs: Vec<Digest> = value
        .get("config")
        .and_then(|c| descriptor_digest(c).ok())
        .into_iter()
        .collect();
    blobs.extend(list("layers"));
    Some(References {
        blobs,
        children: list("manifests"),
        subject: value.get("subject").and_then(|s| descriptor_digest(s).ok()),
    })
}

fn older_than(mtime: Option<SystemTime>, grace: Duration) -> bool {
    mtime
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age >= grace)
}

/// The manifests of `repo` to keep: everything, or (with `delete_untagged`) what tags reach
/// plus what is younger than the grace period.
fn kept_manifests(
    storage: &Storage,
    repo: &str,
    revisions: &[Digest],
    opts: &GcOptions,
) -> Result<HashSet<Digest>, RegistryError> {
    if !opts.delete_untagged {
        return Ok(revisions.iter().cloned().collect());
    }
    let mut kept: HashSet<Digest> = HashSet::new();
    for tag in storage.tags(repo)? {
        if let Some(d) = storage.resolve_tag(repo, &tag) {
            kept.insert(d);
        }
    }
    for d in revisions {
        if !older_than(storage.revision_mtime(repo, d), opts.grace) {
            kept.insert(d.clone());
        }
    }
    let refs: Vec<(Digest, References)> = revisions
        .iter()
        .filter_map(|d| references(storage, d).map(|r| (d.clone(), r)))
        .collect();
    // Children of kept indexes and referrers of kept manifests, until nothing changes.
    loop {
        let before = kept.len();
        for (d, r) in &refs {
            if kept.contains(d) {
                kept.extend(r.children.iter().cloned());
            }
            if r.subject.as_ref().is_some_and(|s| kept.contains(s)) {
                kept.insert(d.clone());
            }
        }
        if kept.len() == before {
            return Ok(kept);
        }
    }
}

/// Runs one collection over `storage`.
pub fn collect(storage: &Storage, opts: &GcOptions) -> Result<GcReport, RegistryError> {
    let mut report = GcReport::default();
    let mut marked: BTreeSet<Digest> = BTreeSet::new();
    for repo in storage.catalog()? {
        let revisions = storage.revisions(&repo)?;
        let kept = kept_manifests(storage, &repo, &revisions, opts)?;
        for d in &revisions {
            if kept.contains(d) {
                marked.insert(d.clone());
                if let Some(r) = references(storage, d) {
                    marked.extend(r.blobs);
                }
                continue;
            }
            // Re-checked under the exclusive lock: a push may have tagged or re-linked it.
            let _lock = storage.sweep_lock()?;
            let tagged = storage
                .tags(&repo)?
                .iter()
                .any(|t| storage.resolve_tag(&repo, t).as_ref() == Some(d));
            if tagged || !older_than(storage.revision_mtime(&repo, d), opts.grace) {
                marked.insert(d.clone());
                if let Some(r) = references(storage, d) {
                    marked.extend(r.blobs);
                }
                continue;
            }
            if !opts.dry_run {
                storage.unlink_revision(&repo, d)?;
                if let Some(subject) = references(storage, d).and_then(|r| r.subject) {
                    storage.unlink_referrer(&repo, &subject, d)?;
                }
            }
            report.manifests_removed.push((repo.clone(), d.clone()));
        }
    }
    report.marked = marked.len();
    for blob in storage.content().list()? {
        if marked.contains(&blob) {
            continue;
        }
        let _lock = storage.sweep_lock()?;
        let path = storage.content().blob_path(&blob);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue; // deleted meanwhile
        };
        if !older_than(meta.modified().ok(), opts.grace) {
            report.young_kept += 1;
            continue;
        }
        if !opts.dry_run {
            storage.content().delete(&blob)?;
            storage.forget_manifest(&blob);
        }
        report.bytes_freed += meta.len();
        report.blobs_removed.push(blob);
    }
    if !opts.dry_run {
        // Links to blobs that are gone would only make HEADs fail later; drop them now.
        for repo in storage.catalog()? {
            for blob in storage.layers(&repo)? {
                let _lock = storage.sweep_lock()?;
                if !storage.content().exists(&blob) {
                    storage.unlink_blob(&repo, &blob)?;
                }
            }
        }
    }
    Ok(report)
}
