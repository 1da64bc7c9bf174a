//! Links, addresses and routes over rtnetlink: bridges on the host, veth pairs into a
//! container's namespace, and the container side's address and default route.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::error::{NetworkError, Result};
use crate::subnet::Subnet;

/// A netlink connection bound to one network namespace.
pub struct Netlink {
    handle: Handle,
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

/// The runtime that drives the sockets of [`Netlink::host_for_deletions`]. The kernel carries
/// a request out inside the `sendto` that hands it over, synchronously: deleting a veth pair
/// or a bridge waits there for 15-30 ms (the devices' unregistration and its RCU grace
/// periods). On the caller's runtime that `sendto` held one of its workers (berthd has one per
/// CPU) for as long, and after each container on a bridge the next container's requests
/// waited behind it. Here it holds a thread of this runtime's own; the caller awaits the
/// answer through the connection's channels. Requests made on a start's path stay on the
/// caller's runtime: a hop to another thread and back for each of them cost more than the
/// kernel's short work there. `None` when its threads could not be made (the caller's runtime
/// then drives the socket, as before).
fn netlink_runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::OnceLock<Option<tokio::runtime::Runtime>> =
        std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("berth-netlink")
                .enable_io()
                .build()
                .inspect_err(|e| tracing::warn!("cannot start the netlink runtime: {e}"))
                .ok()
        })
        .as_ref()
}

