//! Running the clients: a command with a deadline and its captured output, or a long-running
//! one (`logs -f`, `events`, `attach`) whose output is read while it runs.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one CLI command may take before the test fails as hung.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The two clients every scenario runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// The real docker CLI: the conformance reference.
    Docker,
    /// berth's own CLI.
    Berth,
}

impl Client {
    pub fn name(self) -> &'static str {
        match self {
            Client::Docker => "docker",
            Client::Berth => "berth",
        }
    }
}

/// A finished command.
#[derive(Debug, Clone)]
pub struct Out {
    /// What ran, for failure messages.
    pub command: String,
    /// The exit code; 128 + n when killed by signal n.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Panics, showing everything, unless the command exited 0.
    #[track_caller]
    pub fn success(&self) -> &Self {
        self.code_is(0)
    }

    /// Panics, showing everything, unless the command exited with `code`.
    #[track_caller]
    pub fn code_is(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code from {self}");
        self
    }

    /// Panics unless stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?} in {self}"
        );
        self
    }

    /// Panics unless stdout contains `needle`.
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?} in {self}"
        );
        self
    }

    /// stdout without its trailing newline(s).
    pub fn out(&self) -> &str {
        self.stdout.trim_end_matches(['\n', '\r'])
    }

    /// stdout's non-empty lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// The exit code as a shell reports it.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

/// A human-readable form of `cmd` for messages.
pub fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains([' ', '"', '\'', '{', '$']) {
            format!("'{a}'")
        } else {
            a.into_owned()
        }
    }));
    parts.join(" ")
}

type Buffer = Arc<Mutex<Vec<u8>>>;

fn collect(mut from: impl Read + Send + 'static, into: Buffer) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(&chunk[..n]);
        }
    })
}

fn text(buf: &Buffer) -> String {
    String::from_utf8_lossy(&buf.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

/// Runs `cmd` to completion with `input` on its stdin (none: /dev/null); fails the test if it
/// takes longer than `timeout`.
#[track_caller]
pub fn run(mut cmd: Command, input: Option<&[u8]>, timeout: Duration) -> Out {
    let command = describe(&cmd);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut spawned = match Spawned::spawn(cmd) {
        Ok(s) => s,
        Err(e) => panic!("cannot run `{command}`: {e}"),
    };
    if let Some(input) = input {
        spawned.write_stdin(input);
        spawned.close_stdin();
    }
    match spawned.wait(timeout) {
        Some(code) => spawned.finish(code),
        None => {
            spawned.kill();
            panic!("`{command}` did not finish within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}", spawned.stdout(), spawned.stderr());
        }
    }
}

/// A running command whose output is collected in the background. Killed when dropped.
pub struct Spawned {
    pub command: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Buffer,
    stderr: Buffer,
    readers: Vec<std::thread::JoinHandle<()>>,
    code: Option<i32>,
}

impl Spawned {
    /// Starts `cmd` with stdout and stderr captured (stdin as `cmd` configured it, piped when
    /// not configured).
    pub fn spawn(mut cmd: Command) -> std::io::Result<Self> {
        let command = describe(&cmd);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let stdout: Buffer = Arc::default();
        let stderr: Buffer = Arc::default();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(collect(out, stdout.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(collect(err, stderr.clone()));
        }
        let stdin = child.stdin.take();
        Ok(Self {
            command,
            child,
            stdin,
            stdout,
            stderr,
            readers,
            code: None,
        })
    }

    pub fn stdout(&self) -> String {
        text(&self.stdout)
    }

    pub fn stderr(&self) -> String {
        text(&self.stderr)
    }

    /// Waits until stdout contains `needle`; false after `timeout`.
    pub fn wait_for_stdout(&self, needle: &str, timeout: Duration) -> bool {
        crate::poll::wait_until(timeout, || self.stdout().contains(needle))
    }

    #[track_caller]
    pub fn write_stdin(&mut self, bytes: &[u8]) {
        let Some(stdin) = self.stdin.as_mut() else {
            panic!("`{}` has no stdin pipe", self.command)
        };
        if let Err(e) = stdin.write_all(bytes).and_then(|_| stdin.flush()) {
            panic!("writing to `{}`: {e}", self.command);
        }
    }

    /// Closes stdin (the command sees end of file).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the command to exit; its exit code, or None after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        if self.code.is_some() {
            return self.code;
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.code = Some(exit_code(status));
                    return self.code;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return None,
            }
        }
    }

    /// Whether the command is still running.
    pub fn running(&mut self) -> bool {
        self.wait(Duration::ZERO).is_none()
    }

    /// Sends `signal` to the command (a user's ^C to an attached `run`, say).
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, signal);
    }

    /// SIGKILLs the command and reaps it.
    pub fn kill(&mut self) {
        if self.code.is_none() {
            let _ = self.child.kill();
            if let Ok(status) = self.child.wait() {
                self.code = Some(exit_code(status));
            }
        }
    }

    /// The finished command's output (after its readers drained the pipes).
    fn finish(mut self, code: i32) -> Out {
        self.stdin = None;
        // A grandchild holding the pipes open must not hang the test: bound the drain.
        let readers: Vec<_> = self.readers.drain(..).collect();
        crate::poll::wait_until(Duration::from_secs(5), || {
            readers.iter().all(|r| r.is_finished())
        });
        Out {
            command: self.command.clone(),
            code,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill();
    }
}
