//! A pod's CNI network as berthd now sets it up and releases it: ADD beside the holder's start
//! (a pod without `net.*` sysctls), DEL beside the holder's stop, and once only — a second
//! StopPodSandbox and the RemovePodSandbox after a successful DEL run no plugin again. A small
//! logging plugin at the end of the chain records each call.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::path::Path;

use berth_tests::crictl::crictl;
use berth_tests::TestDaemon;
use serde_json::{json, Value};

const CNI_BIN: &str = "/usr/lib/cni";

/// Removes the test's bridge and any pod left when the test ends.
struct Cleanup<'a> {
    sock: &'a Path,
    bridge: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let out = crictl(self.sock, &["pods", "-q"]);
        for id in out.stdout.lines().filter(|l| !l.is_empty()) {
            let _ = crictl(self.sock, &["rmp", "-f", id]);
        }
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

#[test]
fn pod_network_is_added_beside_the_holder_and_released_once() {
    assert!(
        Path::new(CNI_BIN).join("bridge").is_file(),
        "the CNI plugins are missing from {CNI_BIN}: run scripts/install-deps (containernetworking-plugins)"
    );
    let Some(d) = TestDaemon::start_with_cni("cni-bin") else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let n = d.net.as_ref().map(|s| s.n).expect("a network slot");
    let bridge = format!("cnl-bt{n}");
    let prefix = format!("10.{n}.249");
    let _cleanup = Cleanup {
        sock: &sock,
        bridge: bridge.clone(),
    };

    // The logging plugin: one line per call; ADD hands the previous result on.
    let calls = dir.join("cni-calls");
    std::fs::create_dir_all(dir.join("cni-bin")).unwrap();
    let plugin = dir.join("cni-bin/calllog");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\nconf=$(cat)\necho \"$CNI_COMMAND $CNI_CONTAINERID\" >>{}\n\
             [ \"$CNI_COMMAND\" = ADD ] || exit 0\n\
             printf '%s' \"$conf\" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)[\"prevResult\"]))'\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let ipam = dir.join("ipam");
    std::fs::create_dir_all(dir.join("net.d")).unwrap();
    let conf = json!({
        "cniVersion": "1.0.0",
        "name": "berth-e2e-net",
        "plugins": [
            {
                "type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": format!("{prefix}.0/24")}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": ipam,
                }
            },
            {"type": "calllog"}
        ]
    });
    std::fs::write(dir.join("net.d/10-net.conflist"), conf.to_string()).unwrap();

    // No net.* sysctl: CNI ADD runs beside the holder's start.
    let pod = json!({
        "metadata": {"name": "side", "uid": "uid-side", "namespace": "e2e", "attempt": 0},
        "hostname": "side-host",
        "log_directory": dir.join("pod-logs"),
        "linux": {"security_context": {"namespace_options": {"network": 0, "pid": 1, "ipc": 0}}}
    });
    let pod_json = dir.join("pod.json");
    std::fs::write(&pod_json, pod.to_string()).unwrap();
    let pod_id = crictl(&sock, &["runp", pod_json.to_str().unwrap()])
        .success()
        .out()
        .to_string();
    let st: Value = serde_json::from_str(
        crictl(&sock, &["inspectp", "-o", "json", &pod_id])
            .success()
            .out(),
    )
    .unwrap();
    assert_eq!(st["status"]["state"], "SANDBOX_READY", "{st}");
    let ip = st["status"]["network"]["ip"].as_str().unwrap().to_string();
    assert!(ip.starts_with(&format!("{prefix}.")), "{st}");
    let holder = st["info"]["pid"].as_i64().unwrap();
    assert!(holder > 0, "{st}");
    // The holder sits in the namespace CNI configured: eth0 with the pod's address.
    let addr = std::process::Command::new("nsenter")
        .args([
            &format!("--net=/proc/{holder}/ns/net"),
            "ip",
            "-o",
            "addr",
            "show",
            "eth0",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&addr.stdout).contains(&format!("inet {ip}/")),
        "{addr:?}"
    );
    // A container of the pod is in that namespace too.
    let ctr = json!({
        "metadata": {"name": "pinger", "attempt": 0},
        "image": {"image": "busybox"},
        "command": ["sleep", "300"],
        "log_path": "pinger/0.log",
        "linux": {}
    });
    let ctr_json = dir.join("ctr.json");
    std::fs::write(&ctr_json, ctr.to_string()).unwrap();
    let cid = crictl(
        &sock,
        &[
            "create",
            &pod_id,
            ctr_json.to_str().unwrap(),
            pod_json.to_str().unwrap(),
        ],
    )
    .success()
    .out()
    .to_string();
    crictl(&sock, &["start", &cid]).success();
    assert!(
        crictl(&sock, &["exec", "-s", &cid, "cat", "/proc/net/fib_trie"],)
            .success()
            .out()
            .contains(&ip)
    );
    let lease = ipam.join("berth-e2e-net").join(&ip);
    assert!(lease.exists(), "{}", lease.display());
    let calls_now = || std::fs::read_to_string(&calls).unwrap_or_default();
    assert_eq!(calls_now(), format!("ADD {pod_id}\n"));

    // Stop releases the network (the lease is gone) with one DEL; a second stop and the
    // removal run none.
    crictl(&sock, &["stopp", &pod_id]).success();
    assert!(!lease.exists(), "{}", lease.display());
    assert!(std::fs::read_link(format!("/proc/{holder}/ns/net")).is_err());
    crictl(&sock, &["stopp", &pod_id]).success();
    crictl(&sock, &["rmp", &pod_id]).success();
    assert_eq!(calls_now(), format!("ADD {pod_id}\nDEL {pod_id}\n"));
    assert!(crictl(&sock, &["pods", "-q"]).success().lines().is_empty());
}
