//! ListMetricDescriptors and ListPodSandboxMetrics: the cAdvisor-style metrics kubelet serves
//! on `/metrics/cadvisor` when `PodAndContainerStatsFromCRI` is on, with containerd's (v2 CRI
//! plugin) names, label keys and units. Per Ready pod: its network's interface counters (read
//! through the holder, which owns the pod's network namespace); per running container: CPU,
//! memory, block I/O, process and file-descriptor counts, its writable layer and its cgroup
//! limits, from the container's cgroup (v1 — also on a hybrid host — or v2, detected) and procfs.
//!
//! Gathering ([`gather`]) and naming ([`container_metrics`]) are apart, so the label counts
//! can be checked against the descriptors without a container.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use berth_api::stats::{NetworkStats, StatsResponse};
use berth_daemon::sandbox::{PodMember, PodRecord, PodState};
use berth_daemon::Daemon;
use tonic::{Response, Status};

use crate::error::status;
use crate::proto;
use crate::proto::MetricType::{Counter, Gauge};

type RpcResult<T> = Result<Response<T>, Status>;

/// The label keys of a metric: the base keys, then the kind's own.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Keys {
    Base,
    Network,
    Disk,
    Blkio,
    Failures,
}

const BASE_KEYS: &[&str] = &["pod", "namespace", "container", "id", "image"];

impl Keys {
    fn extra(self) -> &'static [&'static str] {
        match self {
            Keys::Base => &[],
            Keys::Network => &["interface"],
            Keys::Disk => &["device"],
            Keys::Blkio => &["device", "major", "minor", "operation"],
            Keys::Failures => &["failure_type", "scope"],
        }
    }
}

/// Every metric served: name, help, label keys (containerd's table).
#[rustfmt::skip]
const DESCRIPTORS: &[(&str, &str, Keys)] = &[
    // CPU
    ("container_cpu_user_seconds_total", "Cumulative user CPU time consumed in seconds.", Keys::Base),
    ("container_cpu_system_seconds_total", "Cumulative system CPU time consumed in seconds.", Keys::Base),
    ("container_cpu_usage_seconds_total", "Cumulative CPU time consumed in seconds.", Keys::Base),
    ("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", Keys::Base),
    ("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", Keys::Base),
    ("container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", Keys::Base),
    // Memory
    ("container_memory_cache", "Number of bytes of page cache memory.", Keys::Base),
    ("container_memory_rss", "Size of RSS in bytes.", Keys::Base),
    ("container_memory_kernel_usage", "Size of kernel memory allocated in bytes.", Keys::Base),
    ("container_memory_mapped_file", "Size of memory mapped files in bytes.", Keys::Base),
    ("container_memory_swap", "Container swap usage in bytes.", Keys::Base),
    ("container_memory_failcnt", "Number of memory usage hits limits (cgroup v1; 0 on v2).", Keys::Base),
    ("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", Keys::Base),
    ("container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes.", Keys::Base),
    ("container_memory_working_set_bytes", "Current working set in bytes.", Keys::Base),
    ("container_memory_total_active_file_bytes", "Current total active file in bytes.", Keys::Base),
    ("container_memory_total_inactive_file_bytes", "Current total inactive file in bytes.", Keys::Base),
    ("container_memory_failures_total", "Cumulative count of memory allocation failures.", Keys::Failures),
    ("container_oom_events_total", "Count of out of memory events observed for the container.", Keys::Base),
    // Filesystem (the writable layer on its filesystem)
    ("container_fs_inodes_free", "Number of available Inodes.", Keys::Disk),
    ("container_fs_inodes_total", "Number of Inodes.", Keys::Disk),
    ("container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", Keys::Disk),
    ("container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", Keys::Disk),
    // Block I/O
    ("container_fs_reads_bytes_total", "Cumulative count of bytes read.", Keys::Disk),
    ("container_fs_reads_total", "Cumulative count of reads completed.", Keys::Disk),
    ("container_fs_writes_bytes_total", "Cumulative count of bytes written.", Keys::Disk),
    ("container_fs_writes_total", "Cumulative count of writes completed.", Keys::Disk),
    ("container_blkio_device_usage_total", "Blkio device bytes usage.", Keys::Blkio),
    // Network (the pod's)
    ("container_network_receive_bytes_total", "Cumulative count of bytes received.", Keys::Network),
    ("container_network_receive_packets_total", "Cumulative count of packets received.", Keys::Network),
    ("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving.", Keys::Network),
    ("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", Keys::Network),
    ("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", Keys::Network),
    ("container_network_transmit_packets_total", "Cumulative count of packets transmitted.", Keys::Network),
    ("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting.", Keys::Network),
    ("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", Keys::Network),
    // Processes
    ("container_processes", "Number of processes running inside the container.", Keys::Base),
    ("container_file_descriptors", "Number of open file descriptors for the container.", Keys::Base),
    ("container_sockets", "Number of open sockets for the container.", Keys::Base),
    ("container_threads_max", "Maximum number of threads allowed inside the container, infinity if value is zero.", Keys::Base),
    ("container_threads", "Number of threads running inside the container.", Keys::Base),
    // Miscellaneous
    ("container_last_seen", "Last time a container was seen by the exporter.", Keys::Base),
    ("container_start_time_seconds", "Start time of the container since unix epoch in seconds.", Keys::Base),
    // The container's cgroup limits
    ("container_spec_cpu_period", "CPU period of the container.", Keys::Base),
    ("container_spec_cpu_quota", "CPU quota of the container.", Keys::Base),
    ("container_spec_cpu_shares", "CPU share of the container.", Keys::Base),
    ("container_spec_memory_limit_bytes", "Memory limit for the container.", Keys::Base),
    ("container_spec_memory_reservation_limit_bytes", "Memory reservation limit for the container.", Keys::Base),
    ("container_spec_memory_swap_limit_bytes", "Memory swap limit for the container.", Keys::Base),
];

