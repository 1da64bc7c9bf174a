//! The protocol between berthd and a container's shim.
//!
//! # Launch
//! berthd writes `<bundle>/config.json` (the OCI spec) and `<bundle>/shim.json` ([`ShimConfig`]),
//! then spawns `berth-shim <bundle>/shim.json` in a session of its own (`posix_spawn`, no copy of
//! berthd's memory) with fd 3 the write end of a pipe. The shim detaches (stdio to /dev/null,
//! child subreaper; it stays berthd's child, reaped through a pidfd whenever it exits, and
//! survives berthd), creates the container *without starting it*, starts listening on
//! `ShimConfig::socket`, writes one JSON line ([`CreateResult`]) on fd 3 and closes it. berthd
//! reads that line, not to the pipe's end: the embedded runtime clones the container's init
//! from the shim, and the init holds fd 3 until it execs at `Start`. A shim that exits without
//! the line (its pidfd turns readable) fails the launch.
//!
//! ## A spare shim
//! To keep the shim's exec and startup off a `start`, berthd keeps one shim spawned ahead:
//! `berth-shim --spare <padding>` with fd 3 its result pipe and stdin the read end of a pipe
//! berthd holds. The spare waits on stdin; berthd hands it a container by writing the
//! `shim.json` path and a newline (at most [`SPARE_PATH_ROOM`] bytes), and the spare goes on as
//! a shim spawned with that path would, after rewriting its command line in place to
//! `berth-shim <path>` (so a restarted berthd finds it as any other shim, see `shim_processes`).
//! End of file on stdin (berthd gone or the spare dropped) makes the spare exit at once.
//! berthd spawns the spare in the SCHED_IDLE class, so that its startup only takes CPU nothing
//! else wants, and moves it back to SCHED_OTHER as it hands it the path, before the spare reads
//! it: the container's processes never inherit the idle class.
//!
//! # Requests
//! Every connection to `ShimConfig::socket` starts with one JSON line, a [`Request`]. Unless the
//! request says otherwise the shim answers with one JSON line, a [`Response`], and closes.
//!
//! - `Start`: before it lets the init run, the shim accepts the connections waiting and serves
//!   the request lines already sent on them, in the order they connected: berthd sends its
//!   attaches and its wait before the `Start` without waiting for their answers, and no output
//!   can precede an attach that wants it.
//! - `Wait`: the shim holds the connection and writes one [`ExitStatus`] line when the container's
//!   init has exited (at once if it already has), then closes it once the runtime has deleted
//!   the container's state and cgroups: berthd takes that end as the runtime's release.
//! - `Attach` and `Exec`: after the JSON response line the connection carries streams. Shim to
//!   berthd: frames `[kind u8][len u32 BE][payload]` (see [`frame`]); the last frame is
//!   [`frame::EXIT`] (payload: [`ExitStatus`] JSON) once the process has exited and all its output
//!   has been sent. berthd to shim: raw stdin bytes; berthd shuts down its write side to close
//!   the process's stdin.
//!
//! # Exit
//! When the container's init exits the shim drains its output, writes [`ExitStatus`] to
//! `ShimConfig::exit_file` (temp file + rename), answers waiters, sends EXIT frames, deletes the
//! runtime's container (cgroup, state), removes its socket and exits.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The longest request line the shim reads. An exec's arguments and environment may take up to
/// the kernel's limit (a quarter of the stack rlimit, at most 6 MiB with the usual 8 MiB
/// `_STK_LIM`), and JSON escaping can grow them several times: the line must hold all of that
/// so that the kernel, not the protocol, refuses an oversized exec (`E2BIG`).
pub const MAX_REQUEST: usize = 64 << 20;

/// The first argument of a spare shim (see "A spare shim" above).
pub const SPARE_ARG: &str = "--spare";

/// The length of the padding argument a spare shim is spawned with: the room its command line
/// has for the `shim.json` path it is later given (the path and its terminating NUL).
pub const SPARE_PATH_ROOM: usize = 1024;

/// The directory under the data root holding compiled seccomp programs
/// ([`ShimConfig::seccomp_cache`]).
pub const SECCOMP_CACHE_DIR: &str = "seccomp-cache";

