//! The registry's filesystem layout under `--root`:
//!
//! ```text
//! content/blobs/sha256/<hex>                           every blob and manifest, once (shared)
//! content/ingest/                                      uploads in progress
//! repositories/<name>/_layers/sha256/<hex>             blob linked into the repository
//! repositories/<name>/_manifests/revisions/sha256/<hex> manifest in the repository (holds its media type)
//! repositories/<name>/_manifests/tags/<tag>            tag -> manifest digest
//! repositories/<name>/_manifests/referrers/<alg>/<hex>/<digest>  manifests whose subject is <alg>:<hex>
//! tmp/                                                 link files before their rename
//! ```
//!
//! Blobs go through [`berth_store::ContentStore`] (ingest, fsync, verify, rename); link files
//! are written to `tmp/`, fsynced and renamed, so every file is whole or absent. Names and
//! tags are validated before they reach here and cannot contain `..` or `/`-leading parts.
//!
//! Garbage collection (see [`crate::gc`]) may delete a blob no manifest references once it
//! is older than a grace period; the server therefore *touches* (sets the mtime of) every
//! blob it hands out as present to a pusher — uploads, mounts, HEADs and manifests' references —
//! so a push in flight always finds its blobs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use bytes::Bytes;

use berth_store::ContentStore;
use berth_types::Digest;
use rand::RngCore;

use crate::error::RegistryError;

/// Registry storage: the shared blob store plus per-repository links.
#[derive(Debug)]
pub struct Storage {
    content: ContentStore,
    repositories: PathBuf,
    tmp: PathBuf,
    manifests: ManifestCache,
    /// `gc.lock`: shared by operations that make a blob referenced, exclusive while garbage
    /// collection deletes one (see [`Storage::use_lock`]).
    lock_path: PathBuf,
}

/// A held `gc.lock` (shared or exclusive); released on drop.
#[derive(Debug)]
pub struct LockGuard(File);

fn lock_at(path: &Path, exclusive: bool) -> Result<LockGuard, RegistryError> {
    // A fresh open file description per holder: flock locks belong to the description,
    // so threads sharing one would release each other's locks.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    if exclusive {
        file.lock()?;
    } else {
        file.lock_shared()?;
    }
    Ok(LockGuard(file))
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Manifest bodies by digest, so a manifest GET reads no blob and hashes nothing. Content
/// addressing makes entries immutable; whether a repository holds the manifest is still
/// checked on disk per request. Bounded by total size: when full it starts over.
#[derive(Debug, Default)]
struct ManifestCache {
    entries: RwLock<(std::collections::HashMap<Digest, Bytes>, usize)>,
}

/// The cache's budget in bytes of manifest bodies.
const MANIFEST_CACHE_BYTES: usize = 64 << 20;

impl ManifestCache {
    fn get(&self, digest: &Digest) -> Option<Bytes> {
        let guard = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.0.get(digest).cloned()
    }

    fn insert(&self, digest: Digest, body: Bytes) {
        let mut guard = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.1 + body.len() > MANIFEST_CACHE_BYTES {
            guard.0.clear();
            guard.1 = 0;
        }
        guard.1 += body.len();
        guard.0.insert(digest, body);
    }

    fn remove(&self, digest: &Digest) {
        let mut guard = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(old) = guard.0.remove(digest) {
            guard.1 -= old.len();
        }
    }
}

impl Storage {
    /// Opens (creating) storage under `root` for a server and removes leftovers of an
    /// earlier crash.
    pub fn open(root: &Path) -> Result<Self, RegistryError> {
        let storage = Self::attach(root)?;
        storage.content.clean_ingest()?;
        for entry in fs::read_dir(&storage.tmp)? {
            fs::remove_file(entry?.path())?;
        }
        Ok(storage)
    }

    /// Opens storage that a running server may be using (for garbage collection): nothing in
    /// progress is removed.
    pub fn attach(root: &Path) -> Result<Self, RegistryError> {
        let content = ContentStore::open(root.join("content"))?;
        let repositories = root.join("repositories");
        let tmp = root.join("tmp");
        fs::create_dir_all(&repositories)?;
        fs::create_dir_all(&tmp)?;
        Ok(Self {
            content,
            repositories,
            tmp,
            manifests: ManifestCache::default(),
            lock_path: root.join("gc.lock"),
        })
    }

    fn lock(&self, exclusive: bool) -> Result<LockGuard, RegistryError> {
        lock_at(&self.lock_path, exclusive)
    }

    /// Held while an operation checks that a blob exists and then relies on it (commit,
    /// mount, HEAD, manifest validation): garbage collection cannot delete a blob between
    /// the check and the touch that renews its grace period.
    pub fn use_lock(&self) -> Result<LockGuard, RegistryError> {
        self.lock(false)
    }

