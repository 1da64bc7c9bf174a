//! Networks: the predefined `bridge`, `host` and `none`, user-defined bridge networks, and
//! their lifecycle (create, list, inspect, remove, prune). Connecting containers is in
//! `net_endpoints.rs`, the API rendering in `net_render.rs`.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Mutex, RwLock};

use berth_api::models::{self, NetworkCreateRequest};
use berth_api::Filters;
use berth_network::ipam::Ipam;
use berth_network::link::Netlink;
use berth_network::pool::{self, AddressPool};
use berth_network::ports::Reservation;
use berth_network::{firewall, sysctl, Subnet};
use berth_types::{id, Error, ErrorKind, Result};

use crate::daemon::Daemon;
use crate::network::repo::{
    net_error, NetworkRecord, NetworkRepo, OPT_BRIDGE_NAME, OPT_MASQUERADE, OPT_MTU,
};
use crate::system::events::Kind;

/// The daemon's network settings (dockerd's `--bridge`, `--bip`, `--default-address-pool`,
/// `--mtu`).
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The Linux bridge of the `bridge` network; None for `--bridge none`.
    pub bridge: Option<String>,
    /// `--bip`: the bridge's address and prefix (`10.1.0.1/24`).
    pub bip: Option<String>,
    pub pools: Vec<AddressPool>,
    pub mtu: u32,
    /// berth's nftables table.
    pub table: String,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            bridge: Some("berth0".into()),
            bip: None,
            pools: pool::default_pools(),
            mtu: 0,
            table: "berth".into(),
        }
    }
}

/// The network service's state.
pub struct Networks {
    pub(crate) config: NetConfig,
    pub(crate) repo: NetworkRepo,
    pub(crate) map: RwLock<BTreeMap<String, NetworkRecord>>,
    /// Host ports held for running containers, by container id.
    pub(crate) reservations: Mutex<HashMap<String, Vec<Reservation>>>,
    /// Serialises firewall rebuilds and network creation.
    pub(crate) lock: tokio::sync::Mutex<()>,
}

