//! A private view of a container's root with its volumes and bind mounts really mounted, as
//! dockerd mounts them for `docker cp` (moby `daemon/archive.go`: `mountVolumes` into the
//! container's rootfs). A tree walk from the view's root (a tar of `/`, of `/data` above a
//! mount at `/data/sub`) or an extraction into it then crosses into the mounts by itself.
//!
//! The mounts are made in a mount namespace of their own: a short-lived thread unshares one,
//! makes it private (nothing propagates back to the host or the container), opens the rootfs
//! there and bind-mounts each source onto its destination, which is resolved inside the
//! opened root through pathrs ([`berth_types::inroot`]) and mounted by descriptor
//! (`/proc/self/fd/<fd>`), never by a joined path. The thread then ends; the namespace lives
//! on as long as the view holds its descriptor, and with it the mounts the view's descriptors
//! walk through. Dropping the view tears it all down.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::fsread;
use berth_types::inroot;

/// One mount to make in the view.
#[derive(Debug, Clone)]
pub struct ViewMount {
    /// The host source (a volume's `_data`, a bind source, a resolved subpath).
    pub source: PathBuf,
    /// The destination in the container (absolute).
    pub destination: String,
    pub rw: bool,
}

/// The rootfs with the mounts on it, in a private mount namespace.
pub struct MountView {
    root: OwnedFd,
    /// For each [`ViewMount`] given, its destination opened (`O_PATH`) in the view when it
    /// could be mounted there: the mount's own root.
    mounted: Vec<Option<OwnedFd>>,
    /// Keeps the namespace, and so the mounts, alive.
    _ns: OwnedFd,
}

impl MountView {
    /// The rootfs in the view (`O_PATH`, a directory).
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// Takes the opened root out (for a `ContainerRoot`); the view must outlive its use.
    pub fn take_root(&mut self) -> io::Result<OwnedFd> {
        self.root.try_clone()
    }

    /// The destination of the `i`th mount, opened in the view, when it was mounted.
    pub fn mounted(&mut self, i: usize) -> Option<OwnedFd> {
        self.mounted.get_mut(i).and_then(Option::take)
    }
}

fn cvt(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn fd_path(fd: BorrowedFd<'_>) -> io::Result<CString> {
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn is_dir(fd: BorrowedFd<'_>) -> io::Result<bool> {
    Ok(fsread::fstat(fd)?.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// Bind-mounts `source` onto `destination` inside `root` (read-only unless `rw`). Returns the
/// destination opened after the mount, or `None` when it is missing in the rootfs or of
/// another kind than the source (then the caller falls back to resolving it by itself).
fn bind_one(root: BorrowedFd<'_>, m: &ViewMount) -> io::Result<Option<OwnedFd>> {
    let src = crate::sys::open_path(&m.source, libc::O_PATH)?;
    let rel = m.destination.trim_start_matches('/');
    if rel.is_empty() {
        return Ok(None);
    }
    let dest = match inroot::open(root, rel.as_bytes(), libc::O_PATH) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    if is_dir(src.as_fd())? != is_dir(dest.as_fd())? {
        return Ok(None);
    }
    let (s, d) = (fd_path(src.as_fd())?, fd_path(dest.as_fd())?);
    // SAFETY: both paths are NUL-terminated and outlive the call; the other arguments are
    // null, which MS_BIND allows.
    cvt(unsafe {
        libc::mount(
            s.as_ptr(),
            d.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    })?;
    // The destination again: now the bind mount's root.
    let top = inroot::open(root, rel.as_bytes(), libc::O_PATH)?;
    if !m.rw {
        let t = fd_path(top.as_fd())?;
        // SAFETY: `t` is NUL-terminated and outlives the call.
        cvt(unsafe {
            libc::mount(
                std::ptr::null(),
                t.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                std::ptr::null(),
            )
        })?;
    }
    Ok(Some(top))
}

fn build(rootfs: &Path, mounts: &[ViewMount]) -> io::Result<MountView> {
    // SAFETY: unshare only changes this thread's namespaces (CLONE_NEWNS implies CLONE_FS,
    // which a thread may unshare); the thread ends right after.
    cvt(unsafe { libc::unshare(libc::CLONE_NEWNS) })?;
    let slash = CString::from(c"/");
    // SAFETY: `slash` is NUL-terminated; the other pointers are null, as MS_PRIVATE allows.
    cvt(unsafe {
        libc::mount(
            std::ptr::null(),
            slash.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    })?;
    let ns = crate::sys::open_path(Path::new("/proc/thread-self/ns/mnt"), libc::O_RDONLY)?;
    let root = crate::sys::open_path(rootfs, libc::O_PATH | libc::O_DIRECTORY)?;
    // Shallow destinations first, so that a nested one resolves inside its parent mount.
    let mut order: Vec<usize> = (0..mounts.len()).collect();
    order.sort_by_key(|&i| {
        mounts[i]
            .destination
            .split('/')
            .filter(|c| !c.is_empty())
            .count()
    });
    let mut mounted: Vec<Option<OwnedFd>> = (0..mounts.len()).map(|_| None).collect();
    for i in order {
        match bind_one(root.as_fd(), &mounts[i]) {
            Ok(fd) => mounted[i] = fd,
            Err(e) => tracing::warn!(source = %mounts[i].source.display(),
                destination = %mounts[i].destination, error = %e, "mounting for cp"),
        }
    }
    Ok(MountView {
        root,
        mounted,
        _ns: ns,
    })
}

/// Makes the view of `rootfs` (a host path: the container's mounted rootfs) with `mounts`.
/// A mount that cannot be made is left out of the view (logged), and its slot in
/// [`MountView::mounted`] is empty.
pub fn mount_view(rootfs: &Path, mounts: &[ViewMount]) -> io::Result<MountView> {
    let rootfs = rootfs.to_path_buf();
    let mounts = mounts.to_vec();
    std::thread::Builder::new()
        .name("cp-mounts".into())
        .spawn(move || build(&rootfs, &mounts))?
        .join()
        .map_err(|_| io::Error::other("the mount thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_can_mount() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn mounts_are_seen_through_the_view_only() {
        if !root_can_mount() {
            eprintln!("skipped: needs root");
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let rootfs = tmp.path().join("rootfs");
        let vol = tmp.path().join("vol");
        std::fs::create_dir_all(rootfs.join("data/sub")).expect("mkdir");
        std::fs::create_dir_all(&vol).expect("mkdir");
        std::fs::write(vol.join("in-volume"), "v").expect("write");
        let mut view = mount_view(
            &rootfs,
            &[
                ViewMount {
                    source: vol.clone(),
                    destination: "/data/sub".into(),
                    rw: true,
                },
                ViewMount {
                    source: vol.clone(),
                    destination: "/missing/dir".into(),
                    rw: true,
                },
            ],
        )
        .expect("view");
        assert!(view.mounted(1).is_none());
        let sub = inroot::open(view.root(), b"data/sub", libc::O_PATH | libc::O_DIRECTORY)
            .expect("open sub");
        let name = CString::new("in-volume").expect("cstring");
        assert!(crate::sys::lstatat(sub.as_fd(), &name)
            .expect("lstat")
            .is_some());
        // The host's view of the rootfs is untouched.
        assert!(!rootfs.join("data/sub/in-volume").exists());
        drop(view);
    }
}
