//! The shim's side of one process's stdio: pipes it reads and writes, or a pty master.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use berth_runtime::{ProcessIo, Stdio};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::pipe2;

use crate::jsonlog::LineSplitter;

#[derive(Debug, thiserror::Error)]
pub enum ProcIoError {
    #[error("create stdio pipe: {0}")]
    Pipe(nix::Error),
    #[error("set non-blocking: {0}")]
    NonBlocking(nix::Error),
    #[error("duplicate pty master: {0}")]
    Dup(std::io::Error),
    #[error("the runtime returned no pty master for a terminal process")]
    NoPtyMaster,
}

/// Which output stream a byte came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn frame_kind(self) -> u8 {
        match self {
            Stream::Stdout => berth_runtime::shim_proto::frame::STDOUT,
            Stream::Stderr => berth_runtime::shim_proto::frame::STDERR,
        }
    }

    pub fn log_name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One output the shim reads until EOF.
pub struct Output {
    pub fd: Option<OwnedFd>,
    pub stream: Stream,
    pub splitter: LineSplitter,
}

/// The shim's ends of a process's stdio.
pub struct ProcIo {
    pub outputs: Vec<Output>,
    /// Where stdin bytes go: the pipe's write end, or a duplicate of the pty master.
    pub stdin: Option<OwnedFd>,
    /// Bytes waiting for the process to read them.
    pub stdin_pending: Vec<u8>,
    /// Close `stdin` once `stdin_pending` is written.
    pub stdin_closing: bool,
    /// The pty master, for resizes.
    pub pty: Option<OwnedFd>,
}

/// Pipes made before the process exists; the runtime gets their other ends.
pub struct PendingIo {
    tty: bool,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

/// Makes the stdio for a new process. `stdin` asks for a stdin pipe (without a terminal).
pub fn prepare(tty: bool, stdin: bool) -> Result<(ProcessIo, PendingIo), ProcIoError> {
    if tty {
        let pending = PendingIo {
            tty,
            stdin: None,
            stdout: None,
            stderr: None,
        };
        return Ok((ProcessIo::Terminal, pending));
    }
    let (stdin_theirs, stdin_ours) = if stdin {
        let (r, w) = pipe()?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let (stdout_ours, stdout_theirs) = pipe()?;
    let (stderr_ours, stderr_theirs) = pipe()?;
    let io = ProcessIo::Pipes(Stdio {
        stdin: stdin_theirs,
        stdout: Some(stdout_theirs),
        stderr: Some(stderr_theirs),
    });
    Ok((
        io,
        PendingIo {
            tty,
            stdin: stdin_ours,
            stdout: Some(stdout_ours),
            stderr: Some(stderr_ours),
        },
    ))
}

impl PendingIo {
    /// Completes the shim's side once the runtime made the process. With a terminal, stdin
    /// goes to the master when `stdin` is asked for.
    pub fn finish(self, pty_master: Option<OwnedFd>, stdin: bool) -> Result<ProcIo, ProcIoError> {
        if self.tty {
            let master = pty_master.ok_or(ProcIoError::NoPtyMaster)?;
            set_nonblocking(master.as_fd())?;
            let reader = master.try_clone().map_err(ProcIoError::Dup)?;
            let writer = if stdin {
                Some(master.try_clone().map_err(ProcIoError::Dup)?)
            } else {
                None
            };
            return Ok(ProcIo {
                outputs: vec![Output {
                    fd: Some(reader),
                    stream: Stream::Stdout,
                    splitter: LineSplitter::default(),
                }],
                stdin: writer,
                stdin_pending: Vec::new(),
                stdin_closing: false,
                pty: Some(master),
            });
        }
        let mut outputs = Vec::new();
        for (fd, stream) in [(self.stdout, Stream::Stdout), (self.stderr, Stream::Stderr)] {
            if let Some(fd) = fd {
                set_nonblocking(fd.as_fd())?;
                outputs.push(Output {
                    fd: Some(fd),
                    stream,
                    splitter: LineSplitter::default(),
                });
            }
        }
        if let Some(fd) = &self.stdin {
            set_nonblocking(fd.as_fd())?;
        }
        Ok(ProcIo {
            outputs,
            stdin: self.stdin,
            stdin_pending: Vec::new(),
            stdin_closing: false,
            pty: None,
        })
    }
}

impl ProcIo {
    /// Every output reached EOF.
    pub fn drained(&self) -> bool {
        self.outputs.iter().all(|o| o.fd.is_none())
    }

    /// Queues stdin bytes, dropped when stdin is closed.
    pub fn push_stdin(&mut self, data: &[u8]) {
        if self.stdin.is_some() && !self.stdin_closing {
            self.stdin_pending.extend_from_slice(data);
        }
    }

    /// Closes stdin after what is queued has been written. A pty stays open: closing the
    /// master would hang up the terminal.
    pub fn close_stdin(&mut self) {
        if self.pty.is_some() {
            self.stdin = None;
            self.stdin_pending.clear();
            return;
        }
        self.stdin_closing = true;
        if self.stdin_pending.is_empty() {
            self.stdin = None;
        }
    }

    /// Writes queued stdin bytes without blocking.
    pub fn flush_stdin(&mut self) {
        let Some(fd) = &self.stdin else { return };
        while !self.stdin_pending.is_empty() {
            match nix::unistd::write(fd, &self.stdin_pending) {
                Ok(n) => {
                    self.stdin_pending.drain(..n);
                }
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::EAGAIN) => return,
                Err(_) => {
                    // The reader is gone; nothing more can be delivered.
                    self.stdin_pending.clear();
                    self.stdin = None;
                    return;
                }
            }
        }
        if self.stdin_closing {
            self.stdin = None;
        }
    }

    /// Sets the pty's window size.
    pub fn resize(&self, height: u16, width: u16) -> Result<(), std::io::Error> {
        let Some(pty) = &self.pty else {
            return Err(std::io::Error::other("the process has no terminal"));
        };
        let size = libc::winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize struct that lives for the duration of the call.
        if unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), ProcIoError> {
    pipe2(OFlag::O_CLOEXEC).map_err(ProcIoError::Pipe)
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<(), ProcIoError> {
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(ProcIoError::NonBlocking)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags)).map_err(ProcIoError::NonBlocking)?;
    Ok(())
}
