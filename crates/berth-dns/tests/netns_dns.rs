//! The resolver end to end: bound on 127.0.0.11:53 inside a fresh network namespace, queried
//! from inside it, forwarding to a fake upstream that listens on 127.0.0.1 of the HOST
//! namespace (unreachable from the container's namespace: an answer proves the forward left
//! from the host). No traffic leaves loopback.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_dns::{
    bind_in_netns, serve, Endpoint, NameTable, Netns, NetworkRef, Resolver, ServerHandle,
    Upstreams, ANSWER_TTL, DNS_SERVER_ADDR,
};
use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use nix::sched::{setns, unshare, CloneFlags};

const WEB: &str = "0123456789ab0000000000000000000000000000000000000000000000000000";
const DB: &str = "fedcba9876540000000000000000000000000000000000000000000000000000";
const CACHE: &str = "cccccccccccc0000000000000000000000000000000000000000000000000000";
const CLIENT_TIMEOUT: Duration = Duration::from_secs(6);

// ---- a network namespace of our own ------------------------------------------------------

/// Creates a network namespace with `lo` up and returns a descriptor of it; the thread that
/// created it exits, the namespace lives as long as the descriptor.
fn new_netns() -> OwnedFd {
    std::thread::spawn(|| {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET) (needs root)");
        bring_loopback_up();
        OwnedFd::from(std::fs::File::open("/proc/thread-self/ns/net").expect("open own netns"))
    })
    .join()
    .expect("netns thread")
}

fn bring_loopback_up() {
    // SAFETY: plain socket(2) call; the result is checked and owned below.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let socket = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of `request`, which we own.
    let got = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) };
    assert_eq!(got, 0, "SIOCGIFFLAGS: {}", std::io::Error::last_os_error());
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS only reads `request`.
    let set = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) };
    assert_eq!(set, 0, "SIOCSIFFLAGS: {}", std::io::Error::last_os_error());
}

/// Runs `job` on a thread inside `netns`, as a process in the container would.
fn in_netns<T: Send>(netns: &OwnedFd, job: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                setns(netns.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns");
                job()
            })
            .join()
            .expect("client thread")
    })
}

// ---- a DNS client ------------------------------------------------------------------------

fn query_message(name: &str, record_type: RecordType) -> Message {
    let mut message = Message::new();
    message
        .set_id(rand_id())
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), record_type));
    message
}

fn rand_id() -> u16 {
    use std::time::SystemTime;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (nanos % 65_000) as u16 + 1
}

fn ask_udp(server: SocketAddr, name: &str, record_type: RecordType) -> Message {
    let query = query_message(name, record_type);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    socket.send_to(&query.to_vec().unwrap(), server).unwrap();
    let mut buffer = [0u8; 4096];
    let (len, from) = socket
        .recv_from(&mut buffer)
        .unwrap_or_else(|e| panic!("no UDP answer for {name}: {e}"));
    assert_eq!(from, server);
    assert!(
        len <= 512,
        "a UDP reply without EDNS must fit 512 bytes, got {len}"
    );
    let reply = Message::from_vec(&buffer[..len]).unwrap();
    check_reply_matches(&query, &reply);
    reply
}

fn ask_tcp(server: SocketAddr, name: &str, record_type: RecordType) -> Message {
    let query = query_message(name, record_type);
    let mut stream = TcpStream::connect_timeout(&server, CLIENT_TIMEOUT).unwrap();
    stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    let wire = query.to_vec().unwrap();
    stream
        .write_all(&(wire.len() as u16).to_be_bytes())
        .unwrap();
    stream.write_all(&wire).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).unwrap();
    let reply = Message::from_vec(&reply).unwrap();
    check_reply_matches(&query, &reply);
    reply
}

fn check_reply_matches(query: &Message, reply: &Message) {
    assert_eq!(reply.id(), query.id());
    assert_eq!(reply.message_type(), MessageType::Response);
    // Compare as on the wire, where every name is fully qualified.
    let sent = Message::from_vec(&query.to_vec().unwrap()).unwrap();
    assert_eq!(reply.queries(), sent.queries());
}

fn a_records(reply: &Message) -> Vec<Ipv4Addr> {
    reply
        .answers()
        .iter()
        .filter_map(|record| match record.data() {
            RData::A(A(ip)) => Some(*ip),
            _ => None,
        })
        .collect()
}

