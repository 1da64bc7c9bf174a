//! `docker diff`: what a container's upper dir changed relative to its image layers.
//!
//! Only the upper dir is walked (everything the container touched is there); each entry is
//! looked up in the lower layers (top first, honouring their whiteouts and opaque dirs) and
//! compared as dockerd's tree comparison does: added when the image has no such path, changed
//! when type, mode, owner or device differ (and, for non-directories, size or mtime), deleted
//! for an overlay whiteout. A directory that is unchanged itself but has changes inside is
//! reported as changed. An opaque upper directory hides everything the image had below it, so
//! the image's entries that are not in it are reported deleted.
//!
//! Order: parents before their children, names sorted bytewise within a directory (dockerd's
//! order depends on Go map iteration; this is the stable order of its documented walk).
//!
//! Every lookup is made by descriptor: the upper dir is walked with `O_NOFOLLOW` opens from
//! opened parents, lower layers are opened through pathrs with `NO_SYMLINKS`
//! ([`berth_types::inroot::open_no_symlinks`]).

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::fsread;
use berth_types::inroot;

const OPAQUE_XATTR: &std::ffi::CStr = c"trusted.overlay.opaque";

/// dockerd's change kinds, with its numbering (`Kind` in `GET /containers/{id}/changes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modify = 0,
    Add = 1,
    Delete = 2,
}

impl ChangeKind {
    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            Self::Modify => 'C',
            Self::Add => 'A',
            Self::Delete => 'D',
        }
    }
}

/// One changed path (absolute inside the container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
}

/// Why the changes could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    #[error("computing changes at {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// Files the runtime creates in a container's upper dir as bind-mount points (dockerd keeps them
/// in a hidden "init" layer): left out of diffs and commits while they are empty files.
pub fn is_init_mountpoint(rel: &[u8], st: &libc::stat) -> bool {
    let rel = rel.strip_prefix(b"/").unwrap_or(rel);
    matches!(
        rel,
        b"etc/hosts" | b"etc/hostname" | b"etc/resolv.conf" | b".dockerenv"
    ) && st.st_mode & libc::S_IFMT == libc::S_IFREG
        && st.st_size == 0
}

fn is_whiteout(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// dockerd's `statDifferent`.
fn differs(old: &libc::stat, new: &libc::stat) -> bool {
    if old.st_mode != new.st_mode
        || old.st_uid != new.st_uid
        || old.st_gid != new.st_gid
        || old.st_rdev != new.st_rdev
    {
        return true;
    }
    if is_dir(new) {
        return false;
    }
    let same_time = old.st_mtime == new.st_mtime
        && (old.st_mtime_nsec == new.st_mtime_nsec
            || old.st_mtime_nsec == 0
            || new.st_mtime_nsec == 0);
    !same_time || old.st_size != new.st_size
}

fn path_of(comps: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for c in comps {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(c));
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// The image's layers as one read-only view.
struct LowerView {
    /// Top layer first.
    layers: Vec<OwnedFd>,
}

enum LayerState {
    Present(libc::stat),
    /// A whiteout, an opaque dir or a non-directory above it hides the path in lower layers.
    Hidden,
    Absent,
}

impl LowerView {
    fn open(lowers: &[PathBuf]) -> io::Result<Self> {
        let mut layers = Vec::with_capacity(lowers.len());
        for dir in lowers.iter().rev() {
            layers.push(crate::sys::open_path(
                dir,
                libc::O_PATH | libc::O_DIRECTORY,
            )?);
        }
        Ok(Self { layers })
    }

    fn state(layer: BorrowedFd<'_>, comps: &[Vec<u8>]) -> io::Result<LayerState> {
        let mut opaque_above = false;
        for i in 1..=comps.len() {
            let prefix = comps[..i].join(&b'/');
            let fd = match inroot::open_no_symlinks(layer, &prefix, libc::O_PATH | libc::O_NOFOLLOW)
            {
                Ok(fd) => fd,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP)
                    ) =>
                {
                    return Ok(if opaque_above {
                        LayerState::Hidden
                    } else {
                        LayerState::Absent
                    })
                }
                Err(e) => return Err(e),
            };
            let st = fsread::fstat(fd.as_fd())?;
            if is_whiteout(&st) {
                return Ok(LayerState::Hidden);
            }
            if i == comps.len() {
                return Ok(LayerState::Present(st));
            }
            if !is_dir(&st) {
                return Ok(LayerState::Hidden);
            }
            if fsread::lgetxattrat(fd.as_fd(), b"", OPAQUE_XATTR)?.as_deref() == Some(b"y") {
                opaque_above = true;
            }
        }
        Ok(LayerState::Absent)
    }

    fn lookup(&self, comps: &[Vec<u8>]) -> io::Result<Option<libc::stat>> {
        for layer in &self.layers {
            match Self::state(layer.as_fd(), comps)? {
                LayerState::Present(st) if is_whiteout(&st) => return Ok(None),
                LayerState::Present(st) => return Ok(Some(st)),
                LayerState::Hidden => return Ok(None),
                LayerState::Absent => {}
            }
        }
        Ok(None)
    }

    /// Names the image has in directory `comps` (whiteouts applied).
    fn children(&self, comps: &[Vec<u8>]) -> io::Result<BTreeSet<Vec<u8>>> {
        let mut seen = BTreeSet::new();
        let mut removed = BTreeSet::new();
        for layer in &self.layers {
            let st = match Self::state(layer.as_fd(), comps)? {
                LayerState::Present(st) => st,
                LayerState::Hidden => break,
                LayerState::Absent => continue,
            };
            if !is_dir(&st) {
                break;
            }
            let dir = inroot::open_no_symlinks(
                layer.as_fd(),
                &comps.join(&b'/'),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            )?;
            for name in fsread::list_dir(dir.as_fd())? {
                if seen.contains(&name) || removed.contains(&name) {
                    continue;
                }
                let cname = CString::new(name.clone()).map_err(io::Error::other)?;
                match crate::sys::lstatat(dir.as_fd(), &cname)? {
                    Some(st) if is_whiteout(&st) => {
                        removed.insert(name);
                    }
                    Some(_) => {
                        seen.insert(name);
                    }
                    None => {}
                }
            }
            if fsread::lgetxattrat(dir.as_fd(), b"", OPAQUE_XATTR)?.as_deref() == Some(b"y") {
                break;
            }
        }
        Ok(seen)
    }
}

