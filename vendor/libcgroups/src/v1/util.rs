use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use pathrs::flags::OpenFlags;
use pathrs::procfs::{ProcfsBase, ProcfsHandle};
use procfs::ProcError;
use procfs::process::MountInfo;

use super::ControllerType;
use super::controller_type::CONTROLLERS;

#[derive(thiserror::Error, Debug)]
pub enum V1MountPointError {
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("failed to get mountinfo: {0}")]
    MountInfo(ProcError),
    #[error("could not find mountpoint for {subsystem}")]
    NotFound { subsystem: ControllerType },
    #[error(transparent)]
    Pathrs(#[from] pathrs::error::Error),
}

/// List all cgroup v1 subsystem mount points on the system. This can include unsupported
/// subsystems, comounted controllers and named hierarchies.
pub fn list_subsystem_mount_points() -> Result<Vec<PathBuf>, V1MountPointError> {
    let reader = BufReader::new(ProcfsHandle::new()?.open(
        ProcfsBase::ProcSelf,
        "mountinfo",
        OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC,
    )?);
    mount_points_of(reader.lines().map(|lr| lr.map_err(V1MountPointError::Io)))
}

/// berth: the `cgroup` mount points of mountinfo's lines, in order (what
/// [`list_subsystem_mount_points`] finds in /proc/self/mountinfo).
fn mount_points_of(
    lines: impl Iterator<Item = Result<String, V1MountPointError>>,
) -> Result<Vec<PathBuf>, V1MountPointError> {
    lines
        .map(|lr| {
            lr.and_then(|line| MountInfo::from_line(&line).map_err(V1MountPointError::MountInfo))
        })
        .try_fold(Vec::new(), |mut mount_points, r| {
            r.map(|m| {
                if m.fs_type == "cgroup" {
                    mount_points.push(m.mount_point);
                }
                mount_points
            })
        })
}

/// berth: mount points given by a caller that read this process's mountinfo already.
static GIVEN_MOUNT_POINTS: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();

/// berth: hands this process the text of its /proc/self/mountinfo, read by the caller a moment
/// ago: [`cgroup_mount_points`] answers from it from then on, here and in the processes cloned
/// from this one (libcontainer's intermediate and init), which would otherwise read and parse
/// the whole table again, several times, for every container they create. Only the first call
/// counts; for a process whose cgroup mounts do not change while it lives (a runtime's
/// short-lived create or delete).
pub fn remember_mountinfo(mountinfo: &str) -> Result<(), V1MountPointError> {
    let points = mount_points_of(mountinfo.lines().map(|l| Ok(l.to_string())))?;
    let _ = GIVEN_MOUNT_POINTS.set(points);
    Ok(())
}

/// List the mount points of all currently supported cgroup subsystems.
pub fn list_supported_mount_points() -> Result<HashMap<ControllerType, PathBuf>, V1MountPointError>
{
    let mut mount_paths = HashMap::with_capacity(CONTROLLERS.len());

    for controller in CONTROLLERS {
        if let Ok(mount_point) = get_subsystem_mount_point(controller) {
            mount_paths.insert(controller.to_owned(), mount_point);
        }
    }

    Ok(mount_paths)
}

pub fn get_subsystem_mount_point(subsystem: &ControllerType) -> Result<PathBuf, V1MountPointError> {
    subsystem_mount_point(subsystem, &cgroup_mount_points()?)
}

/// berth: the mount points of every `cgroup` (v1) filesystem in /proc/self/mountinfo, in
/// order, read once so a caller resolving several controllers parses the table once.
pub fn cgroup_mount_points() -> Result<Vec<PathBuf>, V1MountPointError> {
    if let Some(given) = GIVEN_MOUNT_POINTS.get() {
        return Ok(given.clone());
    }
    list_subsystem_mount_points()
}

/// The first of `mount_points` (as [`cgroup_mount_points`] lists them) that is `subsystem`'s.
pub fn subsystem_mount_point(
    subsystem: &ControllerType,
    mount_points: &[PathBuf],
) -> Result<PathBuf, V1MountPointError> {
    let subsystem_name = subsystem.to_string();
    mount_points
        .iter()
        .find(|mount_point| {
            // Some systems mount net_prio and net_cls in the same directory
            // other systems mount them in their own directories. This
            // should handle both cases.
            match subsystem_name.as_str() {
                "net_cls" => ["net_cls,net_prio", "net_prio,net_cls", "net_cls"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "net_prio" => ["net_cls,net_prio", "net_prio,net_cls", "net_prio"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "cpu" => ["cpu,cpuacct", "cpu"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "cpuacct" => ["cpu,cpuacct", "cpuacct"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                _ => mount_point.ends_with(&subsystem_name),
            }
        })
        .cloned()
        .ok_or(V1MountPointError::NotFound {
            subsystem: *subsystem,
        })
}
