//! The runtime interface the shim drives: create/start/exec/kill/delete over an OCI bundle.
//!
//! Two implementations: the embedded one (youki's `libcontainer`, feature `embedded`) and
//! [`crate::external`] for any OCI runtime binary (runc, crun, youki). The shim is the
//! reaper: it sets `PR_SET_CHILD_SUBREAPER` and waits for the pids these methods return, so a
//! backend must not wait for them itself.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Stdio for a process without a terminal. `None` means /dev/null.
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// How a new process gets its stdio.
#[derive(Debug)]
pub enum ProcessIo {
    /// Plain fds (pipes); `process.terminal` is false.
    Pipes(Stdio),
    /// A new pty; `process.terminal` is true and the master is returned in [`Spawned`].
    Terminal,
}

/// A process the runtime has created.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    /// The pty master, for [`ProcessIo::Terminal`].
    pub pty_master: Option<OwnedFd>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The process's executable does not exist. The message follows runc's wording:
    /// `exec: "<cmd>": executable file not found in $PATH` or
    /// `exec: "<path>": stat <path>: no such file or directory`.
    #[error("{0}")]
    NotFound(String),
    /// The executable exists but cannot be run: `exec: "<path>": permission denied`.
    #[error("{0}")]
    PermissionDenied(String),
    /// The container does not exist in the runtime.
    #[error("container {0} does not exist")]
    NoSuchContainer(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// An OCI runtime.
pub trait Runtime {
    /// Creates container `id` from `bundle` (its `config.json`); its init is left waiting
    /// before exec until [`Runtime::start`].
    fn create(&self, id: &str, bundle: &Path, io: ProcessIo) -> Result<Spawned>;
    /// Lets a created container's init exec its process.
    fn start(&self, id: &str) -> Result<()>;
    /// Starts `process` inside running container `id` (joins its namespaces and cgroup).
    fn exec(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        io: ProcessIo,
    ) -> Result<Spawned>;
    /// Sends `signal` to init, or to every process in the container when `all`.
    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()>;
    /// Removes the runtime's state and the container's cgroup. `force` kills what still runs.
    fn delete(&self, id: &str, force: bool) -> Result<()>;
}

/// Which runtime a container uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeChoice {
    Embedded,
    Binary { path: PathBuf, args: Vec<String> },
}
