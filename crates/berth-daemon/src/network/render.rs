//! Networks and a container's network settings in dockerd's JSON.

use std::collections::HashMap;

use berth_api::models::{self, EndpointSettings, NetworkSettings, Port, PortBinding, PortTypeEnum};
use berth_api::Filters;
use berth_types::{Error, Result};

use crate::container::record::Container;
use crate::daemon::Daemon;
use crate::network::repo::NetworkRecord;

const LIST_FILTERS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];

impl Daemon {
    fn render_network(&self, n: &NetworkRecord, with_containers: bool) -> models::Network {
        let config = match (&n.subnet, &n.gateway) {
            (Some(subnet), gateway) => vec![models::IpamConfig {
                subnet: Some(subnet.clone()),
                gateway: gateway.clone(),
                ip_range: n.ip_range.clone(),
                auxiliary_addresses: None,
            }],
            _ => Vec::new(),
        };
        let mut containers = HashMap::new();
        if with_containers {
            for ctr in self.all() {
                let c = ctr.snapshot();
                if let Some(ep) = c.net.active.get(&n.name) {
                    containers.insert(
                        c.id.clone(),
                        models::NetworkContainer {
                            name: Some(c.bare_name().to_string()),
                            endpoint_id: ep.endpoint_id.clone(),
                            mac_address: ep.mac_address.clone(),
                            ipv4_address: ep
                                .ip_address
                                .as_ref()
                                .map(|ip| format!("{ip}/{}", ep.ip_prefix_len.unwrap_or(0))),
                            ipv6_address: Some(String::new()),
                        },
                    );
                }
            }
        }
        models::Network {
            name: Some(n.name.clone()),
            id: Some(n.id.clone()),
            created: Some(n.created.clone()),
            scope: Some("local".into()),
            driver: Some(n.driver.clone()),
            enable_ipv4: Some(true),
            enable_ipv6: Some(n.enable_ipv6),
            ipam: Some(models::Ipam {
                driver: Some("default".into()),
                config: Some(config),
                // dockerd's IPAM options are nil (null) unless some were given.
                options: Some(n.ipam_options.clone()).filter(|o| !o.is_empty()),
            }),
            internal: Some(n.internal),
            attachable: Some(n.attachable),
            ingress: Some(false),
            config_from: Some(models::ConfigReference {
                network: Some(String::new()),
            }),
            config_only: Some(false),
            containers: Some(containers),
            options: Some(n.options.clone()),
            labels: Some(n.labels.clone()),
            peers: None,
        }
    }

    pub fn network_inspect(&self, key: &str) -> Result<models::Network> {
        let n = self.nets.find(key)?;
        Ok(self.render_network(&n, true))
    }

