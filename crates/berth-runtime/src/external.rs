//! [`Runtime`] over an OCI runtime binary (runc, crun, youki), driven through its CLI.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio as ProcStdio};
use std::time::Duration;

use crate::backend::{ProcessIo, Result, Runtime, RuntimeError, Spawned, Stdio};
use crate::console::{receive_fd, ConsoleSocket};
use crate::workdir::WorkDir;

/// An OCI runtime binary.
#[derive(Debug, Clone)]
pub struct ExternalRuntime {
    binary: PathBuf,
    /// The runtime's state directory (`--root`).
    root: PathBuf,
    /// Global arguments placed before the subcommand (daemon.json `runtimeArgs`).
    extra_args: Vec<String>,
}

impl ExternalRuntime {
    pub fn new(
        binary: impl Into<PathBuf>,
        root: impl Into<PathBuf>,
        extra_args: Vec<String>,
    ) -> ExternalRuntime {
        ExternalRuntime {
            binary: binary.into(),
            root: root.into(),
            extra_args,
        }
    }

    /// `<binary> [extra args] --root <root> --log <log> --log-format json <subcommand>`.
    fn command(&self, log: &Path, subcommand: &str) -> Command {
        let mut c = Command::new(&self.binary);
        c.args(&self.extra_args)
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(log)
            .arg("--log-format")
            .arg("json")
            .arg(subcommand);
        c
    }

    /// Runs a subcommand that needs no stdio and returns when it has finished.
    fn run(&self, subcommand: &str, args: &[&str]) -> Result<()> {
        let work = WorkDir::new().map_err(|e| other("creating a temp dir", e))?;
        let log = work.join("log.json");
        let mut c = self.command(&log, subcommand);
        c.args(args)
            .stdin(ProcStdio::null())
            .stdout(ProcStdio::null())
            .stderr(ProcStdio::piped());
        let out = c.output().map_err(|e| self.spawn_error(e))?;
        if out.status.success() {
            return Ok(());
        }
        Err(classify(&failure_message(&log, &out.stderr)))
    }

    /// Starts a subcommand that creates a process (`create`, `exec`) with `io`, waits for it
    /// and returns the new process's pid (and pty master).
    fn spawn(
        &self,
        subcommand: &str,
        args: &[&std::ffi::OsStr],
        id: &str,
        io: ProcessIo,
        work: &WorkDir,
    ) -> Result<Spawned> {
        let log = work.join("log.json");
        let pid_file = work.join("pid");
        let mut c = self.command(&log, subcommand);
        c.args(args).arg("--pid-file").arg(&pid_file);
        let console = match io {
            ProcessIo::Pipes(stdio) => {
                // Without a terminal a detached runtime hands its own stdio to the process.
                set_stdio(&mut c, stdio);
                None
            }
            ProcessIo::Terminal => {
                let socket = ConsoleSocket::bind(&work.join("console.sock"))
                    .map_err(|e| RuntimeError::Other(e.to_string()))?;
                c.arg("--console-socket").arg(socket.path());
                c.stdin(ProcStdio::null())
                    .stdout(ProcStdio::null())
                    .stderr(ProcStdio::piped());
                Some(socket)
            }
        };
        c.arg(id);
        let mut child = c.spawn().map_err(|e| self.spawn_error(e))?;
        let console_result = console
            .map(|socket| receive_console(&socket, &mut child))
            .transpose();
        let out = child
            .wait_with_output()
            .map_err(|e| other("waiting for the runtime", e))?;
        if !out.status.success() {
            // The runtime's own message explains a console failure too.
            return Err(classify(&failure_message(&log, &out.stderr)));
        }
        let pty_master = console_result?.flatten();
        let pid = std::fs::read_to_string(&pid_file)
            .map_err(|e| other("reading the pid file", e))?
            .trim()
            .parse::<i32>()
            .map_err(|e| other("parsing the pid file", e))?;
        Ok(Spawned { pid, pty_master })
    }

    fn spawn_error(&self, e: std::io::Error) -> RuntimeError {
        RuntimeError::Other(format!("running {}: {e}", self.binary.display()))
    }
}

/// Accepts the runtime's console connection; gives up when the runtime exits first (it
/// failed, and its message says why).
fn receive_console(socket: &ConsoleSocket, child: &mut Child) -> Result<Option<OwnedFd>> {
    loop {
        if let Some(stream) = socket
            .accept_within(Duration::from_millis(50))
            .map_err(|e| RuntimeError::Other(e.to_string()))?
        {
            return receive_fd(&stream)
                .map(Some)
                .map_err(|e| RuntimeError::Other(e.to_string()));
        }
        if child
            .try_wait()
            .map_err(|e| other("waiting for the runtime", e))?
            .is_some()
        {
            return Ok(None);
        }
    }
}

