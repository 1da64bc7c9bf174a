//! berthd mounts the host's cgroups with `favordynmods` (cheap task migrations for every start),
//! keeping every other mount option.

use std::path::PathBuf;

use nix::mount::{mount, MsFlags};

use super::*;

/// The cgroup mount berthd sets the option on (the cgroup2 one, else the first v1 one), with
/// its per-mount and superblock options.
fn cgroup_mount() -> (PathBuf, Vec<String>, Vec<String>) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mut found: Vec<(PathBuf, bool, Vec<String>, Vec<String>)> = Vec::new();
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-").expect("separator");
        let point = PathBuf::from(f[4]);
        found.retain(|m| m.0 != point);
        let v2 = match f[sep + 1] {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        if !point.starts_with("/sys/fs/cgroup") || point.components().count() > 5 {
            continue;
        }
        let split = |s: &str| s.split(',').map(str::to_string).collect::<Vec<_>>();
        found.push((point, v2, split(f[5]), split(f[sep + 3])));
    }
    let pick = found
        .iter()
        .find(|m| m.1)
        .or_else(|| found.first())
        .expect("a cgroup mount")
        .clone();
    (pick.0, pick.2, pick.3)
}

/// Remounts without `favordynmods`, as a host that never had it.
fn turn_off(point: &std::path::Path, mount_opts: &[String], super_opts: &[String]) {
    let mut flags = MsFlags::MS_REMOUNT;
    for o in mount_opts {
        flags |= match o.as_str() {
            "ro" => MsFlags::MS_RDONLY,
            "nosuid" => MsFlags::MS_NOSUID,
            "nodev" => MsFlags::MS_NODEV,
            "noexec" => MsFlags::MS_NOEXEC,
            "relatime" => MsFlags::MS_RELATIME,
            "noatime" => MsFlags::MS_NOATIME,
            _ => MsFlags::empty(),
        };
    }
    let data: Vec<&str> = super_opts
        .iter()
        .map(String::as_str)
        .filter(|o| !matches!(*o, "rw" | "ro" | "favordynmods"))
        .collect();
    mount(
        None::<&str>,
        point,
        None::<&str>,
        flags,
        Some(data.join(",").as_str()),
    )
    .expect("remount without favordynmods");
}

/// Whether the running kernel's release is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    version >= (major, minor)
}

#[test]
fn berthd_sets_favordynmods_keeping_every_other_option() {
    let (point, mount_opts, super_opts) = cgroup_mount();
    if super_opts.iter().any(|o| o == "favordynmods") {
        turn_off(&point, &mount_opts, &super_opts);
    }
    let (_, before_mount, before_super) = cgroup_mount();
    // Another test's berthd may set it again at any moment; that can only make this pass for
    // the wrong reason, never fail it.
    let Some(d) = TestDaemon::start() else {
        return;
    };
    assert!(d.ping().is_some());
    let (after_point, after_mount, after_super) = cgroup_mount();
    assert_eq!(after_point, point);
    assert_eq!(after_mount, before_mount, "per-mount options kept");
    // Linux 6.0 brought the option; an older kernel refuses it and berthd must then leave the
    // mount exactly as it was.
    let supported = kernel_at_least(6, 0);
    let mut expected: Vec<String> = before_super
        .iter()
        .filter(|o| *o != "favordynmods")
        .cloned()
        .chain(supported.then(|| "favordynmods".to_string()))
        .collect();
    let mut got = after_super.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "superblock options kept, favordynmods added");
}
