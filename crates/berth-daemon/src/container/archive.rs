//! A container's filesystem as archives: `export`, `diff` (changes), and `cp` (stat, archive
//! a path, extract into a directory). Every container path is resolved inside the container's
//! opened root (see `berth_snapshot::container_path`), never joined onto a host path.

use std::io;
use std::os::fd::AsFd;

use berth_api::archive::ContainerPathStat;
use berth_api::models::{ChangeType, FilesystemChange};
use berth_snapshot::changes::{self, ChangeKind};
use berth_snapshot::container_path::{ContainerPathError, ContainerRoot, PathStat, RootMount};
use berth_snapshot::mount_view::{mount_view, MountView, ViewMount};
use berth_snapshot::tree_tar::{TreeTar, TreeTarOptions};
use berth_snapshot::{UnpackError, UnpackOptions};
use berth_types::{Error, Result};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::TryStreamExt;

use crate::container::record::Container;
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
/// call (moby `daemon/archive.go`): the mounts are really mounted on the rootfs in a private
/// mount namespace (a [`MountView`], which must be kept while the root is used), so that a
/// tree walk above a mount (`cp ctr:/ ...`, an extraction into `/data` over `/data/sub`)
/// crosses into it; and paths at or under a mount's destination resolve inside the mount,
/// also where the destination is missing in the rootfs (a container never started). A source
/// that cannot be opened is left out (logged), as if not mounted.
fn open_root_with_mounts(
    rootfs: &std::path::Path,
    mounts: &[MountPoint],
    network_files: Vec<ViewMount>,
) -> Result<(ContainerRoot, Option<MountView>)> {
    // The user's mounts come after, so one at the same destination wins, as in the container.
    let mut sources = network_files;
    for m in mounts
        .iter()
        .filter(|m| matches!(m.kind, MountKind::Bind | MountKind::Volume) && !m.source.is_empty())
    {
        let source = if m.subpath.is_empty() {
            Ok(std::path::PathBuf::from(&m.source))
        } else {
            crate::mount::setup::volume_subpath(std::path::Path::new(&m.source), &m.subpath)
                .map_err(|e| io::Error::other(e.message))
        };
        match source {
            Ok(source) => sources.push(ViewMount {
                source,
                destination: m.destination.clone(),
                rw: m.rw,
            }),
            Err(e) => tracing::warn!(source = %m.source, destination = %m.destination,
                error = %e, "opening a mount's source for cp"),
        }
    }
    let mut view = if sources.is_empty() {
        None
    } else {
        match mount_view(rootfs, &sources) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "mounting a container's mounts for cp");
                None
            }
        }
    };
    let root = match view.as_mut() {
        Some(v) => ContainerRoot::from_fd(
            v.take_root()
                .map_err(|e| Error::internal(format!("opening {}: {e}", rootfs.display())))?,
        ),
        None => open_root(rootfs)?,
    };
    let opened = sources
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let mounted = view.as_mut().and_then(|v| v.mounted(i));
            let opened = match mounted {
                Some(dir) if is_dir(&dir) => {
                    Ok(RootMount::from_mounted_dir(dir, &m.destination, m.rw))
                }
                _ => RootMount::open(&m.source, &m.destination, m.rw),
            };
            match opened {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(source = %m.source.display(), destination = %m.destination,
                        error = %e, "opening a mount's source for cp");
                    None
                }
            }
        })
        .collect();
    Ok((root.with_mounts(opened), view))
}

fn is_dir(fd: &std::os::fd::OwnedFd) -> bool {
    berth_snapshot::fsread::fstat(fd.as_fd())
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .unwrap_or(false)
}

/// dockerd's `NetworkMounts`: the container's `hostname`, `hosts` and `resolv.conf` (written
/// at its first start) are mounted for `cp` as they are in the container, writable unless its
/// rootfs is read-only.
fn network_files(dir: &std::path::Path, c: &Container) -> Vec<ViewMount> {
    let rw = !c.host_config.readonly_rootfs.unwrap_or(false);
    [
        ("resolv.conf", "/etc/resolv.conf"),
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
    ]
    .into_iter()
    .map(|(file, destination)| ViewMount {
        source: dir.join(file),
        destination: destination.to_string(),
        rw,
    })
    .filter(|m| m.source.is_file())
    .collect()
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
        let c = ctr.snapshot();
        let net = network_files(&self.container_dir(&c.id), &c);
        let mounts = c.mount_points;
        let (path, key) = (path.to_string(), key.to_string());
        self.with_rootfs(ctr, move |rootfs| {
            let (root, _view) = open_root_with_mounts(rootfs, &mounts, net)?;
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
        let net = network_files(&self.container_dir(&c.id), &c);
        let (path, key) = (path.to_string(), key.to_string());
        let (stat, body) = self
            .rootfs_stream(ctr, move |rootfs| {
                let (root, view) = open_root_with_mounts(rootfs, &mounts, net)?;
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
                    drop(view);
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
        let net = network_files(&self.container_dir(&c.id), &c);
        let reader = tokio_util::io::StreamReader::new(body.map_err(io::Error::other));
        let mut sync = tokio_util::io::SyncIoBridge::new(reader);
        let (path, key) = (path.to_string(), key.to_string());
        self.with_rootfs(ctr, move |rootfs| {
            let result = (|| {
                let (root, _view) = open_root_with_mounts(rootfs, &mounts, net)?;
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
