//! Leaving berthd's way: a session of its own, stdio to /dev/null, SIGPIPE ignored, subreaper.
//!
//! berthd spawns the shim with `POSIX_SPAWN_SETSID` and reaps it whenever it exits, so the
//! shim does not fork twice to get away from it: the process berthd started is the one that
//! supervises the container. The shim never opens a terminal's slave side (containers' ptys
//! are made inside them, and only masters come back), so leading a session gives it no
//! controlling terminal.

use std::os::fd::AsRawFd;

use nix::sys::signal::{signal, SigHandler, Signal};
use nix::unistd::{getpid, getsid, setsid};

#[derive(Debug, thiserror::Error)]
pub enum DetachError {
    #[error("setsid: {0}")]
    Setsid(nix::Error),
    #[error("redirect stdio to /dev/null: {0}")]
    DevNull(std::io::Error),
    #[error("set child subreaper: {0}")]
    Subreaper(std::io::Error),
    #[error("ignore SIGPIPE: {0}")]
    Sigpipe(nix::Error),
}

pub fn detach() -> Result<(), DetachError> {
    // Started by hand (tests, debugging) rather than by berthd, the shim makes its session.
    if getsid(None).map_err(DetachError::Setsid)? != getpid() {
        setsid().map_err(DetachError::Setsid)?;
    }
    null_stdio().map_err(DetachError::DevNull)?;
    // SAFETY: replacing a signal disposition with SIG_IGN installs no handler code.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }.map_err(DetachError::Sigpipe)?;
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and touches no memory of ours.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(DetachError::Subreaper(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn null_stdio() -> std::io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors, which this process owns.
        if unsafe { libc::dup2(null.as_raw_fd(), target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    if null.as_raw_fd() <= 2 {
        // Opened as one of 0-2 (it was closed): it is that descriptor now, and stays open.
        let _ = std::os::fd::IntoRawFd::into_raw_fd(null);
    }
    Ok(())
}
