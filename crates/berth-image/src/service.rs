//! [`ImageService`]: opening the store, importing, resolving names, and container snapshots.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};

use berth_snapshot::{SnapshotPaths, Snapshotter};
use berth_store::{ContentStore, Db, Lease, Leases};
use berth_types::{id, Digest, Reference};

use crate::changes::apply_changes;
use crate::compression::decompress;
use crate::config::{self, History, ImageConfig, RootFs, RunConfig};
use crate::error::ImageError;
use crate::records::{self, ImageRow, LayerRow};

/// What `docker import` takes besides the archive.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `repo[:tag]` to tag the new image with.
    pub repo_tag: Option<Reference>,
    /// Dockerfile instructions applied to the config (`-c`).
    pub changes: Vec<String>,
    /// Commit message (`-m`); defaults to dockerd's `Imported from -`.
    pub message: Option<String>,
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportResult {
    /// `sha256:<hex>` of the config blob.
    pub id: String,
}

/// A resolved image: what a container needs from it.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:<hex>`.
    pub id: String,
    /// Runtime defaults (env, cmd, entrypoint, working dir, user, stop signal, labels, exposed
    /// ports, volumes, healthcheck).
    pub config: RunConfig,
    /// The whole config document.
    pub raw: ImageConfig,
    /// RFC 3339 creation time.
    pub created: Option<String>,
    /// Familiar `repo:tag` names.
    pub repo_tags: Vec<String>,
    /// Familiar `repo@digest` names.
    pub repo_digests: Vec<String>,
    /// Layer chain ids, lowest first.
    pub chain_ids: Vec<Digest>,
    /// Layer `diff` directories, lowest first: the overlay lower stack.
    pub layer_dirs: Vec<PathBuf>,
    /// Bytes of unpacked content over all layers.
    pub size: i64,
}

impl Image {
    /// The 12-character id docker shows.
    pub fn short_id(&self) -> &str {
        id::short(&self.id)
    }
}

/// Docker-style name of this machine's architecture.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The image store: metadata in SQLite, configs and layer tars in the content store, unpacked
/// layers and container snapshots in the overlay snapshotter.
///
/// One service is one image namespace (containerd's): the Docker API's is
/// [`DEFAULT_NAMESPACE`], the CRI's `k8s.io` ([`ImageService::in_namespace`]). Names, listing,
/// resolving and removal see the namespace's images only; image rows, layers, blobs, leases,
/// the write lock and garbage collection are shared by all, so an image in two namespaces is
/// stored once and stays until the last one removes it.
pub struct ImageService {
    pub(crate) db: Db,
    pub(crate) content: ContentStore,
    pub(crate) snapshots: Snapshotter,
    /// This view's namespace.
    pub(crate) ns: Arc<str>,
    /// Serialises database mutations (tag, remove, the last step of an import) and garbage
    /// collection.
    write_lock: Arc<Mutex<()>>,
    /// What operations still writing content protect from garbage collection.
    pub(crate) leases: Leases,
    /// Set while `POST /images/prune` runs (dockerd allows one at a time).
    pub(crate) prune_running: Arc<AtomicBool>,
}

/// The namespace of the Docker API's images.
pub use crate::records::DEFAULT_NAMESPACE;

/// What an operation has written so far, for the cleanup when it fails.
#[derive(Debug, Default)]
struct Written {
    blobs: Vec<Digest>,
    layers: Vec<Digest>,
}

impl std::fmt::Debug for ImageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService")
            .field("overlay", &self.snapshots.root())
            .finish_non_exhaustive()
    }
}

impl ImageService {
    /// Opens the image store under `data_root` (`content/`, `overlay/`), migrating `db`.
    pub fn open(data_root: impl AsRef<Path>, db: Db) -> Result<Self, ImageError> {
        let root = data_root.as_ref();
        db.migrate("images", records::MIGRATIONS)?;
        db.migrate("blob_sources", crate::blob_sources::MIGRATIONS)?;
        let content = ContentStore::open(root.join("content"))?;
        content.clean_ingest()?;
        let snapshots = Snapshotter::open(root.join("overlay"))?;
        let service = Self {
            db,
            content,
            snapshots,
            ns: Arc::from(DEFAULT_NAMESPACE),
            write_lock: Arc::new(Mutex::new(())),
            leases: Leases::new(),
            prune_running: Arc::new(AtomicBool::new(false)),
        };
        // Nothing holds a lease yet: whatever a crash left unreferenced (a blob published just
        // before its rows, a half-deleted image's files) is garbage now.
        service.collect_garbage()?;
        Ok(service)
    }

