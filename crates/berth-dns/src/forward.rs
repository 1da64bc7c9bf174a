//! Forwarding queries the table cannot answer to the upstream resolvers.
//!
//! The sockets used here are created by the runtime's worker threads, which live in the host's
//! network namespace: forwarded queries leave from the host, as dockerd's do, so a container's
//! own routes (or an `--internal` network) do not matter and host loopback resolvers work.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// dockerd tries at most three upstream servers (`maxExtDNS`).
pub const MAX_UPSTREAMS: usize = 3;
/// The time allowed for one exchange with one upstream server (dockerd's `extIOTimeout`).
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(4);
/// Where the host's resolver configuration lives.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// systemd-resolved's list of the real upstreams, used when /etc/resolv.conf only names its
/// local stub (127.0.0.53), as dockerd does.
pub const SYSTEMD_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";
/// The servers dockerd falls back to when the host lists no usable (non-loopback) nameserver.
pub const DEFAULT_NAMESERVERS: [Ipv4Addr; 2] =
    [Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(8, 8, 4, 4)];

const DNS_PORT: u16 = 53;
/// Large enough for any UDP reply an upstream may send with EDNS.
const MAX_UDP_REPLY: usize = 65_535;

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("reading {path}: {source}")]
    ReadResolvConf { path: String, source: io::Error },
    #[error("no upstream DNS server configured")]
    NoUpstream,
    #[error("encoding the query for upstream: {0}")]
    Encode(#[source] hickory_proto::ProtoError),
    #[error("upstream {server}: {source}")]
    Io {
        server: SocketAddr,
        source: io::Error,
    },
    #[error("upstream {server} did not answer within {timeout:?}")]
    Timeout {
        server: SocketAddr,
        timeout: Duration,
    },
    #[error("upstream {server} sent an undecodable reply: {source}")]
    Decode {
        server: SocketAddr,
        source: hickory_proto::ProtoError,
    },
    #[error("upstream {server} sent a reply of {len} bytes, over the DNS limit")]
    TooLarge { server: SocketAddr, len: usize },
}

/// How the client asked, which is how the query goes upstream first (as dockerd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The upstream resolvers of one container, tried in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstreams {
    servers: Vec<SocketAddr>,
}

impl Upstreams {
    /// Exactly these servers (at most [`MAX_UPSTREAMS`] are kept). Loopback addresses are kept:
    /// they are reached from the host's namespace (`--dns 127.0.0.1` works as on dockerd).
    pub fn new(servers: impl IntoIterator<Item = SocketAddr>) -> Self {
        Self {
            servers: servers.into_iter().take(MAX_UPSTREAMS).collect(),
        }
    }

    /// Servers given by address (`--dns`), on port 53.
    pub fn from_ips(ips: impl IntoIterator<Item = IpAddr>) -> Self {
        Self::new(ips.into_iter().map(|ip| SocketAddr::new(ip, DNS_PORT)))
    }

    /// The `nameserver` lines of a resolv.conf, skipping loopback ones as dockerd does for the
    /// host's file; dockerd's defaults when none is left.
    pub fn from_resolv_conf(contents: &str) -> Self {
        let usable: Vec<IpAddr> = nameservers(contents)
            .into_iter()
            .filter(|ip| !ip.is_loopback())
            .collect();
        if usable.is_empty() {
            return Self::from_ips(DEFAULT_NAMESERVERS.map(IpAddr::V4));
        }
        Self::from_ips(usable)
    }

    /// The host's resolvers: /etc/resolv.conf, or systemd-resolved's upstream list when the
    /// former only names the local stub resolver.
    pub fn from_host() -> Result<Self, ForwardError> {
        Self::from_files(Path::new(HOST_RESOLV_CONF), Path::new(SYSTEMD_RESOLV_CONF))
    }

