//! The network service (as containerd's `plugins/services/*/local.go`): network records and
//! their lookup, the checks and IPAM plan of a create, and the list filters. What touches the
//! host (bridges, veths, nftables) is the daemon's (`lifecycle`, `endpoints`).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Mutex, RwLock};

use berth_api::models::{self, NetworkCreateRequest};
use berth_api::Filters;
use berth_network::ipam::Ipam;
use berth_network::pool::{self, AddressPool};
use berth_network::ports::Reservation;
use berth_network::Subnet;
use berth_types::{id, Error, ErrorKind, Result};

use crate::network::repo::{net_error, NetworkRecord, NetworkRepo, OPT_BRIDGE_NAME, OPT_MTU};
use crate::util::time::now_rfc3339;

const LIST_FILTERS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];

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

/// The network service: the records (cached from the repo), the address pools, the host
/// ports held for running containers and the lock creation and firewall rebuilds take. It
/// needs no daemon: the bridge, netlink and nftables work stays with the caller.
pub struct NetworkService {
    pub(crate) config: NetConfig,
    pub(crate) repo: NetworkRepo,
    pub(crate) map: RwLock<BTreeMap<String, NetworkRecord>>,
    /// Host ports held for running containers, by container id.
    pub(crate) reservations: Mutex<HashMap<String, Vec<Reservation>>>,
    /// Serialises firewall rebuilds and network creation.
    pub(crate) lock: tokio::sync::Mutex<()>,
}

impl NetworkService {
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

    pub(crate) fn put(&self, n: NetworkRecord) {
        if let Ok(mut m) = self.map.write() {
            m.insert(n.id.clone(), n);
        }
    }

    pub(crate) fn forget(&self, id: &str) {
        if let Ok(mut m) = self.map.write() {
            m.remove(id);
        }
    }

    /// A predefined network's record (`host`, `none`, `bridge`).
    pub(crate) fn predefined(name: &str, driver: &str) -> NetworkRecord {
        NetworkRecord {
            id: id::generate(),
            name: name.into(),
            created: now_rfc3339(),
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

    /// A create's checks, in dockerd's order, up to the address plan: name, driver, IPAM
    /// driver, one IPv4 subnet, bridge name, MTU.
    pub(crate) fn check_create(&self, req: &NetworkCreateRequest) -> Result<CreateCheck> {
        let name = req.name.clone();
        if name.is_empty() {
            return Err(Error::invalid("network name must not be empty"));
        }
        if self.all().iter().any(|n| n.name == name) {
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
        let configs: Vec<models::IpamConfig> = ipam
            .config
            .iter()
            .flatten()
            .filter(|c| !c.subnet.as_deref().unwrap_or_default().contains(':'))
            .cloned()
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
        if self.all().iter().any(|n| n.bridge == bridge) {
            return Err(Error::conflict(format!(
                "bridge name {bridge} is already in use by another network"
            )));
        }
        if let Some(m) = options.get(OPT_MTU) {
            m.parse::<u32>()
                .map_err(|_| Error::invalid(format!("invalid MTU value {m:?}")))?;
        }
        Ok(CreateCheck {
            id,
            name,
            driver,
            config: configs.into_iter().next(),
            ipam_options: ipam.options.clone().unwrap_or_default(),
            options,
            bridge,
            internal: req.internal.unwrap_or(false),
            attachable: req.attachable.unwrap_or(false),
            enable_ipv6: req.enable_ipv6.unwrap_or(false),
            labels: req.labels.clone().unwrap_or_default(),
        })
    }

    /// A subnet the create asked for must not overlap the subnets in use.
    pub(crate) fn check_overlap(plan: Ipam, taken: &[Subnet]) -> Result<Ipam> {
        if taken.iter().any(|t| t.overlaps(&plan.subnet)) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "invalid pool request: Pool overlaps with other one on this address space",
            ));
        }
        Ok(plan)
    }

    /// The first free subnet of the daemon's pools.
    pub(crate) fn pick_from_pool(&self, taken: &[Subnet]) -> Result<Ipam> {
        let subnet = pool::pick(&self.config.pools, taken).ok_or_else(|| {
            Error::new(
                ErrorKind::Forbidden,
                "all predefined address pools have been fully subnetted",
            )
        })?;
        Ipam::new(subnet, None, None).map_err(net_error)
    }

    /// `GET /networks` filters (`dangling`, `driver`, `id`, `label`, `name`, `scope`, `type`),
    /// sorted by name; `used` says whether a container is configured on a network (by name).
    pub(crate) fn list(
        &self,
        filters: &Filters,
        used: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<NetworkRecord>> {
        filters.validate(LIST_FILTERS).map_err(Error::invalid)?;
        for t in filters.get("type") {
            if t != "custom" && t != "builtin" {
                return Err(Error::invalid(format!("invalid filter: 'type'='{t}'")));
            }
        }
        let mut out = Vec::new();
        for n in self.all() {
            let any = |key: &str, f: &dyn Fn(&str) -> bool| {
                let vals = filters.get(key);
                vals.is_empty() || vals.iter().any(|v| f(v))
            };
            let used = used(&n.name);
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
                out.push(n);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// A create that passed the checks, waiting for its address plan.
pub(crate) struct CreateCheck {
    pub(crate) id: String,
    name: String,
    driver: String,
    config: Option<models::IpamConfig>,
    ipam_options: HashMap<String, String>,
    options: HashMap<String, String>,
    bridge: String,
    internal: bool,
    attachable: bool,
    enable_ipv6: bool,
    labels: HashMap<String, String>,
}

/// Where a new network's subnet comes from.
pub(crate) enum IpamRequest {
    /// The subnet (and gateway, range) the create gave; still to be checked for overlap.
    Fixed(Ipam),
    /// None given: the first free one of the pools.
    FromPool,
}

impl CreateCheck {
    /// The create's IPAM config as a plan, with dockerd's errors for a bad one.
    pub(crate) fn ipam_request(&self) -> Result<IpamRequest> {
        match &self.config {
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
                Ok(IpamRequest::Fixed(
                    Ipam::new(subnet, gateway, range).map_err(net_error)?,
                ))
            }
            Some(c) if c.gateway.is_some() || c.ip_range.is_some() => Err(Error::invalid(
                "every ip-range or gateway must have a corresponding subnet",
            )),
            _ => Ok(IpamRequest::FromPool),
        }
    }

    /// The new network's record.
    pub(crate) fn into_record(self, plan: Ipam) -> NetworkRecord {
        NetworkRecord {
            id: self.id,
            name: self.name,
            created: now_rfc3339(),
            driver: self.driver,
            internal: self.internal,
            attachable: self.attachable,
            enable_ipv6: self.enable_ipv6,
            subnet: Some(plan.subnet.to_string()),
            gateway: Some(plan.gateway.to_string()),
            ip_range: plan.ip_range.map(|r| r.to_string()),
            ipam_options: self.ipam_options,
            options: self.options,
            labels: self.labels,
            bridge: self.bridge,
            predefined: false,
        }
    }
}
