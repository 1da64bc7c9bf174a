//! A container's filesystem as archives: `export`, `diff` (changes), and `cp` (stat, archive
//! a path, extract into a directory). Every container path is resolved inside the container's
//! opened root (see `berth_snapshot::container_path`), never joined onto a host path.

use std::io;
use std::os::fd::AsFd;

use berth_api::archive::ContainerPathStat;
use berth_api::models::{ChangeType, FilesystemChange};
use berth_snapshot::changes::{self, ChangeKind};
use berth_snapshot::container_path::{ContainerPathError, ContainerRoot, PathStat, RootMount};
use berth_snapshot::tree_tar::{TreeTar, TreeTarOptions};
use berth_snapshot::{UnpackError, UnpackOptions};
use berth_types::{Error, Result};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::TryStreamExt;

use crate::daemon::Daemon;
use crate::mount::points::{MountKind, MountPoint};

/// At most this much of an upload is read after its extraction ended (or was refused).
const DRAIN_LIMIT: u64 = 1 << 20;

/// `PUT /containers/{id}/archive` flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// `copyUIDGID`: own everything by the container's user (when it has one).
    pub copy_uid_gid: bool,
    /// `noOverwriteDirNonDir`.
    pub no_overwrite_dir_non_dir: bool,
}

fn not_found(path: &str, container: &str) -> Error {
    Error::not_found(format!(
        "Could not find the file {path} in container {container}"
    ))
}

fn path_error(e: ContainerPathError, path: &str, container: &str) -> Error {
    match e {
        ContainerPathError::NotFound => not_found(path, container),
        ContainerPathError::NotADirectory => Error::invalid(e.to_string()),
        ContainerPathError::Io(io) => Error::internal(io.to_string()),
    }
}

fn open_root(rootfs: &std::path::Path) -> Result<ContainerRoot> {
    ContainerRoot::open(rootfs)
        .map_err(|e| Error::internal(format!("opening {}: {e}", rootfs.display())))
}

/// The container's root with its volumes and bind mounts, as dockerd mounts them for a `cp`
/// call (moby `daemon/archive.go`): paths at or under a mount's destination resolve inside the
/// mount's source. A source that cannot be opened is left out (logged), as if not mounted.
fn open_root_with_mounts(rootfs: &std::path::Path, mounts: &[MountPoint]) -> Result<ContainerRoot> {
    let root = open_root(rootfs)?;
    let opened = mounts
        .iter()
        .filter(|m| matches!(m.kind, MountKind::Bind | MountKind::Volume) && !m.source.is_empty())
        .filter_map(|m| {
            let source = if m.subpath.is_empty() {
                Ok(std::path::PathBuf::from(&m.source))
            } else {
                crate::mount::setup::volume_subpath(std::path::Path::new(&m.source), &m.subpath)
                    .map_err(|e| io::Error::other(e.message))
            };
            match source.and_then(|s| RootMount::open(&s, &m.destination, m.rw)) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(source = %m.source, destination = %m.destination, error = %e,
                        "opening a mount's source for cp");
                    None
                }
            }
        })
        .collect();
    Ok(root.with_mounts(opened))
}

/// The wire form of a path stat; mtime as Go's `time.Time` marshals (RFC 3339, nanoseconds).
pub fn wire_stat(s: &PathStat) -> ContainerPathStat {
    let mtime = chrono::DateTime::from_timestamp(s.mtime_sec, s.mtime_nsec)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default();
    ContainerPathStat {
        name: s.name.clone(),
        size: s.size,
        mode: s.mode,
        mtime,
        link_target: s.link_target.clone(),
    }
}

