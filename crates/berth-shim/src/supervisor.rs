//! The single-threaded event loop that supervises a created container: its output, its
//! clients, its exec processes and its exit.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant, SystemTime};

use berth_runtime::shim_proto::{ExitStatus, Response, ShimConfig};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::conn::{Conn, ReadResult, Role, MAX_BACKLOG};
use crate::jsonlog::JsonLog;
use crate::oom::OomWatch;
use crate::proc_io::{ProcIo, Stream};
use crate::{exit_file, helper, runtime_select, shimlog, timefmt};

/// How long output is drained after a process exits when something still holds its pipes.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long queued bytes get to reach clients before the shim exits.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
const READ_CHUNK: usize = 32 * 1024;
/// How long after the create (or a helper's run) the shim drops the pages of code it ran
/// ([`crate::trim`]): a container that exits before then never pays for faulting them back in
/// to answer its start and its exit.
const TRIM_AFTER: Duration = Duration::from_millis(500);

/// The container's init process.
pub struct Init {
    pub pid: i32,
    pub io: ProcIo,
    pub started: bool,
    pub exit: Option<ExitStatus>,
    pub exited_at: Option<Instant>,
}

/// A `docker exec` process and the connection streaming it.
pub struct Exec {
    pub exec_id: String,
    pub pid: i32,
    pub io: ProcIo,
    pub conn: Option<u64>,
    pub exit: Option<ExitStatus>,
    pub exited_at: Option<Instant>,
}

/// What a poll slot belongs to.
#[derive(Debug, Clone, Copy)]
enum Token {
    Signals,
    Listener,
    InitOutput(usize),
    InitStdin,
    ExecOutput(u64, usize),
    ExecStdin(u64),
    Conn(u64),
}

pub struct Supervisor {
    pub(crate) config: ShimConfig,
    signals: SignalFd,
    listener: Option<UnixListener>,
    log: Option<JsonLog>,
    pub(crate) init: Init,
    oom: Option<OomWatch>,
    pub(crate) execs: HashMap<u64, Exec>,
    pub(crate) conns: HashMap<u64, Conn>,
    next_key: u64,
    /// stdin_once: the first client's stdin has ended.
    pub(crate) stdin_once_spent: bool,
    finalized: bool,
    shutdown_by: Option<Instant>,
    /// When to drop the code pages the create and the helpers faulted in.
    trim_at: Option<Instant>,
    buf: Vec<u8>,
    /// The container's mount namespace, held from the create until the runtime's release
    /// (see [`Supervisor::finalize`]).
    mount_ns: Option<std::fs::File>,
}

impl Supervisor {
    pub fn new(
        config: ShimConfig,
        signals: SignalFd,
        listener: UnixListener,
        log: Option<JsonLog>,
        init: Init,
    ) -> Self {
        let oom = OomWatch::locate(init.pid);
        // Held, the namespace outlives the init: its mounts are not torn down in the init's
        // exit (an expedited RCU grace period and a mount put each, before the kernel signals
        // the exit) but when this is dropped, after the exit has been reported.
        let mount_ns = std::fs::File::open(format!("/proc/{}/ns/mnt", init.pid)).ok();
        Self {
            config,
            signals,
            listener: Some(listener),
            log,
            init,
            oom,
            execs: HashMap::new(),
            conns: HashMap::new(),
            next_key: 0,
            stdin_once_spent: false,
            finalized: false,
            shutdown_by: None,
            trim_at: Some(Instant::now() + TRIM_AFTER),
            buf: vec![0; READ_CHUNK],
            mount_ns,
        }
    }

    /// Drops the pages of code run so far once the shim has been quiet for a while.
    pub(crate) fn trim_soon(&mut self) {
        self.trim_at = Some(Instant::now() + TRIM_AFTER);
    }

    pub(crate) fn new_key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    /// Runs until init has exited, everything is reported and clients are served.
    pub fn run(mut self) {
        // A child may have exited before the loop existed; its SIGCHLD is already pending.
        self.reap();
        loop {
            self.progress();
            self.conns.retain(|_, c| !c.finished());
            if self.done() {
                return;
            }
            if self.trim_at.is_some_and(|at| Instant::now() >= at) {
                self.trim_at = None;
                crate::trim::drop_startup_pages();
            }
            let (mut fds, tokens) = self.interests();
            let timeout = self.timeout_ms();
            // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()` pollfds.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    shimlog::error(&format!("poll: {err}"));
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for (pfd, token) in fds.iter().zip(tokens) {
                if pfd.revents != 0 {
                    self.handle(token, pfd.revents);
                }
            }
        }
    }

