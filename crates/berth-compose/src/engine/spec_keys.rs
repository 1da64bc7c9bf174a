//! The less common service keys, mapped to the `/containers/create` body as compose's
//! `getCreateConfigs`/`getDeployResources`/`setBlkio`/`getLinks` map them
//! (`pkg/compose/create.go`): `userns_mode`, `cgroup`, `isolation`, `annotations`,
//! `storage_opt`, `volume_driver`, `device_cgroup_rules`, `mem_swappiness`, `oom_kill_disable`,
//! `cpu_count`, `cpu_percent`, `cpu_rt_runtime`, `cpu_rt_period`, `blkio_config`,
//! `external_links`, and the endpoint's `link_local_ips`.

use serde_json::{json, Map, Value};

use crate::model::{ServiceConfig, ServiceNetworkConfig, ThrottleDevice};

fn throttle(list: &[ThrottleDevice]) -> Value {
    json!(list
        .iter()
        .map(|d| json!({"Path": d.path, "Rate": d.rate.0.max(0) as u64}))
        .collect::<Vec<_>>())
}

/// Adds the keys to `HostConfig` (`host`), each only when set, except `OomKillDisable` which
/// compose always sends.
pub fn host_config(service: &ServiceConfig, host: &mut Map<String, Value>) {
    let mut set = |k: &str, v: Value, empty: bool| {
        if !empty {
            host.insert(k.into(), v);
        }
    };
    set(
        "UsernsMode",
        json!(service.userns_mode),
        service.userns_mode.is_empty(),
    );
    set(
        "CgroupnsMode",
        json!(service.cgroup),
        service.cgroup.is_empty(),
    );
    set(
        "Isolation",
        json!(service.isolation),
        service.isolation.is_empty(),
    );
    set(
        "Annotations",
        json!(service.annotations),
        service.annotations.is_empty(),
    );
    set(
        "StorageOpt",
        json!(service.storage_opt),
        service.storage_opt.is_empty(),
    );
    set(
        "VolumeDriver",
        json!(service.volume_driver),
        service.volume_driver.is_empty(),
    );
    set(
        "DeviceCgroupRules",
        json!(service.device_cgroup_rules),
        service.device_cgroup_rules.is_empty(),
    );
    set(
        "MemorySwappiness",
        json!(service.mem_swappiness.0),
        service.mem_swappiness.is_zero(),
    );
    set("OomKillDisable", json!(service.oom_kill_disable), false);
    set("CpuCount", json!(service.cpu_count), service.cpu_count == 0);
    // compose sends the percentage times 100 (`int64(s.CPUPercent * 100)`).
    let percent = (service.cpu_percent as f64 * 100.0) as i64;
    set("CpuPercent", json!(percent), percent == 0);
    set(
        "CpuRealtimePeriod",
        json!(service.cpu_rt_period),
        service.cpu_rt_period == 0,
    );
    set(
        "CpuRealtimeRuntime",
        json!(service.cpu_rt_runtime),
        service.cpu_rt_runtime == 0,
    );
    if let Some(b) = &service.blkio_config {
        let w = b.weight.unwrap_or(0);
        set("BlkioWeight", json!(w), w == 0);
        set(
            "BlkioWeightDevice",
            json!(b
                .weight_device
                .iter()
                .map(|d| json!({"Path": d.path, "Weight": d.weight}))
                .collect::<Vec<_>>()),
            b.weight_device.is_empty(),
        );
        for (k, list) in [
            ("BlkioDeviceReadBps", &b.device_read_bps),
            ("BlkioDeviceReadIOps", &b.device_read_iops),
            ("BlkioDeviceWriteBps", &b.device_write_bps),
            ("BlkioDeviceWriteIOps", &b.device_write_iops),
        ] {
            set(k, throttle(list), list.is_empty());
        }
    }
}

/// compose's `external_links` entries (`name[:alias]` → `name:alias`), appended to the links.
pub fn external_links(service: &ServiceConfig) -> Vec<String> {
    service
        .external_links
        .iter()
        .map(|l| {
            let (name, alias) = l.split_once(':').unwrap_or((l, l));
            format!("{name}:{alias}")
        })
        .collect()
}

/// The endpoint keys of one attachment beyond the IP addresses: `link_local_ips` in
/// `IPAMConfig`, and the links (`links`, `external_links`), which the daemon keeps per endpoint
/// on a user-defined network.
pub fn endpoint(cfg: Option<&ServiceNetworkConfig>, links: &[String], ep: &mut Map<String, Value>) {
    if let Some(c) = cfg {
        if !c.link_local_ips.is_empty() {
            let ipam = ep
                .entry("IPAMConfig")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = ipam {
                m.insert("LinkLocalIPs".into(), json!(c.link_local_ips));
            }
        }
        // API 1.49+ only (`create` refuses it below): the interface name as a driver option.
        if !c.interface_name.is_empty() {
            let opts = ep
                .entry("DriverOpts")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = opts {
                m.insert(
                    "com.docker.network.endpoint.ifname".into(),
                    json!(c.interface_name),
                );
            }
        }
    }
    if !links.is_empty() {
        ep.insert("Links".into(), json!(links));
    }
}

/// The first `interface_name` asked for by the service's attachments: compose refuses it below
/// API 1.49 (Docker Engine 28.1), as berthd's API is.
pub fn interface_name(service: &ServiceConfig) -> Option<&str> {
    service
        .networks
        .values()
        .flatten()
        .map(|n| n.interface_name.as_str())
        .find(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BlkioConfig, UnitBytes, WeightDevice};

    #[test]
    fn resources_and_blkio_as_compose_maps_them() {
        let s = ServiceConfig {
            userns_mode: "host".into(),
            cgroup: "private".into(),
            mem_swappiness: UnitBytes(60),
            cpu_count: 2,
            cpu_percent: 50.0,
            cpu_rt_runtime: 400,
            blkio_config: Some(BlkioConfig {
                weight: Some(300),
                weight_device: vec![WeightDevice {
                    path: "/dev/null".into(),
                    weight: 400,
                    ..Default::default()
                }],
                device_read_bps: vec![ThrottleDevice {
                    path: "/dev/null".into(),
                    rate: UnitBytes(12 << 20),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            external_links: vec!["other:a".into(), "plain".into()],
            ..Default::default()
        };
        let mut h = Map::new();
        host_config(&s, &mut h);
        assert_eq!(h["UsernsMode"], "host");
        assert_eq!(h["CgroupnsMode"], "private");
        assert_eq!(h["MemorySwappiness"], 60);
        assert_eq!(h["OomKillDisable"], false);
        assert_eq!(h["CpuPercent"], 5000);
        assert_eq!(h["CpuRealtimeRuntime"], 400);
        assert!(!h.contains_key("CpuRealtimePeriod"));
        assert_eq!(h["BlkioWeight"], 300);
        assert_eq!(
            h["BlkioWeightDevice"],
            json!([{"Path": "/dev/null", "Weight": 400}])
        );
        assert_eq!(
            h["BlkioDeviceReadBps"],
            json!([{"Path": "/dev/null", "Rate": 12582912}])
        );
        assert_eq!(external_links(&s), vec!["other:a", "plain:plain"]);
    }
}
