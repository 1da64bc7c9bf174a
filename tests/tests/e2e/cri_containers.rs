//! Containers of pod sandboxes through berthd's CRI endpoint, driven by `crictl` with JSON
//! configs as critest writes them: mount propagation back to the host (`rshared`) and the
//! security context's checks. The pods use the host's network, so no CNI is needed.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use berth_tests::crictl::crictl;
use berth_tests::TestDaemon;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use serde_json::{json, Value};

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

/// Removes every pod left (a failed test's) before the daemon goes.
struct Pods<'a>(&'a Path);

impl Drop for Pods<'_> {
    fn drop(&mut self) {
        let out = crictl(self.0, &["pods", "-q"]);
        for id in out.stdout.lines().filter(|l| !l.is_empty()) {
            let _ = crictl(self.0, &["rmp", "-f", id]);
        }
    }
}

/// Unmounts (lazily, innermost first) what a test mounted on the host.
struct HostMounts(Vec<PathBuf>);

impl Drop for HostMounts {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = umount2(p, MntFlags::MNT_DETACH);
        }
    }
}

/// A host-network pod (no CNI needed); its id and config file.
fn host_net_pod(sock: &Path, dir: &Path, name: &str) -> (String, PathBuf) {
    let pod = json!({
        "metadata": {"name": name, "uid": format!("uid-{name}"), "namespace": "e2e", "attempt": 1},
        "hostname": format!("{name}-host"),
        "log_directory": dir.join("logs"),
        "linux": {"security_context": {"namespace_options": {"network": 2}}}
    });
    let pod_json = write_json(dir, &format!("{name}.json"), &pod);
    let id = crictl(sock, &["runp", pod_json.to_str().unwrap()])
        .success()
        .out()
        .to_string();
    (id, pod_json)
}

fn create(sock: &Path, pod: &str, pod_json: &Path, ctr_json: &Path) -> berth_tests::Out {
    crictl(
        sock,
        &[
            "create",
            pod,
            ctr_json.to_str().unwrap(),
            pod_json.to_str().unwrap(),
        ],
    )
}

/// A mount made inside a container under an `rshared` host path reaches the host (the
/// container's root is made shared, as dockerd does); under an `rprivate` one it does not.
#[test]
fn rshared_mount_made_in_the_container_reaches_the_host() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let _pods = Pods(&sock);
    let (pod, pod_json) = host_net_pod(&sock, &dir, "propagation");

    // As critest does: the host path is a shared bind mount of its own.
    let shared = dir.join("shared");
    let private = dir.join("private");
    let mut host_mounts = HostMounts(Vec::new());
    for (p, flag) in [
        (&shared, MsFlags::MS_SHARED),
        (&private, MsFlags::MS_PRIVATE),
    ] {
        std::fs::create_dir_all(p.join("inner")).unwrap();
        mount(
            Some(p.as_path()),
            p.as_path(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .unwrap();
        host_mounts.0.push(p.clone());
        mount(
            None::<&str>,
            p.as_path(),
            None::<&str>,
            flag | MsFlags::MS_REC,
            None::<&str>,
        )
        .unwrap();
    }
    host_mounts.0.push(shared.join("inner"));
    host_mounts.0.push(private.join("inner"));

    for (name, host, propagation, reaches) in [
        ("bidirectional", &shared, 2, true),
        ("private", &private, 0, false),
    ] {
        let ctr = json!({
            "metadata": {"name": name},
            "image": {"image": "busybox"},
            "command": ["sleep", "1000"],
            "linux": {"security_context": {"privileged": true}},
            "mounts": [{"host_path": host, "container_path": host, "propagation": propagation}]
        });
        let ctr_json = write_json(&dir, &format!("{name}-ctr.json"), &ctr);
        let cid = create(&sock, &pod, &pod_json, &ctr_json)
            .success()
            .out()
            .to_string();
        crictl(&sock, &["start", &cid]).success();
        let inner = host.join("inner");
        let target = inner.to_str().unwrap();
        crictl(&sock, &["exec", &cid, "mount", "--bind", "/etc", target]).success();
        // Inside, /etc is there either way.
        let inside = crictl(&sock, &["exec", &cid, "ls", "-A", target]);
        assert!(inside.success().out().contains("hostname"), "{inside:?}");
        let on_host: Vec<_> = std::fs::read_dir(&inner).unwrap().collect();
        assert_eq!(
            !on_host.is_empty(),
            reaches,
            "{name}: the host sees {} entries in {}",
            on_host.len(),
            inner.display()
        );
        crictl(&sock, &["rm", "-f", &cid]).success();
    }
    crictl(&sock, &["rmp", "-f", &pod]).success();
}

/// A group without a user is refused at CreateContainer, in containerd's words; with a user
/// it is what the process runs as.
#[test]
fn run_as_group_needs_a_user() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let _pods = Pods(&sock);
    let (pod, pod_json) = host_net_pod(&sock, &dir, "groups");

    let alone = write_json(
        &dir,
        "alone.json",
        &json!({
            "metadata": {"name": "alone"}, "image": {"image": "busybox"}, "command": ["id"],
            "linux": {"security_context": {"run_as_group": {"value": 3000}}}
        }),
    );
    let out = create(&sock, &pod, &pod_json, &alone);
    out.code_is(1);
    assert!(
        out.stderr
            .contains("user group \\\"3000\\\" is specified without user")
            || out
                .stderr
                .contains("user group \"3000\" is specified without user"),
        "{out:?}"
    );
    assert_eq!(crictl(&sock, &["ps", "-a", "-q"]).success().out(), "");

    let both = write_json(
        &dir,
        "both.json",
        &json!({
            "metadata": {"name": "both"}, "image": {"image": "busybox"},
            "command": ["sh", "-c", "id -u; id -g"],
            "log_path": "both.log",
            "linux": {"security_context": {"run_as_user": {"value": 2000}, "run_as_group": {"value": 3000}}}
        }),
    );
    let cid = create(&sock, &pod, &pod_json, &both)
        .success()
        .out()
        .to_string();
    crictl(&sock, &["start", &cid]).success();
    let log = dir.join("logs/both.log");
    assert!(
        berth_tests::wait_until(std::time::Duration::from_secs(10), || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.lines().count() >= 2)
        }),
        "no output in {}",
        log.display()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(" stdout F 2000\n"), "{text}");
    assert!(text.contains(" stdout F 3000\n"), "{text}");
    crictl(&sock, &["rmp", "-f", &pod]).success();
}

