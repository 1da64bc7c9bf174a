//! Changing the limits of a running container's cgroup (`docker update`), through the same
//! libcgroups managers the embedded runtime creates cgroups with, so v1, hybrid and v2 hosts
//! are told apart in one place.

use std::path::PathBuf;

use libcgroups::common::{CgroupConfig, CgroupManager, ControllerOpt};
use oci_spec::runtime::LinuxResources;

use crate::spec::Resources;

#[derive(Debug, thiserror::Error)]
pub enum CgroupUpdateError {
    #[error("opening the cgroup {path}: {message}")]
    Open { path: String, message: String },
    #[error("{0}")]
    Resources(String),
    #[error("{0}")]
    Apply(String),
}

/// Writes `resources` into the cgroup at `cgroups_path` (as `linux.cgroupsPath`, e.g.
/// `/berth/<id>`). Limits left `None` are not touched. `disable_oom_killer` is the container's
/// setting: cgroup v1 rewrites `memory.oom_control` whenever it writes memory limits.
pub fn apply(
    cgroups_path: &str,
    resources: &Resources,
    disable_oom_killer: bool,
) -> Result<(), CgroupUpdateError> {
    let manager = libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: PathBuf::from(cgroups_path),
        systemd_cgroup: false,
        container_name: String::new(),
    })
    .map_err(|e| CgroupUpdateError::Open {
        path: cgroups_path.to_string(),
        message: e.to_string(),
    })?;
    let oci: LinuxResources = serde_json::from_value(resources.to_oci().into())
        .map_err(|e| CgroupUpdateError::Resources(e.to_string()))?;
    let opt = ControllerOpt {
        resources: &oci,
        disable_oom_killer,
        oom_score_adj: None,
        freezer_state: None,
    };
    manager
        .apply(&opt)
        .map_err(|e| CgroupUpdateError::Apply(e.to_string()))
}
