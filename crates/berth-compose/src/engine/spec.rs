//! A service's container as Compose v2 creates it (`pkg/compose/create.go`): the
//! `/containers/create` body built from the service config, with compose's labels.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::labels;
use crate::model::{Project, ServiceConfig, ServicePortConfig, VolumeType};

/// What differs between the containers of one service.
#[derive(Debug, Clone, Default)]
pub struct Instance {
    /// The container's name (`<project>-<service>-<n>`, `container_name`, or a run's name).
    pub name: String,
    pub number: i64,
    pub oneoff: bool,
    /// The image ID (`com.docker.compose.image`).
    pub image_id: String,
    /// `network_mode: service:x` resolved to `container:<id>`; `volumes_from` resolved.
    pub network_mode: Option<String>,
    pub volumes_from: Vec<String>,
    /// The container this one replaces (`com.docker.compose.replace`).
    pub replace: Option<String>,
    /// Extra labels (a run's slug).
    pub labels: BTreeMap<String, String>,
    /// Anonymous volumes of the container this one replaces, by target: reused, as compose
    /// keeps their data across a recreate.
    pub inherited_volumes: BTreeMap<String, String>,
}

/// The image a service's containers run: `image:`, else `<project>-<service>`.
pub fn image_name(project: &Project, service: &ServiceConfig) -> String {
    if service.image.is_empty() {
        format!("{}-{}", project.name, service.name)
    } else {
        service.image.clone()
    }
}

/// The labels of a service container.
pub fn container_labels(
    project: &Project,
    service: &ServiceConfig,
    inst: &Instance,
) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = service.labels.clone();
    l.insert(labels::PROJECT.into(), project.name.clone());
    l.insert(labels::SERVICE.into(), service.name.clone());
    l.insert(labels::VERSION.into(), labels::COMPOSE_VERSION.into());
    l.insert(labels::WORKING_DIR.into(), project.working_dir.clone());
    l.insert(labels::CONFIG_FILES.into(), project.compose_files.join(","));
    l.insert(
        labels::ONEOFF.into(),
        if inst.oneoff { "True" } else { "False" }.into(),
    );
    l.insert(
        labels::CONFIG_HASH.into(),
        super::hash::service_hash(service),
    );
    l.insert(labels::CONTAINER_NUMBER.into(), inst.number.to_string());
    l.insert(
        labels::DEPENDENCIES.into(),
        labels::depends_on_label(service),
    );
    if !inst.image_id.is_empty() {
        l.insert(labels::IMAGE_DIGEST.into(), inst.image_id.clone());
    }
    if let Some(r) = &inst.replace {
        l.insert(labels::REPLACE.into(), r.clone());
    }
    l.extend(inst.labels.clone());
    l
}

fn port_key(target: u32, protocol: &str) -> String {
    let proto = if protocol.is_empty() { "tcp" } else { protocol };
    format!("{target}/{proto}")
}

/// `ExposedPorts` and `PortBindings` from `expose` and `ports`.
pub fn ports(service: &ServiceConfig, publish: bool) -> (Map<String, Value>, Map<String, Value>) {
    let mut exposed = Map::new();
    let mut bindings: Map<String, Value> = Map::new();
    for e in &service.expose {
        let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        if let Some((a, b)) = port.split_once('-') {
            if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                for p in a..=b {
                    exposed.insert(port_key(p, proto), json!({}));
                }
                continue;
            }
        }
        exposed.insert(format!("{port}/{proto}"), json!({}));
    }
    for p in &service.ports {
        let key = port_key(p.target, &p.protocol);
        exposed.insert(key.clone(), json!({}));
        if !publish {
            continue;
        }
        let entry = bindings.entry(key).or_insert_with(|| json!([]));
        if let Value::Array(list) = entry {
            list.push(port_binding(p));
        }
    }
    (exposed, bindings)
}

fn port_binding(p: &ServicePortConfig) -> Value {
    json!({"HostIp": p.host_ip, "HostPort": p.published})
}