/// The changes of the upper dir `upper` over the layer dirs `lowers` (lowest first).
pub fn overlay_changes(lowers: &[PathBuf], upper: &Path) -> Result<Vec<Change>, ChangesError> {
    let io_err = |path: &str| {
        let path = path.to_string();
        move |source| ChangesError::Io { path, source }
    };
    let lower = LowerView::open(lowers).map_err(io_err("/"))?;
    let root =
        crate::sys::open_path(upper, libc::O_RDONLY | libc::O_DIRECTORY).map_err(io_err("/"))?;
    let mut out = Vec::new();
    walk(&lower, root.as_fd(), &mut Vec::new(), false, &mut out)?;
    Ok(out)
}

fn walk(
    lower: &LowerView,
    dir: BorrowedFd<'_>,
    comps: &mut Vec<Vec<u8>>,
    opaque: bool,
    out: &mut Vec<Change>,
) -> Result<(), ChangesError> {
    let here = path_of(comps);
    let e = |source| ChangesError::Io {
        path: here.clone(),
        source,
    };
    let upper_names: BTreeSet<Vec<u8>> = fsread::list_dir(dir).map_err(e)?.into_iter().collect();
    let mut names = upper_names.clone();
    if opaque {
        // Everything the image had here is hidden; what the upper dir lacks was deleted.
        names.extend(lower.children(comps).map_err(e)?);
    }
    for name in names {
        comps.push(name.clone());
        let result = visit(lower, dir, comps, &name, upper_names.contains(&name), out);
        comps.pop();
        result?;
    }
    Ok(())
}

fn visit(
    lower: &LowerView,
    dir: BorrowedFd<'_>,
    comps: &mut Vec<Vec<u8>>,
    name: &[u8],
    in_upper: bool,
    out: &mut Vec<Change>,
) -> Result<(), ChangesError> {
    let path = path_of(comps);
    let e = |source| ChangesError::Io {
        path: path.clone(),
        source,
    };
    if !in_upper {
        out.push(Change {
            path,
            kind: ChangeKind::Delete,
        });
        return Ok(());
    }
    let cname = CString::new(name.to_vec()).map_err(|x| e(io::Error::other(x)))?;
    let Some(st) = crate::sys::lstatat(dir, &cname).map_err(e)? else {
        return Ok(());
    };
    if is_init_mountpoint(path.as_bytes(), &st) {
        return Ok(());
    }
    let old = lower.lookup(comps).map_err(e)?;
    if is_whiteout(&st) {
        if old.is_some() {
            out.push(Change {
                path,
                kind: ChangeKind::Delete,
            });
        }
        return Ok(());
    }
    if !is_dir(&st) {
        let kind = match old {
            None => Some(ChangeKind::Add),
            Some(old) if differs(&old, &st) => Some(ChangeKind::Modify),
            Some(_) => None,
        };
        if let Some(kind) = kind {
            out.push(Change { path, kind });
        }
        return Ok(());
    }
    let child =
        fsread::openat_nofollow(dir, &cname, libc::O_RDONLY | libc::O_DIRECTORY).map_err(e)?;
    let opaque = fsread::lgetxattrat(child.as_fd(), b"", OPAQUE_XATTR)
        .map_err(e)?
        .as_deref()
        == Some(b"y");
    let old_is_dir = old.as_ref().is_some_and(is_dir);
    let mut inner = Vec::new();
    walk(
        lower,
        child.as_fd(),
        comps,
        opaque && old_is_dir,
        &mut inner,
    )?;
    let kind = match old {
        None => Some(ChangeKind::Add),
        Some(old) if differs(&old, &st) || !inner.is_empty() => Some(ChangeKind::Modify),
        Some(_) => None,
    };
    if let Some(kind) = kind {
        out.push(Change { path, kind });
    }
    out.append(&mut inner);
    Ok(())
}
