//! Attach: connecting a client's hijacked connection to a container's stdio through its shim.

use std::sync::Arc;

use berth_api::stdcopy;
use berth_runtime::shim_proto::{ExitStatus, Request, Response};
use berth_types::{Error, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::container::live::Pending;
use crate::daemon::{AttachSession, Ctr, Daemon, HijackedIo};
use crate::options::{AttachOptions, LogsOptions};
use crate::runtime::shim::{self, Frame, ShimConn};

/// The attach requests of the sessions made before a start, sent to the shim, not answered
/// yet (see [`shim::send`]).
pub(crate) struct SentAttaches(Vec<(Pending, Result<shim::Sent>)>);

/// Sends an attach request for each session of `ctr` made before the start, without waiting
/// for the answers: the `Start` sent after them is served after them, so no output of the
/// process is missed.
pub(crate) async fn send_pending(ctr: &Arc<Ctr>, socket: &std::path::Path) -> SentAttaches {
    let pending: Vec<Pending> = match ctr.pending_attach.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(_) => Vec::new(),
    };
    let mut sent = Vec::with_capacity(pending.len());
    for p in pending {
        let req = Request::Attach {
            stdin: p.stdin,
            stdout: p.stdout,
            stderr: p.stderr,
        };
        let request = shim::send(socket, &req).await;
        sent.push((p, request));
    }
    SentAttaches(sent)
}

impl SentAttaches {
    /// Reads each answer and hands the session its connection (or the error).
    pub(crate) async fn answered(self) {
        for (p, request) in self.0 {
            let conn = match request {
                Ok(sent) => match sent.answer().await {
                    Ok((Response::Error { message }, _)) => Err(Error::internal(message)),
                    Ok((_, conn)) => Ok(conn),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            let _ = p.tx.send(conn);
        }
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

/// A callback given the process's exit status (None when the shim's stream ended without one).
pub(crate) type OnExit = Box<dyn FnOnce(Option<&ExitStatus>) + Send>;

/// How one shim stream is served to one client.
pub(crate) struct PumpOptions {
    /// Raw bytes to the client; stdcopy frames (stdout and stderr apart) otherwise. For an exec
    /// this is the start request's `Tty`, not the exec's, as dockerd.
    pub raw: bool,
    /// The process has a terminal: the detach keys are looked for in the client's input.
    pub tty: bool,
    /// Stderr output reaches the client (dockerd drops it from an exec started with `Tty`
    /// whose process has no terminal).
    pub stderr: bool,
    /// The client's input goes to the process.
    pub stdin: bool,
    pub detach_keys: Vec<u8>,
    /// After the client detached or went away, keep reading the shim until the process exits
    /// (an exec's exit code is recorded even when nobody watches any more).
    pub follow_to_exit: bool,
    /// Called when the client detaches (an exec's `exec_detach` event).
    pub on_detach: Option<Box<dyn FnOnce() + Send>>,
    /// Called with the exit status as soon as the shim reports it, before the client's stream
    /// is ended: a client that inspects right after its stream closed (the docker CLI reads an
    /// exec's exit code so) finds it recorded.
    pub on_exit: Option<OnExit>,
}

/// How a [`pump`] ended.
#[derive(Debug, Default)]
pub(crate) struct PumpEnd {
    /// The process's exit status, when it was seen.
    pub exit: Option<ExitStatus>,
    /// The client typed the detach keys.
    pub detached: bool,
}

/// Copies a shim stream to a client (and the client's stdin to the shim) until the process
/// exits, the client detaches, or either side goes away.
///
/// Every output frame the shim sent before its EXIT frame is written to the client before the
/// client's stream is shut down; the shim only sends EXIT once the process's output is drained.
pub(crate) async fn pump(conn: ShimConn, io: Box<dyn HijackedIo>, opts: PumpOptions) -> PumpEnd {
    let PumpOptions {
        raw,
        tty,
        stderr,
        stdin,
        detach_keys,
        follow_to_exit,
        mut on_detach,
        mut on_exit,
    } = opts;
    let ShimConn {
        mut reader,
        mut writer,
    } = conn;
    let (mut client_rd, mut client_wr) = tokio::io::split(io);
    let (frames_tx, mut frames_rx) = mpsc::channel::<Frame>(64);
    // Reads the shim: output frames go to `deliver`, the EXIT frame ends it.
    let frames = async move {
        let mut tx = Some(frames_tx);
        loop {
            match shim::read_frame(&mut reader).await {
                Ok(Some(Frame::Exit(s))) => return Some(s),
                Ok(Some(frame)) => {
                    let sent = match &tx {
                        Some(t) => t.send(frame).await.is_ok(),
                        None => false,
                    };
                    if !sent {
                        // Nobody to deliver to: drop the output, but wait for the exit if asked.
                        if !follow_to_exit {
                            return None;
                        }
                        tx = None;
                    }
                }
                Ok(None) | Err(_) => return None,
            }
        }
    };
    // Writes output to the client until the shim's stream ended, then ends the client's stream.
    let deliver = async move {
        while let Some(frame) = frames_rx.recv().await {
            let bytes = match frame {
                Frame::Stderr(_) if !stderr => continue,
                Frame::Stdout(b) if raw => b,
                Frame::Stderr(b) if raw => b,
                Frame::Stdout(b) => stdcopy::frame(stdcopy::STDOUT, &b),
                Frame::Stderr(b) => stdcopy::frame(stdcopy::STDERR, &b),
                Frame::Exit(_) => continue,
            };
            if client_wr.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = client_wr.flush().await;
        let _ = client_wr.shutdown().await;
    };
    // Forwards the client's input; true when the client detached.
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
    tokio::pin!(frames);
    let mut deliver = Some(Box::pin(deliver));
    let mut input = Some(Box::pin(input));
    let mut end = PumpEnd::default();
    let mut frames_done = false;
    loop {
        if frames_done && deliver.is_none() {
            return end;
        }
        tokio::select! {
            s = &mut frames, if !frames_done => {
                // `deliver` ends the client's stream only when polled after this: record first.
                if let Some(f) = on_exit.take() {
                    f(s.as_ref());
                }
                end.exit = s;
                frames_done = true;
            }
            () = async { if let Some(d) = deliver.as_mut() { d.await } }, if deliver.is_some() => {
                deliver = None;
                if !follow_to_exit && !frames_done {
                    // The client is gone: nothing more to do for it.
                    return end;
                }
            }
            detached = async { match input.as_mut() { Some(i) => i.await, None => false } }, if input.is_some() => {
                input = None;
                if detached {
                    // Closing both halves ends the client's stream at once.
                    end.detached = true;
                    deliver = None;
                    if let Some(f) = on_detach.take() {
                        f();
                    }
                    if !follow_to_exit {
                        return end;
                    }
                }
                // Otherwise stdin closed: keep streaming output until the process ends.
            }
        }
    }
}

impl Daemon {
    pub async fn container_attach(&self, key: &str, opts: AttachOptions) -> Result<AttachSession> {
        let ctr = self.lookup(key)?;
        let c = ctr.snapshot();
        if c.state.status == crate::container::record::Status::Paused {
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
                let opts = PumpOptions { raw: tty, tty, stderr: true, stdin, detach_keys, follow_to_exit: false, on_detach: None, on_exit: None };
                pump(conn, io, opts).await;
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