    /// [`Storage::use_lock`] for async code: the wait for a collector holding the lock (a
    /// blocking `flock`) runs on the blocking pool, not on a runtime worker.
    pub async fn use_lock_async(&self) -> Result<LockGuard, RegistryError> {
        let path = self.lock_path.clone();
        tokio::task::spawn_blocking(move || lock_at(&path, false))
            .await
            .map_err(|e| RegistryError::Storage(format!("gc lock task: {e}")))?
    }

    /// Held by garbage collection while it re-checks and deletes one item.
    pub fn sweep_lock(&self) -> Result<LockGuard, RegistryError> {
        self.lock(true)
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    fn repo_dir(&self, name: &str) -> PathBuf {
        self.repositories.join(name)
    }

    fn layer_link(&self, name: &str, digest: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_layers")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    fn revision_link(&self, name: &str, digest: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_manifests/revisions")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    fn tags_dir(&self, name: &str) -> PathBuf {
        self.repo_dir(name).join("_manifests/tags")
    }

    /// Whether the repository has ever received a blob or manifest.
    pub fn repo_exists(&self, name: &str) -> bool {
        self.repo_dir(name).join("_layers").is_dir()
            || self.repo_dir(name).join("_manifests").is_dir()
    }

    /// Writes `data` to `target` atomically: temp file, fsync, rename, fsync of the directory.
    fn write_atomic(&self, target: &Path, data: &[u8]) -> Result<(), RegistryError> {
        let dir = target
            .parent()
            .ok_or_else(|| RegistryError::Storage(format!("no parent for {target:?}")))?;
        fs::create_dir_all(dir)?;
        let mut rnd = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut rnd);
        let tmp = self.tmp.join(hex::encode(rnd));
        let result = (|| -> io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&tmp, target)?;
            File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        Ok(result?)
    }

    /// Marks the blob as in use now, so garbage collection's grace period starts again.
    /// Best effort: a blob that just vanished is reported missing by the caller's next step.
    pub fn touch_blob(&self, digest: &Digest) {
        let path = self.content.blob_path(digest);
        let touched = OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        if let Err(e) = touched {
            tracing::debug!(path = %path.display(), error = %e, "touching blob");
        }
    }

    /// A manifest's body (verified against its digest when read from disk).
    pub fn manifest_bytes(&self, digest: &Digest) -> Result<Bytes, RegistryError> {
        if let Some(body) = self.manifests.get(digest) {
            return Ok(body);
        }
        let body = Bytes::from(self.content.read_bytes(digest)?);
        self.manifests.insert(digest.clone(), body.clone());
        Ok(body)
    }

    /// Forgets a cached manifest body (its blob is being deleted).
    pub fn forget_manifest(&self, digest: &Digest) {
        self.manifests.remove(digest);
    }

    fn referrers_dir(&self, name: &str, subject: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join("_manifests/referrers")
            .join(subject.algorithm())
            .join(subject.hex())
    }

    /// Records that `referrer` has `subject` as its subject.
    pub fn link_referrer(
        &self,
        name: &str,
        subject: &Digest,
        referrer: &Digest,
    ) -> Result<(), RegistryError> {
        let link = self.referrers_dir(name, subject).join(referrer.to_string());
        self.write_atomic(&link, b"")
    }

