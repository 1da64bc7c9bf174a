//! docker's default Linux spec pieces (moby `oci/defaults.go`, `daemon/oci_linux.go`).

use serde_json::{json, Value};

/// Paths hidden from unprivileged containers (bind of /dev/null or an empty tmpfs).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths remounted read-only in unprivileged containers.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// docker's default `--shm-size`: 64 MiB.
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// Where `--init` puts the init binary.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// The default mounts. `/sys` and `/sys/fs/cgroup` are read-write only when privileged.
pub fn mounts(privileged: bool, shm_size: u64) -> Vec<Value> {
    let sys = if privileged { "rw" } else { "ro" };
    vec![
        mount(
            "/proc",
            "proc",
            "proc",
            &["rw", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["rw", "nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "rw",
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &[sys, "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &[sys, "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["rw", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &[
                "rw",
                "nosuid",
                "noexec",
                "nodev",
                "mode=1777",
                &format!("size={shm_size}"),
            ],
        ),
    ]
}

pub fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Value {
    json!({ "destination": destination, "type": kind, "source": source, "options": options })
}

/// Device cgroup rules for an unprivileged container: deny everything, then allow the default
/// character devices (zero, null, urandom, random, tty, console) and deny fuse explicitly.
pub fn device_cgroup_rules() -> Vec<Value> {
    let allow = |major: i64, minor: i64| json!({ "allow": true, "type": "c", "major": major, "minor": minor, "access": "rwm" });
    vec![
        json!({ "allow": false, "access": "rwm" }),
        allow(1, 5),
        allow(1, 3),
        allow(1, 9),
        allow(1, 8),
        allow(5, 0),
        allow(5, 1),
        json!({ "allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm" }),
    ]
}
