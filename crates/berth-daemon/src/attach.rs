//! Attach: connecting a client's hijacked connection to a container's stdio through its shim.

use std::sync::Arc;

use berth_api::stdcopy;
use berth_runtime::shim_proto::{ExitStatus, Request, Response};
use berth_types::{Error, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::daemon::{AttachSession, Ctr, Daemon, HijackedIo};
use crate::options::{AttachOptions, LogsOptions};
use crate::shim::{self, Frame, ShimConn};

/// An attach waiting for the container's next start.
pub struct Pending {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tx: oneshot::Sender<Result<ShimConn>>,
}

/// Gives every pending attach of `ctr` its shim connection (called by start, before the
/// process runs, so no output is missed).
pub(crate) async fn connect_pending(ctr: &Arc<Ctr>, socket: &std::path::Path) {
    let pending: Vec<Pending> = match ctr.pending_attach.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(_) => Vec::new(),
    };
    for p in pending {
        let req = Request::Attach {
            stdin: p.stdin,
            stdout: p.stdout,
            stderr: p.stderr,
        };
        let conn = match shim::call(socket, &req).await {
            Ok((Response::Error { message }, _)) => Err(Error::internal(message)),
            Ok((_, conn)) => Ok(conn),
            Err(e) => Err(e),
        };
        let _ = p.tx.send(conn);
    }
}

/// Parses docker's detach key spec (`ctrl-p,ctrl-q`, `a`, `ctrl-@`).
pub(crate) fn parse_detach_keys(spec: Option<&str>) -> Result<Vec<u8>> {
    let spec = match spec {
        Some(s) if !s.is_empty() => s,
        _ => return Ok(vec![0x10, 0x11]),
    };
    let mut out = Vec::new();
    for key in spec.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = c.as_bytes();
            if b.len() != 1 {
                return Err(Error::invalid(format!("Unknown character: '{k}'")));
            }
            let ch = b[0].to_ascii_lowercase();
            let code = match ch {
                b'a'..=b'z' => ch - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return Err(Error::invalid(format!("Unknown character: '{k}'"))),
            };
            out.push(code);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(Error::invalid(format!("Unknown character: '{k}'")));
        }
    }
    Ok(out)
}

/// Copies a shim stream to a client (and the client's stdin to the shim) until the process
/// exits, the client detaches, or either side goes away. Returns the exit status if seen.
pub(crate) async fn pump(
    conn: ShimConn,
    io: Box<dyn HijackedIo>,
    tty: bool,
    stdin: bool,
    detach_keys: Vec<u8>,
) -> Option<ExitStatus> {
    let ShimConn {
        mut reader,
        mut writer,
    } = conn;
    let (mut client_rd, mut client_wr) = tokio::io::split(io);
    let output = async move {
        let mut exit = None;
        loop {
            match shim::read_frame(&mut reader).await {
                Ok(Some(Frame::Stdout(b))) => {
                    let r = if tty {
                        client_wr.write_all(&b).await
                    } else {
                        client_wr
                            .write_all(&stdcopy::frame(stdcopy::STDOUT, &b))
                            .await
                    };
                    if r.is_err() {
                        break;
                    }
                }
                Ok(Some(Frame::Stderr(b))) => {
                    let r = if tty {
                        client_wr.write_all(&b).await
                    } else {
                        client_wr
                            .write_all(&stdcopy::frame(stdcopy::STDERR, &b))
                            .await
                    };
                    if r.is_err() {
                        break;
                    }
                }
                Ok(Some(Frame::Exit(s))) => {
                    exit = Some(s);
                    break;
                }
                Ok(None) | Err(_) => break,
            }
        }
        let _ = client_wr.flush().await;
        let _ = client_wr.shutdown().await;
        exit
    };
    let input = async move {
        if !stdin {
            // Nothing to forward; only notice the client going away.
            let mut sink = [0u8; 512];
            while matches!(client_rd.read(&mut sink).await, Ok(n) if n > 0) {}
            return false;
        }
        let mut buf = vec![0u8; 32 * 1024];
        let mut matched = 0usize;
        loop {
            let n = match client_rd.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    let _ = writer.shutdown().await;
                    return false;
                }
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            if tty && !detach_keys.is_empty() {
                // Hold back a partial detach sequence; detach when it completes.
                let mut out = Vec::with_capacity(n);
                for &b in chunk {
                    if b == detach_keys[matched] {
                        matched += 1;
                        if matched == detach_keys.len() {
                            if !out.is_empty() {
                                let _ = writer.write_all(&out).await;
                            }
                            return true;
                        }
                    } else {
                        out.extend_from_slice(&detach_keys[..matched]);
                        matched = 0;
                        if b == detach_keys[0] {
                            matched = 1;
                        } else {
                            out.push(b);
                        }
                    }
                }
                if !out.is_empty() && writer.write_all(&out).await.is_err() {
                    return false;
                }
            } else if writer.write_all(chunk).await.is_err() {
                return false;
            }
        }
    };
    tokio::pin!(output);
    tokio::pin!(input);
    tokio::select! {
        exit = &mut output => exit,
        detached = &mut input => {
            if detached {
                None
            } else {
                // Stdin closed: keep streaming output until the process ends.
                output.await
            }
        }
    }
}

