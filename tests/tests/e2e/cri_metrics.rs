//! The CRI's metrics and the RPCs added with them, through a real berthd: ListMetricDescriptors
//! and ListPodSandboxMetrics (`crictl metricdescs`, `crictl metricsp`) with values read from
//! the container's cgroup and the pod's network namespace, ContainerStats' writable layer
//! (`crictl stats`), the streamed List RPCs of cri-api 0.37 (raw gRPC: crictl does not ask for
//! them) and CheckpointContainer (`crictl checkpoint`), which says why it cannot checkpoint.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_cri::proto;
use berth_tests::crictl::{crictl, CniBridge};
use berth_tests::TestDaemon;
use serde_json::{json, Value};

use berth_tests::cri_grpc::grpc;

fn parse(out: &berth_tests::Out) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("`{}` printed no JSON ({e}): {}", out.command, out.stdout))
}

fn write_json(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

/// A protojson number (64-bit integers are strings there).
fn num(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {v}")),
        Value::Number(n) => n.as_u64().unwrap(),
        _ => panic!("not a number: {v}"),
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
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

fn pod_config(name: &str, dir: &Path, network: i64) -> Value {
    json!({
        "metadata": {"name": name, "uid": format!("uid-{name}"), "namespace": "metrics-e2e", "attempt": 0},
        "hostname": format!("{name}-host"),
        "log_directory": dir.join("logs"),
        "linux": {"security_context": {"namespace_options": {"network": network}}}
    })
}

/// Runs a pod (`network` 0: its own namespace through CNI; 2: the host's) and in it a busybox
/// container running `script`; the pod's id, the container's id.
fn pod_with_container(
    sock: &Path,
    dir: &Path,
    name: &str,
    network: i64,
    script: &str,
    resources: Value,
) -> (String, String) {
    let pod_json = write_json(
        dir,
        &format!("{name}-pod.json"),
        &pod_config(name, dir, network),
    );
    let pod = crictl(sock, &["runp", pod_json.to_str().unwrap()])
        .success()
        .out()
        .to_string();
    let ctr = json!({
        "metadata": {"name": "srv", "attempt": 0},
        "image": {"image": "busybox"},
        "command": ["sh", "-c", script],
        "log_path": "srv.log",
        "linux": {"resources": resources}
    });
    let ctr_json = write_json(dir, &format!("{name}-ctr.json"), &ctr);
    let cid = crictl(
        sock,
        &[
            "create",
            &pod,
            ctr_json.to_str().unwrap(),
            pod_json.to_str().unwrap(),
        ],
    )
    .success()
    .out()
    .to_string();
    crictl(sock, &["start", &cid]).success();
    (pod, cid)
}

/// `name` → its label keys, from `crictl metricdescs`.
fn descriptors(sock: &Path) -> BTreeMap<String, Vec<String>> {
    let v = parse(crictl(sock, &["metricdescs", "-o", "json"]).success());
    v["descriptors"]
        .as_array()
        .unwrap_or_else(|| panic!("no descriptors: {v}"))
        .iter()
        .map(|d| {
            assert!(!d["help"].as_str().unwrap_or("").is_empty(), "{d}");
            let keys: Vec<String> = d["labelKeys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_string())
                .collect();
            (d["name"].as_str().unwrap().to_string(), keys)
        })
        .collect()
}

/// The metric `name` (with `extra` label values after the base ones, if given) of `metrics`.
fn metric<'a>(metrics: &'a [Value], name: &str, extra: &[&str]) -> Option<&'a Value> {
    metrics.iter().find(|m| {
        m["name"] == name && {
            let labels = m["labelValues"].as_array().unwrap();
            extra.is_empty()
                || labels[labels.len() - extra.len()..]
                    .iter()
                    .zip(extra)
                    .all(|(a, b)| a == b)
        }
    })
}

fn value_of(metrics: &[Value], name: &str, extra: &[&str]) -> u64 {
    let m = metric(metrics, name, extra)
        .unwrap_or_else(|| panic!("no {name} {extra:?} in {}", Value::from(metrics.to_vec())));
    num(&m["value"]["value"])
}

/// critest v1.37's expected metrics, less those it lets runtimes leave out
/// (`unimplementedMetricDescriptors`): every one must be described and reported.
const EXPECTED: &[&str] = &[
    "container_blkio_device_usage_total",
    "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total",
    "container_cpu_cfs_throttled_seconds_total",
    "container_cpu_system_seconds_total",
    "container_cpu_usage_seconds_total",
    "container_cpu_user_seconds_total",
    "container_file_descriptors",
    "container_fs_inodes_free",
    "container_fs_inodes_total",
    "container_fs_limit_bytes",
    "container_fs_reads_bytes_total",
    "container_fs_reads_total",
    "container_fs_usage_bytes",
    "container_fs_writes_bytes_total",
    "container_fs_writes_total",
    "container_last_seen",
    "container_memory_cache",
    "container_memory_failcnt",
    "container_memory_failures_total",
    "container_memory_kernel_usage",
    "container_memory_mapped_file",
    "container_memory_max_usage_bytes",
    "container_memory_rss",
    "container_memory_swap",
    "container_memory_usage_bytes",
    "container_memory_working_set_bytes",
    "container_network_receive_bytes_total",
    "container_network_receive_errors_total",
    "container_network_receive_packets_dropped_total",
    "container_network_receive_packets_total",
    "container_network_transmit_bytes_total",
    "container_network_transmit_errors_total",
    "container_network_transmit_packets_dropped_total",
    "container_network_transmit_packets_total",
    "container_oom_events_total",
    "container_processes",
    "container_sockets",
    "container_spec_cpu_period",
    "container_spec_cpu_shares",
    "container_spec_memory_limit_bytes",
    "container_spec_memory_swap_limit_bytes",
    "container_start_time_seconds",
    "container_threads",
    "container_threads_max",
];

/// Block I/O counters stay empty where the layer's disk reports no per-device I/O (critest's
/// `optionalValuesForMetricDescriptors`).
const OPTIONAL: &[&str] = &[
    "container_blkio_device_usage_total",
    "container_fs_reads_bytes_total",
    "container_fs_reads_total",
    "container_fs_writes_bytes_total",
    "container_fs_writes_total",
];

const MIB: u64 = 1024 * 1024;

#[test]
fn pod_metrics_from_the_cgroup_and_the_pod_network() {
    let Some(d) = TestDaemon::start_with_cni("no-plugins-here") else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let net = CniBridge::write(&d, "bm", 251);
    let _pods = Pods(&sock);

    let descs = descriptors(&sock);
    for name in EXPECTED {
        let keys = descs
            .get(*name)
            .unwrap_or_else(|| panic!("{name} is not described: {descs:?}"));
        assert_eq!(
            keys[..5],
            ["pod", "namespace", "container", "id", "image"],
            "{name}"
        );
    }
    assert_eq!(
        descs["container_network_receive_bytes_total"][5..],
        ["interface"]
    );
    assert_eq!(descs["container_fs_usage_bytes"][5..], ["device"]);
    assert_eq!(
        descs["container_memory_failures_total"][5..],
        ["failure_type", "scope"]
    );

    // Limits as critest's metrics container has them.
    let resources = json!({
        "cpu_period": 100000, "cpu_quota": 20000, "cpu_shares": 1024,
        "memory_limit_in_bytes": 64 * MIB, "memory_swap_limit_in_bytes": 64 * MIB
    });
    let before = now_s();
    let (pod, cid) = pod_with_container(&sock, &dir, "web", 0, "exec sleep 300", resources);
    // 3 MiB and 12 inodes in the writable layer; traffic on the pod's eth0.
    crictl(
        &sock,
        &[
            "exec", "-s", &cid, "sh", "-c",
            "dd if=/dev/zero of=/big bs=1024 count=3072 2>/dev/null && mkdir /many && for i in 1 2 3 4 5 6 7 8 9 10; do echo x > /many/f$i; done && sync",
        ],
    )
    .success();
    let gateway = format!("{}.1", net.prefix);
    crictl(
        &sock,
        &["exec", "-s", &cid, "ping", "-c", "3", "-W", "2", &gateway],
    )
    .success();

    let all = parse(crictl(&sock, &["metricsp", "-o", "json"]).success());
    let pods = all["podMetrics"].as_array().unwrap();
    let p = pods
        .iter()
        .find(|p| p["podSandboxId"] == pod.as_str())
        .unwrap_or_else(|| panic!("no metrics of pod {pod}: {all}"));
    let pod_metrics = p["metrics"].as_array().unwrap();
    let containers = p["containerMetrics"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{p}");
    assert_eq!(containers[0]["containerId"], cid.as_str());
    let cm = containers[0]["metrics"].as_array().unwrap();

    // Every metric reported is described, with as many label values as keys; every expected
    // one is reported.
    for m in pod_metrics.iter().chain(cm) {
        let name = m["name"].as_str().unwrap();
        let keys = descs
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not described"));
        assert_eq!(
            m["labelValues"].as_array().unwrap().len(),
            keys.len(),
            "{m}"
        );
    }
    for name in EXPECTED.iter().filter(|n| !OPTIONAL.contains(n)) {
        assert!(
            metric(pod_metrics, name, &[])
                .or(metric(cm, name, &[]))
                .is_some(),
            "{name} is not reported: {p}"
        );
    }

    // The pod's network, through its holder: its name, namespace and id; no container.
    let m = metric(
        pod_metrics,
        "container_network_transmit_packets_total",
        &["eth0"],
    )
    .unwrap();
    assert_eq!(
        m["labelValues"],
        json!(["web", "metrics-e2e", "", pod, "", "eth0"])
    );
    assert_eq!(m["metricType"], "COUNTER");
    assert!(
        value_of(
            pod_metrics,
            "container_network_transmit_packets_total",
            &["eth0"]
        ) >= 3
    );
    assert!(
        value_of(
            pod_metrics,
            "container_network_receive_packets_total",
            &["eth0"]
        ) >= 3
    );
    assert!(
        value_of(
            pod_metrics,
            "container_network_transmit_bytes_total",
            &["eth0"]
        ) >= 3 * 84
    );
    assert!(metric(
        pod_metrics,
        "container_network_receive_bytes_total",
        &["lo"]
    )
    .is_none());

    // The container's: labels, and values from its cgroup and procfs.
    let m = metric(cm, "container_memory_usage_bytes", &[]).unwrap();
    assert_eq!(
        m["labelValues"],
        json!(["web", "metrics-e2e", "srv", cid, "busybox"])
    );
    assert_eq!(m["metricType"], "GAUGE");
    assert_eq!(
        value_of(cm, "container_spec_memory_limit_bytes", &[]),
        64 * MIB
    );
    assert_eq!(
        value_of(cm, "container_spec_memory_swap_limit_bytes", &[]),
        64 * MIB
    );
    assert_eq!(value_of(cm, "container_spec_cpu_period", &[]), 100000);
    assert_eq!(value_of(cm, "container_spec_cpu_quota", &[]), 20000);
    let shares = value_of(cm, "container_spec_cpu_shares", &[]);
    if berth_tests::host::cgroup_v2() {
        // Through cpu.weight and back.
        assert!((900..=1100).contains(&shares), "{shares}");
    } else {
        assert_eq!(shares, 1024);
    }
    let usage = value_of(cm, "container_memory_usage_bytes", &[]);
    assert!(usage > 0 && usage <= 64 * MIB, "{usage}");
    assert!(value_of(cm, "container_memory_working_set_bytes", &[]) <= usage);
    assert!(
        value_of(cm, "container_memory_max_usage_bytes", &[])
            >= value_of(cm, "container_memory_rss", &[])
    );
    assert_eq!(value_of(cm, "container_oom_events_total", &[]), 0);
    assert!(metric(
        cm,
        "container_memory_failures_total",
        &["pgfault", "container"]
    )
    .is_some());
    assert!(
        value_of(
            cm,
            "container_memory_failures_total",
            &["pgfault", "container"]
        ) > 0
    );
    // `sleep`, alone (the execs are over): its stdio at least.
    assert_eq!(value_of(cm, "container_processes", &[]), 1);
    assert_eq!(value_of(cm, "container_threads", &[]), 1);
    assert!(value_of(cm, "container_file_descriptors", &[]) >= 3);
    assert_eq!(value_of(cm, "container_sockets", &[]), 0);
    let fs = metric(cm, "container_fs_usage_bytes", &[]).unwrap();
    let device = fs["labelValues"][5].as_str().unwrap().to_string();
    assert!(!device.is_empty(), "{fs}");
    assert!(num(&fs["value"]["value"]) >= 3 * MIB, "{fs}");
    assert!(value_of(cm, "container_fs_limit_bytes", &[&device]) > 3 * MIB);
    let inodes = value_of(cm, "container_fs_inodes_total", &[&device]);
    assert!(inodes > value_of(cm, "container_fs_inodes_free", &[&device]));
    let started = value_of(cm, "container_start_time_seconds", &[]);
    assert!(
        started + 1 >= before && started <= now_s(),
        "{started} {before}"
    );
    let seen = value_of(cm, "container_last_seen", &[]);
    assert!(seen >= started && seen <= now_s(), "{seen}");

    // ContainerStats' writable layer: the same upper directory, on the image filesystem.
    let st = parse(crictl(&sock, &["stats", "-o", "json", "--id", &cid]).success());
    let layer = &st["stats"][0]["writableLayer"];
    assert!(num(&layer["usedBytes"]["value"]) >= 3 * MIB, "{st}");
    // /big, /many and its 10 files, the upper directory itself (and what the runtime made).
    assert!(num(&layer["inodesUsed"]["value"]) >= 13, "{st}");
    let mountpoint = layer["fsId"]["mountpoint"].as_str().unwrap();
    assert_eq!(
        mountpoint,
        d.data_root.join("overlay").display().to_string()
    );
    let one = parse(crictl(&sock, &["stats", "-o", "json", &cid]).success());
    assert!(
        num(&one["stats"][0]["writableLayer"]["usedBytes"]["value"]) >= 3 * MIB,
        "{one}"
    );

    // A stopped container has no metrics; a stopped pod none at all.
    crictl(&sock, &["stop", "-t", "0", &cid]).success();
    let all = parse(crictl(&sock, &["metricsp", "-o", "json"]).success());
    let p = all["podMetrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["podSandboxId"] == pod.as_str())
        .unwrap_or_else(|| panic!("no metrics of pod {pod}: {all}"));
    assert_eq!(p["containerMetrics"], json!([]), "{p}");
    crictl(&sock, &["stopp", &pod]).success();
    let all = parse(crictl(&sock, &["metricsp", "-o", "json"]).success());
    assert!(
        all["podMetrics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["podSandboxId"] != pod.as_str()),
        "{all}"
    );
    crictl(&sock, &["rmp", &pod]).success();
}

/// All the messages of a server stream, then its end.
async fn drain<T>(s: Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>) -> Vec<T> {
    let mut s = s.unwrap().into_inner();
    let mut out = Vec::new();
    while let Some(m) = s.message().await.unwrap() {
        out.push(m);
    }
    out
}

#[test]
fn streamed_lists_carry_what_the_list_rpcs_do() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let _pods = Pods(&sock);
    let (pod, cid) = pod_with_container(&sock, &dir, "one", 2, "exec sleep 300", json!({}));
    let (pod2, cid2) = pod_with_container(&sock, &dir, "two", 2, "exec sleep 300", json!({}));

    grpc(&sock, async |mut rt, _| {
        let by_id = |id: &str| proto::PodSandboxFilter {
            id: id.to_string(),
            ..Default::default()
        };
        // Pods: the same items as ListPodSandbox, in one message; a filter applies; nothing
        // matching is no message at all.
        let listed: Vec<String> = rt
            .list_pod_sandbox(proto::ListPodSandboxRequest::default())
            .await
            .unwrap()
            .into_inner()
            .items
            .into_iter()
            .map(|p| p.id)
            .collect();
        let msgs = drain(
            rt.stream_pod_sandboxes(proto::StreamPodSandboxesRequest::default())
                .await,
        )
        .await;
        assert_eq!(msgs.len(), 1);
        let streamed: Vec<String> = msgs[0].pod_sandboxes.iter().map(|p| p.id.clone()).collect();
        assert_eq!(streamed, listed);
        assert_eq!(listed.len(), 2);
        let msgs = drain(
            rt.stream_pod_sandboxes(proto::StreamPodSandboxesRequest {
                filter: Some(by_id(&pod2[..12])),
            })
            .await,
        )
        .await;
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].pod_sandboxes.len(), 1);
        assert_eq!(msgs[0].pod_sandboxes[0].id, pod2);
        assert_eq!(
            msgs[0].pod_sandboxes[0].metadata.as_ref().unwrap().name,
            "two"
        );
        let none = drain(
            rt.stream_pod_sandboxes(proto::StreamPodSandboxesRequest {
                filter: Some(by_id("0000000000ff")),
            })
            .await,
        )
        .await;
        assert!(none.is_empty(), "{none:?}");

        // Containers, by pod.
        let msgs = drain(
            rt.stream_containers(proto::StreamContainersRequest {
                filter: Some(proto::ContainerFilter {
                    pod_sandbox_id: pod.clone(),
                    ..Default::default()
                }),
            })
            .await,
        )
        .await;
        let ids: Vec<&str> = msgs
            .iter()
            .flat_map(|m| &m.containers)
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(ids, vec![cid.as_str()]);
        let all = drain(
            rt.stream_containers(proto::StreamContainersRequest::default())
                .await,
        )
        .await;
        assert_eq!(all.iter().map(|m| m.containers.len()).sum::<usize>(), 2);

        // Container stats: each container once, with its writable layer.
        let msgs = drain(
            rt.stream_container_stats(proto::StreamContainerStatsRequest::default())
                .await,
        )
        .await;
        let mut ids: Vec<String> = msgs
            .iter()
            .flat_map(|m| &m.container_stats)
            .map(|s| {
                assert!(s.writable_layer.is_some(), "{s:?}");
                assert!(s.memory.as_ref().unwrap().usage_bytes.unwrap().value > 0);
                s.attributes.as_ref().unwrap().id.clone()
            })
            .collect();
        ids.sort();
        let mut want = vec![cid.clone(), cid2.clone()];
        want.sort();
        assert_eq!(ids, want);

        // Pod stats, filtered.
        let msgs = drain(
            rt.stream_pod_sandbox_stats(proto::StreamPodSandboxStatsRequest {
                filter: Some(proto::PodSandboxStatsFilter {
                    id: pod.clone(),
                    ..Default::default()
                }),
            })
            .await,
        )
        .await;
        let stats: Vec<_> = msgs.iter().flat_map(|m| &m.pod_sandbox_stats).collect();
        assert_eq!(stats.len(), 1);
        assert_eq!(stats[0].attributes.as_ref().unwrap().id, pod);
        let linux = stats[0].linux.as_ref().unwrap();
        assert_eq!(linux.containers.len(), 1);
        assert_eq!(linux.containers[0].attributes.as_ref().unwrap().id, cid);

        // Pod metrics: both pods; on the host's network a pod has no network metrics of its
        // own, its containers theirs.
        let listed = rt
            .list_pod_sandbox_metrics(proto::ListPodSandboxMetricsRequest {})
            .await
            .unwrap()
            .into_inner()
            .pod_metrics;
        let msgs = drain(
            rt.stream_pod_sandbox_metrics(proto::StreamPodSandboxMetricsRequest {})
                .await,
        )
        .await;
        let streamed: Vec<_> = msgs.iter().flat_map(|m| &m.pod_sandbox_metrics).collect();
        let mut ids: Vec<&str> = streamed.iter().map(|p| p.pod_sandbox_id.as_str()).collect();
        let mut listed_ids: Vec<&str> = listed.iter().map(|p| p.pod_sandbox_id.as_str()).collect();
        ids.sort();
        listed_ids.sort();
        assert_eq!(ids, listed_ids);
        assert_eq!(ids.len(), 2);
        for p in streamed {
            assert!(p.metrics.is_empty(), "{p:?}");
            assert_eq!(p.container_metrics.len(), 1, "{p:?}");
            let want = if p.pod_sandbox_id == pod { &cid } else { &cid2 };
            assert_eq!(&p.container_metrics[0].container_id, want);
            assert!(p.container_metrics[0]
                .metrics
                .iter()
                .any(|m| m.name == "container_memory_working_set_bytes"));
        }
    });
    for p in [&pod, &pod2] {
        crictl(&sock, &["stopp", p]).success();
        crictl(&sock, &["rmp", p]).success();
    }
}

/// What CheckpointContainer must answer on this machine, from CRIU itself: `None` when CRIU
/// is missing or too old, else whether `criu check` passes.
fn criu_works() -> Option<bool> {
    let out = std::process::Command::new("criu")
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v = text
        .lines()
        .find_map(|l| l.strip_prefix("Version:"))?
        .trim()
        .to_string();
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next()?, parts.next().unwrap_or(0));
    if (major, minor) < (3, 16) {
        return None;
    }
    let check = std::process::Command::new("criu")
        .arg("check")
        .output()
        .ok()?;
    Some(check.status.success())
}