// ---- a fake upstream on the host's loopback -----------------------------------------------

#[derive(Default)]
struct UpstreamCounts {
    udp: AtomicUsize,
    tcp: AtomicUsize,
}

/// Answers `example.test` A 192.0.2.10; `big.test` A with 40 records (truncated, no records,
/// over UDP); NXDOMAIN (authoritative) for anything else.
fn fake_upstream_reply(query: &Message, over_udp: bool) -> Message {
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_authoritative(true)
        .add_queries(query.queries().iter().cloned());
    let Some(question) = query.queries().first() else {
        reply.set_response_code(ResponseCode::FormErr);
        return reply;
    };
    let name = question.name().clone();
    match name.to_ascii().to_ascii_lowercase().as_str() {
        "example.test." => {
            reply.add_answer(Record::from_rdata(
                name,
                60,
                RData::A(A::new(192, 0, 2, 10)),
            ));
        }
        "big.test." if over_udp => {
            reply.set_truncated(true);
        }
        "big.test." => {
            for i in 0..40 {
                reply.add_answer(Record::from_rdata(
                    name.clone(),
                    60,
                    RData::A(A::new(198, 51, 100, i)),
                ));
            }
        }
        _ => {
            reply.set_response_code(ResponseCode::NXDomain);
        }
    }
    reply
}

async fn start_fake_upstream() -> (SocketAddr, Arc<UpstreamCounts>) {
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
    let counts = Arc::new(UpstreamCounts::default());
    let udp_counts = Arc::clone(&counts);
    tokio::spawn(async move {
        let mut buffer = [0u8; 4096];
        while let Ok((len, peer)) = udp.recv_from(&mut buffer).await {
            udp_counts.udp.fetch_add(1, Ordering::SeqCst);
            let query = Message::from_vec(&buffer[..len]).unwrap();
            let reply = fake_upstream_reply(&query, true).to_vec().unwrap();
            udp.send_to(&reply, peer).await.unwrap();
        }
    });
    let tcp_counts = Arc::clone(&counts);
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = tcp.accept().await {
            tcp_counts.tcp.fetch_add(1, Ordering::SeqCst);
            let len = stream.read_u16().await.unwrap();
            let mut query = vec![0u8; usize::from(len)];
            stream.read_exact(&mut query).await.unwrap();
            let query = Message::from_vec(&query).unwrap();
            let reply = fake_upstream_reply(&query, false).to_vec().unwrap();
            stream.write_u16(reply.len() as u16).await.unwrap();
            stream.write_all(&reply).await.unwrap();
        }
    });
    (addr, counts)
}

// ---- the scenario --------------------------------------------------------------------------

fn network(name: &str) -> NetworkRef {
    NetworkRef {
        id: format!("{name}-id"),
        name: name.to_owned(),
    }
}

fn endpoint(id: &str, name: &str, aliases: &[&str], ip: [u8; 4]) -> Endpoint {
    Endpoint {
        container_id: id.to_owned(),
        name: name.to_owned(),
        aliases: aliases.iter().map(|alias| (*alias).to_owned()).collect(),
        ipv4: Some(Ipv4Addr::from(ip)),
        ipv6: None,
    }
}

/// web and db share `app`; db and cache share `back`; web cannot see cache.
fn table() -> NameTable {
    let table = NameTable::new();
    table
        .connect(&network("app"), endpoint(WEB, "/web", &[], [172, 20, 0, 2]))
        .unwrap();
    table
        .connect(
            &network("app"),
            endpoint(DB, "/db", &["Database"], [172, 20, 0, 3]),
        )
        .unwrap();
    table
        .connect(&network("back"), endpoint(DB, "/db", &[], [172, 21, 0, 3]))
        .unwrap();
    table
        .connect(
            &network("back"),
            endpoint(CACHE, "/cache", &[], [172, 21, 0, 4]),
        )
        .unwrap();
    table
}

struct Setup {
    runtime: tokio::runtime::Runtime,
    netns: OwnedFd,
    table: NameTable,
    upstream: SocketAddr,
    counts: Arc<UpstreamCounts>,
    server: Option<ServerHandle>,
}