#[cfg(test)]
fn keys_of(name: &str) -> Option<Keys> {
    DESCRIPTORS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, k)| *k)
}

fn descriptors() -> Vec<proto::MetricDescriptor> {
    DESCRIPTORS
        .iter()
        .map(|(name, help, keys)| proto::MetricDescriptor {
            name: name.to_string(),
            help: help.to_string(),
            label_keys: BASE_KEYS
                .iter()
                .chain(keys.extra())
                .map(|k| k.to_string())
                .collect(),
        })
        .collect()
}

pub(crate) async fn list_metric_descriptors() -> RpcResult<proto::ListMetricDescriptorsResponse> {
    Ok(Response::new(proto::ListMetricDescriptorsResponse {
        descriptors: descriptors(),
    }))
}

/// Metrics under construction: the base label values and the time of the sample.
struct Out {
    base: Vec<String>,
    timestamp: i64,
    metrics: Vec<proto::Metric>,
}

impl Out {
    fn new(base: Vec<String>) -> Self {
        Out {
            base,
            timestamp: crate::sandbox::chrono_now_ns(),
            metrics: Vec::new(),
        }
    }

    fn push(&mut self, name: &str, kind: proto::MetricType, extra: &[&str], value: u64) {
        let mut label_values = self.base.clone();
        label_values.extend(extra.iter().map(|v| v.to_string()));
        self.metrics.push(proto::Metric {
            name: name.to_string(),
            timestamp: self.timestamp,
            metric_type: kind as i32,
            label_values,
            value: Some(proto::UInt64Value { value }),
        });
    }
}

const NANOS: u64 = 1_000_000_000;

/// One block device counter row.
#[derive(Debug, Clone, Default)]
struct IoRow {
    device: String,
    major: u64,
    minor: u64,
    /// As the kernel names it (v1 `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`; v2
    /// `read`, `write`).
    op: String,
    value: u64,
}

/// The writable layer on its filesystem.
#[derive(Debug, Clone, Default)]
struct FsSample {
    device: String,
    usage_bytes: u64,
    limit_bytes: u64,
    inodes_total: u64,
    inodes_free: u64,
}

/// What is read of one running container.
#[derive(Debug, Clone, Default)]
struct Sample {
    cpu_total_ns: u64,
    cpu_user_ns: u64,
    cpu_system_ns: u64,
    cfs_periods: u64,
    cfs_throttled_periods: u64,
    cfs_throttled_ns: u64,
    mem_usage: u64,
    mem_max_usage: u64,
    mem_working_set: u64,
    mem_rss: u64,
    mem_cache: u64,
    mem_mapped_file: u64,
    mem_kernel: u64,
    mem_swap: u64,
    mem_failcnt: u64,
    mem_active_file: u64,
    mem_inactive_file: u64,
    pgfault: u64,
    pgmajfault: u64,
    oom_kills: u64,
    io_bytes: Vec<IoRow>,
    io_ops: Vec<IoRow>,
    fs: Option<FsSample>,
    processes: u64,
    threads: u64,
    threads_max: u64,
    fds: u64,
    sockets: u64,
    start_time_s: u64,
    last_seen_s: u64,
    spec_cpu_period: Option<u64>,
    spec_cpu_quota: Option<u64>,
    spec_cpu_shares: Option<u64>,
    spec_memory_limit: Option<u64>,
    spec_memory_reservation: Option<u64>,
    spec_memory_swap_limit: Option<u64>,
}

