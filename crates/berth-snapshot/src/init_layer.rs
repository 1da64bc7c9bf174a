//! A layer chain's init layer: `overlay/<top chain-id>/init`, the mount points every container
//! of the chain binds its `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` over, made once
//! for the chain and shared as the topmost lower of its containers (dockerd keeps the same
//! files in a per-container `-init` layer).
//!
//! Without it each container's init made the three files in its own upper directory: an
//! overlay copy-up of `/etc` and three new inodes on the data root per container, at every
//! start's critical path. With it the runtime finds them in place.
//!
//! Only what the image leaves as the runtime would make it goes there: an `/etc` that is not a
//! directory in the image (a symlink) gets no init layer at all, and a file the image has as
//! anything but a regular file (a symlink) is left out, so the runtime resolves and mounts as
//! it did. The image's `/etc` keeps its mode, owner and times (the init layer's directory hides
//! the image's attributes in the merged view). Layers are read by descriptor, one name at a
//! time and never following a link: their contents come from images.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::fsread::{lgetxattrat, openat_nofollow};
use crate::sys;

/// The directory under a layer's own (`overlay/<chain-id>/init`).
pub(crate) const INIT_DIR: &str = "init";
/// The files made there, under `etc`.
const FILES: [&CStr; 3] = [c"hosts", c"hostname", c"resolv.conf"];
const ETC: &CStr = c"etc";
const OPAQUE: &CStr = c"trusted.overlay.opaque";

/// What a name is in the merged view of a chain's layers.
#[derive(Clone, Copy)]
enum Seen {
    Absent,
    Regular,
    Directory(libc::stat),
    Other,
}

/// The init layer of the chain whose layer directories (`overlay/<id>`, lowest first) are
/// `layers`: `init` in the top one, made the first time in `tmp` (a directory name the caller's
/// crash sweep covers) and renamed into place whole. `None` when the image's `/etc` is not a
/// directory: nothing is made then.
pub(crate) fn ensure(layers: &[PathBuf], tmp: &Path) -> io::Result<Option<PathBuf>> {
    let Some(top) = layers.last() else {
        return Ok(None);
    };
    let init = top.join(INIT_DIR);
    if init.is_dir() {
        return Ok(Some(init));
    }
    let diffs = layers
        .iter()
        .rev()
        .map(|l| sys::open_path(&l.join("diff"), libc::O_PATH | libc::O_DIRECTORY))
        .collect::<io::Result<Vec<_>>>()?;
    let etc = match lookup(&diffs, &[ETC])? {
        Seen::Absent => None,
        Seen::Directory(st) => Some(st),
        Seen::Regular | Seen::Other => return Ok(None),
    };
    let made = (|| -> io::Result<()> {
        std::fs::create_dir(tmp)?;
        let dir = sys::open_path(tmp, libc::O_PATH | libc::O_DIRECTORY)?;
        let tmp_etc = make_dir(dir.as_fd(), ETC, 0o755)?;
        for file in FILES {
            match lookup(&diffs, &[ETC, file])? {
                Seen::Absent | Seen::Regular => {
                    sys::openat(
                        tmp_etc.as_fd(),
                        file,
                        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                        0o644,
                    )?;
                }
                Seen::Directory(_) | Seen::Other => {}
            }
        }
        if let Some(st) = etc {
            // The directory as the image has it; set last, after the files changed its times.
            let etc_dir = openat_nofollow(dir.as_fd(), ETC, libc::O_RDONLY | libc::O_DIRECTORY)?;
            sys::fchown(etc_dir.as_fd(), st.st_uid, st.st_gid)?;
            sys::fchmod(etc_dir.as_fd(), st.st_mode & 0o7777)?;
            sys::futimes(etc_dir.as_fd(), st.st_mtime.max(0) as u64)?;
        }
        std::fs::rename(tmp, &init)
    })();
    match made {
        Ok(()) => Ok(Some(init)),
        // Another container of the chain made it meanwhile.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ENOTEMPTY)) => {
            let _ = std::fs::remove_dir_all(tmp);
            Ok(Some(init))
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(tmp);
            Err(e)
        }
    }
}

/// Opens `dir/name`, making it first if missing.
fn make_dir(dir: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> io::Result<OwnedFd> {
    match sys::mkdirat(dir, name, mode) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
        Err(e) => return Err(e),
    }
    openat_nofollow(dir, name, libc::O_PATH | libc::O_DIRECTORY)
}

/// `path` (components) in the merged view of `diffs` (topmost first), by overlay's rules: the
/// topmost layer with an entry decides (a whiteout, a character device 0/0, hides it); a
/// parent that is not a directory, or an opaque one, hides everything below it.
fn lookup(diffs: &[OwnedFd], path: &[&CStr]) -> io::Result<Seen> {
    'layers: for diff in diffs {
        let mut dir: Option<OwnedFd> = None;
        for (i, name) in path.iter().enumerate() {
            let parent = dir.as_ref().map_or(diff.as_fd(), |d| d.as_fd());
            let Some(st) = sys::lstatat(parent, name)? else {
                continue 'layers;
            };
            let kind = st.st_mode & libc::S_IFMT;
            if kind == libc::S_IFCHR && st.st_rdev == 0 {
                return Ok(Seen::Absent);
            }
            if i + 1 == path.len() {
                return Ok(match kind {
                    libc::S_IFREG => Seen::Regular,
                    libc::S_IFDIR => Seen::Directory(st),
                    _ => Seen::Other,
                });
            }
            if kind != libc::S_IFDIR {
                return Ok(Seen::Absent);
            }
            let opaque =
                lgetxattrat(parent, name.to_bytes(), OPAQUE)?.is_some_and(|v| v.as_slice() == b"y");
            let next = openat_nofollow(parent, name, libc::O_PATH | libc::O_DIRECTORY)?;
            if opaque {
                // The rest of the path is decided in this layer alone.
                return lookup_in(next.as_fd(), &path[i + 1..]);
            }
            dir = Some(next);
        }
    }
    Ok(Seen::Absent)
}

/// `path` below `dir` in one layer only (under an opaque directory).
fn lookup_in(dir: BorrowedFd<'_>, path: &[&CStr]) -> io::Result<Seen> {
    let Some((name, rest)) = path.split_first() else {
        return Ok(Seen::Absent);
    };
    let Some(st) = sys::lstatat(dir, name)? else {
        return Ok(Seen::Absent);
    };
    let kind = st.st_mode & libc::S_IFMT;
    if rest.is_empty() {
        return Ok(match kind {
            libc::S_IFCHR if st.st_rdev == 0 => Seen::Absent,
            libc::S_IFREG => Seen::Regular,
            libc::S_IFDIR => Seen::Directory(st),
            _ => Seen::Other,
        });
    }
    if kind != libc::S_IFDIR {
        return Ok(Seen::Absent);
    }
    let next = openat_nofollow(dir, name, libc::O_PATH | libc::O_DIRECTORY)?;
    lookup_in(next.as_fd(), rest)
}