/// A namespace for container `web`, its resolver on 127.0.0.11:53 there, and a fake upstream.
fn setup() -> Setup {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (upstream, counts) = runtime.block_on(start_fake_upstream());
    let netns = new_netns();
    let table = table();
    let sockets = bind_in_netns(Netns::Fd(netns.as_fd()), DNS_SERVER_ADDR).unwrap();
    let resolver = Resolver::new(table.clone(), WEB, Upstreams::new([upstream]));
    let server = {
        let _entered = runtime.enter();
        serve(sockets, resolver).unwrap()
    };
    assert_eq!(server.udp_addr(), DNS_SERVER_ADDR);
    assert_eq!(server.tcp_addr(), DNS_SERVER_ADDR);
    Setup {
        runtime,
        netns,
        table,
        upstream,
        counts,
        server: Some(server),
    }
}

#[test]
fn resolves_names_aliases_short_ids_and_ptr_inside_the_netns() {
    let setup = setup();
    in_netns(&setup.netns, || {
        for ask in [ask_udp, ask_tcp] {
            for name in ["db", "DB.", "database", "fedcba987654", "web"] {
                let reply = ask(DNS_SERVER_ADDR, name, RecordType::A);
                assert_eq!(reply.response_code(), ResponseCode::NoError, "{name}");
                let expected = if name == "web" {
                    [172, 20, 0, 2]
                } else {
                    [172, 20, 0, 3]
                };
                assert_eq!(a_records(&reply), vec![Ipv4Addr::from(expected)], "{name}");
                assert!(reply.answers().iter().all(|r| r.ttl() == ANSWER_TTL));
                assert!(reply.recursion_available());
            }
            let ptr = ask(DNS_SERVER_ADDR, "3.0.20.172.in-addr.arpa.", RecordType::PTR);
            assert_eq!(
                ptr.answers()[0].data(),
                &RData::PTR(PTR(Name::from_ascii("db.app.").unwrap()))
            );
            // db exists without IPv6: an empty success, not forwarded.
            let aaaa = ask(DNS_SERVER_ADDR, "db", RecordType::AAAA);
            assert_eq!(aaaa.response_code(), ResponseCode::NoError);
            assert!(aaaa.answers().is_empty());
        }
    });
    assert_eq!(
        setup.counts.udp.load(Ordering::SeqCst),
        0,
        "local names were forwarded"
    );
    assert_eq!(
        setup.counts.tcp.load(Ordering::SeqCst),
        0,
        "local names were forwarded"
    );

    // cache is only on `back`, which web is not attached to: not a local name for web, so it
    // goes upstream (which says NXDOMAIN), and so does its address.
    in_netns(&setup.netns, || {
        let reply = ask_udp(DNS_SERVER_ADDR, "cache", RecordType::A);
        assert_eq!(reply.response_code(), ResponseCode::NXDomain);
        let ptr = ask_udp(DNS_SERVER_ADDR, "4.0.21.172.in-addr.arpa.", RecordType::PTR);
        assert_eq!(ptr.response_code(), ResponseCode::NXDomain);
    });
    assert_eq!(setup.counts.udp.load(Ordering::SeqCst), 2);
}

#[test]
fn forwards_other_names_from_the_host_namespace_with_tcp_fallback() {
    let setup = setup();
    let upstream = setup.upstream;
    in_netns(&setup.netns, || {
        // The fake upstream is on the host's loopback: unreachable from here.
        let direct = TcpStream::connect_timeout(&upstream, CLIENT_TIMEOUT);
        assert!(
            direct.is_err(),
            "the test upstream is reachable from the netns"
        );

        let reply = ask_udp(DNS_SERVER_ADDR, "example.test", RecordType::A);
        assert_eq!(reply.response_code(), ResponseCode::NoError);
        assert_eq!(a_records(&reply), vec![Ipv4Addr::new(192, 0, 2, 10)]);
        let reply = ask_tcp(DNS_SERVER_ADDR, "Example.Test.", RecordType::A);
        assert_eq!(a_records(&reply), vec![Ipv4Addr::new(192, 0, 2, 10)]);

        let reply = ask_udp(DNS_SERVER_ADDR, "missing.test", RecordType::A);
        assert_eq!(reply.response_code(), ResponseCode::NXDomain);
    });
    let udp_before = setup.counts.udp.load(Ordering::SeqCst);
    let tcp_before = setup.counts.tcp.load(Ordering::SeqCst);
    assert_eq!((udp_before, tcp_before), (2, 1));

    in_netns(&setup.netns, || {
        // Upstream truncates over UDP; the resolver retries over TCP, gets 40 records, which do
        // not fit a 512-byte UDP reply: the client gets TC and retries over TCP itself.
        let reply = ask_udp(DNS_SERVER_ADDR, "big.test", RecordType::A);
        assert!(reply.truncated());
        let reply = ask_tcp(DNS_SERVER_ADDR, "big.test", RecordType::A);
        assert!(!reply.truncated());
        assert_eq!(a_records(&reply).len(), 40);
    });
    assert_eq!(setup.counts.udp.load(Ordering::SeqCst), udp_before + 1);
    assert_eq!(setup.counts.tcp.load(Ordering::SeqCst), tcp_before + 2);
}