/// A container's metrics from its sample; `base` are the values of [`BASE_KEYS`].
fn container_metrics(s: &Sample, base: Vec<String>) -> Vec<proto::Metric> {
    let mut o = Out::new(base);
    o.push("container_last_seen", Gauge, &[], s.last_seen_s);
    o.push("container_start_time_seconds", Gauge, &[], s.start_time_s);

    o.push(
        "container_cpu_usage_seconds_total",
        Counter,
        &[],
        s.cpu_total_ns / NANOS,
    );
    o.push(
        "container_cpu_user_seconds_total",
        Counter,
        &[],
        s.cpu_user_ns / NANOS,
    );
    o.push(
        "container_cpu_system_seconds_total",
        Counter,
        &[],
        s.cpu_system_ns / NANOS,
    );
    o.push(
        "container_cpu_cfs_periods_total",
        Counter,
        &[],
        s.cfs_periods,
    );
    o.push(
        "container_cpu_cfs_throttled_periods_total",
        Counter,
        &[],
        s.cfs_throttled_periods,
    );
    o.push(
        "container_cpu_cfs_throttled_seconds_total",
        Counter,
        &[],
        s.cfs_throttled_ns / NANOS,
    );

    o.push("container_memory_usage_bytes", Gauge, &[], s.mem_usage);
    o.push(
        "container_memory_max_usage_bytes",
        Gauge,
        &[],
        s.mem_max_usage,
    );
    o.push(
        "container_memory_working_set_bytes",
        Gauge,
        &[],
        s.mem_working_set,
    );
    o.push("container_memory_rss", Gauge, &[], s.mem_rss);
    o.push("container_memory_cache", Gauge, &[], s.mem_cache);
    o.push(
        "container_memory_mapped_file",
        Gauge,
        &[],
        s.mem_mapped_file,
    );
    o.push("container_memory_kernel_usage", Gauge, &[], s.mem_kernel);
    o.push("container_memory_swap", Gauge, &[], s.mem_swap);
    o.push("container_memory_failcnt", Counter, &[], s.mem_failcnt);
    o.push(
        "container_memory_total_active_file_bytes",
        Gauge,
        &[],
        s.mem_active_file,
    );
    o.push(
        "container_memory_total_inactive_file_bytes",
        Gauge,
        &[],
        s.mem_inactive_file,
    );
    o.push(
        "container_memory_failures_total",
        Counter,
        &["pgfault", "container"],
        s.pgfault,
    );
    o.push(
        "container_memory_failures_total",
        Counter,
        &["pgmajfault", "container"],
        s.pgmajfault,
    );
    o.push("container_oom_events_total", Counter, &[], s.oom_kills);

    for r in &s.io_bytes {
        let (major, minor) = (r.major.to_string(), r.minor.to_string());
        o.push(
            "container_blkio_device_usage_total",
            Counter,
            &[&r.device, &major, &minor, &r.op],
            r.value,
        );
        match r.op.to_ascii_lowercase().as_str() {
            "read" => o.push(
                "container_fs_reads_bytes_total",
                Counter,
                &[&r.device],
                r.value,
            ),
            "write" => o.push(
                "container_fs_writes_bytes_total",
                Counter,
                &[&r.device],
                r.value,
            ),
            _ => {}
        }
    }
    for r in &s.io_ops {
        match r.op.to_ascii_lowercase().as_str() {
            "read" => o.push("container_fs_reads_total", Counter, &[&r.device], r.value),
            "write" => o.push("container_fs_writes_total", Counter, &[&r.device], r.value),
            _ => {}
        }
    }
    if let Some(fs) = &s.fs {
        let dev = [fs.device.as_str()];
        o.push("container_fs_usage_bytes", Gauge, &dev, fs.usage_bytes);
        o.push("container_fs_limit_bytes", Gauge, &dev, fs.limit_bytes);
        o.push("container_fs_inodes_total", Gauge, &dev, fs.inodes_total);
        o.push("container_fs_inodes_free", Gauge, &dev, fs.inodes_free);
    }

    o.push("container_processes", Gauge, &[], s.processes);
    o.push("container_threads", Gauge, &[], s.threads);
    o.push("container_threads_max", Gauge, &[], s.threads_max);
    o.push("container_file_descriptors", Gauge, &[], s.fds);
    o.push("container_sockets", Gauge, &[], s.sockets);

    let spec = [
        ("container_spec_cpu_period", s.spec_cpu_period),
        ("container_spec_cpu_quota", s.spec_cpu_quota),
        ("container_spec_cpu_shares", s.spec_cpu_shares),
        ("container_spec_memory_limit_bytes", s.spec_memory_limit),
        (
            "container_spec_memory_reservation_limit_bytes",
            s.spec_memory_reservation,
        ),
        (
            "container_spec_memory_swap_limit_bytes",
            s.spec_memory_swap_limit,
        ),
    ];
    for (name, v) in spec {
        if let Some(v) = v {
            o.push(name, Gauge, &[], v);
        }
    }
    o.metrics
}

