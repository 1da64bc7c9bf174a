//! Safe layer unpack: a tar stream applied to an opened layer root.
//!
//! Every entry's parent directory is opened inside the layer root through pathrs
//! ([`berth_types::inroot::open`], `RESOLVE_IN_ROOT`), and the entry itself is created with a
//! `*at` call on that descriptor using a single, checked name. So `..`, absolute paths and
//! symlinked parents cannot reach outside the root by construction. In addition, and as
//! dockerd does, names and hardlink/symlink targets that lexically climb above the root are
//! rejected outright.
//!
//! Whiteouts are converted to overlayfs's form: `.wh.<name>` becomes a 0:0 character device
//! `<name>`, `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use tar::EntryType;

use crate::sys;
use berth_types::inroot;

/// File data moves in chunks this large: std's 8 KiB copy costs a read and a write syscall per
/// 8 KiB, which dominates the unpack of large files.
const COPY_CHUNK: usize = 1 << 20;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";
const XATTR_PAX_PREFIX: &str = "SCHILY.xattr.";

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("reading layer archive: {0}")]
    Archive(#[source] io::Error),
    #[error("{name:?} is outside of {root:?}")]
    Breakout { name: String, root: String },
    #[error("invalid hardlink {name:?} -> {target:?}")]
    InvalidHardlink { name: String, target: String },
    #[error("invalid symlink {name:?} -> {target:?}")]
    InvalidSymlink { name: String, target: String },
    #[error("invalid whiteout {name:?}")]
    InvalidWhiteout { name: String },
    /// Applying entry `name` failed; `op` is the operation as dockerd words it
    /// (`open /a/b`, `link /target /name`, ...).
    #[error("{op}: {}", go_error(.source))]
    Entry {
        name: String,
        op: String,
        source: io::Error,
    },
    #[error("opening layer root {path}: {source}")]
    Root { path: String, source: io::Error },
    #[error("cannot overwrite directory \"/{name}\" with non-directory \"/\"")]
    OverwriteDir { name: String },
    #[error("cannot overwrite non-directory \"/{name}\" with directory \"/\"")]
    OverwriteNonDir { name: String },
}

impl UnpackError {
    /// Whether the archive itself is at fault (a 400, not a 500): a name or link that climbs
    /// out, a malformed archive, or an entry the filesystem refuses because of what the archive
    /// holds (a missing link target, a symlink where a directory is needed, a name too long).
    pub fn is_bad_archive(&self) -> bool {
        match self {
            Self::Entry { source, .. } => matches!(
                source.raw_os_error(),
                Some(
                    libc::ENOENT
                        | libc::ENOTDIR
                        | libc::ELOOP
                        | libc::ENAMETOOLONG
                        | libc::EEXIST
                        | libc::EISDIR
                        | libc::EINVAL
                        | libc::EXDEV
                        | libc::EMLINK
                        | libc::ENOTEMPTY
                        | libc::EPERM
                )
            ),
            Self::Root { .. } => false,
            _ => true,
        }
    }
}

/// An OS error worded as Go prints it (`no such file or directory`), which is how dockerd's
/// messages end; other errors as they are.
pub fn go_error(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            let text = text
                .strip_suffix(&format!(" (os error {code})"))
                .unwrap_or(&text);
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text.to_string(),
            }
        }
        None => e.to_string(),
    }
}

/// How an archive is applied: as an image layer (the default) or as a `docker cp` upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackOptions {
    /// `.wh.` entries are whiteouts (layers); otherwise they are ordinary files (cp).
    pub whiteouts: bool,
    /// dockerd's `NoOverwriteDirNonDir`: refuse to replace a directory by a non-directory and
    /// the other way round.
    pub no_overwrite_dir_non_dir: bool,
    /// Owner for every entry instead of the archive's (`docker cp -a` with a container user).
    pub chown: Option<(u32, u32)>,
    /// Whether a `./` entry sets the root directory's metadata (layers do, cp does not).
    pub root_metadata: bool,
    /// The root as messages name it (`"/"` for a layer, the destination for cp), as in
    /// dockerd's `"../x" is outside of "/tmp"`.
    pub root_name: String,
}