/// A pod whose holder has died has no namespaces left: StartContainer says the sandbox is not
/// running rather than failing in the runtime with a bare ENOENT.
#[test]
fn start_in_a_pod_whose_holder_died_names_the_sandbox() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let _pods = Pods(&sock);
    let (pod, pod_json) = host_net_pod(&sock, &dir, "orphan");
    let ctr = write_json(
        &dir,
        "ctr.json",
        &json!({"metadata": {"name": "c"}, "image": {"image": "busybox"}, "command": ["sleep", "1000"]}),
    );
    let cid = create(&sock, &pod, &pod_json, &ctr)
        .success()
        .out()
        .to_string();
    let st: Value = serde_json::from_str(
        &crictl(&sock, &["inspectp", "-o", "json", &pod])
            .success()
            .stdout,
    )
    .unwrap();
    let holder = st["info"]["pid"].as_i64().unwrap();
    assert!(holder > 0, "{st}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(holder).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        berth_tests::wait_until(std::time::Duration::from_secs(10), || !Path::new(&format!(
            "/proc/{holder}/ns"
        ))
        .exists()),
        "the holder {holder} did not go"
    );
    let out = crictl(&sock, &["start", &cid]);
    out.code_is(1);
    assert!(
        out.stderr
            .contains(&format!("sandbox container \\\"{pod}\\\" is not running"))
            || out
                .stderr
                .contains(&format!("sandbox container \"{pod}\" is not running")),
        "{out:?}"
    );
    assert!(!out.stderr.contains("ENOENT"), "{out:?}");
    crictl(&sock, &["rmp", "-f", &pod]).success();
}

/// A process exec'd in a container runs under the container's seccomp profile (as with runc):
/// the default profile shows in /proc/self/status, a localhost profile's denial holds, and an
/// unconfined container's exec stays unconfined.
#[test]
fn exec_runs_under_the_containers_seccomp_profile() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let _pods = Pods(&sock);
    let (pod, pod_json) = host_net_pod(&sock, &dir, "seccomp");
    // critest's block-chmod profile.
    let profile = write_json(
        &dir,
        "block-chmod.json",
        &json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["chmod", "fchmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO"}]
        }),
    );
    for (name, seccomp, mode) in [
        ("default", json!({"profile_type": 0}), "2"),
        ("unconfined", json!({"profile_type": 1}), "0"),
        (
            "localhost",
            json!({"profile_type": 2, "localhost_ref": profile}),
            "2",
        ),
    ] {
        let ctr = write_json(
            &dir,
            &format!("{name}.json"),
            &json!({
                "metadata": {"name": name}, "image": {"image": "busybox"},
                "command": ["sleep", "1000"],
                "linux": {"security_context": {"seccomp": seccomp}}
            }),
        );
        let cid = create(&sock, &pod, &pod_json, &ctr)
            .success()
            .out()
            .to_string();
        crictl(&sock, &["start", &cid]).success();
        let status = crictl(
            &sock,
            &["exec", &cid, "grep", "^Seccomp:", "/proc/self/status"],
        );
        assert_eq!(
            status.success().out(),
            format!("Seccomp:\t{mode}"),
            "{name}: {status:?}"
        );
        let chmod = crictl(&sock, &["exec", &cid, "chmod", "400", "/tmp"]);
        if name == "localhost" {
            chmod.code_is(1);
            assert!(
                chmod.stderr.contains("Operation not permitted"),
                "{chmod:?}"
            );
        } else {
            chmod.success();
        }
        crictl(&sock, &["rm", "-f", &cid]).success();
    }
    crictl(&sock, &["rmp", "-f", &pod]).success();
}

