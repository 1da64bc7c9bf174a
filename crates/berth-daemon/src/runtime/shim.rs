//! Talking to a container's shim: launching it, and requests over its socket
//! (see `berth_runtime::shim_proto`).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use berth_runtime::shim_proto::{frame, CreateResult, ExitStatus, Request, Response};
use berth_types::{Error, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// Runs `berth-shim <config>` and returns what it reports on fd 3 once the container exists.
/// The spare shim takes the container when there is one (its exec and startup are then already
/// done); a new spare is spawned after the report, off the start's path.
pub async fn launch(shim_binary: &Path, config_path: &Path) -> Result<CreateResult> {
    let report = match crate::runtime::shim_spare::hand_over(shim_binary, config_path) {
        Some(report) => report,
        None => {
            let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| Error::internal(format!("pipe: {e}")))?;
            let config = config_path.as_os_str().as_bytes();
            let spawn = spawn_shim(shim_binary, &[config], None, &wr);
            drop(wr);
            let pid = spawn.map_err(|e| {
                Error::internal(format!("starting shim {}: {e}", shim_binary.display()))
            })?;
            Report {
                pipe: rd,
                shim_exit: reap_when_done(pid),
            }
        }
    };
    crate::recovery::failpoint::hit("before-shim-result");
    let line = tokio::task::spawn_blocking(move || report.read_line())
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
    crate::runtime::shim_spare::replenish(shim_binary);
    let line = line.trim();
    if line.is_empty() {
        return Err(Error::internal(
            "shim exited without reporting the container's creation",
        ));
    }
    serde_json::from_str(line)
        .map_err(|e| Error::internal(format!("bad shim answer {line:?}: {e}")))
}

/// A launched shim's fd 3 (the read end) and a pidfd readable once the shim has exited.
pub(crate) struct Report {
    pub(crate) pipe: OwnedFd,
    pub(crate) shim_exit: Option<OwnedFd>,
}

