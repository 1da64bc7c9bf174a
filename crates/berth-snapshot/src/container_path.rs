//! Paths inside a container's root for `docker cp`: resolution, stat, archive and extraction
//! points. The root is an opened directory and every lookup is `openat2(RESOLVE_IN_ROOT)` from
//! it, so `..`, absolute symlinks and symlinks swapped in meanwhile all stay inside the root.
//! What is resolved is then used by descriptor only; nothing is looked up again by string.

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

/// An opened container root.
pub struct ContainerRoot {
    fd: OwnedFd,
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

/// Go's `os.FileMode` for a `st_mode`.
pub fn go_file_mode(st_mode: libc::mode_t) -> u32 {
    const MODE_DIR: u32 = 1 << 31;
    const MODE_SYMLINK: u32 = 1 << 27;
    const MODE_DEVICE: u32 = 1 << 26;
    const MODE_NAMED_PIPE: u32 = 1 << 25;
    const MODE_SOCKET: u32 = 1 << 24;
    const MODE_SETUID: u32 = 1 << 23;
    const MODE_SETGID: u32 = 1 << 22;
    const MODE_CHAR_DEVICE: u32 = 1 << 21;
    const MODE_STICKY: u32 = 1 << 20;
    let mut mode = st_mode & 0o777;
    mode |= match st_mode & libc::S_IFMT {
        libc::S_IFDIR => MODE_DIR,
        libc::S_IFLNK => MODE_SYMLINK,
        libc::S_IFIFO => MODE_NAMED_PIPE,
        libc::S_IFSOCK => MODE_SOCKET,
        libc::S_IFBLK => MODE_DEVICE,
        libc::S_IFCHR => MODE_DEVICE | MODE_CHAR_DEVICE,
        _ => 0,
    };
    if st_mode & libc::S_ISUID != 0 {
        mode |= MODE_SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        mode |= MODE_SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        mode |= MODE_STICKY;
    }
    mode
}

impl ContainerRoot {
    /// Opens the container's root directory (its mounted rootfs).
    pub fn open(rootfs: &Path) -> io::Result<Self> {
        let fd = crate::sys::open_path(rootfs, libc::O_PATH | libc::O_DIRECTORY)?;
        Ok(Self { fd })
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
        let dir = fsread::open_beneath(
            self.fd(),
            dir_part.as_bytes(),
            libc::O_PATH | libc::O_DIRECTORY,
            Resolve::InRoot,
        )?;
        let base = match base {
            "" | "." => None,
            b => Some(b.as_bytes().to_vec()),
        };
        Ok(Resolved {
            dir,
            base,
            abs_path: abs,
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
            mode: go_file_mode(st.st_mode),
            mtime_sec: st.st_mtime,
            mtime_nsec: st.st_mtime_nsec.clamp(0, 999_999_999) as u32,
            link_target,
        })
    }

    /// The absolute in-container path a symlink finally resolves to; for a dangling link, its
    /// target taken lexically from the link's directory (as far as it can be resolved).
    fn link_target(&self, r: &Resolved) -> Result<String, ContainerPathError> {
        let root_host = fsread::fd_path(self.fd())?;
        let trimmed = r.abs_path.trim_end_matches('/');
        match fsread::open_beneath(self.fd(), trimmed.as_bytes(), libc::O_PATH, Resolve::InRoot) {
            Ok(fd) => {
                let host = fsread::fd_path(fd.as_fd())?;
                let rel = host.strip_prefix(&root_host).unwrap_or(Path::new(""));
                Ok(clean_abs(&format!("/{}", rel.display())))
            }
            Err(_) => {
                let Some(base) = &r.base else {
                    return Ok(r.abs_path.clone());
                };
                let cname = CString::new(base.clone()).map_err(|_| ContainerPathError::NotFound)?;
                let target = fsread::readlinkat(r.dir.as_fd(), &cname)?;
                let target = String::from_utf8_lossy(&target).into_owned();
                if target.starts_with('/') {
                    return Ok(clean_abs(&target));
                }
                let dir_host = fsread::fd_path(r.dir.as_fd())?;
                let dir_rel = dir_host.strip_prefix(&root_host).unwrap_or(Path::new(""));
                Ok(clean_abs(&format!("/{}/{target}", dir_rel.display())))
            }
        }
    }

    /// dockerd's extraction point for `PUT /archive`: `path` with every symlink followed (the
    /// last one too), inside the root; it must be a directory.
    pub fn extraction_dir(&self, path: &str) -> Result<OwnedFd, ContainerPathError> {
        let abs = abs_path(path);
        let fd = fsread::open_beneath(self.fd(), abs.as_bytes(), libc::O_PATH, Resolve::InRoot)?;
        let st = fsread::fstat(fd.as_fd())?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(ContainerPathError::NotADirectory);
        }
        Ok(fd)
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

    #[test]
    fn file_modes_match_go() {
        assert_eq!(go_file_mode(libc::S_IFREG | 0o644), 420);
        assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), 134_218_239);
        assert_eq!(
            go_file_mode(libc::S_IFDIR | libc::S_ISVTX | 0o777),
            2_148_532_735
        );
    }
}