/// The pod's network metrics, one set per interface of its namespace.
fn pod_metrics(
    base: Vec<String>,
    interfaces: &BTreeMap<String, NetworkStats>,
) -> Vec<proto::Metric> {
    let mut o = Out::new(base);
    for (name, n) in interfaces {
        let i = [name.as_str()];
        o.push(
            "container_network_receive_bytes_total",
            Counter,
            &i,
            n.rx_bytes,
        );
        o.push(
            "container_network_receive_packets_total",
            Counter,
            &i,
            n.rx_packets,
        );
        o.push(
            "container_network_receive_packets_dropped_total",
            Counter,
            &i,
            n.rx_dropped,
        );
        o.push(
            "container_network_receive_errors_total",
            Counter,
            &i,
            n.rx_errors,
        );
        o.push(
            "container_network_transmit_bytes_total",
            Counter,
            &i,
            n.tx_bytes,
        );
        o.push(
            "container_network_transmit_packets_total",
            Counter,
            &i,
            n.tx_packets,
        );
        o.push(
            "container_network_transmit_packets_dropped_total",
            Counter,
            &i,
            n.tx_dropped,
        );
        o.push(
            "container_network_transmit_errors_total",
            Counter,
            &i,
            n.tx_errors,
        );
    }
    o.metrics
}

/// The cgroup of a process, from `/proc/<pid>/cgroup`: on v2 one directory; on v1 (a hybrid
/// host included: its unified hierarchy holds no controllers) one per controller.
#[derive(Debug, Clone)]
enum Cgroup {
    V2(PathBuf),
    V1(HashMap<String, PathBuf>),
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

impl Cgroup {
    fn of(pid: i64) -> Option<Cgroup> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        Self::parse(
            &text,
            Path::new(CGROUP_ROOT).join("cgroup.controllers").exists(),
        )
    }

    fn parse(text: &str, unified: bool) -> Option<Cgroup> {
        let mut v1 = HashMap::new();
        for line in text.lines() {
            let mut f = line.splitn(3, ':');
            let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let rel = path.trim_start_matches('/');
            if unified {
                if ctrls.is_empty() {
                    return Some(Cgroup::V2(Path::new(CGROUP_ROOT).join(rel)));
                }
                continue;
            }
            for c in ctrls.split(',').filter(|c| !c.is_empty()) {
                let mount = c.strip_prefix("name=").unwrap_or(c);
                v1.insert(c.to_string(), Path::new(CGROUP_ROOT).join(mount).join(rel));
            }
        }
        (!unified && !v1.is_empty()).then_some(Cgroup::V1(v1))
    }

    /// The directory holding `controller`'s files.
    fn dir(&self, controller: &str) -> Option<&Path> {
        match self {
            Cgroup::V2(d) => Some(d),
            Cgroup::V1(m) => m.get(controller).map(PathBuf::as_path),
        }
    }

    fn read(&self, controller: &str, file: &str) -> Option<String> {
        std::fs::read_to_string(self.dir(controller)?.join(file)).ok()
    }

    fn number(&self, controller: &str, file: &str) -> Option<u64> {
        self.read(controller, file)?.trim().parse().ok()
    }

    /// A `key value` entry of a flat keyed file (memory.events, memory.oom_control).
    fn keyed(&self, controller: &str, file: &str, key: &str) -> Option<u64> {
        self.read(controller, file)?.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
    }

    fn lines(&self, controller: &str, file: &str) -> Vec<i64> {
        self.read(controller, file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

/// `/dev/<name>` of a block device by its numbers, else `major:minor`.
fn device_name(major: u64, minor: u64) -> String {
    std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("DEVNAME=").map(|n| format!("/dev/{n}")))
        })
        .unwrap_or_else(|| format!("{major}:{minor}"))
}