/// A mount of an image (an image volume) is refused as unimplemented, not taken for a bind of
/// an empty host path.
#[test]
fn image_volume_mount_is_unimplemented() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let _pods = Pods(&sock);
    let (pod, pod_json) = host_net_pod(&sock, &dir, "imagevol");
    let ctr = write_json(
        &dir,
        "ctr.json",
        &json!({
            "metadata": {"name": "c"}, "image": {"image": "busybox"}, "command": ["true"],
            "mounts": [{"container_path": "/mnt/image", "image": {"image": "busybox"}, "readonly": true}]
        }),
    );
    let out = create(&sock, &pod, &pod_json, &ctr);
    out.code_is(1);
    assert!(out.stderr.contains("code = Unimplemented"), "{out:?}");
    assert!(out.stderr.contains("image volumes"), "{out:?}");
    assert_eq!(crictl(&sock, &["ps", "-a", "-q"]).success().out(), "");
    crictl(&sock, &["rmp", "-f", &pod]).success();
}

/// The same through the Docker API: `docker exec` runs under the container's seccomp profile
/// (dockerd/runc show `Seccomp: 2` in an exec of a default container), and an unconfined
/// container's exec stays unconfined.
#[test]
fn docker_exec_runs_under_the_containers_seccomp_profile() {
    let Some(d) = TestDaemon::start() else {
        return;
    };
    for (name, opts, mode) in [
        ("sc-default", &[][..], "2"),
        (
            "sc-unconfined",
            &["--security-opt", "seccomp=unconfined"][..],
            "0",
        ),
    ] {
        let mut args = vec!["run", "-d", "--network", "none", "--name", name];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["busybox", "sleep", "300"]);
        d.docker(&args).success();
        let out = d.docker(&["exec", name, "grep", "^Seccomp:", "/proc/self/status"]);
        assert_eq!(out.success().out(), format!("Seccomp:\t{mode}"), "{name}");
        d.docker(&["rm", "-f", name]).success();
    }
}

/// `recursive_read_only` makes a read-only bind's submounts read-only too (a plain read-only
/// bind leaves a tmpfs under it writable); it needs `readonly` and private propagation, and
/// the runtime announces the feature.
#[test]
fn recursive_read_only_mounts() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let _pods = Pods(&sock);
    let info: Value =
        serde_json::from_str(&crictl(&sock, &["info", "-o", "json"]).success().stdout).unwrap();
    assert_eq!(
        info["runtimeHandlers"][0]["features"]["recursive_read_only_mounts"], true,
        "{info}"
    );
    let (pod, pod_json) = host_net_pod(&sock, &dir, "rro");
    // As critest does: a host path with a tmpfs mounted inside it.
    let host = dir.join("rro-host");
    std::fs::create_dir_all(host.join("tmpfs")).unwrap();
    mount(
        Some("tmpfs"),
        host.join("tmpfs").as_path(),
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let _host_mounts = HostMounts(vec![host.join("tmpfs")]);

    for (name, rro, writable) in [("plain-ro", false, true), ("recursive-ro", true, false)] {
        let ctr = write_json(
            &dir,
            &format!("{name}.json"),
            &json!({
                "metadata": {"name": name}, "image": {"image": "busybox"},
                "command": ["sleep", "1000"],
                "mounts": [{"host_path": host, "container_path": "/mnt", "readonly": true,
                            "recursive_read_only": rro}]
            }),
        );
        let cid = create(&sock, &pod, &pod_json, &ctr)
            .success()
            .out()
            .to_string();
        crictl(&sock, &["start", &cid]).success();
        // The bind itself is read-only either way.
        let top = crictl(&sock, &["exec", &cid, "touch", "/mnt/top"]);
        top.code_is(1);
        assert!(top.stderr.contains("Read-only file system"), "{top:?}");
        let sub = crictl(&sock, &["exec", &cid, "touch", "/mnt/tmpfs/file"]);
        if writable {
            sub.success();
        } else {
            sub.code_is(1);
            assert!(sub.stderr.contains("Read-only file system"), "{sub:?}");
        }
        crictl(&sock, &["rm", "-f", &cid]).success();
    }

    // The rejections, in containerd's words.
    for (name, readonly, propagation, want) in [
        ("rw", false, 0, "must be read-only"),
        ("slave", true, 1, "requires private propagation"),
        ("shared", true, 2, "requires private propagation"),
    ] {
        let ctr = write_json(
            &dir,
            &format!("bad-{name}.json"),
            &json!({
                "metadata": {"name": name}, "image": {"image": "busybox"}, "command": ["true"],
                "mounts": [{"host_path": host, "container_path": "/mnt", "readonly": readonly,
                            "recursive_read_only": true, "propagation": propagation}]
            }),
        );
        let out = create(&sock, &pod, &pod_json, &ctr);
        out.code_is(1);
        assert!(out.stderr.contains(want), "{name}: {out:?}");
    }
    crictl(&sock, &["rmp", "-f", &pod]).success();
}
