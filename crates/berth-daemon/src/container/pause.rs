//! pause/unpause: the container's cgroup freezer (v1 `freezer.state`, v2 `cgroup.freeze`),
//! driven through libcgroups, which waits until every task is frozen.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_types::{Error, Result};
use libcgroups::common::{CgroupConfig, CgroupManager, FreezerState};

use crate::container::record::Status;
use crate::daemon::{Ctr, Daemon};

#[derive(Debug, thiserror::Error)]
pub enum FreezeError {
    #[error("the container's cgroup {0} does not exist")]
    NoCgroup(PathBuf),
    #[error("cgroup manager: {0}")]
    Manager(String),
    #[error("freezer: {0}")]
    Freeze(String),
    #[error("freezer task: {0}")]
    Task(String),
}

impl From<FreezeError> for Error {
    fn from(e: FreezeError) -> Self {
        Error::internal(e.to_string())
    }
}

/// The directory whose presence proves the container's freezer cgroup exists (libcgroups would
/// create a missing one, and a container that just exited must not get a stray cgroup).
fn freezer_dir(id: &str) -> PathBuf {
    let root = Path::new(crate::runtime::cgroups::ROOT);
    if crate::runtime::cgroups::is_unified() {
        root.join("berth").join(id)
    } else {
        root.join("freezer").join("berth").join(id)
    }
}

fn set_freezer(id: &str, state: FreezerState) -> std::result::Result<(), FreezeError> {
    let dir = freezer_dir(id);
    if !dir.exists() {
        return Err(FreezeError::NoCgroup(dir));
    }
    let manager = libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: PathBuf::from(format!("/berth/{id}")),
        systemd_cgroup: false,
        container_name: id.to_string(),
    })
    .map_err(|e| FreezeError::Manager(e.to_string()))?;
    manager
        .freeze(state)
        .map_err(|e| FreezeError::Freeze(e.to_string()))
}

async fn freeze(id: &str, state: FreezerState) -> std::result::Result<(), FreezeError> {
    let id = id.to_string();
    tokio::task::spawn_blocking(move || set_freezer(&id, state))
        .await
        .map_err(|e| FreezeError::Task(e.to_string()))?
}

impl Daemon {
    pub async fn container_pause(&self, key: &str) -> Result<()> {
        let ctr = self.lookup(key)?;
        let _op = ctr.op.lock().await;
        let c = ctr.snapshot();
        match c.state.status {
            Status::Paused => {
                return Err(Error::conflict(format!(
                    "Container {} is already paused",
                    c.id
                )))
            }
            Status::Restarting => {
                return Err(Error::conflict(format!(
                    "Container {} is restarting, wait until the container is running",
                    c.id
                )))
            }
            Status::Running => {}
            _ => {
                return Err(Error::conflict(format!(
                    "Container {} is not running",
                    c.id
                )))
            }
        }
        freeze(&c.id, FreezerState::Frozen).await?;
        self.mark_paused(&ctr, true, "pause");
        Ok(())
    }

    pub async fn container_unpause(&self, key: &str) -> Result<()> {
        let ctr = self.lookup(key)?;
        let _op = ctr.op.lock().await;
        let c = ctr.snapshot();
        if c.state.status != Status::Paused {
            return Err(Error::conflict(format!("Container {} is not paused", c.id)));
        }
        freeze(&c.id, FreezerState::Thawed).await?;
        self.mark_paused(&ctr, false, "unpause");
        Ok(())
    }

    /// A paused container cannot act on a signal that should end it: after sending the stop
    /// signal or SIGKILL, dockerd thaws the container so the signal is delivered.
    pub(crate) async fn thaw_after_signal(&self, ctr: &Arc<Ctr>, sig: i32) {
        let c = ctr.snapshot();
        if c.state.status != Status::Paused {
            return;
        }
        let stop_signal = c
            .config
            .stop_signal
            .as_deref()
            .filter(|s| !s.is_empty())
            .and_then(|s| crate::runtime::signals::parse(s).ok())
            .unwrap_or(libc::SIGTERM);
        if sig != libc::SIGKILL && sig != stop_signal {
            return;
        }
        match freeze(&c.id, FreezerState::Thawed).await {
            Ok(()) => self.mark_paused(ctr, false, "unpause"),
            Err(e) => {
                tracing::warn!(container = %c.id, error = %e, "cannot unpause to deliver a signal")
            }
        }
    }

    fn mark_paused(&self, ctr: &Arc<Ctr>, paused: bool, action: &str) {
        ctr.update(|c| {
            if c.state.running() {
                c.state.status = if paused {
                    Status::Paused
                } else {
                    Status::Running
                };
            }
        });
        let snap = ctr.snapshot();
        if let Err(e) = self.repo.save(&snap) {
            tracing::warn!(container = %snap.id, error = %e, "saving paused state");
        }
        self.container_event(&snap, action, &[]);
    }
}