    /// [`Upstreams::from_host`] with the two files named.
    pub fn from_files(
        resolv_conf: &Path,
        systemd_resolv_conf: &Path,
    ) -> Result<Self, ForwardError> {
        let contents = read(resolv_conf)?;
        let stub = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53));
        let listed = nameservers(&contents);
        if !listed.is_empty() && listed.iter().all(|ip| *ip == stub) {
            if let Ok(upstream) = read(systemd_resolv_conf) {
                return Ok(Self::from_resolv_conf(&upstream));
            }
        }
        Ok(Self::from_resolv_conf(&contents))
    }

    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Sends `query` to the servers in turn and returns the encoded reply, with the client's
    /// message id. A truncated UDP reply is retried over TCP with the same server. As dockerd:
    /// SERVFAIL, REFUSED, a non-authoritative NXDOMAIN or another error code moves on to the
    /// next server, and the last such reply is returned when no server does better.
    pub async fn forward(
        &self,
        query: &Message,
        transport: Transport,
    ) -> Result<Vec<u8>, ForwardError> {
        // A fresh id per upstream exchange: the client's id is predictable to the container,
        // and replies from upstream are matched against ours.
        let mut upstream_query = query.clone();
        upstream_query.set_id(rand::random());
        let wire = upstream_query.to_vec().map_err(ForwardError::Encode)?;

        let mut last_reply: Option<Vec<u8>> = None;
        let mut last_error = ForwardError::NoUpstream;
        for &server in &self.servers {
            let exchanged = match transport {
                Transport::Udp => exchange_udp_then_tcp(server, &wire, &upstream_query).await,
                Transport::Tcp => exchange_tcp(server, &wire, &upstream_query).await,
            };
            let (mut reply_wire, reply) = match exchanged {
                Ok(reply) => reply,
                Err(error) => {
                    tracing::debug!(%server, %error, "upstream DNS exchange failed");
                    last_error = error;
                    continue;
                }
            };
            restore_id(&mut reply_wire, query.id());
            let accept = match reply.response_code() {
                ResponseCode::NoError => true,
                ResponseCode::NXDomain => reply.authoritative(),
                _ => false,
            };
            if accept {
                return Ok(reply_wire);
            }
            last_reply = Some(reply_wire);
        }
        last_reply.ok_or(last_error)
    }
}

/// Nameserver addresses in resolv.conf syntax; malformed lines are skipped as libc does.
fn nameservers(contents: &str) -> Vec<IpAddr> {
    contents
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        // An IPv6 entry may carry a zone ("fe80::1%eth0"); the zone is meaningless from
        // berthd's side, so such entries are skipped rather than misrouted.
        .filter_map(|word| word.parse().ok())
        .collect()
}

fn read(path: &Path) -> Result<String, ForwardError> {
    std::fs::read_to_string(path).map_err(|source| ForwardError::ReadResolvConf {
        path: path.display().to_string(),
        source,
    })
}

fn restore_id(wire: &mut [u8], id: u16) {
    if let Some(header) = wire.get_mut(..2) {
        header.copy_from_slice(&id.to_be_bytes());
    }
}

/// Whether `reply` answers `query`: a response with our id to the same question.
fn answers_query(query: &Message, reply: &Message) -> bool {
    reply.message_type() == MessageType::Response
        && reply.id() == query.id()
        && reply.queries() == query.queries()
}

async fn exchange_udp_then_tcp(
    server: SocketAddr,
    wire: &[u8],
    query: &Message,
) -> Result<(Vec<u8>, Message), ForwardError> {
    let (reply_wire, reply) = with_timeout(server, exchange_udp(server, wire, query)).await?;
    if !reply.truncated() {
        return Ok((reply_wire, reply));
    }
    match exchange_tcp(server, wire, query).await {
        Ok(full) => Ok(full),
        Err(error) => {
            // The client can still retry over TCP itself on the truncated reply.
            tracing::debug!(%server, %error, "TCP retry after a truncated reply failed");
            Ok((reply_wire, reply))
        }
    }
}

async fn exchange_udp(
    server: SocketAddr,
    wire: &[u8],
    query: &Message,
) -> Result<(Vec<u8>, Message), ForwardError> {
    let io_error = |source| ForwardError::Io { server, source };
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await.map_err(io_error)?;
    socket.connect(server).await.map_err(io_error)?;
    socket.send(wire).await.map_err(io_error)?;
    let mut buffer = vec![0u8; MAX_UDP_REPLY];
    loop {
        let len = socket.recv(&mut buffer).await.map_err(io_error)?;
        // Anything that is not our reply (a late answer to an earlier id, garbage) is skipped;
        // the timeout around this loop bounds the wait.
        let Ok(reply) = Message::from_vec(&buffer[..len]) else {
            continue;
        };
        if answers_query(query, &reply) {
            buffer.truncate(len);
            return Ok((buffer, reply));
        }
    }
}