impl UnpackOptions {
    /// An image layer: whiteouts, replace anything, archive ownership, root metadata applied.
    pub fn layer() -> Self {
        Self {
            whiteouts: true,
            no_overwrite_dir_non_dir: false,
            chown: None,
            root_metadata: true,
            root_name: "/".to_string(),
        }
    }
}

/// What an unpack wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Archive entries applied (whiteouts included).
    pub entries: u64,
    /// Bytes of regular-file content written.
    pub size: u64,
}

/// The tar entry kinds berth materialises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    CharDev,
    BlockDev,
    Fifo,
}

/// Ownership, permissions, time and xattrs of one entry.
struct Meta {
    mode: libc::mode_t,
    uid: u32,
    gid: u32,
    mtime: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

/// Applies the tar stream `reader` to the directory `root` (normally an empty layer `diff`).
pub fn unpack_layer(reader: impl Read, root: &Path) -> Result<UnpackStats, UnpackError> {
    let root_fd = sys::open_path(root, libc::O_PATH | libc::O_DIRECTORY).map_err(|source| {
        UnpackError::Root {
            path: root.display().to_string(),
            source,
        }
    })?;
    unpack_at(reader, root_fd.as_fd(), UnpackOptions::layer())
}

/// Applies the tar stream `reader` beneath the already opened directory `root`, which acts as
/// `/` for every name and link in the archive (as dockerd's chrooted untar does).
pub fn unpack_at(
    reader: impl Read,
    root: BorrowedFd<'_>,
    opts: UnpackOptions,
) -> Result<UnpackStats, UnpackError> {
    let root_fd = root
        .try_clone_to_owned()
        .map_err(|source| UnpackError::Root {
            path: "(descriptor)".to_string(),
            source,
        })?;
    let mut unpacker = Unpacker {
        opts,
        root: root_fd,
        dir_times: Vec::new(),
        stats: UnpackStats::default(),
        buf: Vec::new(),
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(UnpackError::Archive)? {
        let mut entry = entry.map_err(UnpackError::Archive)?;
        unpacker.apply(&mut entry)?;
    }
    unpacker.finish()
}

struct Unpacker {
    opts: UnpackOptions,
    root: OwnedFd,
    /// Directory mtimes are set last: creating children would bump them again.
    dir_times: Vec<(Vec<u8>, u64)>,
    stats: UnpackStats,
    /// The copy buffer, allocated on the first regular file.
    buf: Vec<u8>,
}

/// Copies `from` to `to` through `buf` (grown to [`COPY_CHUNK`] on first use).
fn copy_data(from: &mut impl Read, to: &mut impl io::Write, buf: &mut Vec<u8>) -> io::Result<u64> {
    if buf.is_empty() {
        buf.resize(COPY_CHUNK, 0);
    }
    let mut total = 0u64;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

impl Unpacker {
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw_name = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        let kind = match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => Kind::Symlink,
            EntryType::Link => Kind::Hardlink,
            EntryType::Char => Kind::CharDev,
            EntryType::Block => Kind::BlockDev,
            EntryType::Fifo => Kind::Fifo,
            // Global PAX headers and unknown vendor types carry no file (dockerd skips them too).
            _ => return Ok(()),
        };
        let comps = clean_components(&raw_name).ok_or_else(|| UnpackError::Breakout {
            name: name.clone(),
            root: self.opts.root_name.clone(),
        })?;
        let mut meta = read_meta(entry).map_err(UnpackError::Archive)?;
        if let Some((uid, gid)) = self.opts.chown {
            meta.uid = uid;
            meta.gid = gid;
        }
        self.stats.entries += 1;
        // The entry as dockerd's messages show it: cleaned, from the root.
        let shown = format!("/{}", String::from_utf8_lossy(&comps.join(&b'/')));
        let link_target = entry
            .link_name_bytes()
            .map(|t| t.into_owned())
            .unwrap_or_default();
        let op = match kind {
            Kind::Dir => format!("mkdir {shown}"),
            Kind::File => format!("open {shown}"),
            Kind::Symlink => format!("symlink {} {shown}", String::from_utf8_lossy(&link_target)),
            Kind::Hardlink => {
                let target = clean_components(&link_target)
                    .map(|c| String::from_utf8_lossy(&c.join(&b'/')).into_owned())
                    .unwrap_or_default();
                format!("link /{target} {shown}")
            }
            Kind::CharDev | Kind::BlockDev | Kind::Fifo => format!("mknod {shown}"),
        };
        let entry_err = |source: io::Error| UnpackError::Entry {
            name: name.clone(),
            op: op.clone(),
            source,
        };

        let Some((last, parent_comps)) = comps.split_last() else {
            // The root itself ("./"): only a directory makes sense; it carries the root's metadata.
            if kind == Kind::Dir && self.opts.root_metadata {
                let fd = inroot::open(self.root.as_fd(), b"", libc::O_RDONLY | libc::O_DIRECTORY)
                    .map_err(entry_err)?;
                apply_fd_meta(fd.as_fd(), &meta).map_err(entry_err)?;
                self.dir_times.push((Vec::new(), meta.mtime));
            }
            return Ok(());
        };
        let parent_path = parent_comps.join(&b'/');

        if self.opts.whiteouts && last.starts_with(WHITEOUT_PREFIX) {
            return self
                .whiteout(&parent_path, last, &meta)
                .map_err(|e| match e {
                    WhiteoutError::Invalid => UnpackError::InvalidWhiteout { name: name.clone() },
                    WhiteoutError::Io(source) => UnpackError::Entry {
                        name: name.clone(),
                        op: format!("whiteout {shown}"),
                        source,
                    },
                });
        }

        let parent = self.ensure_dir(parent_comps).map_err(entry_err)?;
        let cname = CString::new(last.to_vec()).map_err(|_| UnpackError::Breakout {
            name: name.clone(),
            root: self.opts.root_name.clone(),
        })?;

        if let Some(existing) = sys::lstatat(parent.as_fd(), &cname).map_err(entry_err)? {
            let existing_is_dir = existing.st_mode & libc::S_IFMT == libc::S_IFDIR;
            if self.opts.no_overwrite_dir_non_dir && existing_is_dir != (kind == Kind::Dir) {
                let name = comps.join(&b'/');
                let name = String::from_utf8_lossy(&name).into_owned();
                return Err(if existing_is_dir {
                    UnpackError::OverwriteDir { name }
                } else {
                    UnpackError::OverwriteNonDir { name }
                });
            }
            if !(existing_is_dir && kind == Kind::Dir) {
                remove_tree(parent.as_fd(), &cname).map_err(entry_err)?;
            }
        }

        match kind {
            Kind::Dir => {
                match sys::mkdirat(parent.as_fd(), &cname, 0o700) {
                    Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(entry_err(e)),
                    _ => {}
                }
                let fd = sys::openat(
                    parent.as_fd(),
                    &cname,
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                )
                .map_err(entry_err)?;
                apply_fd_meta(fd.as_fd(), &meta).map_err(entry_err)?;
                let mut full = parent_path.clone();
                if !full.is_empty() {
                    full.push(b'/');
                }
                full.extend_from_slice(last);
                self.dir_times.push((full, meta.mtime));
            }
            Kind::File => {
                let fd = sys::openat(
                    parent.as_fd(),
                    &cname,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                    0o600,
                )
                .map_err(entry_err)?;
                let mut file = File::from(fd);
                let written = copy_data(entry, &mut file, &mut self.buf).map_err(entry_err)?;
                self.stats.size += written;
                apply_fd_meta(file.as_fd(), &meta).map_err(entry_err)?;
                sys::futimes(file.as_fd(), meta.mtime).map_err(entry_err)?;
            }
            Kind::Symlink => {
                let target = link_target;
                if !symlink_stays_inside(parent_comps, &target) {
                    return Err(UnpackError::InvalidSymlink {
                        name: name.clone(),
                        target: String::from_utf8_lossy(&target).into_owned(),
                    });
                }
                sys::symlinkat(&target, parent.as_fd(), &cname).map_err(entry_err)?;
                self.apply_node_meta(parent.as_fd(), &cname, &meta, false)
                    .map_err(entry_err)?;
            }
            Kind::Hardlink => {
                let target = link_target;
                let invalid = || UnpackError::InvalidHardlink {
                    name: name.clone(),
                    target: String::from_utf8_lossy(&target).into_owned(),
                };
                let tcomps = clean_components(&target).ok_or_else(invalid)?;
                let (tlast, tparent) = tcomps.split_last().ok_or_else(invalid)?;
                let tparent_fd = inroot::open(
                    self.root.as_fd(),
                    &tparent.join(&b'/'),
                    libc::O_PATH | libc::O_DIRECTORY,
                )
                .map_err(entry_err)?;
                let tname = CString::new(tlast.to_vec()).map_err(|_| invalid())?;
                sys::linkat(tparent_fd.as_fd(), &tname, parent.as_fd(), &cname)
                    .map_err(entry_err)?;
            }
            Kind::CharDev | Kind::BlockDev | Kind::Fifo => {
                let (fmt, dev) = match kind {
                    Kind::CharDev => (libc::S_IFCHR, device(entry).map_err(entry_err)?),
                    Kind::BlockDev => (libc::S_IFBLK, device(entry).map_err(entry_err)?),
                    _ => (libc::S_IFIFO, 0),
                };
                sys::mknodat(parent.as_fd(), &cname, fmt | (meta.mode & 0o7777), dev)
                    .map_err(entry_err)?;
                self.apply_node_meta(parent.as_fd(), &cname, &meta, true)
                    .map_err(entry_err)?;
            }
        }
        Ok(())
    }

    /// Ownership, mode (not for symlinks), xattrs and times of a node we cannot open for writing.
    fn apply_node_meta(
        &self,
        parent: BorrowedFd<'_>,
        name: &CString,
        meta: &Meta,
        chmod: bool,
    ) -> io::Result<()> {
        sys::lchownat(parent, name, meta.uid, meta.gid)?;
        if chmod {
            // mknod's mode went through the umask; chown may have cleared set-id bits.
            sys::fchmodat(parent, name, meta.mode & 0o7777)?;
        }
        for (key, value) in &meta.xattrs {
            tolerate_xattr_error(sys::lsetxattrat(parent, name, key.as_bytes(), value), key)?;
        }
        sys::lutimesat(parent, name, meta.mtime)
    }

    fn whiteout(
        &mut self,
        parent_path: &[u8],
        last: &[u8],
        meta: &Meta,
    ) -> Result<(), WhiteoutError> {
        let parent_comps: Vec<&[u8]> = parent_path
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        if last == WHITEOUT_OPAQUE {
            self.ensure_dir(&parent_comps)?;
            let dir = inroot::open(
                self.root.as_fd(),
                parent_path,
                libc::O_RDONLY | libc::O_DIRECTORY,
            )?;
            sys::fsetxattr(dir.as_fd(), OPAQUE_XATTR, b"y")?;
            return Ok(());
        }
        if last.starts_with(WHITEOUT_META_PREFIX) {
            // Other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs) has no overlay meaning.
            return Ok(());
        }
        let original = &last[WHITEOUT_PREFIX.len()..];
        if original.is_empty() || original == b"." || original == b".." {
            return Err(WhiteoutError::Invalid);
        }
        let parent = self.ensure_dir(&parent_comps)?;
        let cname = CString::new(original.to_vec()).map_err(|_| WhiteoutError::Invalid)?;
        if sys::lstatat(parent.as_fd(), &cname)?.is_some() {
            remove_tree(parent.as_fd(), &cname)?;
        }
        sys::mknodat(parent.as_fd(), &cname, libc::S_IFCHR, sys::makedev(0, 0))?;
        sys::lchownat(parent.as_fd(), &cname, meta.uid, meta.gid)?;
        Ok(())
    }

    /// Opens (creating missing components with mode 0755, as dockerd does) a directory beneath
    /// the root, every lookup resolved inside it.
    fn ensure_dir(&self, comps: &[&[u8]]) -> io::Result<OwnedFd> {
        let flags = libc::O_PATH | libc::O_DIRECTORY;
        match inroot::open(self.root.as_fd(), &comps.join(&b'/'), flags) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            other => return other,
        }
        let mut dir = inroot::open(self.root.as_fd(), b"", flags)?;
        for (i, comp) in comps.iter().enumerate() {
            let prefix = comps[..=i].join(&b'/');
            dir = match inroot::open(self.root.as_fd(), &prefix, flags) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let cname = CString::new(comp.to_vec())
                        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
                    match sys::mkdirat(dir.as_fd(), &cname, 0o755) {
                        Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(e),
                        _ => {}
                    }
                    inroot::open(self.root.as_fd(), &prefix, flags)?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(dir)
    }

    fn finish(self) -> Result<UnpackStats, UnpackError> {
        for (path, mtime) in self.dir_times.iter().rev() {
            let name = String::from_utf8_lossy(path).into_owned();
            let fd = match inroot::open(
                self.root.as_fd(),
                path,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            ) {
                Ok(fd) => fd,
                // A later entry replaced the directory (or a whiteout removed it).
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOTDIR) | Some(libc::ELOOP) | Some(libc::ENOENT)
                    ) =>
                {
                    continue
                }
                Err(source) => {
                    return Err(UnpackError::Entry {
                        op: format!("open /{name}"),
                        name,
                        source,
                    })
                }
            };
            sys::futimes(fd.as_fd(), *mtime).map_err(|source| UnpackError::Entry {
                op: format!("chtimes /{name}"),
                name,
                source,
            })?;
        }
        Ok(self.stats)
    }
}

