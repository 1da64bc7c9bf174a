//! What walls a container in, as dockerd sets it up: read-only rootfs, the memory limit in the
//! cgroup, capabilities, seccomp profiles, masked and read-only /proc paths, the /etc files
//! mounted from the container's directory, and `--network none`.

use super::*;

/// The default capability set of a docker container, as /proc/<pid>/status shows it.
const DEFAULT_CAP_EFF: &str = "00000000a80425fb";

/// A single capability line of /proc/self/status inside a container run with `flags`.
#[track_caller]
fn cap_eff(d: &TestDaemon, c: Client, flags: &[&str]) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "grep", "CapEff", "/proc/self/status"]);
    let out = d.run(c, &args);
    out.success();
    out.out()
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

both_clients! {
    fn read_only_rootfs(d, c) {
        d.run(c, &["run", "--rm", "--read-only", "busybox", "touch", "/x"]).code_is(1).stderr_has("Read-only file system");
        d.run(c, &["run", "--rm", "busybox", "touch", "/x"]).success();
    }

    fn memory_limit_reaches_the_cgroup(d, c) {
        let name = unique_name("mem");
        // cgroup v1 (hybrid hosts) or v2: the container sees its own cgroup's limit.
        let read = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max";
        let out = d.run(c, &["run", "--name", &name, "-m", "64m", "busybox", "sh", "-c", read]);
        assert_eq!(out.success().out(), "67108864");
        assert_eq!(d.inspect(c, &name, "{{.HostConfig.Memory}}"), "67108864");
        d.run(c, &["rm", &name]).success();
    }

    fn capabilities(d, c) {
        assert_eq!(cap_eff(d, c, &[]), DEFAULT_CAP_EFF);
        assert_eq!(cap_eff(d, c, &["--cap-drop", "ALL"]), "0000000000000000");
        assert_eq!(cap_eff(d, c, &["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"]), "0000000000001000");
        assert_eq!(cap_eff(d, c, &["--cap-add", "SYS_ADMIN"]), "00000000a82425fb");
        let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
        let host_bounding = status.lines().find_map(|l| l.strip_prefix("CapBnd:")).unwrap_or_default().trim().to_string();
        assert_eq!(cap_eff(d, c, &["--privileged"]), host_bounding);
    }

    fn seccomp_default_and_unconfined(d, c) {
        // The default profile refuses unshare(2) without CAP_SYS_ADMIN; unconfined allows a user
        // namespace, which needs no capability.
        let confined = d.run(c, &["run", "--rm", "busybox", "unshare", "-U", "true"]);
        assert_ne!(confined.code, 0, "{confined}");
        d.run(c, &["run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "unshare", "-U", "true"]).success();
        // A profile file is read by the client and sent inline: this one refuses mkdir(2) only.
        let profile = d.dir().join(format!("{}.json", unique_name("no-mkdir")));
        let rules = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#;
        std::fs::write(&profile, rules).expect("writing the profile");
        let opt = format!("seccomp={}", profile.display());
        d.run(c, &["run", "--rm", "--security-opt", &opt, "busybox", "mkdir", "/made"]).code_is(1).stderr_has("Operation not permitted");
        d.run(c, &["run", "--rm", "--security-opt", &opt, "busybox", "touch", "/made"]).success();
    }

    fn proc_is_masked(d, c) {
        // Masked files are hidden under /dev/null (char 1:3) and read nothing. Which of them a
        // kernel has varies, so test those this host has.
        let masked: Vec<&str> = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats"]
            .into_iter()
            .filter(|p| std::path::Path::new(p).exists())
            .collect();
        assert!(!masked.is_empty(), "the host has none of the masked /proc files");
        for path in &masked {
            let script = format!("stat -c '%F %t:%T' {path}; cat {path} | wc -c");
            let out = d.run(c, &["run", "--rm", "busybox", "sh", "-c", &script]);
            assert_eq!(out.success().lines(), ["character special file 1:3", "0"], "{out}");
            let privileged = d.run(c, &["run", "--rm", "--privileged", "busybox", "stat", "-c", "%F", path]);
            // procfs reports its files as empty regular files.
            assert!(privileged.success().out().starts_with("regular"), "{privileged}");
        }
        if std::path::Path::new("/proc/acpi").is_dir() {
            let acpi = d.run(c, &["run", "--rm", "busybox", "stat", "-f", "-c", "%T", "/proc/acpi"]);
            assert_eq!(acpi.success().out(), "tmpfs", "{acpi}");
        }
        // /proc/sys is read-only (the kernel may lack /proc/sysrq-trigger, another such path).
        d.run(c, &["run", "--rm", "busybox", "sh", "-c", "echo x > /proc/sys/kernel/domainname"])
            .code_is(1)
            .stderr_has("Read-only file system");
    }

    fn etc_files(d, c) {
        let name = unique_name("etc");
        let id = d.run_detached(c, &["--name", &name, "busybox", "sleep", "300"]);
        let short = &id[..12];
        assert_eq!(d.run(c, &["exec", &name, "cat", "/etc/hostname"]).success().out(), short);
        assert_eq!(d.run(c, &["exec", &name, "hostname"]).success().out(), short);
        d.run(c, &["exec", &name, "cat", "/etc/hosts"]).success().stdout_has("localhost");
        d.run(c, &["exec", &name, "test", "-f", "/etc/resolv.conf"]).success();
        // They are mounted from the container's directory, not written into the image.
        let mounts = d.run(c, &["exec", &name, "cat", "/proc/self/mountinfo"]);
        for file in ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"] {
            assert!(mounts.stdout.lines().any(|l| l.split(' ').nth(4) == Some(file)), "{file} not mounted: {mounts}");
        }
    }

    fn network_none_has_only_loopback(d, c) {
        assert_eq!(d.run(c, &["run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"]).success().lines(), ["lo"]);
    }
}
