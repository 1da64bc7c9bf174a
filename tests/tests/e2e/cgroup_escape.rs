//! A root process inside a non-privileged container cannot lift its own cgroup limits: the
//! cgroup filesystem is read-only and shows only the container's own cgroups, with the embedded
//! runtime and with `--runtime runc` alike. Writes fail, the host's cgroup files keep their
//! values, allocations past the memory limit are still OOM-killed and forks past the pids limit
//! still fail. `/proc/self/cgroup` reads as under dockerd; `--cgroupns` is honoured; privileged
//! containers keep a writable cgroupfs.

use std::path::{Path, PathBuf};

use berth_tests::host::cgroup_v2;
use berth_tests::{unique_name, Client, TestDaemon};

/// The host path of `file` in the cgroup of `pid` that holds `controller` (v1: the
/// controller's hierarchy; v2: the one unified cgroup).
fn host_cgroup_file(pid: &str, controller: &str, file: &str) -> PathBuf {
    let table = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/cgroup: {e}"));
    for line in table.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let rel = path.trim_start_matches('/');
        if cgroup_v2() && controllers.is_empty() {
            return Path::new("/sys/fs/cgroup").join(rel).join(file);
        }
        if !cgroup_v2() && controllers.split(',').any(|c| c == controller) {
            let dir = controller.strip_prefix("name=").unwrap_or(controller);
            return Path::new("/sys/fs/cgroup").join(dir).join(rel).join(file);
        }
    }
    panic!("no {controller} cgroup for {pid} in:\n{table}");
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The files a container would write to lift each limit, inside the container, and the value
/// that would lift it.
struct Limits {
    memory: (&'static str, &'static str),
    pids: (&'static str, &'static str),
    cpu: (&'static str, &'static str),
}

fn limits() -> Limits {
    if cgroup_v2() {
        Limits {
            memory: ("memory.max", "max"),
            pids: ("pids.max", "max"),
            cpu: ("cpu.max", "max 100000"),
        }
    } else {
        Limits {
            memory: ("memory/memory.limit_in_bytes", "1073741824"),
            pids: ("pids/pids.max", "max"),
            cpu: ("cpu/cpu.cfs_quota_us", "-1"),
        }
    }
}

/// `runtime` (`None`: the daemon's default) with `cpu_flags` (`--cpus 0.5` or the equivalent
/// `--cpu-quota`): every write that would lift a limit, or that could reach the host through
/// the cgroup filesystem, fails, and the host's files keep their values.
fn limits_cannot_be_raised(d: &TestDaemon, c: Client, runtime: Option<&str>, cpu_flags: &[&str]) {
    let name = unique_name("cgro");
    let mut args = vec!["run", "-d", "--name", name.as_str()];
    if let Some(r) = runtime {
        args.extend(["--runtime", r]);
    }
    args.extend(["-m", "64m", "--pids-limit", "20"]);
    args.extend_from_slice(cpu_flags);
    args.extend(["busybox", "sleep", "600"]);
    d.run(c, &args).success();
    let pid = d.inspect(c, &name, "{{.State.Pid}}");
    let l = limits();
    let memory_file = host_cgroup_file(&pid, "memory", l.memory.0.rsplit('/').next().unwrap_or(""));
    let pids_file = host_cgroup_file(&pid, "pids", l.pids.0.rsplit('/').next().unwrap_or(""));
    let cpu_file = host_cgroup_file(&pid, "cpu", l.cpu.0.rsplit('/').next().unwrap_or(""));
    let before = [
        read_trimmed(&memory_file),
        read_trimmed(&pids_file),
        read_trimmed(&cpu_file),
    ];
    assert_eq!(before[0], (64 * 1024 * 1024).to_string());
    assert_eq!(before[1], "20");
    assert_eq!(
        before[2],
        if cgroup_v2() { "50000 100000" } else { "50000" }
    );

    let escape = unique_name("escape");
    let mut attempts: Vec<String> = [l.memory, l.pids, l.cpu]
        .iter()
        .map(|(file, value)| format!("echo {value} > /sys/fs/cgroup/{file}"))
        .collect();
    if cgroup_v2() {
        attempts.push(format!("mkdir /sys/fs/cgroup/{escape}"));
        attempts.push("echo +pids > /sys/fs/cgroup/cgroup.subtree_control".into());
    } else {
        for controller in ["memory", "pids", "cpu", "systemd"] {
            attempts.push(format!("mkdir /sys/fs/cgroup/{controller}/{escape}"));
            attempts.push(format!(
                "echo 1 > /sys/fs/cgroup/{controller}/notify_on_release"
            ));
            // Opened for writing, nothing written: a runtime that exposed a hierarchy's root
            // could otherwise have the host's agent replaced by this very test.
            attempts.push(format!(": >> /sys/fs/cgroup/{controller}/release_agent"));
        }
        // The tmpfs holding the hierarchies: the embedded runtime makes it read-only as the
        // spec asks; runc leaves it writable (it is the container's own, nothing reaches the
        // host through it).
        // (dockerd's default runtime is runc: this holds only for berth's embedded one.)
        let embedded = runtime.is_none() && std::env::var_os("BERTH_TEST_DAEMON").is_none();
        if embedded {
            attempts.push(format!("mkdir /sys/fs/cgroup/{escape}"));
        }
    }
    for attempt in &attempts {
        let out = d.run(c, &["exec", &name, "sh", "-c", attempt]);
        assert_ne!(out.code, 0, "{attempt} succeeded: {out}");
        assert!(
            out.stderr.contains("Read-only file system"),
            "{attempt}: {out}"
        );
    }
    let after = [
        read_trimmed(&memory_file),
        read_trimmed(&pids_file),
        read_trimmed(&cpu_file),
    ];
    assert_eq!(before, after, "the host's cgroup files changed");
    // Nothing appeared on the host: not under the container's cgroups, not at any root.
    let roots: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    for root in roots.iter().chain([PathBuf::from("/sys/fs/cgroup")].iter()) {
        assert!(
            !root.join(&escape).exists(),
            "{} appeared",
            root.join(&escape).display()
        );
    }
    for file in [&memory_file, &pids_file, &cpu_file] {
        let dir = file.parent().unwrap_or(Path::new("/"));
        assert!(
            !dir.join(&escape).exists(),
            "{} appeared",
            dir.join(&escape).display()
        );
    }
    if !cgroup_v2() {
        let systemd = host_cgroup_file(&pid, "name=systemd", "");
        assert!(!systemd.join(&escape).exists());
    }
    d.run(c, &["rm", "-f", &name]).success();
}

