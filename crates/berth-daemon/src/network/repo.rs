//! Persistence of networks and of the addresses handed out on them (tables `networks` and
//! `network_addresses` in `berth.db`). An address row is the IPAM's record: taking one is an
//! INSERT, so two containers can never get the same address.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use berth_network::ipam::Ipam;
use berth_network::Subnet;
use berth_store::db::{Db, SqlResultExt};
use berth_store::{DocTable, Document};
use berth_types::{Error, Result};
use rusqlite::params;
use serde::{Deserialize, Serialize};

const MIGRATIONS: &[&str] = &["CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);
CREATE TABLE network_addresses (
    network_id TEXT NOT NULL,
    address TEXT NOT NULL,
    container_id TEXT NOT NULL,
    PRIMARY KEY (network_id, address)
);"];

/// One network, as created.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    /// The IPv4 plan (bridge networks only).
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub ipam_options: HashMap<String, String>,
    pub options: HashMap<String, String>,
    pub labels: HashMap<String, String>,
    /// The Linux bridge (bridge networks only).
    pub bridge: String,
    /// `bridge`, `host` and `none`: made by berthd, never removed.
    pub predefined: bool,
}

pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
pub const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";

impl NetworkRecord {
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }

    /// The address plan of a bridge network.
    pub fn ipam(&self) -> Result<Ipam> {
        let subnet = Subnet::parse(self.subnet.as_deref().unwrap_or_default())
            .map_err(|e| Error::internal(format!("network {}: {e}", self.name)))?;
        let gateway = self
            .gateway
            .as_deref()
            .and_then(|g| g.parse::<Ipv4Addr>().ok());
        let range = match self.ip_range.as_deref() {
            Some(r) => Some(Subnet::parse(r).map_err(|e| Error::internal(e.to_string()))?),
            None => None,
        };
        Ipam::new(subnet, gateway, range).map_err(|e| Error::internal(e.to_string()))
    }

    pub fn mtu(&self) -> u32 {
        self.options
            .get(OPT_MTU)
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    pub fn masquerade(&self) -> bool {
        self.options
            .get(OPT_MASQUERADE)
            .is_none_or(|v| v != "false")
    }
}

impl Document for NetworkRecord {
    const TABLE: &'static str = "networks";
    const KIND: &'static str = "network";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> Option<&str> {
        Some(&self.name)
    }
}

pub struct NetworkRepo {
    docs: DocTable<NetworkRecord>,
    db: Db,
}

impl NetworkRepo {
    pub fn open(db: Db) -> Result<Self> {
        db.migrate("networks", MIGRATIONS)?;
        Ok(Self {
            docs: DocTable::new(db.clone()),
            db,
        })
    }

    pub fn insert(&self, n: &NetworkRecord) -> Result<()> {
        self.docs.insert(n)
    }

    pub fn save(&self, n: &NetworkRecord) -> Result<()> {
        self.docs.save(n)
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        self.db.transaction(|tx| {
            tx.execute(
                "DELETE FROM network_addresses WHERE network_id = ?1",
                params![id],
            )
            .db_err()?;
            tx.execute("DELETE FROM networks WHERE id = ?1", params![id])
                .db_err()?;
            Ok::<_, Error>(())
        })
    }

    pub fn load_all(&self) -> Result<Vec<NetworkRecord>> {
        self.docs.load_all()
    }

    /// Takes an address on `network` for `container`: `requested` (`--ip`) or the next free
    /// one of the plan.
    pub fn allocate(
        &self,
        network_id: &str,
        container_id: &str,
        ipam: &Ipam,
        requested: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr> {
        self.db.transaction(|tx| {
            let used: BTreeSet<Ipv4Addr> = {
                let mut stmt = tx
                    .prepare("SELECT address FROM network_addresses WHERE network_id = ?1")
                    .db_err()?;
                let rows = stmt
                    .query_map(params![network_id], |r| r.get::<_, String>(0))
                    .db_err()?;
                rows.filter_map(|r| r.ok().and_then(|a| a.parse().ok()))
                    .collect()
            };
            let ip = match requested {
                Some(ip) => {
                    ipam.check_static(ip, &used).map_err(net_error)?;
                    ip
                }
                None => ipam.next_free(&used).map_err(net_error)?,
            };
            tx.execute(
                "INSERT INTO network_addresses (network_id, address, container_id) VALUES (?1, ?2, ?3)",
                params![network_id, ip.to_string(), container_id],
            )
            .db_err()?;
            Ok::<_, Error>(ip)
        })
    }

    /// Gives back every address `container` holds on `network` (all networks when None).
    pub fn release(&self, network_id: Option<&str>, container_id: &str) -> Result<()> {
        self.db
            .with(|c| match network_id {
                Some(n) => c
                    .execute(
                        "DELETE FROM network_addresses WHERE network_id = ?1 AND container_id = ?2",
                        params![n, container_id],
                    )
                    .db_err(),
                None => c
                    .execute(
                        "DELETE FROM network_addresses WHERE container_id = ?1",
                        params![container_id],
                    )
                    .db_err(),
            })
            .map(|_| ())
    }

    /// Every container holding addresses (for releasing those of vanished containers).
    pub fn holders(&self) -> Result<BTreeSet<String>> {
        self.db.with(|c| {
            let mut stmt = c
                .prepare("SELECT DISTINCT container_id FROM network_addresses")
                .db_err()?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).db_err()?;
            rows.collect::<Result<BTreeSet<_>, _>>().db_err()
        })
    }
}

/// berth-network's errors in the daemon's terms.
pub fn net_error(e: berth_network::NetworkError) -> Error {
    use berth_network::NetworkError as N;
    match e {
        N::Invalid(m) => Error::invalid(m),
        N::InUse(m) => Error::new(berth_types::ErrorKind::Forbidden, m),
        other => Error::internal(other.to_string()),
    }
}
