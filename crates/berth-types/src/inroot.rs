//! Paths inside a container's root, an image layer, a volume or an archive's destination.
//!
//! Every lookup of such a path goes through [`pathrs`] (the library youki's libcontainer uses
//! for the same job): `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` where the kernel has it,
//! pathrs' userspace emulation (`O_PATH` walk with `/proc/self/fd` checks) where it does not.
//! `..`, absolute symlinks, relative symlinks climbing out and `/proc/self/root`-style magic
//! links all stay inside the opened root, and a symlink swapped in during the lookup is either
//! resolved inside the root too or detected (`EXDEV`). Callers then use what was resolved by
//! descriptor only, one component at a time (`*at` syscalls), never by string again.
//!
//! This module is the one thin layer over pathrs, for what pathrs does not offer itself:
//! * `pathrs::Error` is not an [`io::Error`], while berth's callers turn errno values into
//!   dockerd's wording and status codes (`ENOENT` → 404 `Could not find the file ...`), so every
//!   function here returns [`io::Result`] with the errno kept ([`io_error`]);
//! * a descriptor-rooted form ([`open`], [`open_no_symlinks`]) for trees already opened as a
//!   directory descriptor (an unpack destination, an overlay layer), over `pathrs::RootRef`;
//! * where a resolved descriptor sits, inside its root ([`Root::canonical`]) or on the host
//!   ([`fd_path`]), read through pathrs' hardened procfs handle;
//! * "create unless something is there" for a mount target ([`Root::create_file`]), which
//!   pathrs splits into an exclusive create and an error.

use std::ffi::OsStr;
use std::fs::{File, Metadata, Permissions};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pathrs::error::ErrorKind as PathrsErrorKind;
use pathrs::flags::{OpenFlags, ResolverFlags};
use pathrs::procfs::{ProcfsBase, ProcfsHandle};
use pathrs::RootRef;

/// A pathrs error as an [`io::Error`] carrying its errno (a detected attack is `EXDEV`), so
/// callers keep matching `raw_os_error()` as they would for a plain syscall.
pub fn io_error(e: pathrs::error::Error) -> io::Error {
    match e.kind() {
        PathrsErrorKind::OsError(Some(errno)) => io::Error::from_raw_os_error(errno),
        PathrsErrorKind::SafetyViolation => io::Error::from_raw_os_error(libc::EXDEV),
        PathrsErrorKind::InvalidArgument => {
            io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
        }
        PathrsErrorKind::NotSupported | PathrsErrorKind::NotImplemented => {
            io::Error::new(io::ErrorKind::Unsupported, e.to_string())
        }
        _ => io::Error::other(e.to_string()),
    }
}

/// A path given as bytes (tar names, container paths); empty means the root itself.
fn as_path(path: &[u8]) -> &Path {
    if path.is_empty() {
        Path::new("/")
    } else {
        Path::new(OsStr::from_bytes(path))
    }
}

fn open_flags(flags: libc::c_int) -> OpenFlags {
    OpenFlags::from_bits_retain((flags | libc::O_CLOEXEC) as u32 as u64)
}

/// Opens `path` (may contain `/`; absolute or relative, both taken from `root`) inside the tree
/// opened as `root`, which acts as `/`. `flags` are `open(2)` flags (`O_PATH` included).
pub fn open(root: BorrowedFd<'_>, path: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    RootRef::from_fd(root)
        .open_subpath(as_path(path), open_flags(flags))
        .map(OwnedFd::from)
        .map_err(io_error)
}

/// As [`open`], but any symlink on the way, the last component included, is an error
/// (`ELOOP`): for walks over trees whose symlinks are data, never to be followed (overlay
/// layers, the upper directory of `docker diff`, a build's cache mount).
pub fn open_no_symlinks(
    root: BorrowedFd<'_>,
    path: &[u8],
    flags: libc::c_int,
) -> io::Result<OwnedFd> {
    RootRef::from_fd(root)
        .with_resolver_flags(ResolverFlags::NO_SYMLINKS)
        .open_subpath(as_path(path), open_flags(flags))
        .map(OwnedFd::from)
        .map_err(io_error)
}

/// Where an open descriptor is on the host, read through pathrs' procfs handle (a fake procfs
/// mounted over `/proc` is refused). For reporting, or for handing a symlink-free path to a
/// mount, never for looking anything up again.
pub fn fd_path(fd: BorrowedFd<'_>) -> io::Result<PathBuf> {
    ProcfsHandle::new()
        .and_then(|proc| proc.readlink(ProcfsBase::ProcSelf, format!("fd/{}", fd.as_raw_fd())))
        .map_err(io_error)
}

/// An opened root directory (a container's rootfs, a volume, a layer).
#[derive(Debug)]
pub struct Root(pathrs::Root);

impl Root {
    pub fn open(path: &Path) -> io::Result<Root> {
        pathrs::Root::open(path).map(Root).map_err(io_error)
    }

    /// Opens `path` (absolute or relative, both taken from the root) for reading.
    pub fn open_file(&self, path: &str) -> io::Result<File> {
        open(self.0.as_fd(), path.as_bytes(), libc::O_RDONLY).map(File::from)
    }