impl Daemon {
    pub async fn container_attach(&self, key: &str, opts: AttachOptions) -> Result<AttachSession> {
        let ctr = self.lookup(key)?;
        let c = ctr.snapshot();
        if c.state.status == crate::container::Status::Paused {
            return Err(Error::conflict(
                "You cannot attach to a paused container, unpause it first",
            ));
        }
        let detach_keys = parse_detach_keys(opts.detach_keys.as_deref())?;
        let tty = c.tty();
        let stdin = opts.stdin && c.config.open_stdin.unwrap_or(false);
        let socket = self.shim_socket(&c.id);
        let replay = if opts.logs {
            let lopts = LogsOptions {
                stdout: opts.stdout,
                stderr: opts.stderr,
                ..Default::default()
            };
            Some(self.container_logs(key, lopts).await?)
        } else {
            None
        };
        // dockerd logs `attach` for every attach, streaming or logs only.
        self.container_event(&c, "attach", &[]);
        // Register before returning so that a start right after the attach request is seen.
        let pending_rx = if opts.stream && !c.state.running() {
            let (tx, rx) = oneshot::channel();
            if let Ok(mut v) = ctr.pending_attach.lock() {
                v.push(Pending {
                    stdin,
                    stdout: opts.stdout,
                    stderr: opts.stderr,
                    tx,
                });
            }
            Some(rx)
        } else {
            None
        };
        let stream = opts.stream;
        let (want_out, want_err) = (opts.stdout, opts.stderr);
        let run = move |mut io: Box<dyn HijackedIo>| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
            Box::pin(async move {
                if let Some(mut logs) = replay {
                    use futures::StreamExt;
                    while let Some(chunk) = logs.body.next().await {
                        if io.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                }
                if !stream {
                    let _ = io.shutdown().await;
                    return;
                }
                let conn = match pending_rx {
                    Some(rx) => match rx.await {
                        Ok(Ok(conn)) => conn,
                        _ => {
                            let _ = io.shutdown().await;
                            return;
                        }
                    },
                    None => {
                        let req = Request::Attach { stdin, stdout: want_out, stderr: want_err };
                        match shim::call(&socket, &req).await {
                            Ok((Response::Error { .. }, _)) | Err(_) => {
                                let _ = io.shutdown().await;
                                return;
                            }
                            Ok((_, conn)) => conn,
                        }
                    }
                };
                pump(conn, io, tty, stdin, detach_keys).await;
            })
        };
        Ok(AttachSession {
            tty,
            run: Box::new(run),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(super::parse_detach_keys(None).ok(), Some(vec![0x10, 0x11]));
        assert_eq!(
            super::parse_detach_keys(Some("ctrl-a,x")).ok(),
            Some(vec![1, b'x'])
        );
        assert!(super::parse_detach_keys(Some("ctrl-ab")).is_err());
    }
}
