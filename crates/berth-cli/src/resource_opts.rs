//! Resource flags shared by `run`, `create` and `update` (`--memory`, `--cpus`,
//! `--pids-limit`, ...), with docker's client-side parsing and messages.

use berth_api::models::{HostConfig, ThrottleDevice};
use clap::{ArgAction, Args};

use crate::container_opts::{parse_cpus, parse_ram, OptsError};

/// Flags `update` shares with `run` and `create`.
#[derive(Debug, Args, Default, Clone)]
pub struct ResourceOpts {
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory")]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<String>,
}

/// Flags only `run` and `create` have.
#[derive(Debug, Args, Default, Clone)]
pub struct CreateResourceOpts {
    #[command(flatten)]
    pub common: ResourceOpts,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set)]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Limit read rate (bytes per second) from a device
    #[arg(long = "device-read-bps")]
    pub device_read_bps: Vec<String>,
    /// Limit write rate (bytes per second) to a device
    #[arg(long = "device-write-bps")]
    pub device_write_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device
    #[arg(long = "device-read-iops")]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (IO per second) to a device
    #[arg(long = "device-write-iops")]
    pub device_write_iops: Vec<String>,
    /// Ulimit options
    #[arg(long = "ulimit")]
    pub ulimit: Vec<String>,
    /// Sysctl options
    #[arg(long = "sysctl")]
    pub sysctl: Vec<String>,
    /// Add a host device to the container
    #[arg(long = "device")]
    pub device: Vec<String>,
}

fn flag_error(value: &str, flag: &str, why: impl ToString) -> OptsError {
    OptsError::Flag(value.into(), flag.into(), why.to_string())
}

fn mem(value: &Option<String>, flag: &str) -> Result<Option<i64>, OptsError> {
    value
        .as_deref()
        .map(|v| parse_ram(v).map_err(|e| flag_error(v, flag, e)))
        .transpose()
}

impl ResourceOpts {
    /// Whether any flag was given (`update` needs one).
    pub fn any(&self) -> bool {
        self.cpus.is_some()
            || self.cpu_shares.is_some()
            || self.cpu_period.is_some()
            || self.cpu_quota.is_some()
            || self.cpuset_cpus.is_some()
            || self.cpuset_mems.is_some()
            || self.memory.is_some()
            || self.memory_swap.is_some()
            || self.memory_reservation.is_some()
            || self.pids_limit.is_some()
            || self.blkio_weight.is_some()
    }

    /// Sets these flags' fields in `hc`.
    pub fn apply(&self, hc: &mut HostConfig) -> Result<(), OptsError> {
        hc.nano_cpus = self.cpus.as_deref().map(parse_cpus).transpose()?;
        hc.cpu_shares = self.cpu_shares;
        hc.cpu_period = self.cpu_period;
        hc.cpu_quota = self.cpu_quota;
        hc.cpuset_cpus = self.cpuset_cpus.clone();
        hc.cpuset_mems = self.cpuset_mems.clone();
        hc.memory = mem(&self.memory, "-m, --memory")?;
        hc.memory_swap = match self.memory_swap.as_deref() {
            Some("-1") => Some(-1),
            _ => mem(&self.memory_swap, "--memory-swap")?,
        };
        hc.memory_reservation = mem(&self.memory_reservation, "--memory-reservation")?;
        hc.pids_limit = self.pids_limit;
        hc.blkio_weight = self
            .blkio_weight
            .as_deref()
            .map(|w| {
                w.parse::<u16>().map_err(|_| {
                    flag_error(
                        w,
                        "--blkio-weight",
                        format!("strconv.ParseUint: parsing \"{w}\": invalid syntax"),
                    )
                })
            })
            .transpose()?;
        Ok(())
    }
}

impl CreateResourceOpts {
    pub fn apply(&self, hc: &mut HostConfig) -> Result<(), OptsError> {
        self.common.apply(hc)?;
        hc.oom_kill_disable = Some(self.oom_kill_disable);
        hc.oom_score_adj = self.oom_score_adj;
        let throttles = |list: &[String], flag: &str, iops: bool| {
            let parsed: Result<Vec<ThrottleDevice>, OptsError> = list
                .iter()
                .map(|v| parse_throttle(v, iops).map_err(|e| flag_error(v, flag, e)))
                .collect();
            parsed.map(|l| (!l.is_empty()).then_some(l))
        };
        hc.blkio_device_read_bps = throttles(&self.device_read_bps, "--device-read-bps", false)?;
        hc.blkio_device_write_bps = throttles(&self.device_write_bps, "--device-write-bps", false)?;
        hc.blkio_device_read_iops = throttles(&self.device_read_iops, "--device-read-iops", true)?;
        hc.blkio_device_write_iops =
            throttles(&self.device_write_iops, "--device-write-iops", true)?;
        let ulimits = self
            .ulimit
            .iter()
            .map(|u| parse_ulimit(u).map_err(|e| flag_error(u, "--ulimit", e)))
            .collect::<Result<Vec<_>, _>>()?;
        hc.ulimits = (!ulimits.is_empty()).then_some(ulimits);
        let mut sysctls = std::collections::HashMap::new();
        for s in &self.sysctl {
            let (k, v) = validate_sysctl(s).map_err(|e| flag_error(s, "--sysctl", e))?;
            sysctls.insert(k, v);
        }
        hc.sysctls = (!sysctls.is_empty()).then_some(sysctls);
        let devices = self
            .device
            .iter()
            .map(|d| parse_device(d).map_err(|e| flag_error(d, "--device", e)))
            .collect::<Result<Vec<_>, _>>()?;
        hc.devices = (!devices.is_empty()).then_some(devices);
        Ok(())
    }
}

