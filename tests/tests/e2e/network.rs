//! Networking through a real berthd: the default bridge, published ports (TCP, UDP, ephemeral,
//! `-P`, hairpin, a taken port), user-defined networks (create/ls/inspect/connect/disconnect/
//! rm/prune, isolation, internal, aliases, static addresses), the other network modes and the
//! /etc files, and a daemon `kill -9`. Traffic only ever goes to 127.0.0.1 and to addresses on
//! the test daemon's own bridges, with bounded waits.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use berth_tests::host::free_port;
use berth_tests::{unique_name, wait_until, Client, TestDaemon};

/// An httpd serving `page` on port 8000 of the container.
fn httpd(page: &str) -> String {
    format!("mkdir -p /www && echo {page} > /www/index.html && exec httpd -f -p 8000 -h /www")
}

/// GET /index.html over a raw TCP connection; None when nothing answers.
fn http_get(addr: &str) -> Option<String> {
    let addr: SocketAddr = addr.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Waits (bounded) until `addr` serves a page containing `needle`.
fn serves(addr: &str, needle: &str) -> bool {
    wait_until(Duration::from_secs(10), || {
        http_get(addr).is_some_and(|r| r.contains(needle))
    })
}

/// A UDP socket bound to `port` inside the network namespace of process `pid` (a socket stays
/// in the namespace it was made in; the thread that entered it ends right away).
fn udp_socket_in(pid: i32, port: u16) -> UdpSocket {
    let sock = std::thread::spawn(move || {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("netns");
        nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        UdpSocket::bind(("0.0.0.0", port)).expect("bind inside")
    })
    .join()
    .expect("thread");
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    sock
}

/// `docker port <name> <port>`: the host port of the first binding.
fn host_port(d: &TestDaemon, c: Client, name: &str, port: &str) -> u16 {
    let out = d.run(c, &["port", name, port]).success().out().to_string();
    out.lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no host port in {out:?}"))
}

/// The gateway of the daemon's default bridge (a host address).
fn gateway(d: &TestDaemon, c: Client) -> String {
    d.run(
        c,
        &[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            "bridge",
        ],
    )
    .success()
    .out()
    .to_string()
}

both_clients! {
    fn published_port_serves_the_host(d, c) {
        let web = unique_name("web");
        let port = free_port();
        let publish = format!("{port}:8000");
        d.run(c, &["run", "-d", "--name", &web, "-p", &publish, "busybox", "sh", "-c", &httpd("hello-berth")]).success();
        assert!(serves(&format!("127.0.0.1:{port}"), "hello-berth"), "the page on 127.0.0.1:{port}");
        let gw = gateway(d, c);
        assert!(serves(&format!("{gw}:{port}"), "hello-berth"), "the page on the host address {gw}");
        assert_eq!(d.run(c, &["port", &web]).success().lines(), [format!("8000/tcp -> 0.0.0.0:{port}")]);
        assert_eq!(
            d.run(c, &["ps", "--filter", &format!("name={web}"), "--format", "{{.Ports}}"]).success().out(),
            format!("0.0.0.0:{port}->8000/tcp")
        );
        assert_eq!(
            d.inspect(c, &web, "{{json .NetworkSettings.Ports}}"),
            format!(r#"{{"8000/tcp":[{{"HostIp":"0.0.0.0","HostPort":"{port}"}}]}}"#)
        );
        let ip = d.inspect(c, &web, "{{.NetworkSettings.IPAddress}}");
        assert!(ip.starts_with(gw.rsplit_once('.').map(|g| g.0).unwrap_or("?")), "{ip} in the bridge subnet of {gw}");
        assert_eq!(d.inspect(c, &web, "{{.NetworkSettings.Networks.bridge.IPAddress}}"), ip);
        // From the host straight to the container, and hairpin from another container through
        // the published port and through the container's address.
        assert!(serves(&format!("{ip}:8000"), "hello-berth"));
        let fetch = |target: &str| {
            let cmd = format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {target}");
            d.run(c, &["run", "--rm", "busybox", "sh", "-c", &cmd]).success().out().to_string()
        };
        assert!(fetch(&format!("{gw} {port}")).contains("hello-berth"), "hairpin via the host port");
        assert!(fetch(&format!("{ip} 8000")).contains("hello-berth"), "container to container");
        // The same host port again: refused with dockerd's words, nothing left behind.
        let clash = unique_name("clash");
        d.run(c, &["run", "-d", "--name", &clash, "-p", &publish, "busybox", "sleep", "100"])
            .code_is(125)
            .stderr_has(&format!("failed to bind host port for 0.0.0.0:{port}:"))
            .stderr_has("address already in use");
        assert_eq!(d.inspect(c, &clash, "{{.State.Running}}|{{.NetworkSettings.IPAddress}}"), "false|");
        d.run(c, &["rm", &clash]).success();
        // Stopped: the port is released and the address given back.
        d.run(c, &["stop", "-t", "1", &web]).success();
        assert!(http_get(&format!("127.0.0.1:{port}")).is_none(), "nothing answers after stop");
        assert_eq!(d.inspect(c, &web, "{{.NetworkSettings.IPAddress}}|{{json .NetworkSettings.Ports}}"), "|{}");
        let held = std::net::TcpListener::bind(("127.0.0.1", port));
        assert!(held.is_ok(), "the host port is free again");
    }

    fn ephemeral_udp_and_publish_all(d, c) {
        let name = unique_name("eph");
        d.run(c, &["run", "-d", "--name", &name, "--expose", "7000", "-P", "-p", "127.0.0.1::8000",
            "-p", "127.0.0.1::9000/udp", "busybox", "sh", "-c", &httpd("ephemeral")]).success();
        let tcp = host_port(d, c, &name, "8000/tcp");
        assert!(tcp > 1024);
        assert_eq!(d.run(c, &["port", &name, "8000"]).success().out(), format!("127.0.0.1:{tcp}"));
        assert!(serves(&format!("127.0.0.1:{tcp}"), "ephemeral"));
        let exposed = host_port(d, c, &name, "7000/tcp");
        assert!(exposed > 1024 && exposed != tcp, "-P publishes the exposed port too");
        let udp = host_port(d, c, &name, "9000/udp");
        // busybox has no UDP server: the test listens inside the container's namespace.
        let pid: i32 = d.inspect(c, &name, "{{.State.Pid}}").parse().expect("pid");
        let inside = udp_socket_in(pid, 9000);
        let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
        let got = wait_until(Duration::from_secs(10), || {
            let _ = sock.send_to(b"datagram-through-berth", ("127.0.0.1", udp));
            let mut buf = [0u8; 64];
            matches!(inside.recv(&mut buf), Ok(n) if &buf[..n] == b"datagram-through-berth")
        });
        assert!(got, "the datagram reached the container through the published UDP port");
        let mut ports = d.run(c, &["port", &name]).success().lines().iter().map(|l| l.to_string()).collect::<Vec<_>>();
        ports.sort();
        assert_eq!(ports, [
            format!("7000/tcp -> 0.0.0.0:{exposed}"),
            format!("8000/tcp -> 127.0.0.1:{tcp}"),
            format!("9000/udp -> 127.0.0.1:{udp}"),
        ]);
        d.run(c, &["run", "--rm", "-p", "70000:80", "busybox", "true"]).code_is(125).stderr_has("70000");
    }

    fn network_modes_and_etc_files(d, c) {
        let gw = gateway(d, c);
        let out = d.run(c, &["run", "--rm", "--hostname", "box", "--domainname", "example.test",
            "--dns", "10.9.9.9", "--dns-search", "corp.test", "--dns-option", "ndots:3",
            "--add-host", "db:10.1.2.3", "--add-host", "hostside:host-gateway",
            "--mac-address", "02:42:ac:99:00:07", "busybox", "sh", "-c",
            "hostname; cat /etc/resolv.conf /etc/hosts; cat /sys/class/net/eth0/address; ip route"]).success().out().to_string();
        assert!(out.starts_with("box\n"), "{out}");
        assert!(out.contains("nameserver 10.9.9.9\n") && out.contains("search corp.test\n") && out.contains("options ndots:3\n"), "{out}");
        assert!(out.contains("10.1.2.3\tdb\n"), "{out}");
        assert!(out.contains(&format!("{gw}\thostside\n")), "{out}");
        assert!(out.contains("\tbox.example.test box\n"), "{out}");
        assert!(out.contains("02:42:ac:99:00:07"), "{out}");
        assert!(out.contains(&format!("default via {gw} dev eth0")), "{out}");
        // container:<name> shares the other's interfaces and names.
        let base = unique_name("base");
        d.run(c, &["run", "-d", "--name", &base, "--hostname", "basehost", "busybox", "sleep", "1000"]).success();
        let ip = d.inspect(c, &base, "{{.NetworkSettings.IPAddress}}");
        let mode = format!("container:{base}");
        let shared = d.run(c, &["run", "--rm", "--network", &mode, "busybox", "sh", "-c", "hostname; ip -4 addr show eth0"]).success().out().to_string();
        assert!(shared.starts_with("basehost\n") && shared.contains(&format!("inet {ip}/")), "{shared}");
        d.run(c, &["run", "--rm", "--network", &mode, "-p", "80", "busybox", "true"]).code_is(125)
            .stderr_has("conflicting options: port publishing and the container type network mode");
        d.run(c, &["run", "--rm", "--network", "nosuchnet", "busybox", "true"]).code_is(125)
            .stderr_has("failed to set up container networking: network nosuchnet not found");
        // host: the host's namespace.
        let host_links = d.run(c, &["run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"]).success().out().to_string();
        assert!(host_links.lines().any(|l| l == d.net.as_ref().map(|s| s.bridge()).unwrap_or_default()), "{host_links}");
        d.run(c, &["stop", "-t", "1", &base]).success();
        d.run(c, &["run", "--rm", "--network", &mode, "busybox", "true"]).code_is(125).stderr_has("cannot join network of a non running container");
    }
}

/// Published ports keep working while berthd is down (the rules are in the kernel) and after
/// it comes back; the address and port survive; nothing leaks afterwards.
#[test]
fn ports_survive_a_daemon_kill9() {
    let Some(mut d) = TestDaemon::start() else {
        return;
    };
    let c = Client::Docker;
    let web = unique_name("web");
    d.run(
        c,
        &[
            "run",
            "-d",
            "--name",
            &web,
            "-p",
            "127.0.0.1::8000",
            "busybox",
            "sh",
            "-c",
            &httpd("survivor"),
        ],
    )
    .success();
    let port = host_port(&d, c, &web, "8000");
    let ip = d.inspect(c, &web, "{{.NetworkSettings.IPAddress}}");
    assert!(serves(&format!("127.0.0.1:{port}"), "survivor"));
    d.kill9();
    assert!(
        serves(&format!("127.0.0.1:{port}"), "survivor"),
        "served while berthd is down"
    );
    d.restart();
    assert!(
        serves(&format!("127.0.0.1:{port}"), "survivor"),
        "served after the restart"
    );
    assert_eq!(d.inspect(c, &web, "{{.NetworkSettings.IPAddress}}"), ip);
    assert_eq!(host_port(&d, c, &web, "8000"), port);
    // Another run gets a different address: the restarted IPAM knows the old one is taken.
    let other = d
        .run(
            c,
            &[
                "run",
                "--rm",
                "busybox",
                "sh",
                "-c",
                "ip -4 -o addr show eth0",
            ],
        )
        .success()
        .out()
        .to_string();
    assert!(!other.contains(&format!("inet {ip}/")), "{other}");
    d.run(c, &["rm", "-f", &web]).success();
    assert!(http_get(&format!("127.0.0.1:{port}")).is_none());
}

/// The third octet block of the daemon's test slot: user networks get `10.<n>.x.0/24`.
fn slot(d: &TestDaemon) -> u8 {
    d.net.as_ref().map(|s| s.n).unwrap_or(200)
}

/// Whether a container on `from` can open TCP to `ip:port` (bounded by nc's timeout).
fn reaches(d: &TestDaemon, c: Client, network: &str, ip: &str, port: u16) -> bool {
    let cmd = format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} {port}");
    d.run(
        c,
        &[
            "run",
            "--rm",
            "--network",
            network,
            "busybox",
            "sh",
            "-c",
            &cmd,
        ],
    )
    .out()
    .contains("HTTP/1.")
}

both_clients! {
    fn user_defined_networks(d, c) {
        let n = slot(d);
        let front = unique_name("front");
        let back = unique_name("back");
        let subnet = format!("10.{n}.77.0/24");
        let gw = format!("10.{n}.77.254");
        let range = format!("10.{n}.77.128/25");
        let id = d.run(c, &["network", "create", "--subnet", &subnet, "--gateway", &gw, "--ip-range", &range,
            "--label", "tier=front", "--opt", "com.docker.network.driver.mtu=1400", &front]).success().out().to_string();
        assert_eq!(id.len(), 64, "{id}");
        d.run(c, &["network", "create", "--internal", &back]).success();
        // Bad input, with dockerd's and docker's words.
        d.run(c, &["network", "create", &front]).code_is(1).stderr_has(&format!("network with name {front} already exists"));
        d.run(c, &["network", "create", "--subnet", &format!("10.{n}.77.0/25"), &unique_name("overlap")]).code_is(1)
            .stderr_has("Pool overlaps with other one on this address space");
        d.run(c, &["network", "create", "--subnet", &format!("10.{n}.78.0/24"), "--gateway", "10.1.1.1", &unique_name("gw")]).code_is(1)
            .stderr_has("no matching subnet for gateway 10.1.1.1");
        let ls = d.run(c, &["network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"]).success().out().to_string();
        let mine = [format!("{front} bridge local"), format!("{back} bridge local")];
        for want in ["bridge bridge local", "host host local", "none null local", &mine[0], &mine[1]] {
            assert!(ls.lines().any(|l| l == want), "{want:?} in {ls}");
        }
        assert_eq!(d.run(c, &["network", "ls", "-q", "--filter", "label=tier=front"]).success().out(), &id[..12]);
        assert_eq!(
            d.run(c, &["network", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.EnableIPv6}} {{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}} {{(index .IPAM.Config 0).IPRange}} {{.Labels.tier}}", &front]).success().out(),
            format!("{front} bridge local false false {subnet} {gw} {range} front")
        );
        assert_eq!(d.inspect(c, &back, "{{.Internal}}"), "true");

        // Two containers on `front`: addresses from the range, aliases and names in /etc/hosts.
        let web = unique_name("web");
        d.run(c, &["run", "-d", "--name", &web, "--network", &front, "--network-alias", "www", "busybox", "sh", "-c", &httpd("on-front")]).success();
        let web_ip = d.inspect(c, &web, &format!("{{{{(index .NetworkSettings.Networks \"{front}\").IPAddress}}}}"));
        assert!(web_ip.starts_with(&format!("10.{n}.77.")) && web_ip.rsplit('.').next().and_then(|o| o.parse::<u8>().ok()).is_some_and(|o| o >= 128), "{web_ip} in the ip-range");
        let fixed = format!("10.{n}.77.9");
        let hosts = d.run(c, &["run", "--rm", "--network", &front, "--ip", &fixed, "--name", &unique_name("fixed"),
            "busybox", "sh", "-c", "ip -4 -o addr show eth0; ip route; cat /etc/hosts; cat /sys/class/net/eth0/mtu"]).success().out().to_string();
        assert!(hosts.contains(&format!("inet {fixed}/24")), "{hosts}");
        assert!(hosts.contains(&format!("default via {gw}")), "{hosts}");
        assert!(hosts.contains("1400"), "the network's MTU: {hosts}");
        let web_hosts = d.run(c, &["exec", &web, "cat", "/etc/hosts"]).success().out().to_string();
        assert!(web_hosts.lines().any(|l| l.starts_with(&web_ip) && l.contains(&web) && l.contains("www")), "{web_hosts}");
        assert!(reaches(d, c, &front, &web_ip, 8000), "same network: reachable");
        d.run(c, &["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}", &front]).success()
            .stdout_has(&format!("{web} {web_ip}/24"));
        d.run(c, &["run", "--rm", "--network", "bridge", "--ip", &fixed, "busybox", "true"]).code_is(125)
            .stderr_has("user specified IP address is supported on user defined networks only");

        // Isolation: the default bridge and the internal network cannot reach `front`.
        assert!(!reaches(d, c, "bridge", &web_ip, 8000), "bridge -> front is dropped");
        assert!(!reaches(d, c, &back, &web_ip, 8000), "back -> front is dropped");
        let routes = d.run(c, &["run", "--rm", "--network", &back, "busybox", "ip", "route"]).success().out().to_string();
        assert!(!routes.contains("default"), "an internal network has no way out: {routes}");

        // connect / disconnect on a running container.
        let probe = unique_name("probe");
        d.run(c, &["run", "-d", "--name", &probe, "busybox", "sleep", "1000"]).success();
        d.run(c, &["network", "connect", "--alias", "prober", &front, &probe]).success();
        d.run(c, &["network", "connect", &front, &probe]).code_is(1).stderr_has("already exists in network");
        let links = d.run(c, &["exec", &probe, "ls", "/sys/class/net"]).success().out().to_string();
        assert_eq!(links.lines().collect::<Vec<_>>(), ["eth0", "eth1", "lo"]);
        let cmd = format!("printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {web_ip} 8000");
        d.run(c, &["exec", &probe, "sh", "-c", &cmd]).success().stdout_has("on-front");
        assert!(d.inspect(c, &probe, "{{json .NetworkSettings.Networks}}").contains("prober"));
        d.run(c, &["network", "rm", &front]).code_is(1).stderr_has("has active endpoints");
        d.run(c, &["network", "disconnect", &front, &probe]).success();
        d.run(c, &["network", "disconnect", &front, &probe]).code_is(1).stderr_has("is not connected to network");
        let links = d.run(c, &["exec", &probe, "ls", "/sys/class/net"]).success().out().to_string();
        assert_eq!(links.lines().collect::<Vec<_>>(), ["eth0", "lo"]);

        // Removal: in use refused, predefined refused, then rm and prune.
        d.run(c, &["network", "rm", "bridge"]).code_is(1).stderr_has("bridge is a pre-defined network and cannot be removed");
        d.run(c, &["rm", "-f", &web, &probe]).success();
        assert_eq!(d.run(c, &["network", "rm", &front]).success().out(), front);
        let pruned = d.run(c, &["network", "prune", "-f"]).success().out().to_string();
        assert_eq!(pruned, format!("Deleted Networks:\n{back}"));
        d.run(c, &["network", "inspect", &front]).code_is(1).stderr_has(&format!("network {front} not found"));
        assert!(!d.run(c, &["network", "ls"]).success().out().contains(&back));
    }
}

/// `network` events, as dockerd sends them, through the API.
#[test]
fn network_events() {
    let Some(d) = TestDaemon::start() else { return };
    let c = Client::Docker;
    let net = unique_name("evnet");
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_secs())
        .unwrap_or(0);
    d.run(c, &["network", "create", &net]).success();
    let ctr = unique_name("evc");
    d.run(
        c,
        &["run", "--name", &ctr, "--network", &net, "busybox", "true"],
    )
    .success();
    d.run(c, &["rm", &ctr]).success();
    d.run(c, &["network", "rm", &net]).success();
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_secs() + 1)
        .unwrap_or(0);
    let out = d
        .run(
            c,
            &[
                "events",
                "--since",
                &start.to_string(),
                "--until",
                &until.to_string(),
                "--filter",
                "type=network",
                "--format",
                "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}}",
            ],
        )
        .success()
        .out()
        .to_string();
    let mine: Vec<&str> = out.lines().filter(|l| l.contains(&net)).collect();
    assert_eq!(
        mine,
        [
            format!("create {net} bridge"),
            format!("connect {net} bridge"),
            format!("disconnect {net} bridge"),
            format!("destroy {net} bridge"),
        ],
        "{out}"
    );
}

