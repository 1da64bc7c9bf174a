//! A container's resource settings: dockerd's checks and defaults
//! (`verifyPlatformContainerResources`, `adaptContainerSettings`), their translation into
//! cgroup limits, and how `update` merges into the stored HostConfig (`UpdateContainer`).

use std::os::unix::fs::MetadataExt;

use berth_api::models::{HostConfig, ThrottleDevice};
use berth_runtime::spec::{DeviceMapping, Resources, Throttle, Ulimit};
use berth_types::{Error, Result};

use crate::runtime::cgroup_support::{num_cpus, parse_list, CgroupSupport};

/// dockerd's floor (linuxMinMemory): below it a container could not even start.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The CFS period dockerd uses for `--cpus`, in microseconds.
const NANO_CPUS_PERIOD: u64 = 100_000;

fn invalid(msg: impl Into<String>) -> Error {
    Error::invalid(msg)
}

/// Checks `hc`'s resources against this host, discarding (with dockerd's warning) what the
/// host cannot enforce; `update` relaxes the checks that only apply at create.
pub fn verify(hc: &mut HostConfig, host: &CgroupSupport, update: bool) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let memory = hc.memory.unwrap_or(0);
    if memory != 0 && memory < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if memory > 0 && !host.memory {
        warnings.push("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
        hc.memory = Some(0);
        hc.memory_swap = Some(-1);
    }
    let memory = hc.memory.unwrap_or(0);
    let swap = hc.memory_swap.unwrap_or(0);
    if memory > 0 && swap != -1 && !host.swap {
        warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.".into());
        hc.memory_swap = Some(-1);
    }
    let swap = hc.memory_swap.unwrap_or(0);
    if memory > 0 && swap > 0 && swap < memory {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if memory == 0 && swap > 0 && !update {
        return Err(invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if let Some(s) = hc.memory_swappiness.filter(|s| *s != -1) {
        if !(0..=100).contains(&s) {
            return Err(invalid(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    }
    let reservation = hc.memory_reservation.unwrap_or(0);
    if reservation > 0 && !host.reservation {
        warnings.push("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.".into());
        hc.memory_reservation = Some(0);
    }
    let reservation = hc.memory_reservation.unwrap_or(0);
    if reservation > 0 && reservation < MIN_MEMORY {
        return Err(invalid("Minimum memory reservation allowed is 6MB"));
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return Err(invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if hc.oom_kill_disable.is_some() && !host.oom_kill_disable {
        if hc.oom_kill_disable == Some(true) {
            warnings.push(
                "Your kernel does not support OomKillDisable. OomKillDisable discarded.".into(),
            );
        }
        hc.oom_kill_disable = None;
    }
    if hc.oom_kill_disable == Some(true) && memory == 0 {
        warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".into());
    }
    if hc.pids_limit.is_some() && !host.pids {
        if hc.pids_limit.is_some_and(|p| p > 0) {
            warnings.push("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.".into());
        }
        hc.pids_limit = None;
    }

    let nano = hc.nano_cpus.unwrap_or(0);
    let period = hc.cpu_period.unwrap_or(0);
    let quota = hc.cpu_quota.unwrap_or(0);
    if nano > 0 && period > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if nano > 0 && quota > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if nano > 0 && !host.cpu_cfs {
        return Err(invalid("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted"));
    }
    // Counting the CPUs reads the cgroup's quota; only a limit needs it.
    if nano != 0 {
        let cpus = num_cpus();
        if nano < 0 || nano > cpus as i64 * 1_000_000_000 {
            return Err(invalid(format!(
                "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
            )));
        }
    }
    if hc.cpu_shares.unwrap_or(0) > 0 && !host.cpu_shares {
        warnings.push(
            "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded."
                .into(),
        );
        hc.cpu_shares = Some(0);
    }
    if (period != 0 || quota != 0) && !host.cpu_cfs {
        warnings.push(
            "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.".into(),
        );
        hc.cpu_period = Some(0);
        hc.cpu_quota = Some(0);
    }
    let period = hc.cpu_period.unwrap_or(0);
    let quota = hc.cpu_quota.unwrap_or(0);
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return Err(invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if quota > 0 && quota < 1000 {
        return Err(invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    if hc.cpu_shares.is_some_and(|s| s < 0) {
        return Err(invalid("shares: invalid argument"));
    }

    let cpuset_cpus = hc.cpuset_cpus.clone().unwrap_or_default();
    let cpuset_mems = hc.cpuset_mems.clone().unwrap_or_default();
    if (!cpuset_cpus.is_empty() || !cpuset_mems.is_empty()) && !host.cpuset {
        warnings.push(
            "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded."
                .into(),
        );
        hc.cpuset_cpus = Some(String::new());
        hc.cpuset_mems = Some(String::new());
    } else {
        check_cpuset(&cpuset_cpus, &host.cpus, "cpus", "CPUs")?;
        check_cpuset(&cpuset_mems, &host.mems, "mems", "memory nodes")?;
    }

    if hc.blkio_weight.unwrap_or(0) > 0 && !host.blkio_weight {
        warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into());
        hc.blkio_weight = Some(0);
    }
    if let Some(w) = hc.blkio_weight.filter(|w| *w > 0) {
        if !(10..=1000).contains(&w) {
            return Err(invalid("Range of blkio weight is from 10 to 1000"));
        }
    }
    let throttles = [
        &mut hc.blkio_device_read_bps,
        &mut hc.blkio_device_write_bps,
        &mut hc.blkio_device_read_iops,
        &mut hc.blkio_device_write_iops,
    ];
    let labels = [
        "BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.",
        "BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded.",
        "IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded.",
        "IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded.",
    ];
    for (list, label) in throttles.into_iter().zip(labels) {
        if list.as_ref().is_some_and(|l| !l.is_empty()) && !host.blkio_throttle {
            warnings.push(format!("Your kernel does not support {label}"));
            *list = Some(Vec::new());
        }
    }

    if hc.shm_size.is_some_and(|s| s < 0) {
        return Err(invalid("SHM size can not be less than 0"));
    }
    if let Some(adj) = hc.oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            return Err(invalid(format!(
                "Invalid value {adj}, range for oom score adj is [-1000, 1000]"
            )));
        }
    }
    if !update {
        check_sysctls(hc)?;
        for u in hc.ulimits.iter().flatten() {
            ulimit(u)?;
        }
    }
    Ok(warnings)
}

fn check_cpuset(requested: &str, available: &str, what: &str, label: &str) -> Result<()> {
    if requested.is_empty() {
        return Ok(());
    }
    let Some(wanted) = parse_list(requested) else {
        return Err(invalid(format!(
            "Invalid value {requested} for cpuset {what}: invalid format: {requested}"
        )));
    };
    let have = parse_list(available).unwrap_or_default();
    if wanted.iter().any(|n| !have.contains(n)) {
        return Err(invalid(format!(
            "Requested {label} are not available - requested {requested}, available: {available}"
        )));
    }
    Ok(())
}

/// Network sysctls set a container's own namespace; with the host's they would change the host.
fn check_sysctls(hc: &HostConfig) -> Result<()> {
    let host_net = hc.network_mode.as_deref() == Some("host");
    for key in hc.sysctls.iter().flatten().map(|(k, _)| k) {
        if host_net && key.starts_with("net.") {
            return Err(invalid(format!(
                "sysctl \"{key}\" not allowed in host network namespace"
            )));
        }
    }
    Ok(())
}

/// dockerd's defaults filled in at create, so `inspect` shows what the container runs with.
pub fn adapt(hc: &mut HostConfig) {
    let memory = hc.memory.unwrap_or(0);
    if memory > 0 && hc.memory_swap.unwrap_or(0) == 0 {
        // By default swap may be as large as the memory limit.
        hc.memory_swap = Some(memory * 2);
    }
    if hc.oom_kill_disable.is_none() {
        hc.oom_kill_disable = Some(false);
    }
}

/// The cgroup limits for a container with `hc`.
pub fn limits(hc: &HostConfig) -> Result<Resources> {
    let positive = |v: Option<i64>| v.filter(|v| *v > 0);
    let nonzero = |v: Option<i64>| v.filter(|v| *v != 0);
    let mut r = Resources {
        memory: positive(hc.memory),
        memory_swap: nonzero(hc.memory_swap).filter(|_| positive(hc.memory).is_some()),
        memory_reservation: positive(hc.memory_reservation),
        cpu_shares: positive(hc.cpu_shares).map(|s| s as u64),
        cpuset_cpus: hc.cpuset_cpus.clone().filter(|c| !c.is_empty()),
        cpuset_mems: hc.cpuset_mems.clone().filter(|c| !c.is_empty()),
        // The API allows 0 and negatives to mean "no limit"; the cgroup wants -1.
        pids_limit: hc.pids_limit.map(|p| if p <= 0 { -1 } else { p }),
        blkio_weight: hc.blkio_weight.filter(|w| *w > 0),
        read_bps: throttles(hc.blkio_device_read_bps.as_deref())?,
        write_bps: throttles(hc.blkio_device_write_bps.as_deref())?,
        read_iops: throttles(hc.blkio_device_read_iops.as_deref())?,
        write_iops: throttles(hc.blkio_device_write_iops.as_deref())?,
        ..Default::default()
    };
    if let Some(nano) = positive(hc.nano_cpus) {
        r.cpu_period = Some(NANO_CPUS_PERIOD);
        r.cpu_quota = Some(nano * NANO_CPUS_PERIOD as i64 / 1_000_000_000);
    }
    if let Some(p) = nonzero(hc.cpu_period) {
        r.cpu_period = Some(p as u64);
    }
    if let Some(q) = nonzero(hc.cpu_quota) {
        r.cpu_quota = Some(q);
    }
    Ok(r)
}

fn throttles(list: Option<&[ThrottleDevice]>) -> Result<Vec<Throttle>> {
    list.unwrap_or_default()
        .iter()
        .map(|t| {
            let path = t.path.clone().unwrap_or_default();
            let meta = std::fs::metadata(&path)
                .map_err(|e| invalid(format!("stat {path}: {}", io_text(&e))))?;
            let rdev = meta.rdev();
            Ok(Throttle {
                major: nix::sys::stat::major(rdev),
                minor: nix::sys::stat::minor(rdev),
                rate: t.rate.unwrap_or(0).max(0) as u64,
            })
        })
        .collect()
}

/// `--device`s as the runtime takes them: the container path defaults to the host's, the
/// permissions to `rwm`.
pub fn devices(hc: &HostConfig) -> Result<Vec<DeviceMapping>> {
    hc.devices
        .iter()
        .flatten()
        .map(|d| {
            let host = d.path_on_host.clone().unwrap_or_default();
            if host.is_empty() {
                return Err(invalid("device path on host cannot be empty"));
            }
            let container = d
                .path_in_container
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| host.clone());
            let permissions = d
                .cgroup_permissions
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "rwm".into());
            if !permissions.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
                return Err(invalid(format!("invalid device mode: {permissions}")));
            }
            Ok(DeviceMapping {
                host: host.into(),
                container,
                permissions,
            })
        })
        .collect()
}

fn ulimit(u: &berth_api::models::ResourcesUlimits) -> Result<Ulimit> {
    let name = u.name.clone().unwrap_or_default();
    if !berth_types::gocompat::ulimit::is_rlimit_name(&name) {
        return Err(invalid(format!("invalid ulimit type: {name}")));
    }
    let (soft, hard) = (u.soft.unwrap_or(0), u.hard.unwrap_or(0));
    berth_types::gocompat::ulimit::check_limits(soft, hard).map_err(|e| invalid(e.to_string()))?;
    // -1 is "unlimited", which the kernel spells as all ones.
    let raw = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    Ok(Ulimit {
        name,
        soft: raw(soft),
        hard: raw(hard),
    })
}

pub fn ulimits(hc: &HostConfig) -> Result<Vec<Ulimit>> {
    hc.ulimits.iter().flatten().map(ulimit).collect()
}

/// Merges an update request into the stored HostConfig as dockerd's `UpdateContainer`:
/// zero means "unchanged".
pub fn merge_update(current: &mut HostConfig, upd: &HostConfig) -> Result<()> {
    let set = |v: Option<i64>| v.filter(|v| *v != 0);
    let (cur_nano, cur_period, cur_quota) = (
        current.nano_cpus.unwrap_or(0),
        current.cpu_period.unwrap_or(0),
        current.cpu_quota.unwrap_or(0),
    );
    let (nano, period, quota) = (
        upd.nano_cpus.unwrap_or(0),
        upd.cpu_period.unwrap_or(0),
        upd.cpu_quota.unwrap_or(0),
    );
    // --cpus is a quota and period; once one form is set, the other cannot be updated.
    if nano > 0 && cur_period > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        ));
    }
    if nano > 0 && cur_quota > 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
        ));
    }
    if period > 0 && cur_nano > 0 {
        return Err(invalid(
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
        ));
    }
    if quota > 0 && cur_nano > 0 {
        return Err(invalid(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
        ));
    }
    if let Some(w) = upd.blkio_weight.filter(|w| *w != 0) {
        current.blkio_weight = Some(w);
    }
    if let Some(v) = set(upd.cpu_shares) {
        current.cpu_shares = Some(v);
    }
    if let Some(v) = set(upd.nano_cpus) {
        current.nano_cpus = Some(v);
    }
    if let Some(v) = set(upd.cpu_period) {
        current.cpu_period = Some(v);
    }
    if let Some(v) = set(upd.cpu_quota) {
        current.cpu_quota = Some(v);
    }
    if let Some(c) = upd.cpuset_cpus.clone().filter(|c| !c.is_empty()) {
        current.cpuset_cpus = Some(c);
    }
    if let Some(m) = upd.cpuset_mems.clone().filter(|m| !m.is_empty()) {
        current.cpuset_mems = Some(m);
    }
    if let Some(m) = set(upd.memory) {
        if m > current.memory_swap.unwrap_or(0) && upd.memory_swap.unwrap_or(0) == 0 {
            return Err(invalid("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"));
        }
        current.memory = Some(m);
    }
    if let Some(v) = set(upd.memory_swap) {
        current.memory_swap = Some(v);
    }
    if let Some(v) = set(upd.memory_reservation) {
        current.memory_reservation = Some(v);
    }
    if let Some(p) = upd.pids_limit {
        current.pids_limit = Some(p);
    }
    if let Some(policy) = upd.restart_policy.as_ref().filter(|p| p.name.is_some()) {
        let none = matches!(
            policy.name.as_ref().map(|n| n.to_string()).as_deref(),
            Some("" | "no")
        );
        if current.auto_remove == Some(true) && !none {
            return Err(invalid(
                "Restart policy cannot be updated because AutoRemove is enabled for the container",
            ));
        }
        current.restart_policy = Some(policy.clone());
    }
    Ok(())
}