enum WhiteoutError {
    Invalid,
    Io(io::Error),
}

impl From<io::Error> for WhiteoutError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Owner, mode and xattrs through an open descriptor (chown first: it clears set-id bits).
fn apply_fd_meta(fd: BorrowedFd<'_>, meta: &Meta) -> io::Result<()> {
    sys::fchown(fd, meta.uid, meta.gid)?;
    sys::fchmod(fd, meta.mode & 0o7777)?;
    for (key, value) in &meta.xattrs {
        tolerate_xattr_error(sys::fsetxattr(fd, key.as_bytes(), value), key)?;
    }
    Ok(())
}

/// Not every filesystem takes every xattr namespace; dockerd warns and goes on, so do we.
fn tolerate_xattr_error(r: io::Result<()>, key: &str) -> io::Result<()> {
    match r {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) => {
            tracing::warn!(xattr = key, error = %e, "ignoring xattr the filesystem refused");
            Ok(())
        }
        other => other,
    }
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let header = entry.header();
    let old = header.as_old();
    let mut meta = Meta {
        mode: numeric(header.mode(), &old.mode)? as libc::mode_t,
        uid: u32::try_from(numeric(header.uid(), &old.uid)?).unwrap_or(u32::MAX),
        gid: u32::try_from(numeric(header.gid(), &old.gid)?).unwrap_or(u32::MAX),
        mtime: numeric(header.mtime(), &old.mtime)?,
        xattrs: Vec::new(),
    };
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            let number = || {
                std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.split('.').next()?.parse::<u64>().ok())
            };
            match key {
                "uid" => {
                    meta.uid = number()
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(meta.uid)
                }
                "gid" => {
                    meta.gid = number()
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(meta.gid)
                }
                "mtime" => meta.mtime = number().unwrap_or(meta.mtime),
                _ => {
                    if let Some(name) = key.strip_prefix(XATTR_PAX_PREFIX) {
                        meta.xattrs.push((name.to_string(), value.to_vec()));
                    }
                }
            }
        }
    }
    Ok(meta)
}

