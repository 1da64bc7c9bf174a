//! Legacy container links on the default bridge (`--link name:alias`, `HostConfig.Links`), as
//! dockerd 20.10 keeps them: registered at create (the linked container must exist), the linked
//! container's address, ports and environment given to the linking container as environment
//! variables (moby `daemon/links`) and `/etc/hosts` entries when it starts, shown by inspect as
//! `/<linked>:/<container>/<alias>` and in `docker ps` names, and removed one by one with
//! `DELETE /containers/<container>/<alias>?link=true`.
//!
//! On a user-defined network links are the endpoint's (`EndpointsConfig.<net>.Links`): the
//! embedded DNS answers the alias for the linking container only (see `net_dns`); nothing is
//! registered here, as in dockerd.

use std::collections::BTreeMap;

use berth_types::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

use crate::container::record::Container;
use crate::daemon::Daemon;
use crate::network::endpoints::Mode;

/// One registered link: the linked container (by id, so renames follow) and the alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub child: String,
    pub alias: String,
}

/// docker's `opts.ParseLink`: `name[:alias]`, or the `/name:/parent/alias` form inspect shows.
pub fn parse(val: &str) -> Result<(String, String)> {
    if val.is_empty() {
        return Err(Error::invalid("empty string specified for links"));
    }
    let parts: Vec<&str> = val.split(':').collect();
    match parts.as_slice() {
        [name] => Ok((name.to_string(), name.to_string())),
        [name, alias] => match name.strip_prefix('/') {
            Some(bare) => {
                let alias = alias.rsplit('/').next().unwrap_or(alias);
                Ok((bare.to_string(), alias.to_string()))
            }
            None => Ok((name.to_string(), alias.to_string())),
        },
        _ => Err(Error::invalid(format!("bad format for links: {val}"))),
    }
}

/// Whether a network mode's links are legacy ones (the default bridge) rather than an
/// endpoint's.
fn legacy_mode(network_mode: Option<&str>) -> bool {
    matches!(network_mode, None | Some("" | "default" | "bridge"))
}

/// The environment variables of one link (moby `links.Link.ToEnv`): the linked container's
/// first port as `<ALIAS>_PORT`, every port's `_PORT_<n>_<PROTO>[_ADDR|_PORT|_PROTO]`, ranges
/// of consecutive ports as `_START`/`_END`, `<ALIAS>_NAME`, and its environment as
/// `<ALIAS>_ENV_<VAR>` (HOME and PATH left out).
pub fn env_vars(
    name: &str,
    child_ip: &str,
    ports: &[(u16, String)],
    env: &[String],
) -> Vec<String> {
    let alias = name
        .rsplit('/')
        .next()
        .unwrap_or(name)
        .to_ascii_uppercase()
        .replace('-', "_");
    let mut ports = ports.to_vec();
    // Ascending by number, tcp first for the same number.
    ports.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| (a.1 != "tcp").cmp(&(b.1 != "tcp")))
    });
    let mut out = Vec::new();
    if let Some((num, proto)) = ports.first() {
        out.push(format!("{alias}_PORT={proto}://{child_ip}:{num}"));
    }
    let mut i = 0;
    while i < ports.len() {
        let (start, proto) = &ports[i];
        let mut j = i;
        while j + 1 < ports.len()
            && ports[j + 1].0 == ports[j].0.wrapping_add(1)
            && ports[j + 1].1 == *proto
        {
            j += 1;
        }
        if j > i {
            let (end, end_proto) = &ports[j];
            let prefix = format!("{alias}_PORT_{start}_{}", proto.to_ascii_uppercase());
            out.push(format!("{prefix}_START={proto}://{child_ip}:{start}"));
            out.push(format!("{prefix}_PORT_START={start}"));
            out.push(format!("{prefix}_END={end_proto}://{child_ip}:{end}"));
            out.push(format!("{prefix}_PORT_END={end}"));
        }
        i = j + 1;
    }
    for (num, proto) in &ports {
        let prefix = format!("{alias}_PORT_{num}_{}", proto.to_ascii_uppercase());
        out.push(format!("{prefix}={proto}://{child_ip}:{num}"));
        out.push(format!("{prefix}_ADDR={child_ip}"));
        out.push(format!("{prefix}_PORT={num}"));
        out.push(format!("{prefix}_PROTO={proto}"));
    }
    out.push(format!("{alias}_NAME={name}"));
    for v in env {
        let Some((k, val)) = v.split_once('=') else {
            continue;
        };
        if k == "HOME" || k == "PATH" {
            continue;
        }
        out.push(format!("{alias}_ENV_{k}={val}"));
    }
    out
}

