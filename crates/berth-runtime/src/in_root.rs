//! Opening files inside a container's rootfs with openat2 `RESOLVE_IN_ROOT`, so symlinks and
//! `..` resolve as they would inside the container and never escape it.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, FileStat, Mode};

/// An opened rootfs directory.
#[derive(Debug)]
pub struct Root(OwnedFd);

impl Root {
    pub fn open(path: &Path) -> io::Result<Root> {
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)?;
        Ok(Root(OwnedFd::from(file)))
    }

    fn open_with(&self, path: &str, flags: OFlag) -> io::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .mode(Mode::empty())
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = openat2(self.0.as_raw_fd(), path, how).map_err(io::Error::from)?;
        // SAFETY: openat2 just returned this descriptor and nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Opens `path` (absolute or relative, both taken from the root) for reading.
    pub fn open_file(&self, path: &str) -> io::Result<File> {
        self.open_with(path, OFlag::O_RDONLY).map(File::from)
    }

    /// Stats `path` inside the root, following symlinks within it.
    pub fn stat(&self, path: &str) -> io::Result<FileStat> {
        let fd = self.open_with(path, OFlag::O_PATH)?;
        fstat(fd.as_raw_fd()).map_err(io::Error::from)
    }

    /// Creates `path` and any missing parents inside the root (mode `mode`, owned by the
    /// caller), as dockerd does for a container's working directory. Each component is made
    /// with `mkdirat` in its parent, itself resolved inside the root, so a symlink on the way
    /// resolves within the container and a dangling one is an error, never an escape.
    pub fn mkdir_all(&self, path: &str, mode: u32) -> io::Result<()> {
        let mut prefix = String::new();
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            let parent = if prefix.is_empty() {
                "/".to_string()
            } else {
                prefix.clone()
            };
            prefix = format!("{parent}/{part}").replace("//", "/");
            match self.open_with(&prefix, OFlag::O_PATH | OFlag::O_DIRECTORY) {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound && part != ".." => {}
                Err(e) => return Err(e),
            }
            let dir = self.open_with(&parent, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
            match nix::sys::stat::mkdirat(
                Some(dir.as_raw_fd()),
                part,
                Mode::from_bits_truncate(mode),
            ) {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                Err(e) => return Err(e.into()),
            }
            self.open_with(&prefix, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        }
        Ok(())
    }

    /// Opens the directory `path` inside the root for reading.
    pub fn open_dir(&self, path: &str) -> io::Result<OwnedFd> {
        self.open_with(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
    }

    /// The canonical form of `path` in the root (symlinks and `..` resolved within it), so a
    /// runtime given it finds no symlink on the way, wherever it resolves.
    pub fn canonical(&self, path: &str) -> io::Result<String> {
        let fd = self.open_with(path, OFlag::O_PATH)?;
        let full = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
        let root = std::fs::read_link(format!("/proc/self/fd/{}", self.0.as_raw_fd()))?;
        let rel = full
            .strip_prefix(&root)
            .map_err(|_| io::Error::other("the resolved path is outside the root"))?;
        Ok(format!("/{}", rel.display()))
    }

    /// Creates an empty file at `path` (parents must exist) unless something is there; a
    /// symlink in the last component is left alone, as it resolves within the root anyway.
    pub fn create_file(&self, path: &str, mode: u32) -> io::Result<()> {
        let trimmed = path.trim_end_matches('/');
        let (parent, name) = trimmed.rsplit_once('/').unwrap_or(("", trimmed));
        let dir = self.open_with(
            if parent.is_empty() { "/" } else { parent },
            OFlag::O_PATH | OFlag::O_DIRECTORY,
        )?;
        match nix::fcntl::openat(
            Some(dir.as_raw_fd()),
            name,
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        ) {
            Ok(fd) => {
                // SAFETY: openat just returned this descriptor and nothing else owns it.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
                Ok(())
            }
            Err(nix::errno::Errno::EEXIST) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a whole file inside the root; a missing file is `Ok(None)`.
    pub fn read_optional(&self, path: &str) -> io::Result<Option<String>> {
        match self.open_file(path) {
            Ok(mut f) => {
                let mut s = String::new();
                io::Read::read_to_string(&mut f, &mut s)?;
                Ok(Some(s))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
        std::fs::write(dir.path().join("etc/passwd"), "inside\n").expect("write");
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("abs")).expect("symlink");
        std::os::unix::fs::symlink("../../../../../etc/passwd", dir.path().join("dotdot"))
            .expect("symlink");
        let root = Root::open(dir.path()).expect("root");
        for p in ["/abs", "dotdot", "/../../etc/passwd"] {
            assert_eq!(
                root.read_optional(p).expect("read").as_deref(),
                Some("inside\n"),
                "{p}"
            );
        }
        assert_eq!(root.read_optional("/nope").expect("missing"), None);
        assert!(root.stat("/etc").is_ok());
    }

    #[test]
    fn mkdir_all_stays_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("root");
        std::fs::create_dir_all(rootfs.join("real")).expect("mkdir");
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).expect("mkdir");
        std::os::unix::fs::symlink("/real", rootfs.join("abs")).expect("symlink");
        std::os::unix::fs::symlink("../../real", rootfs.join("up")).expect("symlink");
        std::os::unix::fs::symlink(&outside, rootfs.join("escape")).expect("symlink");
        let root = Root::open(&rootfs).expect("root");
        root.mkdir_all("/a/b/c", 0o755).expect("plain");
        assert!(rootfs.join("a/b/c").is_dir());
        root.mkdir_all("/abs/x", 0o755)
            .expect("through an absolute symlink");
        root.mkdir_all("up/y", 0o755)
            .expect("through a relative symlink");
        root.mkdir_all("/../../z", 0o755).expect("dot-dot");
        assert!(
            root.mkdir_all("/escape/w", 0o755).is_err(),
            "a symlink dangling inside the root is an error"
        );
        assert!(
            std::fs::read_dir(&outside).expect("read").next().is_none(),
            "something escaped the root"
        );
        assert!(rootfs.join("real/x").is_dir() && rootfs.join("real/y").is_dir());
        assert!(rootfs.join("z").is_dir());
        root.mkdir_all("/a/b/c", 0o755).expect("idempotent");
    }
}
