//! Live restore: on start, reload containers, reconnect to the shims of running ones, and
//! reconcile the host with the records (see docs/architecture.md, "After a crash").

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::shim_proto::{ExitStatus, Request, Response};
use berth_types::Result;

use crate::container::lifecycle::{read_exit_file, run_time};
use crate::container::record::Status;
use crate::container::restart::Policy;
use crate::daemon::{Ctr, Daemon};
use crate::recovery::reconcile::Sweep;
use crate::runtime::shim;
use crate::util::time::now_rfc3339;

pub(crate) async fn restore(daemon: &Arc<Daemon>) -> Result<()> {
    daemon.volumes.recover();
    let containers = daemon.repo.load_all()?;
    let (traces, sockets) = daemon.runtime_traces();
    let known: BTreeSet<String> = containers.iter().map(|c| c.id.clone()).collect();
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
            daemon.purge_runtime(&ctr.id, Sweep::Processes).await;
            if let Err(e) = daemon.remove_locked(&ctr).await {
                tracing::warn!(container = %ctr.id, error = %e, "finishing an interrupted removal");
            }
            continue;
        }
        if !was_running {
            if !reconcile_stopped(daemon, &ctr, traces.contains(&ctr.id)).await {
                restart_on_daemon_start(daemon, &ctr);
            }
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
            match shim::wait_exit(&socket).await {
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
        // Whatever is left of the run (a shim that does not answer, processes in the cgroup)
        // goes before the exit is recorded and anything is started again.
        daemon.purge_runtime(&ctr.id, Sweep::Processes).await;
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
    // Runs no record accounts for (a crash between a removal's steps, say): nothing of theirs
    // may keep running.
    for id in traces.difference(&known) {
        tracing::info!(container = %id, "removing the runtime leftovers of an unknown container");
        daemon.purge_runtime(id, Sweep::Processes).await;
    }
    for (prefix, socket) in sockets {
        let owned = known
            .iter()
            .chain(&traces)
            .any(|id| id.starts_with(&prefix));
        if !owned {
            tracing::info!(socket = %socket.display(), "stopping an unknown shim");
            stop_shim_at(&socket).await;
            let _ = std::fs::remove_file(&socket);
        }
    }
    sweep_orphan_storage(daemon, &known);
    Ok(())
}

/// Writable snapshots and container directories that no record owns: a crash between preparing
/// a container's snapshot and storing its record, or in the middle of a build step (the
/// builder's snapshots never have records). Nothing else is running yet, so none is in use.
fn sweep_orphan_storage(daemon: &Daemon, known: &BTreeSet<String>) {
    match daemon.images.service.snapshot_ids() {
        Ok(ids) => {
            for id in ids.iter().filter(|id| !known.contains(*id)) {
                tracing::info!(snapshot = %id, "removing a snapshot no container owns");
                if let Err(e) = daemon.images.service.snapshot_remove(id) {
                    tracing::warn!(snapshot = %id, error = %e, "removing an orphan snapshot");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing snapshots"),
    }
    let containers = daemon.config.data_root.join("containers");
    let Ok(entries) = std::fs::read_dir(&containers) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(id) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if known.contains(&id) || id.len() != 64 || !berth_types::id::is_hex_prefix(&id) {
            continue;
        }
        let dir = entry.path();
        if berth_snapshot::mount::has_mounts_under(&dir) {
            tracing::warn!(dir = %dir.display(), "an orphan container directory still has mounts: kept");
            continue;
        }
        tracing::info!(container = %id, "removing the directory of a container with no record");
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "removing an orphan container directory");
        }
    }
}

/// Asks the shim listening on `socket` to kill its container, and waits for it to finish.
async fn stop_shim_at(socket: &std::path::Path) {
    shim::kill_all(socket).await;
    if let Ok(w) = shim::wait(socket).await {
        let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
    }
}

/// A container recorded as not running: a crash between launching its shim and recording
/// the start may have left it running (adopted: true is returned), run and exited (its exit
/// is recorded: true), or created but never started (its runtime state goes, so it starts).
async fn reconcile_stopped(daemon: &Arc<Daemon>, ctr: &Arc<Ctr>, traced: bool) -> bool {
    let id = ctr.id.clone();
    let socket = daemon.shim_socket(&id);
    let state = if socket.exists() {
        shim::simple(&socket, &Request::State).await.ok()
    } else {
        None
    };
    match state {
        Some(Response::State {
            running: true, pid, ..
        }) => {
            if let Ok(w) = shim::wait_exit(&socket).await {
                tracing::info!(container = %id, "adopting a container whose start was not recorded");
                ctr.update(|c| {
                    c.state.status = Status::Running;
                    c.state.pid = i64::from(pid);
                    c.state.exit_code = 0;
                    c.state.error = String::new();
                    if c.state.started_at.is_none() || !c.has_been_started {
                        c.state.started_at = Some(now_rfc3339());
                    }
                    c.has_been_started = true;
                });
                ctr.life.send_modify(|l| l.running = true);
                let snap = ctr.snapshot();
                if let Err(e) = daemon.repo.save(&snap) {
                    tracing::error!(container = %id, error = %e, "saving an adopted container");
                }
                daemon.spawn_monitor(ctr.clone(), w);
                daemon.init_health_monitor(ctr);
                return true;
            }
        }
        Some(Response::State {
            exit: Some(status), ..
        }) if ctr.snapshot().state.finished_at.as_deref() != Some(status.finished_at.as_str()) => {
            tracing::info!(container = %id, "recording the exit of a run whose start was not recorded");
            daemon.purge_runtime(&id, Sweep::Processes).await;
            ctr.update(|c| {
                c.state.status = Status::Running;
                c.has_been_started = true;
            });
            daemon.handle_exit(ctr, status).await;
            return true;
        }
        _ => {}
    }
    if traced || daemon.has_runtime_leftovers(&id) {
        tracing::info!(container = %id, "removing the runtime leftovers of a stopped container");
        daemon.purge_runtime(&id, Sweep::Processes).await;
    }
    false
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