    /// The same store seen as namespace `ns`: its own names and images over the shared rows,
    /// blobs, layers, leases and lock.
    pub fn in_namespace(&self, ns: &str) -> ImageService {
        Self {
            db: self.db.clone(),
            content: self.content.clone(),
            snapshots: self.snapshots.clone(),
            ns: Arc::from(ns),
            write_lock: self.write_lock.clone(),
            leases: self.leases.clone(),
            prune_running: self.prune_running.clone(),
        }
    }

    /// This view's namespace.
    pub fn namespace(&self) -> &str {
        &self.ns
    }

    /// The lease registry: any operation that writes content concurrently with garbage
    /// collection protects it here (see [`berth_store::lease`]).
    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    pub fn snapshotter(&self) -> &Snapshotter {
        &self.snapshots
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, ()>, ImageError> {
        self.write_lock.lock().map_err(|_| ImageError::Poisoned)
    }

    /// `docker import`: `reader` is a root filesystem tar (plain, gzip or zstd), which becomes
    /// the image's single layer. Nothing is left behind if any step fails.
    ///
    /// The archive is streamed and unpacked under a lease, without the write lock, so a slow
    /// upload blocks neither `rmi` nor a prune; only the final transaction takes the lock.
    pub fn import(
        &self,
        reader: impl Read,
        opts: ImportOptions,
    ) -> Result<ImportResult, ImageError> {
        // Validate the changes before touching the store.
        let mut run = RunConfig::default();
        apply_changes(&mut run, &opts.changes)?;
        let lease = self.leases.acquire("import")?;
        let mut written = Written::default();
        let result = self.import_leased(reader, run, &opts, &lease, &mut written);
        drop(lease);
        if result.is_err() {
            let _guard = self.lock()?;
            self.discard_unreferenced(&written.blobs, &written.layers);
        }
        result
    }

    fn import_leased(
        &self,
        reader: impl Read,
        run: RunConfig,
        opts: &ImportOptions,
        lease: &Lease,
        written: &mut Written,
    ) -> Result<ImportResult, ImageError> {
        let (_, mut tar) = decompress(reader).map_err(ImageError::Input)?;
        let (diff_id, _) = match self.content.write_from_leased(&mut tar, None, lease) {
            Ok(v) => v,
            Err(berth_store::ContentError::Io { source, .. }) => {
                return Err(ImageError::Input(source))
            }
            Err(e) => return Err(e.into()),
        };
        written.blobs.push(diff_id.clone());
        let chain_id = diff_id.clone();
        // Protected before the existence check inside unpack_layer (see berth_store::lease).
        lease.protect_layer(&chain_id)?;
        written.layers.push(chain_id.clone());
        let blob = self.content.open_blob(&diff_id)?;
        let size =
            match self.snapshots.unpack_layer(&chain_id, blob)? {
                Some(stats) => stats.size as i64,
                None => match records::layer(&self.db, &chain_id.to_string())? {
                    Some(row) => row.size,
                    None => berth_snapshot::dir_size(&self.snapshots.layer_diff(&chain_id))
                        .unwrap_or(0) as i64,
                },
            };

        let created = config::now_rfc3339();
        let comment = opts
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "Imported from -".to_string());
        let image_config = ImageConfig {
            architecture: go_arch().to_string(),
            comment: Some(comment.clone()),
            config: Some(run),
            created: Some(created.clone()),
            history: vec![History {
                created: Some(created.clone()),
                comment: Some(comment),
                ..History::default()
            }],
            os: "linux".to_string(),
            rootfs: RootFs {
                typ: "layers".to_string(),
                diff_ids: vec![diff_id.clone()],
            },
            ..ImageConfig::default()
        };
        let bytes = serde_json::to_vec(&image_config)
            .map_err(|e| ImageError::Invalid(format!("encoding image config: {e}")))?;
        let config_digest =
            self.content
                .write_bytes_leased(&bytes, Some(&Digest::of(&bytes)), lease)?;
        written.blobs.push(config_digest.clone());
        let id = config_digest.to_string();
        let now = config::now_rfc3339();
        let _guard = self.lock()?;
        self.db.transaction(|tx| -> Result<(), ImageError> {
            records::insert_layer(
                tx,
                &LayerRow {
                    chain_id: chain_id.to_string(),
                    diff_id: diff_id.to_string(),
                    size,
                    blob: Some(diff_id.to_string()),
                },
            )?;
            let row = ImageRow {
                id: id.clone(),
                parent: None,
                created: Some(created.clone()),
                size,
                last_tag_time: None,
            };
            records::insert_image(tx, &self.ns, &row, &[chain_id.to_string()], &now)?;
            if let Some(r) = &opts.repo_tag {
                records::set_ref(tx, &self.ns, &r.to_string(), &id, r.digest.is_some(), &now)?;
            }
            Ok(())
        })?;
        Ok(ImportResult { id })
    }