/// Written by berthd to `<bundle>/shim.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    /// Container id (64 hex).
    pub id: String,
    /// OCI bundle directory holding `config.json`.
    pub bundle: PathBuf,
    /// Unix socket the shim listens on (`<exec-root>/shims/<id>.sock`).
    pub socket: PathBuf,
    /// json-file log path (`<data-root>/containers/<id>/<id>-json.log`).
    pub log_path: PathBuf,
    /// Rotate the log at this size in bytes (0: never).
    #[serde(default)]
    pub log_max_size: u64,
    /// Keep this many log files in all, including the live one (at least 1).
    #[serde(default = "one")]
    pub log_max_files: u32,
    /// Gzip rotated log files (`<log>.N.gz`), as dockerd's `compress` log-opt.
    #[serde(default)]
    pub log_compress: bool,
    /// The `none` log driver: output goes to attached clients only.
    #[serde(default)]
    pub log_disabled: bool,
    /// How entries are written at `log_path`: dockerd's json-file, or the Kubernetes CRI
    /// format for containers made through the CRI.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Where the shim writes the final [`ExitStatus`].
    pub exit_file: PathBuf,
    /// Where the runtime keeps its own state (`<exec-root>/runtime`).
    pub runtime_root: PathBuf,
    /// `None`: the embedded runtime; `Some(path)`: an OCI runtime binary (runc, crun, youki).
    #[serde(default)]
    pub runtime_binary: Option<PathBuf>,
    /// Extra arguments for the runtime binary (daemon.json `runtimes.<name>.runtimeArgs`).
    #[serde(default)]
    pub runtime_args: Vec<String>,
    /// Where the embedded runtime keeps compiled seccomp programs
    /// (`<data-root>/seccomp-cache`); None: every init compiles its profile.
    #[serde(default)]
    pub seccomp_cache: Option<PathBuf>,
    /// The host's cgroup mounts for the embedded runtime, as the lines of mountinfo
    /// [`crate::cgroupfs::cgroup_lines`] keeps, read once by berthd; None: the runtime reads
    /// the whole table per operation. (A cgroup hierarchy mounted after berthd started is
    /// seen from its restart on.)
    #[serde(default)]
    pub cgroup_mounts: Option<String>,
    /// berthd has made this cgroup and applied these resources to it
    /// ([`crate::cgroup_ahead`]); when both are the spec's, the runtime only joins it. None:
    /// the runtime makes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_made: Option<CgroupMade>,
    /// Allocate a pty for the init process (`process.terminal` in the spec agrees).
    pub tty: bool,
    /// Keep stdin open (`-i`).
    pub open_stdin: bool,
    /// Close the container's stdin when the first attached client detaches its stdin.
    pub stdin_once: bool,
    /// Write the start path's trace (spans with durations, the runtime's debug events) to
    /// `<bundle>/shim.log` (`berthd --debug`).
    #[serde(default)]
    pub trace: bool,
}

/// A container's cgroup berthd made ahead: its path (`linux.cgroupsPath`) and the resources
/// it applied (`linux.resources`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CgroupMade {
    pub path: PathBuf,
    pub resources: oci_spec::runtime::LinuxResources,
}

/// The shape of the shim's log entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// `{"log":"...","stream":"stdout","time":"..."}` per line (dockerd's json-file).
    #[default]
    JsonFile,
    /// `<RFC3339Nano> stdout|stderr F|P <line>` (the CRI's, which kubelet and crictl read).
    Cri,
}

fn one() -> u32 {
    1
}

/// The line the shim writes on fd 3 after creating the container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CreateResult {
    /// The container exists, its init waits for `Start`.
    Created { pid: i32 },
    /// Creation failed; nothing is left behind. `message` is the runtime's error text; it
    /// contains "executable file not found in $PATH" / "no such file or directory" (127) or
    /// "permission denied" (126) where those apply, as runc's does.
    Failed { message: String },
}

/// How a process ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, or 128 + signal number when killed by a signal.
    pub exit_code: i32,
    /// RFC 3339 with nanoseconds, UTC.
    pub finished_at: String,
    /// The cgroup's OOM killer fired.
    #[serde(default)]
    pub oom_killed: bool,
    /// Set when the process could not be started at all (exec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A process to run inside the container (`docker exec`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecProcess {
    /// Exec id (64 hex), unique within the container.
    pub id: String,
    /// The OCI process: args, env, cwd, user, capabilities, terminal, no_new_privileges.
    pub process: oci_spec::runtime::Process,
    /// Stdin is attached (`-i`).
    pub stdin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
// One request per connection: the size of the exec variant costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
pub enum Request {
    /// Let the created init run.
    Start,
    /// Report pid and state.
    State,
    /// Hold the connection until init exits; answered with an [`ExitStatus`] line, closed
    /// once the runtime has released the container.
    Wait,
    /// Signal init (`all`: every process of the container).
    Kill { signal: i32, all: bool },
    /// Stream init's stdio on this connection (see the module docs).
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Resize init's pty.
    Resize { height: u16, width: u16 },
    /// Run a process in the container and stream its stdio on this connection. The response
    /// line is [`Response::Pid`] once it runs (or [`Response::Error`]).
    Exec(ExecProcess),
    /// Resize an exec's pty.
    ExecResize { id: String, height: u16, width: u16 },
    /// Signal an exec's process while it runs (a health probe past its timeout).
    ExecKill { id: String, signal: i32 },
    /// Open the log file anew at its path (it was moved away by a log rotation: the CRI's
    /// ReopenContainerLog).
    ReopenLog,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Pid {
        pid: i32,
    },
    State {
        pid: i32,
        running: bool,
        exit: Option<ExitStatus>,
    },
    Error {
        message: String,
    },
}

/// Stream frames from the shim to berthd on `Attach` and `Exec` connections.
pub mod frame {
    pub const STDOUT: u8 = 1;
    pub const STDERR: u8 = 2;
    /// Last frame; payload is an [`super::ExitStatus`] as JSON.
    pub const EXIT: u8 = 3;

    /// Header for a frame of `len` bytes.
    pub fn header(kind: u8, len: usize) -> [u8; 5] {
        let l = (len as u32).to_be_bytes();
        [kind, l[0], l[1], l[2], l[3]]
    }

    /// `(kind, len)` from a header.
    pub fn parse_header(h: [u8; 5]) -> (u8, usize) {
        (h[0], u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json() {
        let r = serde_json::to_string(&Request::Kill {
            signal: 15,
            all: false,
        })
        .expect("json");
        assert_eq!(r, r#"{"op":"kill","signal":15,"all":false}"#);
        let c: CreateResult =
            serde_json::from_str(r#"{"status":"created","pid":42}"#).expect("parse");
        assert_eq!(c, CreateResult::Created { pid: 42 });
        let h = frame::header(frame::EXIT, 300);
        assert_eq!(frame::parse_header(h), (frame::EXIT, 300));
    }
}
