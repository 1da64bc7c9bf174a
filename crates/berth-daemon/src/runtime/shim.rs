//! Talking to a container's shim: launching it, and requests over its socket
//! (see `berth_runtime::shim_proto`).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;

use berth_runtime::shim_proto::{frame, CreateResult, ExitStatus, Request, Response};
use berth_types::{Error, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// Runs `berth-shim <config>` and returns what it reports on fd 3 once the container exists.
pub async fn launch(shim_binary: &Path, config_path: &Path) -> Result<CreateResult> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::internal(format!("pipe: {e}")))?;
    let wr_fd = wr.as_raw_fd();
    let mut cmd = std::process::Command::new(shim_binary);
    cmd.arg(config_path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(wr_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let spawn = cmd.spawn();
    drop(wr);
    crate::recovery::failpoint::hit("before-shim-result");
    let mut child = spawn
        .map_err(|e| Error::internal(format!("starting shim {}: {e}", shim_binary.display())))?;
    let line = tokio::task::spawn_blocking(move || read_all(rd))
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
    // The shim's first process exits as soon as it has detached; reap it.
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let line = line.trim();
    if line.is_empty() {
        return Err(Error::internal(
            "shim exited without reporting the container's creation",
        ));
    }
    serde_json::from_str(line)
        .map_err(|e| Error::internal(format!("bad shim answer {line:?}: {e}")))
}

fn read_all(fd: OwnedFd) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::from(fd);
    let mut s = String::new();
    f.read_to_string(&mut s)?;
    Ok(s)
}

/// One connection to a shim after its request was sent and the response line read.
pub struct ShimConn {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

/// Connects, sends `req`, reads the response line.
pub async fn call(socket: &Path, req: &Request) -> Result<(Response, ShimConn)> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| Error::internal(format!("connecting to shim {}: {e}", socket.display())))?;
    let (rd, mut wr) = stream.into_split();
    let mut line = serde_json::to_vec(req).map_err(|e| Error::internal(e.to_string()))?;
    line.push(b'\n');
    let written = wr.write_all(&line).await;
    let mut reader = BufReader::new(rd);
    let mut resp = String::new();
    let read = reader.read_line(&mut resp).await;
    // A shim that refused the request answered before closing: its answer says why, where the
    // failed write would only say "Broken pipe".
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
    Ok((resp, ShimConn { reader, writer: wr }))
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

/// Opens a `Wait` connection; the returned future resolves when init exits.
pub async fn wait(socket: &Path) -> Result<impl std::future::Future<Output = Result<ExitStatus>>> {
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
        let _keep = wr;
        let mut reader = BufReader::new(rd);
        let mut s = String::new();
        reader
            .read_line(&mut s)
            .await
            .map_err(|e| Error::internal(format!("shim wait: {e}")))?;
        if s.trim().is_empty() {
            return Err(Error::internal("shim went away"));
        }
        serde_json::from_str(s.trim())
            .map_err(|e| Error::internal(format!("bad exit status {s:?}: {e}")))
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
