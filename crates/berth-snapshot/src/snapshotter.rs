//! The on-disk layout of layers and container snapshots under `<data-root>/overlay`:
//!
//! ```text
//! overlay/<chain-id hex>/diff     an unpacked image layer (shared by every image using the chain)
//! overlay/<chain-id hex>/link     the layer's short link name
//! overlay/<container-id>/diff     a container's writable upper directory
//! overlay/<container-id>/work     overlayfs's work directory
//! overlay/<container-id>/merged   the default mount point
//! overlay/<chain-id hex>/init     the chain's init layer: the mount points of the files every
//!                                 container binds (`init_layer`), made at its first container
//! overlay/<container-id>/lower    the lower layers' chain ids, lowest first, one per line, then
//!                                 `+init` when the top layer's init layer goes above them
//! overlay/l/<short>               -> ../<chain-id hex>/diff, keeps legacy mount options short
//!                                 (layers only: a container snapshot is never a lower)
//! ```

use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use berth_types::{Digest, Error};
use rand::Rng;

use crate::mount::{self, Lower, MountError, OverlayOptions};
use crate::unpack::{self, UnpackError, UnpackStats};

const LINK_DIR: &str = "l";
const TMP_PREFIX: &str = "tmp-";
const SHORT_LINK_LEN: usize = 26;
/// The `lower` file's line for a snapshot over its chain's init layer.
const INIT_MARK: &str = "+init";

/// Why a snapshot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error("snapshot {0} does not exist")]
    NotFound(String),
    #[error("snapshot {0} already exists")]
    Exists(String),
    #[error("invalid snapshot id {0:?}")]
    InvalidId(String),
    #[error("layer {0} is not unpacked")]
    MissingLayer(Digest),
}