/// Open descriptors and, of them, sockets, of the processes `pids`.
fn descriptors_of(pids: &[i64]) -> (u64, u64) {
    let (mut fds, mut sockets) = (0, 0);
    for pid in pids {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for e in dir.flatten() {
            fds += 1;
            if std::fs::read_link(e.path())
                .map(|t| t.as_os_str().as_encoded_bytes().starts_with(b"socket:"))
                .unwrap_or(false)
            {
                sockets += 1;
            }
        }
    }
    (fds, sockets)
}

/// cgroup v2's `cpu.weight` as v1 shares (the inverse of runc's shares-to-weight mapping).
fn weight_to_shares(weight: u64) -> u64 {
    2 + (weight.saturating_sub(1) * 262142) / 9999
}

/// Reads what the Docker stats frame `f` does not hold from the container's cgroup and procfs.
fn gather(
    cg: Option<&Cgroup>,
    started_s: u64,
    f: &StatsResponse,
    layer: Option<FsSample>,
) -> Sample {
    let mut s = Sample {
        last_seen_s: crate::sandbox::chrono_now_ns().max(0) as u64 / NANOS,
        start_time_s: started_s,
        fs: layer,
        ..Default::default()
    };
    let cpu = &f.cpu_stats;
    s.cpu_total_ns = cpu.cpu_usage.total_usage;
    s.cpu_user_ns = cpu.cpu_usage.usage_in_usermode;
    s.cpu_system_ns = cpu.cpu_usage.usage_in_kernelmode;
    s.cfs_periods = cpu.throttling_data.periods;
    s.cfs_throttled_periods = cpu.throttling_data.throttled_periods;
    s.cfs_throttled_ns = cpu.throttling_data.throttled_time;

    let mem = &f.memory_stats;
    let empty = BTreeMap::new();
    let stat = mem.stats.as_ref().unwrap_or(&empty);
    let pick = |keys: &[&str]| keys.iter().find_map(|k| stat.get(*k).copied()).unwrap_or(0);
    s.mem_usage = mem.usage.unwrap_or(0);
    s.mem_inactive_file = pick(&["total_inactive_file", "inactive_file"]);
    s.mem_active_file = pick(&["total_active_file", "active_file"]);
    s.mem_working_set = s.mem_usage.saturating_sub(s.mem_inactive_file);
    s.mem_rss = pick(&["total_rss", "anon"]);
    s.mem_cache = pick(&["total_cache", "file"]);
    s.mem_mapped_file = pick(&["total_mapped_file", "file_mapped"]);
    s.pgfault = pick(&["pgfault"]);
    s.pgmajfault = pick(&["pgmajfault"]);
    s.mem_failcnt = mem.failcnt.unwrap_or(0);
    s.mem_max_usage = mem.max_usage.unwrap_or(s.mem_usage);

    let bytes = f.blkio_stats.io_service_bytes_recursive.iter().flatten();
    let ops = f.blkio_stats.io_serviced_recursive.iter().flatten();
    let row = |e: &berth_api::stats::BlkioStatEntry| IoRow {
        device: device_name(e.major, e.minor),
        major: e.major,
        minor: e.minor,
        op: e.op.clone(),
        value: e.value,
    };
    s.io_bytes = bytes.map(&row).collect();
    s.io_ops = ops.map(&row).collect();

    let Some(cg) = cg else {
        return s;
    };
    // Any v1 hierarchy lists the processes; pids is the usual one.
    let lines_any = |file: &str| {
        ["pids", "memory", "cpu"]
            .iter()
            .map(|c| cg.lines(c, file))
            .find(|l| !l.is_empty())
            .unwrap_or_default()
    };
    let procs = lines_any("cgroup.procs");
    s.processes = procs.len() as u64;
    (s.fds, s.sockets) = descriptors_of(&procs);
    match cg {
        Cgroup::V2(_) => {
            s.threads = cg.lines("pids", "cgroup.threads").len() as u64;
            s.threads_max = cg.number("pids", "pids.max").unwrap_or(0);
            s.oom_kills = cg.keyed("memory", "memory.events", "oom_kill").unwrap_or(0);
            s.mem_kernel = stat
                .get("kernel")
                .copied()
                .unwrap_or_else(|| pick(&["kernel_stack"]) + pick(&["slab"]));
            s.mem_swap = cg.number("memory", "memory.swap.current").unwrap_or(0);
            if let Some(peak) = cg.number("memory", "memory.peak") {
                s.mem_max_usage = peak;
            }
            // `max` is no limit: u64::MAX, as cAdvisor reports it on v2.
            let limit = |file: &str| {
                cg.read("memory", file).map(|t| match t.trim() {
                    "max" => u64::MAX,
                    v => v.parse().unwrap_or(0),
                })
            };
            s.spec_memory_limit = limit("memory.max");
            s.spec_memory_reservation = limit("memory.low");
            // v1's memsw limit is memory and swap together.
            s.spec_memory_swap_limit = match (limit("memory.swap.max"), s.spec_memory_limit) {
                (Some(swap), Some(mem)) => Some(swap.saturating_add(mem)),
                (swap, _) => swap,
            };
            s.spec_cpu_shares = cg.number("cpu", "cpu.weight").map(weight_to_shares);
            if let Some(max) = cg.read("cpu", "cpu.max") {
                let mut f = max.split_whitespace();
                let quota = f.next().and_then(|q| q.parse().ok());
                s.spec_cpu_period = f.next().and_then(|p| p.parse().ok());
                s.spec_cpu_quota = quota;
            }
        }
        Cgroup::V1(_) => {
            s.threads = lines_any("tasks").len() as u64;
            s.threads_max = cg.number("pids", "pids.max").unwrap_or(0);
            s.oom_kills = cg
                .keyed("memory", "memory.oom_control", "oom_kill")
                .unwrap_or(0);
            s.mem_kernel = cg
                .number("memory", "memory.kmem.usage_in_bytes")
                .unwrap_or(0);
            s.mem_swap = cg
                .number("memory", "memory.memsw.usage_in_bytes")
                .map(|memsw| memsw.saturating_sub(s.mem_usage))
                .unwrap_or(0);
            s.spec_memory_limit = cg.number("memory", "memory.limit_in_bytes");
            s.spec_memory_reservation = cg.number("memory", "memory.soft_limit_in_bytes");
            s.spec_memory_swap_limit = cg.number("memory", "memory.memsw.limit_in_bytes");
            s.spec_cpu_shares = cg.number("cpu", "cpu.shares");
            s.spec_cpu_period = cg.number("cpu", "cpu.cfs_period_us");
            // -1 is no quota and does not parse.
            s.spec_cpu_quota = cg.number("cpu", "cpu.cfs_quota_us");
        }
    }
    s
}

