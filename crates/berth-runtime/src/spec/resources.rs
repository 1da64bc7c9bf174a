//! Resource limits in the container's cgroup (`linux.resources`), devices given to it
//! (`linux.devices`) and process rlimits, as dockerd's `oci_linux.go` writes them.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use serde_json::{json, Map, Value};

/// cgroup limits; `None` leaves the kernel's default (or, on update, the current value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Hard memory limit in bytes.
    pub memory: Option<i64>,
    /// Memory plus swap in bytes; -1 is unlimited swap.
    pub memory_swap: Option<i64>,
    /// Soft limit in bytes.
    pub memory_reservation: Option<i64>,
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds per period.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks; -1 is unlimited.
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub read_bps: Vec<Throttle>,
    pub write_bps: Vec<Throttle>,
    pub read_iops: Vec<Throttle>,
    pub write_iops: Vec<Throttle>,
}

/// A per-device I/O throttle: the device's numbers and the rate (bytes or operations/s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    pub major: u64,
    pub minor: u64,
    pub rate: u64,
}

/// `--device host[:container[:permissions]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    pub host: PathBuf,
    pub container: String,
    /// Some of `r`, `w`, `m`.
    pub permissions: String,
}

/// `--ulimit name=soft:hard`, with `name` as docker spells it (`nofile`, `nproc`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error("error gathering device information while adding custom device \"{0}\": {1}")]
    Device(String, String),
}

impl Resources {
    /// The OCI `linux.resources` members these limits set (everything but `devices`).
    pub fn to_oci(&self) -> Map<String, Value> {
        let mut out = Map::new();
        let mut memory = Map::new();
        put(&mut memory, "limit", self.memory);
        put(&mut memory, "swap", self.memory_swap);
        put(&mut memory, "reservation", self.memory_reservation);
        if !memory.is_empty() {
            out.insert("memory".into(), memory.into());
        }
        let mut cpu = Map::new();
        put(&mut cpu, "shares", self.cpu_shares);
        put(&mut cpu, "quota", self.cpu_quota);
        put(&mut cpu, "period", self.cpu_period);
        put(&mut cpu, "cpus", self.cpuset_cpus.clone());
        put(&mut cpu, "mems", self.cpuset_mems.clone());
        if !cpu.is_empty() {
            out.insert("cpu".into(), cpu.into());
        }
        if let Some(limit) = self.pids_limit {
            out.insert("pids".into(), json!({ "limit": limit }));
        }
        let mut blkio = Map::new();
        put(&mut blkio, "weight", self.blkio_weight);
        for (key, list) in [
            ("throttleReadBpsDevice", &self.read_bps),
            ("throttleWriteBpsDevice", &self.write_bps),
            ("throttleReadIOPSDevice", &self.read_iops),
            ("throttleWriteIOPSDevice", &self.write_iops),
        ] {
            if !list.is_empty() {
                let entries: Vec<Value> = list
                    .iter()
                    .map(|t| json!({ "major": t.major, "minor": t.minor, "rate": t.rate }))
                    .collect();
                blkio.insert(key.into(), entries.into());
            }
        }
        if !blkio.is_empty() {
            out.insert("blockIO".into(), blkio.into());
        }
        out
    }
}

fn put<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        map.insert(key.into(), v.into());
    }
}

/// The `linux.devices` entry and the device-cgroup rule for a `--device`.
pub fn device_entries(d: &DeviceMapping) -> Result<(Value, Value), ResourceError> {
    let shown = d.host.display().to_string();
    let meta = std::fs::metadata(&d.host)
        .map_err(|e| ResourceError::Device(shown.clone(), io_text(&e)))?;
    let ft = meta.file_type();
    let kind = if ft.is_block_device() {
        "b"
    } else if ft.is_char_device() {
        "c"
    } else {
        return Err(ResourceError::Device(shown, "not a device node".into()));
    };
    let rdev = meta.rdev();
    let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
    let device = json!({
        "path": d.container,
        "type": kind,
        "major": major,
        "minor": minor,
        "fileMode": meta.mode() & 0o7777,
        "uid": meta.uid(),
        "gid": meta.gid(),
    });
    let rule = json!({
        "allow": true,
        "type": kind,
        "major": major,
        "minor": minor,
        "access": d.permissions,
    });
    Ok((device, rule))
}

/// The OCI `process.rlimits` entry for a `--ulimit` (`nofile` -> `RLIMIT_NOFILE`).
pub fn rlimit(u: &Ulimit) -> Value {
    json!({
        "type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()),
        "soft": u.soft,
        "hard": u.hard,
    })
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => e.to_string(),
    }
}
