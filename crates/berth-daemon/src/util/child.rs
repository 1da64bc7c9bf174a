//! berthd's own children that outlive the request that started them (a container's shim, a
//! pod's holder): watched through a pidfd and reaped whenever they exit.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use berth_types::{Error, Result};

/// A pidfd of `pid`. For berthd's own unreaped child it names that child for sure; for any
/// other process the caller must check it is still the one it meant after the open.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; a descriptor returned is ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by pidfd_open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A pidfd registered with the runtime: readable once its process has exited.
pub(crate) fn watch(pidfd: OwnedFd) -> Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: the OwnedFd is moved into the AsyncFd, which owns it (open, the same
    // description) until dropped.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE)
    }
    .map_err(|e| Error::internal(format!("watching a child process: {e}")))
}

/// Reaps berthd's child behind `pidfd` whenever it exits (the pidfd turns readable), so no
/// zombie is left however long it runs.
pub(crate) fn reap_later(pidfd: OwnedFd) {
    tokio::spawn(async move {
        let Ok(fd) = watch(pidfd) else {
            return;
        };
        if fd.readable().await.is_ok() {
            // SAFETY: siginfo_t is plain data filled by waitid; the pidfd is ours.
            unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                libc::waitid(
                    libc::P_PIDFD,
                    fd.as_raw_fd() as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOHANG,
                );
            }
        }
    });
}