fn set_stdio(c: &mut Command, stdio: Stdio) {
    c.stdin(stdio.stdin.map_or_else(ProcStdio::null, ProcStdio::from));
    c.stdout(stdio.stdout.map_or_else(ProcStdio::null, ProcStdio::from));
    c.stderr(stdio.stderr.map_or_else(ProcStdio::null, ProcStdio::from));
}

fn other(what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other(format!("{what}: {e}"))
}

/// The runtime's last error from its JSON log, else its stderr.
fn failure_message(log: &Path, stderr: &[u8]) -> String {
    let from_log = std::fs::read_to_string(log).ok().and_then(|text| {
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["level"] == "error")
            .find_map(|v| v["msg"].as_str().map(str::to_string))
    });
    from_log.unwrap_or_else(|| String::from_utf8_lossy(stderr).trim().to_string())
}

/// Maps a runtime's message to an error kind, as dockerd reads runc's (exit 127 for a missing
/// command, 126 for one that cannot be run).
pub fn classify(message: &str) -> RuntimeError {
    let m = message.to_string();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        RuntimeError::NotFound(m)
    } else if m.contains("permission denied") {
        RuntimeError::PermissionDenied(m)
    } else if m.contains("does not exist") {
        RuntimeError::NoSuchContainer(m)
    } else {
        RuntimeError::Other(m)
    }
}

impl Runtime for ExternalRuntime {
    fn create(&self, id: &str, bundle: &Path, io: ProcessIo) -> Result<Spawned> {
        let work = WorkDir::new().map_err(|e| other("creating a temp dir", e))?;
        let terminal = matches!(io, ProcessIo::Terminal);
        let spawned = self.spawn(
            "create",
            &[std::ffi::OsStr::new("--bundle"), bundle.as_os_str()],
            id,
            io,
            &work,
        )?;
        if terminal && spawned.pty_master.is_none() {
            // Leave nothing half-created behind.
            let _ = self.run("delete", &["--force", id]);
            return Err(RuntimeError::Other("the runtime sent no pty master".into()));
        }
        Ok(spawned)
    }

    fn start(&self, id: &str) -> Result<()> {
        self.run("start", &[id])
    }

    fn exec(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        io: ProcessIo,
    ) -> Result<Spawned> {
        let work = WorkDir::new().map_err(|e| other("creating a temp dir", e))?;
        let process_json = work.join("process.json");
        let file = File::create(&process_json).map_err(|e| other("writing process.json", e))?;
        serde_json::to_writer(file, process).map_err(|e| other("writing process.json", e))?;
        let terminal = matches!(io, ProcessIo::Terminal);
        let spawned = self.spawn(
            "exec",
            &[
                std::ffi::OsStr::new("--detach"),
                std::ffi::OsStr::new("--process"),
                process_json.as_os_str(),
            ],
            id,
            io,
            &work,
        )?;
        if terminal && spawned.pty_master.is_none() {
            return Err(RuntimeError::Other("the runtime sent no pty master".into()));
        }
        Ok(spawned)
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let sig = signal.to_string();
        let mut args = vec![];
        if all {
            args.push("--all");
        }
        args.extend([id, sig.as_str()]);
        self.run("kill", &args)
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut args = vec![];
        if force {
            args.push("--force");
        }
        args.push(id);
        self.run("delete", &args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_messages_map_to_error_kinds() {
        let m = r#"runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH"#;
        assert!(matches!(classify(m), RuntimeError::NotFound(s) if s == m));
        let m = r#"runc create failed: unable to start container process: exec: "/x": stat /x: no such file or directory"#;
        assert!(matches!(classify(m), RuntimeError::NotFound(_)));
        let m = r#"runc create failed: unable to start container process: exec: "/etc": permission denied"#;
        assert!(matches!(classify(m), RuntimeError::PermissionDenied(_)));
        assert!(matches!(
            classify("container does not exist"),
            RuntimeError::NoSuchContainer(_)
        ));
        assert!(matches!(classify("something else"), RuntimeError::Other(_)));
    }

    #[test]
    fn errors_come_from_the_json_log_first() {
        let work = WorkDir::new().expect("workdir");
        let log = work.join("log.json");
        std::fs::write(&log, "{\"level\":\"info\",\"msg\":\"a\"}\n{\"level\":\"error\",\"msg\":\"boom\"}\nnot json\n")
            .expect("write");
        assert_eq!(failure_message(&log, b"stderr text"), "boom");
        assert_eq!(
            failure_message(&work.join("missing"), b" stderr text\n"),
            "stderr text"
        );
    }

    #[test]
    fn a_missing_binary_is_an_error_not_a_panic() {
        let rt = ExternalRuntime::new("/nonexistent/runc", "/tmp/berth-test-root", vec![]);
        assert!(
            matches!(rt.kill("x", 15, false), Err(RuntimeError::Other(m)) if m.contains("/nonexistent/runc"))
        );
    }
}
