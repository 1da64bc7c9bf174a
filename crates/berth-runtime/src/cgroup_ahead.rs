//! A container's cgroup made, and the spec's resources applied to it, by berthd while the
//! start's other work runs (the rootfs mount, the network's namespace, the spec), rather than
//! by libcontainer's intermediate process after its clone, while nothing else runs: on a cgroup
//! v1 host that is eight directories, cpuset's cpus and mems and the device rules, about a
//! millisecond of the start's critical path.
//!
//! berthd calls [`make`] with the cgroup and resources of the spec it is about to write and
//! names both in the shim's config (`ShimConfig::cgroup_made`). The embedded runtime compares
//! them with the spec it creates the container from ([`made_for`]): the same, and libcontainer's intermediate
//! only adds itself to the cgroup (`set_cgroup_applied_ahead`, vendor/libcontainer
//! BERTH-PATCH.md ninth change), as it does for an exec; different, and the cgroup is removed
//! and made by the intermediate as before. The calls are libcgroups' own (`create`, then
//! `apply` with the `ControllerOpt` the intermediate passes), so the cgroup and its limits are
//! the same either way.

use std::path::Path;

use libcgroups::common::{
    create_cgroup_manager, AnyCgroupManager, CgroupConfig, CgroupManager, ControllerOpt,
};
use oci_spec::runtime::{LinuxResources, Spec};

use crate::shim_proto::CgroupMade;

fn config(cgroups_path: &Path, id: &str) -> CgroupConfig {
    CgroupConfig {
        cgroup_path: cgroups_path.to_path_buf(),
        // berth's cgroups are cgroupfs ones (the embedded runtime builds with_systemd(false)).
        systemd_cgroup: false,
        container_name: id.to_string(),
    }
}

/// Makes the cgroup `cgroups_path` of container `id` and applies `resources` to it, as
/// libcontainer's intermediate would. `Ok(false)`: not made (no cgroupfs manager for this
/// host); `Err`: libcgroups' failure, and nothing of the cgroup is left.
pub fn make(
    cgroups_path: &Path,
    id: &str,
    resources: Option<&LinuxResources>,
) -> Result<bool, String> {
    let manager: AnyCgroupManager = create_cgroup_manager(config(cgroups_path, id))
        .map_err(|e| format!("cgroup manager: {e}"))?;
    let made = manager.create().and_then(|made| {
        // The intermediate's own `ControllerOpt` (container_intermediate_process.rs).
        let opt = resources.map(|resources| ControllerOpt {
            resources,
            freezer_state: None,
            oom_score_adj: None,
            disable_oom_killer: false,
        });
        match opt {
            Some(opt) if made => manager.apply(&opt).map(|()| made),
            _ => Ok(made),
        }
    });
    made.map_err(|e| {
        let _ = manager.remove();
        e.to_string()
    })
}

/// Hands libcgroups the host's cgroup mounts (mountinfo lines) once, so that it does not read
/// and parse the process's whole mount table for each cgroup (berthd's holds every running
/// container's mounts). Only the first call counts.
pub fn remember_mounts(mountinfo_lines: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(e) = libcgroups::v1::util::remember_mountinfo(mountinfo_lines) {
            tracing::debug!(error = %e, "libcgroups reads the mount table itself");
        }
    });
}

/// Removes the cgroup `cgroups_path` (empty: made ahead, never joined).
pub fn remove(cgroups_path: &Path, id: &str) {
    if let Ok(manager) = create_cgroup_manager(config(cgroups_path, id)) {
        let _ = manager.remove();
    }
}

/// Whether `made` is the cgroup `spec` asks for, with exactly its resources: then the runtime
/// need only join it.
pub fn made_for(made: &CgroupMade, spec: &Spec) -> bool {
    let Some(linux) = spec.linux() else {
        return false;
    };
    linux.cgroups_path().as_deref() == Some(made.path.as_path())
        && linux.resources().as_ref() == Some(&made.resources)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use oci_spec::runtime::{LinuxBuilder, LinuxPidsBuilder, LinuxResourcesBuilder};

    use super::*;

    fn with_pids(limit: i64) -> LinuxResources {
        LinuxResourcesBuilder::default()
            .pids(
                LinuxPidsBuilder::default()
                    .limit(limit)
                    .build()
                    .expect("pids"),
            )
            .build()
            .expect("resources")
    }

    fn spec(path: Option<&str>, resources: Option<LinuxResources>) -> Spec {
        let mut linux = LinuxBuilder::default().build().expect("linux");
        linux.set_cgroups_path(path.map(PathBuf::from));
        linux.set_resources(resources);
        let mut spec = Spec::default();
        spec.set_linux(Some(linux));
        spec
    }

    /// Only the very cgroup and resources berthd applied let the runtime skip applying them.
    #[test]
    fn a_cgroup_counts_as_made_only_for_its_path_and_the_resources_applied() {
        let made = CgroupMade {
            path: "/berth/abc".into(),
            resources: with_pids(33),
        };
        assert!(made_for(
            &made,
            &spec(Some("/berth/abc"), Some(with_pids(33)))
        ));
        assert!(!made_for(
            &made,
            &spec(Some("/berth/abc"), Some(with_pids(34)))
        ));
        assert!(!made_for(&made, &spec(Some("/berth/abc"), None)));
        assert!(
            !made_for(&made, &spec(Some("/pod/abc"), Some(with_pids(33)))),
            "another cgroup"
        );
        assert!(!made_for(&made, &spec(None, Some(with_pids(33)))));
        let mut no_linux = Spec::default();
        no_linux.set_linux(None);
        assert!(!made_for(&made, &no_linux));
    }
}