impl Networks {
    pub fn open(config: NetConfig, db: berth_store::Db) -> Result<Self> {
        let repo = NetworkRepo::open(db)?;
        let map = repo
            .load_all()?
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        Ok(Self {
            config,
            repo,
            map: RwLock::new(map),
            reservations: Mutex::new(HashMap::new()),
            lock: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn all(&self) -> Vec<NetworkRecord> {
        match self.map.read() {
            Ok(m) => m.values().cloned().collect(),
            Err(p) => p.into_inner().values().cloned().collect(),
        }
    }

    /// dockerd's lookup: full id, exact name, then a unique id prefix.
    pub(crate) fn find(&self, key: &str) -> Result<NetworkRecord> {
        let all = self.all();
        if let Some(n) = all.iter().find(|n| n.id == key || n.name == key) {
            return Ok(n.clone());
        }
        let mut prefixed = all
            .iter()
            .filter(|n| !key.is_empty() && n.id.starts_with(key));
        match (prefixed.next(), prefixed.next()) {
            (Some(n), None) => Ok(n.clone()),
            (Some(_), Some(_)) => Err(Error::invalid(format!(
                "network {key} is ambiguous ({} matches found based on ID prefix)",
                all.iter().filter(|n| n.id.starts_with(key)).count()
            ))),
            _ => Err(Error::not_found(format!("network {key} not found"))),
        }
    }

    fn put(&self, n: NetworkRecord) {
        if let Ok(mut m) = self.map.write() {
            m.insert(n.id.clone(), n);
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut m) = self.map.write() {
            m.remove(id);
        }
    }
}

fn now() -> String {
    crate::container::lifecycle::now_rfc3339()
}

fn predefined(name: &str, driver: &str) -> NetworkRecord {
    NetworkRecord {
        id: id::generate(),
        name: name.into(),
        created: now(),
        driver: driver.into(),
        internal: false,
        attachable: false,
        enable_ipv6: false,
        subnet: None,
        gateway: None,
        ip_range: None,
        ipam_options: HashMap::new(),
        options: HashMap::new(),
        labels: HashMap::new(),
        bridge: String::new(),
        predefined: true,
    }
}

impl Daemon {
    /// At daemon start: the predefined networks exist, every bridge is up with its address,
    /// and the firewall table matches the state.
    pub(crate) async fn networks_init(&self) -> Result<()> {
        let nets = &self.nets;
        let existing = nets.all();
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if !existing.iter().any(|n| n.name == name) {
                let n = predefined(name, driver);
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
        let mut n = old.unwrap_or_else(|| predefined("bridge", "bridge"));
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
        let name = req.name.clone();
        if name.is_empty() {
            return Err(Error::invalid("network name must not be empty"));
        }
        if self.nets.all().iter().any(|n| n.name == name) {
            return Err(Error::conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let driver = req
            .driver
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "bridge".into());
        match driver.as_str() {
            "bridge" => {}
            "host" | "null" => {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    format!("only one instance of \"{driver}\" network is allowed"),
                ))
            }
            other => return Err(Error::not_found(format!("plugin \"{other}\" not found"))),
        }
        let ipam = req.ipam.clone().unwrap_or_default();
        if let Some(d) = ipam
            .driver
            .as_deref()
            .filter(|d| !d.is_empty() && *d != "default")
        {
            return Err(Error::not_found(format!("plugin \"{d}\" not found")));
        }
        let configs: Vec<&models::IpamConfig> = ipam
            .config
            .iter()
            .flatten()
            .filter(|c| !c.subnet.as_deref().unwrap_or_default().contains(':'))
            .collect();
        if configs.len() > 1 {
            return Err(Error::not_implemented(
                "berth supports one IPv4 subnet per network",
            ));
        }
        let id = id::generate();
        let options = req.options.clone().unwrap_or_default();
        let bridge = options
            .get(OPT_BRIDGE_NAME)
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        if bridge.len() > 15 || bridge.contains(['/', ' ', '.']) {
            return Err(Error::invalid(format!("invalid bridge name: {bridge}")));
        }
        if self.nets.all().iter().any(|n| n.bridge == bridge) {
            return Err(Error::conflict(format!(
                "bridge name {bridge} is already in use by another network"
            )));
        }
        if let Some(m) = options.get(OPT_MTU) {
            m.parse::<u32>()
                .map_err(|_| Error::invalid(format!("invalid MTU value {m:?}")))?;
        }
        let plan = match configs.first() {
            Some(c) if c.subnet.as_deref().is_some_and(|s| !s.is_empty()) => {
                let subnet =
                    Subnet::parse(c.subnet.as_deref().unwrap_or_default()).map_err(net_error)?;
                let gateway = match c.gateway.as_deref().filter(|g| !g.is_empty()) {
                    Some(g) => Some(
                        g.parse::<Ipv4Addr>()
                            .map_err(|_| Error::invalid(format!("invalid gateway address: {g}")))?,
                    ),
                    None => None,
                };
                let range = match c.ip_range.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => Some(Subnet::parse(r).map_err(net_error)?),
                    None => None,
                };
                let plan = Ipam::new(subnet, gateway, range).map_err(net_error)?;
                let taken = self.subnets_in_use(None).await?;
                if taken.iter().any(|t| t.overlaps(&subnet)) {
                    return Err(Error::new(
                        ErrorKind::Forbidden,
                        "invalid pool request: Pool overlaps with other one on this address space",
                    ));
                }
                plan
            }
            Some(c) if c.gateway.is_some() || c.ip_range.is_some() => {
                return Err(Error::invalid(
                    "every ip-range or gateway must have a corresponding subnet",
                ))
            }
            _ => {
                let taken = self.subnets_in_use(None).await?;
                let subnet = pool::pick(&self.nets.config.pools, &taken).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Forbidden,
                        "all predefined address pools have been fully subnetted",
                    )
                })?;
                Ipam::new(subnet, None, None).map_err(net_error)?
            }
        };
        let n = NetworkRecord {
            id: id.clone(),
            name,
            created: now(),
            driver,
            internal: req.internal.unwrap_or(false),
            attachable: req.attachable.unwrap_or(false),
            enable_ipv6: req.enable_ipv6.unwrap_or(false),
            subnet: Some(plan.subnet.to_string()),
            gateway: Some(plan.gateway.to_string()),
            ip_range: plan.ip_range.map(|r| r.to_string()),
            ipam_options: ipam.options.clone().unwrap_or_default(),
            options,
            labels: req.labels.clone().unwrap_or_default(),
            bridge,
            predefined: false,
        };
        let host = Netlink::host().map_err(net_error)?;
        bring_up_bridge(&host, &n).await?;
        if let Err(e) = self.nets.repo.insert(&n) {
            let _ = host.delete(&n.bridge).await;
            return Err(e);
        }
        self.nets.put(n.clone());
        if let Err(e) = self.apply_firewall_locked() {
            self.nets.forget(&n.id);
            let _ = self.nets.repo.delete(&n.id);
            let _ = host.delete(&n.bridge).await;
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
        self.nets.repo.delete(&n.id)?;
        self.nets.forget(&n.id);
        let host = Netlink::host().map_err(net_error)?;
        host.delete(&n.bridge).await.map_err(net_error)?;
        self.apply_firewall_locked()?;
        self.network_event(&n, "destroy", None);
        Ok(())
    }

    pub async fn network_prune(&self, filters: &Filters) -> Result<models::NetworkPruneResponse> {
        filters
            .validate(&["until", "label", "label!"])
            .map_err(Error::invalid)?;
        let until = crate::container::prune::until(filters)?;
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
