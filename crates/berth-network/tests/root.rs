//! Against the real kernel (root only): a namespace with a veth into a bridge, and the
//! nftables table applied and removed. Names are unique per run, so parallel runs do not meet.

use std::net::Ipv4Addr;

use berth_network::firewall::{self, BridgeRules, FirewallState, PortRule};
use berth_network::link::{mac_for, Netlink};
use berth_network::ports::Proto;
use berth_network::{netns, Subnet};

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

fn nft_list(table: &str) -> String {
    let out = std::process::Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn table_applies_replaces_and_goes() {
    if !is_root() {
        return;
    }
    let table = format!("berth_t{}", std::process::id());
    let mut state = FirewallState {
        networks: vec![BridgeRules {
            bridge: "bt-none0".into(),
            subnet: Subnet::parse("10.254.1.0/24").expect("s"),
            internal: false,
            masquerade: true,
        }],
        ports: vec![PortRule {
            proto: Proto::Udp,
            host_ip: None,
            host_port: 5353,
            container_ip: Ipv4Addr::new(10, 254, 1, 2),
            container_port: 53,
        }],
    };
    firewall::apply(&table, &state).expect("apply");
    let listed = nft_list(&table);
    assert!(
        listed.contains("udp dport 5353 dnat to 10.254.1.2:53"),
        "{listed}"
    );
    assert!(listed.contains("masquerade"), "{listed}");
    state.ports.clear();
    firewall::apply(&table, &state).expect("re-apply");
    let listed = nft_list(&table);
    assert!(
        !listed.contains("dnat to"),
        "the rebuild drops old rules: {listed}"
    );
    firewall::remove(&table).expect("remove");
    assert_eq!(nft_list(&table), "");
    firewall::remove(&table).expect("removing twice is fine");
}

#[tokio::test]
async fn veth_into_a_pinned_namespace() {
    if !is_root() {
        return;
    }
    let dir = tempfile_dir();
    let ns = dir.join("ns");
    let bridge = format!("btb{}", std::process::id() % 100000);
    let veth = format!("vtb{}", std::process::id() % 100000);
    netns::create(&ns).expect("netns");
    let host = Netlink::host().expect("netlink");
    host.ensure_bridge(&bridge, Ipv4Addr::new(10, 254, 9, 1), 24, 0)
        .await
        .expect("bridge");
    assert_eq!(
        host.ipv4_addresses(&bridge).await.expect("addresses"),
        [(Ipv4Addr::new(10, 254, 9, 1), 24)]
    );
    host.create_veth(
        &veth,
        "eth0",
        &ns,
        &bridge,
        0,
        mac_for(Ipv4Addr::new(10, 254, 9, 2)),
    )
    .await
    .expect("veth");
    assert_eq!(
        host.bridge_ports(&bridge).await.expect("ports"),
        std::slice::from_ref(&veth)
    );
    let inside = Netlink::in_netns(&ns).expect("netlink in netns");
    inside
        .configure_container_iface(
            "eth0",
            Ipv4Addr::new(10, 254, 9, 2),
            24,
            Some(Ipv4Addr::new(10, 254, 9, 1)),
        )
        .await
        .expect("configure");
    assert!(inside.index("eth0").await.expect("index").is_some());

    let routes = host.routed_subnets().await.expect("routes");
    assert!(
        routes.contains(&Subnet::parse("10.254.9.0/24").expect("s")),
        "{routes:?}"
    );
    host.delete(&veth).await.expect("delete veth");
    assert!(host.bridge_ports(&bridge).await.expect("ports").is_empty());
    netns::remove(&ns).expect("remove netns");
    host.delete(&bridge).await.expect("delete bridge");
    assert!(host.index(&bridge).await.expect("index").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("berth-net-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("dir");
    d
}

/// A new namespace comes with its loopback up: 127.0.0.1 answers inside it at once.
#[test]
fn new_namespace_has_loopback_up() {
    if !is_root() {
        return;
    }
    let dir = tempfile_dir();
    let ns = dir.join("ns-lo");
    netns::create(&ns).expect("netns");
    let echoed = netns::run_in(&ns, || {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0")
            .map_err(|e| berth_network::NetworkError::io("bind 127.0.0.1", e))?;
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .map_err(|e| berth_network::NetworkError::io("timeout", e))?;
        let me = sock
            .local_addr()
            .map_err(|e| berth_network::NetworkError::io("addr", e))?;
        sock.send_to(b"ping", me)
            .map_err(|e| berth_network::NetworkError::io("send", e))?;
        let mut buf = [0u8; 8];
        let n = sock
            .recv(&mut buf)
            .map_err(|e| berth_network::NetworkError::io("recv", e))?;
        Ok(buf[..n].to_vec())
    })
    .expect("loopback inside the new namespace");
    assert_eq!(echoed, b"ping");
    netns::remove(&ns).expect("remove");
}