    fn interests(&self) -> (Vec<libc::pollfd>, Vec<Token>) {
        let mut fds = Vec::new();
        let mut tokens = Vec::new();
        let mut add = |fd: RawFd, events: libc::c_short, token: Token| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            tokens.push(token);
        };
        add(
            self.signals.as_fd().as_raw_fd(),
            libc::POLLIN,
            Token::Signals,
        );
        if let Some(listener) = &self.listener {
            add(listener.as_raw_fd(), libc::POLLIN, Token::Listener);
        }
        let attach_stalled = self
            .conns
            .values()
            .any(|c| matches!(c.role, Role::Attach { .. }) && c.backlog() > MAX_BACKLOG);
        if !attach_stalled {
            for (i, out) in self.init.io.outputs.iter().enumerate() {
                if let Some(fd) = &out.fd {
                    add(fd.as_raw_fd(), libc::POLLIN, Token::InitOutput(i));
                }
            }
        }
        if let (Some(fd), false) = (&self.init.io.stdin, self.init.io.stdin_pending.is_empty()) {
            add(fd.as_raw_fd(), libc::POLLOUT, Token::InitStdin);
        }
        for (&key, exec) in &self.execs {
            let stalled = exec
                .conn
                .and_then(|c| self.conns.get(&c))
                .is_some_and(|c| c.backlog() > MAX_BACKLOG);
            if !stalled {
                for (i, out) in exec.io.outputs.iter().enumerate() {
                    if let Some(fd) = &out.fd {
                        add(fd.as_raw_fd(), libc::POLLIN, Token::ExecOutput(key, i));
                    }
                }
            }
            if let (Some(fd), false) = (&exec.io.stdin, exec.io.stdin_pending.is_empty()) {
                add(fd.as_raw_fd(), libc::POLLOUT, Token::ExecStdin(key));
            }
        }
        for (&key, conn) in &self.conns {
            let mut events = 0;
            let wants_input = match conn.role {
                Role::Request => true,
                Role::Attach { stdin, .. } => {
                    stdin && self.init.io.stdin_pending.len() < MAX_BACKLOG
                }
                Role::Exec { key: exec, stdin } => {
                    stdin
                        && self
                            .execs
                            .get(&exec)
                            .is_some_and(|e| e.io.stdin_pending.len() < MAX_BACKLOG)
                }
                Role::Reply | Role::Wait => false,
            };
            if wants_input && !conn.closing {
                events |= libc::POLLIN;
            }
            if conn.backlog() > 0 {
                events |= libc::POLLOUT;
            }
            add(conn.stream.as_raw_fd(), events, Token::Conn(key));
        }
        (fds, tokens)
    }

    fn timeout_ms(&self) -> i32 {
        let mut deadlines = Vec::new();
        if let (Some(at), false) = (self.init.exited_at, self.finalized) {
            deadlines.push(at + DRAIN_GRACE);
        }
        deadlines.extend(
            self.execs
                .values()
                .filter_map(|e| e.exited_at.map(|at| at + DRAIN_GRACE)),
        );
        deadlines.extend(self.shutdown_by);
        deadlines.extend(self.trim_at);
        match deadlines.into_iter().min() {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Round up so the deadline has passed when poll returns.
                (left.as_millis() as i32).saturating_add(1)
            }
        }
    }

    fn handle(&mut self, token: Token, revents: libc::c_short) {
        match token {
            Token::Signals => self.reap(),
            Token::Listener => self.accept(),
            Token::InitOutput(i) => self.read_init_output(i),
            Token::InitStdin => self.init.io.flush_stdin(),
            Token::ExecOutput(key, i) => self.read_exec_output(key, i),
            Token::ExecStdin(key) => {
                if let Some(exec) = self.execs.get_mut(&key) {
                    exec.io.flush_stdin();
                }
            }
            Token::Conn(key) => {
                if revents & libc::POLLOUT != 0 {
                    if let Some(conn) = self.conns.get_mut(&key) {
                        conn.flush();
                    }
                }
                // A Start may have served this connection's request since the poll
                // (`serve_queued_requests`): its POLLIN is stale unless it still reads.
                let hangup = revents & (libc::POLLHUP | libc::POLLERR) != 0;
                if hangup || (revents & libc::POLLIN != 0 && self.reads_input(key)) {
                    self.read_conn(key);
                }
            }
        }
    }

    fn accept(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    self.next_key += 1;
                    self.conns.insert(self.next_key, Conn::new(stream));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    shimlog::error(&format!("accept: {e}"));
                    return;
                }
            }
        }
    }

    /// Whether connection `key` takes input now: its request line, or stdin for its process.
    fn reads_input(&self, key: u64) -> bool {
        self.conns.get(&key).is_some_and(|c| match c.role {
            Role::Request => true,
            Role::Attach { stdin, .. } | Role::Exec { stdin, .. } => stdin,
            Role::Reply | Role::Wait => false,
        })
    }

    /// Accepts the connections waiting on the listener and reads the request lines already
    /// sent on every connection but `current`, in the order they connected, serving those
    /// complete. Nothing blocks: a line not fully sent yet waits for the loop.
    pub(crate) fn serve_queued_requests(&mut self, current: u64) {
        self.accept();
        let mut waiting: Vec<u64> = self
            .conns
            .iter()
            .filter(|(&k, c)| k != current && c.role == Role::Request && !c.closing)
            .map(|(&k, _)| k)
            .collect();
        waiting.sort_unstable();
        // The loop's buffer is out with the read that brought the current request.
        let mut buf = vec![0; READ_CHUNK];
        for key in waiting {
            let result = match self.conns.get_mut(&key) {
                Some(conn) => conn.read(&mut buf),
                None => continue,
            };
            match result {
                ReadResult::Data(n) => self.conn_input(key, &buf[..n]),
                ReadResult::Eof | ReadResult::Failed => self.conn_input_ended(key, &result),
                ReadResult::WouldBlock => {}
            }
        }
    }

    /// Reads a client's bytes: the request line, or stdin for its process.
    fn read_conn(&mut self, key: u64) {
        let mut buf = std::mem::take(&mut self.buf);
        let result = match self.conns.get_mut(&key) {
            Some(conn) => conn.read(&mut buf),
            None => ReadResult::WouldBlock,
        };
        match result {
            ReadResult::Data(n) => self.conn_input(key, &buf[..n]),
            ReadResult::Eof | ReadResult::Failed => self.conn_input_ended(key, &result),
            ReadResult::WouldBlock => {}
        }
        self.buf = buf;
    }

    fn conn_input(&mut self, key: u64, data: &[u8]) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        match conn.role {
            Role::Request => {
                conn.request.extend_from_slice(data);
                self.try_request(key);
            }
            Role::Attach { stdin: true, .. } => self.init.io.push_stdin(data),
            Role::Exec {
                key: exec,
                stdin: true,
            } => {
                if let Some(exec) = self.execs.get_mut(&exec) {
                    exec.io.push_stdin(data);
                }
            }
            _ => {}
        }
        self.flush_stdin_all();
    }

    fn conn_input_ended(&mut self, key: u64, result: &ReadResult) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        match conn.role {
            Role::Request => conn.dead = true,
            Role::Attach {
                stdin: true,
                stdout,
                stderr,
            } => {
                conn.role = Role::Attach {
                    stdin: false,
                    stdout,
                    stderr,
                };
                if matches!(result, ReadResult::Failed) {
                    conn.dead = true;
                }
                if self.config.stdin_once && !self.stdin_once_spent {
                    self.stdin_once_spent = true;
                    self.init.io.close_stdin();
                }
            }
            Role::Exec {
                key: exec,
                stdin: true,
            } => {
                conn.role = Role::Exec {
                    key: exec,
                    stdin: false,
                };
                if matches!(result, ReadResult::Failed) {
                    conn.dead = true;
                }
                if let Some(exec) = self.execs.get_mut(&exec) {
                    exec.io.close_stdin();
                }
            }
            // The connection was not reading, so poll woke it for POLLHUP/POLLERR: the peer is
            // gone in both directions. Left in the set, its hangup would wake poll forever.
            _ => conn.dead = true,
        }
    }

    fn try_request(&mut self, key: u64) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        let Some(end) = conn.request.iter().position(|&b| b == b'\n') else {
            if conn.request.len() > crate::conn::MAX_REQUEST {
                conn.reply(&berth_runtime::shim_proto::Response::Error {
                    message: "request line too long".into(),
                });
            }
            return;
        };
        let mut line = std::mem::take(&mut conn.request);
        let rest = line.split_off(end + 1);
        self.dispatch(key, &line);
        // Bytes after the request line are already stdin for an attach or exec.
        if !rest.is_empty() {
            self.conn_input(key, &rest);
        }
    }

    fn read_init_output(&mut self, index: usize) {
        let mut buf = std::mem::take(&mut self.buf);
        let Some(output) = self.init.io.outputs.get_mut(index) else {
            self.buf = buf;
            return;
        };
        let stream = output.stream;
        match read_output(output.fd.as_ref(), &mut buf) {
            OutputRead::Data(n) => {
                let data = &buf[..n];
                let log = &mut self.log;
                output
                    .splitter
                    .feed(data, |line| write_log(log, stream, line));
                for conn in self.conns.values_mut() {
                    if let Role::Attach { stdout, stderr, .. } = conn.role {
                        let wanted = match stream {
                            Stream::Stdout => stdout,
                            Stream::Stderr => stderr,
                        };
                        if wanted && !conn.closing {
                            conn.push_frame(stream.frame_kind(), data);
                            conn.flush();
                        }
                    }
                }
            }
            OutputRead::Eof => {
                output.fd = None;
                let log = &mut self.log;
                output.splitter.finish(|line| write_log(log, stream, line));
            }
            OutputRead::Again => {}
        }
        self.buf = buf;
    }

    fn read_exec_output(&mut self, key: u64, index: usize) {
        let mut buf = std::mem::take(&mut self.buf);
        if let Some(exec) = self.execs.get_mut(&key) {
            if let Some(output) = exec.io.outputs.get_mut(index) {
                match read_output(output.fd.as_ref(), &mut buf) {
                    OutputRead::Data(n) => {
                        if let Some(conn) = exec.conn.and_then(|c| self.conns.get_mut(&c)) {
                            conn.push_frame(output.stream.frame_kind(), &buf[..n]);
                            conn.flush();
                        }
                    }
                    OutputRead::Eof => output.fd = None,
                    OutputRead::Again => {}
                }
            }
        }
        self.buf = buf;
    }

    fn flush_stdin_all(&mut self) {
        self.init.io.flush_stdin();
        for exec in self.execs.values_mut() {
            exec.io.flush_stdin();
        }
    }

    /// Collects every exited child; init's and execs' statuses are kept.
    fn reap(&mut self) {
        while let Ok(Some(_)) = self.signals.read_signal() {}
        loop {
            let (pid, code) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), code),
                Ok(WaitStatus::Signaled(pid, signal, _)) => (pid.as_raw(), 128 + signal as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            let now = Instant::now();
            if pid == self.init.pid && self.init.exit.is_none() {
                tracing::debug!(pid, code, "init reaped");
                let oom_killed = self.oom.as_ref().is_some_and(OomWatch::fired);
                self.init.exit = Some(exit_status(code, oom_killed));
                self.init.exited_at = Some(now);
                continue;
            }
            if let Some(exec) = self
                .execs
                .values_mut()
                .find(|e| e.pid == pid && e.exit.is_none())
            {
                exec.exit = Some(exit_status(code, false));
                exec.exited_at = Some(now);
            }
        }
    }

    /// Finishes exited execs and init once their output is drained (or the grace is over).
    fn progress(&mut self) {
        let now = Instant::now();
        let finished: Vec<u64> = self
            .execs
            .iter()
            .filter(|(_, e)| {
                e.exited_at
                    .is_some_and(|at| e.io.drained() || now >= at + DRAIN_GRACE)
            })
            .map(|(&k, _)| k)
            .collect();
        for key in finished {
            let Some(exec) = self.execs.remove(&key) else {
                continue;
            };
            if let (Some(conn), Some(status)) =
                (exec.conn.and_then(|c| self.conns.get_mut(&c)), &exec.exit)
            {
                conn.push_exit(status);
                conn.flush();
            }
        }
        let init_done = self
            .init
            .exited_at
            .is_some_and(|at| self.init.io.drained() || now >= at + DRAIN_GRACE);
        if init_done && !self.finalized {
            self.finalize();
        }
    }

    /// Init has exited and its output is drained: record, report, clean up.
    fn finalize(&mut self) {
        self.finalized = true;
        for output in &mut self.init.io.outputs {
            let stream = output.stream;
            let log = &mut self.log;
            output.splitter.finish(|line| write_log(log, stream, line));
            output.fd = None;
        }
        let Some(status) = self.init.exit.clone() else {
            return;
        };
        // Before the report: a `--rm` removal deletes the container's directory, the file's,
        // as soon as berthd hears of the exit.
        let exit_file_span = tracing::debug_span!("exit_file").entered();
        if let Err(e) = exit_file::write(&self.config.exit_file, &status) {
            shimlog::error(&e.to_string());
        }
        drop(exit_file_span);
        // No new connection from here on; the exit is reported at once: the status line to
        // waiters, the EXIT frame to attached streams (which then close).
        self.listener = None;
        let _ = std::fs::remove_file(&self.config.socket);
        for conn in self.conns.values_mut() {
            match conn.role {
                Role::Wait => conn.push_line(&status),
                Role::Attach { .. } => conn.push_exit(&status),
                _ => {}
            }
            conn.flush();
        }
        self.conns.retain(|_, c| !c.finished());
        // Then the runtime's state and cgroups go, while berthd releases the network and the
        // rootfs. Waiters' connections close only after it: berthd takes that end of stream as
        // the runtime's release and never starts the id again, nor removes the container,
        // before it (`shim::ShimExit::released`).
        // The embedded runtime's delete of a stopped container removes cgroup directories and
        // its state: done here, without a helper's fork, unless poststop hooks are to run.
        let in_place = runtime_select::embedded(&self.config).and_then(|runtime| {
            let _span = tracing::debug_span!("delete_in_place").entered();
            runtime.delete_forking_nothing(&self.config.id, true)
        });
        let deleted = match in_place {
            Some(deleted) => Ok(deleted.map(|()| helper::Produced::Nothing)),
            None => {
                let _span = tracing::debug_span!("helper_delete").entered();
                let config = self.config.clone();
                helper::run(move || {
                    let runtime = runtime_select::runtime_for(&config)?;
                    runtime
                        .delete(&config.id, true)
                        .map(|()| helper::Produced::Nothing)
                })
            }
        };
        match deleted {
            Ok(Ok(_)) | Ok(Err(berth_runtime::RuntimeError::NoSuchContainer(_))) => {}
            Ok(Err(e)) => shimlog::error(&format!("delete container: {e}")),
            Err(e) => shimlog::error(&e.to_string()),
        }
        // The container's mounts go now, before the release is signalled: a restart mounts
        // the same writable layer again, which overlayfs refuses while a mount of it lives.
        if let Some(ns) = self.mount_ns.take() {
            let _span = tracing::debug_span!("mount_ns_release").entered();
            drop(ns);
        }
        for conn in self.conns.values_mut() {
            if matches!(conn.role, Role::Wait) {
                conn.closing = true;
                conn.flush();
            }
        }
        self.shutdown_by = Some(Instant::now() + SHUTDOWN_GRACE);
    }

    fn done(&self) -> bool {
        let Some(by) = self.shutdown_by else {
            return false;
        };
        let quiet = self.execs.is_empty()
            && self
                .conns
                .values()
                .all(|c| c.finished() || matches!(c.role, Role::Request));
        quiet || Instant::now() >= by
    }

    /// The init's final status, once known.
    pub(crate) fn init_exit(&self) -> Option<&ExitStatus> {
        if self.finalized {
            self.init.exit.as_ref()
        } else {
            None
        }
    }
}

