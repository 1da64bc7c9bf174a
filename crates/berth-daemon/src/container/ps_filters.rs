//! The `ps` filters on ports, networks, volumes and swarm tasks (dockerd's `list.go`), and the
//! `Ports` of a summary they look at.

use berth_api::models::Port;
use berth_api::Filters;
use berth_types::{Error, Result};

use crate::container::record::Container;

/// `80`, `80/udp`, `8000-8080/tcp`: a port range and protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PortRange {
    first: u16,
    last: u16,
    proto: String,
}

impl PortRange {
    fn parse(key: &str, v: &str) -> Result<Self> {
        let (ports, proto) = v.split_once('/').unwrap_or((v, "tcp"));
        let bad = || Error::invalid(format!("invalid filter '{key}={v}'"));
        let (first, last) = match ports.split_once('-') {
            Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
            None => {
                let p = ports.parse().map_err(|_| bad())?;
                (p, p)
            }
        };
        if first > last || proto.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            first,
            last,
            proto: proto.to_ascii_lowercase(),
        })
    }

    fn contains(&self, port: u16, proto: &str) -> bool {
        (self.first..=self.last).contains(&port) && self.proto == proto
    }
}

/// `publish=` and `expose=`.
pub struct PortFilters {
    publish: Vec<PortRange>,
    expose: Vec<PortRange>,
}

impl PortFilters {
    pub fn parse(f: &Filters) -> Result<Self> {
        let parse = |key: &str| -> Result<Vec<PortRange>> {
            f.get(key)
                .iter()
                .map(|v| PortRange::parse(key, v))
                .collect()
        };
        Ok(Self {
            publish: parse("publish")?,
            expose: parse("expose")?,
        })
    }

    pub fn matches(&self, c: &Container) -> bool {
        if self.publish.is_empty() && self.expose.is_empty() {
            return true;
        }
        let ports = crate::network::render::summary_ports(c);
        let proto = |p: &Port| p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
        let exposed = self.expose.is_empty()
            || ports.iter().any(|p| {
                self.expose
                    .iter()
                    .any(|r| r.contains(p.private_port, &proto(p)))
            });
        let published = self.publish.is_empty()
            || ports.iter().any(|p| {
                p.public_port.is_some_and(|pub_port| {
                    self.publish.iter().any(|r| r.contains(pub_port, &proto(p)))
                })
            });
        exposed && published
    }
}

/// `is-task=true|false` (dockerd refuses anything else); `None` when absent.
pub fn is_task(f: &Filters) -> Result<Option<bool>> {
    match f.get("is-task") {
        [] => Ok(None),
        [v] if v == "true" => Ok(Some(true)),
        [v] if v == "false" => Ok(Some(false)),
        values => Err(Error::invalid(format!(
            "Invalid filter 'is-task=[{}]'",
            values.join(" ")
        ))),
    }
}

/// `network=`: any of the container's networks by name (the caller adds the names of networks
/// given by id or id prefix, as dockerd's `list.go` matches both); containers without networks
/// of their own (host, none) match their network mode's name.
pub fn on_network(c: &Container, name: &str) -> bool {
    c.net.configured.contains_key(name)
        || (c.net.configured.is_empty()
            && c.host_config.network_mode.as_deref().unwrap_or("bridge") == name)
}

/// `volume=`: a mount by volume name or destination path.
pub fn has_volume(c: &Container, v: &str) -> bool {
    c.host_config.binds.iter().flatten().any(|b| {
        let mut parts = b.split(':');
        let source = parts.next().unwrap_or_default();
        let dest = parts.next().unwrap_or_default();
        source == v || dest == v
    }) || c
        .host_config
        .mounts
        .iter()
        .flatten()
        .any(|m| m.source.as_deref() == Some(v) || m.target.as_deref() == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_like_dockerd() {
        let r = PortRange::parse("expose", "8000-8080/udp").expect("range");
        assert!(r.contains(8001, "udp") && !r.contains(8001, "tcp"));
        let r = PortRange::parse("expose", "80").expect("port");
        assert!(r.contains(80, "tcp"));
        assert!(PortRange::parse("expose", "x").is_err());
        assert!(PortRange::parse("expose", "90-80").is_err());
    }

    #[test]
    fn is_task_takes_booleans_only() {
        let mut f = Filters::default();
        assert_eq!(is_task(&f).ok(), Some(None));
        f.add("is-task", "maybe");
        let e = is_task(&f).expect_err("bad");
        assert_eq!(e.message, "Invalid filter 'is-task=[maybe]'");
    }
}
