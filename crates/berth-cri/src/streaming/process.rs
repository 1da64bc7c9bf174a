//! Running an exec or an attach over channels, whatever carries them (SPDY streams, WebSocket
//! channels, or ExecSync's buffers): the daemon's exec and attach machinery pumps a byte
//! stream; here it is split into stdout and stderr (stdcopy frames when there is no terminal)
//! and fed from stdin.

use std::sync::Arc;

use berth_api::models::ExecConfig;
use berth_daemon::options::AttachOptions;
use berth_daemon::{AttachSession, Daemon};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// A terminal size, as the resize stream carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub(crate) struct Size {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

/// The client's side of a session; `None` where the client asked for no such stream.
#[derive(Default)]
pub(crate) struct Stdio {
    /// Ends when the client closes its input.
    pub stdin: Option<mpsc::Receiver<Vec<u8>>>,
    pub stdout: Option<mpsc::Sender<Vec<u8>>>,
    pub stderr: Option<mpsc::Sender<Vec<u8>>>,
    pub resize: Option<mpsc::Receiver<Size>>,
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The process exited with this code (an attach reports 0: kubelet's streams carry no
    /// exit code for attach).
    Exited(i64),
    /// The session could not run.
    Failed(String),
}

/// How long an exec with a terminal waits for the client's first resize before it starts at
/// no size.
const FIRST_RESIZE_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// What [`exec`] tells its caller as the process starts: its exec id, for a kill on timeout.
pub(crate) type Started = tokio::sync::oneshot::Sender<String>;

/// Runs `cmd` in container `id` (which must be running) and pumps it until it exits.
pub(crate) async fn exec(
    daemon: Arc<Daemon>,
    id: &str,
    cmd: Vec<String>,
    tty: bool,
    mut io: Stdio,
    started: Option<Started>,
) -> Outcome {
    // kubelet's clients send the terminal's size as the first resize: the process starts at
    // that size rather than 0x0 (as `ConsoleSize` does for the Docker API).
    let console_size = match (tty, io.resize.as_mut()) {
        (true, Some(rx)) => tokio::time::timeout(FIRST_RESIZE_WAIT, rx.recv())
            .await
            .ok()
            .flatten()
            .map(|s| [s.height, s.width]),
        _ => None,
    };
    let config = ExecConfig {
        cmd: Some(cmd),
        tty: Some(tty),
        attach_stdin: Some(io.stdin.is_some()),
        attach_stdout: Some(io.stdout.is_some()),
        attach_stderr: Some(io.stderr.is_some()),
        ..Default::default()
    };
    let exec_id = match daemon.exec_create(id, config).await {
        Ok(e) => e,
        Err(e) => return Outcome::Failed(e.message),
    };
    // raw = tty: a terminal's output comes as it is, otherwise in stdcopy frames.
    let session = match daemon
        .exec_start_sized(&exec_id, false, tty, None, console_size)
        .await
    {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e.message),
    };
    if let Some(s) = started {
        let _ = s.send(exec_id.clone());
    }
    let resize = {
        let (daemon, exec_id) = (daemon.clone(), exec_id.clone());
        move |s: Size| {
            let (daemon, exec_id) = (daemon.clone(), exec_id.clone());
            async move {
                let _ = daemon.exec_resize(&exec_id, s.height, s.width).await;
            }
        }
    };
    pump(session, tty, io, resize).await;
    match daemon.exec_inspect(&exec_id).await {
        Ok(r) => match r.exit_code {
            Some(code) => Outcome::Exited(code),
            None => Outcome::Failed("the exec's exit status is unknown".into()),
        },
        Err(e) => Outcome::Failed(e.message),
    }
}

/// Attaches to container `id`'s stdio until the container exits or the client goes away.
pub(crate) async fn attach(daemon: Arc<Daemon>, id: &str, tty: bool, io: Stdio) -> Outcome {
    let opts = AttachOptions {
        stream: true,
        logs: false,
        stdin: io.stdin.is_some(),
        stdout: io.stdout.is_some(),
        stderr: io.stderr.is_some(),
        detach_keys: None,
    };
    let session = match daemon.container_attach(id, opts).await {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(e.message),
    };
    let raw = session.tty || tty;
    let resize = {
        let (daemon, id) = (daemon.clone(), id.to_string());
        move |s: Size| {
            let (daemon, id) = (daemon.clone(), id.clone());
            async move {
                let _ = daemon.container_resize(&id, s.height, s.width).await;
            }
        }
    };
    pump(session, raw, io, resize).await;
    Outcome::Exited(0)
}

/// Pumps `session` over an in-memory pipe: stdin in, stdout/stderr out, resizes applied, until
/// the session's output ends.
async fn pump<F, Fut>(session: AttachSession, raw: bool, io: Stdio, resize: F)
where
    F: Fn(Size) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let Stdio {
        stdin,
        stdout,
        stderr,
        resize: resizes,
    } = io;
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let run = tokio::spawn(session.run(Box::new(theirs)));
    let (mut rd, mut wr) = tokio::io::split(ours);
    let input = tokio::spawn(async move {
        if let Some(mut rx) = stdin {
            while let Some(chunk) = rx.recv().await {
                if wr.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let _ = wr.shutdown().await;
        } else {
            // Without stdin the client's end stays open until the output ends: closing it
            // would read as the client going away.
            std::future::pending::<()>().await;
        }
    });
    let resizer = tokio::spawn(async move {
        if let Some(mut rx) = resizes {
            while let Some(size) = rx.recv().await {
                resize(size).await;
            }
        }
    });
    if raw {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
            if let Some(tx) = &stdout {
                let _ = tx.send(buf[..n].to_vec()).await;
            }
        }
    } else {
        loop {
            let mut head = [0u8; 8];
            if rd.read_exact(&mut head).await.is_err() {
                break;
            }
            let (stream, len) = berth_api::stdcopy::parse_header(&head);
            let mut data = vec![0u8; len];
            if rd.read_exact(&mut data).await.is_err() {
                break;
            }
            let to = if stream == berth_api::stdcopy::STDERR {
                &stderr
            } else {
                &stdout
            };
            if let Some(tx) = to {
                let _ = tx.send(data).await;
            }
        }
    }
    input.abort();
    resizer.abort();
    let _ = run.await;
}

#[cfg(test)]
mod tests {
    use super::Size;

    #[test]
    fn size_is_kubelets_json() {
        let s: Size = serde_json::from_str(r#"{"Width":80,"Height":24}"#).expect("size");
        assert_eq!(
            s,
            Size {
                width: 80,
                height: 24
            }
        );
    }
}