fn exit_status(exit_code: i32, oom_killed: bool) -> ExitStatus {
    ExitStatus {
        exit_code,
        finished_at: timefmt::format_utc(SystemTime::now(), timefmt::Fraction::Fixed),
        oom_killed,
        error: None,
    }
}

impl Supervisor {
    /// Reopens the log file at its path (after a rotation moved it away).
    pub(crate) fn reopen_log(&mut self) -> Response {
        match self.log.as_mut().map(JsonLog::reopen) {
            Some(Err(e)) => Response::Error {
                message: e.to_string(),
            },
            _ => Response::Ok,
        }
    }
}

fn write_log(log: &mut Option<JsonLog>, stream: Stream, line: &[u8]) {
    if let Some(writer) = log {
        if let Err(e) = writer.write_entry(stream.log_name(), line, SystemTime::now()) {
            shimlog::error(&e.to_string());
        }
    }
}

enum OutputRead {
    Data(usize),
    Eof,
    Again,
}

/// One non-blocking read; a pty's EIO (the terminal hung up) is its EOF.
fn read_output(fd: Option<&std::os::fd::OwnedFd>, buf: &mut [u8]) -> OutputRead {
    let Some(fd) = fd else {
        return OutputRead::Again;
    };
    loop {
        return match nix::unistd::read(fd.as_raw_fd(), buf) {
            Ok(0) => OutputRead::Eof,
            Ok(n) => OutputRead::Data(n),
            Err(nix::Error::EINTR) => continue,
            Err(nix::Error::EAGAIN) => OutputRead::Again,
            Err(_) => OutputRead::Eof,
        };
    }
}