fn mounts(
    project: &Project,
    service: &ServiceConfig,
    inst: &Instance,
) -> (Vec<String>, Vec<Value>) {
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    for v in &service.volumes {
        match v.kind {
            VolumeType::Bind => {
                let create = v.bind.as_ref().is_none_or(|b| b.create_host_path);
                let propagation = v
                    .bind
                    .as_ref()
                    .map(|b| b.propagation.clone())
                    .unwrap_or_default();
                if create {
                    // Binds: the daemon creates a missing source, as compose relies on.
                    let mut opts = Vec::new();
                    if v.read_only {
                        opts.push("ro".to_string());
                    }
                    if !propagation.is_empty() {
                        opts.push(propagation);
                    }
                    let mut b = format!("{}:{}", v.source, v.target);
                    if !opts.is_empty() {
                        b.push(':');
                        b.push_str(&opts.join(","));
                    }
                    binds.push(b);
                } else {
                    let mut m = json!({"Type": "bind", "Source": v.source, "Target": v.target, "ReadOnly": v.read_only});
                    if !propagation.is_empty() {
                        m["BindOptions"] = json!({"Propagation": propagation});
                    }
                    mounts.push(m);
                }
            }
            VolumeType::Volume => {
                let source = if v.source.is_empty() {
                    inst.inherited_volumes
                        .get(&v.target)
                        .cloned()
                        .unwrap_or_default()
                } else {
                    project
                        .volumes
                        .get(&v.source)
                        .map(|c| {
                            if c.name.is_empty() {
                                format!("{}_{}", project.name, v.source)
                            } else {
                                c.name.clone()
                            }
                        })
                        .unwrap_or_else(|| v.source.clone())
                };
                let mut m = json!({"Type": "volume", "Source": source, "Target": v.target, "ReadOnly": v.read_only});
                if let Some(vo) = &v.volume {
                    let mut o = Map::new();
                    if vo.nocopy {
                        o.insert("NoCopy".into(), json!(true));
                    }
                    if !vo.subpath.is_empty() {
                        o.insert("Subpath".into(), json!(vo.subpath));
                    }
                    if !vo.labels.is_empty() {
                        o.insert("Labels".into(), json!(vo.labels));
                    }
                    if !o.is_empty() {
                        m["VolumeOptions"] = Value::Object(o);
                    }
                }
                mounts.push(m);
            }
            VolumeType::Tmpfs => {
                let mut m = json!({"Type": "tmpfs", "Target": v.target, "ReadOnly": v.read_only});
                if let Some(t) = &v.tmpfs {
                    let mut o = Map::new();
                    if t.size.0 != 0 {
                        o.insert("SizeBytes".into(), json!(t.size.0));
                    }
                    if t.mode != 0 {
                        o.insert("Mode".into(), json!(t.mode));
                    }
                    if !o.is_empty() {
                        m["TmpfsOptions"] = Value::Object(o);
                    }
                }
                mounts.push(m);
            }
            _ => {
                mounts.push(json!({"Type": v.kind.as_str(), "Source": v.source, "Target": v.target, "ReadOnly": v.read_only}));
            }
        }
    }
    // File-based secrets and configs: bind-mounted read-only, where compose mounts them.
    for (refs, objs, base) in [
        (&service.secrets, &project.secrets, "/run/secrets/"),
        (&service.configs, &project.configs, "/"),
    ] {
        for r in refs {
            let Some(obj) = objs.get(&r.source) else {
                continue;
            };
            if obj.file.is_empty() {
                continue;
            }
            let target = if r.target.is_empty() {
                format!("{base}{}", r.source)
            } else if r.target.starts_with('/') {
                r.target.clone()
            } else {
                format!("{base}{}", r.target)
            };
            mounts.push(
                json!({"Type": "bind", "Source": obj.file, "Target": target, "ReadOnly": true}),
            );
        }
    }
    (binds, mounts)
}

/// The network key of each attachment, ordered as compose connects them.
pub fn service_networks(service: &ServiceConfig) -> Vec<String> {
    service.networks_by_priority()
}

/// The engine name of a project network.
pub fn network_name(project: &Project, key: &str) -> String {
    match project.networks.get(key) {
        Some(n) if !n.name.is_empty() => n.name.clone(),
        _ => format!("{}_{key}", project.name),
    }
}

fn restart_policy(service: &ServiceConfig) -> Value {
    if !service.restart.is_empty() {
        let (name, count) = service
            .restart
            .split_once(':')
            .map(|(a, b)| (a.to_string(), b.parse::<i64>().unwrap_or(0)))
            .unwrap_or((service.restart.clone(), 0));
        return json!({"Name": name, "MaximumRetryCount": count});
    }
    if let Some(rp) = service
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
    {
        let name = match rp.condition.as_str() {
            "on-failure" => "on-failure",
            "none" => "no",
            _ => "always",
        };
        return json!({"Name": name, "MaximumRetryCount": rp.max_attempts.unwrap_or(0)});
    }
    json!({"Name": "", "MaximumRetryCount": 0})
}

