//! `docker update`: new limits written into a running container's cgroup, and the merged
//! HostConfig persisted, as dockerd's `ContainerUpdate`.

use berth_api::models::HostConfig;
use berth_runtime::cgroup_update;
use berth_runtime::spec::Resources;
use berth_types::{Error, Result};

use crate::container::record::{Container, Status};
use crate::daemon::Daemon;
use crate::runtime::cgroup_support::CgroupSupport;

impl Daemon {
    /// Applies `update` to the container `key`; returns dockerd's warnings.
    pub async fn container_update(&self, key: &str, mut update: HostConfig) -> Result<Vec<String>> {
        let warnings =
            crate::runtime::resources::verify(&mut update, &CgroupSupport::detect(), true)?;
        let ctr = self.lookup(key)?;
        let _op = ctr.op.lock().await;
        let c = ctr.snapshot();
        let cannot = |msg: &str| Error::invalid(format!("Cannot update container {}: {msg}", c.id));
        if matches!(c.state.status, Status::Removing | Status::Dead) {
            return Err(cannot(
                "container is marked for removal and cannot be \"update\"",
            ));
        }
        let mut merged = c.host_config.clone();
        crate::runtime::resources::merge_update(&mut merged, &update)
            .map_err(|e| cannot(&e.message))?;
        // dockerd's `ValidateRestartPolicy` on the policy as it will be (update.go).
        crate::container::restart::validate(&merged).map_err(|e| cannot(&e.message))?;
        let mut check = merged.clone();
        crate::runtime::resources::verify(&mut check, &CgroupSupport::detect(), true)
            .map_err(|e| cannot(&e.message))?;
        if c.state.running() && c.state.status != Status::Restarting {
            let limits = crate::runtime::resources::update_limits(&update)?;
            if limits != Resources::default() {
                let disable_oom = merged.oom_kill_disable == Some(true);
                cgroup_update::apply(
                    &crate::sandbox::member::cgroups_path(&c),
                    &limits,
                    disable_oom,
                )
                .map_err(|e| cannot(&e.to_string()))?;
            }
        }
        ctr.update(|c| c.host_config = merged);
        let snap = ctr.snapshot();
        self.repo.save(&snap)?;
        self.container_event(&snap, "update", &[]);
        Ok(warnings)
    }

    /// `--oom-kill-disable` on cgroup v1: the embedded runtime always writes the OOM killer as
    /// enabled, so it is switched off once the cgroup exists, before the process runs.
    pub(crate) fn apply_oom_kill_disable(&self, c: &Container) -> Result<()> {
        let hc = &c.host_config;
        if hc.oom_kill_disable != Some(true) || crate::runtime::cgroups::is_unified() {
            return Ok(());
        }
        let limits = Resources {
            // The memory controller only acts when given memory settings; -1 is "unlimited".
            memory: Some(hc.memory.filter(|m| *m > 0).unwrap_or(-1)),
            ..Default::default()
        };
        cgroup_update::apply(&crate::sandbox::member::cgroups_path(c), &limits, true)
            .map_err(|e| Error::internal(format!("disabling the OOM killer: {e}")))
    }
}
