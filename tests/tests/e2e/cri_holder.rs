//! The pod holder berthd starts by itself (no shim, no OCI runtime; docs/cri.md, "Pod
//! sandboxes: the design"): what it runs with, its pod's sysctls, a sysctl its namespaces do not
//! isolate refused with nothing left behind, and its reaping.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::path::Path;
use std::time::Duration;

use berth_tests::cri_config::{parse, CriConfig, Pod, PodsRemovedOnDrop};
use berth_tests::crictl::crictl;
use berth_tests::{wait_until, TestDaemon};
use serde_json::json;

fn status_field(pid: i64, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

fn ns_of(pid: i64, ns: &str) -> String {
    let p = if pid == 0 {
        format!("/proc/self/ns/{ns}")
    } else {
        format!("/proc/{pid}/ns/{ns}")
    };
    std::fs::read_link(p).unwrap().display().to_string()
}

/// Whether a process is gone for good: no /proc entry at all (a zombie still has one).
fn gone(pid: i64) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// A daemon with its CRI endpoint and no CNI configuration: these pods use the host's network.
fn start_without_cni() -> Option<TestDaemon> {
    TestDaemon::start_with(&[
        "--cri-socket",
        "{dir}/cri.sock",
        "--cni-conf-dir",
        "{dir}/no-cni-conf",
    ])
}

#[test]
fn the_holder_runs_without_privileges_files_or_a_shim_and_is_reaped() {
    let Some(d) = start_without_cni() else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let _pods = PodsRemovedOnDrop(&sock);
    // The host's network (no CNI needed), the pod's own IPC and PID namespaces, an IPC sysctl.
    let pod = CriConfig::pod("holder").set(
        "linux",
        json!({
            "security_context": {"namespace_options": {"network": 2, "pid": 1}},
            "sysctls": {"kernel.shm_rmid_forced": "1"}
        }),
    );
    let pod_id = Pod::run(&sock, pod.write(&dir, "pod.json")).id;
    let st = parse(crictl(&sock, &["inspectp", "-o", "json", &pod_id]).success());
    assert_eq!(st["status"]["state"], "SANDBOX_READY", "{st}");
    let holder = st["info"]["pid"].as_i64().unwrap();

    // berth-init --pause, berthd's own child: no berth-shim between them.
    let cmdline = std::fs::read(format!("/proc/{holder}/cmdline")).unwrap();
    assert_eq!(cmdline, b"/pause\0--pause\0");
    let ppid: i32 = status_field(holder, "PPid").parse().unwrap();
    assert_eq!(Some(ppid), d.berthd_pid(), "the holder's parent");

    // No capability in any set, no new privileges.
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(holder, set), "0000000000000000", "{set}");
    }
    assert_eq!(status_field(holder, "NoNewPrivs"), "1");

    // Its root is an empty, read-only directory of its own mount namespace, nothing of the host.
    assert_ne!(ns_of(holder, "mnt"), ns_of(0, "mnt"));
    let root = format!("/proc/{holder}/root");
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "{root} is not empty"
    );
    let err = std::fs::write(format!("{root}/x"), b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(nix::libc::EROFS), "{err}");

    // Its own IPC and PID namespaces (pid 1 there), the host's network and UTS ones.
    assert_ne!(ns_of(holder, "ipc"), ns_of(0, "ipc"));
    assert_ne!(ns_of(holder, "pid"), ns_of(0, "pid"));
    assert_eq!(
        status_field(holder, "NSpid").split_whitespace().last(),
        Some("1")
    );
    assert_eq!(ns_of(holder, "net"), ns_of(0, "net"));
    assert_eq!(ns_of(holder, "uts"), ns_of(0, "uts"));

    // The pod's sysctl holds in its IPC namespace, the host's is untouched.
    let in_pod = std::process::Command::new("nsenter")
        .args([
            &format!("--ipc=/proc/{holder}/ns/ipc"),
            "cat",
            "/proc/sys/kernel/shm_rmid_forced",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&in_pod.stdout).trim(),
        "1",
        "{in_pod:?}"
    );

    // Its cgroup is berth's `/berth/<pod id>` (the pod has no cgroup parent).
    let cgroup = std::fs::read_to_string(format!("/proc/{holder}/cgroup")).unwrap();
    assert!(
        cgroup
            .lines()
            .all(|l| l.ends_with(&format!("/berth/{pod_id}"))),
        "{cgroup}"
    );

    // Stopped: killed and reaped (no zombie left), its cgroup gone.
    crictl(&sock, &["stopp", &pod_id]).success();
    assert!(
        wait_until(Duration::from_secs(5), || gone(holder)),
        "the holder {holder} is still there"
    );
    assert!(berth_tests::leaks::cgroups_of(std::slice::from_ref(&pod_id)).is_empty());
    crictl(&sock, &["rmp", &pod_id]).success();

    // A holder killed behind berthd's back is reaped too, and its pod is NotReady.
    let pod2 = CriConfig::pod("holder2").set(
        "linux",
        json!({"security_context": {"namespace_options": {"network": 2}}}),
    );
    let pod2_id = Pod::run(&sock, pod2.write(&dir, "pod2.json")).id;
    let st = parse(crictl(&sock, &["inspectp", "-o", "json", &pod2_id]).success());
    let holder2 = st["info"]["pid"].as_i64().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(holder2 as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || gone(holder2)),
        "the killed holder {holder2} was not reaped"
    );
    let st = parse(crictl(&sock, &["inspectp", "-o", "json", &pod2_id]).success());
    assert_eq!(st["status"]["state"], "SANDBOX_NOTREADY", "{st}");
    crictl(&sock, &["rmp", &pod2_id]).success();
    assert!(berth_tests::leaks::cgroups_of(std::slice::from_ref(&pod2_id)).is_empty());
    // The removed pods' directories are gone from the answer on, deleted soon after.
    for root in [&d.exec_root, &d.data_root] {
        let pods = root.join("pods");
        assert!(!pods.join(&pod_id).exists() && !pods.join(&pod2_id).exists());
        let empty = || {
            std::fs::read_dir(&pods)
                .map(|r| r.count() == 0)
                .unwrap_or(true)
        };
        assert!(
            wait_until(Duration::from_secs(5), empty),
            "{} keeps {:?}",
            pods.display(),
            std::fs::read_dir(&pods)
                .map(|r| r.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        );
    }
}