fn env(service: &ServiceConfig) -> Vec<String> {
    service
        .environment
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect()
}

fn healthcheck(service: &ServiceConfig) -> Option<Value> {
    let h = service.healthcheck.as_ref()?;
    if h.disable {
        return Some(json!({"Test": ["NONE"]}));
    }
    let mut m = Map::new();
    if !h.test.is_empty() {
        m.insert("Test".into(), json!(h.test));
    }
    for (k, v) in [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
    ] {
        if let Some(d) = v {
            m.insert(k.into(), json!(d.0));
        }
    }
    if let Some(r) = h.retries {
        m.insert("Retries".into(), json!(r));
    }
    Some(Value::Object(m))
}

/// The create body of one container of `service`.
pub fn create_body(
    project: &Project,
    service: &ServiceConfig,
    inst: &Instance,
    publish_ports: bool,
) -> Value {
    let (exposed, bindings) = ports(service, publish_ports);
    let (binds, mounts) = mounts(project, service, inst);
    let mut cfg = Map::new();
    cfg.insert("Image".into(), json!(image_name(project, service)));
    cfg.insert("Hostname".into(), json!(service.hostname));
    cfg.insert("Domainname".into(), json!(service.domainname));
    cfg.insert("User".into(), json!(service.user));
    cfg.insert("WorkingDir".into(), json!(service.working_dir));
    cfg.insert("Tty".into(), json!(service.tty));
    cfg.insert("OpenStdin".into(), json!(service.stdin_open));
    cfg.insert("StdinOnce".into(), json!(false));
    cfg.insert("AttachStdin".into(), json!(false));
    cfg.insert("AttachStdout".into(), json!(true));
    cfg.insert("AttachStderr".into(), json!(true));
    let e = env(service);
    if !e.is_empty() {
        cfg.insert("Env".into(), json!(e));
    }
    if let Some(c) = &service.command {
        cfg.insert("Cmd".into(), json!(c));
    }
    if let Some(c) = &service.entrypoint {
        cfg.insert("Entrypoint".into(), json!(c));
    }
    if !exposed.is_empty() {
        cfg.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    if !service.stop_signal.is_empty() {
        cfg.insert("StopSignal".into(), json!(service.stop_signal));
    }
    if let Some(g) = service.stop_grace_period {
        cfg.insert("StopTimeout".into(), json!(g.0 / 1_000_000_000));
    }
    if let Some(h) = healthcheck(service) {
        cfg.insert("Healthcheck".into(), h);
    }
    if !service.mac_address.is_empty() {
        cfg.insert("MacAddress".into(), json!(service.mac_address));
    }
    cfg.insert(
        "Labels".into(),
        json!(container_labels(project, service, inst)),
    );

    let mut host = Map::new();
    if !binds.is_empty() {
        host.insert("Binds".into(), json!(binds));
    }
    if !mounts.is_empty() {
        host.insert("Mounts".into(), json!(mounts));
    }
    if !bindings.is_empty() {
        host.insert("PortBindings".into(), Value::Object(bindings));
    }
    host.insert("RestartPolicy".into(), restart_policy(service));
    let mut set = |k: &str, v: Value, empty: bool| {
        if !empty {
            host.insert(k.into(), v);
        }
    };
    set("Privileged", json!(service.privileged), !service.privileged);
    set(
        "ReadonlyRootfs",
        json!(service.read_only),
        !service.read_only,
    );
    set("Init", json!(service.init), service.init.is_none());
    set("CapAdd", json!(service.cap_add), service.cap_add.is_empty());
    set(
        "CapDrop",
        json!(service.cap_drop),
        service.cap_drop.is_empty(),
    );
    set("Dns", json!(service.dns), service.dns.is_empty());
    set(
        "DnsSearch",
        json!(service.dns_search),
        service.dns_search.is_empty(),
    );
    set(
        "DnsOptions",
        json!(service.dns_opt),
        service.dns_opt.is_empty(),
    );
    set(
        "ExtraHosts",
        json!(service
            .extra_hosts
            .iter()
            .map(|h| h.replacen('=', ":", 1))
            .collect::<Vec<_>>()),
        service.extra_hosts.is_empty(),
    );
    set(
        "Sysctls",
        json!(service.sysctls),
        service.sysctls.is_empty(),
    );
    set("PidMode", json!(service.pid), service.pid.is_empty());
    set("IpcMode", json!(service.ipc), service.ipc.is_empty());
    set("UTSMode", json!(service.uts), service.uts.is_empty());
    set(
        "ShmSize",
        json!(service.shm_size.0),
        service.shm_size.is_zero(),
    );
    set(
        "GroupAdd",
        json!(service.group_add),
        service.group_add.is_empty(),
    );
    set(
        "SecurityOpt",
        json!(service.security_opt),
        service.security_opt.is_empty(),
    );
    set(
        "CgroupParent",
        json!(service.cgroup_parent),
        service.cgroup_parent.is_empty(),
    );
    set(
        "Runtime",
        json!(service.runtime),
        service.runtime.is_empty(),
    );
    set(
        "OomScoreAdj",
        json!(service.oom_score_adj),
        service.oom_score_adj == 0,
    );
    let mut links: Vec<String> = service
        .links
        .iter()
        .map(|l| {
            let (svc, alias) = l.split_once(':').unwrap_or((l, l));
            format!("{}:{alias}", labels::container_name(&project.name, svc, 1))
        })
        .collect();
    links.extend(super::spec_keys::external_links(service));
    set("Links", json!(links), links.is_empty());
    let tmpfs: Map<String, Value> = service
        .tmpfs
        .iter()
        .map(|t| {
            let (p, o) = t.split_once(':').unwrap_or((t, ""));
            (p.to_string(), json!(o))
        })
        .collect();
    set("Tmpfs", Value::Object(tmpfs.clone()), tmpfs.is_empty());
    let devices: Vec<Value> = service
        .devices
        .iter()
        .map(|d| {
            let perms = if d.permissions.is_empty() {
                "rwm"
            } else {
                &d.permissions
            };
            let target = if d.target.is_empty() {
                &d.source
            } else {
                &d.target
            };
            json!({"PathOnHost": d.source, "PathInContainer": target, "CgroupPermissions": perms})
        })
        .collect();
    set("Devices", json!(devices), devices.is_empty());
    let ulimits: Vec<Value> = service
        .ulimits
        .iter()
        .map(|(name, u)| {
            let (soft, hard) = if u.single != 0 {
                (u.single, u.single)
            } else {
                (u.soft, u.hard)
            };
            json!({"Name": name, "Soft": soft, "Hard": hard})
        })
        .collect();
    set("Ulimits", json!(ulimits), ulimits.is_empty());
    // Resources: the service keys, then deploy.resources (as compose, deploy wins).
    let mut memory = service.mem_limit.0;
    let mut reservation = service.mem_reservation.0;
    let mut nano_cpus = (service.cpus as f64 * 1e9).round() as i64;
    let mut pids = service.pids_limit;
    if let Some(r) = service.deploy.as_ref().map(|d| &d.resources) {
        if let Some(l) = &r.limits {
            if l.memory.0 != 0 {
                memory = l.memory.0;
            }
            if l.cpus != 0.0 {
                nano_cpus = (l.cpus as f64 * 1e9).round() as i64;
            }
            if l.pids != 0 {
                pids = l.pids;
            }
        }
        if let Some(res) = &r.reservations {
            if res.memory.0 != 0 {
                reservation = res.memory.0;
            }
        }
    }
    set("Memory", json!(memory), memory == 0);
    set("MemoryReservation", json!(reservation), reservation == 0);
    set(
        "MemorySwap",
        json!(service.memswap_limit.0),
        service.memswap_limit.is_zero(),
    );
    set("NanoCpus", json!(nano_cpus), nano_cpus == 0);
    set(
        "CpuShares",
        json!(service.cpu_shares),
        service.cpu_shares == 0,
    );
    set("CpuQuota", json!(service.cpu_quota), service.cpu_quota == 0);
    set(
        "CpuPeriod",
        json!(service.cpu_period),
        service.cpu_period == 0,
    );
    set(
        "CpusetCpus",
        json!(service.cpuset),
        service.cpuset.is_empty(),
    );
    set("PidsLimit", json!(pids), pids == 0);
    if let Some(l) = &service.logging {
        set(
            "LogConfig",
            json!({"Type": l.driver, "Config": l.options}),
            false,
        );
    }
    set(
        "VolumesFrom",
        json!(inst.volumes_from),
        inst.volumes_from.is_empty(),
    );

    super::spec_keys::host_config(service, &mut host);

    // Networks: the primary is NetworkMode; every attachment is in EndpointsConfig.
    let mut endpoints = Map::new();
    let network_mode = if let Some(m) = &inst.network_mode {
        m.clone()
    } else if !service.network_mode.is_empty() {
        service.network_mode.clone()
    } else {
        let nets = service_networks(service);
        for key in &nets {
            let cfg = service.networks.get(key).cloned().flatten();
            let mut aliases = vec![inst.name.clone()];
            if !inst.oneoff {
                aliases.push(service.name.clone());
            }
            let mut ep = Map::new();
            if let Some(c) = &cfg {
                aliases.extend(c.aliases.iter().cloned());
                let mut ipam = Map::new();
                if !c.ipv4_address.is_empty() {
                    ipam.insert("IPv4Address".into(), json!(c.ipv4_address));
                }
                if !c.ipv6_address.is_empty() {
                    ipam.insert("IPv6Address".into(), json!(c.ipv6_address));
                }
                if !ipam.is_empty() {
                    ep.insert("IPAMConfig".into(), Value::Object(ipam));
                }
                if !c.mac_address.is_empty() {
                    ep.insert("MacAddress".into(), json!(c.mac_address));
                }
                if !c.driver_opts.is_empty() {
                    ep.insert("DriverOpts".into(), json!(c.driver_opts));
                }
                if c.gw_priority != 0 {
                    ep.insert("GwPriority".into(), json!(c.gw_priority));
                }
            }
            super::spec_keys::endpoint(cfg.as_ref(), &links, &mut ep);
            ep.insert("Aliases".into(), json!(aliases));
            endpoints.insert(network_name(project, key), Value::Object(ep));
        }
        nets.first()
            .map(|k| network_name(project, k))
            .unwrap_or_else(|| "none".to_string())
    };
    host.insert("NetworkMode".into(), json!(network_mode));

    let mut body = Value::Object(cfg);
    body["HostConfig"] = Value::Object(host);
    if !endpoints.is_empty() {
        body["NetworkingConfig"] = json!({"EndpointsConfig": endpoints});
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ServiceNetworkConfig, ServiceVolumeConfig};

    #[test]
    fn body_of_a_simple_service() {
        let mut p = Project {
            name: "p".into(),
            working_dir: "/w".into(),
            compose_files: vec!["/w/compose.yaml".into()],
            ..Default::default()
        };
        let mut s = ServiceConfig {
            name: "web".into(),
            image: "busybox".into(),
            command: Some(vec!["sleep".into(), "1".into()]),
            ..Default::default()
        };
        s.environment.insert("A".into(), Some("1".into()));
        s.networks.insert(
            "default".into(),
            Some(ServiceNetworkConfig {
                aliases: vec!["www".into()],
                ..Default::default()
            }),
        );
        s.ports.push(ServicePortConfig {
            target: 80,
            published: "8080".into(),
            protocol: "tcp".into(),
            ..Default::default()
        });
        s.volumes.push(ServiceVolumeConfig {
            kind: VolumeType::Volume,
            source: "data".into(),
            target: "/data".into(),
            ..Default::default()
        });
        p.volumes.insert("data".into(), Default::default());
        p.services.insert("web".into(), s.clone());
        let inst = Instance {
            name: "p-web-1".into(),
            number: 1,
            ..Default::default()
        };
        let b = create_body(&p, &s, &inst, true);
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["Labels"]["com.docker.compose.project"], "p");
        assert_eq!(b["Labels"]["com.docker.compose.oneoff"], "False");
        assert_eq!(b["HostConfig"]["NetworkMode"], "p_default");
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"]["p_default"]["Aliases"],
            json!(["p-web-1", "web", "www"])
        );
        assert_eq!(
            b["HostConfig"]["PortBindings"]["80/tcp"],
            json!([{"HostIp": "", "HostPort": "8080"}])
        );
        assert_eq!(b["HostConfig"]["Mounts"][0]["Source"], "p_data");
    }
}