/// The writable layer of `id` on its filesystem.
async fn layer(d: &Daemon, id: &str) -> Option<FsSample> {
    let u = d.container_writable_layer(id).await.ok()?;
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::MetadataExt;
        let st = nix::sys::statvfs::statvfs(&u.path).ok()?;
        let dev = std::fs::metadata(&u.path).ok()?.dev();
        let frsize = st.fragment_size() as u64;
        Some(FsSample {
            device: device_name(nix::sys::stat::major(dev), nix::sys::stat::minor(dev)),
            usage_bytes: u.used_bytes,
            limit_bytes: (st.blocks() as u64).saturating_mul(frsize),
            inodes_total: st.files() as u64,
            inodes_free: st.files_free() as u64,
        })
    })
    .await
    .ok()
    .flatten()
}

/// The metrics of one running container; `None` when it is not running (any more).
async fn of_container(
    d: &Daemon,
    pod: &PodRecord,
    id: &str,
    m: &PodMember,
) -> Option<proto::ContainerMetrics> {
    let inspect = d.container_inspect(id, false).await.ok()?;
    let state = inspect.state?;
    let pid = state.pid.filter(|p| *p > 0)?;
    if state.running != Some(true) {
        return None;
    }
    let started_s = state
        .started_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp().max(0) as u64)
        .unwrap_or(0);
    let frame = crate::stats::frame(d, id, false).await.ok()?;
    let layer = layer(d, id).await;
    let sample = tokio::task::spawn_blocking(move || {
        gather(Cgroup::of(pid).as_ref(), started_s, &frame, layer)
    })
    .await
    .ok()?;
    let base = vec![
        pod.spec.name.clone(),
        pod.spec.namespace.clone(),
        m.name.clone(),
        id.to_string(),
        m.image.clone(),
    ];
    Some(proto::ContainerMetrics {
        container_id: id.to_string(),
        metrics: container_metrics(&sample, base),
    })
}

