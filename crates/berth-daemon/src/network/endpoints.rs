//! A container's side of networking: which networks it joins (at create), its pinned network
//! namespace, veths, addresses and published ports (at start), their release (at exit), and
//! `network connect` / `disconnect`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::models::{ContainerConfig, EndpointSettings, HostConfig, NetworkingConfig};
use berth_network::link::{self, Netlink};
use berth_network::netns;
use berth_network::ports::{self, Proto};
use berth_types::{id, Error, ErrorKind, Result};

use crate::container::record::PublishedPort;
use crate::daemon::{Ctr, Daemon};
pub(crate) use crate::network::mode::{mode_of, Mode};
use crate::network::repo::{net_error, NetworkRecord};

fn forbidden(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Forbidden, msg)
}

/// The user's part of an endpoint: what survives a stop.
fn configured_part(ep: &EndpointSettings) -> EndpointSettings {
    EndpointSettings {
        ipam_config: ep.ipam_config.clone(),
        links: ep.links.clone(),
        aliases: ep.aliases.clone(),
        mac_address: ep.mac_address.clone().filter(|m| !m.is_empty()),
        driver_opts: ep.driver_opts.clone(),
        ..Default::default()
    }
}

fn requested_ip(ep: &EndpointSettings) -> Result<Option<Ipv4Addr>> {
    match ep
        .ipam_config
        .as_ref()
        .and_then(|c| c.ipv4_address.as_deref())
        .filter(|s| !s.is_empty())
    {
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| Error::invalid(format!("invalid IPv4 address: {s}"))),
        None => Ok(None),
    }
}

fn check_endpoint_for(n: &NetworkRecord, ep: &EndpointSettings) -> Result<()> {
    if n.predefined {
        if ep.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(Error::invalid(
                "network-scoped alias is supported only for containers in user defined networks",
            ));
        }
        if requested_ip(ep)?.is_some() {
            return Err(Error::invalid(
                "user specified IP address is supported on user defined networks only",
            ));
        }
    }
    if let Some(m) = ep.mac_address.as_deref().filter(|m| !m.is_empty()) {
        link::parse_mac(m).map_err(net_error)?;
    }
    Ok(())
}

impl Daemon {
    pub(crate) fn sandbox_path(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("netns").join(id)
    }