    /// Removes blobs and layers an aborted operation created, unless something references or
    /// leases them. The caller holds the write lock.
    pub(crate) fn discard_unreferenced(&self, blobs: &[Digest], layers: &[Digest]) {
        if let Err(e) = self.collect_locked(Some((layers, blobs))) {
            tracing::warn!(error = %e, "removing what an aborted operation wrote");
        }
    }

    /// Finds the image id for a full id, `sha256:` id, unique id prefix, `name[:tag]` (tag
    /// defaults to `latest`) or `name@digest`, as dockerd's `GetImage` does.
    pub fn resolve_id(&self, name: &str) -> Result<String, ImageError> {
        let full_hex = name.strip_prefix("sha256:").unwrap_or(name);
        if full_hex.len() == 64 && id::is_hex_prefix(full_hex) {
            let id = format!("sha256:{full_hex}");
            return match records::image_in(&self.db, &self.ns, &id)? {
                Some(_) => Ok(id),
                None => Err(ImageError::NotFound(id)),
            };
        }
        let reference =
            Reference::parse_name_only(name).map_err(|e| ImageError::Invalid(e.message))?;
        let mut tagged = reference.clone();
        if tagged.tag.is_none() && tagged.digest.is_none() {
            tagged.tag = Some(berth_types::reference::DEFAULT_TAG.to_string());
        }
        if let Some(id) = records::image_for_ref(&self.db, &self.ns, &tagged.to_string())? {
            return Ok(id);
        }
        if id::is_hex_prefix(full_hex) {
            let ids = records::ids_with_prefix(&self.db, &self.ns, full_hex, 2)?;
            if let [only] = ids.as_slice() {
                return Ok(only.clone());
            }
        }
        Err(ImageError::NotFound(tagged.familiar()))
    }

    /// Resolves `name` (see [`ImageService::resolve_id`]) and loads the image.
    pub fn resolve(&self, name: &str) -> Result<Image, ImageError> {
        let id = self.resolve_id(name)?;
        self.load(&id)
    }

    pub(crate) fn load(&self, id: &str) -> Result<Image, ImageError> {
        let row =
            records::image(&self.db, id)?.ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let raw = self.read_config(id)?;
        let layers = records::layers_of(&self.db, id)?;
        let mut chain_ids = Vec::with_capacity(layers.len());
        for l in &layers {
            chain_ids.push(
                l.chain_id
                    .parse::<Digest>()
                    .map_err(|e| ImageError::BadConfig {
                        digest: id.to_string(),
                        message: format!("bad layer id {}: {}", l.chain_id, e.message),
                    })?,
            );
        }
        let (repo_tags, repo_digests) = self.familiar_refs(id)?;
        Ok(Image {
            id: id.to_string(),
            config: raw.config.clone().unwrap_or_default(),
            created: raw.created.clone(),
            layer_dirs: chain_ids
                .iter()
                .map(|c| self.snapshots.layer_diff(c))
                .collect(),
            chain_ids,
            raw,
            repo_tags,
            repo_digests,
            size: row.size,
        })
    }

