//! Serving one container's resolver on already-bound sockets, on the caller's tokio runtime.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::answer::{self, Outcome};
use crate::forward::{Transport, Upstreams};
use crate::table::NameTable;

/// At most this many queries (and TCP connections) in flight per server; more are dropped and
/// the client retries, as dockerd (`maxConcurrent`).
pub const MAX_CONCURRENT: usize = 1024;
/// A TCP client that sends nothing for this long is disconnected.
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(8);
/// A DNS header is 12 bytes: anything shorter cannot even be answered with an error.
const HEADER_LEN: usize = 12;
/// A pause after a failing accept or receive (EMFILE, ...) so the loop does not spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the DNS server must be started from within a tokio runtime")]
    NoRuntime,
    #[error("preparing the DNS server's sockets: {0}")]
    Socket(#[source] io::Error),
}

/// The two sockets a resolver listens on (normally 127.0.0.11:53 in the container's netns).
#[derive(Debug)]
pub struct DnsSockets {
    pub udp: std::net::UdpSocket,
    pub tcp: std::net::TcpListener,
}

/// One container's view: the shared table, who is asking, and where unknown names go.
#[derive(Debug, Clone)]
pub struct Resolver {
    table: NameTable,
    container_id: String,
    upstreams: Upstreams,
}

impl Resolver {
    /// A resolver for container `container_id`. With no upstreams (an `--internal` network)
    /// names the table does not know get SERVFAIL, as dockerd without DNS proxying.
    pub fn new(table: NameTable, container_id: impl Into<String>, upstreams: Upstreams) -> Self {
        Self {
            table,
            container_id: container_id.into(),
            upstreams,
        }
    }

    /// Answers one query in wire format; `None` when nothing should be sent back.
    pub async fn resolve(&self, wire: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let query = match Message::from_vec(wire) {
            Ok(query) => query,
            Err(error) => {
                tracing::debug!(%error, "undecodable DNS query");
                return format_error(wire);
            }
        };
        let reply = match answer::answer(&self.table, &self.container_id, &query) {
            Outcome::Ignore => return None,
            Outcome::Reply(reply) => reply.to_vec().ok()?,
            Outcome::Forward if self.upstreams.is_empty() => server_failure(&query)?,
            Outcome::Forward => match self.upstreams.forward(&query, transport).await {
                Ok(reply) => reply,
                Err(error) => {
                    tracing::debug!(%error, "forwarding a DNS query failed");
                    server_failure(&query)?
                }
            },
        };
        match transport {
            Transport::Udp => fit_udp(reply, usize::from(query.max_payload())),
            Transport::Tcp => Some(reply),
        }
    }
}

fn server_failure(query: &Message) -> Option<Vec<u8>> {
    answer::error_reply(query, ResponseCode::ServFail)
        .to_vec()
        .ok()
}

/// FORMERR for a message with a header that does not decode, so the client fails fast.
fn format_error(wire: &[u8]) -> Option<Vec<u8>> {
    let header = wire.get(..HEADER_LEN)?;
    let id = u16::from_be_bytes([header[0], header[1]]);
    // A message with the QR bit set is a response: never answer those.
    if header[2] & 0x80 != 0 {
        return None;
    }
    Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
        .to_vec()
        .ok()
}

/// A UDP reply larger than the client accepts becomes a truncated one (header and question,
/// TC set), so the client retries over TCP.
fn fit_udp(reply: Vec<u8>, max_len: usize) -> Option<Vec<u8>> {
    if reply.len() <= max_len {
        return Some(reply);
    }
    Message::from_vec(&reply).ok()?.truncate().to_vec().ok()
}

/// A running server; dropping it stops serving as well.
#[derive(Debug)]
pub struct ServerHandle {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    udp_addr: SocketAddr,
    tcp_addr: SocketAddr,
}

impl ServerHandle {
    /// Stops serving and waits until the sockets are closed and in-flight queries dropped.
    pub async fn stop(self) {
        // The receiver is gone only if the task already ended, which is what we want anyway.
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "DNS server task ended abnormally");
        }
    }

    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }
}

/// Starts serving `resolver` on `sockets` on the current tokio runtime.
pub fn serve(sockets: DnsSockets, resolver: Resolver) -> Result<ServerHandle, ServeError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| ServeError::NoRuntime)?;
    let _entered = runtime.enter();
    sockets
        .udp
        .set_nonblocking(true)
        .map_err(ServeError::Socket)?;
    sockets
        .tcp
        .set_nonblocking(true)
        .map_err(ServeError::Socket)?;
    let udp = UdpSocket::from_std(sockets.udp).map_err(ServeError::Socket)?;
    let tcp = TcpListener::from_std(sockets.tcp).map_err(ServeError::Socket)?;
    let udp_addr = udp.local_addr().map_err(ServeError::Socket)?;
    let tcp_addr = tcp.local_addr().map_err(ServeError::Socket)?;
    let (stop, stopped) = oneshot::channel();
    let task = runtime.spawn(run(udp, tcp, Arc::new(resolver), stopped));
    Ok(ServerHandle {
        stop,
        task,
        udp_addr,
        tcp_addr,
    })
}