    /// At create: checks the network mode and returns the endpoints the container will have
    /// (keyed by network name).
    pub(crate) fn plan_networks(
        &self,
        hc: &HostConfig,
        config: &ContainerConfig,
        nc: Option<&NetworkingConfig>,
    ) -> Result<BTreeMap<String, EndpointSettings>> {
        let asked = nc
            .and_then(|n| n.endpoints_config.clone())
            .unwrap_or_default();
        let publishes = hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty())
            || hc.publish_all_ports == Some(true);
        match mode_of(hc) {
            Mode::Host | Mode::None => return Ok(BTreeMap::new()),
            Mode::Container(other) => {
                self.lookup(&other)?;
                if publishes {
                    return Err(Error::invalid(
                        "conflicting options: port publishing and the container type network mode",
                    ));
                }
                if config.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
                    return Err(Error::invalid(
                        "conflicting options: hostname and the network mode",
                    ));
                }
                return Ok(BTreeMap::new());
            }
            Mode::Bridge => {}
        }
        let mode = hc.network_mode.as_deref().unwrap_or("bridge");
        let mode = if mode.is_empty() || mode == "default" {
            "bridge"
        } else {
            mode
        };
        let mut planned = BTreeMap::new();
        // The entry the user gave for the network of the network mode: the docker CLI files
        // `--ip`, `--network-alias` and `--mac-address` under the name it was given, or under
        // "default" without `--network`.
        let primary_key: Option<String> = match self.nets.find(mode) {
            Ok(n) => {
                let key = [mode, n.name.as_str(), n.id.as_str()]
                    .into_iter()
                    .chain((n.name == "bridge").then_some("default"))
                    .find(|k| asked.contains_key(*k))
                    .map(str::to_string);
                let mut ep = key
                    .as_ref()
                    .and_then(|k| asked.get(k))
                    .cloned()
                    .unwrap_or_default();
                #[allow(deprecated)]
                if ep.mac_address.as_deref().is_none_or(str::is_empty) {
                    ep.mac_address = config.mac_address.clone().filter(|m| !m.is_empty());
                }
                check_endpoint_for(&n, &ep)?;
                planned.insert(n.name.clone(), configured_part(&ep));
                key
            }
            // As dockerd, a missing network fails the start, not the create.
            Err(e) if e.kind == ErrorKind::NotFound => {
                let ep = asked.get(mode).cloned().unwrap_or_default();
                planned.insert(mode.to_string(), configured_part(&ep));
                asked.contains_key(mode).then(|| mode.to_string())
            }
            Err(e) => return Err(e),
        };
        // API 1.44 and later: every other network of `EndpointsConfig` is joined too, with its
        // own aliases, address and MAC (the server refuses several below 1.44, as dockerd).
        let mut others: Vec<(&String, &EndpointSettings)> = asked
            .iter()
            .filter(|(k, _)| primary_key.as_ref() != Some(*k))
            .collect();
        others.sort_by(|a, b| a.0.cmp(b.0));
        for (key, ep) in others {
            match self.nets.find(key) {
                Ok(n) => {
                    if planned.contains_key(&n.name) {
                        continue;
                    }
                    check_endpoint_for(&n, ep)?;
                    planned.insert(n.name.clone(), configured_part(ep));
                }
                // Kept under the name given: the start fails with dockerd's not-found error.
                Err(e) if e.kind == ErrorKind::NotFound => {
                    planned.insert(key.clone(), configured_part(ep));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(planned)
    }

    /// Before the start, first half: the container's namespace, and for each network its
    /// address, MAC, veth name, DNS names and published ports, recorded on the container, so
    /// its `hosts` file and spec can be written. The kernel side (veths, addresses, routes:
    /// [`Daemon::net_wire`]) is left for later, to run while the runtime creates the
    /// container. On failure, everything done so far is undone.
    #[tracing::instrument(level = "debug", name = "net_plan", skip_all)]
    pub(crate) async fn net_plan(&self, ctr: &Arc<Ctr>) -> Result<()> {
        let c = ctr.snapshot();
        if crate::sandbox::member::in_pod(&c) {
            return Ok(()); // The pod's holder has the network.
        }
        match mode_of(&c.host_config) {
            Mode::Host => return Ok(()),
            Mode::Container(other) => {
                let o = self.lookup(&other)?.snapshot();
                if !o.state.running()
                    || o.state.status == crate::container::record::Status::Restarting
                {
                    return Err(Error::conflict(format!(
                        "cannot join network of a non running container: {}",
                        o.id
                    )));
                }
                return Ok(());
            }
            Mode::None | Mode::Bridge => {}
        }
        let sandbox = self.sandbox_path(&c.id);
        let path = sandbox.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::internal(format!("creating {}: {e}", parent.display())))?;
            }
            let _ = netns::remove(&path);
            super::spare_netns::pin_new(&path).map_err(net_error)
        })
        .await
        .map_err(|e| Error::internal(format!("creating a network namespace: {e}")))??;
        ctr.update(|c| c.net.sandbox = Some(sandbox.display().to_string()));
        let planned = match self.plan_endpoints(ctr) {
            // The embedded DNS listens on the namespace's loopback (up since its creation).
            Ok(()) if self.wants_dns(ctr) => self.start_dns(ctr),
            Ok(()) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = planned {
            self.net_down(&c.id).await;
            return Err(e);
        }
        Ok(())
    }

    /// Before the start, second half (after [`Daemon::net_plan`]): loopback up, each planned
    /// endpoint's veth into the namespace with its address and routes, and the firewall for
    /// published ports. The caller undoes everything on failure ([`Daemon::net_down`]).
    #[tracing::instrument(level = "debug", name = "net_wire", skip_all)]
    pub(crate) async fn net_wire(&self, ctr: &Arc<Ctr>) -> Result<()> {
        let c = ctr.snapshot();
        let Some(sandbox) = c.net.sandbox.clone() else {
            return Ok(()); // Host, another container's or the pod's network.
        };
        if crate::sandbox::member::in_pod(&c) || mode_of(&c.host_config) == Mode::Host {
            return Ok(());
        }
        // The loopback came up with the namespace (`netns::create`): `--network none` has
        // nothing left to do here.
        if c.net.veths.is_empty() {
            return Ok(());
        }
        // Joining the namespace takes a thread of its own: not on a runtime worker.
        let path = std::path::PathBuf::from(&sandbox);
        let inside = tokio::task::spawn_blocking(move || Netlink::in_netns(&path))
            .await
            .map_err(|e| Error::internal(format!("entering the network namespace: {e}")))?
            .map_err(net_error)?;
        let host = Netlink::host().map_err(net_error)?;
        for (i, name) in self.endpoint_order(&c).iter().enumerate() {
            self.wire_endpoint(&c, name, &format!("eth{i}"), i == 0, &host, &inside)
                .await?;
        }
        self.repo.save(&ctr.snapshot())?;
        // The table holds per-network rules (applied when a network is created or restored)
        // and published ports: only the latter change with a container.
        if !ctr.snapshot().net.ports.is_empty() {
            self.apply_firewall().await?;
        }
        Ok(())
    }

    /// The container's networks in interface order: the network of the network mode first (it
    /// is eth0 and has the default route), then the others by name.
    fn endpoint_order(&self, c: &crate::container::record::Container) -> Vec<String> {
        let primary = c.host_config.network_mode.clone().unwrap_or_default();
        let first = self.nets.find(&primary).ok().map(|n| n.name);
        let mut order: Vec<String> = c.net.configured.keys().cloned().collect();
        order.sort_by_key(|name| (first.as_deref() != Some(name.as_str()), name.clone()));
        order
    }

    /// Addresses, veth names and DNS names of every network of a bridge-mode container, and
    /// its published ports.
    fn plan_endpoints(&self, ctr: &Arc<Ctr>) -> Result<()> {
        let c = ctr.snapshot();
        if mode_of(&c.host_config) != Mode::Bridge {
            return Ok(());
        }
        for name in self.endpoint_order(&c) {
            self.plan_endpoint(ctr, &name)?;
        }
        self.publish_ports(ctr)
    }

    /// Creates the endpoint of `ctr` on network `name` (a running container's `network
    /// connect`): address, veth into its namespace as `iface`, and (for the first) the
    /// default route.
    async fn attach_endpoint(
        &self,
        ctr: &Arc<Ctr>,
        name: &str,
        iface: &str,
        default_route: bool,
    ) -> Result<()> {
        self.plan_endpoint(ctr, name)?;
        let c = ctr.snapshot();
        let sandbox = c
            .net
            .sandbox
            .clone()
            .ok_or_else(|| Error::internal("no network namespace"))?;
        let host = Netlink::host().map_err(net_error)?;
        let inside = Netlink::in_netns(Path::new(&sandbox)).map_err(net_error)?;
        self.wire_endpoint(&c, name, iface, default_route, &host, &inside)
            .await
    }

    /// The bookkeeping half of an endpoint on network `name`: its address (from IPAM), MAC,
    /// veth name and DNS names, recorded on the container; nothing in the kernel yet.
    fn plan_endpoint(&self, ctr: &Arc<Ctr>, name: &str) -> Result<()> {
        let c = ctr.snapshot();
        let n = self.nets.find(name).map_err(|e| {
            Error::new(
                e.kind,
                format!("failed to set up container networking: {}", e.message),
            )
        })?;
        let ep = c.net.configured.get(name).cloned().unwrap_or_default();
        let ipam = n.ipam()?;
        let ip = self
            .nets
            .repo
            .allocate(&n.id, &c.id, &ipam, requested_ip(&ep)?)?;
        let mac = match ep.mac_address.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => link::parse_mac(m).map_err(net_error)?,
            None => link::mac_for(ip),
        };
        let veth = format!("veth{}", &id::generate()[..7]);
        let mut dns_names = vec![c.bare_name().to_string()];
        dns_names.extend(ep.aliases.clone().unwrap_or_default());
        dns_names.push(c.short_id().to_string());
        let active = EndpointSettings {
            network_id: Some(n.id.clone()),
            endpoint_id: Some(id::generate()),
            gateway: Some(ipam.gateway.to_string()),
            ip_address: Some(ip.to_string()),
            ip_prefix_len: Some(i64::from(ipam.subnet.prefix())),
            mac_address: Some(link::format_mac(mac)),
            dns_names: (!n.predefined).then_some(dns_names),
            ..ep
        };
        if !n.predefined {
            let aliases = active.aliases.clone().unwrap_or_default();
            let links = active.links.clone().unwrap_or_default();
            let registered = self.dns.connect(&crate::network::dns::DnsEndpoint {
                network_id: &n.id,
                network_name: &n.name,
                container_id: &c.id,
                container_name: c.bare_name(),
                aliases: &aliases,
                links: &links,
                ipv4: ip,
            });
            if let Err(e) = registered {
                tracing::warn!(container = %c.id, error = %e.message, "embedded DNS names");
            }
        }
        ctr.update(|c| {
            c.net.veths.insert(name.to_string(), veth);
            c.net.active.insert(name.to_string(), active);
        });
        Ok(())
    }

    /// The kernel half of a planned endpoint: the veth pair (host end on the network's
    /// bridge, the other end born in the container's namespace as `iface`), its address and
    /// (for the first) the default route; then the network's `connect` event.
    async fn wire_endpoint(
        &self,
        c: &crate::container::record::Container,
        name: &str,
        iface: &str,
        default_route: bool,
        host: &Netlink,
        inside: &Netlink,
    ) -> Result<()> {
        let sandbox = c
            .net
            .sandbox
            .clone()
            .ok_or_else(|| Error::internal("no network namespace"))?;
        let n = self.nets.find(name).map_err(|e| {
            Error::new(
                e.kind,
                format!("failed to set up container networking: {}", e.message),
            )
        })?;
        let (Some(veth), Some(active)) = (c.net.veths.get(name), c.net.active.get(name)) else {
            return Err(Error::internal(format!(
                "no planned endpoint on network {name}"
            )));
        };
        let ip: Ipv4Addr = active
            .ip_address
            .as_deref()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| Error::internal("endpoint without an address"))?;
        let mac = link::parse_mac(active.mac_address.as_deref().unwrap_or_default())
            .map_err(net_error)?;
        let ipam = n.ipam()?;
        host.create_veth(veth, iface, Path::new(&sandbox), &n.bridge, n.mtu(), mac)
            .await
            .map_err(net_error)?;
        let gateway = (default_route && !n.internal).then_some(ipam.gateway);
        inside
            .configure_container_iface(iface, ip, ipam.subnet.prefix(), gateway)
            .await
            .map_err(net_error)?;
        self.network_event(&n, "connect", Some(&c.id));
        Ok(())
    }

    /// Binds the host side of every published port (`-p`, and `-P` for the exposed ones).
    fn publish_ports(&self, ctr: &Arc<Ctr>) -> Result<()> {
        let c = ctr.snapshot();
        let hc = &c.host_config;
        let mut wanted: Vec<(u16, Proto, Ipv4Addr, (u16, u16))> = Vec::new();
        let bindings = hc.port_bindings.clone().unwrap_or_default();
        let mut keys: Vec<&String> = bindings.keys().collect();
        keys.sort();
        for key in keys {
            let (cport, proto) = ports::parse_port_key(key).map_err(net_error)?;
            let list = bindings.get(key).cloned().flatten().unwrap_or_default();
            let list = if list.is_empty() {
                vec![Default::default()]
            } else {
                list
            };
            for b in list {
                let hip = b.host_ip.clone().unwrap_or_default();
                if hip.contains(':') {
                    // IPv6 host addresses: berth publishes on IPv4 only.
                    continue;
                }
                let host_ip = if hip.is_empty() {
                    Ipv4Addr::UNSPECIFIED
                } else {
                    hip.parse()
                        .map_err(|_| Error::invalid(format!("invalid host IP address: {hip}")))?
                };
                let range = ports::parse_host_port(b.host_port.as_deref().unwrap_or_default())
                    .map_err(net_error)?;
                wanted.push((cport, proto, host_ip, range));
            }
        }
        if hc.publish_all_ports == Some(true) {
            let mut exposed: Vec<(u16, Proto)> = c
                .config
                .exposed_ports
                .iter()
                .flatten()
                .filter_map(|(k, _)| ports::parse_port_key(k).ok())
                .filter(|(p, pr)| !wanted.iter().any(|w| w.0 == *p && w.1 == *pr))
                .collect();
            exposed.sort();
            for (p, pr) in exposed {
                wanted.push((p, pr, Ipv4Addr::UNSPECIFIED, (0, 0)));
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let primary = c.net.active.values().find(|e| e.gateway.is_some()).cloned();
        let Some(ep) = primary else { return Ok(()) };
        let container_ip: Ipv4Addr = ep
            .ip_address
            .as_deref()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| Error::internal("endpoint without an address"))?;
        let mut held = Vec::new();
        let mut published = Vec::new();
        for (cport, proto, host_ip, (lo, hi)) in wanted {
            let mut last_err = None;
            let mut got = None;
            for port in lo..=hi {
                match ports::reserve(proto, host_ip, port) {
                    Ok(r) => {
                        got = Some(r);
                        break;
                    }
                    Err(e) => last_err = Some(e),
                }
            }
            let Some((host_port, r)) = got else {
                let what = last_err
                    .map(|e| e.to_string())
                    .unwrap_or_default()
                    .rsplit(": ")
                    .next()
                    .unwrap_or("address already in use")
                    .to_string();
                let port_text = if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                };
                return Err(Error::internal(format!(
                    "failed to set up container networking: driver failed programming external connectivity on endpoint {} ({}): failed to bind host port for {host_ip}:{port_text}:{container_ip}:{cport}/{}: {what}",
                    c.bare_name(),
                    ep.endpoint_id.clone().unwrap_or_default(),
                    proto.as_str()
                )));
            };
            held.push(r);
            published.push(PublishedPort {
                proto,
                host_ip,
                host_port,
                container_ip,
                container_port: cport,
            });
        }
        if let Ok(mut m) = self.nets.reservations.lock() {
            m.insert(c.id.clone(), held);
        }
        ctr.update(|c| c.net.ports = published);
        Ok(())
    }

    /// After the exit (or a failed start): ports, veths, namespace and addresses released.
    pub(crate) async fn net_down(&self, id: &str) {
        self.net_release(id, true).await;
    }

    /// [`Daemon::net_down`] for a container whose record is deleted next (a `--rm` exit):
    /// everything a client could see or reuse (names, addresses, ports, the DNS) is released
    /// now; the kernel's part (the veths and the namespace's pin) is returned, to be run by
    /// [`NetTeardown::finish`] once the record is gone. A veth's deletion holds the kernel's
    /// RTNL through several RCU grace periods (about 13 ms here), and the rootfs's unmount
    /// beside it then waited behind those grace periods: 1.4 ms more to every `--rm` on a
    /// bridge.
    pub(crate) async fn net_release_deferring(&self, id: &str) -> NetTeardown {
        let mut teardown = NetTeardown {
            id: id.to_string(),
            sandbox: None,
            veths: Vec::new(),
        };
        self.net_release_into(id, false, Some(&mut teardown)).await;
        teardown
    }

    /// [`Daemon::net_down`]; `record`: the container's record is saved without its endpoints.
    pub(crate) async fn net_release(&self, id: &str, record: bool) {
        self.net_release_into(id, record, None).await;
    }

    /// The release; with `deferred`, the veths' deletion and the namespace's unpin are left
    /// there instead of being done (the veths) in the background and (the pin) at once.
    #[tracing::instrument(level = "debug", name = "net_down", skip_all)]
    async fn net_release_into(
        &self,
        id: &str,
        record: bool,
        mut deferred: Option<&mut NetTeardown>,
    ) {
        self.dns.stop(id).await;
        let ctr = self.containers.read().ok().and_then(|m| m.get(id).cloned());
        if let Ok(mut m) = self.nets.reservations.lock() {
            m.remove(id);
        }
        let had_rules = ctr.as_ref().is_some_and(|c| {
            let s = c.snapshot();
            !s.net.ports.is_empty()
        });
        if let Some(ctr) = &ctr {
            let c = ctr.snapshot();
            // The host ends go in the background: a veth's deletion waits for the kernel's RCU
            // grace periods (tens of ms) and nothing depends on it (names are never reused, and
            // the kernel removes both ends anyway once the namespace goes).
            let veths: Vec<String> = c.net.veths.values().cloned().collect();
            if let Some(d) = deferred.as_deref_mut() {
                d.veths = veths;
            } else if !veths.is_empty() {
                tokio::spawn(delete_veths(id.to_string(), veths));
            }
            for name in c.net.active.keys() {
                if let Ok(n) = self.nets.find(name) {
                    self.network_event(&n, "disconnect", Some(id));
                }
            }
            ctr.update(|c| {
                // dockerd's `cleanOperationalData` keeps the network's id after the stop.
                for (name, ep) in &c.net.active {
                    if let Some(cfg) = c.net.configured.get_mut(name) {
                        cfg.network_id = ep.network_id.clone();
                    }
                }
                c.net.active.clear();
                c.net.veths.clear();
                c.net.ports.clear();
                c.net.sandbox = None;
            });
            if record {
                if let Err(e) = self.repo.save(&ctr.snapshot()) {
                    tracing::warn!(container = %id, error = %e, "saving after network release");
                }
            }
        }
        match deferred {
            Some(d) => d.sandbox = Some(self.sandbox_path(id)),
            None => {
                if let Err(e) = netns::remove(&self.sandbox_path(id)) {
                    tracing::warn!(container = %id, error = %e, "removing network namespace");
                }
            }
        }
        if let Err(e) = self.nets.repo.release(None, id) {
            tracing::warn!(container = %id, error = %e, "releasing addresses");
        }
        if had_rules {
            if let Err(e) = self.apply_firewall().await {
                tracing::warn!(container = %id, error = %e, "updating the firewall");
            }
        }
    }

    /// After the daemon restarted: running containers get their host ports back; what
    /// belonged to containers that are gone or stopped is released; the table is rebuilt.
    pub(crate) async fn networks_restore(&self) -> Result<()> {
        let known: std::collections::BTreeSet<String> =
            self.all().iter().map(|c| c.id.clone()).collect();
        for ctr in self.all() {
            let c = ctr.snapshot();
            if !c.state.running() {
                if c.net.sandbox.is_some() || !c.net.active.is_empty() {
                    self.net_down(&c.id).await;
                }
                continue;
            }
            let mut held = Vec::new();
            for p in &c.net.ports {
                match ports::reserve(p.proto, p.host_ip, p.host_port) {
                    Ok((_, r)) => held.push(r),
                    Err(e) => {
                        tracing::warn!(container = %c.id, error = %e, "re-reserving a published port")
                    }
                }
            }
            if let Ok(mut m) = self.nets.reservations.lock() {
                m.insert(c.id.clone(), held);
            }
            self.restore_dns(&ctr);
        }
        for holder in self.nets.repo.holders()? {
            if !known.contains(&holder) {
                self.nets.repo.release(None, &holder)?;
            }
        }
        self.apply_firewall().await
    }

    /// The names and the DNS server of a running container, after a daemon restart (the old
    /// server's sockets went with the old daemon).
    fn restore_dns(&self, ctr: &Arc<Ctr>) {
        let c = ctr.snapshot();
        for (name, ep) in &c.net.active {
            let Ok(n) = self.nets.find(name) else {
                continue;
            };
            let ip = ep.ip_address.as_deref().and_then(|a| a.parse().ok());
            if n.predefined {
                continue;
            }
            let Some(ip) = ip else { continue };
            let aliases = ep.aliases.clone().unwrap_or_default();
            let links = ep.links.clone().unwrap_or_default();
            let registered = self.dns.connect(&crate::network::dns::DnsEndpoint {
                network_id: &n.id,
                network_name: &n.name,
                container_id: &c.id,
                container_name: c.bare_name(),
                aliases: &aliases,
                links: &links,
                ipv4: ip,
            });
            if let Err(e) = registered {
                tracing::warn!(container = %c.id, error = %e.message, "embedded DNS names");
            }
        }
        if let Err(e) = self.start_dns(ctr) {
            tracing::warn!(container = %c.id, error = %e.message, "restarting the embedded DNS");
        }
    }

    pub async fn network_connect(
        &self,
        net_key: &str,
        container_key: &str,
        ep: Option<EndpointSettings>,
    ) -> Result<()> {
        let n = self.nets.find(net_key)?;
        let ctr = self.lookup(container_key)?;
        let _op = ctr.op.lock().await;
        let c = ctr.snapshot();
        if !n.is_bridge() {
            return Err(forbidden(format!(
                "container cannot be disconnected from host network or connected to {} network",
                n.name
            )));
        }
        match mode_of(&c.host_config) {
            Mode::Host | Mode::None | Mode::Container(_) => {
                return Err(forbidden(
                    "container sharing network namespace with another container or host cannot be connected to any other network",
                ))
            }
            Mode::Bridge => {}
        }
        if c.net.configured.contains_key(&n.name) {
            return Err(forbidden(format!(
                "endpoint with name {} already exists in network {}",
                c.bare_name(),
                n.name
            )));
        }
        let ep = ep.unwrap_or_default();
        check_endpoint_for(&n, &ep)?;
        ctr.update(|c| {
            c.net
                .configured
                .insert(n.name.clone(), configured_part(&ep));
        });
        if c.state.running() && c.net.sandbox.is_some() {
            let iface = format!("eth{}", c.net.veths.len());
            if let Err(e) = self
                .attach_endpoint(&ctr, &n.name, &iface, c.net.active.is_empty())
                .await
            {
                self.detach_endpoint(&ctr, &n).await;
                ctr.update(|c| {
                    c.net.configured.remove(&n.name);
                });
                return Err(e);
            }
            self.apply_firewall().await?;
            // A container that joins its first user-defined network gets the embedded DNS;
            // hosts and resolv.conf are bind mounts rewritten in place, as dockerd does.
            if !self.dns.serving(&c.id) {
                self.start_dns(&ctr)?;
            }
            let snap = ctr.snapshot();
            crate::runtime::spec::write_etc_files(self, &snap, &self.container_dir(&snap.id))?;
        } else {
            self.network_event(&n, "connect", Some(&c.id));
        }
        self.repo.save(&ctr.snapshot())
    }

    /// Whether the container gets the embedded DNS: it has an endpoint on a user-defined
    /// network.
    fn wants_dns(&self, ctr: &Arc<Ctr>) -> bool {
        ctr.snapshot()
            .net
            .active
            .keys()
            .filter_map(|name| self.nets.find(name).ok())
            .any(|n| !n.predefined)
    }

    /// Starts the container's embedded DNS server when it is on a user-defined network.
    fn start_dns(&self, ctr: &Arc<Ctr>) -> Result<()> {
        let c = ctr.snapshot();
        let Some(sandbox) = c.net.sandbox.clone() else {
            return Ok(());
        };
        let user_nets: Vec<_> = c
            .net
            .active
            .keys()
            .filter_map(|name| self.nets.find(name).ok())
            .filter(|n| !n.predefined)
            .collect();
        if user_nets.is_empty() {
            return Ok(());
        }
        let internal = user_nets.iter().all(|n| n.internal);
        self.dns
            .start(&c.id, Path::new(&sandbox), &c.host_config, internal)
    }

    pub async fn network_disconnect(
        &self,
        net_key: &str,
        container_key: &str,
        _force: bool,
    ) -> Result<()> {
        let n = self.nets.find(net_key)?;
        let ctr = self.lookup(container_key)?;
        let _op = ctr.op.lock().await;
        let c = ctr.snapshot();
        if !c.net.configured.contains_key(&n.name) {
            // An untyped error in every dockerd (20.10 to 27): a 500, which clients expect.
            return Err(Error::internal(format!(
                "container {} is not connected to network {}",
                c.id, n.name
            )));
        }
        let was_active = c.net.active.contains_key(&n.name);
        self.detach_endpoint(&ctr, &n).await;
        ctr.update(|c| {
            c.net.configured.remove(&n.name);
        });
        if !was_active {
            self.network_event(&n, "disconnect", Some(&c.id));
        }
        self.repo.save(&ctr.snapshot())?;
        self.apply_firewall().await
    }

    /// Removes a running container's endpoint on `n` (its veth and address).
    async fn detach_endpoint(&self, ctr: &Arc<Ctr>, n: &NetworkRecord) {
        let c = ctr.snapshot();
        if let Some(veth) = c.net.veths.get(&n.name) {
            if let Ok(host) = Netlink::host() {
                if let Err(e) = host.delete(veth).await {
                    tracing::warn!(container = %c.id, error = %e, "deleting veth");
                }
            }
        }
        let _ = self.nets.repo.release(Some(&n.id), &c.id);
        self.dns.disconnect(&n.id, &c.id);
        let was_active = c.net.active.contains_key(&n.name);
        ctr.update(|c| {
            c.net.veths.remove(&n.name);
            c.net.active.remove(&n.name);
        });
        if was_active {
            self.network_event(n, "disconnect", Some(&c.id));
        }
    }
}