impl Netlink {
    /// A connection in the caller's (the host's) namespace.
    pub fn host() -> Result<Self> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| NetworkError::io("netlink socket", e))?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// A connection in the host's namespace whose socket is driven by a runtime of its own
    /// ([`netlink_runtime`]), for deleting links: the kernel's slow work holds none of the
    /// caller's workers.
    pub fn host_for_deletions() -> Result<Self> {
        let Some(rt) = netlink_runtime() else {
            return Self::host();
        };
        let (conn, handle, _) = {
            let _guard = rt.enter();
            rtnetlink::new_connection().map_err(|e| NetworkError::io("netlink socket", e))?
        };
        rt.spawn(conn);
        Ok(Self { handle })
    }

    /// A connection inside the namespace pinned at `path`. The socket is opened by a thread that
    /// joined the namespace (a socket belongs to the namespace it was made in) and then used
    /// from the runtime.
    pub fn in_netns(path: &Path) -> Result<Self> {
        let rt = tokio::runtime::Handle::current();
        let (conn, handle, _) = crate::netns::run_in(path, move || {
            let _guard = rt.enter();
            rtnetlink::new_connection().map_err(|e| NetworkError::io("netlink socket", e))
        })?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// The index of the link called `name`, if there is one.
    pub async fn index(&self, name: &str) -> Result<Option<u32>> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(l)) => Ok(Some(l.header.index)),
            Ok(None) => Ok(None),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(NetworkError::netlink(format!("looking up {name}"), e)),
        }
    }

    async fn require(&self, name: &str) -> Result<u32> {
        self.index(name)
            .await?
            .ok_or_else(|| NetworkError::Invalid(format!("link {name} not found")))
    }

    /// Makes sure the bridge `name` exists, is up and carries `gateway/prefix`.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        gateway: Ipv4Addr,
        prefix: u8,
        mtu: u32,
    ) -> Result<()> {
        if self.index(name).await?.is_none() {
            let mut b = LinkBridge::new(name);
            if mtu > 0 {
                b = b.mtu(mtu);
            }
            match self.handle.link().add(b.build()).execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(NetworkError::netlink(format!("creating bridge {name}"), e)),
            }
        }
        let index = self.require(name).await?;
        if !self.has_address(index, gateway).await? {
            match self
                .handle
                .address()
                .add(index, IpAddr::V4(gateway), prefix)
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => {
                    return Err(NetworkError::netlink(
                        format!("adding {gateway}/{prefix} to {name}"),
                        e,
                    ))
                }
            }
        }
        self.set_up(index, name).await
    }

    /// The IPv4 addresses (with prefix) on the link `name`; empty when there is no such link.
    pub async fn ipv4_addresses(&self, name: &str) -> Result<Vec<(Ipv4Addr, u8)>> {
        let Some(index) = self.index(name).await? else {
            return Ok(Vec::new());
        };
        let mut addrs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut out = Vec::new();
        while let Some(a) = addrs
            .try_next()
            .await
            .map_err(|e| NetworkError::netlink("listing addresses", e))?
        {
            for at in &a.attributes {
                if let AddressAttribute::Local(IpAddr::V4(v)) = at {
                    out.push((*v, a.header.prefix_len));
                }
            }
        }
        Ok(out)
    }

    async fn has_address(&self, index: u32, addr: Ipv4Addr) -> Result<bool> {
        let mut addrs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        while let Some(a) = addrs
            .try_next()
            .await
            .map_err(|e| NetworkError::netlink("listing addresses", e))?
        {
            if a.attributes.iter().any(|at| {
                matches!(at, AddressAttribute::Address(IpAddr::V4(v)) | AddressAttribute::Local(IpAddr::V4(v)) if *v == addr)
            }) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn set_up(&self, index: u32, name: &str) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| NetworkError::netlink(format!("setting {name} up"), e))
    }

    /// Deletes the link `name`; a missing one is fine.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let Some(index) = self.index(name).await? else {
            return Ok(());
        };
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(NetworkError::netlink(format!("deleting {name}"), e)),
        }
    }

    /// Creates the veth pair `host` / `peer`: `host` stays here, enslaved to `bridge` and up;
    /// `peer` is born inside the namespace pinned at `netns`, with the MAC address `mac`.
    pub async fn create_veth(
        &self,
        host: &str,
        peer: &str,
        netns: &Path,
        bridge: &str,
        mtu: u32,
        mac: [u8; 6],
    ) -> Result<()> {
        let bridge_index = self.require(bridge).await?;
        let ns = std::fs::File::open(netns)
            .map_err(|e| NetworkError::io(format!("opening {}", netns.display()), e))?;
        let mut peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.to_string())
            .setns_by_fd(ns.as_raw_fd())
            .address(mac.to_vec());
        let mut host_msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(host.to_string())
            .controller(bridge_index);
        if mtu > 0 {
            peer_msg = peer_msg.mtu(mtu);
            host_msg = host_msg.mtu(mtu);
        }
        let msg = host_msg
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())))
            .up()
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| NetworkError::netlink(format!("creating veth {host}"), e))?;
        drop(ns);
        Ok(())
    }

    /// Inside a container's namespace: loopback up, `iface` up with `addr/prefix`, and the
    /// default route through `gateway` when there is one.
    pub async fn configure_container_iface(
        &self,
        iface: &str,
        addr: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<()> {
        let lo = self.require("lo").await?;
        self.set_up(lo, "lo").await?;
        let index = self.require(iface).await?;
        self.handle
            .address()
            .add(index, IpAddr::V4(addr), prefix)
            .execute()
            .await
            .map_err(|e| NetworkError::netlink(format!("adding {addr}/{prefix} to {iface}"), e))?;
        self.set_up(index, iface).await?;
        if let Some(gw) = gateway {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .output_interface(index)
                .gateway(gw)
                .build();
            match self.handle.route().add(route).execute().await {
                Ok(()) => {}
                // A second network's interface: the first one's default route stays.
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(NetworkError::netlink(format!("default route via {gw}"), e)),
            }
        }
        Ok(())
    }

    /// Loopback up: all a namespace without interfaces needs.
    pub async fn loopback_up(&self) -> Result<()> {
        let lo = self.require("lo").await?;
        self.set_up(lo, "lo").await
    }

    /// Every IPv4 destination the host routes somewhere (default routes left out): subnets
    /// a new network must not overlap.
    pub async fn routed_subnets(&self) -> Result<Vec<Subnet>> {
        let mut routes = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute();
        let mut out = Vec::new();
        while let Some(r) = routes
            .try_next()
            .await
            .map_err(|e| NetworkError::netlink("listing routes", e))?
        {
            let len = r.header.destination_prefix_length;
            if len == 0 || len == 32 {
                continue;
            }
            for a in &r.attributes {
                if let RouteAttribute::Destination(RouteAddress::Inet(d)) = a {
                    out.push(Subnet::containing(*d, len));
                }
            }
        }
        Ok(out)
    }

    /// Names of the links enslaved to `bridge`.
    pub async fn bridge_ports(&self, bridge: &str) -> Result<Vec<String>> {
        let Some(index) = self.index(bridge).await? else {
            return Ok(Vec::new());
        };
        let mut links = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(l) = links
            .try_next()
            .await
            .map_err(|e| NetworkError::netlink("listing links", e))?
        {
            if l.attributes.contains(&LinkAttribute::Controller(index)) {
                if let Some(name) = l.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                }) {
                    out.push(name);
                }
            }
        }
        Ok(out)
    }
}

/// dockerd's MAC for an address: 02:42 then the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `aa:bb:cc:dd:ee:ff` as given to `--mac-address`.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let bad = || NetworkError::Invalid(format!("invalid MAC address: {s}"));
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(bad());
        }
        mac[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}
