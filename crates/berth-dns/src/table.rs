//! The shared table of names per network: what the embedded DNS server knows.
//!
//! Each user-defined network holds one endpoint per attached container, with the names that
//! resolve to it there: the container's name, its network aliases and its short id. A query from
//! a container only sees the networks that container is attached to, as under dockerd.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The length of a container's short id, the name dockerd registers beside the container name.
pub const SHORT_ID_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableError {
    #[error("invalid container id {0:?}: expected at least {SHORT_ID_LEN} hex digits")]
    InvalidContainerId(String),
    #[error("endpoint of container {0} has neither an IPv4 nor an IPv6 address")]
    NoAddress(String),
    #[error("invalid network: id and name must not be empty")]
    InvalidNetwork,
}

/// A network as the table knows it: its id (the key) and its name (for PTR answers, which
/// dockerd gives as `<container>.<network>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRef {
    pub id: String,
    pub name: String,
}

/// One container's attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The full container id (64 hex digits; at least 12).
    pub container_id: String,
    /// The container's name, with or without docker's leading `/`.
    pub name: String,
    /// `--network-alias` values for this network.
    pub aliases: Vec<String>,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}

/// The addresses one name resolves to, within the first shared network that knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addresses {
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
}

#[derive(Debug, Default)]
struct Network {
    name: String,
    /// Keyed by container id; ordered so answers do not depend on hash order.
    endpoints: BTreeMap<String, Endpoint>,
    /// Legacy links on this network (`EndpointsConfig.Links`), per container id: alias ->
    /// the linked container's name. An alias resolves only for the container that has it.
    links: HashMap<String, Vec<(String, String)>>,
}

type Networks = HashMap<String, Network>;

/// The names of all user-defined networks, shared by the daemon (which updates it on connect,
/// disconnect, rename and remove) and every running resolver (which reads it per query).
/// Cloning is cheap: clones share the same table.
#[derive(Debug, Clone, Default)]
pub struct NameTable {
    networks: Arc<RwLock<Networks>>,
}

