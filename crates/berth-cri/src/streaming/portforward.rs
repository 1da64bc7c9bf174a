//! kubelet's port forwarding protocol `portforward.k8s.io` over SPDY/3.1: for each forwarded
//! connection the client opens an `error` and a `data` stream carrying the same `port` and
//! `requestID` headers; berth connects to that port on the loopback of the pod's network
//! namespace and copies bytes both ways.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::spdy::frame::header;
use super::spdy::session::{Session, Stream};

pub(crate) const SPDY_PROTOCOLS: &[&str] = &["portforward.k8s.io"];
/// The same protocol tunnelled in WebSocket (client-go's tunneling dialer, `crictl
/// port-forward -r websocket`).
pub(crate) const WS_PROTOCOLS: &[&str] = &["SPDY/3.1+portforward.k8s.io"];

/// How long the second stream of a pair may lag behind the first (kubelet's
/// `streamCreationTimeout`).
const PAIR_TIMEOUT: Duration = Duration::from_secs(30);

/// What a port-forward URL is for: the pod (today: the container) whose network namespace
/// the connections are made in.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub pod_id: String,
    /// The process whose network namespace is entered.
    pub pid: i64,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    #[error("failed to open the network namespace of process {pid}: {source}")]
    Netns {
        pid: i64,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to enter the network namespace: {0}")]
    Setns(nix::Error),
    #[error("failed to connect to localhost:{port} inside namespace: {source}")]
    Connect {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("the connecting thread went away")]
    Thread,
}

/// Connects to `port` on the loopback of the network namespace of process `pid`, from a
/// thread made for it (setns changes the calling thread's namespace).
pub(crate) async fn connect_in_netns(
    pid: i64,
    port: u16,
) -> Result<tokio::net::TcpStream, ForwardError> {
    let path = format!("/proc/{pid}/ns/net");
    let ns: OwnedFd = std::fs::File::open(&path)
        .map_err(|source| ForwardError::Netns { pid, source })?
        .into();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("berth-portforward".into())
        .spawn(move || {
            let result = (|| {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(ForwardError::Setns)?;
                let timeout = Duration::from_secs(10);
                let v4 = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                let v6 = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
                let stream = std::net::TcpStream::connect_timeout(&v4, timeout)
                    .or_else(|_| std::net::TcpStream::connect_timeout(&v6, timeout))
                    .map_err(|source| ForwardError::Connect { port, source })?;
                stream
                    .set_nonblocking(true)
                    .map_err(|source| ForwardError::Connect { port, source })?;
                Ok(stream)
            })();
            let _ = tx.send(result);
        })
        .map_err(|_| ForwardError::Thread)?;
    let stream = rx.await.map_err(|_| ForwardError::Thread)??;
    tokio::net::TcpStream::from_std(stream).map_err(|source| ForwardError::Connect { port, source })
}

#[derive(Default)]
struct Pair {
    error: Option<Stream>,
    data: Option<Stream>,
    first_seen: Option<tokio::time::Instant>,
}

/// Serves port forwarding over an upgraded SPDY connection until the client closes it.
pub(crate) async fn serve_spdy<IO>(io: IO, target: Target)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let mut session = match Session::start(io) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "SPDY port-forward session");
            return;
        }
    };
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        let stream = tokio::select! {
            s = session.streams.recv() => match s {
                Some(s) => s,
                None => break,
            },
            _ = sweep.tick() => {
                // A pair whose other half never came is given up, as kubelet does.
                let now = tokio::time::Instant::now();
                let stale: Vec<String> = pairs
                    .iter()
                    .filter(|(_, p)| p.first_seen.is_some_and(|t| now - t > PAIR_TIMEOUT))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in stale {
                    if let Some(p) = pairs.remove(&k) {
                        for s in [p.error, p.data].into_iter().flatten() {
                            s.out.reset().await;
                        }
                    }
                }
                continue;
            }
        };
        let request_id = header(&stream.headers, "requestid")
            .unwrap_or_default()
            .to_string();
        let pair = pairs.entry(request_id.clone()).or_default();
        pair.first_seen
            .get_or_insert_with(tokio::time::Instant::now);
        match header(&stream.headers, "streamtype") {
            Some("error") => pair.error = Some(stream),
            Some("data") => pair.data = Some(stream),
            _ => {
                stream.out.reset().await;
                continue;
            }
        }
        if pair.error.is_some() && pair.data.is_some() {
            if let Some(Pair {
                error: Some(error),
                data: Some(data),
                ..
            }) = pairs.remove(&request_id)
            {
                tokio::spawn(forward(error, data, target.clone()));
            }
        }
    }
}

/// One forwarded connection: the data stream to `port` in the pod's network namespace.
async fn forward(error: Stream, data: Stream, target: Target) {
    let port = header(&data.headers, "port")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(0);
    let fail = |e: String| {
        format!(
            "error forwarding port {port} to pod {}, uid : {e}",
            target.pod_id
        )
    };
    if port == 0 {
        error
            .out
            .send(fail("invalid port".to_string()).as_bytes())
            .await;
        error.out.finish().await;
        data.out.finish().await;
        return;
    }
    let conn = match connect_in_netns(target.pid, port).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, port, "port-forward: connect");
            error.out.send(fail(e.to_string()).as_bytes()).await;
            error.out.finish().await;
            data.out.finish().await;
            return;
        }
    };
    let (mut rd, mut wr) = conn.into_split();
    let Stream {
        data: mut incoming,
        out,
        ..
    } = data;
    let to_pod = tokio::spawn(async move {
        while let Some(chunk) = incoming.recv().await {
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // The client closed its side: the pod's side sees EOF.
        let _ = wr.shutdown().await;
    });
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let read = tokio::select! {
            r = rd.read(&mut buf) => r,
            // The client's connection is gone: drop the pod's side too.
            () = out.closed() => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !out.send(&buf[..n]).await {
                    break;
                }
            }
        }
    }
    out.finish().await;
    error.out.finish().await;
    // The pod closed: whatever the client still sends has nowhere to go.
    to_pod.abort();
}
