//! Network namespaces kept alive by a bind mount on a file (`<exec-root>/netns/<id>`), so a
//! container's network outlives berthd and the runtime can join it by path.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{NetworkError, Result};

/// Creates a new network namespace pinned at `path`, its loopback up (see [`Prepared`]).
pub fn create(path: &Path) -> Result<()> {
    Prepared::new()?.pin(path)
}

/// A new network namespace, its loopback up (as dockerd's sandboxes: `--network none` has
/// `lo`, and the embedded DNS listens on it), held by a descriptor until [`Prepared::pin`]
/// binds it to a path. Made ahead of a container (the kernel's work for a new namespace, about
/// 1 ms of CPU here, is then off its start) and pinned when the container takes it; dropped
/// unpinned, it goes away with its descriptor.
///
/// The loopback is brought up by the thread that made the namespace, with one ioctl, rather
/// than later through a netlink connection opened from inside (a thread, a `setns` and two
/// round trips).
#[derive(Debug)]
pub struct Prepared(File);

impl Prepared {
    pub fn new() -> Result<Prepared> {
        // unshare(CLONE_NEWNET) changes only the calling thread: a short-lived thread does it,
        // so no runtime thread ever leaves the host's namespace.
        std::thread::spawn(move || -> Result<Prepared> {
            unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetworkError::io("unshare(CLONE_NEWNET)", e.into()))?;
            loopback_up().map_err(|e| NetworkError::io("bringing lo up", e))?;
            File::open("/proc/thread-self/ns/net")
                .map(Prepared)
                .map_err(|e| NetworkError::io("opening /proc/thread-self/ns/net", e))
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetworkError::io(
                "creating a network namespace",
                std::io::Error::other("thread panicked"),
            ))
        })
    }

    /// Binds the namespace to `path` (made here), where it outlives this process; on failure
    /// `path` is removed.
    pub fn pin(self, path: &Path) -> Result<()> {
        File::create(path)
            .map_err(|e| NetworkError::io(format!("creating {}", path.display()), e))?;
        let source = PathBuf::from(format!("/proc/self/fd/{}", self.0.as_raw_fd()));
        let pinned = mount(
            Some(&source),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| NetworkError::io(format!("bind-mounting {}", path.display()), e.into()));
        if pinned.is_err() {
            let _ = std::fs::remove_file(path);
        }
        pinned
    }
}

/// Sets `lo` up in the calling thread's network namespace (SIOCGIFFLAGS, SIOCSIFFLAGS).
fn loopback_up() -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: plain socket(2) call; the result is checked and owned below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of `request`, which we own.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS only reads `request`.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Unpins and deletes the namespace file; a missing one is fine.
pub fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => {
            return Err(NetworkError::io(
                format!("unmounting {}", path.display()),
                e.into(),
            ))
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetworkError::io(format!("removing {}", path.display()), e)),
    }
}

/// Runs `f` on a fresh thread that has joined the namespace at `path`; the thread ends with
/// `f`, so the namespace change never leaks to other work.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let ns =
        File::open(path).map_err(|e| NetworkError::io(format!("opening {}", path.display()), e))?;
    std::thread::spawn(move || {
        setns(&ns, CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetworkError::io("setns(CLONE_NEWNET)", e.into()))?;
        f()
    })
    .join()
    .unwrap_or_else(|_| {
        Err(NetworkError::io(
            "entering a network namespace",
            std::io::Error::other("thread panicked"),
        ))
    })
}