impl NameTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the endpoint of `endpoint.container_id` on `network`.
    pub fn connect(&self, network: &NetworkRef, endpoint: Endpoint) -> Result<(), TableError> {
        if network.id.is_empty() || network.name.is_empty() {
            return Err(TableError::InvalidNetwork);
        }
        validate_container_id(&endpoint.container_id)?;
        if endpoint.ipv4.is_none() && endpoint.ipv6.is_none() {
            return Err(TableError::NoAddress(endpoint.container_id));
        }
        let mut networks = self.write();
        let entry = networks.entry(network.id.clone()).or_default();
        entry.name.clone_from(&network.name);
        entry
            .endpoints
            .insert(endpoint.container_id.clone(), endpoint);
        Ok(())
    }

    /// Sets the links of `container_id`'s endpoint on a network (alias, linked container's
    /// name): `alias` then resolves, for that container only, to the linked container's
    /// address on that network, before any other name (libnetwork's order).
    pub fn set_links(&self, network_id: &str, container_id: &str, links: Vec<(String, String)>) {
        let mut networks = self.write();
        if let Some(network) = networks.get_mut(network_id) {
            if links.is_empty() {
                network.links.remove(container_id);
            } else {
                network.links.insert(container_id.to_string(), links);
            }
        }
    }

    /// Removes a container's endpoint from one network; true if it was there.
    pub fn disconnect(&self, network_id: &str, container_id: &str) -> bool {
        let mut networks = self.write();
        let Some(network) = networks.get_mut(network_id) else {
            return false;
        };
        network.links.remove(container_id);
        let removed = network.endpoints.remove(container_id).is_some();
        if network.endpoints.is_empty() {
            networks.remove(network_id);
        }
        removed
    }

    /// Changes a container's name on every network it is attached to.
    pub fn rename_container(&self, container_id: &str, new_name: &str) {
        for network in self.write().values_mut() {
            if let Some(endpoint) = network.endpoints.get_mut(container_id) {
                new_name.clone_into(&mut endpoint.name);
            }
        }
    }

    /// Removes a container from every network (container removed or stopped).
    pub fn remove_container(&self, container_id: &str) {
        let mut networks = self.write();
        for network in networks.values_mut() {
            network.endpoints.remove(container_id);
            network.links.remove(container_id);
        }
        networks.retain(|_, network| !network.endpoints.is_empty());
    }

    /// Forgets a network and all its endpoints.
    pub fn remove_network(&self, network_id: &str) {
        self.write().remove(network_id);
    }

    /// The addresses `name` resolves to for a query from container `asker`: the first network
    /// (by network name) shared with the asker where some endpoint has that name, alias or
    /// short id; every matching endpoint of that network counts (an alias may be shared).
    /// `None` if no shared network knows the name.
    pub fn lookup_name(&self, asker: &str, name: &str) -> Option<Addresses> {
        let wanted = normalize(name);
        if wanted.is_empty() {
            return None;
        }
        let networks = self.read();
        // The asker's own link aliases first, each on its network.
        for network in networks_of(&networks, asker) {
            let target = network.links.get(asker).and_then(|links| {
                links
                    .iter()
                    .find(|(alias, _)| normalize(alias) == wanted)
                    .map(|(_, target)| normalize(target.trim_start_matches('/')))
            });
            if let Some(found) = target.and_then(|t| lookup_in(network, &t)) {
                return Some(found);
            }
        }
        for network in networks_of(&networks, asker) {
            if let Some(found) = lookup_in(network, &wanted) {
                return Some(found);
            }
        }
        None
    }

    /// The name for a PTR query from container `asker`: `<container name>.<network name>` of
    /// the endpoint holding `ip` on a network shared with the asker, as dockerd answers.
    pub fn lookup_address(&self, asker: &str, ip: IpAddr) -> Option<String> {
        let networks = self.read();
        let found = networks_of(&networks, asker).find_map(|network| {
            network
                .endpoints
                .values()
                .find(|endpoint| match ip {
                    IpAddr::V4(ip) => endpoint.ipv4 == Some(ip),
                    IpAddr::V6(ip) => endpoint.ipv6 == Some(ip),
                })
                .map(|endpoint| format!("{}.{}", container_name(endpoint), network.name))
        });
        found
    }

    fn read(&self) -> RwLockReadGuard<'_, Networks> {
        // A panic while holding the lock cannot leave the maps half-updated (each update is a
        // single insert or remove), so a poisoned lock is still safe to use.
        self.networks.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Networks> {
        self.networks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The networks `asker` is attached to, ordered by name so a name known on two shared networks
/// resolves the same way every time.
fn networks_of<'a>(networks: &'a Networks, asker: &'a str) -> impl Iterator<Item = &'a Network> {
    let mut shared: Vec<&Network> = networks
        .values()
        .filter(|network| network.endpoints.contains_key(asker))
        .collect();
    shared.sort_by(|a, b| a.name.cmp(&b.name));
    shared.into_iter()
}

/// Every address on `network` of the endpoints that answer to `wanted` (normalized).
fn lookup_in(network: &Network, wanted: &str) -> Option<Addresses> {
    let mut found: Option<Addresses> = None;
    for endpoint in network.endpoints.values() {
        if !answers_to(endpoint, wanted) {
            continue;
        }
        let addresses = found.get_or_insert_with(Addresses::default);
        if let Some(ip) = endpoint.ipv4 {
            if !addresses.ipv4.contains(&ip) {
                addresses.ipv4.push(ip);
            }
        }
        if let Some(ip) = endpoint.ipv6 {
            if !addresses.ipv6.contains(&ip) {
                addresses.ipv6.push(ip);
            }
        }
    }
    found
}

fn answers_to(endpoint: &Endpoint, wanted: &str) -> bool {
    normalize(container_name(endpoint)) == wanted
        || endpoint
            .aliases
            .iter()
            .any(|alias| normalize(alias) == wanted)
        || endpoint
            .container_id
            .get(..SHORT_ID_LEN)
            .is_some_and(|short| short.eq_ignore_ascii_case(wanted))
}

fn container_name(endpoint: &Endpoint) -> &str {
    endpoint.name.trim_start_matches('/')
}

/// DNS names compare case-insensitively, with or without the trailing root dot.
fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

fn validate_container_id(id: &str) -> Result<(), TableError> {
    if id.len() < SHORT_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TableError::InvalidContainerId(id.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEB: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const DB: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    const CACHE: &str = "3333333333333333333333333333333333333333333333333333333333333333";

    fn net(name: &str) -> NetworkRef {
        NetworkRef {
            id: format!("id-{name}"),
            name: name.to_owned(),
        }
    }

    fn endpoint(id: &str, name: &str, last_octet: u8) -> Endpoint {
        Endpoint {
            container_id: id.to_owned(),
            name: name.to_owned(),
            aliases: Vec::new(),
            ipv4: Some(Ipv4Addr::new(172, 18, 0, last_octet)),
            ipv6: None,
        }
    }

    fn v4(addresses: Option<Addresses>) -> Vec<Ipv4Addr> {
        addresses.map(|a| a.ipv4).unwrap_or_default()
    }

    #[test]
    fn link_aliases_resolve_for_their_container_only() {
        let table = NameTable::new();
        let n = net("app");
        table.connect(&n, endpoint(WEB, "/web", 2)).expect("web");
        table.connect(&n, endpoint(DB, "/db", 3)).expect("db");
        table
            .connect(&n, endpoint(CACHE, "/cache", 4))
            .expect("cache");
        table.set_links(&n.id, WEB, vec![("store".into(), "/db".into())]);
        assert_eq!(
            v4(table.lookup_name(WEB, "store")),
            [Ipv4Addr::new(172, 18, 0, 3)]
        );
        assert_eq!(
            v4(table.lookup_name(WEB, "STORE.")),
            [Ipv4Addr::new(172, 18, 0, 3)]
        );
        assert!(
            table.lookup_name(CACHE, "store").is_none(),
            "only the linking container"
        );
        // A link alias wins over a container of that name.
        table.set_links(&n.id, WEB, vec![("cache".into(), "db".into())]);
        assert_eq!(
            v4(table.lookup_name(WEB, "cache")),
            [Ipv4Addr::new(172, 18, 0, 3)]
        );
        assert_eq!(
            v4(table.lookup_name(DB, "cache")),
            [Ipv4Addr::new(172, 18, 0, 4)]
        );
        table.disconnect(&n.id, WEB);
        table
            .connect(&n, endpoint(WEB, "/web", 2))
            .expect("web again");
        assert_eq!(
            v4(table.lookup_name(WEB, "cache")),
            [Ipv4Addr::new(172, 18, 0, 4)]
        );
    }

    #[test]
    fn resolves_name_alias_and_short_id_case_insensitively() {
        let table = NameTable::new();
        let mut db = endpoint(DB, "/db", 3);
        db.aliases = vec!["Postgres".into()];
        table.connect(&net("app"), endpoint(WEB, "web", 2)).unwrap();
        table.connect(&net("app"), db).unwrap();

        let db_ip = vec![Ipv4Addr::new(172, 18, 0, 3)];
        assert_eq!(v4(table.lookup_name(WEB, "db")), db_ip);
        assert_eq!(v4(table.lookup_name(WEB, "DB.")), db_ip);
        assert_eq!(v4(table.lookup_name(WEB, "postgres")), db_ip);
        assert_eq!(v4(table.lookup_name(WEB, "222222222222")), db_ip);
        // A longer prefix than the short id is not a registered name.
        assert_eq!(table.lookup_name(WEB, "2222222222222"), None);
        assert_eq!(table.lookup_name(WEB, "nope"), None);
        assert_eq!(table.lookup_name(WEB, ""), None);
        // A container resolves its own name too.
        assert_eq!(
            v4(table.lookup_name(WEB, "web")),
            vec![Ipv4Addr::new(172, 18, 0, 2)]
        );
    }

    #[test]
    fn names_resolve_only_within_shared_networks() {
        let table = NameTable::new();
        table
            .connect(&net("front"), endpoint(WEB, "web", 2))
            .unwrap();
        table.connect(&net("front"), endpoint(DB, "db", 3)).unwrap();
        table.connect(&net("back"), endpoint(DB, "db", 3)).unwrap();
        table
            .connect(&net("back"), endpoint(CACHE, "cache", 4))
            .unwrap();

        assert_eq!(table.lookup_name(WEB, "cache"), None);
        assert_eq!(table.lookup_name(CACHE, "web"), None);
        assert!(table.lookup_name(DB, "web").is_some());
        assert!(table.lookup_name(DB, "cache").is_some());
        // A container not attached anywhere sees nothing.
        assert_eq!(table.lookup_name("ffffffffffff", "db"), None);
    }

    #[test]
    fn shared_alias_returns_every_address_of_the_first_network() {
        let table = NameTable::new();
        let mut a = endpoint(DB, "db1", 3);
        a.aliases = vec!["db".into()];
        let mut b = endpoint(CACHE, "db2", 4);
        b.aliases = vec!["db".into()];
        b.ipv6 = Some("fd00::4".parse().unwrap());
        table.connect(&net("app"), endpoint(WEB, "web", 2)).unwrap();
        table.connect(&net("app"), a).unwrap();
        table.connect(&net("app"), b).unwrap();

        let found = table.lookup_name(WEB, "db").unwrap();
        assert_eq!(
            found.ipv4,
            vec![Ipv4Addr::new(172, 18, 0, 3), Ipv4Addr::new(172, 18, 0, 4)]
        );
        assert_eq!(found.ipv6, vec!["fd00::4".parse::<Ipv6Addr>().unwrap()]);
    }

    #[test]
    fn updates_follow_disconnect_rename_and_remove() {
        let table = NameTable::new();
        table.connect(&net("app"), endpoint(WEB, "web", 2)).unwrap();
        table.connect(&net("app"), endpoint(DB, "db", 3)).unwrap();
        table.connect(&net("other"), endpoint(DB, "db", 9)).unwrap();

        table.rename_container(DB, "database");
        assert_eq!(table.lookup_name(WEB, "db"), None);
        assert!(table.lookup_name(WEB, "database").is_some());
        assert_eq!(
            table.lookup_address(DB, "172.18.0.9".parse().unwrap()),
            Some("database.other".into())
        );

        assert!(table.disconnect("id-app", DB));
        assert!(!table.disconnect("id-app", DB));
        assert_eq!(table.lookup_name(WEB, "database"), None);
        assert!(table.lookup_name(DB, "database").is_some());

        table.remove_container(DB);
        assert_eq!(table.lookup_name(DB, "database"), None);

        table.remove_network("id-app");
        assert_eq!(table.lookup_name(WEB, "web"), None);
    }

    #[test]
    fn reverse_lookup_names_container_and_network() {
        let table = NameTable::new();
        table
            .connect(&net("app"), endpoint(WEB, "/web", 2))
            .unwrap();
        table.connect(&net("app"), endpoint(DB, "db", 3)).unwrap();
        table
            .connect(&net("back"), endpoint(CACHE, "cache", 4))
            .unwrap();

        assert_eq!(
            table.lookup_address(WEB, "172.18.0.3".parse().unwrap()),
            Some("db.app".into())
        );
        assert_eq!(
            table.lookup_address(WEB, "172.18.0.4".parse().unwrap()),
            None
        );
    }

    #[test]
    fn rejects_bad_endpoints() {
        let table = NameTable::new();
        let mut no_ip = endpoint(WEB, "web", 2);
        no_ip.ipv4 = None;
        assert_eq!(
            table.connect(&net("app"), no_ip),
            Err(TableError::NoAddress(WEB.into()))
        );
        assert!(matches!(
            table.connect(&net("app"), endpoint("abc", "web", 2)),
            Err(TableError::InvalidContainerId(_))
        ));
        assert!(matches!(
            table.connect(&net("app"), endpoint("zzzzzzzzzzzzzzzz", "web", 2)),
            Err(TableError::InvalidContainerId(_))
        ));
        assert_eq!(
            table.connect(
                &NetworkRef {
                    id: String::new(),
                    name: "x".into()
                },
                endpoint(WEB, "web", 2)
            ),
            Err(TableError::InvalidNetwork)
        );
        assert_eq!(table.lookup_name(WEB, "web"), None);
    }

    #[test]
    fn clones_share_one_table() {
        let table = NameTable::new();
        let other = table.clone();
        table.connect(&net("app"), endpoint(WEB, "web", 2)).unwrap();
        assert!(other.lookup_name(WEB, "web").is_some());
    }
}
