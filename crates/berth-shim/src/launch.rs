//! `berth-shim <shim.json>`: detach, create the container, report on fd 3, supervise.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use berth_runtime::shim_proto::{CreateResult, ShimConfig};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::detach::{detach, DetachError};
use crate::helper::{self, HelperError, Produced};
use crate::jsonlog::{JsonLog, LogError};
use crate::proc_io::{self, ProcIoError};
use crate::runtime_select::runtime_for;
use crate::shimlog;
use crate::supervisor::{Init, Supervisor};

/// The create-result pipe berthd passes.
const RESULT_FD: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("read shim config {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse shim config {path}: {source}")]
    ParseConfig {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Detach(#[from] DetachError),
    #[error("set up SIGCHLD handling: {0}")]
    Signals(nix::Error),
    #[error("listen on {path}: {source}")]
    Listen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Io(#[from] ProcIoError),
    #[error(transparent)]
    Helper(#[from] HelperError),
    /// The runtime's own message, passed through unchanged.
    #[error("{0}")]
    Runtime(String),
}

/// Runs the whole shim; the return value is the process exit code.
pub fn run(config_path: &Path) -> i32 {
    prepare();
    run_prepared(config_path)
}

/// What a shim does before it knows its container (a spare does it before it waits).
pub fn prepare() {
    close_inherited_fds();
    // After the close: the handle's descriptor must survive it.
    berth_runtime::warm_procfs_handle();
    berth_runtime::seccomp_cache::warm();
}

/// [`run`] after [`prepare`].
pub fn run_prepared(config_path: &Path) -> i32 {
    let mut result_pipe = take_result_pipe();
    let config = match load_config(config_path) {
        Ok(config) => config,
        Err(e) => {
            report(
                &mut result_pipe,
                &CreateResult::Failed {
                    message: e.to_string(),
                },
            );
            return 1;
        }
    };
    if let Err(e) = detach() {
        report(
            &mut result_pipe,
            &CreateResult::Failed {
                message: e.to_string(),
            },
        );
        return 1;
    }
    shimlog::init(&config.bundle);
    if config.trace {
        crate::trace::install();
    }
    let span = tracing::debug_span!("shim_launch").entered();
    let _ = std::env::set_current_dir("/");
    let result_fd = result_pipe.as_ref().map(|f| f.as_raw_fd());
    match create(&config, result_fd) {
        Ok((supervisor, pid)) => {
            crate::failpoint::hit("shim-before-report");
            if !report(&mut result_pipe, &CreateResult::Created { pid }) {
                // berthd died before hearing of the container: nobody will start or track it.
                shimlog::error("berthd is gone; removing the container it did not hear of");
                drop(supervisor);
                cleanup_failed_create(&config);
                return 1;
            }
            drop(result_pipe);
            drop(span);
            // The supervisor drops the startup's code pages once it has been quiet a while.
            supervisor.run();
            0
        }
        Err(e) => {
            shimlog::error(&format!("create: {e}"));
            cleanup_failed_create(&config);
            report(
                &mut result_pipe,
                &CreateResult::Failed {
                    message: e.to_string(),
                },
            );
            1
        }
    }
}

fn create(config: &ShimConfig, result_fd: Option<RawFd>) -> Result<(Supervisor, i32), LaunchError> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block().map_err(LaunchError::Signals)?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(LaunchError::Signals)?;
    let log = if config.log_disabled {
        None
    } else {
        Some(
            JsonLog::open(&config.log_path, config.log_max_size, config.log_max_files)?
                .compress_rotated(config.log_compress)
                .format(config.log_format),
        )
    };
    let (io, pending) = proc_io::prepare(config.tty, config.open_stdin)?;
    remove_stale_state(config);
    let job = config.clone();
    let created = if config.runtime_binary.is_none() {
        // The embedded runtime clones the container's processes from here (see
        // `helper::run_in_place`); the init holds fd 3 until it execs.
        helper::run_in_place(move || {
            let _span = tracing::debug_span!("create_in_place").entered();
            runtime_for(&job)?
                .create(&job.id, &job.bundle, io)
                .map(Produced::Process)
        })
    } else {
        // An external runtime forks and execs; its helper keeps the shim's event loop out of
        // the runtime's process handling.
        let close_in_child: Vec<RawFd> = result_fd.into_iter().collect();
        helper::run_closing(
            move || {
                let _span = tracing::debug_span!("helper_create").entered();
                runtime_for(&job)?
                    .create(&job.id, &job.bundle, io)
                    .map(Produced::Process)
            },
            &close_in_child,
        )?
    };
    let spawned = match created {
        Ok(Produced::Process(spawned)) => spawned,
        Ok(Produced::Nothing) => {
            return Err(LaunchError::Runtime(
                "the runtime created no process".into(),
            ))
        }
        Err(e) => return Err(LaunchError::Runtime(e.to_string())),
    };
    let pid = spawned.pid;
    // Listening only now: the embedded runtime's init, cloned from this process, holds what
    // it had open until it execs, and a listener it held would accept berthd's connections
    // for a shim killed meanwhile, leaving them unanswered.
    let listener = listen(&config.socket)?;
    let io = pending.finish(spawned.pty_master, config.open_stdin)?;
    if config.tty {
        // Only a terminal has a size; the spec is not parsed again for anything else.
        initial_console_size(&config.bundle, &io);
    }
    let init = Init {
        pid,
        io,
        started: false,
        exit: None,
        exited_at: None,
    };
    Ok((
        Supervisor::new(config.clone(), signals, listener, log, init),
        pid,
    ))
}

/// Gives the init's terminal the spec's `process.consoleSize` while the init waits for Start,
/// whether or not the runtime applies it (the embedded one does as the process execs, runc as
/// well): `docker run -t` starts at the client's size.
fn initial_console_size(bundle: &Path, io: &proc_io::ProcIo) {
    let Ok(spec) = oci_spec::runtime::Spec::load(bundle.join("config.json")) else {
        return;
    };
    let Some(size) = spec.process().as_ref().and_then(|p| p.console_size()) else {
        return;
    };
    if let (Ok(h @ 1..), Ok(w @ 1..)) = (u16::try_from(size.height()), u16::try_from(size.width()))
    {
        if let Err(e) = io.resize(h, w) {
            shimlog::error(&format!("setting the initial console size: {e}"));
        }
    }
}

/// An earlier run of this id interrupted before its cleanup (berthd or its shim killed) may
/// have left the runtime's state behind, which would make the create fail with "container
/// already exists". berthd only starts an id when no shim of it runs, so it is garbage.
fn remove_stale_state(config: &ShimConfig) {
    if !config.runtime_root.join(&config.id).exists() {
        return;
    }
    shimlog::error("removing the runtime state an earlier run left");
    let job = config.clone();
    let _ = helper::run(move || {
        runtime_for(&job)?
            .delete(&job.id, true)
            .map(|()| Produced::Nothing)
    });
    let _ = std::fs::remove_dir_all(config.runtime_root.join(&config.id));
}

/// Removes whatever a failed create left: the runtime's container and our socket.
fn cleanup_failed_create(config: &ShimConfig) {
    let job = config.clone();
    let _ = helper::run(move || {
        runtime_for(&job)?
            .delete(&job.id, true)
            .map(|()| Produced::Nothing)
    });
    let _ = std::fs::remove_file(&config.socket);
}

fn listen(socket: &Path) -> Result<UnixListener, LaunchError> {
    let err = |source| LaunchError::Listen {
        path: socket.to_path_buf(),
        source,
    };
    if let Some(parent) = socket.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    match std::fs::remove_file(socket) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
        _ => {}
    }
    let listener = UnixListener::bind(socket).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    Ok(listener)
}

fn load_config(path: &Path) -> Result<ShimConfig, LaunchError> {
    let text = std::fs::read(path).map_err(|source| LaunchError::ReadConfig {
        path: path.to_path_buf(),
        source,
    })?;
    let mut config: ShimConfig =
        serde_json::from_slice(&text).map_err(|source| LaunchError::ParseConfig {
            path: path.to_path_buf(),
            source,
        })?;
    // The shim moves to `/` once detached; relative paths must not change meaning.
    for p in [
        &mut config.bundle,
        &mut config.socket,
        &mut config.log_path,
        &mut config.exit_file,
        &mut config.runtime_root,
    ] {
        if let Ok(abs) = std::path::absolute(&*p) {
            *p = abs;
        }
    }
    Ok(config)
}

/// Only fds 0-3 belong to the shim; anything else berthd leaked would be held open for the
/// container's whole life (a pipe berthd waits on, a socket it closed).
fn close_inherited_fds() {
    // SAFETY: close_range only closes descriptors; none above 3 is owned by Rust code yet.
    unsafe { libc::syscall(libc::SYS_close_range, RESULT_FD + 1, u32::MAX, 0) };
}

/// fd 3 when it is open; it is made close-on-exec so no runtime process inherits it.
fn take_result_pipe() -> Option<File> {
    // SAFETY: F_GETFD/F_SETFD on a descriptor number only inspect or set its flags.
    if unsafe { libc::fcntl(RESULT_FD, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: as above.
    unsafe { libc::fcntl(RESULT_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: fd 3 is open (checked above) and by the launch protocol belongs to the shim.
    Some(File::from(unsafe { OwnedFd::from_raw_fd(RESULT_FD) }))
}

/// Reports on the result pipe (when there is one); false when berthd could not be told
/// because it is gone.
fn report(pipe: &mut Option<File>, result: &CreateResult) -> bool {
    let Some(file) = pipe.as_mut() else {
        return true;
    };
    let mut told = false;
    if let Ok(mut line) = serde_json::to_vec(result) {
        line.push(b'\n');
        match file.write_all(&line) {
            Ok(()) => told = true,
            Err(e) => shimlog::error(&format!("write create result: {e}")),
        }
    }
    *pipe = None;
    told
}