/// The limits an update request changes, for writing into a running container's cgroup.
pub fn update_limits(upd: &HostConfig) -> Result<Resources> {
    let mut r = limits(upd)?;
    // Only what the request names; swap alone may change without a memory limit.
    r.memory_swap = upd.memory_swap.filter(|v| *v != 0);
    Ok(r)
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> CgroupSupport {
        CgroupSupport {
            memory: true,
            swap: true,
            reservation: true,
            oom_kill_disable: true,
            cpu_shares: true,
            cpu_cfs: true,
            cpuset: true,
            pids: true,
            blkio_weight: false,
            blkio_throttle: true,
            cpus: "0-1".into(),
            mems: "0".into(),
        }
    }

    fn check(hc: HostConfig) -> std::result::Result<Vec<String>, String> {
        let mut hc = hc;
        verify(&mut hc, &host(), false).map_err(|e| e.message)
    }

    #[test]
    fn dockerd_messages() {
        let mb = 1024 * 1024;
        let cases = [
            (HostConfig { memory: Some(mb), ..Default::default() }, "Minimum memory limit allowed is 6MB"),
            (HostConfig { memory: Some(64 * mb), memory_swap: Some(32 * mb), ..Default::default() }, "Minimum memoryswap limit should be larger than memory limit, see usage"),
            (HostConfig { memory_swap: Some(32 * mb), ..Default::default() }, "You should always set the Memory limit when using Memoryswap limit, see usage"),
            (HostConfig { memory: Some(16 * mb), memory_reservation: Some(32 * mb), ..Default::default() }, "Minimum memory limit can not be less than memory reservation limit, see usage"),
            (HostConfig { cpu_period: Some(10), ..Default::default() }, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
            (HostConfig { cpu_quota: Some(10), ..Default::default() }, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
            (HostConfig { nano_cpus: Some(1), cpu_quota: Some(5000), ..Default::default() }, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
            (HostConfig { cpuset_cpus: Some("7".into()), ..Default::default() }, "Requested CPUs are not available - requested 7, available: 0-1"),
            (HostConfig { cpuset_cpus: Some("x".into()), ..Default::default() }, "Invalid value x for cpuset cpus: invalid format: x"),
            (HostConfig { cpuset_mems: Some("3".into()), ..Default::default() }, "Requested memory nodes are not available - requested 3, available: 0"),
            (HostConfig { oom_score_adj: Some(1001), ..Default::default() }, "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
        ];
        for (hc, want) in cases {
            assert_eq!(check(hc), Err(want.to_string()));
        }
        let too_many = (num_cpus() + 1) as i64 * 1_000_000_000;
        let msg = check(HostConfig {
            nano_cpus: Some(too_many),
            ..Default::default()
        })
        .expect_err("refused");
        assert!(msg.starts_with("Range of CPUs is from 0.01 to "), "{msg}");
        let warned = check(HostConfig {
            blkio_weight: Some(300),
            ..Default::default()
        })
        .expect("accepted");
        assert_eq!(warned, ["Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."]);
    }

    #[test]
    fn cpus_become_a_quota() {
        let r = limits(&HostConfig {
            nano_cpus: Some(1_500_000_000),
            pids_limit: Some(0),
            ..Default::default()
        })
        .expect("accepted");
        assert_eq!(
            (r.cpu_quota, r.cpu_period, r.pids_limit),
            (Some(150_000), Some(100_000), Some(-1))
        );
    }

    #[test]
    fn updates_merge_like_dockerd() {
        let mb = 1024 * 1024;
        let mut cur = HostConfig {
            memory: Some(64 * mb),
            memory_swap: Some(128 * mb),
            nano_cpus: Some(1_000_000_000),
            ..Default::default()
        };
        let err = merge_update(
            &mut cur.clone(),
            &HostConfig {
                memory: Some(256 * mb),
                ..Default::default()
            },
        )
        .expect_err("refused");
        assert!(
            err.message.starts_with("Memory limit should be smaller"),
            "{}",
            err.message
        );
        let err = merge_update(
            &mut cur.clone(),
            &HostConfig {
                cpu_quota: Some(5000),
                ..Default::default()
            },
        )
        .expect_err("refused");
        assert_eq!(
            err.message,
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        );
        merge_update(
            &mut cur,
            &HostConfig {
                memory: Some(96 * mb),
                pids_limit: Some(50),
                ..Default::default()
            },
        )
        .expect("accepted");
        assert_eq!(
            (cur.memory, cur.memory_swap, cur.pids_limit),
            (Some(96 * mb), Some(128 * mb), Some(50))
        );
    }
}