    /// Drops a referrers index entry; a missing one is fine.
    pub fn unlink_referrer(
        &self,
        name: &str,
        subject: &Digest,
        referrer: &Digest,
    ) -> Result<(), RegistryError> {
        let link = self.referrers_dir(name, subject).join(referrer.to_string());
        match fs::remove_file(link) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The manifests in the repository whose subject is `subject`, sorted.
    pub fn referrers(&self, name: &str, subject: &Digest) -> Result<Vec<Digest>, RegistryError> {
        let mut out: Vec<Digest> = list_names(&self.referrers_dir(name, subject))?
            .iter()
            .filter_map(|n| n.parse().ok())
            .filter(|d| self.revision_link(name, d).is_file())
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every manifest the repository holds.
    pub fn revisions(&self, name: &str) -> Result<Vec<Digest>, RegistryError> {
        self.linked_digests(&self.repo_dir(name).join("_manifests/revisions"))
    }

    /// Every blob linked into the repository.
    pub fn layers(&self, name: &str) -> Result<Vec<Digest>, RegistryError> {
        self.linked_digests(&self.repo_dir(name).join("_layers"))
    }

    /// `<dir>/<alg>/<hex>` link files as digests.
    fn linked_digests(&self, dir: &Path) -> Result<Vec<Digest>, RegistryError> {
        let mut out = Vec::new();
        for algorithm in list_names(dir)? {
            for hex in list_names(&dir.join(&algorithm))? {
                if let Ok(d) = format!("{algorithm}:{hex}").parse() {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// When the manifest was linked into the repository (for GC's grace period).
    pub fn revision_mtime(&self, name: &str, digest: &Digest) -> Option<SystemTime> {
        fs::metadata(self.revision_link(name, digest))
            .and_then(|m| m.modified())
            .ok()
    }

    /// Removes a revision link without touching tags (GC of untagged manifests).
    pub fn unlink_revision(&self, name: &str, digest: &Digest) -> Result<(), RegistryError> {
        remove_link(&self.revision_link(name, digest), || {
            RegistryError::ManifestUnknown(digest.to_string())
        })
    }

    /// Links an existing blob into a repository.
    pub fn link_blob(&self, name: &str, digest: &Digest) -> Result<(), RegistryError> {
        self.touch_blob(digest);
        self.write_atomic(&self.layer_link(name, digest), b"")
    }

    /// The blob's size if it is linked into the repository and present.
    pub fn linked_blob_size(&self, name: &str, digest: &Digest) -> Option<u64> {
        if !self.layer_link(name, digest).is_file() {
            return None;
        }
        self.content.size(digest).ok()
    }

    /// Unlinks a blob from a repository (the data stays for other repositories).
    pub fn unlink_blob(&self, name: &str, digest: &Digest) -> Result<(), RegistryError> {
        remove_link(&self.layer_link(name, digest), || {
            RegistryError::BlobUnknown(digest.to_string())
        })
    }

    /// Records a manifest (already in the content store) in a repository, with its media type.
    pub fn link_manifest(
        &self,
        name: &str,
        digest: &Digest,
        media_type: &str,
    ) -> Result<(), RegistryError> {
        self.write_atomic(&self.revision_link(name, digest), media_type.as_bytes())
    }

    /// The manifest's media type, if the repository holds it.
    pub fn manifest_media_type(&self, name: &str, digest: &Digest) -> Option<String> {
        fs::read_to_string(self.revision_link(name, digest)).ok()
    }

    /// Points `tag` at `digest`.
    pub fn set_tag(&self, name: &str, tag: &str, digest: &Digest) -> Result<(), RegistryError> {
        self.write_atomic(
            &self.tags_dir(name).join(tag),
            digest.to_string().as_bytes(),
        )
    }

    /// The digest `tag` points at.
    pub fn resolve_tag(&self, name: &str, tag: &str) -> Option<Digest> {
        fs::read_to_string(self.tags_dir(name).join(tag))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Removes a tag; the manifest stays reachable by digest.
    pub fn delete_tag(&self, name: &str, tag: &str) -> Result<(), RegistryError> {
        remove_link(&self.tags_dir(name).join(tag), || {
            RegistryError::ManifestUnknown(format!("unknown tag {tag:?}"))
        })
    }

    /// Removes a manifest from a repository and every tag pointing at it.
    pub fn delete_manifest(&self, name: &str, digest: &Digest) -> Result<(), RegistryError> {
        remove_link(&self.revision_link(name, digest), || {
            RegistryError::ManifestUnknown(digest.to_string())
        })?;
        for tag in self.tags(name)? {
            if self.resolve_tag(name, &tag).as_ref() == Some(digest) {
                self.delete_tag(name, &tag)?;
            }
        }
        Ok(())
    }

    /// The repository's tags, sorted.
    pub fn tags(&self, name: &str) -> Result<Vec<String>, RegistryError> {
        let mut tags = list_names(&self.tags_dir(name))?;
        tags.sort();
        Ok(tags)
    }

    /// Every repository, sorted: directories holding `_layers` or `_manifests`. Name
    /// components never start with `_`, so the markers cannot collide with a name.
    pub fn catalog(&self) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        let mut stack = vec![(self.repositories.clone(), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                if !entry.file_type()?.is_dir() {
                    continue;
                }
                let Ok(file_name) = entry.file_name().into_string() else {
                    continue;
                };
                if file_name.starts_with('_') {
                    continue;
                }
                let name = if prefix.is_empty() {
                    file_name
                } else {
                    format!("{prefix}/{file_name}")
                };
                if self.repo_exists(&name) {
                    out.push(name.clone());
                }
                stack.push((entry.path(), name));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The UTF-8 names in `dir`; a missing directory has none.
fn list_names(dir: &Path) -> Result<Vec<String>, RegistryError> {
    let mut out = Vec::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                if let Ok(name) = entry?.file_name().into_string() {
                    out.push(name);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    Ok(out)
}

/// Removes a link file: a missing one is `missing()` (the spec's *_UNKNOWN), anything else a
/// storage error.
fn remove_link(path: &Path, missing: impl FnOnce() -> RegistryError) -> Result<(), RegistryError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing()),
        Err(e) => Err(e.into()),
    }
}
