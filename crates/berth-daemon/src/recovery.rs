//! Live restore: on start, reload containers and reconnect to the shims of running ones.

use std::sync::Arc;

use berth_runtime::shim_proto::{ExitStatus, Request, Response};
use berth_types::Result;

use crate::container::Status;
use crate::containers::{now_rfc3339, read_exit_file};
use crate::daemon::{Ctr, Daemon};
use crate::shim;

pub(crate) async fn restore(daemon: &Arc<Daemon>) -> Result<()> {
    let containers = daemon.repo.load_all()?;
    for c in containers {
        let was_running = c.state.running();
        let removing = c.state.status == Status::Removing;
        let ctr = Ctr::new(c);
        if let Ok(mut m) = daemon.containers.write() {
            m.insert(ctr.id.clone(), ctr.clone());
        }
        if removing {
            let _op = ctr.op.lock().await;
            if let Err(e) = daemon.remove_locked(&ctr).await {
                tracing::warn!(container = %ctr.id, error = %e, "finishing an interrupted removal");
            }
            continue;
        }
        if !was_running {
            continue;
        }
        let socket = daemon.shim_socket(&ctr.id);
        let alive = matches!(
            shim::simple(&socket, &Request::State).await,
            Ok(Response::State { running: true, .. })
        );
        if alive {
            match shim::wait(&socket).await {
                Ok(w) => {
                    tracing::info!(container = %ctr.id, "reconnected to running container");
                    daemon.spawn_monitor(ctr.clone(), w);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(container = %ctr.id, error = %e, "shim alive but wait failed")
                }
            }
        }
        // It exited while the daemon was away: its shim left the real exit status behind.
        let status = read_exit_file(&daemon.exit_file(&ctr.id)).unwrap_or(ExitStatus {
            exit_code: 255,
            finished_at: now_rfc3339(),
            oom_killed: false,
            error: Some("shim disappeared".into()),
        });
        tracing::info!(container = %ctr.id, exit_code = status.exit_code, "container exited while the daemon was down");
        daemon.handle_exit(&ctr, status).await;
    }
    Ok(())
}