fn tar_error(e: berth_snapshot::tree_tar::TreeTarError) -> io::Error {
    match e {
        berth_snapshot::tree_tar::TreeTarError::Write(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl Daemon {
    /// `GET /containers/{id}/export`: the whole merged root filesystem as a tar stream.
    pub async fn container_export(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, io::Result<Bytes>>> {
        let ctr = self.lookup(key)?;
        let c = ctr.snapshot();
        let ((), body) = self
            .rootfs_stream(ctr, move |rootfs| {
                let root = open_root(rootfs)?;
                let write = move |w: &mut dyn io::Write| {
                    let mut t = TreeTar::new(w, TreeTarOptions::default());
                    t.append_contents(root.fd()).map_err(tar_error)?;
                    t.finish().map_err(tar_error).map(drop)
                };
                Ok(((), write))
            })
            .await?;
        self.container_event(&c, "export", &[]);
        Ok(body)
    }

    /// `HEAD /containers/{id}/archive`.
    pub async fn container_stat_path(&self, key: &str, path: &str) -> Result<ContainerPathStat> {
        let ctr = self.lookup(key)?;
        let mounts = ctr.snapshot().mount_points;
        let (path, key) = (path.to_string(), key.to_string());
        self.with_rootfs(ctr, move |rootfs| {
            let root = open_root_with_mounts(rootfs, &mounts)?;
            let stat = root
                .resolve(&path)
                .and_then(|r| root.stat(&r))
                .map_err(|e| path_error(e, &path, &key))?;
            Ok(wire_stat(&stat))
        })
        .await
    }

    /// `GET /containers/{id}/archive`: the stat of `path` and a tar of it, named by the
    /// path's base name (dockerd's rebase), a final symlink archived as a symlink.
    pub async fn container_archive_path(
        &self,
        key: &str,
        path: &str,
    ) -> Result<(ContainerPathStat, BoxStream<'static, io::Result<Bytes>>)> {
        let ctr = self.lookup(key)?;
        let c = ctr.snapshot();
        let mounts = c.mount_points.clone();
        let (path, key) = (path.to_string(), key.to_string());
        let (stat, body) = self
            .rootfs_stream(ctr, move |rootfs| {
                let root = open_root_with_mounts(rootfs, &mounts)?;
                let resolved = root
                    .resolve(&path)
                    .map_err(|e| path_error(e, &path, &key))?;
                let stat = root
                    .stat(&resolved)
                    .map_err(|e| path_error(e, &path, &key))?;
                let write = move |w: &mut dyn io::Write| {
                    let mut t = TreeTar::new(w, TreeTarOptions::default());
                    let name = resolved.name.as_bytes();
                    match &resolved.base {
                        None => t.append_dir(resolved.dir.as_fd(), name),
                        Some(base) => t.append_entry(resolved.dir.as_fd(), base, name),
                    }
                    .map_err(tar_error)?;
                    drop(root);
                    t.finish().map_err(tar_error).map(drop)
                };
                Ok((wire_stat(&stat), write))
            })
            .await?;
        self.container_event(&c, "archive-path", &[]);
        Ok((stat, body))
    }

    /// `PUT /containers/{id}/archive`: extracts the tar `body` into the directory `path`.
    /// The directory (symlinks followed, inside the root) becomes the root of the extraction:
    /// no entry, link or symlinked parent in the archive can reach outside it.
    pub async fn container_extract_to_dir(
        &self,
        key: &str,
        path: &str,
        opts: ExtractOptions,
        body: BoxStream<'static, io::Result<Bytes>>,
    ) -> Result<()> {
        let ctr = self.lookup(key)?;
        let c = ctr.snapshot();
        let readonly = c.host_config.readonly_rootfs.unwrap_or(false);
        let user = c.config.user.clone().unwrap_or_default();
        let mounts = c.mount_points.clone();
        let reader = tokio_util::io::StreamReader::new(body.map_err(io::Error::other));
        let mut sync = tokio_util::io::SyncIoBridge::new(reader);
        let (path, key) = (path.to_string(), key.to_string());
        self.with_rootfs(ctr, move |rootfs| {
            let result = (|| {
                let root = open_root_with_mounts(rootfs, &mounts)?;
                let dir = root
                    .extraction_dir(&path)
                    .map_err(|e| path_error(e, &path, &key))?;
                match dir.mount_rw {
                    // dockerd's `ErrVolumeReadonly`, an untyped error: 500.
                    Some(false) => {
                        return Err(Error::internal("mounted volume is marked read-only"))
                    }
                    Some(true) => {}
                    None if readonly => {
                        return Err(Error::invalid("container rootfs is marked read-only"))
                    }
                    None => {}
                }
                let dir = dir.fd;
                let chown = if opts.copy_uid_gid && !user.is_empty() {
                    let u = berth_runtime::user::resolve(rootfs, &user)
                        .map_err(|e| Error::invalid(e.to_string()))?;
                    Some((u.uid, u.gid))
                } else {
                    None
                };
                let unpack = UnpackOptions {
                    whiteouts: false,
                    no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
                    chown,
                    root_metadata: false,
                    root_name: path.clone(),
                };
                berth_snapshot::unpack::unpack_at(&mut sync, dir.as_fd(), unpack)
                    .map(drop)
                    .map_err(|e: UnpackError| {
                        if e.is_bad_archive() {
                            Error::invalid(e.to_string())
                        } else {
                            Error::internal(e.to_string())
                        }
                    })
            })();
            // Read what the request still holds (the tar's last zero block, or the archive
            // after an early refusal), as Go's HTTP server does, so the client finishes its
            // upload and reads the answer instead of failing with EPIPE.
            let _ = io::copy(&mut io::Read::take(&mut sync, DRAIN_LIMIT), &mut io::sink());
            result
        })
        .await?;
        self.container_event(&c, "extract-to-dir", &[]);
        Ok(())
    }

    /// `GET /containers/{id}/changes`: `None` when nothing changed (dockerd answers `null`).
    pub async fn container_changes(&self, key: &str) -> Result<Option<Vec<FilesystemChange>>> {
        let ctr = self.lookup(key)?;
        let svc = self.images.service();
        let id = ctr.id.clone();
        let list = tokio::task::spawn_blocking(move || -> Result<Vec<changes::Change>> {
            let paths = svc.snapshot_paths(&id)?;
            changes::overlay_changes(&paths.lowers, &paths.upper)
                .map_err(|e| Error::internal(e.to_string()))
        })
        .await
        .map_err(|e| Error::internal(format!("changes task: {e}")))??;
        if list.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            list.into_iter()
                .map(|c| FilesystemChange {
                    path: c.path,
                    kind: match c.kind {
                        ChangeKind::Modify => ChangeType::_0,
                        ChangeKind::Add => ChangeType::_1,
                        ChangeKind::Delete => ChangeType::_2,
                    },
                })
                .collect(),
        ))
    }
}
