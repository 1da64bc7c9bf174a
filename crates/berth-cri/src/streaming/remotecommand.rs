//! kubelet's remote command protocols for exec and attach: `v4.channel.k8s.io` over SPDY/3.1
//! (one SPDY stream per `streamType`), and `v5.channel.k8s.io` / `v4.channel.k8s.io` over
//! WebSocket (one byte of channel before each binary message).

use std::sync::Arc;
use std::time::Duration;

use berth_daemon::Daemon;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::process::{self, Outcome, Size, Stdio};
use super::spdy::frame::header;
use super::spdy::session::{Session, StreamOut};
use super::ws;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// The SPDY protocol served (kubelet serves v4 and older over SPDY; v5 is WebSocket only).
pub(crate) const SPDY_PROTOCOLS: &[&str] = &["v4.channel.k8s.io"];
/// The WebSocket protocols served, preferred first.
pub(crate) const WS_PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// How long the client has to open its streams (kubelet's `DefaultStreamCreationTimeout`).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

const CH_STDIN: u8 = 0;
const CH_STDOUT: u8 = 1;
const CH_STDERR: u8 = 2;
const CH_ERROR: u8 = 3;
const CH_RESIZE: u8 = 4;
const CH_CLOSE: u8 = 255;

/// What a URL of the streaming server runs: an exec, or an attach.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub container_id: String,
    /// Empty for an attach.
    pub cmd: Vec<String>,
    pub attach: bool,
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Command {
    async fn run(&self, daemon: Arc<Daemon>, io: Stdio) -> Outcome {
        if self.attach {
            process::attach(daemon, &self.container_id, self.tty, io).await
        } else {
            process::exec(
                daemon,
                &self.container_id,
                self.cmd.clone(),
                self.tty,
                io,
                None,
            )
            .await
        }
    }

    fn expected_streams(&self) -> usize {
        1 + usize::from(self.stdin)
            + usize::from(self.stdout)
            + usize::from(self.stderr)
            + usize::from(self.tty)
    }
}

/// The `metav1.Status` the error stream carries at the end (v4 and v5).
pub(crate) fn status_json(cmd: &Command, outcome: &Outcome) -> Vec<u8> {
    let status = match outcome {
        Outcome::Exited(0) => json!({"metadata": {}, "status": "Success"}),
        Outcome::Exited(code) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!(
                "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
                cmd.cmd.join(" ")
            ),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Outcome::Failed(message) => json!({
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "InternalError",
            "code": 500,
        }),
    };
    status.to_string().into_bytes()
}

/// Parses the JSON sizes a resize stream carries one after another; keeps an incomplete tail.
fn parse_sizes(buf: &mut Vec<u8>) -> Vec<Size> {
    let mut sizes = Vec::new();
    let mut used = 0;
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Size>();
    loop {
        match it.next() {
            Some(Ok(s)) => {
                sizes.push(s);
                used = it.byte_offset();
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(_)) => {
                // Not a size: drop what was read.
                used = buf.len();
                break;
            }
            None => {
                used = buf.len();
                break;
            }
        }
    }
    buf.drain(..used);
    sizes
}

/// Forwards a channel of output to a SPDY stream, then ends the stream.
fn forward_to_stream(out: StreamOut) -> (mpsc::Sender<Vec<u8>>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
    let task = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if !out.send(&b).await {
                return;
            }
        }
        out.finish().await;
    });
    (tx, task)
}

/// Serves one exec or attach over an upgraded SPDY connection.
pub(crate) async fn serve_spdy<IO>(io: IO, daemon: Arc<Daemon>, cmd: Command)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut session = match Session::start(io) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "SPDY session");
            return;
        }
    };
    let mut stdio = Stdio::default();
    let mut error_out = None;
    let mut tasks = Vec::new();
    let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
    let mut received = 0;
    while received < cmd.expected_streams() {
        let stream = match tokio::time::timeout_at(deadline, session.streams.recv()).await {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(_) => {
                tracing::debug!("SPDY exec: timed out waiting for the client's streams");
                session.close().await;
                return;
            }
        };
        received += 1;
        match header(&stream.headers, "streamtype").unwrap_or_default() {
            "error" => error_out = Some(stream.out),
            "stdin" => stdio.stdin = Some(stream.data),
            "stdout" => {
                let (tx, task) = forward_to_stream(stream.out);
                stdio.stdout = Some(tx);
                tasks.push(task);
            }
            "stderr" => {
                let (tx, task) = forward_to_stream(stream.out);
                stdio.stderr = Some(tx);
                tasks.push(task);
            }
            "resize" => {
                let (tx, rx) = mpsc::channel(8);
                stdio.resize = Some(rx);
                let mut data = stream.data;
                tasks.push(tokio::spawn(async move {
                    let mut buf = Vec::new();
                    while let Some(chunk) = data.recv().await {
                        buf.extend_from_slice(&chunk);
                        for s in parse_sizes(&mut buf) {
                            if tx.send(s).await.is_err() {
                                return;
                            }
                        }
                    }
                }));
            }
            other => {
                tracing::debug!(stream_type = other, "SPDY exec: unexpected stream");
                stream.out.reset().await;
            }
        }
    }
    let outcome = cmd.run(daemon, stdio).await;
    // stdout and stderr end (FIN) before the status is written, as kubelet's do.
    for t in tasks {
        if !t.is_finished() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
    if let Some(out) = error_out {
        out.send(&status_json(&cmd, &outcome)).await;
        out.finish().await;
    }
    session.close().await;
}