/// The metrics of every Ready pod and its running containers (containerd's selection).
pub(crate) async fn collect(d: &Daemon) -> Result<Vec<proto::PodSandboxMetrics>, Status> {
    let members = d.pod_members();
    let mut out = Vec::new();
    for pod in d.pod_list().map_err(status)? {
        if pod.state != PodState::Ready {
            continue;
        }
        // The pod's own network (a host-network pod has none of its own), through the holder.
        let interfaces = match (&pod.netns, pod.holder_pid) {
            (Some(_), pid) if pid > 0 => berth_daemon::net_interfaces(i64::from(pid)),
            _ => BTreeMap::new(),
        };
        let base = vec![
            pod.spec.name.clone(),
            pod.spec.namespace.clone(),
            String::new(),
            pod.id.clone(),
            String::new(),
        ];
        let mut container_metrics = Vec::new();
        for (id, m) in members.iter().filter(|(_, m)| m.sandbox_id == pod.id) {
            if let Some(c) = of_container(d, &pod, id, m).await {
                container_metrics.push(c);
            }
        }
        out.push(proto::PodSandboxMetrics {
            pod_sandbox_id: pod.id.clone(),
            metrics: pod_metrics(base, &interfaces),
            container_metrics,
        });
    }
    Ok(out)
}

