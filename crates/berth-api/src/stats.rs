//! `GET /containers/{id}/stats`: dockerd's `StatsResponse` (the swagger spec leaves it loose, so
//! berth declares it). Field names and omissions follow moby's `api/types/container/stats.go`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One stats frame.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StatsResponse {
    /// RFC 3339 with nanoseconds; the zero time when never sampled.
    pub read: String,
    pub preread: String,
    pub pids_stats: PidsStats,
    pub blkio_stats: BlkioStats,
    #[serde(default)]
    pub num_procs: u32,
    #[serde(default)]
    pub storage_stats: StorageStats,
    pub cpu_stats: CpuStats,
    pub precpu_stats: CpuStats,
    pub memory_stats: MemoryStats,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub id: String,
    /// Per interface; absent without a network namespace of the container's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PidsStats {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// One `major:minor op value` row of a blkio counter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlkioStatEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// Counters dockerd leaves `null` when the cgroup does not have them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_queue_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

/// Windows-only in dockerd; an empty object on Linux.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StorageStats {}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuUsage {
    /// Nanoseconds of CPU time, all cpus.
    pub total_usage: u64,
    /// Per cpu, cgroup v1 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percpu_usage: Option<Vec<u64>>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ThrottlingData {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CpuStats {
    pub cpu_usage: CpuUsage,
    /// Nanoseconds of host CPU time (all cpus) since boot; absent in an empty precpu.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_cpu_usage: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_cpus: Option<u32>,
    pub throttling_data: ThrottlingData,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryStats {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<u64>,
    /// cgroup v1 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_usage: Option<u64>,
    /// `memory.stat` as the kernel names it (v1: cache, rss, total_inactive_file...; v2: anon,
    /// file, inactive_file...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<BTreeMap<String, u64>>,
    /// cgroup v1 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failcnt: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkStats {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

impl StatsResponse {
    /// The docker CLI's `CPU %`: container CPU time over host CPU time since the previous
    /// frame, times the cpus.
    pub fn cpu_percent(&self) -> f64 {
        let cpu_delta = self.cpu_stats.cpu_usage.total_usage as f64
            - self.precpu_stats.cpu_usage.total_usage as f64;
        let system_delta = self.cpu_stats.system_cpu_usage.unwrap_or(0) as f64
            - self.precpu_stats.system_cpu_usage.unwrap_or(0) as f64;
        let cpus = match self.cpu_stats.online_cpus {
            Some(n) if n > 0 => f64::from(n),
            _ => self
                .cpu_stats
                .cpu_usage
                .percpu_usage
                .as_ref()
                .map_or(0.0, |p| p.len() as f64),
        };
        if system_delta > 0.0 && cpu_delta > 0.0 {
            cpu_delta / system_delta * cpus * 100.0
        } else {
            0.0
        }
    }

    /// The docker CLI's memory usage: usage minus the inactive page cache.
    pub fn memory_usage_no_cache(&self) -> f64 {
        let usage = self.memory_stats.usage.unwrap_or(0);
        let stats = self.memory_stats.stats.clone().unwrap_or_default();
        let inactive = stats
            .get("total_inactive_file")
            .or_else(|| stats.get("inactive_file"))
            .copied()
            .unwrap_or(0);
        if inactive < usage {
            (usage - inactive) as f64
        } else {
            usage as f64
        }
    }

    /// Bytes read and written, summed over devices.
    pub fn block_io(&self) -> (u64, u64) {
        let mut read = 0;
        let mut write = 0;
        for e in self.blkio_stats.io_service_bytes_recursive.iter().flatten() {
            if e.op.eq_ignore_ascii_case("read") {
                read += e.value;
            } else if e.op.eq_ignore_ascii_case("write") {
                write += e.value;
            }
        }
        (read, write)
    }

    /// Bytes received and sent, summed over interfaces.
    pub fn network_io(&self) -> (u64, u64) {
        self.networks
            .iter()
            .flatten()
            .fold((0, 0), |(rx, tx), (_, n)| {
                (rx + n.rx_bytes, tx + n.tx_bytes)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_and_memory_follow_the_docker_cli() {
        let mut s = StatsResponse::default();
        s.cpu_stats.cpu_usage.total_usage = 2_000;
        s.precpu_stats.cpu_usage.total_usage = 1_000;
        s.cpu_stats.system_cpu_usage = Some(20_000);
        s.precpu_stats.system_cpu_usage = Some(10_000);
        s.cpu_stats.online_cpus = Some(2);
        assert!((s.cpu_percent() - 20.0).abs() < 1e-9);
        s.memory_stats.usage = Some(1000);
        s.memory_stats.stats = Some([("inactive_file".to_string(), 300)].into());
        assert_eq!(s.memory_usage_no_cache(), 700.0);
        let json = serde_json::to_value(&s).expect("json");
        assert!(json.get("networks").is_none());
        assert!(json["blkio_stats"]["io_service_bytes_recursive"].is_null());
    }
}