async fn exchange_tcp(
    server: SocketAddr,
    wire: &[u8],
    query: &Message,
) -> Result<(Vec<u8>, Message), ForwardError> {
    with_timeout(server, async {
        let io_error = |source| ForwardError::Io { server, source };
        let len = u16::try_from(wire.len()).map_err(|_| ForwardError::TooLarge {
            server,
            len: wire.len(),
        })?;
        let mut stream = TcpStream::connect(server).await.map_err(io_error)?;
        let mut framed = Vec::with_capacity(wire.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(wire);
        stream.write_all(&framed).await.map_err(io_error)?;
        let reply_len = stream.read_u16().await.map_err(io_error)?;
        let mut reply_wire = vec![0u8; usize::from(reply_len)];
        stream.read_exact(&mut reply_wire).await.map_err(io_error)?;
        let reply = Message::from_vec(&reply_wire)
            .map_err(|source| ForwardError::Decode { server, source })?;
        if !answers_query(query, &reply) {
            return Err(io_error(io::Error::new(
                io::ErrorKind::InvalidData,
                "reply does not match the query",
            )));
        }
        Ok((reply_wire, reply))
    })
    .await
}

async fn with_timeout<T>(
    server: SocketAddr,
    exchange: impl std::future::Future<Output = Result<T, ForwardError>>,
) -> Result<T, ForwardError> {
    tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .map_err(|_| ForwardError::Timeout {
            server,
            timeout: UPSTREAM_TIMEOUT,
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_skips_loopback_and_comments() {
        let conf = "# generated\nsearch example.com\nnameserver 127.0.0.53\nnameserver ::1\n\
                    nameserver 10.0.0.2\n  nameserver   2001:db8::1  \nnameserver bogus\n\
                    ;nameserver 10.0.0.9\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n";
        let upstreams = Upstreams::from_resolv_conf(conf);
        assert_eq!(
            upstreams.servers(),
            &[
                "10.0.0.2:53".parse::<SocketAddr>().unwrap(),
                "[2001:db8::1]:53".parse().unwrap(),
                "10.0.0.3:53".parse().unwrap(),
            ]
        );
    }

    #[test]
    fn resolv_conf_with_only_loopback_falls_back_to_dockerd_defaults() {
        let upstreams = Upstreams::from_resolv_conf("nameserver 127.0.0.1\n");
        assert_eq!(
            upstreams.servers(),
            &[
                "8.8.8.8:53".parse::<SocketAddr>().unwrap(),
                "8.8.4.4:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn explicit_servers_keep_loopback() {
        let upstreams = Upstreams::from_ips(["127.0.0.1".parse().unwrap()]);
        assert_eq!(
            upstreams.servers(),
            &["127.0.0.1:53".parse::<SocketAddr>().unwrap()]
        );
        assert!(Upstreams::new([]).is_empty());
    }

    #[test]
    fn restore_id_rewrites_only_the_header_id() {
        let mut wire = vec![0xab, 0xcd, 1, 2];
        restore_id(&mut wire, 0x1234);
        assert_eq!(wire, vec![0x12, 0x34, 1, 2]);
        let mut short: Vec<u8> = vec![1];
        restore_id(&mut short, 7);
        assert_eq!(short, vec![1]);
    }

    #[test]
    fn host_files_prefer_systemd_upstreams_behind_the_stub() {
        let dir = tempfile::tempdir().unwrap();
        let (etc, systemd) = (
            dir.path().join("resolv.conf"),
            dir.path().join("systemd.conf"),
        );
        std::fs::write(&etc, "nameserver 127.0.0.53\noptions edns0\n").unwrap();
        std::fs::write(&systemd, "nameserver 10.1.1.1\n").unwrap();
        let upstreams = Upstreams::from_files(&etc, &systemd).unwrap();
        assert_eq!(
            upstreams.servers(),
            &["10.1.1.1:53".parse::<SocketAddr>().unwrap()]
        );

        // Without systemd's file, the stub is skipped as loopback: dockerd's defaults.
        std::fs::remove_file(&systemd).unwrap();
        let upstreams = Upstreams::from_files(&etc, &systemd).unwrap();
        assert_eq!(
            upstreams.servers()[0],
            "8.8.8.8:53".parse::<SocketAddr>().unwrap()
        );

        // Other resolvers beside the stub: the host's file as it is.
        std::fs::write(&etc, "nameserver 127.0.0.53\nnameserver 10.2.2.2\n").unwrap();
        std::fs::write(&systemd, "nameserver 10.1.1.1\n").unwrap();
        let upstreams = Upstreams::from_files(&etc, &systemd).unwrap();
        assert_eq!(
            upstreams.servers(),
            &["10.2.2.2:53".parse::<SocketAddr>().unwrap()]
        );

        let missing = Upstreams::from_files(&dir.path().join("nope"), &systemd).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }

    #[tokio::test]
    async fn no_servers_is_an_error() {
        let query = Message::new();
        assert!(matches!(
            Upstreams::new([]).forward(&query, Transport::Udp).await,
            Err(ForwardError::NoUpstream)
        ));
    }
}
