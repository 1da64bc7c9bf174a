//! ExecSync: a command run to its end (or its timeout) with its output captured, as kubelet's
//! exec probes use it.

use std::sync::Arc;
use std::time::Duration;

use berth_daemon::Daemon;
use tokio::sync::{mpsc, oneshot};
use tonic::{Response, Status};

use super::process::{self, Outcome, Stdio};
use crate::proto;

/// Output kept of each stream (cri-api: "the runtime should cap the output of this response
/// to 16MB"; the rest is discarded, the command goes on).
const MAX_OUTPUT: usize = 16 << 20;

/// How long a killed command has to be reaped and its output drained.
const KILL_GRACE: Duration = Duration::from_secs(10);

fn collect(mut rx: mpsc::Receiver<Vec<u8>>) -> tokio::task::JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(chunk) = rx.recv().await {
            let room = MAX_OUTPUT.saturating_sub(all.len());
            all.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        all
    })
}

/// Go's `time.Duration` text of whole seconds (`1s`, `1m30s`, `2h0m0s`), as containerd's
/// timeout message shows it.
fn go_seconds(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

pub(crate) async fn exec_sync(
    daemon: &Arc<Daemon>,
    r: proto::ExecSyncRequest,
) -> Result<Response<proto::ExecSyncResponse>, Status> {
    let c = super::running_container(daemon, &r.container_id).await?;
    if r.cmd.is_empty() {
        return Err(Status::invalid_argument("cmd must not be empty"));
    }
    let id = c.id.unwrap_or(r.container_id);
    let (out_tx, out_rx) = mpsc::channel(16);
    let (err_tx, err_rx) = mpsc::channel(16);
    let (stdout, stderr) = (collect(out_rx), collect(err_rx));
    let io = Stdio {
        stdin: None,
        stdout: Some(out_tx),
        stderr: Some(err_tx),
        resize: None,
    };
    let (started_tx, started_rx) = oneshot::channel();
    let mut run = {
        let daemon = daemon.clone();
        let cmd = r.cmd.clone();
        tokio::spawn(
            async move { process::exec(daemon, &id, cmd, false, io, Some(started_tx)).await },
        )
    };
    let outcome = if r.timeout > 0 {
        let limit = Duration::from_secs(r.timeout.unsigned_abs());
        match tokio::time::timeout(limit, &mut run).await {
            Ok(o) => o,
            Err(_) => {
                // Kill the command, as containerd does, and answer with the deadline error.
                if let Ok(exec_id) = started_rx.await {
                    if let Ok(inspect) = daemon.exec_inspect(&exec_id).await {
                        let pid = inspect.pid.unwrap_or(0);
                        if pid > 0 && inspect.running.unwrap_or(false) {
                            let pid = nix::unistd::Pid::from_raw(pid as i32);
                            if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::SIGKILL) {
                                tracing::debug!(error = %e, "ExecSync: killing the timed out command");
                            }
                        }
                    }
                }
                let _ = tokio::time::timeout(KILL_GRACE, run).await;
                return Err(Status::deadline_exceeded(format!(
                    "timeout {} exceeded: context deadline exceeded",
                    go_seconds(r.timeout.unsigned_abs())
                )));
            }
        }
    } else {
        run.await
    };
    let outcome = outcome.map_err(|e| Status::internal(format!("ExecSync: {e}")))?;
    let (stdout, stderr) = (
        stdout.await.unwrap_or_default(),
        stderr.await.unwrap_or_default(),
    );
    match outcome {
        Outcome::Exited(code) => Ok(Response::new(proto::ExecSyncResponse {
            stdout,
            stderr,
            exit_code: i32::try_from(code).unwrap_or(-1),
        })),
        Outcome::Failed(message) => Err(Status::unknown(format!(
            "failed to exec in container: {message}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_as_go_prints_them() {
        assert_eq!(super::go_seconds(1), "1s");
        assert_eq!(super::go_seconds(90), "1m30s");
        assert_eq!(super::go_seconds(7200), "2h0m0s");
    }
}