    pub fn network_list(&self, filters: &Filters) -> Result<Vec<models::Network>> {
        filters.validate(LIST_FILTERS).map_err(Error::invalid)?;
        for t in filters.get("type") {
            if t != "custom" && t != "builtin" {
                return Err(Error::invalid(format!("invalid filter: 'type'='{t}'")));
            }
        }
        let mut out = Vec::new();
        for n in self.nets.all() {
            let any = |key: &str, f: &dyn Fn(&str) -> bool| {
                let vals = filters.get(key);
                vals.is_empty() || vals.iter().any(|v| f(v))
            };
            let used = self
                .all()
                .iter()
                .any(|c| c.snapshot().net.configured.contains_key(&n.name));
            let ok = any("driver", &|v| n.driver == v)
                && any("id", &|v| n.id.starts_with(v))
                && any("name", &|v| n.name.contains(v))
                && any("scope", &|v| v == "local")
                && any("type", &|v| (v == "builtin") == n.predefined)
                && any("dangling", &|v| {
                    (v == "true" || v == "1") == (!used && !n.predefined)
                })
                && filters.match_kv_list("label", &n.labels);
            if ok {
                out.push(self.render_network(&n, false));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// `NetworkSettings.Ports`: every exposed port, with its host bindings while running.
pub fn port_map(c: &Container) -> HashMap<String, Option<Vec<PortBinding>>> {
    let mut map: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    if !c.state.running() {
        return map;
    }
    let own_netns = !matches!(
        crate::network::endpoints::mode_of(&c.host_config),
        crate::network::endpoints::Mode::Host | crate::network::endpoints::Mode::Container(_)
    );
    if !own_netns {
        return map;
    }
    for k in c.config.exposed_ports.iter().flatten().map(|(k, _)| k) {
        let key = if k.contains('/') {
            k.clone()
        } else {
            format!("{k}/tcp")
        };
        map.entry(key).or_insert(None);
    }
    for p in &c.net.ports {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        map.entry(key)
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(p.host_ip.to_string()),
                host_port: Some(p.host_port.to_string()),
            });
    }
    map
}

/// `Ports` of a `ps` summary: published ports with their host side, then the exposed rest.
pub fn summary_ports(c: &Container) -> Vec<Port> {
    let mut out = Vec::new();
    for (key, bindings) in port_map(c) {
        let (num, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(private_port) = num.parse::<u16>() else {
            continue;
        };
        let typ = Some(proto.parse().unwrap_or(PortTypeEnum::TCP));
        match bindings {
            Some(list) => {
                for b in list {
                    out.push(Port {
                        ip: b.host_ip.clone(),
                        private_port,
                        public_port: b.host_port.as_deref().and_then(|p| p.parse().ok()),
                        typ,
                    });
                }
            }
            None => out.push(Port {
                ip: None,
                private_port,
                public_port: None,
                typ,
            }),
        }
    }
    out.sort_by_key(|p| (p.private_port, p.typ, p.public_port));
    out
}

/// The endpoints to show: live ones while running, else what was configured.
pub fn shown_endpoints(c: &Container) -> HashMap<String, EndpointSettings> {
    let mut out: HashMap<String, EndpointSettings> = HashMap::new();
    match crate::network::endpoints::mode_of(&c.host_config) {
        crate::network::endpoints::Mode::Bridge => {
            for (name, ep) in &c.net.configured {
                let shown = c
                    .net
                    .active
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| EndpointSettings {
                        network_id: Some(ep.network_id.clone().unwrap_or_default()),
                        endpoint_id: Some(String::new()),
                        ip_address: Some(String::new()),
                        gateway: Some(String::new()),
                        ip_prefix_len: Some(0),
                        mac_address: Some(ep.mac_address.clone().unwrap_or_default()),
                        ..ep.clone()
                    });
                out.insert(name.clone(), shown);
            }
        }
        _ => {
            let mode = c.host_config.network_mode.clone().unwrap_or_default();
            out.insert(mode, EndpointSettings::default());
        }
    }
    out
}

/// `NetworkSettings` of an inspect.
pub fn network_settings(c: &Container) -> NetworkSettings {
    let networks = shown_endpoints(c);
    let default = c.net.active.get("bridge");
    NetworkSettings {
        bridge: Some(String::new()),
        sandbox_id: Some(
            c.net
                .sandbox
                .as_ref()
                .map(|_| c.id.clone())
                .unwrap_or_default(),
        ),
        sandbox_key: Some(c.net.sandbox.clone().unwrap_or_default()),
        hairpin_mode: Some(false),
        ports: Some(port_map(c)),
        endpoint_id: Some(
            default
                .and_then(|e| e.endpoint_id.clone())
                .unwrap_or_default(),
        ),
        gateway: Some(default.and_then(|e| e.gateway.clone()).unwrap_or_default()),
        ip_address: Some(
            default
                .and_then(|e| e.ip_address.clone())
                .unwrap_or_default(),
        ),
        ip_prefix_len: Some(default.and_then(|e| e.ip_prefix_len).unwrap_or(0)),
        mac_address: Some(
            default
                .and_then(|e| e.mac_address.clone())
                .unwrap_or_default(),
        ),
        networks: Some(networks),
        ..Default::default()
    }
}
