//! Live restore: on start, reload containers and reconnect to the shims of running ones.

use std::sync::Arc;
use std::time::Duration;

use berth_runtime::shim_proto::{ExitStatus, Request, Response};
use berth_types::Result;

use crate::container::Status;
use crate::containers::{now_rfc3339, read_exit_file, run_time};
use crate::daemon::{Ctr, Daemon};
use crate::restart::Policy;
use crate::shim;

pub(crate) async fn restore(daemon: &Arc<Daemon>) -> Result<()> {
    let containers = daemon.repo.load_all()?;
    for c in containers {
        let was_running = c.state.running();
        let was_restarting = c.state.status == Status::Restarting;
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
            restart_on_daemon_start(daemon, &ctr);
            continue;
        }
        let socket = daemon.shim_socket(&ctr.id);
        let alive = match shim::simple(&socket, &Request::State).await {
            Ok(Response::State {
                running: true, pid, ..
            }) => Some(pid),
            _ => None,
        };
        if let Some(pid) = alive {
            match shim::wait(&socket).await {
                Ok(w) => {
                    tracing::info!(container = %ctr.id, "reconnected to running container");
                    if was_restarting {
                        // The daemon died between launching the restart and recording it.
                        ctr.update(|c| {
                            c.state.status = Status::Running;
                            c.state.pid = i64::from(pid);
                        });
                        let _ = daemon.repo.save(&ctr.snapshot());
                    }
                    daemon.spawn_monitor(ctr.clone(), w);
                    daemon.init_health_monitor(&ctr);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(container = %ctr.id, error = %e, "shim alive but wait failed")
                }
            }
        }
        if was_restarting {
            // Its exit was recorded before the daemon went down, mid back-off.
            restart_on_daemon_start(daemon, &ctr);
            continue;
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

/// dockerd's restore: a stopped container that was started before and whose policy asks
/// for it (a fresh restart manager's verdict) is started again, with its retry count and
/// manual stop forgotten, as a user's start would.
fn restart_on_daemon_start(daemon: &Arc<Daemon>, ctr: &Arc<Ctr>) {
    let c = ctr.snapshot();
    if !c.has_been_started || !matches!(c.state.status, Status::Exited | Status::Restarting) {
        return;
    }
    let ran_for = run_time(
        c.state.started_at.as_deref(),
        c.state.finished_at.as_deref(),
    );
    let wanted = ctr.restart_manager(|m| {
        m.should_restart(
            Policy::of(&c.host_config),
            c.state.exit_code,
            c.has_been_manually_stopped,
            ran_for,
            c.restart_count,
        )
    });
    if wanted.is_none() {
        if c.state.status == Status::Restarting {
            ctr.update(|c| c.state.status = Status::Exited);
            let _ = daemon.repo.save(&ctr.snapshot());
        }
        return;
    }
    tracing::info!(container = %ctr.id, "starting by restart policy after daemon start");
    daemon.reset_restart_policy(ctr);
    ctr.update(|c| c.state.status = Status::Restarting);
    let _ = daemon.repo.save(&ctr.snapshot());
    ctr.life.send_modify(|l| l.running = true);
    daemon.schedule_restart(ctr.clone(), Duration::ZERO);
}
