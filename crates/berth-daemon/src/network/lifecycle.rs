//! Networks: the predefined `bridge`, `host` and `none`, user-defined bridge networks, and
//! their lifecycle (create, list, inspect, remove, prune). Connecting containers is in
//! `endpoints.rs`, the API rendering in `render.rs`, the records and checks in `service.rs`.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use berth_api::models::{self, NetworkCreateRequest};
use berth_api::Filters;
use berth_network::link::Netlink;
use berth_network::pool::{self};
use berth_network::{firewall, sysctl, Subnet};
use berth_types::{Error, ErrorKind, Result};

use crate::daemon::Daemon;
use crate::network::repo::{net_error, NetworkRecord, OPT_BRIDGE_NAME, OPT_MASQUERADE, OPT_MTU};
use crate::network::service::{IpamRequest, NetworkService};
use crate::system::events::Kind;

impl Daemon {
    /// At daemon start: the predefined networks exist, every bridge is up with its address,
    /// and the firewall table matches the state.
    pub(crate) async fn networks_init(&self) -> Result<()> {
        let nets = &self.nets;
        let existing = nets.all();
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if !existing.iter().any(|n| n.name == name) {
                let n = NetworkService::predefined(name, driver);
                nets.repo.insert(&n)?;
                nets.put(n);
            }
        }
        let default = existing.iter().find(|n| n.name == "bridge").cloned();
        match (&nets.config.bridge, default) {
            (None, Some(old)) => {
                // `--bridge none`: no default bridge network.
                nets.repo.delete(&old.id)?;
                nets.forget(&old.id);
            }
            (None, None) => {}
            (Some(bridge), old) => {
                let n = self.default_bridge_record(bridge, old).await?;
                nets.put(n);
            }
        }
        let host = Netlink::host().map_err(net_error)?;
        for n in nets.all().iter().filter(|n| n.is_bridge()) {
            bring_up_bridge(&host, n).await?;
        }
        Ok(())
    }

    /// The `bridge` network's record for this start's settings: `--bip`, or the old subnet, or
    /// a free one from the pools.
    async fn default_bridge_record(
        &self,
        bridge: &str,
        old: Option<NetworkRecord>,
    ) -> Result<NetworkRecord> {
        let nets = &self.nets;
        let (subnet, gateway) = match &nets.config.bip {
            Some(bip) => {
                let (addr, prefix) = berth_network::subnet::parse_cidr(bip).map_err(net_error)?;
                (Subnet::containing(addr, prefix), addr)
            }
            None => match old
                .as_ref()
                .and_then(|o| o.ipam().ok())
                .filter(|_| old.as_ref().is_some_and(|o| o.bridge == bridge))
            {
                Some(ipam) => (ipam.subnet, ipam.gateway),
                None => {
                    // A bridge that is already there keeps its address (as dockerd adopts an
                    // existing docker0), rather than getting a second one.
                    let host = Netlink::host().map_err(net_error)?;
                    let existing = host.ipv4_addresses(bridge).await.map_err(net_error)?;
                    if let Some((addr, prefix)) = existing.first() {
                        let s = Subnet::containing(*addr, *prefix);
                        return self.finish_default_bridge(bridge, old, s, *addr);
                    }
                    let taken = self
                        .subnets_in_use(old.as_ref().map(|o| o.id.as_str()))
                        .await?;
                    let s = pool::pick(&nets.config.pools, &taken).ok_or_else(|| {
                        Error::invalid("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
                    })?;
                    let gw = s
                        .first_host()
                        .ok_or_else(|| Error::invalid("empty subnet"))?;
                    (s, gw)
                }
            },
        };
        self.finish_default_bridge(bridge, old, subnet, gateway)
    }

    fn finish_default_bridge(
        &self,
        bridge: &str,
        old: Option<NetworkRecord>,
        subnet: Subnet,
        gateway: Ipv4Addr,
    ) -> Result<NetworkRecord> {
        let nets = &self.nets;
        let mut options = HashMap::from([
            (
                "com.docker.network.bridge.default_bridge".to_string(),
                "true".to_string(),
            ),
            ("com.docker.network.bridge.enable_icc".into(), "true".into()),
            (OPT_MASQUERADE.into(), "true".into()),
            (
                "com.docker.network.bridge.host_binding_ipv4".into(),
                "0.0.0.0".into(),
            ),
            (OPT_BRIDGE_NAME.into(), bridge.to_string()),
        ]);
        options.insert(
            OPT_MTU.into(),
            if nets.config.mtu > 0 {
                nets.config.mtu
            } else {
                1500
            }
            .to_string(),
        );
        let mut n = old.unwrap_or_else(|| NetworkService::predefined("bridge", "bridge"));
        n.subnet = Some(subnet.to_string());
        n.gateway = Some(gateway.to_string());
        n.bridge = bridge.to_string();
        n.options = options;
        if nets.repo.load_all()?.iter().any(|r| r.id == n.id) {
            nets.repo.save(&n)?;
        } else {
            nets.repo.insert(&n)?;
        }
        Ok(n)
    }

    /// Subnets a new network must not overlap: host routes (other bridges, dockerd's docker0,
    /// the uplink) and berth's own networks (except `skip`).
    async fn subnets_in_use(&self, skip: Option<&str>) -> Result<Vec<Subnet>> {
        let host = Netlink::host().map_err(net_error)?;
        let mut taken = host.routed_subnets().await.map_err(net_error)?;
        for n in self.nets.all() {
            if Some(n.id.as_str()) == skip {
                continue;
            }
            if let Some(s) = n.subnet.as_deref().and_then(|s| Subnet::parse(s).ok()) {
                taken.push(s);
            }
        }
        Ok(taken)
    }

    pub(crate) fn network_event(&self, n: &NetworkRecord, action: &str, container: Option<&str>) {
        let mut attrs = HashMap::from([
            ("name".to_string(), n.name.clone()),
            ("type".to_string(), n.driver.clone()),
        ]);
        if let Some(c) = container {
            attrs.insert("container".into(), c.to_string());
        }
        self.events.emit(Kind::Network, action, &n.id, attrs);
    }

    pub async fn network_create(
        &self,
        req: NetworkCreateRequest,
    ) -> Result<models::NetworkCreateResponse> {
        let _guard = self.nets.lock.lock().await;
        let check = self.nets.check_create(&req)?;
        let ipam = match check.ipam_request()? {
            IpamRequest::Fixed(plan) => {
                let taken = self.subnets_in_use(None).await?;
                NetworkService::check_overlap(plan, &taken)?
            }
            IpamRequest::FromPool => {
                let taken = self.subnets_in_use(None).await?;
                self.nets.pick_from_pool(&taken)?
            }
        };
        let id = check.id.clone();
        let n = check.into_record(ipam);
        let host = Netlink::host().map_err(net_error)?;
        // A link of that name that is there already (`com.docker.network.bridge.name`) is
        // never deleted by a failed create.
        let existed = host.index(&n.bridge).await.map_err(net_error)?.is_some();
        // The record first: a daemon killed before the bridge is up finds the network at its
        // next start and brings the bridge up then; a bridge made first would be left behind,
        // named by nothing.
        self.nets.repo.insert(&n)?;
        self.nets.put(n.clone());
        crate::recovery::failpoint::hit("network-create-after-row");
        let made = match bring_up_bridge(&host, &n).await {
            Ok(()) => self.apply_firewall_locked(),
            Err(e) => Err(e),
        };
        if let Err(e) = made {
            self.nets.forget(&n.id);
            let _ = self.nets.repo.delete(&n.id);
            if !existed {
                let _ = host.delete(&n.bridge).await;
            }
            return Err(e);
        }
        self.network_event(&n, "create", None);
        Ok(models::NetworkCreateResponse {
            id,
            warning: String::new(),
        })
    }

    pub async fn network_remove(&self, key: &str) -> Result<()> {
        let n = self.nets.find(key)?;
        if n.predefined {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("{} is a pre-defined network and cannot be removed", n.name),
            ));
        }
        let _guard = self.nets.lock.lock().await;
        let users: Vec<(String, String)> = self
            .all()
            .iter()
            .map(|c| c.snapshot())
            .filter(|c| {
                c.net.configured.contains_key(&n.name) || c.net.active.contains_key(&n.name)
            })
            .map(|c| (c.bare_name().to_string(), c.short_id().to_string()))
            .collect();
        if let Some((name, short)) = users.first() {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "error while removing network: network {} has active endpoints (name:\"{name}\" id:\"{short}\")",
                    n.name
                ),
            ));
        }
        // The bridge before the record, for the same reason as at create: a daemon killed in
        // between still has the network and brings its bridge back at its next start.
        // A bridge's deletion waits in the kernel for 15-30 ms: not on a worker of the runtime.
        let host = Netlink::host_for_deletions().map_err(net_error)?;
        host.delete(&n.bridge).await.map_err(net_error)?;
        crate::recovery::failpoint::hit("network-rm-after-bridge");
        self.nets.repo.delete(&n.id)?;
        self.nets.forget(&n.id);
        self.apply_firewall_locked()?;
        self.network_event(&n, "destroy", None);
        Ok(())
    }

    pub async fn network_prune(&self, filters: &Filters) -> Result<models::NetworkPruneResponse> {
        filters
            .validate(&["until", "label", "label!"])
            .map_err(Error::invalid)?;
        let until = crate::util::filters::until(filters)?;
        let mut deleted = Vec::new();
        for n in self.nets.all() {
            if n.predefined || !berth_image::match_prune_labels(filters, &n.labels) {
                continue;
            }
            if let Some(t) = until {
                let created = chrono::DateTime::parse_from_rfc3339(&n.created)
                    .map(|d| d.timestamp())
                    .unwrap_or(0);
                if created >= t {
                    continue;
                }
            }
            if self.network_remove(&n.id).await.is_ok() {
                deleted.push(n.name.clone());
            }
        }
        // Networks take no disk space: dockerd reports 0 reclaimed.
        self.events.emit(
            crate::system::events::Kind::Network,
            "prune",
            "",
            HashMap::from([("reclaimed".to_string(), "0".to_string())]),
        );
        Ok(models::NetworkPruneResponse {
            networks_deleted: Some(deleted),
        })
    }

    /// Rebuilds berth's nftables table from the networks and the running containers' ports.
    /// The caller holds `nets.lock` or runs alone (start-up).
    pub(crate) fn apply_firewall_locked(&self) -> Result<()> {
        let mut state = firewall::FirewallState::default();
        let mut forward = false;
        for n in self.nets.all().iter().filter(|n| n.is_bridge()) {
            let Ok(ipam) = n.ipam() else { continue };
            forward |= !n.internal;
            state.networks.push(firewall::BridgeRules {
                bridge: n.bridge.clone(),
                subnet: ipam.subnet,
                internal: n.internal,
                masquerade: n.masquerade(),
            });
        }
        for c in self.all() {
            for p in c.snapshot().net.ports {
                state.ports.push(firewall::PortRule {
                    proto: p.proto,
                    host_ip: (!p.host_ip.is_unspecified()).then_some(p.host_ip),
                    host_port: p.host_port,
                    container_ip: p.container_ip,
                    container_port: p.container_port,
                });
            }
        }
        state.ports.sort_by_key(|p| (p.host_port, p.proto));
        if state.networks.is_empty() {
            // Nothing to route: no table at all.
            return firewall::remove(&self.nets.config.table).map_err(net_error);
        }
        if forward {
            sysctl::enable_ip_forward().map_err(net_error)?;
        }
        firewall::apply(&self.nets.config.table, &state).map_err(net_error)
    }

    pub(crate) async fn apply_firewall(&self) -> Result<()> {
        let _guard = self.nets.lock.lock().await;
        self.apply_firewall_locked()
    }
}

/// The bridge exists, is up, carries the gateway address and lets DNATed loopback traffic out.
async fn bring_up_bridge(host: &Netlink, n: &NetworkRecord) -> Result<()> {
    let ipam = n.ipam()?;
    host.ensure_bridge(&n.bridge, ipam.gateway, ipam.subnet.prefix(), n.mtu())
        .await
        .map_err(net_error)?;
    sysctl::enable_route_localnet(&n.bridge).map_err(net_error)
}

impl Daemon {
    /// What `host-gateway` in `--add-host` stands for: the default bridge's address.
    pub(crate) fn host_gateway_ip(&self) -> Result<Ipv4Addr> {
        self.nets
            .all()
            .iter()
            .find(|n| n.name == "bridge")
            .and_then(|n| n.ipam().ok())
            .map(|i| i.gateway)
            .ok_or_else(|| Error::invalid("unable to derive the IP value for host-gateway"))
    }
}
