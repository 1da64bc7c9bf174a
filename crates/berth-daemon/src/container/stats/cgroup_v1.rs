//! One stats sample from the cgroup v1 controllers (`<root>/<controller>/berth/<id>`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_api::stats::{BlkioStats, CpuStats, CpuUsage, MemoryStats, PidsStats, ThrottlingData};

use super::files::{blkio_v1, key_values, read_u64};
use super::host::{Host, NANOS_PER_SEC};

/// The directory of `controller` for the cgroup at `rel` (`berth/<id>`).
fn dir(root: &Path, controller: &str, rel: &str) -> PathBuf {
    root.join(controller).join(rel)
}

/// v1 marks "no limit" with a page-rounded i64::MAX.
const UNLIMITED_FLOOR: u64 = 1 << 62;

pub fn cpu(root: &Path, rel: &str, host: &Host) -> CpuStats {
    let acct = dir(root, "cpuacct", rel);
    let stat = key_values(&acct.join("cpuacct.stat"));
    let ticks = |k: &str| stat.get(k).copied().unwrap_or(0) * (NANOS_PER_SEC / host.clock_ticks);
    let percpu: Vec<u64> = std::fs::read_to_string(acct.join("cpuacct.usage_percpu"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let throttle = key_values(&dir(root, "cpu", rel).join("cpu.stat"));
    let t = |k: &str| throttle.get(k).copied().unwrap_or(0);
    CpuStats {
        cpu_usage: CpuUsage {
            total_usage: read_u64(&acct.join("cpuacct.usage")).unwrap_or(0),
            percpu_usage: (!percpu.is_empty()).then_some(percpu),
            usage_in_kernelmode: ticks("system"),
            usage_in_usermode: ticks("user"),
        },
        system_cpu_usage: Some(host.system_cpu_usage),
        online_cpus: Some(host.online_cpus),
        throttling_data: ThrottlingData {
            periods: t("nr_periods"),
            throttled_periods: t("nr_throttled"),
            throttled_time: t("throttled_time"),
        },
    }
}

/// The `memory.stat` entries dockerd reports on cgroup v1 (containerd's v1 metrics, which
/// know no others: no shmem, swap or workingset counters).
const V1_MEMORY_KEYS: &[&str] = &[
    "cache",
    "rss",
    "rss_huge",
    "mapped_file",
    "dirty",
    "writeback",
    "pgpgin",
    "pgpgout",
    "pgfault",
    "pgmajfault",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "hierarchical_memory_limit",
    "hierarchical_memsw_limit",
    "total_cache",
    "total_rss",
    "total_rss_huge",
    "total_mapped_file",
    "total_dirty",
    "total_writeback",
    "total_pgpgin",
    "total_pgpgout",
    "total_pgfault",
    "total_pgmajfault",
    "total_inactive_anon",
    "total_active_anon",
    "total_inactive_file",
    "total_active_file",
    "total_unevictable",
];

pub fn memory(root: &Path, rel: &str, host: &Host) -> MemoryStats {
    let mem = dir(root, "memory", rel);
    let stats: BTreeMap<String, u64> = key_values(&mem.join("memory.stat"))
        .into_iter()
        .filter(|(k, _)| V1_MEMORY_KEYS.contains(&k.as_str()))
        .collect();
    let limit = read_u64(&mem.join("memory.limit_in_bytes"))
        .filter(|l| *l < UNLIMITED_FLOOR)
        .map_or(host.memory_total, |l| l.min(host.memory_total));
    MemoryStats {
        usage: read_u64(&mem.join("memory.usage_in_bytes")),
        max_usage: read_u64(&mem.join("memory.max_usage_in_bytes")),
        stats: (!stats.is_empty()).then_some(stats),
        failcnt: read_u64(&mem.join("memory.failcnt")),
        limit: Some(limit),
    }
}

pub fn pids(root: &Path, rel: &str) -> PidsStats {
    let p = dir(root, "pids", rel);
    PidsStats {
        current: read_u64(&p.join("pids.current")),
        // "max" does not parse: no limit, which dockerd leaves out.
        limit: read_u64(&p.join("pids.max")),
    }
}

pub fn blkio(root: &Path, rel: &str) -> BlkioStats {
    let b = dir(root, "blkio", rel);
    // On cgroup v1 dockerd sends every list, empty when the kernel lacks the counter.
    let pick = |names: &[&str]| {
        Some(
            names
                .iter()
                .map(|n| b.join(n))
                .find(|p| p.exists())
                .map(|p| blkio_v1(&p))
                .unwrap_or_default(),
        )
    };
    BlkioStats {
        io_service_bytes_recursive: pick(&[
            "blkio.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes_recursive",
        ]),
        io_serviced_recursive: pick(&[
            "blkio.io_serviced_recursive",
            "blkio.throttle.io_serviced_recursive",
        ]),
        io_queue_recursive: pick(&["blkio.io_queued_recursive"]),
        io_service_time_recursive: pick(&["blkio.io_service_time_recursive"]),
        io_wait_time_recursive: pick(&["blkio.io_wait_time_recursive"]),
        io_merged_recursive: pick(&["blkio.io_merged_recursive"]),
        io_time_recursive: pick(&["blkio.time_recursive"]),
        sectors_recursive: pick(&["blkio.sectors_recursive"]),
    }
}
