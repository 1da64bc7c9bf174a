//! How the embedded runtime executes a container's process: libcontainer's default executor,
//! except that an `execve` failure keeps the kernel's reason, worded as runc words it
//! (`unable to start container process: exec /bin/true: argument list too long`). The default
//! executor reports every failure as "failed to execute workload".

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::Spec;

#[derive(Clone)]
pub(crate) struct WorkloadExecutor;

impl Executor for WorkloadExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let args = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .filter(|a| !a.is_empty())
            .ok_or(ExecutorError::InvalidArg)?;
        set_console_size(spec);
        // setup_envs has already made the process's environment the container's.
        let path = resolve(&args[0], std::env::var_os("PATH").as_deref());
        let c_path =
            CString::new(path.as_os_str().as_bytes()).map_err(|_| ExecutorError::InvalidArg)?;
        let c_args = args
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ExecutorError::InvalidArg)?;
        // Returns only on failure: on success the process image is replaced.
        let Err(errno) = nix::unistd::execv(&c_path, &c_args);
        if std::process::id() == 1 {
            // The container's init, already started: nobody waits for an error any more, so
            // it goes where runc puts it, on the container's stderr, and init exits 1.
            let line = format!("exec {}: {}\n", path.display(), go_errno(errno));
            // SAFETY: write(2) of a valid buffer to fd 2; a failed write changes nothing.
            unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
            std::process::exit(1);
        }
        Err(ExecutorError::Other(exec_failure(&path, errno)))
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}

/// The process's `consoleSize`, set on its terminal before it runs (as runc's init does):
/// stdin is the pty's slave by now. libcontainer itself leaves the size 0x0.
fn set_console_size(spec: &Spec) {
    let Some(process) = spec.process().as_ref() else {
        return;
    };
    let Some(size) = process.console_size() else {
        return;
    };
    if process.terminal() != Some(true) || size.height() == 0 || size.width() == 0 {
        return;
    }
    let ws = libc::winsize {
        ws_row: u16::try_from(size.height()).unwrap_or(u16::MAX),
        ws_col: u16::try_from(size.width()).unwrap_or(u16::MAX),
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct that lives for the duration of the call; a
    // failure (stdin not a terminal) changes nothing and the process runs at the old size.
    unsafe { libc::ioctl(0, libc::TIOCSWINSZ, &ws) };
}

/// runc's message for a failed `execve`, the errno as Go prints it.
pub(crate) fn exec_failure(path: &Path, errno: nix::errno::Errno) -> String {
    format!(
        "unable to start container process: exec {}: {}",
        path.display(),
        go_errno(errno)
    )
}

/// An errno as Go prints it: `argument list too long`.
fn go_errno(errno: nix::errno::Errno) -> String {
    let desc = errno.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => desc.to_string(),
    }
}

/// `execvp`'s lookup: a name with a `/` is used as it is, otherwise the first executable
/// regular file of that name in `PATH` (an empty entry is the working directory).
pub(crate) fn resolve(cmd: &str, path_var: Option<&OsStr>) -> PathBuf {
    if cmd.contains('/') {
        return PathBuf::from(cmd);
    }
    let path_var = path_var.map(OsStr::as_bytes).unwrap_or(b"");
    for dir in path_var.split(|b| *b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(cmd);
        if nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok()
            && candidate.metadata().is_ok_and(|m| m.is_file())
        {
            return candidate;
        }
    }
    PathBuf::from(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_the_kernels_reason_as_runc() {
        assert_eq!(
            exec_failure(Path::new("/bin/true"), nix::errno::Errno::E2BIG),
            "unable to start container process: exec /bin/true: argument list too long"
        );
    }

    #[test]
    fn resolves_like_execvp() {
        assert_eq!(resolve("./x", None), PathBuf::from("./x"));
        assert_eq!(
            resolve("sh", Some(OsStr::new("/nonexistent:/bin"))),
            PathBuf::from("/bin/sh")
        );
        assert_eq!(
            resolve("no-such-cmd", Some(OsStr::new("/bin"))),
            PathBuf::from("no-such-cmd")
        );
    }
}
