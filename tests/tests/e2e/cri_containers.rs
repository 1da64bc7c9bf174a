//! Containers of pod sandboxes through berthd's CRI endpoint, driven by `crictl` with JSON
//! configs as critest writes them: mount propagation back to the host (`rshared`) and the
//! security context's checks. The pods use the host's network, so no CNI is needed.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use berth_tests::cri_config::{write_json, CriConfig, Pod, PodsRemovedOnDrop};
use berth_tests::crictl::crictl;
use berth_tests::TestDaemon;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use serde_json::{json, Value};

/// Unmounts (lazily, innermost first) what a test mounted on the host.
struct HostMounts(Vec<PathBuf>);

impl Drop for HostMounts {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            let _ = umount2(p, MntFlags::MNT_DETACH);
        }
    }
}

/// A host-network pod (no CNI needed), its config in `dir/<name>.json`.
fn host_net_pod(sock: &Path, dir: &Path, name: &str) -> Pod {
    let config = CriConfig::pod(name)
        .hostname(&format!("{name}-host"))
        .log_directory(&dir.join("logs"))
        .host_network()
        .write(dir, &format!("{name}.json"));
    Pod::run(sock, config)
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
    let _pods = PodsRemovedOnDrop(&sock);
    let pod = host_net_pod(&sock, &dir, "propagation");

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
        let ctr = CriConfig::container(name, &["sleep", "1000"])
            .security_context(json!({"privileged": true}))
            .set(
                "mounts",
                json!([{"host_path": host, "container_path": host, "propagation": propagation}]),
            )
            .write(&dir, &format!("{name}-ctr.json"));
        let cid = pod.create_ok(&ctr);
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
    crictl(&sock, &["rmp", "-f", &pod.id]).success();
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
    let _pods = PodsRemovedOnDrop(&sock);
    let pod = host_net_pod(&sock, &dir, "groups");

    let alone = CriConfig::container("alone", &["id"])
        .security_context(json!({"run_as_group": {"value": 3000}}))
        .write(&dir, "alone.json");
    let out = pod.create(&alone);
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

    let both = CriConfig::container("both", &["sh", "-c", "id -u; id -g"])
        .log_path("both.log")
        .security_context(json!({"run_as_user": {"value": 2000}, "run_as_group": {"value": 3000}}))
        .write(&dir, "both.json");
    let cid = pod.create_ok(&both);
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
    crictl(&sock, &["rmp", "-f", &pod.id]).success();
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
    let _pods = PodsRemovedOnDrop(&sock);
    let pod = host_net_pod(&sock, &dir, "orphan");
    let ctr = CriConfig::container("c", &["sleep", "1000"]).write(&dir, "ctr.json");
    let cid = pod.create_ok(&ctr);
    let st: Value = serde_json::from_str(
        &crictl(&sock, &["inspectp", "-o", "json", &pod.id])
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
        out.stderr.contains(&format!(
            "sandbox container \\\"{}\\\" is not running",
            pod.id
        )) || out
            .stderr
            .contains(&format!("sandbox container \"{}\" is not running", pod.id)),
        "{out:?}"
    );
    assert!(!out.stderr.contains("ENOENT"), "{out:?}");
    crictl(&sock, &["rmp", "-f", &pod.id]).success();
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
    let _pods = PodsRemovedOnDrop(&sock);
    let pod = host_net_pod(&sock, &dir, "seccomp");
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
        let ctr = CriConfig::container(name, &["sleep", "1000"])
            .security_context(json!({"seccomp": seccomp}))
            .write(&dir, &format!("{name}.json"));
        let cid = pod.create_ok(&ctr);
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
    crictl(&sock, &["rmp", "-f", &pod.id]).success();
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
    let _pods = PodsRemovedOnDrop(&sock);
    let pod = host_net_pod(&sock, &dir, "imagevol");
    let ctr = CriConfig::container("c", &["true"])
        .set(
            "mounts",
            json!([{"container_path": "/mnt/image", "image": {"image": "busybox"}, "readonly": true}]),
        )
        .write(&dir, "ctr.json");
    let out = pod.create(&ctr);
    out.code_is(1);
    assert!(out.stderr.contains("code = Unimplemented"), "{out:?}");
    assert!(out.stderr.contains("image volumes"), "{out:?}");
    assert_eq!(crictl(&sock, &["ps", "-a", "-q"]).success().out(), "");
    crictl(&sock, &["rmp", "-f", &pod.id]).success();
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
    let _pods = PodsRemovedOnDrop(&sock);
    let info: Value =
        serde_json::from_str(&crictl(&sock, &["info", "-o", "json"]).success().stdout).unwrap();
    assert_eq!(
        info["runtimeHandlers"][0]["features"]["recursive_read_only_mounts"], true,
        "{info}"
    );
    let pod = host_net_pod(&sock, &dir, "rro");
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
        let ctr = CriConfig::container(name, &["sleep", "1000"])
            .set(
                "mounts",
                json!([{"host_path": host, "container_path": "/mnt", "readonly": true,
                        "recursive_read_only": rro}]),
            )
            .write(&dir, &format!("{name}.json"));
        let cid = pod.create_ok(&ctr);
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
        let ctr = CriConfig::container(name, &["true"])
            .set(
                "mounts",
                json!([{"host_path": host, "container_path": "/mnt", "readonly": readonly,
                        "recursive_read_only": true, "propagation": propagation}]),
            )
            .write(&dir, &format!("bad-{name}.json"));
        let out = pod.create(&ctr);
        out.code_is(1);
        assert!(out.stderr.contains(want), "{name}: {out:?}");
    }
    crictl(&sock, &["rmp", "-f", &pod.id]).success();
}
