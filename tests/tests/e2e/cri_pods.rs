//! Pod sandboxes and their containers through berthd's CRI endpoint, driven by `crictl`
//! (runp/stopp/rmp/inspectp/pods, create/start/stop/rm/ps/inspect/logs) with JSON configs as
//! critest writes them. Networking is CNI with Debian's `containernetworking-plugins`
//! (bridge, host-local, portmap, loopback) on a bridge and a /24 of the test's own; the host
//! reaches pods only at those addresses and at 127.0.0.1.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_tests::cri_config::{parse, CriConfig, Pod, PodsRemovedOnDrop};
use berth_tests::cri_grpc::grpc;
use berth_tests::crictl::crictl;
use berth_tests::netslot::NetSlot;
use berth_tests::{wait_until, TestDaemon};
use serde_json::{json, Value};

/// Where Debian installs the CNI plugins.
const CNI_BIN: &str = "/usr/lib/cni";

/// The pod network of one test: a bridge, a /24 inside the daemon's own test slot, and a host
/// port no other slot uses.
struct PodNet {
    bridge: String,
    prefix: String,
    host_port: u16,
}

impl PodNet {
    fn of(d: &TestDaemon) -> Self {
        let n = d.net.as_ref().map(|s| s.n).expect("a network slot");
        PodNet {
            bridge: format!("cni-bt{n}"),
            prefix: format!("10.{n}.250"),
            host_port: 30000 + u16::from(n),
        }
    }

    /// Writes the network configuration list into `dir`.
    fn write_conf(&self, dir: &Path, ipam_dir: &Path) {
        assert!(
            Path::new(CNI_BIN).join("bridge").is_file(),
            "the CNI plugins are missing from {CNI_BIN}: run scripts/install-deps (containernetworking-plugins)"
        );
        std::fs::create_dir_all(dir).unwrap();
        let conf = json!({
            "cniVersion": "0.4.0",
            "name": "berth-e2e",
            "plugins": [
                {
                    "type": "bridge", "bridge": self.bridge, "isGateway": true, "ipMasq": true,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": format!("{}.0/24", self.prefix)}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": ipam_dir,
                    }
                },
                {"type": "portmap", "capabilities": {"portMappings": true}},
                {"type": "loopback"}
            ]
        });
        std::fs::write(dir.join("10-berth-e2e.conflist"), conf.to_string()).unwrap();
    }
}

