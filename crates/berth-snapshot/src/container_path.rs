//! Paths inside a container's root for `docker cp`: resolution, stat, archive and extraction
//! points. The root is an opened directory and every lookup is `openat2(RESOLVE_IN_ROOT)` from
//! it, so `..`, absolute symlinks and symlinks swapped in meanwhile all stay inside the root.
//! What is resolved is then used by descriptor only; nothing is looked up again by string.
//!
//! A container's volumes and bind mounts are not visible in its root from the host (they live
//! in the container's mount namespace, or nowhere while it is stopped), so they are given to
//! [`ContainerRoot::with_mounts`] as opened sources: a path is walked one component at a time
//! and whatever lies at or under a mount's destination is looked up inside that mount's
//! opened source instead. Symlinks are followed by the walk itself, as container paths (an
//! absolute target starts again from the container's `/`), so none can leave the container.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::fsread::{self, Resolve};

/// Why a container path could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ContainerPathError {
    #[error("no such file or directory")]
    NotFound,
    #[error("extraction point is not a directory")]
    NotADirectory,
    #[error("{0}")]
    Io(#[source] io::Error),
}

impl From<io::Error> for ContainerPathError {
    fn from(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => Self::NotFound,
            _ => Self::Io(e),
        }
    }
}

/// dockerd's `types.ContainerPathStat`, with Go's `os.FileMode` bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
    pub link_target: String,
}

/// Symlinks followed in one walk before it fails with `ELOOP`, as Linux does.
const MAX_SYMLINKS: usize = 40;

/// A mount of the container (volume or bind) given by its opened source.
pub struct RootMount {
    /// The destination's components (cleaned, absolute).
    dest: Vec<String>,
    /// The source when it is a directory, opened `O_PATH`.
    dir: Option<OwnedFd>,
    /// The source's parent and name when it is not a directory (a bind-mounted file).
    file: Option<(OwnedFd, Vec<u8>)>,
    pub rw: bool,
}

impl RootMount {
    /// Opens a mount's source (a host path chosen by the daemon: a volume's `_data` or a bind
    /// source) for `destination` in the container.
    pub fn open(source: &Path, destination: &str, rw: bool) -> io::Result<Self> {
        let dest = components(&clean_abs(destination));
        let fd = crate::sys::open_path(source, libc::O_PATH)?;
        let st = fsread::fstat(fd.as_fd())?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Ok(Self {
                dest,
                dir: Some(fd),
                file: None,
                rw,
            });
        }
        let parent = source.parent().unwrap_or(Path::new("/"));
        let name = source
            .file_name()
            .map(|n| std::os::unix::ffi::OsStrExt::as_bytes(n).to_vec())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        let parent = crate::sys::open_path(parent, libc::O_PATH | libc::O_DIRECTORY)?;
        Ok(Self {
            dest,
            dir: None,
            file: Some((parent, name)),
            rw,
        })
    }

    /// A directory mount given by its destination opened where the mount is really mounted
    /// (a [`crate::mount_view::MountView`]), so walks below it cross the mounts nested in it.
    pub fn from_mounted_dir(dir: OwnedFd, destination: &str, rw: bool) -> Self {
        Self {
            dest: components(&clean_abs(destination)),
            dir: Some(dir),
            file: None,
            rw,
        }
    }
}

/// Where a container path lives once resolved.
pub enum Location<'a> {
    /// `rel` (components without symlinks) inside a directory root: the rootfs or a mount.
    In {
        root: BorrowedFd<'a>,
        rel: Vec<String>,
        mount: Option<&'a RootMount>,
    },
    /// Exactly a bind-mounted file.
    File(&'a RootMount),
    /// Below a bind-mounted file: nothing can be there.
    BelowFile,
}

fn components(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect()
}

/// An opened container root, with the container's mounts.
pub struct ContainerRoot {
    fd: OwnedFd,
    mounts: Vec<RootMount>,
}

/// The extraction point of `PUT /archive`.
pub struct ExtractionDir {
    pub fd: OwnedFd,
    /// `Some(rw)` when it lies at or under a mount's destination.
    pub mount_rw: Option<bool>,
}

/// A container path resolved as dockerd's `ResolvePath` does: every component but the last is
/// resolved (symlinks followed, inside the root); the last is kept as a name in that directory,
/// unless the path ends in `/` or `/.`, in which case it names the directory itself.
pub struct Resolved {
    pub dir: OwnedFd,
    /// `None`: the directory itself is meant.
    pub base: Option<Vec<u8>>,
    /// The absolute, cleaned path, keeping a trailing `/` or `/.`.
    pub abs_path: String,
    /// The directory's resolved container path (symlinks followed).
    dir_logical: Vec<String>,
    /// `Base(abs_path)`: the stat name and the archive's top-level name.
    pub name: String,
}