#[test]
fn checkpoint_container_says_why_it_cannot() {
    let Some(d) = TestDaemon::start_with_cri() else {
        return;
    };
    let sock = d.cri_socket();
    let dir = d.dir().to_path_buf();
    let _pods = Pods(&sock);
    let (pod, cid) = pod_with_container(&sock, &dir, "cp", 2, "exec sleep 300", json!({}));
    let archive = dir.join("checkpoint.tar");
    let export = format!("--export={}", archive.display());

    let out = crictl(&sock, &["checkpoint", &export, &cid]);
    out.code_is(1);
    match criu_works() {
        None => {
            out.stderr_has("CRIU binary not found or too old (<31600)");
        }
        Some(false) => {
            // This machine's case (Linux 6.18, CRIU 3.17): CRIU's own reason is given.
            out.stderr_has("CRIU cannot run on this host: ")
                .stderr_has(&cid);
        }
        Some(true) => {
            out.stderr_has("not implemented by berth yet");
        }
    }
    assert!(!archive.exists(), "no archive is left");
    // The container runs on.
    let st = parse(crictl(&sock, &["inspect", "-o", "json", &cid]).success());
    assert_eq!(st["status"]["state"], "CONTAINER_RUNNING", "{st}");

    if criu_works().is_some() {
        // containerd's checks of the container, with its words.
        crictl(&sock, &["checkpoint", &export, "0123456789ab"])
            .code_is(1)
            .stderr_has("not found");
        crictl(&sock, &["stop", "-t", "0", &cid]).success();
        crictl(&sock, &["checkpoint", &export, &cid])
            .code_is(1)
            .stderr_has(
            "is in CONTAINER_EXITED state. only CONTAINER_RUNNING containers can be checkpointed",
        );
        assert!(!archive.exists());
    }
    crictl(&sock, &["stopp", &pod]).success();
    crictl(&sock, &["rmp", &pod]).success();
}
