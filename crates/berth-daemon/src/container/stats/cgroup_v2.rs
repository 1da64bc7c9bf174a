//! One stats sample from a cgroup v2 directory (`<root>/berth/<id>`).

use std::path::Path;

use berth_api::stats::{
    BlkioStatEntry, BlkioStats, CpuStats, CpuUsage, MemoryStats, PidsStats, ThrottlingData,
};

use super::files::{key_values, read_u64};
use super::host::Host;

pub fn cpu(dir: &Path, host: &Host) -> CpuStats {
    let stat = key_values(&dir.join("cpu.stat"));
    // cpu.stat counts microseconds; docker reports nanoseconds.
    let us = |k: &str| stat.get(k).copied().unwrap_or(0) * 1000;
    CpuStats {
        cpu_usage: CpuUsage {
            total_usage: us("usage_usec"),
            percpu_usage: None,
            usage_in_kernelmode: us("system_usec"),
            usage_in_usermode: us("user_usec"),
        },
        system_cpu_usage: Some(host.system_cpu_usage),
        online_cpus: Some(host.online_cpus),
        throttling_data: ThrottlingData {
            periods: stat.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: stat.get("nr_throttled").copied().unwrap_or(0),
            throttled_time: us("throttled_usec"),
        },
    }
}

pub fn memory(dir: &Path, host: &Host) -> MemoryStats {
    let stats = key_values(&dir.join("memory.stat"));
    // "max" does not parse: no limit, so the host's memory as dockerd reports it.
    let limit =
        read_u64(&dir.join("memory.max")).map_or(host.memory_total, |l| l.min(host.memory_total));
    MemoryStats {
        usage: read_u64(&dir.join("memory.current")),
        max_usage: None,
        stats: (!stats.is_empty()).then_some(stats),
        failcnt: None,
        limit: Some(limit),
    }
}

pub fn pids(dir: &Path) -> PidsStats {
    PidsStats {
        current: read_u64(&dir.join("pids.current")),
        limit: read_u64(&dir.join("pids.max")),
    }
}

/// `io.stat` lines (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...`) as dockerd maps them: bytes and
/// ios as `read`/`write` entries.
pub fn blkio(dir: &Path) -> BlkioStats {
    let text = std::fs::read_to_string(dir.join("io.stat")).unwrap_or_default();
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in fields {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "read"),
                "wbytes" => (&mut bytes, "write"),
                "rios" => (&mut ios, "read"),
                "wios" => (&mut ios, "write"),
                _ => continue,
            };
            list.push(BlkioStatEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    BlkioStats {
        io_service_bytes_recursive: Some(bytes),
        io_serviced_recursive: Some(ios),
        ..Default::default()
    }
}