/// Past the memory limit, after trying to raise it, the allocation is still OOM-killed; past
/// the pids limit, after trying to lift it, forks still fail.
fn limits_hold_against_a_root_process(d: &TestDaemon, c: Client, runtime: Option<&str>) {
    let l = limits();
    let mut base = vec!["run"];
    if let Some(r) = runtime {
        base.extend(["--runtime", r]);
    }

    let name = unique_name("oom");
    let script = format!(
        "echo {} > /sys/fs/cgroup/{}; x=$(head -c 150000000 /dev/zero | tr '\\0' a); echo survived ${{#x}}",
        l.memory.1, l.memory.0
    );
    let mut args = base.clone();
    args.extend([
        "--name",
        name.as_str(),
        "-m",
        "64m",
        "--memory-swap",
        "64m",
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    let out = d.run(c, &args);
    out.code_is(137);
    assert!(!out.stdout.contains("survived"), "{out}");
    assert_eq!(d.inspect(c, &name, "{{.State.OOMKilled}}"), "true");
    d.run(c, &["rm", &name]).success();

    // The inner shell forks sleeps until the limit stops it; the outer one then reads the
    // counter with builtins only, since it cannot fork either, and kills everything.
    let script = format!(
        "echo {} > /sys/fs/cgroup/{}; sh -c 'while :; do sleep 5 & done'; echo bomb $?; \
         read n < /sys/fs/cgroup/pids/pids.current || read n < /sys/fs/cgroup/pids.current; echo $n; kill -9 -1",
        l.pids.1, l.pids.0
    );
    let mut args = base.clone();
    args.extend(["--rm", "--pids-limit", "20", "busybox", "sh", "-c", &script]);
    let out = d.run(c, &args);
    out.success().stderr_has("can't fork");
    let lines = out.lines();
    assert_eq!(lines.first().copied(), Some("bomb 2"), "{out}");
    let current: u32 = lines
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX);
    assert!(current <= 20, "pids.current {current}: {out}");
}

/// `/proc/self/cgroup` inside is what the host says of the container's init (the host's
/// cgroup namespace on v1 and hybrid, dockerd's default there), and every hierarchy, named
/// ones included, is the container's own; with `--cgroupns private` every path is `/`.
fn proc_self_cgroup_as_dockerd(d: &TestDaemon, c: Client, runtime: Option<&str>) {
    let name = unique_name("pcg");
    let mut args = vec!["run", "-d", "--name", name.as_str()];
    if let Some(r) = runtime {
        args.extend(["--runtime", r]);
    }
    args.extend(["busybox", "sleep", "600"]);
    d.run(c, &args).success();
    let id = d.inspect(c, &name, "{{.Id}}");
    let pid = d.inspect(c, &name, "{{.State.Pid}}");
    let inside = d.run(c, &["exec", &name, "cat", "/proc/self/cgroup"]);
    inside.success();
    let mode = d.inspect(c, &name, "{{.HostConfig.CgroupnsMode}}");
    if cgroup_v2() {
        assert_eq!(mode, "private");
        assert_eq!(inside.out(), "0::/");
    } else {
        assert_eq!(mode, "host");
        let host = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        assert_eq!(inside.out(), host.trim_end(), "inside and on the host");
        for line in inside.lines() {
            assert!(
                line.ends_with(&format!("/{id}")),
                "not the container's own: {line}"
            );
        }
        assert!(inside.stdout.contains(":name=systemd:"), "{inside}");
    }
    d.run(c, &["rm", "-f", &name]).success();

    let mut args = vec!["run", "--rm", "--cgroupns", "private"];
    if let Some(r) = runtime {
        args.extend(["--runtime", r]);
    }
    args.extend(["busybox", "cat", "/proc/self/cgroup"]);
    let out = d.run(c, &args);
    out.success();
    for line in out.lines() {
        assert!(
            line.ends_with(":/"),
            "not the namespace's root: {line} in {out}"
        );
    }
}

/// `--privileged` keeps a writable cgroupfs, as under dockerd: a sub-cgroup can be made.
fn privileged_can_write(d: &TestDaemon, c: Client, runtime: Option<&str>) {
    let sub = unique_name("sub");
    let dir = if cgroup_v2() {
        String::new()
    } else {
        "pids/".into()
    };
    let script = format!(
        "mkdir /sys/fs/cgroup/{dir}{sub} && rmdir /sys/fs/cgroup/{dir}{sub} && echo writable"
    );
    let mut args = vec!["run", "--rm", "--privileged"];
    if let Some(r) = runtime {
        args.extend(["--runtime", r]);
    }
    args.extend(["busybox", "sh", "-c", &script]);
    let out = d.run(c, &args);
    out.success();
    assert_eq!(out.out(), "writable", "{out}");
}

both_clients! {
    fn embedded_limits_cannot_be_raised(d, c) {
        limits_cannot_be_raised(d, c, None, &["--cpus", "0.5"]);
        limits_hold_against_a_root_process(d, c, None);
    }

    fn embedded_proc_self_cgroup_and_privileged(d, c) {
        proc_self_cgroup_as_dockerd(d, c, None);
        privileged_can_write(d, c, None);
    }

    fn runc_limits_cannot_be_raised(d, c) {
        if berth_tests::preflight::require_runc().is_none() {
            return;
        }
        limits_cannot_be_raised(d, c, Some("runc"), &["--cpu-quota", "50000", "--cpu-period", "100000"]);
        limits_hold_against_a_root_process(d, c, Some("runc"));
    }

    fn runc_proc_self_cgroup_and_privileged(d, c) {
        if berth_tests::preflight::require_runc().is_none() {
            return;
        }
        proc_self_cgroup_as_dockerd(d, c, Some("runc"));
        privileged_can_write(d, c, Some("runc"));
    }

    fn cgroupns_mode_is_checked_and_recorded(d, c) {
        d.run(c, &["create", "--cgroupns", "foo", "busybox"]).code_is(125).stderr_has("--cgroupns: invalid CGROUP mode");
        for (flag, want) in [("host", "host"), ("private", "private")] {
            let name = unique_name("cgns");
            d.run(c, &["create", "--name", &name, "--cgroupns", flag, "busybox"]).success();
            assert_eq!(d.inspect(c, &name, "{{.HostConfig.CgroupnsMode}}"), want);
            d.run(c, &["rm", &name]).success();
        }
        let name = unique_name("cgns");
        d.run(c, &["create", "--name", &name, "--privileged", "busybox"]).success();
        let want = if cgroup_v2() { "private" } else { "host" };
        assert_eq!(d.inspect(c, &name, "{{.HostConfig.CgroupnsMode}}"), want);
        d.run(c, &["rm", &name]).success();
    }
}

/// A raw API client gets dockerd's message for an unknown mode.
#[test]
fn unknown_cgroupns_mode_is_refused_with_dockerd_s_message() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    let body = br#"{"Image":"busybox","HostConfig":{"CgroupnsMode":"foo"}}"#;
    let r = d.api(
        "POST",
        "/v1.41/containers/create",
        Some("application/json"),
        body,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json()
            .and_then(|v| v["message"].as_str().map(str::to_string)),
        Some("invalid cgroup namespace mode: foo".to_string())
    );
}