/// A numeric header field; an empty (all NUL/space) field is 0, as Go's archive/tar reads it.
fn numeric<T: Default>(parsed: io::Result<T>, raw: &[u8]) -> io::Result<T> {
    match parsed {
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(T::default()),
        other => other,
    }
}

fn device<R: Read>(entry: &tar::Entry<'_, R>) -> io::Result<libc::dev_t> {
    let h = entry.header();
    Ok(sys::makedev(
        h.device_major()?.unwrap_or(0),
        h.device_minor()?.unwrap_or(0),
    ))
}

/// Splits an archive path into its components after lexical cleaning, as Go's `filepath.Clean`
/// followed by dockerd's breakout check: `.` and empty parts vanish; `..` pops; a relative path
/// that climbs above the root is `None`; an absolute path's `..` stops at `/` (contained).
pub(crate) fn clean_components(path: &[u8]) -> Option<Vec<&[u8]>> {
    let absolute = path.first() == Some(&b'/');
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in path.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() && !absolute {
                    return None;
                }
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// dockerd's symlink rule: a relative target, taken from the link's directory, must not climb
/// above the root. Absolute targets are fine: they are resolved inside the container's root.
fn symlink_stays_inside(parent: &[&[u8]], target: &[u8]) -> bool {
    if target.first() == Some(&b'/') {
        return true;
    }
    // A link at the top level reads as "/<target>": its ".." stop at the root, as they do for
    // dockerd's chrooted unpack (images ship `linuxrc -> ../bin/busybox`).
    let mut joined = parent.join(&b'/');
    joined.push(b'/');
    joined.extend_from_slice(target);
    clean_components(&joined).is_some()
}

/// Removes `dir/name`, recursively if it is a directory, never following symlinks.
fn remove_tree(dir: BorrowedFd<'_>, name: &CString) -> io::Result<()> {
    let Some(st) = sys::lstatat(dir, name)? else {
        return Ok(());
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return sys::unlinkat(dir, name, false);
    }
    let sub = sys::openat(
        dir,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )?;
    // Listing through /proc/self/fd names the directory we already hold open, not a path.
    let listing = std::fs::read_dir(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&sub)
    ))?;
    for child in listing {
        let child = child?;
        let cname = CString::new(
            std::os::unix::ffi::OsStrExt::as_bytes(child.file_name().as_os_str()).to_vec(),
        )
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "NUL in file name"))?;
        remove_tree(sub.as_fd(), &cname)?;
    }
    sys::unlinkat(dir, name, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_matches_dockerd() {
        let c = |p: &str| {
            clean_components(p.as_bytes()).map(|v| {
                v.iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
        };
        assert_eq!(c("./a/b/../c"), Some("a/c".into()));
        assert_eq!(c("/etc/passwd"), Some("etc/passwd".into()));
        assert_eq!(c("/../../etc"), Some("etc".into()));
        assert_eq!(c("../etc"), None);
        assert_eq!(c("a/../../etc"), None);
        assert_eq!(c("./"), Some(String::new()));
    }

    #[test]
    fn symlink_rule_matches_dockerd() {
        let parent: Vec<&[u8]> = vec![b"usr", b"bin"];
        assert!(symlink_stays_inside(&parent, b"../lib/x"));
        assert!(symlink_stays_inside(&parent, b"/etc/passwd"));
        assert!(!symlink_stays_inside(&parent, b"../../../etc"));
        assert!(symlink_stays_inside(&[], b"../bin/busybox"));
    }
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod escape_tests;