impl Report {
    /// The shim's one report line. Not the pipe's end: the embedded runtime clones the
    /// container's init from the shim, which holds the write end until it execs at `Start`.
    /// A shim that exits without a line (killed, crashed) ends the wait too: what was written
    /// by then is returned.
    fn read_line(self) -> Result<String> {
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        let mut exited = false;
        loop {
            if let Some(end) = text.iter().position(|&b| b == b'\n') {
                text.truncate(end + 1);
                break;
            }
            let mut fds = [
                libc::pollfd {
                    fd: self.pipe.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.shim_exit.as_ref().map_or(-1, |f| f.as_raw_fd()),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // After the shim's exit only what is already in the pipe is read, without waiting.
            let timeout = if exited { 0 } else { -1 };
            // SAFETY: `fds` is a valid array of two pollfds (a negative fd is ignored).
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::internal(format!("waiting for the shim: {e}")));
            }
            if fds[0].revents != 0 {
                // SAFETY: reading into a buffer we own, of its length, from our descriptor.
                let got = unsafe {
                    libc::read(self.pipe.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                };
                match got {
                    0 => break,
                    n if n > 0 => {
                        text.extend_from_slice(&buf[..n as usize]);
                        continue;
                    }
                    _ => {
                        let e = std::io::Error::last_os_error();
                        if e.kind() != std::io::ErrorKind::Interrupted {
                            return Err(Error::internal(format!("reading the shim's report: {e}")));
                        }
                        continue;
                    }
                }
            }
            if exited {
                break;
            }
            exited = fds[1].revents != 0;
        }
        Ok(String::from_utf8_lossy(&text).into_owned())
    }
}

/// The shim stays berthd's child for its whole life (it never forks to detach); a pidfd taken
/// now, before anyone could reap it, names it for sure. Returns a second pidfd of it, for the
/// launch to notice an exit before its report.
pub(crate) fn reap_when_done(pid: libc::pid_t) -> Option<OwnedFd> {
    match crate::util::child::pidfd_open(pid) {
        Ok(pidfd) => {
            let watch = pidfd.try_clone().ok();
            crate::util::child::reap_later(pidfd);
            watch
        }
        Err(e) => {
            tracing::warn!("no pidfd for shim {pid}: {e}; it stays a zombie once it exits");
            None
        }
    }
}

/// Starts `shim_binary args...` in a session of its own, with `stdin` (else /dev/null) on its
/// fd 0, /dev/null on 1 and 2, and `report` as its fd 3.
///
/// Through posix_spawn rather than fork: glibc's spawns with CLONE_VM|CLONE_VFORK, so berthd's
/// address space is not copied. A fork copied berthd's page tables and then cost berthd a
/// copy-on-write fault for each page it touched next: about 4 ms of CPU per container
/// (docs/architecture.md, "CPU per container").
pub(crate) fn spawn_shim(
    shim_binary: &Path,
    args: &[&[u8]],
    stdin: Option<&OwnedFd>,
    report: &OwnedFd,
) -> std::io::Result<libc::pid_t> {
    use std::ffi::CString;
    let cstr = |b: &[u8]| {
        CString::new(b).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let program = cstr(shim_binary.as_os_str().as_bytes())?;
    let args = args
        .iter()
        .map(|a| cstr(a))
        .collect::<std::io::Result<Vec<_>>>()?;
    let env = std::env::vars_os()
        .map(|(k, v)| cstr(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect::<std::io::Result<Vec<_>>>()?;
    let argv: Vec<*const libc::c_char> = std::iter::once(program.as_ptr())
        .chain(args.iter().map(|a| a.as_ptr()))
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let devnull = above_stdio(
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?
            .into(),
    )?;
    // dup2 onto 0-2 must not clobber the report pipe or stdin before they are moved.
    let report = above_stdio(report.try_clone()?)?;
    let stdin = stdin
        .map(|fd| fd.try_clone().and_then(above_stdio))
        .transpose()?;
    let check = |rc: libc::c_int| match rc {
        0 => Ok(()),
        e => Err(std::io::Error::from_raw_os_error(e)),
    };
    // SAFETY: the file-actions and attribute objects are initialised before use and destroyed
    // below; every pointer handed to posix_spawn outlives the call.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        check(libc::posix_spawn_file_actions_init(&mut actions))?;
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        if let Err(e) = check(libc::posix_spawnattr_init(&mut attr)) {
            libc::posix_spawn_file_actions_destroy(&mut actions);
            return Err(e);
        }
        let result = (|| {
            for target in 0..3 {
                check(libc::posix_spawn_file_actions_adddup2(
                    &mut actions,
                    devnull.as_raw_fd(),
                    target,
                ))?;
            }
            // Before fd 3 is replaced: the pipe may have that number.
            if let Some(stdin) = &stdin {
                check(libc::posix_spawn_file_actions_adddup2(
                    &mut actions,
                    stdin.as_raw_fd(),
                    0,
                ))?;
            }
            check(libc::posix_spawn_file_actions_adddup2(
                &mut actions,
                report.as_raw_fd(),
                3,
            ))?;
            // As std's Command: an empty signal mask and SIGPIPE back to its default (the
            // Rust runtime ignores it in berthd).
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            check(libc::posix_spawnattr_setsigmask(&mut attr, &empty))?;
            let mut pipe_only: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pipe_only);
            libc::sigaddset(&mut pipe_only, libc::SIGPIPE);
            check(libc::posix_spawnattr_setsigdefault(&mut attr, &pipe_only))?;
            check(libc::posix_spawnattr_setflags(
                &mut attr,
                (libc::POSIX_SPAWN_SETSIGMASK
                    | libc::POSIX_SPAWN_SETSIGDEF
                    | libc::POSIX_SPAWN_SETSID as libc::c_int) as libc::c_short,
            ))?;
            let mut pid: libc::pid_t = 0;
            check(libc::posix_spawn(
                &mut pid,
                program.as_ptr(),
                &actions,
                &attr,
                argv.as_ptr() as *const *mut libc::c_char,
                envp.as_ptr() as *const *mut libc::c_char,
            ))?;
            Ok(pid)
        })();
        libc::posix_spawnattr_destroy(&mut attr);
        libc::posix_spawn_file_actions_destroy(&mut actions);
        result
    }
}

/// `fd`, or a close-on-exec duplicate of it numbered 3 or above when it is 0, 1 or 2.
fn above_stdio(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own; the result is a new descriptor we own.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if dup < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `dup` was just returned by fcntl and is owned by nobody else.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(dup) })
}

/// One connection to a shim after its request was sent and the response line read.
pub struct ShimConn {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

/// Connects, sends `req`, reads the response line.
pub async fn call(socket: &Path, req: &Request) -> Result<(Response, ShimConn)> {
    send(socket, req).await?.answer().await
}

/// A request sent on its own connection, its response line not read yet.
pub struct Sent {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    written: std::io::Result<()>,
}

/// Connects and sends `req` without waiting for the answer: requests sent one after the
/// other reach the shim in that order, and it serves them in that order when a later `Start`
/// finds them waiting.
pub async fn send(socket: &Path, req: &Request) -> Result<Sent> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| Error::internal(format!("connecting to shim {}: {e}", socket.display())))?;
    let (rd, mut writer) = stream.into_split();
    let mut line = serde_json::to_vec(req).map_err(|e| Error::internal(e.to_string()))?;
    line.push(b'\n');
    let written = writer.write_all(&line).await;
    Ok(Sent {
        reader: BufReader::new(rd),
        writer,
        written,
    })
}

