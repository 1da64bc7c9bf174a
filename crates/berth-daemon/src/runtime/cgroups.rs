//! Reading a container's cgroup (berth places it at `/berth/<id>` under every hierarchy).

use std::path::{Path, PathBuf};

/// Where the cgroup filesystem is mounted.
pub(crate) const ROOT: &str = "/sys/fs/cgroup";

/// Whether the host is pure cgroup v2 (the root is a cgroup2 mount).
pub fn is_unified() -> bool {
    Path::new(ROOT).join("cgroup.controllers").exists()
}

/// The directory whose `cgroup.procs` lists the container's processes.
fn procs_dir(id: &str) -> Option<PathBuf> {
    let rel = format!("berth/{id}");
    let candidates: Vec<PathBuf> = if is_unified() {
        vec![Path::new(ROOT).join(&rel)]
    } else {
        [
            "pids", "memory", "cpu", "freezer", "devices", "systemd", "unified",
        ]
        .iter()
        .map(|c| Path::new(ROOT).join(c).join(&rel))
        .collect()
    };
    candidates
        .into_iter()
        .find(|p| p.join("cgroup.procs").exists())
}

/// The pids in the container's cgroup.
pub fn pids(id: &str) -> Vec<i32> {
    let Some(dir) = procs_dir(id) else {
        return Vec::new();
    };
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The cgroups driver and version as `docker info` shows them.
pub fn driver_and_version() -> (&'static str, &'static str) {
    if is_unified() {
        ("cgroupfs", "2")
    } else {
        ("cgroupfs", "1")
    }
}

/// The host's cgroup mounts as the runtime needs them ([`berth_runtime::cgroupfs::cgroup_lines`]
/// of mountinfo), read on the first container start and kept: every shim would otherwise read
/// and parse the whole mount table, which holds each running container's mounts. None when the
/// table cannot be read (each runtime operation then reads it itself).
pub fn mount_lines() -> Option<String> {
    static LINES: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    LINES
        .get_or_init(|| {
            std::fs::read_to_string("/proc/self/mountinfo")
                .ok()
                .map(|text| berth_runtime::cgroupfs::cgroup_lines(&text))
        })
        .clone()
}
