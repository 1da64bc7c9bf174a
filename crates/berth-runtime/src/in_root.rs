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
        let file = File::options().read(true).custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC).open(path)?;
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
        std::os::unix::fs::symlink("../../../../../etc/passwd", dir.path().join("dotdot")).expect("symlink");
        let root = Root::open(dir.path()).expect("root");
        for p in ["/abs", "dotdot", "/../../etc/passwd"] {
            assert_eq!(root.read_optional(p).expect("read").as_deref(), Some("inside\n"), "{p}");
        }
        assert_eq!(root.read_optional("/nope").expect("missing"), None);
        assert!(root.stat("/etc").is_ok());
    }
}