    /// Opens the directory `path` inside the root for reading.
    pub fn open_dir(&self, path: &str) -> io::Result<OwnedFd> {
        open(
            self.0.as_fd(),
            path.as_bytes(),
            libc::O_RDONLY | libc::O_DIRECTORY,
        )
    }

    /// The metadata of `path` inside the root, following symlinks within it.
    pub fn stat(&self, path: &str) -> io::Result<Metadata> {
        let handle = self.0.resolve(as_path(path.as_bytes())).map_err(io_error)?;
        File::from(OwnedFd::from(handle)).metadata()
    }

    /// [`Root::stat`] for a lookup whose miss is an answer rather than an error (a command
    /// searched for along `PATH`): `None` when nothing is there. With openat2 the kernel
    /// resolves inside the root itself (`RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`, what pathrs
    /// asks of openat2) and a miss costs that one call, where pathrs makes each miss an error
    /// that names the root through procfs (six calls more: about 30 us per missing `PATH`
    /// entry of every container's start). Without openat2, pathrs as [`Root::stat`].
    pub fn stat_if_present(&self, path: &str) -> io::Result<Option<Metadata>> {
        let c_path =
            std::ffi::CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: an all-zero open_how is valid (it is a plain struct of integers).
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
        how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
        // SAFETY: the root's descriptor is open, `c_path` is NUL-terminated and `how` lives
        // across the call with its size passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.0.as_fd().as_raw_fd(),
                c_path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: openat2 returned a new descriptor nothing else owns.
            let file = File::from(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
            return file.metadata().map(Some);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => Ok(None),
            // No openat2 here (or it refused the flags, or a retry is asked): pathrs decides.
            Some(libc::ENOSYS) | Some(libc::EINVAL) | Some(libc::EPERM) | Some(libc::EAGAIN) => {
                match self.stat(path) {
                    Ok(m) => Ok(Some(m)),
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            _ => Err(e),
        }
    }

    /// Creates `path` and any missing parents inside the root (mode `mode`, owned by the
    /// caller), as dockerd does for a container's working directory. A symlink on the way
    /// resolves within the root; a dangling one is an error, never an escape.
    pub fn mkdir_all(&self, path: &str, mode: u32) -> io::Result<()> {
        self.0
            .mkdir_all(
                as_path(path.as_bytes()),
                &Permissions::from_mode(mode & 0o1777),
            )
            .map(drop)
            .map_err(io_error)
    }

    /// Creates an empty file at `path` (parents must exist) unless something is there; a
    /// symlink in the last component is left alone, as it resolves within the root anyway.
    pub fn create_file(&self, path: &str, mode: u32) -> io::Result<()> {
        let created = self.0.create_file(
            as_path(path.trim_end_matches('/').as_bytes()),
            OpenFlags::O_WRONLY | OpenFlags::O_EXCL | OpenFlags::O_NOFOLLOW,
            &Permissions::from_mode(mode & 0o7777),
        );
        match created.map_err(io_error) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The canonical form of `path` in the root (symlinks and `..` resolved within it), so a
    /// runtime given it finds no symlink on the way, wherever it resolves.
    pub fn canonical(&self, path: &str) -> io::Result<String> {
        let handle = self.0.resolve(as_path(path.as_bytes())).map_err(io_error)?;
        let full = fd_path(handle.as_fd())?;
        let root = fd_path(self.0.as_fd())?;
        let rel = full
            .strip_prefix(&root)
            .map_err(|_| io::Error::other("the resolved path is outside the root"))?;
        Ok(format!("/{}", rel.display()))
    }

    /// Reads a whole file inside the root; a missing file is `Ok(None)`.
    pub fn read_optional(&self, path: &str) -> io::Result<Option<String>> {
        match self.open_file(path) {
            Ok(mut f) => {
                let mut s = String::new();
                f.read_to_string(&mut s)?;
                Ok(Some(s))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl AsFd for Root {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
        std::fs::write(dir.path().join("etc/passwd"), "inside\n").expect("write");
        symlink("/etc/passwd", dir.path().join("abs")).expect("symlink");
        symlink("../../../../../etc/passwd", dir.path().join("dotdot")).expect("symlink");
        symlink("/proc/self/root/etc/passwd", dir.path().join("magic")).expect("symlink");
        let root = Root::open(dir.path()).expect("root");
        for p in ["/abs", "dotdot", "/../../etc/passwd"] {
            assert_eq!(
                root.read_optional(p).expect("read").as_deref(),
                Some("inside\n"),
                "{p}"
            );
        }
        // `/proc/self/root` is looked up inside the root, where there is no /proc.
        assert_eq!(root.read_optional("/magic").expect("magic"), None);
        assert_eq!(root.read_optional("/nope").expect("missing"), None);
        assert!(root.stat("/etc").expect("stat").is_dir());
        assert_eq!(root.canonical("/abs").expect("canonical"), "/etc/passwd");
    }

    #[test]
    fn stat_if_present_resolves_inside_the_root_and_misses_quietly() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("bin")).expect("mkdir");
        std::fs::write(dir.path().join("bin/tool"), "x").expect("write");
        // Each of these would name a host file if followed from the host's root.
        symlink("/bin/tool", dir.path().join("abs")).expect("symlink");
        symlink("../../../../../../etc/passwd", dir.path().join("dotdot")).expect("symlink");
        symlink("/proc/self/root/etc/passwd", dir.path().join("magic")).expect("symlink");
        let root = Root::open(dir.path()).expect("root");
        let tool = root.stat_if_present("/bin/tool").expect("stat");
        assert_eq!(tool.map(|m| m.len()), Some(1));
        assert_eq!(
            root.stat_if_present("/abs").expect("abs").map(|m| m.len()),
            Some(1)
        );
        for missing in [
            "/nope",
            "/bin/nope",
            "/bin/tool/under-a-file",
            "dotdot",
            "/../etc/passwd",
            "/magic",
        ] {
            assert!(
                root.stat_if_present(missing).expect(missing).is_none(),
                "{missing} resolved outside the root"
            );
        }
        // A magic link reachable inside the root is refused, not followed.
        let host = Root::open(Path::new("/")).expect("host root");
        let e = host
            .stat_if_present("/proc/self/root/etc/passwd")
            .expect_err("a magic link is not followed");
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
    }

    #[test]
    fn magic_links_inside_the_root_are_refused() {
        // A real procfs reachable inside the root (as in a container with /proc mounted): its
        // magic links would jump to the host's root, so resolution refuses them.
        let host = Root::open(Path::new("/")).expect("host root");
        let e = host
            .read_optional("/proc/self/root/etc/passwd")
            .expect_err("a magic link is not followed");
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
    }

    #[test]
    fn symlink_loops_are_eloop() {
        let dir = tempfile::tempdir().expect("tempdir");
        symlink("b", dir.path().join("a")).expect("symlink");
        symlink("a", dir.path().join("b")).expect("symlink");
        let root = Root::open(dir.path()).expect("root");
        let e = root.read_optional("/a").expect_err("loop");
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        let e = root.mkdir_all("/a/x", 0o755).expect_err("loop");
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
    }

    #[test]
    fn mkdir_all_stays_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("root");
        std::fs::create_dir_all(rootfs.join("real")).expect("mkdir");
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).expect("mkdir");
        symlink("/real", rootfs.join("abs")).expect("symlink");
        symlink("../../real", rootfs.join("up")).expect("symlink");
        symlink(&outside, rootfs.join("escape")).expect("symlink");
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

    #[test]
    fn create_file_leaves_what_is_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        let target = outside.path().join("host-file");
        symlink(&target, dir.path().join("link")).expect("symlink");
        std::fs::write(dir.path().join("kept"), "x").expect("write");
        let root = Root::open(dir.path()).expect("root");
        root.create_file("/new", 0o644).expect("create");
        assert!(dir.path().join("new").is_file());
        root.create_file("/kept", 0o644).expect("existing");
        assert_eq!(std::fs::read(dir.path().join("kept")).expect("read"), b"x");
        root.create_file("/link", 0o644).expect("a symlink is left");
        assert!(!target.exists(), "created through a symlink on the host");
    }

    #[test]
    fn no_symlinks_refuses_every_symlink() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("d")).expect("mkdir");
        std::fs::write(dir.path().join("d/f"), "x").expect("write");
        symlink("d", dir.path().join("via")).expect("symlink");
        symlink("f", dir.path().join("d/last")).expect("symlink");
        let fd = File::open(dir.path()).expect("open");
        let fd = fd.as_fd();
        open_no_symlinks(fd, b"d/f", libc::O_RDONLY).expect("plain");
        open_no_symlinks(fd, b"", libc::O_PATH | libc::O_DIRECTORY).expect("the root itself");
        for p in [&b"via/f"[..], b"d/last"] {
            let e = open_no_symlinks(fd, p, libc::O_PATH).expect_err("symlink");
            assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        }
        open(fd, b"via/last", libc::O_RDONLY).expect("followed inside the root");
    }

    #[test]
    fn a_swapped_in_symlink_never_leads_out() {
        // One thread keeps swapping a directory for a symlink to the host's /; lookups through
        // it either find the directory's file or fail, never the host's.
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().to_path_buf();
        std::fs::create_dir(base.join("d")).expect("mkdir");
        std::fs::write(base.join("d/passwd"), "inside").expect("write");
        symlink("/etc", base.join("evil")).expect("symlink");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let swapper = {
            let (base, stop) = (base.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::fs::rename(base.join("d"), base.join("tmp"));
                    let _ = std::fs::rename(base.join("evil"), base.join("d"));
                    let _ = std::fs::rename(base.join("d"), base.join("evil"));
                    let _ = std::fs::rename(base.join("tmp"), base.join("d"));
                }
            })
        };
        let root = Root::open(&base).expect("root");
        for _ in 0..2000 {
            if let Ok(Some(s)) = root.read_optional("/d/passwd") {
                assert_eq!(s, "inside");
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        swapper.join().expect("swapper");
    }
}