/// A linked container as the linking one sees it at start.
pub struct Child {
    /// `/<container>/<alias>`
    pub link_name: String,
    pub alias: String,
    pub container: Container,
}

impl Daemon {
    /// dockerd's `registerLinks` at create: each `HostConfig.Links` entry of a container on the
    /// default bridge names an existing container (following `container:` network modes),
    /// not one on the host network.
    pub(crate) fn register_links(&self, hc: &berth_api::models::HostConfig) -> Result<Vec<Link>> {
        let wanted = hc.links.clone().unwrap_or_default();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mode = crate::network::endpoints::mode_of(hc);
        if mode == Mode::Host {
            return Err(Error::invalid(
                "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
            ));
        }
        if !legacy_mode(hc.network_mode.as_deref()) {
            return Ok(Vec::new());
        }
        let mut links: Vec<Link> = Vec::new();
        for l in &wanted {
            let (name, alias) = parse(l)?;
            let mut child = self.lookup(&name).map_err(|e| match e.kind {
                ErrorKind::NotFound => {
                    Error::invalid(format!("could not get container for {name}: {}", e.message))
                }
                _ => e,
            })?;
            loop {
                let snap = child.snapshot();
                match crate::network::endpoints::mode_of(&snap.host_config) {
                    Mode::Container(other) => {
                        child = self.lookup(&other).map_err(|e| {
                            Error::invalid(format!("Could not get container for {other}: {}", e.message))
                        })?;
                    }
                    Mode::Host => {
                        return Err(Error::invalid(
                            "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
                        ))
                    }
                    _ => break,
                }
            }
            links.retain(|x| x.alias != alias);
            links.push(Link {
                child: child.id.clone(),
                alias,
            });
        }
        Ok(links)
    }

    /// The containers `c` links to that still exist, by link name.
    pub(crate) fn link_children(&self, c: &Container) -> Vec<Child> {
        c.links
            .iter()
            .filter_map(|l| {
                let child = self.lookup(&l.child).ok()?.snapshot();
                Some(Child {
                    link_name: format!("{}/{}", c.name, l.alias),
                    alias: l.alias.clone(),
                    container: child,
                })
            })
            .collect()
    }