/// `/dev/sda:1mb` (bytes, with units) or `/dev/sda:100` (IOPS), as docker's
/// `ValidateThrottle{Bps,IOps}Device`.
pub fn parse_throttle(val: &str, iops: bool) -> Result<ThrottleDevice, String> {
    let Some((path, rate)) = val.split_once(':').filter(|(p, _)| !p.is_empty()) else {
        return Err(format!("bad format: {val}"));
    };
    if !path.starts_with("/dev/") {
        return Err(format!("bad format for device path: {val}"));
    }
    let rate = if iops {
        rate.parse::<u64>().map(|r| r as i64).map_err(|_| {
            format!("invalid rate for device: {val}. The correct format is <device-path>:<number>. Number must be a positive integer")
        })?
    } else {
        parse_ram(rate).ok().filter(|r| *r >= 0).ok_or_else(|| {
            format!("invalid rate for device: {val}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb")
        })?
    };
    Ok(ThrottleDevice {
        path: Some(path.into()),
        rate: Some(rate),
    })
}

/// `name=soft[:hard]` (go-units `ParseUlimit`, in berth-types).
pub fn parse_ulimit(val: &str) -> Result<berth_api::models::ResourcesUlimits, String> {
    let u = berth_types::gocompat::ulimit::parse_ulimit(val).map_err(|e| e.to_string())?;
    Ok(berth_api::models::ResourcesUlimits {
        name: Some(u.name),
        soft: Some(u.soft),
        hard: Some(u.hard),
    })
}

/// Namespaced sysctls only (docker's `ValidateSysctl`): IPC ones and the network's.
pub fn validate_sysctl(val: &str) -> Result<(String, String), String> {
    let not_allowed = || format!("sysctl '{val}' is not allowed");
    let (key, value) = val.split_once('=').ok_or_else(not_allowed)?;
    if berth_types::gocompat::sysctl::ipc_namespaced(key) || key.starts_with("net.") {
        Ok((key.into(), value.into()))
    } else {
        Err(not_allowed())
    }
}

/// `host[:container][:permissions]`.
pub fn parse_device(val: &str) -> Result<berth_api::models::DeviceMapping, String> {
    let parts: Vec<&str> = val.split(':').collect();
    let valid_mode =
        |m: &str| !m.is_empty() && m.len() <= 3 && m.chars().all(|c| "rwm".contains(c));
    let (host, container, mode) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, m] if valid_mode(m) => (*h, *h, *m),
        [h, c] => (*h, *c, "rwm"),
        [h, c, m] => (*h, *c, *m),
        _ => return Err(format!("invalid device specification: {val}")),
    };
    if !valid_mode(mode) {
        return Err(format!("invalid device mode: {mode}"));
    }
    if !container.starts_with('/') {
        return Err(format!("bad format for path: {container}"));
    }
    Ok(berth_api::models::DeviceMapping {
        path_on_host: Some(host.into()),
        path_in_container: Some(container.into()),
        cgroup_permissions: Some(mode.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles() {
        let t = parse_throttle("/dev/vda:1mb", false).unwrap();
        assert_eq!(
            (t.path.as_deref(), t.rate),
            (Some("/dev/vda"), Some(1 << 20))
        );
        assert_eq!(
            parse_throttle("/dev/vda:100", true).unwrap().rate,
            Some(100)
        );
        assert_eq!(parse_throttle("vda", false).unwrap_err(), "bad format: vda");
        assert_eq!(
            parse_throttle("/tmp/x:1", false).unwrap_err(),
            "bad format for device path: /tmp/x:1"
        );
        assert!(parse_throttle("/dev/vda:1mb", true)
            .unwrap_err()
            .starts_with("invalid rate for device"));
    }

    #[test]
    fn ulimits() {
        let u = parse_ulimit("nofile=100:200").unwrap();
        assert_eq!((u.soft, u.hard), (Some(100), Some(200)));
        assert_eq!(parse_ulimit("nproc=5").unwrap().hard, Some(5));
        assert_eq!(
            parse_ulimit("bogus=1").unwrap_err(),
            "invalid ulimit type: bogus"
        );
        assert_eq!(
            parse_ulimit("nofile").unwrap_err(),
            "invalid ulimit argument: nofile"
        );
        assert!(parse_ulimit("nofile=200:100")
            .unwrap_err()
            .starts_with("ulimit soft limit must be"));
    }

    #[test]
    fn sysctls_and_devices() {
        assert!(validate_sysctl("net.ipv4.ip_forward=1").is_ok());
        assert_eq!(
            validate_sysctl("kernel.pid_max=5").unwrap_err(),
            "sysctl 'kernel.pid_max=5' is not allowed"
        );
        let d = parse_device("/dev/null:/dev/mynull:rw").unwrap();
        assert_eq!(d.path_in_container.as_deref(), Some("/dev/mynull"));
        assert_eq!(
            parse_device("/dev/null:r")
                .unwrap()
                .cgroup_permissions
                .as_deref(),
            Some("r")
        );
        assert!(parse_device("/dev/null:/x:rwz").is_err());
    }
}