/// Serves one exec or attach over an upgraded WebSocket connection with `protocol`.
pub(crate) async fn serve_ws<IO>(io: IO, daemon: Arc<Daemon>, cmd: Command, protocol: &str)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let v5 = protocol == WS_PROTOCOLS[0];
    let (mut sink, mut stream) = ws::server(io).await.split();
    // One writer: channel messages, then the final close. (Pings are answered by the stream
    // as it reads.)
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            let close = matches!(msg, Message::Close(_));
            if sink.send(msg).await.is_err() || close {
                break;
            }
        }
    });
    let channel = |id: u8| {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
        let out = out_tx.clone();
        let task = tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                let mut msg = Vec::with_capacity(b.len() + 1);
                msg.push(id);
                msg.extend_from_slice(&b);
                if out.send(Message::Binary(msg.into())).await.is_err() {
                    return;
                }
            }
        });
        (tx, task)
    };
    let mut stdio = Stdio::default();
    let mut tasks = Vec::new();
    if cmd.stdout {
        let (tx, t) = channel(CH_STDOUT);
        stdio.stdout = Some(tx);
        tasks.push(t);
    }
    if cmd.stderr {
        let (tx, t) = channel(CH_STDERR);
        stdio.stderr = Some(tx);
        tasks.push(t);
    }
    let (stdin_tx, stdin_rx) = mpsc::channel::<Vec<u8>>(16);
    if cmd.stdin {
        stdio.stdin = Some(stdin_rx);
    }
    let (resize_tx, resize_rx) = mpsc::channel::<Size>(8);
    if cmd.tty {
        stdio.resize = Some(resize_rx);
    }
    let mut reader = tokio::spawn(async move {
        let mut stdin = Some(stdin_tx);
        let mut resize_buf = Vec::new();
        while let Some(Ok(msg)) = stream.next().await {
            let data = match msg {
                Message::Binary(b) => b,
                Message::Text(t) => t.into(),
                Message::Close(_) => return,
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            let Some((&ch, payload)) = data.split_first() else {
                continue;
            };
            match ch {
                CH_STDIN => {
                    if let Some(tx) = &stdin {
                        if !payload.is_empty() {
                            let _ = tx.send(payload.to_vec()).await;
                        }
                    }
                }
                CH_RESIZE => {
                    resize_buf.extend_from_slice(payload);
                    for s in parse_sizes(&mut resize_buf) {
                        let _ = resize_tx.send(s).await;
                    }
                }
                CH_CLOSE if v5 && payload.first() == Some(&CH_STDIN) => {
                    stdin = None;
                }
                _ => {}
            }
        }
    });
    let outcome = cmd.run(daemon, stdio).await;
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let mut status = vec![CH_ERROR];
    status.extend_from_slice(&status_json(&cmd, &outcome));
    let _ = out_tx.send(Message::Binary(status.into())).await;
    let _ = out_tx.send(ws::close_normal()).await;
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
    // The client answers the close; stop reading either way (which drops the connection).
    let _ = tokio::time::timeout(Duration::from_secs(2), &mut reader).await;
    reader.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd() -> Command {
        Command {
            container_id: "c".into(),
            cmd: vec!["sh".into(), "-c".into(), "exit 3".into()],
            attach: false,
            tty: false,
            stdin: false,
            stdout: true,
            stderr: true,
        }
    }

    #[test]
    fn statuses_as_client_go_decodes_them() {
        let ok: serde_json::Value =
            serde_json::from_slice(&status_json(&cmd(), &Outcome::Exited(0))).expect("json");
        assert_eq!(ok["status"], "Success");
        let bad: serde_json::Value =
            serde_json::from_slice(&status_json(&cmd(), &Outcome::Exited(3))).expect("json");
        assert_eq!(bad["status"], "Failure");
        assert_eq!(bad["reason"], "NonZeroExitCode");
        assert_eq!(bad["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(bad["details"]["causes"][0]["message"], "3");
        let failed: serde_json::Value = serde_json::from_slice(&status_json(
            &cmd(),
            &Outcome::Failed("no such file".into()),
        ))
        .expect("json");
        assert_eq!(failed["message"], "no such file");
    }

    #[test]
    fn resize_stream_of_concatenated_sizes() {
        let mut buf = br#"{"Width":80,"Height":24}{"Width":100,"Hei"#.to_vec();
        assert_eq!(
            parse_sizes(&mut buf),
            vec![Size {
                width: 80,
                height: 24
            }]
        );
        buf.extend_from_slice(br#"ght":30}"#);
        assert_eq!(
            parse_sizes(&mut buf),
            vec![Size {
                width: 100,
                height: 30
            }]
        );
        assert!(buf.is_empty());
    }
}
