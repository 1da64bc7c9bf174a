//! A live container: its record under a lock plus the daemon's runtime bookkeeping (waiters,
//! attaches waiting for the next start, restart back-off, the health monitor).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_types::Result;
use tokio::sync::{oneshot, watch};

use crate::container::record::Container;
use crate::runtime::shim::ShimConn;

/// What waiters watch: bumped on every exit and at removal.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    pub running: bool,
    /// Number of exits seen since the daemon loaded the container.
    pub exits: u64,
    pub exit_code: i64,
    pub removed: bool,
    pub error: Option<String>,
}

/// How long a removal or a new start waits for the last run's shim to delete the runtime's
/// state (tens of milliseconds at most when it is healthy).
const RUNTIME_RELEASE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A live container: its record plus the daemon's runtime bookkeeping.
pub struct Ctr {
    pub id: String,
    pub rec: Mutex<Container>,
    /// Serialises start/stop/kill/remove of this container.
    pub op: tokio::sync::Mutex<()>,
    pub life: watch::Sender<Lifecycle>,
    /// Attach sessions waiting for the next start; each gets a shim connection.
    pub pending_attach: Mutex<Vec<Pending>>,
    /// Back-off and cancel of the restart policy (in memory, as dockerd's).
    pub restart: Mutex<crate::container::restart::RestartManager>,
    /// Stops the running health check monitor, if any.
    pub health_stop: Mutex<Option<tokio_util::sync::CancellationToken>>,
    /// Set by `rm -f` before it kills the container: the exit's release only detaches the
    /// rootfs, whose writable layer is deleted next (`Daemon::release_after_exit`).
    pub discarding: AtomicBool,
    /// The last run's runtime release: true once its shim has deleted the runtime's state and
    /// cgroups, which it does after reporting the exit (`shim::ShimExit::released`).
    runtime_release: Mutex<Option<watch::Receiver<bool>>>,
    /// Created by this daemon and never started since: no run of it can have left a shim,
    /// state or cgroup behind, so its first start skips looking for them.
    fresh: AtomicBool,
}

impl Ctr {
    /// A container this daemon just created (see `fresh`).
    pub fn created(c: Container) -> Arc<Self> {
        let ctr = Self::new(c);
        ctr.fresh.store(true, Ordering::Release);
        ctr
    }

    /// True the first time it is asked of a container [`Ctr::created`] by this daemon.
    pub fn first_start(&self) -> bool {
        self.fresh.swap(false, Ordering::AcqRel)
    }

    pub fn new(c: Container) -> Arc<Self> {
        let life = Lifecycle {
            running: c.state.running(),
            exit_code: c.state.exit_code,
            ..Default::default()
        };
        Arc::new(Self {
            id: c.id.clone(),
            rec: Mutex::new(c),
            op: tokio::sync::Mutex::new(()),
            life: watch::channel(life).0,
            pending_attach: Mutex::new(Vec::new()),
            restart: Mutex::new(crate::container::restart::RestartManager::default()),
            health_stop: Mutex::new(None),
            discarding: AtomicBool::new(false),
            runtime_release: Mutex::new(None),
            fresh: AtomicBool::new(false),
        })
    }

    /// Follows the release of the run that just exited: [`Ctr::runtime_released`] waits for it.
    pub fn track_runtime_release(&self, release: crate::runtime::shim::RuntimeRelease) {
        let (done, rx) = watch::channel(false);
        if let Ok(mut slot) = self.runtime_release.lock() {
            *slot = Some(rx);
        }
        tokio::spawn(async move {
            release.wait().await;
            let _ = done.send(true);
        });
    }

    /// Waits (at most `RUNTIME_RELEASE_GRACE`) until the runtime holds nothing of the last
    /// run: its state and cgroups are gone, so the id can be started again or removed. A
    /// shim that hangs is left to the leftovers' purge that follows.
    pub async fn runtime_released(&self) {
        let rx = self.runtime_release.lock().ok().and_then(|s| s.clone());
        if let Some(mut rx) = rx {
            let released = tokio::time::timeout(RUNTIME_RELEASE_GRACE, rx.wait_for(|done| *done));
            if released.await.is_err() {
                tracing::warn!(container = %self.id, "the shim has not released the runtime");
            }
        }
    }

    /// Runs `f` on the restart manager under its lock.
    pub fn restart_manager<R>(
        &self,
        f: impl FnOnce(&mut crate::container::restart::RestartManager) -> R,
    ) -> R {
        match self.restart.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// A copy of the record.
    pub fn snapshot(&self) -> Container {
        match self.rec.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Changes the record under its lock.
    pub fn update<R>(&self, f: impl FnOnce(&mut Container) -> R) -> R {
        match self.rec.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// An attach waiting for the container's next start.
pub struct Pending {
    pub(crate) stdin: bool,
    pub(crate) stdout: bool,
    pub(crate) stderr: bool,
    pub(crate) tx: oneshot::Sender<Result<ShimConn>>,
}