impl From<SnapshotError> for Error {
    fn from(e: SnapshotError) -> Self {
        match &e {
            SnapshotError::NotFound(_) => Error::not_found(e.to_string()),
            SnapshotError::Exists(_) => Error::conflict(e.to_string()),
            SnapshotError::InvalidId(_) => Error::invalid(e.to_string()),
            SnapshotError::Unpack(u) if u.is_bad_archive() => Error::invalid(e.to_string()),
            _ => Error::internal(e.to_string()),
        }
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Directories of a container snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPaths {
    /// Image layer `diff` directories, lowest first.
    pub lowers: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Where [`Snapshotter::mount`] callers usually mount it (dockerd's `MergedDir`).
    pub merged: PathBuf,
}

/// Layers and container snapshots in one `overlay` directory.
#[derive(Debug, Clone)]
pub struct Snapshotter {
    root: PathBuf,
}

impl Snapshotter {
    /// Opens `root` (normally `<data-root>/overlay`), creating it, and sweeps what a crash
    /// interrupted: unpacks and prepares never renamed into place, with their short links, and
    /// short links whose directory is gone.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, SnapshotError> {
        let root = root.as_ref().to_path_buf();
        let links = root.join(LINK_DIR);
        fs::create_dir_all(&links).map_err(io_at(&links))?;
        let this = Self { root };
        for entry in fs::read_dir(&this.root).map_err(io_at(&this.root))? {
            let path = entry.map_err(io_at(&this.root))?.path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(TMP_PREFIX))
            {
                this.remove_dir_and_link(&path)?;
            }
        }
        this.sweep_dangling_links()?;
        Ok(this)
    }

    /// Removes the short links whose layer or snapshot directory no longer exists. Only safe
    /// while nothing else uses the snapshotter (at open).
    fn sweep_dangling_links(&self) -> Result<(), SnapshotError> {
        let links = self.root.join(LINK_DIR);
        for entry in fs::read_dir(&links).map_err(io_at(&links))? {
            let link = entry.map_err(io_at(&links))?.path();
            // `metadata` follows the link: NotFound means its target directory is gone.
            if let Err(e) = fs::metadata(&link) {
                if e.kind() == io::ErrorKind::NotFound {
                    tracing::info!(link = %link.display(), "removing a dangling short link");
                    fs::remove_file(&link).map_err(io_at(&link))?;
                }
            }
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `diff` directory of the layer with this chain id (whether or not it exists).
    pub fn layer_diff(&self, chain_id: &Digest) -> PathBuf {
        self.root.join(chain_id.hex()).join("diff")
    }

    pub fn has_layer(&self, chain_id: &Digest) -> bool {
        self.layer_diff(chain_id).is_dir()
    }

    /// Unpacks a layer tar stream as the layer `chain_id`. The layer appears whole or not at
    /// all: it is unpacked into a temporary directory and renamed into place. Returns `None`
    /// when the layer already existed (the stream is then not read).
    pub fn unpack_layer(
        &self,
        chain_id: &Digest,
        reader: impl Read,
    ) -> Result<Option<UnpackStats>, SnapshotError> {
        if self.has_layer(chain_id) {
            return Ok(None);
        }
        let tmp = self.root.join(format!("{TMP_PREFIX}{}", random_name(16)));
        let result = self.unpack_into(&tmp, chain_id, reader);
        if result.is_err() || tmp.exists() {
            // On success the rename consumed tmp; it still exists only if we lost a race.
            if let Err(e) = fs::remove_dir_all(&tmp) {
                tracing::warn!(path = %tmp.display(), error = %e, "removing interrupted unpack");
            }
        }
        result
    }

    fn unpack_into(
        &self,
        tmp: &Path,
        chain_id: &Digest,
        reader: impl Read,
    ) -> Result<Option<UnpackStats>, SnapshotError> {
        let diff = tmp.join("diff");
        fs::create_dir_all(&diff).map_err(io_at(&diff))?;
        let stats = unpack::unpack_layer(reader, &diff)?;
        let link = self.create_short_link(tmp, chain_id.hex())?;
        let target = self.root.join(chain_id.hex());
        match fs::rename(tmp, &target) {
            Ok(()) => Ok(Some(stats)),
            // Someone unpacked the same layer meanwhile; theirs is as good as ours.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ENOTEMPTY)) => {
                let _ = fs::remove_file(self.root.join(LINK_DIR).join(&link));
                Ok(None)
            }
            Err(e) => {
                let _ = fs::remove_file(self.root.join(LINK_DIR).join(&link));
                Err(SnapshotError::Io {
                    path: target,
                    source: e,
                })
            }
        }
    }

    /// Creates `l/<short>` -> `../<final-name>/diff` and records the name in `<dir>/link`.
    /// The name is recorded before the link exists, so a crash between the two leaves a record
    /// without a link (harmless) rather than a link nothing names.
    fn create_short_link(&self, dir: &Path, final_name: &str) -> Result<String, SnapshotError> {
        let name = random_name(SHORT_LINK_LEN);
        let file = dir.join("link");
        fs::write(&file, &name).map_err(io_at(&file))?;
        let link = self.root.join(LINK_DIR).join(&name);
        std::os::unix::fs::symlink(format!("../{final_name}/diff"), &link).map_err(io_at(&link))?;
        Ok(name)
    }

    /// Removes a layer and its short link. Removing a missing layer is not an error.
    pub fn remove_layer(&self, chain_id: &Digest) -> Result<(), SnapshotError> {
        self.remove_dir_and_link(&self.root.join(chain_id.hex()))
    }

    fn remove_dir_and_link(&self, dir: &Path) -> Result<(), SnapshotError> {
        if let Ok(name) = fs::read_to_string(dir.join("link")) {
            let name = name.trim();
            if !name.is_empty() && !name.contains('/') && name != ".." {
                let _ = fs::remove_file(self.root.join(LINK_DIR).join(name));
            }
        }
        match fs::remove_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SnapshotError::Io {
                path: dir.to_path_buf(),
                source: e,
            }),
        }
    }