impl Sent {
    /// Reads the response line.
    pub async fn answer(self) -> Result<(Response, ShimConn)> {
        let Sent {
            mut reader,
            writer,
            written,
        } = self;
        let mut resp = String::new();
        let read = reader.read_line(&mut resp).await;
        // A shim that refused the request answered before closing: its answer says why, where
        // the failed write would only say "Broken pipe".
        if resp.is_empty() {
            if let Err(e) = written {
                return Err(Error::internal(format!("shim request: {e}")));
            }
            if let Err(e) = read {
                return Err(Error::internal(format!("shim response: {e}")));
            }
            return Err(Error::internal("shim closed the connection"));
        }
        let resp: Response = serde_json::from_str(resp.trim())
            .map_err(|e| Error::internal(format!("bad shim response {resp:?}: {e}")))?;
        Ok((resp, ShimConn { reader, writer }))
    }
}

/// A request answered by one response line; `Error` responses become errors.
pub async fn simple(socket: &Path, req: &Request) -> Result<Response> {
    let (resp, _) = call(socket, req).await?;
    match resp {
        Response::Error { message } => Err(Error::internal(message)),
        r => Ok(r),
    }
}

/// Sends `signal` to the container's init (to every process of it with `all`), best effort: on
/// the paths that use it a shim already gone is what was wanted.
pub async fn signal(socket: &Path, signal: i32, all: bool) {
    let _ = simple(socket, &Request::Kill { signal, all }).await;
}

/// SIGKILL to every process of the container, best effort (see [`signal`]).
pub async fn kill_all(socket: &Path) {
    signal(socket, libc::SIGKILL, true).await;
}

/// [`kill_all`] taking the socket's path by value (for futures that outlive the caller's).
pub async fn kill_all_at(socket: std::path::PathBuf) {
    kill_all(&socket).await;
}

/// What a `Wait` connection reports: the init's exit status, as soon as the shim has reaped it
/// and drained its output, and the runtime's release that follows.
pub struct ShimExit {
    pub status: ExitStatus,
    pub released: RuntimeRelease,
}

/// The rest of a `Wait` connection after the status: the shim closes it once the runtime has
/// deleted the container's state and cgroups (or when the shim exits, whatever killed it).
pub struct RuntimeRelease {
    reader: BufReader<OwnedReadHalf>,
    _writer: OwnedWriteHalf,
}

impl RuntimeRelease {
    /// Resolves at the connection's end: the runtime holds nothing of the run any more.
    pub async fn wait(mut self) {
        let mut rest = Vec::new();
        let _ = self.reader.read_to_end(&mut rest).await;
    }
}

/// Opens a `Wait` connection; the returned future resolves when init exits, with the
/// runtime's release still to come ([`ShimExit::released`]).
pub async fn wait_exit(
    socket: &Path,
) -> Result<impl std::future::Future<Output = Result<ShimExit>>> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| Error::internal(format!("connecting to shim {}: {e}", socket.display())))?;
    let (rd, mut wr) = stream.into_split();
    let mut line =
        serde_json::to_vec(&Request::Wait).map_err(|e| Error::internal(e.to_string()))?;
    line.push(b'\n');
    wr.write_all(&line)
        .await
        .map_err(|e| Error::internal(format!("shim request: {e}")))?;
    Ok(async move {
        let mut reader = BufReader::new(rd);
        let mut s = String::new();
        reader
            .read_line(&mut s)
            .await
            .map_err(|e| Error::internal(format!("shim wait: {e}")))?;
        if s.trim().is_empty() {
            return Err(Error::internal("shim went away"));
        }
        let status = serde_json::from_str(s.trim())
            .map_err(|e| Error::internal(format!("bad exit status {s:?}: {e}")))?;
        Ok(ShimExit {
            status,
            released: RuntimeRelease {
                reader,
                _writer: wr,
            },
        })
    })
}

/// Opens a `Wait` connection; the returned future resolves when init has exited and the
/// runtime has released the container.
pub async fn wait(socket: &Path) -> Result<impl std::future::Future<Output = Result<ExitStatus>>> {
    let exit = wait_exit(socket).await?;
    Ok(async move {
        let ShimExit { status, released } = exit.await?;
        released.wait().await;
        Ok(status)
    })
}

/// A frame from an Attach or Exec stream.
pub enum Frame {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exit(ExitStatus),
}

/// Reads the next frame; `None` at a clean end of stream.
pub async fn read_frame(r: &mut BufReader<OwnedReadHalf>) -> Result<Option<Frame>> {
    let mut h = [0u8; 5];
    match r.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let (kind, len) = frame::parse_header(h);
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    Ok(Some(match kind {
        frame::STDOUT => Frame::Stdout(buf),
        frame::STDERR => Frame::Stderr(buf),
        frame::EXIT => Frame::Exit(
            serde_json::from_slice(&buf)
                .map_err(|e| Error::internal(format!("bad exit frame: {e}")))?,
        ),
        k => return Err(Error::internal(format!("unknown frame kind {k}"))),
    }))
}