    pub(crate) fn read_config(&self, id: &str) -> Result<ImageConfig, ImageError> {
        let digest: Digest = id
            .parse()
            .map_err(|e: berth_types::Error| ImageError::BadConfig {
                digest: id.to_string(),
                message: e.message,
            })?;
        let bytes = self.content.read_bytes(&digest).map_err(|e| match e {
            berth_store::ContentError::DigestMismatch { actual, .. } => ImageError::Corrupt {
                image: id.to_string(),
                detail: format!(
                    "its config blob {digest} does not match its digest (the content hashes to {actual})"
                ),
            },
            berth_store::ContentError::NotFound(_) => ImageError::Corrupt {
                image: id.to_string(),
                detail: format!("its config blob {digest} is missing"),
            },
            other => other.into(),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::BadConfig {
            digest: id.to_string(),
            message: e.to_string(),
        })
    }

    /// `(repo tags, repo digests)` in docker's familiar form.
    pub(crate) fn familiar_refs(&self, id: &str) -> Result<(Vec<String>, Vec<String>), ImageError> {
        let mut tags = Vec::new();
        let mut digests = Vec::new();
        for (name, is_digest) in records::refs_of(&self.db, &self.ns, id)? {
            let familiar = Reference::parse(&name)
                .map(|r| r.familiar())
                .unwrap_or(name);
            if is_digest {
                digests.push(familiar);
            } else {
                tags.push(familiar);
            }
        }
        Ok((tags, digests))
    }

    /// Creates the container snapshot `container_id` over the image's layers.
    pub fn snapshot_prepare(
        &self,
        container_id: &str,
        image: &Image,
    ) -> Result<SnapshotPaths, ImageError> {
        Ok(self.snapshots.prepare(container_id, &image.chain_ids)?)
    }

    /// [`Self::snapshot_prepare`] for a container whose runtime binds `/etc/hosts`,
    /// `/etc/hostname` and `/etc/resolv.conf`: over the image's init layer, which holds their
    /// mount points (`Snapshotter::prepare_container`).
    pub fn snapshot_prepare_container(
        &self,
        container_id: &str,
        image: &Image,
    ) -> Result<SnapshotPaths, ImageError> {
        Ok(self
            .snapshots
            .prepare_container(container_id, &image.chain_ids)?)
    }

    /// The directories of an existing container snapshot.
    pub fn snapshot_paths(&self, container_id: &str) -> Result<SnapshotPaths, ImageError> {
        Ok(self.snapshots.paths(container_id)?)
    }

    /// Mounts the container snapshot on `target` (an existing directory).
    pub fn snapshot_mount(&self, container_id: &str, target: &Path) -> Result<(), ImageError> {
        Ok(self.snapshots.mount(container_id, target)?)
    }

    /// [`Self::snapshot_mount`] for a container deleted at its exit (`--rm`): overlay's
    /// `volatile`, no sync of the filesystem under the layer (see `Snapshotter::mount_scratch`).
    pub fn snapshot_mount_scratch(
        &self,
        container_id: &str,
        target: &Path,
    ) -> Result<(), ImageError> {
        Ok(self.snapshots.mount_scratch(container_id, target)?)
    }

    /// Unmounts `target` (lazily if busy; not mounted is fine).
    pub fn snapshot_unmount(&self, target: &Path) -> Result<(), ImageError> {
        Ok(self.snapshots.unmount(target)?)
    }

    /// Detaches the mount on `target` for a snapshot about to be removed; the descriptor holds
    /// the detached filesystem until it is closed (see `berth_snapshot::mount::detach`).
    pub fn snapshot_detach(
        &self,
        target: &Path,
    ) -> Result<Option<std::os::fd::OwnedFd>, ImageError> {
        Ok(self.snapshots.detach(target)?)
    }

    /// The ids of every writable snapshot on disk (containers' and the builder's).
    pub fn snapshot_ids(&self) -> Result<Vec<String>, ImageError> {
        Ok(self.snapshots.snapshot_ids()?)
    }

    /// Sets the container snapshot aside for deletion (see `Snapshotter::discard`); the
    /// returned directory is for `berth_snapshot::snapshotter::remove_trash`.
    pub fn snapshot_discard(&self, container_id: &str) -> Result<Option<PathBuf>, ImageError> {
        Ok(self.snapshots.discard(container_id)?)
    }

    /// Deletes the container snapshot (unmounting its `merged` directory if needed).
    pub fn snapshot_remove(&self, container_id: &str) -> Result<(), ImageError> {
        Ok(self.snapshots.remove(container_id)?)
    }

    /// Opens the uncompressed tar of a layer by chain id, for `docker save`.
    pub fn layer_tar(&self, chain_id: &Digest) -> Result<File, ImageError> {
        let row = records::layer(&self.db, &chain_id.to_string())?
            .ok_or_else(|| ImageError::NotFound(format!("layer {chain_id}")))?;
        let blob = row
            .blob
            .ok_or_else(|| ImageError::NotFound(format!("tar of layer {chain_id}")))?;
        let digest: Digest =
            blob.parse()
                .map_err(|e: berth_types::Error| ImageError::BadConfig {
                    digest: chain_id.to_string(),
                    message: e.message,
                })?;
        Ok(self.content.open_blob(&digest)?)
    }
}