async fn run(
    udp: UdpSocket,
    tcp: TcpListener,
    resolver: Arc<Resolver>,
    mut stopped: oneshot::Receiver<()>,
) {
    let udp = Arc::new(udp);
    let mut in_flight = JoinSet::new();
    let mut buffer = vec![0u8; 65_535];
    loop {
        tokio::select! {
            // Either a stop request or the handle being dropped.
            _ = &mut stopped => break,
            received = udp.recv_from(&mut buffer) => match received {
                Ok((len, peer)) => {
                    if in_flight.len() >= MAX_CONCURRENT {
                        tracing::debug!(%peer, "too many DNS queries in flight, dropping one");
                        continue;
                    }
                    let query = buffer[..len].to_vec();
                    let (udp, resolver) = (Arc::clone(&udp), Arc::clone(&resolver));
                    in_flight.spawn(async move {
                        if let Some(reply) = resolver.resolve(&query, Transport::Udp).await {
                            if let Err(error) = udp.send_to(&reply, peer).await {
                                tracing::debug!(%peer, %error, "sending a DNS reply failed");
                            }
                        }
                    });
                }
                Err(error) => {
                    tracing::debug!(%error, "receiving a DNS query failed");
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
            },
            accepted = tcp.accept() => match accepted {
                Ok((stream, peer)) => {
                    if in_flight.len() >= MAX_CONCURRENT {
                        tracing::debug!(%peer, "too many DNS connections, refusing one");
                        continue;
                    }
                    in_flight.spawn(serve_tcp(stream, Arc::clone(&resolver)));
                }
                Err(error) => {
                    tracing::debug!(%error, "accepting a DNS connection failed");
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
            },
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    // Abort in-flight queries and open TCP connections and wait until they are gone: they hold
    // clones of the UDP socket, which must be closed when `stop` returns.
    in_flight.shutdown().await;
}

/// One TCP client: length-prefixed queries answered in order until it closes or idles.
async fn serve_tcp(mut stream: TcpStream, resolver: Arc<Resolver>) {
    loop {
        let len = match tokio::time::timeout(TCP_IDLE_TIMEOUT, stream.read_u16()).await {
            Ok(Ok(len)) => usize::from(len),
            _ => return,
        };
        let mut query = vec![0u8; len];
        if !matches!(
            tokio::time::timeout(TCP_IDLE_TIMEOUT, stream.read_exact(&mut query)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let Some(reply) = resolver.resolve(&query, Transport::Tcp).await else {
            continue;
        };
        let Ok(reply_len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&reply_len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Endpoint, NetworkRef};
    use hickory_proto::op::Query;
    use hickory_proto::rr::{Name, RecordType};
    use std::net::Ipv4Addr;

    const ASKER: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn resolver(upstreams: Upstreams) -> Resolver {
        let table = NameTable::new();
        let network = NetworkRef {
            id: "n".into(),
            name: "net".into(),
        };
        for i in 0..100u8 {
            let id = format!("{:064x}", u128::from(i) + 1);
            let endpoint = Endpoint {
                container_id: if i == 0 { ASKER.into() } else { id },
                name: format!("c{i}"),
                aliases: vec!["many".into()],
                ipv4: Some(Ipv4Addr::new(10, 0, 0, i)),
                ipv6: None,
            };
            table.connect(&network, endpoint).unwrap();
        }
        Resolver::new(table, ASKER, upstreams)
    }

    fn wire(name: &str, record_type: RecordType) -> Vec<u8> {
        let mut message = Message::new();
        message
            .set_id(7)
            .add_query(Query::query(Name::from_ascii(name).unwrap(), record_type));
        message.to_vec().unwrap()
    }

    #[tokio::test]
    async fn large_udp_answer_is_truncated_but_complete_over_tcp() {
        let resolver = resolver(Upstreams::new([]));
        let udp = resolver
            .resolve(&wire("many", RecordType::A), Transport::Udp)
            .await
            .unwrap();
        let udp = Message::from_vec(&udp).unwrap();
        assert!(udp.truncated());
        assert!(udp.answers().is_empty());
        let tcp = resolver
            .resolve(&wire("many", RecordType::A), Transport::Tcp)
            .await
            .unwrap();
        let tcp = Message::from_vec(&tcp).unwrap();
        assert!(!tcp.truncated());
        assert_eq!(tcp.answers().len(), 100);
    }

    #[tokio::test]
    async fn unknown_name_without_upstreams_is_servfail() {
        let reply = resolver(Upstreams::new([]))
            .resolve(&wire("example.com", RecordType::A), Transport::Udp)
            .await
            .unwrap();
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.id(), 7);
        assert_eq!(reply.response_code(), ResponseCode::ServFail);
    }

    #[tokio::test]
    async fn garbage_gets_formerr_and_short_or_response_bits_get_nothing() {
        let resolver = resolver(Upstreams::new([]));
        let mut garbage = vec![0x12, 0x34, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0];
        garbage.extend_from_slice(&[0xff; 3]);
        let reply = resolver.resolve(&garbage, Transport::Udp).await.unwrap();
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.id(), 0x1234);
        assert_eq!(reply.response_code(), ResponseCode::FormErr);
        assert_eq!(resolver.resolve(&[1, 2, 3], Transport::Udp).await, None);
        garbage[2] = 0x80;
        assert_eq!(resolver.resolve(&garbage, Transport::Udp).await, None);
    }

    #[test]
    fn serve_outside_a_runtime_is_an_error() {
        let sockets = DnsSockets {
            udp: std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
            tcp: std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        };
        assert!(matches!(
            serve(sockets, resolver(Upstreams::new([]))),
            Err(ServeError::NoRuntime)
        ));
    }
}
