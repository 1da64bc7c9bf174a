//! The embedded DNS of user-defined networks (berth-dns), as dockerd's: one name table for the
//! daemon, and one resolver per container on such a network, listening on 127.0.0.11:53 inside
//! the container's network namespace. Names resolve only between containers that share a
//! network; other names are forwarded from the host's namespace to `--dns` or the host's
//! resolvers (none for a container whose networks are all `--internal`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Mutex;

use berth_api::models::HostConfig;
use berth_dns::{
    bind_in_netns, serve, Endpoint, NameTable, Netns, NetworkRef, Resolver, ServerHandle,
    Upstreams, DNS_SERVER_ADDR,
};
use berth_types::{Error, Result};

/// The name table and the running resolvers, by container id.
#[derive(Default)]
pub struct DnsService {
    table: NameTable,
    servers: Mutex<HashMap<String, ServerHandle>>,
}

/// One endpoint of a container on a user-defined network, as the table needs it.
pub struct DnsEndpoint<'a> {
    pub network_id: &'a str,
    pub network_name: &'a str,
    pub container_id: &'a str,
    pub container_name: &'a str,
    pub aliases: &'a [String],
    /// `EndpointsConfig.Links` on this network (`name[:alias]`).
    pub links: &'a [String],
    pub ipv4: Ipv4Addr,
}

impl DnsService {
    /// Records (or replaces) a container's names on a network.
    pub fn connect(&self, ep: &DnsEndpoint<'_>) -> Result<()> {
        let network = NetworkRef {
            id: ep.network_id.to_string(),
            name: ep.network_name.to_string(),
        };
        self.table
            .connect(
                &network,
                Endpoint {
                    container_id: ep.container_id.to_string(),
                    name: ep.container_name.to_string(),
                    aliases: ep.aliases.to_vec(),
                    ipv4: Some(ep.ipv4),
                    ipv6: None,
                },
            )
            .map_err(|e| Error::invalid(format!("embedded DNS: {e}")))?;
        let links = ep
            .links
            .iter()
            .filter_map(|l| crate::container::links::parse(l).ok())
            .map(|(name, alias)| (alias, name))
            .collect();
        self.table.set_links(ep.network_id, ep.container_id, links);
        Ok(())
    }

    /// Forgets a container's names on one network.
    pub fn disconnect(&self, network_id: &str, container_id: &str) {
        self.table.disconnect(network_id, container_id);
    }

    pub fn rename(&self, container_id: &str, new_name: &str) {
        self.table.rename_container(container_id, new_name);
    }

    /// Whether `container_id` has a resolver running.
    pub fn serving(&self, container_id: &str) -> bool {
        self.servers
            .lock()
            .map(|s| s.contains_key(container_id))
            .unwrap_or(false)
    }

    /// Starts the container's resolver inside `netns` (whose loopback is up). `internal`: every
    /// network of the container is `--internal`, so nothing is forwarded.
    pub fn start(
        &self,
        container_id: &str,
        netns: &Path,
        hc: &HostConfig,
        internal: bool,
    ) -> Result<()> {
        let upstreams = if internal {
            Upstreams::new([])
        } else {
            upstreams_for(hc)?
        };
        let sockets = bind_in_netns(Netns::Path(netns), DNS_SERVER_ADDR)
            .map_err(|e| Error::internal(format!("embedded DNS: {e}")))?;
        let resolver = Resolver::new(self.table.clone(), container_id, upstreams);
        let handle =
            serve(sockets, resolver).map_err(|e| Error::internal(format!("embedded DNS: {e}")))?;
        let previous = self
            .servers
            .lock()
            .map_err(|_| Error::internal("DNS server table poisoned"))?
            .insert(container_id.to_string(), handle);
        // A leftover from a run that did not stop cleanly: its namespace is gone anyway.
        drop(previous);
        Ok(())
    }

    /// Stops the container's resolver and forgets all its names.
    pub async fn stop(&self, container_id: &str) {
        let handle = self
            .servers
            .lock()
            .ok()
            .and_then(|mut s| s.remove(container_id));
        if let Some(h) = handle {
            h.stop().await;
        }
        self.table.remove_container(container_id);
    }
}

/// `--dns` servers when given, else the host's resolvers (loopback ones skipped: the queries
/// leave from the host, but dockerd skips them too, as they often are a local stub).
fn upstreams_for(hc: &HostConfig) -> Result<Upstreams> {
    let given: Vec<IpAddr> = hc
        .dns
        .iter()
        .flatten()
        .filter_map(|s| s.parse().ok())
        .collect();
    if !given.is_empty() {
        return Ok(Upstreams::from_ips(given));
    }
    Upstreams::from_host().map_err(|e| Error::internal(format!("embedded DNS: {e}")))
}

/// resolv.conf of a container that uses the embedded DNS: 127.0.0.11, the search domains and
/// options of `--dns-search`/`--dns-option` or the host's, and `ndots:0` as dockerd writes.
pub fn embedded_resolv_conf(hc: &HostConfig, host_resolv_conf: &str) -> String {
    let mut out = format!("nameserver {}\n", DNS_SERVER_ADDR.ip());
    let search = hc.dns_search.clone().unwrap_or_default();
    let options = hc.dns_options.clone().unwrap_or_default();
    if search.is_empty() {
        for line in host_resolv_conf.lines() {
            let t = line.trim();
            if t.starts_with("search") || t.starts_with("domain") {
                out.push_str(t);
                out.push('\n');
            }
        }
    } else if search != ["."] {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    let mut opts: Vec<String> = if options.is_empty() {
        host_resolv_conf
            .lines()
            .filter_map(|l| l.trim().strip_prefix("options"))
            .flat_map(|o| o.split_whitespace().map(str::to_string))
            .collect()
    } else {
        options
    };
    if !opts.iter().any(|o| o.starts_with("ndots:")) {
        opts.push("ndots:0".into());
    }
    out.push_str(&format!("options {}\n", opts.join(" ")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_points_at_the_embedded_server() {
        let host = "nameserver 10.0.0.1\nsearch corp.example\noptions edns0\n";
        let hc = HostConfig::default();
        assert_eq!(
            embedded_resolv_conf(&hc, host),
            "nameserver 127.0.0.11\nsearch corp.example\noptions edns0 ndots:0\n"
        );
        let hc = HostConfig {
            dns_search: Some(vec!["a.example".into()]),
            dns_options: Some(vec!["ndots:2".into()]),
            ..Default::default()
        };
        assert_eq!(
            embedded_resolv_conf(&hc, host),
            "nameserver 127.0.0.11\nsearch a.example\noptions ndots:2\n"
        );
    }

    #[test]
    fn dns_flags_are_the_upstreams() {
        let hc = HostConfig {
            dns: Some(vec!["192.0.2.53".into()]),
            ..Default::default()
        };
        let up = upstreams_for(&hc).expect("upstreams");
        assert_eq!(up.servers().len(), 1);
        assert_eq!(up.servers()[0].ip().to_string(), "192.0.2.53");
    }
}