impl Drop for PodNet {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

/// GET `path` from `addr` over HTTP/1.0; the body.
fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: pod\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn ns_of(pid: i64, ns: &str) -> String {
    // The test runs in the host's namespaces: pid 0 stands for them.
    let proc = if pid == 0 {
        "self".to_string()
    } else {
        pid.to_string()
    };
    std::fs::read_link(format!("/proc/{proc}/ns/{ns}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| panic!("/proc/{proc}/ns/{ns}: {e}"))
}

/// A pod as this file's tests make theirs: hostname `<name>-host`, labels and an annotation,
/// no Linux options yet.
fn pod_config(name: &str, log_dir: &Path) -> CriConfig {
    CriConfig::pod(name)
        .hostname(&format!("{name}-host"))
        .log_directory(log_dir)
        .labels(&[("app", name), ("suite", "cri-pods")])
        .set("annotations", json!({"note": "made by cri_pods.rs"}))
        .set("linux", json!({}))
}

#[test]
fn pod_network_containers_logs_and_teardown() {
    let Some(d) = TestDaemon::start_with_cni("no-plugins-here") else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let net = PodNet::of(&d);
    net.write_conf(&dir.join("net.d"), &dir.join("ipam"));
    let _pods = PodsRemovedOnDrop(&sock);
    let logs = dir.join("pod-logs");

    let pod = pod_config("web", &logs)
        .set(
            "dns_config",
            json!({"servers": [format!("{}.53", net.prefix)], "searches": ["svc.e2e.local"], "options": ["ndots:5"]}),
        )
        .set(
            "port_mappings",
            json!([{"protocol": 0, "container_port": 8080, "host_port": net.host_port}]),
        )
        .set(
            "linux",
            json!({
                "sysctls": {"net.ipv4.ip_unprivileged_port_start": "1000"},
                "security_context": {"namespace_options": {"network": 0, "pid": 0, "ipc": 0}}
            }),
        );
    let pod = Pod::run(&sock, pod.write(&dir, "pod.json"));
    let pod_id = pod.id.clone();
    assert_eq!(pod_id.len(), 64, "{pod_id}");

    // The sandbox's status: state, IP on the test's subnet, namespaces, metadata, labels.
    let st = parse(crictl(&sock, &["inspectp", "-o", "json", &pod_id]).success());
    let status = &st["status"];
    assert_eq!(status["state"], "SANDBOX_READY", "{st}");
    let ip = status["network"]["ip"].as_str().unwrap().to_string();
    assert!(ip.starts_with(&format!("{}.", net.prefix)), "{st}");
    assert_eq!(status["metadata"]["name"], "web");
    assert_eq!(status["metadata"]["namespace"], "e2e");
    assert_eq!(status["metadata"]["attempt"], 1);
    assert_eq!(status["labels"]["app"], "web");
    assert_eq!(status["annotations"]["note"], "made by cri_pods.rs");
    assert_eq!(
        status["linux"]["namespaces"]["options"]["pid"], "POD",
        "{st}"
    );
    assert_eq!(status["linux"]["namespaces"]["options"]["network"], "POD");
    let holder_pid = st["info"]["pid"].as_i64().unwrap();
    assert!(holder_pid > 0, "{st}");
    assert_eq!(st["info"]["hostname"], "web-host");
    assert_eq!(st["info"]["cniNetwork"], "berth-e2e");
    let netns = PathBuf::from(st["info"]["netNamespacePath"].as_str().unwrap());
    assert!(netns.exists(), "{st}");
    // The holder is berth-init, not a pulled pause image.
    let cmdline = std::fs::read(format!("/proc/{holder_pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"/pause\0--pause\0");
    assert!(crictl(&sock, &["images", "-q"])
        .success()
        .lines()
        .iter()
        .all(|l| !l.contains("pause")));

    // Filters of `crictl pods`.
    assert_eq!(
        crictl(&sock, &["pods", "-q", "--label", "app=web"])
            .success()
            .lines(),
        vec![pod_id.as_str()]
    );
    assert!(crictl(&sock, &["pods", "-q", "--label", "app=db"])
        .success()
        .lines()
        .is_empty());
    assert_eq!(
        crictl(
            &sock,
            &["pods", "-q", "--state", "ready", "--id", &pod_id[..12]]
        )
        .success()
        .lines(),
        vec![pod_id.as_str()]
    );
    assert!(crictl(&sock, &["pods", "-q", "--state", "notready"])
        .success()
        .lines()
        .is_empty());

    // A container serving /etc over HTTP, and writing to stdout and stderr.
    let ctr = CriConfig::container("srv", &["sh", "-c"])
        .set("metadata.attempt", 0)
        .set("args", json!(["echo out-line; echo err-line >&2; echo $GREETING; pwd; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; exec httpd -f -p 8080 -h /etc"]))
        .set("envs", json!([{"key": "GREETING", "value": "hello from the pod"}]))
        .set("working_dir", "/tmp")
        .log_path("srv/0.log")
        .labels(&[("role", "server")])
        .set("annotations", json!({"ctr-note": "x"}))
        .security_context(json!({"namespace_options": {"pid": 0}}));
    let cid = pod.create_ok(&ctr.write(&dir, "srv.json"));
    // The CRI id is the berth container's id.
    assert_eq!(d.inspect(berth_tests::Client::Docker, &cid, "{{.Id}}"), cid);
    let created = parse(crictl(&sock, &["inspect", "-o", "json", &cid]).success());
    assert_eq!(created["status"]["state"], "CONTAINER_CREATED", "{created}");
    crictl(&sock, &["start", &cid]).success();
    let pod_addr = format!("{ip}:8080");
    assert!(
        wait_until(Duration::from_secs(10), || http_get(&pod_addr, "/hostname")
            .is_some()),
        "the pod's server never answered at {pod_addr}\n{}",
        d.log_tail()
    );
    // From the host to the pod's IP: the pod's hostname and DNS configuration.
    assert_eq!(http_get(&pod_addr, "/hostname").unwrap(), "web-host\n");
    let resolv = http_get(&pod_addr, "/resolv.conf").unwrap();
    assert_eq!(
        resolv,
        format!(
            "search svc.e2e.local\nnameserver {}.53\noptions ndots:5\n",
            net.prefix
        )
    );
    // The host port, through portmap, on 127.0.0.1.
    assert_eq!(
        http_get(&format!("127.0.0.1:{}", net.host_port), "/hostname").as_deref(),
        Some("web-host\n")
    );

    // `crictl port-forward` to the pod (PortForward by sandbox id): a local port reaches the
    // server on the pod's loopback.
    let local = 31000 + u16::from(d.net.as_ref().unwrap().n);
    let mut forward = berth_tests::crictl::crictl_command(
        &sock,
        &["port-forward", &pod_id, &format!("{local}:8080")],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let forwarded = wait_until(Duration::from_secs(10), || {
        http_get(&format!("127.0.0.1:{local}"), "/hostname").as_deref() == Some("web-host\n")
    });
    let _ = forward.kill();
    let _ = forward.wait();
    assert!(forwarded, "nothing forwarded from 127.0.0.1:{local}");

    // Pod stats: its container, its processes, its eth0 (which served the requests above).
    let ps = parse(crictl(&sock, &["statsp", "-o", "json", &pod_id]).success());
    let p = &ps["stats"][0];
    assert_eq!(p["attributes"]["id"], pod_id, "{ps}");
    assert_eq!(p["attributes"]["metadata"]["name"], "web", "{ps}");
    let linux = &p["linux"];
    assert_eq!(linux["containers"][0]["attributes"]["id"], cid, "{ps}");
    let number = |v: &Value| -> u64 {
        v.as_str()
            .map(|s| s.parse().unwrap())
            .or(v.as_u64())
            .unwrap_or_else(|| panic!("no number in {v}"))
    };
    assert!(
        number(&linux["process"]["processCount"]["value"]) >= 1,
        "{ps}"
    );
    assert_eq!(linux["network"]["defaultInterface"]["name"], "eth0", "{ps}");
    assert!(
        number(&linux["network"]["defaultInterface"]["rxBytes"]["value"]) > 0,
        "{ps}"
    );

    // ContainerStatus.
    let st = parse(crictl(&sock, &["inspect", "-o", "json", &cid]).success());
    let s = &st["status"];
    assert_eq!(s["state"], "CONTAINER_RUNNING", "{st}");
    assert_eq!(s["metadata"]["name"], "srv");
    assert_eq!(s["labels"]["role"], "server");
    assert_eq!(s["annotations"]["ctr-note"], "x");
    assert_eq!(s["image"]["image"], "busybox");
    assert!(
        s["imageRef"].as_str().unwrap().starts_with("sha256:"),
        "{st}"
    );
    let log_path = logs.join("srv/0.log");
    assert_eq!(s["logPath"], log_path.display().to_string());
    assert_eq!(st["info"]["sandboxID"], pod_id);
    // It shares the holder's network, IPC, UTS and (pid: POD) PID namespaces.
    let ctr_pid = st["info"]["pid"].as_i64().unwrap();
    for ns in ["net", "ipc", "uts", "pid"] {
        assert_eq!(ns_of(ctr_pid, ns), ns_of(holder_pid, ns), "{ns} namespace");
    }
    assert_ne!(ns_of(ctr_pid, "mnt"), ns_of(holder_pid, "mnt"));

    // Logs in the CRI format, read back by crictl.
    let raw = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<&str> = raw.lines().collect();
    assert!(lines.len() >= 4, "{raw}");
    for line in &lines {
        let parts: Vec<&str> = line.splitn(4, ' ').collect();
        assert_eq!(parts.len(), 4, "{line}");
        // RFC 3339 in UTC with nanoseconds: 2026-01-02T03:04:05.123456789Z
        let ts = parts[0].as_bytes();
        assert!(
            ts.len() >= 20
                && ts[4] == b'-'
                && ts[10] == b'T'
                && ts[19] == b'.'
                && parts[0].ends_with('Z'),
            "{line}"
        );
        assert!(matches!(parts[1], "stdout" | "stderr"), "{line}");
        assert_eq!(parts[2], "F", "{line}");
    }
    assert!(raw.contains(" stdout F out-line\n"), "{raw}");
    assert!(raw.contains(" stderr F err-line\n"), "{raw}");
    let out = crictl(&sock, &["logs", &cid]);
    out.success();
    // The pod's sysctl holds in its containers.
    assert!(
        out.stdout
            .contains("out-line\nhello from the pod\n/tmp\n1000\n"),
        "{out}"
    );
    assert!(out.stderr.contains("err-line"), "{out}");

    // `crictl ps` and its filters.
    let running = crictl(&sock, &["ps", "-q", "--pod", &pod_id])
        .success()
        .out()
        .to_string();
    assert_eq!(running, cid);
    assert_eq!(
        crictl(&sock, &["ps", "-q", "--label", "role=server"])
            .success()
            .out(),
        cid
    );
    assert!(crictl(&sock, &["ps", "-q", "--label", "role=db"])
        .success()
        .out()
        .is_empty());
    assert_eq!(
        crictl(&sock, &["ps", "-q", "--name", "srv", "--state", "running"])
            .success()
            .out(),
        cid
    );
    // Only CRI containers: a Docker API container is not listed.
    d.docker(&["create", "--name", "not-a-pod", "busybox", "true"])
        .success();
    assert_eq!(
        crictl(&sock, &["ps", "-a", "-q"]).success().lines(),
        vec![cid.as_str()]
    );

    // Stop (timeout, then SIGKILL) and again; the exit is recorded.
    crictl(&sock, &["stop", "--timeout", "2", &cid]).success();
    crictl(&sock, &["stop", &cid]).success();
    let st = parse(crictl(&sock, &["inspect", "-o", "json", &cid]).success());
    assert_eq!(st["status"]["state"], "CONTAINER_EXITED", "{st}");
    assert_eq!(st["status"]["exitCode"], 143, "{st}");
    assert_eq!(st["status"]["reason"], "Error", "{st}");
    assert!(crictl(&sock, &["ps", "-q"]).success().out().is_empty());
    assert_eq!(
        crictl(&sock, &["ps", "-q", "--state", "exited"])
            .success()
            .out(),
        cid
    );
    crictl(&sock, &["rm", &cid]).success();
    assert!(crictl(&sock, &["ps", "-a", "-q"])
        .success()
        .out()
        .is_empty());
    d.docker(&["rm", "not-a-pod"]).success();

    // Stop the pod: NotReady, no IP, its network released; stopping again is fine.
    crictl(&sock, &["stopp", &pod_id]).success();
    let st = parse(crictl(&sock, &["inspectp", "-o", "json", &pod_id]).success());
    assert_eq!(st["status"]["state"], "SANDBOX_NOTREADY", "{st}");
    assert_eq!(st["status"]["network"]["ip"], "", "{st}");
    crictl(&sock, &["stopp", &pod_id]).success();
    assert!(!netns.exists(), "{} left", netns.display());
    assert!(
        wait_until(Duration::from_secs(5), || !Path::new(&format!(
            "/proc/{holder_pid}"
        ))
        .exists()),
        "the holder {holder_pid} still runs"
    );
    assert!(
        NetSlot::ports_of(&net.bridge).is_empty(),
        "veths left on {}",
        net.bridge
    );
    let nat = std::process::Command::new("iptables")
        .args(["-t", "nat", "-S"])
        .output()
        .unwrap();
    let nat = String::from_utf8_lossy(&nat.stdout);
    assert!(!nat.contains(&pod_id), "NAT rules of the pod left:\n{nat}");
    let leases: Vec<String> = berth_tests::leaks::dir_names(&dir.join("ipam/berth-e2e"));
    assert!(
        !leases.iter().any(|l| l.starts_with(&net.prefix)),
        "address leases left: {leases:?}"
    );

    // Remove it, twice; nothing of it is left.
    crictl(&sock, &["rmp", &pod_id]).success();
    assert!(crictl(&sock, &["pods", "-q"]).success().out().is_empty());
    assert!(berth_tests::leaks::cgroups_of(&[pod_id.clone(), cid.clone()]).is_empty());
    assert!(
        berth_tests::leaks::mounts_under(&dir).is_empty(),
        "{:?}",
        berth_tests::leaks::mounts_under(&dir)
    );
    assert!(!d.exec_root.join("pods").join(&pod_id).exists());
    let left =
        berth_tests::leaks::daemon_processes(&dir, std::slice::from_ref(&pod_id), d.berthd_pid());
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn host_network_pod_survives_a_berthd_restart() {
    let Some(mut d) = TestDaemon::start_with(&[
        "--cri-socket",
        "{dir}/cri.sock",
        "--registry-config-dir",
        "{dir}/hosts.d",
        "--cni-conf-dir",
        "{dir}/no-cni-conf",
    ]) else {
        return;
    };
    berth_tests::crictl::seed_busybox(&d);
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let cgroup_parent = format!("/berth-e2e-pods/{}", berth_tests::unique_name("p"));
    let _parent = CgroupParent(cgroup_parent.clone());
    let _pods = PodsRemovedOnDrop(&sock);
    let logs = dir.join("pod-logs");
    // Host network needs no CNI configuration at all.
    let pod = pod_config("hostnet", &logs).set(
        "linux",
        json!({
            "cgroup_parent": cgroup_parent,
            "security_context": {"namespace_options": {"network": 2, "pid": 1}}
        }),
    );
    let pod = Pod::run(&sock, pod.write(&dir, "pod.json"));
    let pod_id = pod.id.clone();
    let st = parse(crictl(&sock, &["inspectp", "-o", "json", &pod_id]).success());
    assert_eq!(st["status"]["state"], "SANDBOX_READY", "{st}");
    assert_eq!(st["status"]["network"]["ip"], "", "{st}");
    assert_eq!(
        st["status"]["linux"]["namespaces"]["options"]["network"],
        "NODE"
    );
    let holder = st["info"]["pid"].as_i64().unwrap();
    assert_eq!(ns_of(holder, "net"), ns_of(0, "net"));
    assert_eq!(ns_of(holder, "uts"), ns_of(0, "uts"));
    assert_ne!(ns_of(holder, "ipc"), ns_of(0, "ipc"));

    let ctr = CriConfig::container(
        "sleeper",
        &[
            "sh",
            "-c",
            "hostname; id -u; while true; do echo tick; sleep 0.2; done",
        ],
    )
    .log_path("sleeper.log")
    .security_context(json!({"run_as_user": {"value": 1234}, "readonly_rootfs": true}));
    let cid = pod.create_ok(&ctr.write(&dir, "ctr.json"));
    crictl(&sock, &["start", &cid]).success();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    let log = logs.join("sleeper.log");
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(&log)
            .is_ok_and(|l| l.lines().count() >= 2)),
        "no output in {}",
        log.display()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(&format!(" stdout F {host}\n")), "{text}");
    assert!(text.contains(" stdout F 1234\n"), "{text}");

    // A restart of berthd keeps the pod (its record and its running holder) and the container.
    d.restart();
    let st = parse(crictl(&sock, &["inspectp", "-o", "json", &pod_id]).success());
    assert_eq!(st["status"]["state"], "SANDBOX_READY", "{st}");
    assert_eq!(st["info"]["pid"].as_i64(), Some(holder));
    assert_eq!(
        crictl(&sock, &["ps", "-q", "--state", "running"])
            .success()
            .out(),
        cid
    );

    // The holder and the container live under the pod's cgroup parent.
    let in_parent = |pid: i64| {
        let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        cg.lines()
            .any(|l| l.rsplit(':').next().unwrap().starts_with(&cgroup_parent))
    };
    assert!(in_parent(holder), "holder outside {cgroup_parent}");
    let st = parse(crictl(&sock, &["inspect", "-o", "json", &cid]).success());
    let ctr_pid = st["info"]["pid"].as_i64().unwrap();
    assert!(in_parent(ctr_pid));
    // The host's network and UTS, the pod's IPC and (the CRI's default, POD) the pod's PID
    // namespace, which is not the host's.
    assert_eq!(ns_of(ctr_pid, "net"), ns_of(0, "net"));
    assert_eq!(ns_of(ctr_pid, "uts"), ns_of(0, "uts"));
    assert_eq!(ns_of(ctr_pid, "ipc"), ns_of(holder, "ipc"));
    assert_eq!(ns_of(ctr_pid, "pid"), ns_of(holder, "pid"));
    assert_ne!(ns_of(ctr_pid, "pid"), ns_of(0, "pid"));

    // Stats from the container's cgroup, and an update of its resources.
    let stats = parse(crictl(&sock, &["stats", "-o", "json", &cid]).success());
    let s = &stats["stats"][0];
    assert_eq!(s["attributes"]["id"], cid, "{stats}");
    assert_eq!(s["attributes"]["metadata"]["name"], "sleeper", "{stats}");
    let number = |v: &Value| -> u64 {
        v.as_str()
            .map(|s| s.parse().unwrap())
            .or(v.as_u64())
            .unwrap_or_else(|| panic!("no number in {v}"))
    };
    assert!(
        number(&s["cpu"]["usageCoreNanoSeconds"]["value"]) > 0,
        "{stats}"
    );
    assert!(
        number(&s["memory"]["workingSetBytes"]["value"]) > 0,
        "{stats}"
    );
    crictl(
        &sock,
        &["update", "--memory", "67108864", "--cpu-share", "512", &cid],
    )
    .success();
    assert_eq!(
        d.inspect(
            berth_tests::Client::Docker,
            &cid,
            "{{.HostConfig.Memory}} {{.HostConfig.CpuShares}}"
        ),
        "67108864 512"
    );

    // ReopenContainerLog after a rotation moved the log away: output goes to a new file.
    let rotated = logs.join("sleeper.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    let reopen_id = cid.clone();
    grpc(&sock, async |mut rt, _| {
        rt.reopen_container_log(berth_cri::proto::ReopenContainerLogRequest {
            container_id: reopen_id,
        })
        .await
        .unwrap();
    });
    assert!(
        wait_until(Duration::from_secs(5), || std::fs::read_to_string(&log)
            .is_ok_and(|l| l.contains(" stdout F tick\n"))),
        "nothing logged in a new {}",
        log.display()
    );
    assert!(std::fs::read_to_string(&rotated)
        .unwrap()
        .contains(&format!(" stdout F {host}\n")));

    // RemovePodSandbox of a running pod (`rmp -f` stops it first) takes its containers too.
    crictl(&sock, &["rmp", "-f", &pod_id]).success();
    assert!(crictl(&sock, &["pods", "-q"]).success().out().is_empty());
    assert!(crictl(&sock, &["ps", "-a", "-q"])
        .success()
        .out()
        .is_empty());
    assert!(
        wait_until(Duration::from_secs(5), || !Path::new(&format!(
            "/proc/{holder}"
        ))
        .exists()),
        "the holder {holder} still runs"
    );
}

/// Removes a test's cgroup parent (and its parent) from every hierarchy once its pods are gone.
struct CgroupParent(String);

impl Drop for CgroupParent {
    fn drop(&mut self) {
        let root = Path::new("/sys/fs/cgroup");
        let mut bases = vec![root.to_path_buf()];
        if let Ok(entries) = std::fs::read_dir(root) {
            bases.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
        let rel = self.0.trim_start_matches('/');
        for base in bases {
            let leaf = base.join(rel);
            let _ = std::fs::remove_dir(&leaf);
            if let Some(parent) = leaf.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

/// Waits for a CRI container to exit; its status.
fn exited(sock: &Path, cid: &str) -> Value {
    let mut st = Value::Null;
    let done = wait_until(Duration::from_secs(15), || {
        st = parse(crictl(sock, &["inspect", "-o", "json", cid]).success());
        st["status"]["state"] == "CONTAINER_EXITED"
    });
    assert!(done, "{cid} did not exit: {st}");
    st
}

#[test]
fn security_context_mounts_devices_and_exit_status() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let _pods = PodsRemovedOnDrop(&sock);
    let logs = dir.join("pod-logs");
    let pod = pod_config("secure", &logs).host_network();
    let pod = Pod::run(&sock, pod.write(&dir, "pod.json"));
    let pod_id = pod.id.clone();
    // GetContainerEvents, subscribed before the first container: every event until two
    // containers were deleted.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let events_sock = sock.clone();
    let watcher = std::thread::spawn(move || {
        grpc(&events_sock, async |mut rt, _| {
            let mut stream = rt
                .get_container_events(berth_cri::proto::GetEventsRequest {})
                .await
                .unwrap()
                .into_inner();
            ready_tx.send(()).unwrap();
            let mut seen = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while let Ok(Ok(Some(e))) = tokio::time::timeout_at(deadline, stream.message()).await {
                let deleted = e.container_event_type
                    == berth_cri::proto::ContainerEventType::ContainerDeletedEvent as i32;
                seen.push(e);
                if deleted && seen.iter().filter(|e| e.container_event_type == 3).count() == 2 {
                    break;
                }
            }
            seen
        })
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("hello"), "from the host\n").unwrap();
    let run = |config: CriConfig| -> (String, Value, String) {
        let name = config.value()["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        let cid = pod.create_ok(&config.write(&dir, &format!("{name}.json")));
        crictl(&sock, &["start", &cid]).success();
        let st = exited(&sock, &cid);
        let log = std::fs::read_to_string(logs.join(format!("{name}.log"))).unwrap_or_default();
        (cid, st, log)
    };

    // Root with one capability, no new privileges, the default seccomp profile, masked and
    // read-only paths, a read-only bind mount and a device.
    let (root_id, st, log) = run(
        CriConfig::container("root", &["sh", "-c", "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; wc -c < /etc/passwd; touch /rw/x || echo rw-made-ro; cat /data/hello; touch /data/x || echo data-ro; test -c /dev/mynull && echo dev-ok; exit 3"])
            .log_path("root.log")
            .set(
                "mounts",
                json!([
                    {"container_path": "/data", "host_path": shared, "readonly": true},
                    {"container_path": "/rw", "host_path": shared, "readonly": false}
                ]),
            )
            .set(
                "devices",
                json!([{"container_path": "/dev/mynull", "host_path": "/dev/null", "permissions": "rw"}]),
            )
            .security_context(json!({
                "capabilities": {"drop_capabilities": ["ALL"], "add_capabilities": ["NET_RAW"]},
                "no_new_privs": true,
                "seccomp": {"profile_type": 0},
                "masked_paths": ["/etc/passwd"],
                "readonly_paths": ["/rw"]
            })),
    );
    assert_eq!(st["status"]["exitCode"], 3, "{st}");
    assert_eq!(st["status"]["reason"], "Error", "{st}");
    assert_eq!(st["status"]["mounts"][0]["containerPath"], "/data", "{st}");
    assert_eq!(st["status"]["mounts"][0]["readonly"], true, "{st}");
    let finished = st["status"]["finishedAt"].as_str().unwrap();
    assert!(!finished.starts_with("0001"), "{st}");
    for want in [
        "stdout F CapEff:\t0000000000002000\n",
        "stdout F NoNewPrivs:\t1\n",
        "stdout F Seccomp:\t2\n",
        "stdout F 0\n",
        "stdout F rw-made-ro\n",
        "stdout F from the host\n",
        "stdout F data-ro\n",
        "stdout F dev-ok\n",
    ] {
        assert!(log.contains(want), "{want:?} not in\n{log}");
    }

    // A user, group and supplemental groups, a read-only rootfs, no seccomp profile.
    let (_, st, log) = run(CriConfig::container(
        "user",
        &[
            "sh",
            "-c",
            "id -u; id -g; id -G; touch /x || echo rootfs-ro; grep '^Seccomp:' /proc/self/status",
        ],
    )
    .log_path("user.log")
    .security_context(json!({
        "run_as_user": {"value": 1000},
        "run_as_group": {"value": 1001},
        "supplemental_groups": [2001, 2002],
        "readonly_rootfs": true,
        "seccomp": {"profile_type": 1}
    })));
    assert_eq!(st["status"]["exitCode"], 0, "{st}");
    assert_eq!(st["status"]["reason"], "Completed", "{st}");
    for want in [
        "stdout F 1000\n",
        "stdout F 1001\n",
        "stdout F 1001 2001 2002\n",
        "stdout F rootfs-ro\n",
        "stdout F Seccomp:\t0\n",
    ] {
        assert!(log.contains(want), "{want:?} not in\n{log}");
    }

    // Names are reserved: a second container of the same name and attempt is refused.
    let again = CriConfig::container("user", &["true"]).write(&dir, "again.json");
    pod.create(&again).code_is(1);
    // So are pods.
    crictl(&sock, &["runp", pod.config.to_str().unwrap()]).code_is(1);
    crictl(&sock, &["rmp", "-f", &pod_id]).success();
    let events = watcher.join().unwrap();
    let of_root: Vec<i32> = events
        .iter()
        .filter(|e| e.container_id == root_id)
        .map(|e| e.container_event_type)
        .collect();
    // Created, started, stopped, deleted.
    assert_eq!(of_root, vec![0, 1, 2, 3], "{events:?}");
    let started = events
        .iter()
        .find(|e| e.container_id == root_id && e.container_event_type == 1)
        .unwrap();
    assert!(started.created_at > 0);
    assert_eq!(
        started.pod_sandbox_status.as_ref().map(|p| p.id.as_str()),
        Some(pod_id.as_str())
    );
    assert_eq!(started.containers_statuses[0].id, root_id);

    // What kubelet relies on, asked directly: stopping and removing what is gone is no error;
    // the status of what is gone is NotFound.
    use berth_cri::proto::{
        ContainerStatusRequest, CreateContainerRequest, PodSandboxStatusRequest,
        RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest,
        StopContainerRequest, StopPodSandboxRequest,
    };
    let gone = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_string();
    grpc(&sock, async |mut rt, _| {
        rt.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: pod_id.clone(),
        })
        .await
        .unwrap();
        rt.remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: pod_id.clone(),
        })
        .await
        .unwrap();
        rt.stop_container(StopContainerRequest {
            container_id: gone.clone(),
            timeout: 1,
        })
        .await
        .unwrap();
        rt.remove_container(RemoveContainerRequest {
            container_id: gone.clone(),
        })
        .await
        .unwrap();
        let e = rt
            .pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: gone.clone(),
                verbose: false,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
        let e = rt
            .container_status(ContainerStatusRequest {
                container_id: gone.clone(),
                verbose: false,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
        let e = rt
            .create_container(CreateContainerRequest {
                pod_sandbox_id: gone.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
        let e = rt
            .run_pod_sandbox(RunPodSandboxRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    });
}

/// critest's pods: a name longer than the 64 bytes of a hostname, no hostname, an empty cgroup
/// parent (berth's driver is cgroupfs). The pod runs, is Ready, and takes the host's hostname
/// (as containerd's and CRI-O's do) rather than failing in sethostname(2).
#[test]
fn pod_without_hostname_and_a_long_name_is_ready() {
    let Some(d) = TestDaemon::start_with(&[
        "--cri-socket",
        "{dir}/cri.sock",
        "--cni-conf-dir",
        "{dir}/net.d",
    ]) else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let net = PodNet::of(&d);
    net.write_conf(&dir.join("net.d"), &dir.join("ipam"));
    let _pods = PodsRemovedOnDrop(&sock);
    let name = "create-PodSandbox-for-container-0b7c5a3e-6d0f-4a59-9d53-2f1e0c6f3b7a";
    assert!(name.len() > 64);
    let pod = CriConfig::pod(name)
        .set("metadata.uid", "cri-test-uid-1")
        .set("metadata.namespace", "cri-test-ns")
        .set("metadata.attempt", 0)
        .set("linux.cgroup_parent", "")
        .labels(&[("foo", "bar")]);
    let pod_id = Pod::run(&sock, pod.write(&dir, "pod.json")).id;
    let st = parse(crictl(&sock, &["inspectp", "-o", "json", &pod_id]).success());
    assert_eq!(st["status"]["state"], "SANDBOX_READY", "{st}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(st["info"]["hostname"], host.trim(), "{st}");
    let ready = crictl(&sock, &["pods", "-q", "--state", "ready"]);
    assert!(
        ready.success().stdout.lines().any(|l| l == pod_id),
        "{}",
        ready.stdout
    );
    crictl(&sock, &["stopp", &pod_id]).success();
    let st = parse(crictl(&sock, &["inspectp", "-o", "json", &pod_id]).success());
    assert_eq!(st["status"]["state"], "SANDBOX_NOTREADY", "{st}");
    crictl(&sock, &["rmp", &pod_id]).success();
}

/// A dynamically linked berth-init (cargo's plain build beside berthd) cannot run from the
/// holder's empty rootfs: RunPodSandbox refuses it up front, naming the static build, instead of
/// answering with a pod whose holder has already exited (never Ready, its containers unable to
/// join its namespaces: critest's "intermediate process error ENOENT").
#[test]
fn pod_refuses_a_dynamically_linked_holder() {
    let Some(mut d) = TestDaemon::start_with(&[
        "--cri-socket",
        "{dir}/cri.sock",
        "--cni-conf-dir",
        "{dir}/no-cni-conf",
    ]) else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let _pods = PodsRemovedOnDrop(&sock);
    let logs = dir.join("pod-logs");
    let pod_json = pod_config("dyn", &logs)
        .host_network()
        .write(&dir, "pod.json");
    // With the static init (the harness's), the pod runs and is Ready.
    let pod_id = Pod::run(&sock, pod_json.clone()).id;
    let st = parse(crictl(&sock, &["inspectp", "-o", "json", &pod_id]).success());
    assert_eq!(st["status"]["state"], "SANDBOX_READY", "{st}");
    crictl(&sock, &["rmp", "-f", &pod_id]).success();

    // The dynamic one: cargo's own build of berth-init, or else /bin/true (dynamic on Debian).
    let cargo_init = d.bins.berthd.with_file_name("berth-init");
    let dynamic = [cargo_init.as_path(), Path::new("/bin/true")]
        .into_iter()
        .find(|p| {
            std::process::Command::new("file")
                .arg("-L")
                .arg(p)
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("dynamically linked"))
        });
    let Some(dynamic) = dynamic else {
        eprintln!("no dynamically linked binary to try; skipping");
        return;
    };
    d.restart_with_init(dynamic);
    let out = crictl(&sock, &["runp", pod_json.to_str().unwrap()]);
    assert_ne!(out.code, 0, "{out}");
    out.stderr_has("is dynamically linked")
        .stderr_has("needs a static berth-init");
    assert_eq!(crictl(&sock, &["pods", "-q"]).success().out(), "");
}
