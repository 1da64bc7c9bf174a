//! The container's cgroup made beside the start's other work (the rootfs mount, the network's
//! namespace), with the resources the spec will ask for, so that the runtime's intermediate
//! process only joins it ([`berth_runtime::cgroup_ahead`]).

use berth_runtime::shim_proto::CgroupMade;

use crate::container::record::Container;
use crate::daemon::EMBEDDED_RUNTIME;

/// The cgroup's path and resources, as the spec will have them; None when berthd leaves the
/// cgroup to the runtime: an external runtime, a pod's container (its spec names the pod's
/// cgroup parent), or limits the spec's build will refuse.
pub(crate) fn plan(c: &Container) -> Option<CgroupMade> {
    if c.runtime != EMBEDDED_RUNTIME || crate::sandbox::member::in_pod(c) {
        return None;
    }
    let hc = &c.host_config;
    let limits = crate::runtime::resources::limits(hc).ok()?;
    let devices = crate::runtime::resources::devices(hc).ok()?;
    let privileged = hc.privileged.unwrap_or(false);
    let value = berth_runtime::spec::linux_resources(privileged, &limits, &devices).ok()?;
    let resources = serde_json::from_value(value).ok()?;
    Some(CgroupMade {
        path: crate::sandbox::member::cgroups_path(c).into(),
        resources,
    })
}

/// The planned cgroup being made on the blocking pool.
pub(crate) struct Making(tokio::task::JoinHandle<Option<CgroupMade>>);

/// Starts making the planned cgroup on the blocking pool, beside the start's other steps; the
/// start waits for it ([`Making::finish`], or [`Making::abandon`] on failure) before the shim
/// is launched and before any cleanup, so that nothing is made after a failed start's purge.
pub(crate) fn start(id: &str, plan: Option<CgroupMade>) -> Option<Making> {
    let plan = plan?;
    let id = id.to_string();
    // A step of the start's trace (`berthd --debug`), beside rootfs_mount and net_plan.
    let start = tracing::Span::current();
    Some(Making(tokio::task::spawn_blocking(move || {
        let _span = tracing::debug_span!(parent: &start, "cgroup_ahead").entered();
        if let Some(lines) = crate::runtime::cgroups::mount_lines() {
            berth_runtime::cgroup_ahead::remember_mounts(&lines);
        }
        match berth_runtime::cgroup_ahead::make(&plan.path, &id, Some(&plan.resources)) {
            Ok(true) => Some(plan),
            Ok(false) => None,
            Err(e) => {
                // The runtime makes it then, and reports a failure as its own.
                tracing::debug!(container = %id, error = %e, "the runtime makes the cgroup");
                None
            }
        }
    })))
}

impl Making {
    /// The cgroup made and the resources applied, or None when it was not made (the runtime
    /// makes it).
    pub(crate) async fn finish(making: Option<Making>) -> Option<CgroupMade> {
        making?.0.await.ok().flatten()
    }

    /// Waits for the cgroup and removes it: the start failed before its shim existed.
    pub(crate) async fn abandon(id: &str, making: Option<Making>) {
        let Some(made) = Self::finish(making).await else {
            return;
        };
        let id = id.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            berth_runtime::cgroup_ahead::remove(&made.path, &id)
        })
        .await;
    }
}