/// A sysctl the pod's namespaces do not isolate is refused (libcontainer's check and words),
/// and the refused pod leaves no record, process or cgroup.
#[test]
fn a_host_sysctl_is_refused_and_leaves_nothing() {
    let Some(d) = start_without_cni() else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let _pods = PodsRemovedOnDrop(&sock);
    for (key, message) in [
        (
            "vm.swappiness",
            "sysctl vm.swappiness is not in a separate kernel namespace",
        ),
        (
            "net.ipv4.ip_forward",
            "sysctl net.ipv4.ip_forward not allowed in host network namespace",
        ),
    ] {
        let pod = CriConfig::pod("refused").set(
            "linux",
            json!({
                "security_context": {"namespace_options": {"network": 2}},
                "sysctls": {key: "1"}
            }),
        );
        let out = crictl(
            &sock,
            &["runp", pod.write(&dir, "pod.json").to_str().unwrap()],
        );
        assert_ne!(out.code, 0);
        assert!(out.stderr.contains(message), "{}", out.stderr);
    }
    assert!(crictl(&sock, &["pods", "-q"]).success().out().is_empty());
    // Nothing of the refused pods under the exec root (their directories are made first).
    let pods: Vec<_> = std::fs::read_dir(d.exec_root.join("pods"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(pods.is_empty(), "{pods:?}");
    let left = berth_tests::leaks::daemon_processes(&dir, &[], d.berthd_pid());
    assert!(left.is_empty(), "{left:?}");
}