/// The kernel's part of a released network, run after the container's record is gone
/// ([`Daemon::net_release_deferring`]). Dropped unrun, it leaves the veths and the pin to the
/// next start of berthd, which purges the pins of ids no record names.
#[must_use]
pub(crate) struct NetTeardown {
    id: String,
    sandbox: Option<PathBuf>,
    veths: Vec<String>,
}

impl NetTeardown {
    /// In the background: the veths' host ends deleted, then the namespace's pin removed (the
    /// kernel frees the namespace, and whatever it still held, once nothing pins it).
    pub(crate) fn finish(self, tracker: &tokio_util::task::TaskTracker) {
        tracker.spawn(async move {
            delete_veths(self.id.clone(), self.veths).await;
            if let Some(path) = self.sandbox {
                let id = self.id;
                let removed = tokio::task::spawn_blocking(move || netns::remove(&path)).await;
                if let Ok(Err(e)) = removed {
                    tracing::warn!(container = %id, error = %e, "removing network namespace");
                }
            }
        });
    }
}

/// Deletes the host ends of a container's veths (the kernel takes the peers with them).
async fn delete_veths(id: String, veths: Vec<String>) {
    if veths.is_empty() {
        return;
    }
    // Each deletion waits in the kernel for 15-30 ms: not on a worker of berthd's runtime.
    let Ok(host) = Netlink::host_for_deletions() else {
        return;
    };
    for veth in veths {
        if let Err(e) = host.delete(&veth).await {
            tracing::debug!(container = %id, error = %e, "deleting veth");
        }
    }
}