/// Go's `filepath.Clean` of an absolute path.
pub fn clean_abs(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

/// dockerd's `PreserveTrailingDotOrSeparator(Clean("/" + path), path)`.
pub fn abs_path(path: &str) -> String {
    let mut cleaned = clean_abs(&format!("/{path}"));
    let original_dot = path == "." || path.ends_with("/.");
    if original_dot && !cleaned.ends_with("/.") {
        if !cleaned.ends_with('/') {
            cleaned.push('/');
        }
        cleaned.push('.');
    }
    if path.ends_with('/') && !cleaned.ends_with('/') {
        cleaned.push('/');
    }
    cleaned
}

/// Go's `filepath.Base`.
pub fn go_base(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_string();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

impl ContainerRoot {
    /// Opens the container's root directory (its mounted rootfs).
    pub fn open(rootfs: &Path) -> io::Result<Self> {
        let fd = crate::sys::open_path(rootfs, libc::O_PATH | libc::O_DIRECTORY)?;
        Ok(Self {
            fd,
            mounts: Vec::new(),
        })
    }

    /// A root already opened (`O_PATH`, a directory), e.g. a [`crate::mount_view::MountView`]'s.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Self {
            fd,
            mounts: Vec::new(),
        }
    }

    /// Adds the container's mounts: paths at or under their destinations resolve inside them.
    pub fn with_mounts(mut self, mounts: Vec<RootMount>) -> Self {
        self.mounts = mounts;
        self
    }

    /// The root (the rootfs or the mount with the longest destination that is a prefix of
    /// `path`) a resolved container path lies in.
    pub fn locate(&self, path: &[String]) -> Location<'_> {
        let best = self
            .mounts
            .iter()
            .filter(|m| m.dest.len() <= path.len() && path[..m.dest.len()] == m.dest[..])
            .max_by_key(|m| m.dest.len());
        match best {
            None => Location::In {
                root: self.fd(),
                rel: path.to_vec(),
                mount: None,
            },
            Some(m) => match &m.dir {
                Some(dir) => Location::In {
                    root: dir.as_fd(),
                    rel: path[m.dest.len()..].to_vec(),
                    mount: Some(m),
                },
                None if path.len() == m.dest.len() => Location::File(m),
                None => Location::BelowFile,
            },
        }
    }

    /// Walks `path` component by component, following symlinks as container paths (the last
    /// one only when `follow_last`); returns the resolved path. A missing last component is
    /// not an error (the caller finds out when it opens it).
    fn walk(&self, path: &str, follow_last: bool) -> Result<Vec<String>, ContainerPathError> {
        let mut pending: std::collections::VecDeque<String> = components(path).into();
        let mut cur: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(comp) = pending.pop_front() {
            if comp == ".." {
                cur.pop();
                continue;
            }
            cur.push(comp);
            let last = pending.is_empty();
            if last && !follow_last {
                break;
            }
            let (st, dir, cname) = match self.locate(&cur) {
                Location::File(_) if last => break,
                Location::File(_) | Location::BelowFile => {
                    return Err(ContainerPathError::NotFound)
                }
                // The rootfs's or a mount's own root: never a symlink.
                Location::In { rel, .. } if rel.is_empty() => continue,
                Location::In { root, rel, .. } => {
                    let (name, parent) = rel.split_last().ok_or(ContainerPathError::NotFound)?;
                    let dir = fsread::open_beneath(
                        root,
                        parent.join("/").as_bytes(),
                        libc::O_PATH | libc::O_DIRECTORY,
                        Resolve::NoSymlinks,
                    )?;
                    let cname =
                        CString::new(name.as_bytes()).map_err(|_| ContainerPathError::NotFound)?;
                    match crate::sys::lstatat(dir.as_fd(), &cname)? {
                        Some(st) => (st, dir, cname),
                        None if last => break,
                        None => return Err(ContainerPathError::NotFound),
                    }
                }
            };
            match st.st_mode & libc::S_IFMT {
                libc::S_IFLNK => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(ContainerPathError::Io(io::Error::from_raw_os_error(
                            libc::ELOOP,
                        )));
                    }
                    let target = fsread::readlinkat(dir.as_fd(), &cname)?;
                    let target = String::from_utf8_lossy(&target).into_owned();
                    cur.pop();
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    for c in components(&target).into_iter().rev() {
                        pending.push_front(c);
                    }
                }
                libc::S_IFDIR => {}
                _ if !last => return Err(ContainerPathError::NotFound),
                _ => {}
            }
        }
        Ok(cur)
    }

    /// Opens a resolved container path (`O_PATH` plus `flags`).
    fn open_resolved(
        &self,
        path: &[String],
        flags: libc::c_int,
    ) -> Result<(OwnedFd, Option<&RootMount>), ContainerPathError> {
        match self.locate(path) {
            Location::File(m) => {
                let (parent, name) = m.file.as_ref().ok_or(ContainerPathError::NotFound)?;
                let cname = CString::new(name.clone()).map_err(|_| ContainerPathError::NotFound)?;
                let fd = fsread::openat_nofollow(parent.as_fd(), &cname, libc::O_PATH | flags)?;
                Ok((fd, Some(m)))
            }
            Location::BelowFile => Err(ContainerPathError::NotFound),
            Location::In { root, rel, mount } => {
                let fd = fsread::open_beneath(
                    root,
                    rel.join("/").as_bytes(),
                    libc::O_PATH | flags,
                    Resolve::NoSymlinks,
                )?;
                Ok((fd, mount))
            }
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Resolves `path` (taken as absolute in the container).
    pub fn resolve(&self, path: &str) -> Result<Resolved, ContainerPathError> {
        let abs = abs_path(path);
        let name = go_base(&abs);
        let (dir_part, base) = match abs.rfind('/') {
            Some(i) => (&abs[..=i], &abs[i + 1..]),
            None => ("/", abs.as_str()),
        };
        let dir_logical = self.walk(dir_part, true)?;
        let base = match base {
            "" | "." => None,
            b => Some(b.as_bytes().to_vec()),
        };
        if let Some(b) = &base {
            // The path names a mount's destination: the mount's source is meant, not what
            // the rootfs holds under it.
            let mut full = dir_logical.clone();
            full.push(String::from_utf8_lossy(b).into_owned());
            let target = match self.locate(&full) {
                Location::In {
                    rel,
                    mount: Some(_),
                    ..
                } if rel.is_empty() => {
                    Some((self.open_resolved(&full, libc::O_DIRECTORY)?.0, None))
                }
                Location::File(m) => match &m.file {
                    Some((parent, fname)) => Some((parent.try_clone()?, Some(fname.clone()))),
                    None => None,
                },
                _ => None,
            };
            if let Some((dir, base)) = target {
                return Ok(Resolved {
                    dir,
                    base,
                    abs_path: abs,
                    dir_logical,
                    name,
                });
            }
        }
        let (dir, _) = self.open_resolved(&dir_logical, libc::O_DIRECTORY)?;
        Ok(Resolved {
            dir,
            base,
            abs_path: abs,
            dir_logical,
            name,
        })
    }

    /// dockerd's `StatPath`: the entry itself (a symlink is not followed), with the link's
    /// fully resolved target (inside the root) when it is one.
    pub fn stat(&self, r: &Resolved) -> Result<PathStat, ContainerPathError> {
        let st = match &r.base {
            None => fsread::fstat(r.dir.as_fd())?,
            Some(b) => {
                let cname = CString::new(b.clone()).map_err(|_| ContainerPathError::NotFound)?;
                crate::sys::lstatat(r.dir.as_fd(), &cname)?.ok_or(ContainerPathError::NotFound)?
            }
        };
        let link_target = if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            self.link_target(r)?
        } else {
            String::new()
        };
        Ok(PathStat {
            name: r.name.clone(),
            size: st.st_size,
            mode: berth_types::gocompat::filemode::from_unix_mode(st.st_mode),
            mtime_sec: st.st_mtime,
            mtime_nsec: st.st_mtime_nsec.clamp(0, 999_999_999) as u32,
            link_target,
        })
    }

    /// The absolute in-container path a symlink finally resolves to; for a dangling link, its
    /// target taken lexically from the link's directory.
    fn link_target(&self, r: &Resolved) -> Result<String, ContainerPathError> {
        let trimmed = r.abs_path.trim_end_matches('/');
        if let Ok(p) = self.walk(trimmed, true) {
            if self.open_resolved(&p, 0).is_ok() {
                return Ok(format!("/{}", p.join("/")));
            }
        }
        let Some(base) = &r.base else {
            return Ok(r.abs_path.clone());
        };
        let cname = CString::new(base.clone()).map_err(|_| ContainerPathError::NotFound)?;
        let target = fsread::readlinkat(r.dir.as_fd(), &cname)?;
        let target = String::from_utf8_lossy(&target).into_owned();
        if target.starts_with('/') {
            return Ok(clean_abs(&target));
        }
        Ok(clean_abs(&format!("/{}/{target}", r.dir_logical.join("/"))))
    }

    /// dockerd's extraction point for `PUT /archive`: `path` with every symlink followed (the
    /// last one too), inside the container; it must be a directory.
    pub fn extraction_dir(&self, path: &str) -> Result<ExtractionDir, ContainerPathError> {
        let resolved = self.walk(&abs_path(path), true)?;
        let (fd, mount) = self.open_resolved(&resolved, 0)?;
        let st = fsread::fstat(fd.as_fd())?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(ContainerPathError::NotADirectory);
        }
        Ok(ExtractionDir {
            fd,
            mount_rw: mount.map(|m| m.rw),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abs_paths_keep_trailing_dot_and_slash() {
        assert_eq!(abs_path("etc"), "/etc");
        assert_eq!(abs_path("/etc/"), "/etc/");
        assert_eq!(abs_path("/tmp/."), "/tmp/.");
        assert_eq!(abs_path("/"), "/");
        assert_eq!(abs_path("."), "/.");
        assert_eq!(abs_path("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(go_base("/tmp/"), "tmp");
        assert_eq!(go_base("/tmp/."), ".");
        assert_eq!(go_base("/"), "/");
    }

    fn name_of(r: &ContainerRoot, path: &str) -> String {
        let fd = r.extraction_dir(path).map(|d| d.fd);
        match fd {
            Ok(fd) => fsread::fd_path(fd.as_fd())
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn mounts_take_over_their_destinations_and_symlinks_stay_inside() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let rootfs = tmp.path().join("rootfs");
        let vol = tmp.path().join("vol");
        std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
        std::fs::create_dir_all(rootfs.join("data")).expect("mkdir");
        std::fs::create_dir_all(vol.join("sub")).expect("mkdir");
        std::fs::write(vol.join("file"), "f").expect("write");
        std::os::unix::fs::symlink("/etc", vol.join("abs")).expect("symlink");
        std::os::unix::fs::symlink("../../../..", vol.join("up")).expect("symlink");
        std::os::unix::fs::symlink("/data/sub", rootfs.join("link")).expect("symlink");
        let root = ContainerRoot::open(&rootfs)
            .expect("open")
            .with_mounts(vec![
                RootMount::open(&vol, "/data/", true).expect("mount"),
                RootMount::open(&vol.join("file"), "/etc/bound", false).expect("mount"),
            ]);
        let host = |p: &Path| p.display().to_string();
        assert_eq!(name_of(&root, "/data"), host(&vol));
        assert_eq!(name_of(&root, "/data/sub/."), host(&vol.join("sub")));
        assert_eq!(name_of(&root, "/link"), host(&vol.join("sub")));
        assert_eq!(name_of(&root, "/data/abs"), host(&rootfs.join("etc")));
        assert_eq!(name_of(&root, "/data/up"), host(&rootfs));
        assert_eq!(name_of(&root, "/data/up/data/sub"), host(&vol.join("sub")));
        assert_eq!(
            name_of(&root, "/data/file"),
            "error: extraction point is not a directory"
        );
        assert_eq!(
            name_of(&root, "/etc/bound/x"),
            "error: no such file or directory"
        );
        let d = root.extraction_dir("/data/sub").expect("dir");
        assert_eq!(d.mount_rw, Some(true));
        assert_eq!(root.extraction_dir("/etc").expect("dir").mount_rw, None);
        // The mount's own destination names the source; a bound file is stat'ed as itself.
        let r = root.resolve("/data").expect("resolve");
        assert!(r.base.is_none());
        assert_eq!(r.name, "data");
        let st = root
            .stat(&root.resolve("/etc/bound").expect("resolve"))
            .expect("stat");
        assert_eq!((st.name.as_str(), st.size), ("bound", 1));
        let st = root
            .stat(&root.resolve("/data/abs").expect("resolve"))
            .expect("stat");
        assert_eq!(st.link_target, "/etc");
        let st = root
            .stat(&root.resolve("/link").expect("resolve"))
            .expect("stat");
        assert_eq!(st.link_target, "/data/sub");
    }
}
