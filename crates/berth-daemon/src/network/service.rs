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

#[cfg(test)]
mod tests {
    use super::*;

    /// A service over a temp database with one small pool: `10.9.0.0/16` cut into /24s.
    fn service() -> (tempfile::TempDir, NetworkService) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = berth_store::Db::open(dir.path().join("berth.db")).expect("db");
        let config = NetConfig {
            pools: vec![AddressPool::parse("base=10.9.0.0/16,size=24").expect("pool")],
            ..NetConfig::default()
        };
        (dir, NetworkService::open(config, db).expect("open"))
    }

    fn req(name: &str) -> NetworkCreateRequest {
        NetworkCreateRequest {
            name: name.into(),
            ..Default::default()
        }
    }

    fn with_subnet(name: &str, subnet: &str, gateway: Option<&str>) -> NetworkCreateRequest {
        NetworkCreateRequest {
            ipam: Some(models::Ipam {
                config: Some(vec![models::IpamConfig {
                    subnet: Some(subnet.into()),
                    gateway: gateway.map(Into::into),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..req(name)
        }
    }

    /// What the daemon does for a create, minus the bridge and the firewall.
    fn create(
        svc: &NetworkService,
        r: &NetworkCreateRequest,
        taken: &[Subnet],
    ) -> Result<NetworkRecord> {
        let check = svc.check_create(r)?;
        let ipam = match check.ipam_request()? {
            IpamRequest::Fixed(plan) => NetworkService::check_overlap(plan, taken)?,
            IpamRequest::FromPool => svc.pick_from_pool(taken)?,
        };
        let n = check.into_record(ipam);
        svc.repo.insert(&n)?;
        svc.put(n.clone());
        Ok(n)
    }

    fn message(r: Result<NetworkRecord>) -> (ErrorKind, String) {
        let e = r.expect_err("refused");
        (e.kind, e.message)
    }

    #[test]
    fn create_checks_with_dockerds_wording() {
        let (_dir, svc) = service();
        create(&svc, &req("front"), &[]).expect("front");
        let cases: Vec<(NetworkCreateRequest, ErrorKind, &str)> = vec![
            (
                req(""),
                ErrorKind::InvalidArgument,
                "network name must not be empty",
            ),
            (
                req("front"),
                ErrorKind::Conflict,
                "network with name front already exists",
            ),
            (
                NetworkCreateRequest {
                    driver: Some("host".into()),
                    ..req("h")
                },
                ErrorKind::Forbidden,
                "only one instance of \"host\" network is allowed",
            ),
            (
                NetworkCreateRequest {
                    driver: Some("overlay".into()),
                    ..req("o")
                },
                ErrorKind::NotFound,
                "plugin \"overlay\" not found",
            ),
            (
                NetworkCreateRequest {
                    ipam: Some(models::Ipam {
                        driver: Some("dhcp".into()),
                        ..Default::default()
                    }),
                    ..req("d")
                },
                ErrorKind::NotFound,
                "plugin \"dhcp\" not found",
            ),
            (
                NetworkCreateRequest {
                    options: Some(HashMap::from([(
                        OPT_BRIDGE_NAME.to_string(),
                        "a.b".to_string(),
                    )])),
                    ..req("b")
                },
                ErrorKind::InvalidArgument,
                "invalid bridge name: a.b",
            ),
            (
                NetworkCreateRequest {
                    options: Some(HashMap::from([(OPT_MTU.to_string(), "big".to_string())])),
                    ..req("m")
                },
                ErrorKind::InvalidArgument,
                "invalid MTU value \"big\"",
            ),
        ];
        for (r, kind, msg) in cases {
            assert_eq!(
                message(create(&svc, &r, &[])),
                (kind, msg.to_string()),
                "{}",
                r.name
            );
        }
        let two = NetworkCreateRequest {
            ipam: Some(models::Ipam {
                config: Some(vec![
                    models::IpamConfig {
                        subnet: Some("10.1.0.0/24".into()),
                        ..Default::default()
                    },
                    models::IpamConfig {
                        subnet: Some("10.2.0.0/24".into()),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
            ..req("two")
        };
        assert_eq!(
            message(create(&svc, &two, &[])).0,
            ErrorKind::NotImplemented
        );
        let front = svc.find("front").expect("front");
        let same_bridge = NetworkCreateRequest {
            options: Some(HashMap::from([(
                OPT_BRIDGE_NAME.to_string(),
                front.bridge.clone(),
            )])),
            ..req("again")
        };
        assert_eq!(
            message(create(&svc, &same_bridge, &[])),
            (
                ErrorKind::Conflict,
                format!(
                    "bridge name {} is already in use by another network",
                    front.bridge
                )
            )
        );
    }

    #[test]
    fn subnets_come_from_the_request_or_the_pool() {
        let (_dir, svc) = service();
        let taken = [Subnet::parse("10.9.0.0/24").expect("taken")];
        let a = create(&svc, &req("a"), &taken).expect("a");
        assert_eq!(
            a.subnet.as_deref(),
            Some("10.9.1.0/24"),
            "first free /24 of the pool"
        );
        assert_eq!(a.gateway.as_deref(), Some("10.9.1.1"));
        assert!(a.bridge.starts_with("br-") && a.bridge.len() == 15);
        assert!(!a.predefined);
        let b = create(
            &svc,
            &with_subnet("b", "192.168.77.0/24", Some("192.168.77.254")),
            &taken,
        )
        .expect("b");
        assert_eq!(b.gateway.as_deref(), Some("192.168.77.254"));
        assert_eq!(
            message(create(&svc, &with_subnet("c", "10.9.0.0/16", None), &taken)),
            (
                ErrorKind::Forbidden,
                "invalid pool request: Pool overlaps with other one on this address space".into()
            )
        );
        assert_eq!(
            message(create(
                &svc,
                &with_subnet("d", "10.3.0.0/24", Some("10.3.0.x")),
                &[]
            )),
            (
                ErrorKind::InvalidArgument,
                "invalid gateway address: 10.3.0.x".into()
            )
        );
        let gateway_only = NetworkCreateRequest {
            ipam: Some(models::Ipam {
                config: Some(vec![models::IpamConfig {
                    gateway: Some("10.4.0.1".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..req("e")
        };
        assert_eq!(
            message(create(&svc, &gateway_only, &[])).1,
            "every ip-range or gateway must have a corresponding subnet"
        );
        let all: Vec<Subnet> = (0..=255)
            .map(|i| Subnet::parse(&format!("10.9.{i}.0/24")).expect("subnet"))
            .collect();
        assert_eq!(
            message(create(&svc, &req("full"), &all)),
            (
                ErrorKind::Forbidden,
                "all predefined address pools have been fully subnetted".into()
            )
        );
    }

    #[test]
    fn find_by_name_id_or_unique_prefix_and_records_persist() {
        let (dir, svc) = service();
        let n = create(&svc, &req("net1"), &[]).expect("net1");
        assert_eq!(svc.find("net1").expect("name").id, n.id);
        assert_eq!(svc.find(&n.id).expect("id").name, "net1");
        assert_eq!(svc.find(&n.id[..6]).expect("prefix").name, "net1");
        let e = svc.find("nope").expect_err("missing");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::NotFound, "network nope not found")
        );
        let mut twin = n.clone();
        twin.id = format!("{}ffff", &n.id[..4]);
        twin.name = "twin".into();
        svc.put(twin);
        assert_eq!(
            svc.find(&n.id[..4]).expect_err("ambiguous").message,
            format!(
                "network {} is ambiguous (2 matches found based on ID prefix)",
                &n.id[..4]
            )
        );
        svc.forget(&n.id);
        assert!(svc.find("net1").is_err());
        // A new service over the same database loads what was inserted.
        let db = berth_store::Db::open(dir.path().join("berth.db")).expect("db");
        let again = NetworkService::open(NetConfig::default(), db).expect("reopen");
        assert_eq!(again.find("net1").expect("persisted").id, n.id);
    }

    #[test]
    fn list_filters() {
        let (_dir, svc) = service();
        for (name, driver) in [("host", "host"), ("none", "null")] {
            svc.put(NetworkService::predefined(name, driver));
        }
        let mut labelled = req("web");
        labelled.labels = Some(HashMap::from([("tier".to_string(), "front".to_string())]));
        create(&svc, &labelled, &[]).expect("web");
        create(&svc, &req("db"), &[]).expect("db");
        let used = |name: &str| name == "db";
        let names = |f: &[(&str, &str)]| -> Vec<String> {
            let mut filters = Filters::default();
            for (k, v) in f {
                filters.add(k, v);
            }
            svc.list(&filters, &used)
                .expect("list")
                .into_iter()
                .map(|n| n.name)
                .collect()
        };
        assert_eq!(names(&[]), ["db", "host", "none", "web"], "sorted by name");
        assert_eq!(names(&[("type", "builtin")]), ["host", "none"]);
        assert_eq!(names(&[("type", "custom")]), ["db", "web"]);
        assert_eq!(names(&[("dangling", "true")]), ["web"]);
        assert_eq!(names(&[("dangling", "false")]), ["db", "host", "none"]);
        assert_eq!(names(&[("label", "tier=front")]), ["web"]);
        assert_eq!(names(&[("driver", "null")]), ["none"]);
        assert_eq!(names(&[("name", "o")]), ["host", "none"]);
        assert_eq!(names(&[("scope", "swarm")]), Vec::<String>::new());
        let mut bad = Filters::default();
        bad.add("type", "other");
        assert_eq!(
            svc.list(&bad, &used).expect_err("type").message,
            "invalid filter: 'type'='other'"
        );
        let mut unknown = Filters::default();
        unknown.add("colour", "red");
        assert!(svc.list(&unknown, &used).is_err());
    }
}