    /// dockerd's `setupLinkedContainers`: the link variables for a process of `c` (its init or
    /// an exec). Every linked container must be running; none when `c` is not on the bridge.
    pub(crate) fn link_env(&self, c: &Container) -> Result<Vec<String>> {
        if c.links.is_empty() || !c.net.active.contains_key("bridge") {
            return Ok(Vec::new());
        }
        let mut env = Vec::new();
        for child in self.link_children(c) {
            let cc = &child.container;
            if !cc.state.running() {
                return Err(Error::internal(format!(
                    "Cannot link to a non running container: {} AS {}",
                    cc.name, child.link_name
                )));
            }
            let Some(ip) = cc
                .net
                .active
                .get("bridge")
                .and_then(|ep| ep.ip_address.clone())
                .filter(|ip| !ip.is_empty())
            else {
                return Err(Error::internal(format!(
                    "container {} not attached to default bridge network",
                    cc.id
                )));
            };
            let ports: Vec<(u16, String)> = cc
                .config
                .exposed_ports
                .iter()
                .flat_map(|m| m.keys())
                .filter_map(|p| {
                    let (num, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
                    Some((num.parse().ok()?, proto.to_string()))
                })
                .collect();
            env.extend(env_vars(
                &child.link_name,
                &ip,
                &ports,
                cc.config.env.as_deref().unwrap_or_default(),
            ));
        }
        Ok(env)
    }

    /// The `/etc/hosts` lines for `c`'s links (libnetwork's extra hosts): the linked
    /// container's bridge address with the alias, its hostname and its name.
    pub(crate) fn link_hosts(&self, c: &Container) -> Vec<String> {
        let mut lines = Vec::new();
        for child in self.link_children(c) {
            let cc = &child.container;
            let Some(ip) = cc
                .net
                .active
                .get("bridge")
                .and_then(|ep| ep.ip_address.clone())
                .filter(|ip| !ip.is_empty())
            else {
                continue;
            };
            let mut names = vec![child.alias.clone(), crate::runtime::spec::hostname(cc)];
            if child.alias != cc.bare_name() {
                names.push(cc.bare_name().to_string());
            }
            lines.push(format!("{ip}\t{}", names.join(" ")));
        }
        lines
    }

    /// `HostConfig.Links` as dockerd's inspect shows it: `/<linked>:/<container>/<alias>`.
    pub(crate) fn links_shown(&self, c: &Container) -> Option<Vec<String>> {
        let shown: Vec<String> = self
            .link_children(c)
            .iter()
            .map(|child| format!("{}:{}", child.container.name, child.link_name))
            .collect();
        (!shown.is_empty()).then_some(shown)
    }

    /// The link names under which other containers know `c` (`/<container>/<alias>`), which
    /// dockerd lists among its names.
    pub(crate) fn link_names_of(&self, c: &Container) -> Vec<String> {
        let mut names: BTreeMap<String, ()> = BTreeMap::new();
        for other in self.all() {
            let o = other.snapshot();
            for l in o.links.iter().filter(|l| l.child == c.id) {
                names.insert(format!("{}/{}", o.name, l.alias), ());
            }
        }
        names.into_keys().collect()
    }

    /// The container a link name (`parent/alias`) refers to, as dockerd resolves the names it
    /// reserves for links.
    pub(crate) fn lookup_link(&self, link_name: &str) -> Result<(String, Link)> {
        let full = format!("/{}", link_name.trim_start_matches('/'));
        let missing = || Error::not_found(format!("No such container: {link_name}"));
        let (parent, alias) = full.rsplit_once('/').ok_or_else(missing)?;
        if parent.is_empty() {
            return Err(missing());
        }
        let p = self.lookup(parent).map_err(|_| missing())?.snapshot();
        if p.name != parent {
            return Err(missing());
        }
        let link = p
            .links
            .iter()
            .find(|l| l.alias == alias)
            .cloned()
            .ok_or_else(missing)?;
        Ok((p.id, link))
    }

    /// `DELETE /containers/<parent>/<alias>` without `link`: the linked container itself.
    pub async fn container_remove_linked(
        &self,
        link_name: &str,
        opts: crate::options::RemoveOptions,
    ) -> Result<()> {
        let (_, link) = self.lookup_link(link_name)?;
        self.container_remove(&link.child, opts).await
    }

    /// `DELETE /containers/<parent>/<alias>?link=true` (dockerd's `rmLink`): the link goes,
    /// both containers stay.
    pub async fn container_remove_link(&self, link_name: &str) -> Result<()> {
        let full = format!("/{}", link_name.trim_start_matches('/'));
        let (parent, alias) = full.rsplit_once('/').unwrap_or(("", &full));
        if parent.is_empty() {
            // A plain container name: dockerd finds the container, then refuses.
            self.lookup(link_name)?;
            return Err(Error::internal(
                "Conflict, cannot remove the default link name of the container",
            ));
        }
        let (parent_id, _) = self.lookup_link(link_name)?;
        let ctr = self.lookup(&parent_id)?;
        let _op = ctr.op.lock().await;
        ctr.update(|c| c.links.retain(|l| l.alias != alias));
        self.repo.save(&ctr.snapshot())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_link_as_docker() {
        assert_eq!(parse("web").expect("name"), ("web".into(), "web".into()));
        assert_eq!(parse("web:db").expect("alias"), ("web".into(), "db".into()));
        assert_eq!(
            parse("/web:/app/db").expect("inspect form"),
            ("web".into(), "db".into())
        );
        assert_eq!(
            parse("").expect_err("empty").message,
            "empty string specified for links"
        );
        assert_eq!(
            parse("a:b:c").expect_err("3").message,
            "bad format for links: a:b:c"
        );
    }

    #[test]
    fn env_as_moby_links() {
        let env = env_vars(
            "/app/my-db",
            "172.17.0.3",
            &[
                (6380, "tcp".into()),
                (80, "udp".into()),
                (6379, "tcp".into()),
                (80, "tcp".into()),
            ],
            &["FOO=bar".into(), "PATH=/bin".into(), "HOME=/root".into()],
        );
        for want in [
            "MY_DB_PORT=tcp://172.17.0.3:80",
            "MY_DB_PORT_80_TCP=tcp://172.17.0.3:80",
            "MY_DB_PORT_80_TCP_ADDR=172.17.0.3",
            "MY_DB_PORT_80_TCP_PORT=80",
            "MY_DB_PORT_80_TCP_PROTO=tcp",
            "MY_DB_PORT_80_UDP=udp://172.17.0.3:80",
            "MY_DB_PORT_6379_TCP_START=tcp://172.17.0.3:6379",
            "MY_DB_PORT_6379_TCP_PORT_START=6379",
            "MY_DB_PORT_6379_TCP_END=tcp://172.17.0.3:6380",
            "MY_DB_PORT_6379_TCP_PORT_END=6380",
            "MY_DB_NAME=/app/my-db",
            "MY_DB_ENV_FOO=bar",
        ] {
            assert!(env.iter().any(|e| e == want), "{want} in {env:?}");
        }
        assert!(!env
            .iter()
            .any(|e| e.contains("_ENV_PATH") || e.contains("_ENV_HOME")));
    }
}
