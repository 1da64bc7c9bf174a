use super::*;

use oci_spec::runtime::Mount;
use serde_json::json;

/// This machine's layout: hybrid, controllers mounted one per hierarchy.
const HYBRID: &str = "\
23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

/// Debian 10's legacy layout: comounted controllers (with symlinks on the host), systemd's
/// hierarchy with a release agent, no cgroup2.
const LEGACY: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
32 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
33 25 0:30 / /sys/fs/cgroup/rdma rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,rdma
";

/// Debian 12's pure v2 layout.
const UNIFIED: &str = "\
22 28 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
25 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

fn spec(cgroup_options: &[&str]) -> Spec {
    serde_json::from_value(json!({
        "ociVersion": "1.0.2",
        "root": { "path": "/rootfs" },
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"] },
            { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": cgroup_options },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue" },
        ],
        "linux": {
            "cgroupsPath": "/berth/abc",
            "readonlyPaths": ["/proc/bus"],
        },
    }))
    .expect("spec")
}

fn mounts(spec: &Spec) -> Vec<(String, String, String, Vec<String>)> {
    spec.mounts()
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|m: &Mount| {
            (
                m.destination().to_string_lossy().into_owned(),
                m.typ().clone().unwrap_or_default(),
                m.source()
                    .as_ref()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                m.options().clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn layouts_are_detected_from_mountinfo() {
    assert_eq!(Host::parse(HYBRID).layout(), Some(Layout::Hybrid));
    assert_eq!(Host::parse(LEGACY).layout(), Some(Layout::Legacy));
    assert_eq!(Host::parse(UNIFIED).layout(), Some(Layout::Unified));
    assert_eq!(Host::parse("").layout(), None);
    // Only cgroup filesystems right at or below /sys/fs/cgroup count.
    let elsewhere = "40 31 0:37 / /mnt/cg rw - cgroup cgroup rw,name=systemd\n";
    assert_eq!(Host::parse(elsewhere).layout(), None);
    // A mount on top of a hierarchy hides it.
    let hidden = format!("{HYBRID}99 41 0:99 / /sys/fs/cgroup/unified rw - tmpfs tmpfs rw\n");
    assert_eq!(Host::parse(&hidden).layout(), Some(Layout::Legacy));
}

#[test]
fn unmanaged_hierarchies_are_the_ones_libcontainer_leaves_alone() {
    let names = |text: &str| -> Vec<String> {
        Host::parse(text)
            .unmanaged()
            .iter()
            .map(|h| h.mount_point.to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        names(HYBRID),
        ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"]
    );
    assert_eq!(
        names(LEGACY),
        ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/rdma"]
    );
    assert!(names(UNIFIED).is_empty());
}

#[test]
fn proc_cgroup_lines_match_their_hierarchy() {
    let host = Host::parse(LEGACY);
    let systemd = &host.hierarchies[0];
    let cpu = &host.hierarchies[1];
    assert!(systemd.is_line("1", "name=systemd"));
    assert!(!systemd.is_line("0", ""));
    assert!(cpu.is_line("4", "cpu,cpuacct"));
    assert!(!cpu.is_line("5", "memory"));
    let unified = Host::parse(HYBRID);
    let v2 = unified.hierarchies.iter().find(|h| h.v2).expect("v2");
    assert!(v2.is_line("0", ""));
    assert!(!v2.is_line("9", "name=systemd"));
}

#[test]
fn hybrid_read_only_mount_becomes_tmpfs_and_read_only_binds_of_the_container_s_cgroups() {
    let mut s = spec(&["ro", "nosuid", "noexec", "nodev"]);
    assert_eq!(
        present(&mut s, &Host::parse(HYBRID)).expect("present"),
        Presentation::Rewritten {
            seal: Some("/sys/fs/cgroup".into())
        }
    );
    let m = mounts(&s);
    let dests: Vec<&str> = m.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(
        dests,
        [
            "/proc",
            "/sys",
            "/sys/fs/cgroup",
            "/sys/fs/cgroup/cpu",
            "/sys/fs/cgroup/cpuacct",
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/pids",
            "/sys/fs/cgroup/systemd",
            "/dev/mqueue",
        ],
        "no cgroup2 mount on a hybrid host, as runc"
    );
    assert_eq!(m[2].1, "tmpfs");
    assert!(m.iter().all(|m| m.1 != "cgroup"));
    for bind in &m[3..8] {
        assert_eq!(bind.1, "bind");
        let name = bind.0.trim_start_matches("/sys/fs/cgroup/");
        assert_eq!(bind.2, format!("/sys/fs/cgroup/{name}/berth/abc"));
        assert_eq!(
            bind.3,
            strings(&["rbind", "nosuid", "noexec", "nodev", "ro"])
        );
    }
}

#[test]
fn privileged_mount_stays_writable() {
    let mut s = spec(&["rw", "nosuid", "noexec", "nodev"]);
    assert_eq!(
        present(&mut s, &Host::parse(HYBRID)).expect("present"),
        Presentation::Rewritten { seal: None }
    );
    let m = mounts(&s);
    let memory = m
        .iter()
        .find(|m| m.0 == "/sys/fs/cgroup/memory")
        .expect("memory");
    assert_eq!(
        memory.3,
        strings(&["rbind", "nosuid", "noexec", "nodev", "rw"])
    );
}

#[test]
fn comounted_hierarchies_are_reachable_under_each_controller() {
    let mut s = spec(&["ro"]);
    assert_ne!(
        present(&mut s, &Host::parse(LEGACY)).expect("present"),
        Presentation::Unchanged
    );
    let m = mounts(&s);
    let by_dest = |d: &str| m.iter().find(|m| m.0 == d).map(|m| m.2.clone());
    for dest in ["cpu,cpuacct", "cpu", "cpuacct"] {
        assert_eq!(
            by_dest(&format!("/sys/fs/cgroup/{dest}")).as_deref(),
            Some("/sys/fs/cgroup/cpu,cpuacct/berth/abc")
        );
    }
    assert_eq!(
        by_dest("/sys/fs/cgroup/net_prio").as_deref(),
        Some("/sys/fs/cgroup/net_cls,net_prio/berth/abc")
    );
    assert_eq!(
        by_dest("/sys/fs/cgroup/rdma").as_deref(),
        Some("/sys/fs/cgroup/rdma/berth/abc")
    );
}

#[test]
fn pure_v2_spec_is_left_to_libcontainer() {
    // libcontainer mounts cgroup2 with the spec's flags; in a private cgroup namespace the
    // container's own cgroup is the root.
    let mut s = spec(&["ro", "nosuid", "noexec", "nodev"]);
    let before = serde_json::to_value(&s).expect("json");
    assert_eq!(
        present(&mut s, &Host::parse(UNIFIED)).expect("present"),
        Presentation::Unchanged
    );
    assert_eq!(serde_json::to_value(&s).expect("json"), before);
}

#[test]
fn spec_without_a_cgroup_mount_is_unchanged() {
    let mut s = spec(&["ro"]);
    let mut m = s.mounts().clone().unwrap_or_default();
    m.retain(|m| m.typ().as_deref() != Some("cgroup"));
    s.set_mounts(Some(m));
    assert_eq!(
        present(&mut s, &Host::parse(HYBRID)).expect("present"),
        Presentation::Unchanged
    );
}

#[test]
fn cgroups_paths_must_stay_inside_the_hierarchy() {
    assert_eq!(
        relative_cgroup("/berth/abc").expect("ok"),
        PathBuf::from("berth/abc")
    );
    assert_eq!(
        relative_cgroup("berth/abc").expect("ok"),
        PathBuf::from("berth/abc")
    );
    assert!(relative_cgroup("/berth/../../etc").is_err());
    assert!(relative_cgroup("/").is_err());
    let mut s = spec(&["ro"]);
    if let Some(l) = s.linux_mut() {
        l.set_cgroups_path(Some("/../x".into()));
    }
    assert!(present(&mut s, &Host::parse(HYBRID)).is_err());
}

#[test]
fn mountinfo_escapes_are_undone() {
    assert_eq!(unescape(r"/a\040b"), "/a b");
    assert_eq!(unescape(r"/a\134b"), r"/a\b");
    assert_eq!(unescape(r"/a\04"), r"/a\04");
}

#[test]
fn cgroup_lines_keep_what_the_layout_is_read_from() {
    // The host's table with a running container's mounts: an overlay and a pinned netns.
    let containers = "\
101 23 0:50 / /var/lib/berth/overlay/abc/merged rw,relatime - overlay overlay rw,lowerdir=/x,upperdir=/y,workdir=/z
102 24 0:4 net:[4026532] /run/berth/netns/abc rw - nsfs nsfs rw
";
    let elsewhere = "103 23 0:37 / /mnt/cg rw - cgroup cgroup rw,name=other\n";
    let hidden = "104 41 0:99 / /sys/fs/cgroup/unified rw - tmpfs tmpfs rw\n";
    for table in [
        format!("{HYBRID}{containers}{elsewhere}"),
        format!("{HYBRID}{containers}{hidden}"),
        format!("{LEGACY}{containers}"),
        format!("{UNIFIED}{containers}"),
    ] {
        let kept = cgroup_lines(&table);
        assert_eq!(Host::parse(&kept), Host::parse(&table), "{table}");
        assert!(
            !kept.contains("overlay") && !kept.contains("nsfs"),
            "{kept}"
        );
    }
    // libcgroups looks for cgroup mounts anywhere, and a mount hiding a hierarchy matters.
    let kept = cgroup_lines(&format!("{HYBRID}{containers}{elsewhere}{hidden}"));
    assert!(
        kept.contains("/mnt/cg") && kept.contains(" - tmpfs tmpfs rw\n"),
        "{kept}"
    );
    assert!(!kept.contains(" /sys rw"), "{kept}");
}
