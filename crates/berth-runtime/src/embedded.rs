//! [`Runtime`] in-process, with youki's `libcontainer` (feature `embedded`).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::error::LibcontainerError;
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::Spec;

use crate::backend::{ProcessIo, Result, Runtime, RuntimeError, Spawned, Stdio};
use crate::console::{receive_fd, ConsoleSocket};
use crate::exec_check::check_executable;
use crate::workdir::WorkDir;

/// The embedded runtime; `root` holds its per-container state, as runc's `--root`.
#[derive(Debug, Clone)]
pub struct EmbeddedRuntime {
    root: PathBuf,
}

impl EmbeddedRuntime {
    pub fn new(root: impl Into<PathBuf>) -> EmbeddedRuntime {
        EmbeddedRuntime { root: root.into() }
    }

    fn builder(&self, id: &str) -> Result<ContainerBuilder> {
        std::fs::create_dir_all(&self.root).map_err(|e| other("creating the runtime root", e))?;
        ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_executor(crate::workload::WorkloadExecutor)
            .with_root_path(&self.root)
            .map_err(lc_error)
    }

    fn load(&self, id: &str) -> Result<Container> {
        let dir = self.root.join(id);
        if !dir.exists() {
            return Err(RuntimeError::NoSuchContainer(id.to_string()));
        }
        Container::load(dir).map_err(lc_error)
    }
}

/// Stdio fds for the builder: the given ones, /dev/null for the rest.
fn with_io(
    mut b: ContainerBuilder,
    io: ProcessIo,
    work: &WorkDir,
) -> Result<(ContainerBuilder, Option<ConsoleSocket>)> {
    match io {
        ProcessIo::Pipes(Stdio {
            stdin,
            stdout,
            stderr,
        }) => {
            b = b
                .with_stdin(or_null(stdin)?)
                .with_stdout(or_null(stdout)?)
                .with_stderr(or_null(stderr)?);
            Ok((b, None))
        }
        ProcessIo::Terminal => {
            let socket = ConsoleSocket::bind(&work.join("console.sock"))
                .map_err(|e| RuntimeError::Other(e.to_string()))?;
            b = b.with_console_socket(Some(socket.path()));
            Ok((b, Some(socket)))
        }
    }
}

fn or_null(fd: Option<OwnedFd>) -> Result<OwnedFd> {
    match fd {
        Some(fd) => Ok(fd),
        None => File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map(OwnedFd::from)
            .map_err(|e| other("/dev/null", e)),
    }
}

/// The pty master libcontainer sent while building (it connected before `build` returned).
fn take_console(socket: Option<ConsoleSocket>) -> Result<Option<OwnedFd>> {
    let Some(socket) = socket else {
        return Ok(None);
    };
    let stream = socket
        .accept_within(std::time::Duration::from_secs(5))
        .map_err(|e| RuntimeError::Other(e.to_string()))?
        .ok_or_else(|| RuntimeError::Other("the runtime sent no pty master".into()))?;
    receive_fd(&stream)
        .map(Some)
        .map_err(|e| RuntimeError::Other(e.to_string()))
}

fn other(what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other(format!("{what}: {e}"))
}

fn lc_error(e: LibcontainerError) -> RuntimeError {
    // An exec's failure arrives through a pipe read in 3-byte chunks, NUL-padded.
    crate::external::classify(e.to_string().trim_end_matches('\0'))
}

impl Runtime for EmbeddedRuntime {
    fn create(&self, id: &str, bundle: &Path, io: ProcessIo) -> Result<Spawned> {
        let spec =
            Spec::load(bundle.join("config.json")).map_err(|e| other("loading config.json", e))?;
        check_executable(&spec, bundle)?;
        let work = WorkDir::new().map_err(|e| other("creating a temp dir", e))?;
        let (builder, console) = with_io(self.builder(id)?, io, &work)?;
        let container = builder
            .as_init(bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(|e| {
                // libcontainer may leave its state behind on failure; nothing half-made stays.
                if let Ok(mut c) = self.load(id) {
                    let _ = c.delete(true);
                }
                lc_error(e)
            })?;
        let pid = container
            .pid()
            .ok_or_else(|| RuntimeError::Other("created container has no pid".into()))?;
        let pty_master = match take_console(console) {
            Ok(m) => m,
            Err(e) => {
                let _ = self.delete(id, true);
                return Err(e);
            }
        };
        Ok(Spawned {
            pid: pid.as_raw(),
            pty_master,
        })
    }

    fn start(&self, id: &str) -> Result<()> {
        self.load(id)?.start().map_err(lc_error)
    }

    fn exec(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        io: ProcessIo,
    ) -> Result<Spawned> {
        let container = self.load(id)?;
        let mut process = process.clone();
        if process.no_new_privileges() == Some(false) {
            // libcontainer reads an explicit `false` as "set" (see crate::spec).
            process.set_no_new_privileges(None);
        }
        let process = &process;
        let mut spec = Spec::load(container.bundle().join("config.json"))
            .map_err(|e| other("loading config.json", e))?;
        spec.set_process(Some(process.clone()));
        check_executable(&spec, container.bundle())?;
        let work = WorkDir::new().map_err(|e| other("creating a temp dir", e))?;
        let process_json = work.join("process.json");
        let file = File::create(&process_json).map_err(|e| other("writing process.json", e))?;
        serde_json::to_writer(file, process).map_err(|e| other("writing process.json", e))?;
        let (builder, console) = with_io(self.builder(id)?, io, &work)?;
        let pid = builder
            .as_tenant()
            .with_detach(true)
            .with_process(Some(&process_json))
            .build()
            .map_err(lc_error)?;
        let pty_master = take_console(console)?;
        Ok(Spawned {
            pid: pid.as_raw(),
            pty_master,
        })
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let signal = Signal::try_from(signal).map_err(|e| RuntimeError::Other(e.to_string()))?;
        self.load(id)?.kill(signal, all).map_err(lc_error)
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        self.load(id)?.delete(force).map_err(lc_error)
    }
}