both_clients! {
    fn embedded_dns_between_containers(d, c) {
        let n = slot(d);
        let app = unique_name("dnsapp");
        let other = unique_name("dnsother");
        d.run(c, &["network", "create", "--subnet", &format!("10.{n}.79.0/24"), &app]).success();
        d.run(c, &["network", "create", "--subnet", &format!("10.{n}.80.0/24"), &other]).success();
        // Upstream on the host's loopback and no search domains: nothing leaves this machine.
        let quiet = ["--dns", "127.0.0.1", "--dns-search", "."];
        let web = unique_name("dnsweb");
        let mut args = vec!["run", "-d", "--name", &web, "--network", &app, "--network-alias", "www"];
        args.extend(quiet);
        args.extend(["busybox", "sleep", "1000"]);
        let web_id = d.run(c, &args).success().out().to_string();
        let web_ip = d.inspect(c, &web, &format!("{{{{(index .NetworkSettings.Networks \"{app}\").IPAddress}}}}"));
        let client = unique_name("dnsclient");
        let mut args = vec!["run", "-d", "--name", &client, "--network", &app];
        args.extend(quiet);
        args.extend(["busybox", "sleep", "1000"]);
        d.run(c, &args).success();

        let resolv = d.run(c, &["exec", &client, "cat", "/etc/resolv.conf"]).success().out().to_string();
        assert!(resolv.starts_with("nameserver 127.0.0.11\n"), "{resolv}");
        for name in [web.as_str(), "www", &web_id[..12], &web.to_uppercase()] {
            let out = d.run(c, &["exec", &client, "nslookup", name]);
            assert!(out.stdout.contains(&web_ip), "{name} -> {web_ip}: {out}");
        }
        // Only containers that share a network see each other's names.
        let mut args = vec!["run", "--rm", "--network", &other];
        args.extend(quiet);
        args.extend(["busybox", "nslookup", &web]);
        let out = d.run(c, &args);
        assert!(!out.stdout.contains(&web_ip), "{out}");

        // A rename is seen at once; a kill -9 of berthd and a restart keep the names served.
        let renamed = unique_name("dnsrenamed");
        d.run(c, &["rename", &web, &renamed]).success();
        d.run(c, &["exec", &client, "nslookup", &renamed]).success().stdout_has(&web_ip);
        d.kill9();
        d.restart();
        let served = wait_until(Duration::from_secs(20), || {
            d.run(c, &["exec", &client, "nslookup", "www"]).stdout.contains(&web_ip)
        });
        assert!(served, "the embedded DNS did not come back after a daemon restart");
        d.run(c, &["rm", "-f", &renamed, &client]).success();
        d.run(c, &["network", "rm", &app, &other]).success();
    }
}