    fn snapshot_dir(&self, id: &str) -> Result<PathBuf, SnapshotError> {
        let valid = !id.is_empty()
            && id != LINK_DIR
            && !id.starts_with(TMP_PREFIX)
            && !id.starts_with('.')
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(SnapshotError::InvalidId(id.to_string()));
        }
        Ok(self.root.join(id))
    }

    /// Creates the writable snapshot `id` (a container id) over the layers `chain` (chain ids,
    /// lowest first), which must already be unpacked.
    pub fn prepare(&self, id: &str, chain: &[Digest]) -> Result<SnapshotPaths, SnapshotError> {
        self.prepare_with(id, chain, false)
    }

    /// [`Snapshotter::prepare`] for a container, whose runtime binds `/etc/hosts`,
    /// `/etc/hostname` and `/etc/resolv.conf`: over the chain's init layer too, made here the
    /// first time (see `init_layer`). A chain whose init layer cannot be made (its image's
    /// `/etc` is a symlink, or an error, logged) gets the plain snapshot.
    pub fn prepare_container(
        &self,
        id: &str,
        chain: &[Digest],
    ) -> Result<SnapshotPaths, SnapshotError> {
        self.prepare_with(id, chain, true)
    }

    /// Whether the chain's init layer is in place, made here the first time.
    fn init_layer(&self, chain: &[Digest]) -> bool {
        let layers: Vec<PathBuf> = chain.iter().map(|c| self.root.join(c.hex())).collect();
        let tmp = self.root.join(format!("{TMP_PREFIX}{}", random_name(16)));
        match crate::init_layer::ensure(&layers, &tmp) {
            Ok(made) => made.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "making the layer chain's init layer");
                false
            }
        }
    }

    fn prepare_with(
        &self,
        id: &str,
        chain: &[Digest],
        init: bool,
    ) -> Result<SnapshotPaths, SnapshotError> {
        let dir = self.snapshot_dir(id)?;
        if let Some(missing) = chain.iter().find(|c| !self.has_layer(c)) {
            return Err(SnapshotError::MissingLayer(missing.clone()));
        }
        if dir.exists() {
            return Err(SnapshotError::Exists(id.to_string()));
        }
        let with_init = init && !chain.is_empty() && self.init_layer(chain);
        let tmp = self.root.join(format!("{TMP_PREFIX}{}", random_name(16)));
        let build = || -> Result<(), SnapshotError> {
            for sub in ["diff", "work", "merged"] {
                let p = tmp.join(sub);
                fs::create_dir_all(&p).map_err(io_at(&p))?;
            }
            let mut lower: String = chain.iter().map(|c| format!("{}\n", c.hex())).collect();
            if with_init {
                lower.push_str(INIT_MARK);
                lower.push('\n');
            }
            let lower_file = tmp.join("lower");
            fs::write(&lower_file, lower).map_err(io_at(&lower_file))?;
            // No short link: only layers are ever lowers of a mount, never a writable snapshot
            // (its `link` file and `l/` entry were two inodes per container nothing read).
            fs::rename(&tmp, &dir).map_err(io_at(&dir))
        };
        if let Err(e) = build() {
            let _ = self.remove_dir_and_link(&tmp);
            return Err(e);
        }
        self.paths(id)
    }

    /// The directories of snapshot `id`.
    pub fn paths(&self, id: &str) -> Result<SnapshotPaths, SnapshotError> {
        let dir = self.snapshot_dir(id)?;
        let lower_file = dir.join("lower");
        let lower = match fs::read_to_string(&lower_file) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SnapshotError::NotFound(id.to_string()))
            }
            Err(e) => {
                return Err(SnapshotError::Io {
                    path: lower_file,
                    source: e,
                })
            }
        };
        let mut lowers = Vec::new();
        let mut with_init = false;
        for line in lower.lines().filter(|l| !l.is_empty()) {
            if line == INIT_MARK {
                with_init = true;
                continue;
            }
            let chain_id: Digest =
                format!("sha256:{line}")
                    .parse()
                    .map_err(|_| SnapshotError::Io {
                        path: lower_file.clone(),
                        source: io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("bad layer id {line:?}"),
                        ),
                    })?;
            lowers.push(self.layer_diff(&chain_id));
        }
        if with_init {
            if let Some(init) = lowers
                .last()
                .and_then(|diff| diff.parent())
                .map(|layer| layer.join(crate::init_layer::INIT_DIR))
                .filter(|init| init.is_dir())
            {
                lowers.push(init);
            }
        }
        Ok(SnapshotPaths {
            lowers,
            upper: dir.join("diff"),
            work: dir.join("work"),
            merged: dir.join("merged"),
        })
    }

    /// Mounts snapshot `id` on `target` (which must exist).
    pub fn mount(&self, id: &str, target: &Path) -> Result<(), SnapshotError> {
        self.mount_with(id, target, OverlayOptions::default())
    }

    /// Mounts snapshot `id` on `target` for a container deleted when it exits (`run --rm`):
    /// overlay's `volatile`, so neither the container's syncs nor the unmount flush the whole
    /// filesystem under the layer, which is thrown away (podman does the same for `--rm`).
    /// A kernel without `volatile` (before 5.10) gets the plain mount.
    pub fn mount_scratch(&self, id: &str, target: &Path) -> Result<(), SnapshotError> {
        let paths = self.paths(id)?;
        // An earlier volatile mount of this layer left overlay's marker, which would refuse the
        // mount; the layer is scratch, as it was then.
        let marker = paths.work.join("work").join("incompat");
        if marker.exists() {
            fs::remove_dir_all(&marker).map_err(io_at(&marker))?;
        }
        match self.mount_with(id, target, OverlayOptions { volatile: true }) {
            Err(SnapshotError::Mount(MountError::Mount { source, .. }))
                if source.raw_os_error() == Some(libc::EINVAL) =>
            {
                self.mount(id, target)
            }
            other => other,
        }
    }

    fn mount_with(
        &self,
        id: &str,
        target: &Path,
        options: OverlayOptions,
    ) -> Result<(), SnapshotError> {
        let paths = self.paths(id)?;
        let mut lowers = Vec::with_capacity(paths.lowers.len().max(1));
        for dir in &paths.lowers {
            let layer_dir = dir.parent().unwrap_or(dir);
            // A layer's short link names its `diff`; an init layer has none.
            let short_link = fs::read_to_string(layer_dir.join("link"))
                .ok()
                .filter(|_| dir.ends_with("diff"))
                .map(|n| self.root.join(LINK_DIR).join(n.trim()));
            lowers.push(Lower {
                dir: dir.clone(),
                short_link,
            });
        }
        if lowers.is_empty() {
            // overlayfs needs a lower directory; an image without layers gets an empty one.
            let empty = self.snapshot_dir(id)?.join("empty");
            fs::create_dir_all(&empty).map_err(io_at(&empty))?;
            lowers.push(Lower {
                dir: empty,
                short_link: None,
            });
        }
        mount::mount_overlay_with(&lowers, &paths.upper, &paths.work, target, options)?;
        Ok(())
    }

    /// Unmounts whatever is mounted on `target` (lazily if busy).
    pub fn unmount(&self, target: &Path) -> Result<(), SnapshotError> {
        Ok(mount::unmount(target)?)
    }

    /// Detaches whatever is mounted on `target` and returns the descriptor that keeps it until
    /// it is closed (see [`mount::detach`]); for a snapshot being removed.
    pub fn detach(&self, target: &Path) -> Result<Option<OwnedFd>, SnapshotError> {
        Ok(mount::detach(target)?)
    }

    /// Removes snapshot `id` entirely (unmounting its `merged` directory first if needed).
    /// Removing a missing snapshot is not an error.
    pub fn remove(&self, id: &str) -> Result<(), SnapshotError> {
        match self.discard(id)? {
            Some(trash) => remove_trash(&trash),
            None => Ok(()),
        }
    }

    /// Takes snapshot `id` out of the way at once, for its files to be deleted later: its
    /// `merged` directory unmounted if it still is, its short link and `lower` file removed (so
    /// it holds no link and keeps no layer from garbage collection), and the directory renamed
    /// to a `tmp-` name, which [`Snapshotter::open`] sweeps if the deletion never happens (a
    /// crash). Returns that directory for [`remove_trash`], or `None` when there was no
    /// snapshot. Each step leaves either the snapshot (its owner's removal redoes the rest) or
    /// a `tmp-` directory.
    pub fn discard(&self, id: &str) -> Result<Option<PathBuf>, SnapshotError> {
        let dir = self.snapshot_dir(id)?;
        // Not a mount point (the usual case: unmounted when its container stopped) is fine.
        mount::unmount(&dir.join("merged"))?;
        if let Ok(name) = fs::read_to_string(dir.join("link")) {
            let name = name.trim();
            if !name.is_empty() && !name.contains('/') && name != ".." {
                let _ = fs::remove_file(self.root.join(LINK_DIR).join(name));
            }
        }
        let lower = dir.join("lower");
        if let Err(e) = fs::remove_file(&lower) {
            if e.kind() != io::ErrorKind::NotFound {
                return Err(SnapshotError::Io {
                    path: lower,
                    source: e,
                });
            }
        }
        let trash = self.root.join(format!("{TMP_PREFIX}{}", random_name(16)));
        match fs::rename(&dir, &trash) {
            Ok(()) => Ok(Some(trash)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SnapshotError::Io {
                path: dir,
                source: e,
            }),
        }
    }

    /// The chain ids of the layers under every container snapshot (from each snapshot's
    /// `lower` file): what garbage collection must keep while those containers exist.
    pub fn snapshot_lowers(&self) -> Result<std::collections::BTreeSet<Digest>, SnapshotError> {
        let mut out = std::collections::BTreeSet::new();
        for entry in fs::read_dir(&self.root).map_err(io_at(&self.root))? {
            let dir = entry.map_err(io_at(&self.root))?.path();
            let lower_file = dir.join("lower");
            let text = match fs::read_to_string(&lower_file) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(SnapshotError::Io {
                        path: lower_file,
                        source: e,
                    })
                }
            };
            for line in text.lines().filter(|l| !l.is_empty()) {
                if let Ok(d) = format!("sha256:{line}").parse::<Digest>() {
                    out.insert(d);
                }
            }
        }
        Ok(out)
    }

    /// The ids of every writable snapshot on disk (directories with a `lower` file): container
    /// snapshots and the builder's temporary ones.
    pub fn snapshot_ids(&self) -> Result<Vec<String>, SnapshotError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_at(&self.root))? {
            let entry = entry.map_err(io_at(&self.root))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if self.snapshot_dir(&name).is_ok() && entry.path().join("lower").exists() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every layer chain id present on disk.
    pub fn layers(&self) -> Result<Vec<Digest>, SnapshotError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_at(&self.root))? {
            let entry = entry.map_err(io_at(&self.root))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if let Ok(d) = format!("sha256:{name}").parse::<Digest>() {
                if !entry.path().join("lower").exists() {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Deletes a directory [`Snapshotter::discard`] set aside; a missing one is fine.
pub fn remove_trash(trash: &Path) -> Result<(), SnapshotError> {
    match fs::remove_dir_all(trash) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SnapshotError::Io {
            path: trash.to_path_buf(),
            source: e,
        }),
    }
}

/// Total size in bytes of the regular files under `dir` (for `docker ps -s` style sizes).
///
/// The tree (a layer, a container's upper directory, a volume a container may be writing to)
/// is walked by descriptor from `dir` opened through pathrs, one name at a time and never
/// following a symlink, so a directory swapped for a symlink meanwhile is not followed out of
/// it. Entries that vanish during the walk are skipped.
pub fn dir_size(dir: &Path) -> io::Result<u64> {
    let root = berth_types::inroot::Root::open(dir)?;
    let top = berth_types::inroot::open(root.as_fd(), b"", libc::O_PATH | libc::O_DIRECTORY)?;
    let mut total = 0;
    // Subdirectories still to list, by parent and name: only parents with a pending child
    // stay open (about the tree's depth), not every directory seen.
    let mut pending: Vec<(Rc<OwnedFd>, CString)> = Vec::new();
    add_entries(Rc::new(top), &mut total, &mut pending)?;
    while let Some((parent, name)) = pending.pop() {
        match crate::fsread::openat_nofollow(
            parent.as_fd(),
            &name,
            libc::O_PATH | libc::O_DIRECTORY,
        ) {
            Ok(sub) => add_entries(Rc::new(sub), &mut total, &mut pending)?,
            // Removed, or swapped for something else, since it was listed.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP)
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// Adds the sizes of `dir`'s regular files to `total` and queues its subdirectories.
fn add_entries(
    dir: Rc<OwnedFd>,
    total: &mut u64,
    pending: &mut Vec<(Rc<OwnedFd>, CString)>,
) -> io::Result<()> {
    for name in crate::fsread::list_dir(dir.as_fd())? {
        let name = CString::new(name)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "NUL in a name"))?;
        match crate::sys::lstatat(dir.as_fd(), &name)? {
            Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => *total += st.st_size as u64,
            Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                pending.push((dir.clone(), name))
            }
            _ => {}
        }
    }
    Ok(())
}

fn random_name(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod dir_size_tests {
    use super::dir_size;
    use std::os::unix::fs::symlink;

    #[test]
    fn counts_regular_files_and_follows_no_symlink() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("vol");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(dir.join("a/b/c")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::write(outside.join("big"), vec![0u8; 10_000]).expect("write");
        std::fs::write(dir.join("one"), "1").expect("write");
        std::fs::write(dir.join("a/b/two"), "22").expect("write");
        std::fs::write(dir.join("a/b/c/three"), "333").expect("write");
        symlink(&outside, dir.join("abs")).expect("symlink");
        symlink("../outside", dir.join("a/rel")).expect("symlink");
        symlink("../outside/big", dir.join("a/b/file-link")).expect("symlink");
        symlink("loop", dir.join("loop")).expect("symlink");
        assert_eq!(dir_size(&dir).expect("size"), 6);
        // A deep tree is walked without keeping every directory open.
        let mut deep = dir.join("deep");
        for _ in 0..200 {
            deep = deep.join("d");
        }
        std::fs::create_dir_all(&deep).expect("deep");
        std::fs::write(deep.join("f"), "4444").expect("write");
        assert_eq!(dir_size(&dir).expect("size"), 10);
    }
}
