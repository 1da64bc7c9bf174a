//! Leaving berthd: double fork + setsid, stdio to /dev/null, SIGPIPE ignored, subreaper.

use std::os::fd::AsRawFd;

use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, setsid, ForkResult};

#[derive(Debug, thiserror::Error)]
pub enum DetachError {
    #[error("fork: {0}")]
    Fork(nix::Error),
    #[error("setsid: {0}")]
    Setsid(nix::Error),
    #[error("redirect stdio to /dev/null: {0}")]
    DevNull(std::io::Error),
    #[error("set child subreaper: {0}")]
    Subreaper(std::io::Error),
    #[error("ignore SIGPIPE: {0}")]
    Sigpipe(nix::Error),
}

/// Returns only in the detached grandchild. The launching process exits once the intermediate
/// child has, so berthd sees `berth-shim` finish quickly while the grandchild keeps fd 3.
pub fn detach() -> Result<(), DetachError> {
    // SAFETY: the shim is single-threaded here; the child only continues with this code.
    match unsafe { fork() }.map_err(DetachError::Fork)? {
        ForkResult::Parent { child } => {
            let code = match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => code,
                _ => 1,
            };
            std::process::exit(code);
        }
        ForkResult::Child => {}
    }
    setsid().map_err(DetachError::Setsid)?;
    // SAFETY: still single-threaded; the intermediate process exits at once.
    match unsafe { fork() }.map_err(DetachError::Fork)? {
        // SAFETY: _exit skips destructors and atexit handlers that belong to the grandchild.
        ForkResult::Parent { .. } => unsafe { libc::_exit(0) },
        ForkResult::Child => {}
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
    Ok(())
}
