//! The cgroup `favordynmods` mount option: cheap task migrations for a host that starts many
//! containers.
//!
//! Moving a process into a cgroup takes the kernel's global `cgroup_threadgroup_rwsem` for
//! writing; a percpu rwsem, whose writer waits a whole RCU grace period (7–20 ms here) unless a
//! writer passed shortly before. Every container start moves its init into its cgroup, so every
//! start waited that long. With `favordynmods` (Linux 6.0+, on any cgroup mount; the flag is
//! the rwsem's, global) readers — fork and exit — take a slightly slower path and migrations
//! take ~0.2 ms. The kernel documents it as meant for hosts with dynamic cgroup changes, which a
//! container host is.
//!
//! The remount keeps every other option: mount(2)'s MS_REMOUNT replaces the per-mount flags
//! and the superblock options with what it is given, so both are read from mountinfo and
//! passed back with `favordynmods` added (what `mount -o remount,favordynmods` does).

use std::io;
use std::path::PathBuf;

use nix::mount::{mount, MsFlags};

use crate::cgroupfs::{cgroup_mount_lines, split_options, CGROUP_ROOT};

const OPTION: &str = "favordynmods";

#[derive(Debug, thiserror::Error)]
pub enum DynmodsError {
    #[error("reading /proc/self/mountinfo: {0}")]
    Mountinfo(io::Error),
    #[error("no cgroup filesystem is mounted under {CGROUP_ROOT}")]
    NoCgroupMount,
    #[error("remounting {path} with {OPTION}: {source}")]
    Remount { path: PathBuf, source: nix::Error },
    #[error("{path} was remounted but mountinfo does not show {OPTION} (kernel older than 6.0?)")]
    NotApplied { path: PathBuf },
}

/// What [`favor_dynmods`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    AlreadySet(PathBuf),
    Set(PathBuf),
}

/// One cgroup mount as mountinfo lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    pub mount_point: PathBuf,
    pub v2: bool,
    /// Per-mount options (`rw,nosuid,nodev,noexec,relatime`).
    pub mount_options: Vec<String>,
    /// Superblock options (`rw,nsdelegate,memory_recursiveprot` or a v1 controller list).
    pub super_options: Vec<String>,
}

impl CgroupMount {
    pub fn favors_dynmods(&self) -> bool {
        self.super_options.iter().any(|o| o == OPTION)
    }

    /// The flags and data for mount(2) that remount it as it is, plus `favordynmods`.
    fn remount_args(&self) -> (MsFlags, String) {
        let mut flags = MsFlags::MS_REMOUNT;
        for o in &self.mount_options {
            flags |= match o.as_str() {
                "ro" => MsFlags::MS_RDONLY,
                "nosuid" => MsFlags::MS_NOSUID,
                "nodev" => MsFlags::MS_NODEV,
                "noexec" => MsFlags::MS_NOEXEC,
                "noatime" => MsFlags::MS_NOATIME,
                "nodiratime" => MsFlags::MS_NODIRATIME,
                "relatime" => MsFlags::MS_RELATIME,
                "strictatime" => MsFlags::MS_STRICTATIME,
                _ => MsFlags::empty(),
            };
        }
        let mut data: Vec<&str> = self
            .super_options
            .iter()
            .map(String::as_str)
            .filter(|o| !matches!(*o, "rw" | "ro" | OPTION))
            .collect();
        data.push(OPTION);
        (flags, data.join(","))
    }
}

/// The cgroup mounts at or right below `/sys/fs/cgroup` in a mountinfo table (a later mount on
/// the same point hides an earlier one).
pub fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    cgroup_mount_lines(mountinfo)
        .into_iter()
        .map(|m| CgroupMount {
            mount_point: m.mount_point,
            v2: m.v2,
            mount_options: split_options(m.mount_options),
            super_options: split_options(m.super_options),
        })
        .collect()
}

fn current_mounts() -> Result<Vec<CgroupMount>, DynmodsError> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|text| cgroup_mounts(&text))
        .map_err(DynmodsError::Mountinfo)
}

/// The mount to set the option on: the cgroup2 one when there is one (pure v2, or a hybrid
/// host's `unified`), else the first v1 hierarchy.
fn chosen(mounts: &[CgroupMount]) -> Option<&CgroupMount> {
    mounts.iter().find(|m| m.v2).or_else(|| mounts.first())
}

/// Sets `favordynmods` on this host's cgroups unless a cgroup mount already has it.
pub fn favor_dynmods() -> Result<Outcome, DynmodsError> {
    let mounts = current_mounts()?;
    if let Some(m) = mounts.iter().find(|m| m.favors_dynmods()) {
        return Ok(Outcome::AlreadySet(m.mount_point.clone()));
    }
    let target = chosen(&mounts).ok_or(DynmodsError::NoCgroupMount)?;
    let (flags, data) = target.remount_args();
    mount(
        None::<&str>,
        &target.mount_point,
        None::<&str>,
        flags,
        Some(data.as_str()),
    )
    .map_err(|source| DynmodsError::Remount {
        path: target.mount_point.clone(),
        source,
    })?;
    let applied = current_mounts()?
        .iter()
        .any(|m| m.mount_point == target.mount_point && m.favors_dynmods());
    if applied {
        Ok(Outcome::Set(target.mount_point.clone()))
    } else {
        Err(DynmodsError::NotApplied {
            path: target.mount_point.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const HYBRID: &str = "\
35 26 0:30 / /sys/fs/cgroup rw,relatime shared:9 - tmpfs tmpfs rw,mode=755
36 35 0:31 / /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu
37 35 0:32 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:11 - cgroup2 cgroup2 rw,nsdelegate
38 35 0:33 / /sys/fs/cgroup/systemd ro,relatime shared:12 - cgroup cgroup rw,xattr,name=systemd
";

    #[test]
    fn the_cgroup2_mount_is_chosen_and_remounted_as_it_is() {
        let mounts = cgroup_mounts(HYBRID);
        assert_eq!(mounts.len(), 3, "tmpfs is not a cgroup mount");
        let m = chosen(&mounts).expect("a mount");
        assert_eq!(m.mount_point, Path::new("/sys/fs/cgroup/unified"));
        let (flags, data) = m.remount_args();
        assert_eq!(
            flags,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC
                | MsFlags::MS_RELATIME
        );
        assert_eq!(data, "nsdelegate,favordynmods");
    }

    #[test]
    fn a_v1_only_host_uses_its_first_hierarchy_keeping_its_controllers() {
        let v1: String =
            HYBRID
                .lines()
                .filter(|l| !l.contains("cgroup2"))
                .fold(String::new(), |mut s, l| {
                    s.push_str(l);
                    s.push('\n');
                    s
                });
        let mounts = cgroup_mounts(&v1);
        let m = chosen(&mounts).expect("a mount");
        assert_eq!(m.mount_point, Path::new("/sys/fs/cgroup/cpu"));
        assert_eq!(m.remount_args().1, "cpu,favordynmods");
        let systemd = &mounts[1];
        let (flags, data) = systemd.remount_args();
        assert!(flags.contains(MsFlags::MS_RDONLY));
        assert_eq!(data, "xattr,name=systemd,favordynmods");
    }

    #[test]
    fn an_option_already_there_is_seen_and_not_doubled() {
        let text = HYBRID.replace("rw,nsdelegate", "rw,nsdelegate,favordynmods");
        let mounts = cgroup_mounts(&text);
        assert!(mounts.iter().any(CgroupMount::favors_dynmods));
        let m = chosen(&mounts).expect("a mount");
        assert_eq!(m.remount_args().1, "nsdelegate,favordynmods");
    }
}