pub(crate) async fn list_pod_sandbox_metrics(
    d: &Daemon,
) -> RpcResult<proto::ListPodSandboxMetricsResponse> {
    Ok(Response::new(proto::ListPodSandboxMetricsResponse {
        pod_metrics: collect(d).await?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<String> {
        ["pod", "ns", "ctr", "id", "img"].map(String::from).to_vec()
    }

    /// Every metric made has a descriptor, and as many label values as it has keys.
    fn check(metrics: &[proto::Metric]) {
        for m in metrics {
            let keys = keys_of(&m.name).unwrap_or_else(|| panic!("{} has no descriptor", m.name));
            assert_eq!(
                m.label_values.len(),
                BASE_KEYS.len() + keys.extra().len(),
                "{m:?}"
            );
        }
    }

    #[test]
    fn metrics_match_their_descriptors() {
        let s = Sample {
            cpu_total_ns: 3_500_000_000,
            io_bytes: vec![
                IoRow {
                    device: "/dev/vda".into(),
                    major: 254,
                    minor: 0,
                    op: "Read".into(),
                    value: 4096,
                },
                IoRow {
                    device: "/dev/vda".into(),
                    major: 254,
                    minor: 0,
                    op: "Total".into(),
                    value: 4096,
                },
            ],
            io_ops: vec![IoRow {
                device: "/dev/vda".into(),
                major: 254,
                minor: 0,
                op: "write".into(),
                value: 2,
            }],
            fs: Some(FsSample {
                device: "/dev/vda".into(),
                usage_bytes: 8192,
                ..Default::default()
            }),
            spec_cpu_period: Some(100_000),
            ..Default::default()
        };
        let ms = container_metrics(&s, base());
        check(&ms);
        let get = |n: &str| {
            ms.iter()
                .find(|m| m.name == n)
                .map(|m| m.value.as_ref().map(|v| v.value))
        };
        assert_eq!(get("container_cpu_usage_seconds_total"), Some(Some(3)));
        assert_eq!(get("container_fs_reads_bytes_total"), Some(Some(4096)));
        assert_eq!(get("container_fs_writes_total"), Some(Some(2)));
        assert_eq!(get("container_fs_usage_bytes"), Some(Some(8192)));
        assert_eq!(get("container_spec_cpu_period"), Some(Some(100_000)));
        // Limits not set are left out.
        assert_eq!(get("container_spec_cpu_quota"), None);
        let mut nets = BTreeMap::new();
        nets.insert(
            "eth0".to_string(),
            NetworkStats {
                rx_bytes: 10,
                ..Default::default()
            },
        );
        let pm = pod_metrics(base(), &nets);
        check(&pm);
        assert_eq!(pm.len(), 8);
        assert_eq!(pm[0].label_values.last().map(String::as_str), Some("eth0"));
    }

    fn write(dir: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).expect("mkdir");
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write");
        }
    }

    /// The files a cgroup v2 directory and v1 controller directories hold, read the same way.
    #[test]
    fn reads_v2_and_v1_cgroup_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let me = std::process::id().to_string();
        let frame = StatsResponse {
            memory_stats: berth_api::stats::MemoryStats {
                usage: Some(10 << 20),
                stats: Some(BTreeMap::from([
                    ("anon".to_string(), 6 << 20),
                    ("inactive_file".to_string(), 1 << 20),
                    ("kernel".to_string(), 300),
                ])),
                ..Default::default()
            },
            ..Default::default()
        };
        let v2 = tmp.path().join("v2");
        write(
            &v2,
            &[
                ("cgroup.procs", &format!("{me}\n")),
                ("cgroup.threads", &format!("{me}\n{me}\n")),
                ("pids.max", "max\n"),
                ("memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n"),
                ("memory.swap.current", "4096\n"),
                ("memory.peak", "20971520\n"),
                ("memory.max", "67108864\n"),
                ("memory.low", "0\n"),
                ("memory.swap.max", "0\n"),
                ("cpu.weight", "100\n"),
                ("cpu.max", "20000 100000\n"),
            ],
        );
        let s = gather(Some(&Cgroup::V2(v2)), 7, &frame, None);
        assert_eq!((s.processes, s.threads, s.threads_max), (1, 2, 0));
        assert!(s.fds >= 3, "{s:?}");
        assert_eq!((s.oom_kills, s.mem_swap, s.mem_kernel), (1, 4096, 300));
        assert_eq!((s.mem_max_usage, s.mem_rss), (20 << 20, 6 << 20));
        assert_eq!(s.mem_working_set, 9 << 20);
        assert_eq!(s.spec_memory_limit, Some(64 << 20));
        assert_eq!(s.spec_memory_swap_limit, Some(64 << 20));
        assert_eq!(s.spec_cpu_shares, Some(weight_to_shares(100)));
        assert_eq!(
            (s.spec_cpu_quota, s.spec_cpu_period),
            (Some(20000), Some(100000))
        );
        assert_eq!(s.start_time_s, 7);

        let root = tmp.path().join("v1");
        let ctl = |c: &str| root.join(c).join("kubepods/x");
        write(
            &ctl("pids"),
            &[
                ("cgroup.procs", &format!("{me}\n")),
                ("tasks", &format!("{me}\n")),
                ("pids.max", "64\n"),
            ],
        );
        write(
            &ctl("memory"),
            &[
                (
                    "memory.oom_control",
                    "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
                ),
                ("memory.kmem.usage_in_bytes", "512\n"),
                (
                    "memory.memsw.usage_in_bytes",
                    &format!("{}\n", (10 << 20) + 8192),
                ),
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
                ("memory.soft_limit_in_bytes", "9223372036854771712\n"),
            ],
        );
        write(
            &ctl("cpu"),
            &[
                ("cpu.shares", "1024\n"),
                ("cpu.cfs_period_us", "100000\n"),
                ("cpu.cfs_quota_us", "-1\n"),
            ],
        );
        let cg = Cgroup::V1(
            ["pids", "memory", "cpu"]
                .iter()
                .map(|c| (c.to_string(), ctl(c)))
                .collect(),
        );
        let s = gather(Some(&cg), 0, &frame, None);
        assert_eq!((s.processes, s.threads, s.threads_max), (1, 1, 64));
        assert_eq!((s.oom_kills, s.mem_kernel, s.mem_swap), (3, 512, 8192));
        assert_eq!(s.spec_cpu_shares, Some(1024));
        assert_eq!((s.spec_cpu_quota, s.spec_cpu_period), (None, Some(100000)));
        assert_eq!(s.spec_memory_limit, Some(9223372036854771712));
    }

    #[test]
    fn descriptors_are_unique_and_described() {
        let d = descriptors();
        let mut names: Vec<_> = d.iter().map(|d| d.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), d.len());
        assert!(d
            .iter()
            .all(|d| !d.help.is_empty() && !d.label_keys.is_empty()));
    }

    #[test]
    fn cgroup_files_of_v1_hybrid_and_v2() {
        let v1 = "12:pids:/kubepods/pod1/abc\n4:cpu,cpuacct:/kubepods/pod1/abc\n1:name=systemd:/x\n0::/x\n";
        let cg = Cgroup::parse(v1, false).expect("v1");
        assert_eq!(
            cg.dir("cpuacct"),
            Some(Path::new("/sys/fs/cgroup/cpuacct/kubepods/pod1/abc"))
        );
        assert_eq!(
            cg.dir("pids"),
            Some(Path::new("/sys/fs/cgroup/pids/kubepods/pod1/abc"))
        );
        assert_eq!(
            cg.dir("name=systemd"),
            Some(Path::new("/sys/fs/cgroup/systemd/x"))
        );
        let cg = Cgroup::parse("0::/kubepods/pod1/abc\n", true).expect("v2");
        assert_eq!(
            cg.dir("memory"),
            Some(Path::new("/sys/fs/cgroup/kubepods/pod1/abc"))
        );
        assert_eq!(weight_to_shares(100), 2 + 99 * 262142 / 9999);
        assert_eq!(weight_to_shares(1), 2);
    }
}