#[test]
fn table_updates_reach_the_running_server_and_stop_frees_the_port() {
    let mut setup = setup();
    setup.table.rename_container(DB, "/postgres");
    setup
        .table
        .connect(
            &network("back"),
            endpoint(WEB, "/web", &[], [172, 21, 0, 2]),
        )
        .unwrap();
    in_netns(&setup.netns, || {
        assert_eq!(
            a_records(&ask_udp(DNS_SERVER_ADDR, "postgres", RecordType::A)),
            vec![Ipv4Addr::new(172, 20, 0, 3)]
        );
        assert_eq!(
            ask_udp(DNS_SERVER_ADDR, "db", RecordType::A).response_code(),
            ResponseCode::NXDomain
        );
        // web joined `back`: cache is visible now.
        assert_eq!(
            a_records(&ask_udp(DNS_SERVER_ADDR, "cache", RecordType::A)),
            vec![Ipv4Addr::new(172, 21, 0, 4)]
        );
    });
    setup.table.remove_container(CACHE);
    assert!(setup.table.disconnect("app-id", DB));
    in_netns(&setup.netns, || {
        // db is still on `back`, which web now shares.
        assert_eq!(
            ask_udp(DNS_SERVER_ADDR, "database", RecordType::A).response_code(),
            ResponseCode::NXDomain
        );
        assert_eq!(
            a_records(&ask_udp(DNS_SERVER_ADDR, "postgres", RecordType::A)),
            vec![Ipv4Addr::new(172, 21, 0, 3)]
        );
        assert_eq!(
            ask_udp(DNS_SERVER_ADDR, "cache", RecordType::A).response_code(),
            ResponseCode::NXDomain
        );
    });

    let server = setup.server.take().unwrap();
    setup.runtime.block_on(server.stop());
    // Both sockets are closed: 127.0.0.11:53 can be bound again in the namespace.
    let again = bind_in_netns(Netns::Fd(setup.netns.as_fd()), DNS_SERVER_ADDR).unwrap();
    drop(again);
}

#[test]
fn unreachable_or_no_upstream_gives_servfail() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A port on the host's loopback with nothing behind it: refused at once.
    let closed = {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    };
    let netns = new_netns();
    let servers: Vec<ServerHandle> = [(Upstreams::new([closed]), 5353), (Upstreams::new([]), 5354)]
        .into_iter()
        .map(|(upstreams, port)| {
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11)), port);
            let sockets = bind_in_netns(Netns::Fd(netns.as_fd()), addr).unwrap();
            let _entered = runtime.enter();
            serve(sockets, Resolver::new(table(), WEB, upstreams)).unwrap()
        })
        .collect();
    in_netns(&netns, || {
        for server in &servers {
            let started = std::time::Instant::now();
            let reply = ask_udp(server.udp_addr(), "example.test", RecordType::A);
            assert_eq!(reply.response_code(), ResponseCode::ServFail);
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{:?}",
                started.elapsed()
            );
            // Local names still resolve.
            let reply = ask_tcp(server.tcp_addr(), "db", RecordType::A);
            assert_eq!(a_records(&reply), vec![Ipv4Addr::new(172, 20, 0, 3)]);
        }
    });
    for server in servers {
        runtime.block_on(server.stop());
    }
}
