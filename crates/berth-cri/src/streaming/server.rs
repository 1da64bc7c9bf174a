//! The streaming server: HTTP/1.1 on 127.0.0.1, `/exec/<token>`, `/attach/<token>` and
//! `/portforward/<token>`, upgraded to SPDY/3.1 or WebSocket.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use berth_daemon::Daemon;
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{portforward, remotecommand, Pending, Streaming};

/// `X-Stream-Protocol-Version`: the SPDY subprotocols offered and the one chosen.
const STREAM_PROTOCOL: &str = "x-stream-protocol-version";
const SPDY: &str = "SPDY/3.1";

#[derive(Debug, thiserror::Error)]
#[error("streaming server on 127.0.0.1:{port}: {source}")]
pub struct BindError {
    port: u16,
    #[source]
    source: std::io::Error,
}

/// Binds the streaming server's socket on 127.0.0.1 (`port` 0: a free port).
pub(crate) async fn bind(port: u16) -> Result<TcpListener, BindError> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| BindError { port, source })
}

/// Serves `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    daemon: Arc<Daemon>,
    streaming: Arc<Streaming>,
    shutdown: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    loop {
        let (conn, _) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(error = %e, "streaming server: accept");
                    continue;
                }
            },
        };
        let (daemon, streaming) = (daemon.clone(), streaming.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (daemon, streaming) = (daemon.clone(), streaming.clone());
                async move { Ok::<_, Infallible>(handle(req, daemon, streaming)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(conn), service)
                .with_upgrades()
                .await;
        });
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Every value of `name`, comma-separated lists split.
fn header_values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The first protocol the client offers that the server speaks (kubelet's negotiation).
fn negotiate(offered: &[String], served: &[&str]) -> Option<String> {
    offered
        .iter()
        .find(|p| served.contains(&p.as_str()))
        .cloned()
}

enum Upgrade {
    Spdy(String),
    WebSocket { protocol: String, accept: String },
}

fn upgrade_of(
    req: &Request<Incoming>,
    spdy: &'static [&'static str],
    ws: &'static [&'static str],
) -> Result<Upgrade, Box<Response<Full<Bytes>>>> {
    let headers = req.headers();
    let upgrade = header_values(headers, "upgrade");
    if upgrade.iter().any(|u| u.eq_ignore_ascii_case("websocket")) {
        let accept = super::ws::accept(headers).map_err(|e| {
            let mut r = text(StatusCode::BAD_REQUEST, format!("{e}\n"));
            if e == super::ws::HandshakeError::BadVersion {
                r.headers_mut().insert(
                    "sec-websocket-version",
                    HeaderValue::from_static(super::ws::VERSION),
                );
            }
            Box::new(r)
        })?;
        let offered = header_values(headers, "sec-websocket-protocol");
        let protocol = negotiate(&offered, ws).ok_or_else(|| {
            Box::new(text(
                StatusCode::BAD_REQUEST,
                format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports {ws:?}\n"
                ),
            ))
        })?;
        return Ok(Upgrade::WebSocket { protocol, accept });
    }
    if upgrade.iter().any(|u| u.eq_ignore_ascii_case(SPDY)) {
        let offered = header_values(headers, STREAM_PROTOCOL);
        return negotiate(&offered, spdy).map(Upgrade::Spdy).ok_or_else(|| {
            let mut r = text(
                StatusCode::FORBIDDEN,
                format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server supports {spdy:?}\n"
                ),
            );
            for p in spdy {
                r.headers_mut()
                    .append("x-accepted-stream-protocol-versions", HeaderValue::from_static(p));
            }
            Box::new(r)
        });
    }
    Err(Box::new(text(
        StatusCode::BAD_REQUEST,
        "unable to upgrade: missing upgrade headers in request\n",
    )))
}

fn handle(
    mut req: Request<Incoming>,
    daemon: Arc<Daemon>,
    streaming: Arc<Streaming>,
) -> Response<Full<Bytes>> {
    if req.method() != http::Method::GET && req.method() != http::Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
    }
    let path = req.uri().path().to_string();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (kind, token) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let not_found = || text(StatusCode::NOT_FOUND, "404 page not found\n");
    if !matches!(kind, "exec" | "attach" | "portforward") || token.is_empty() {
        return not_found();
    }
    let pending = match streaming.tokens.consume(token) {
        Some(p) => p,
        None => return not_found(),
    };
    let (spdy, ws): (&'static [&'static str], &'static [&'static str]) = match (&pending, kind) {
        (Pending::Command(c), "exec") if !c.attach => {
            (remotecommand::SPDY_PROTOCOLS, remotecommand::WS_PROTOCOLS)
        }
        (Pending::Command(c), "attach") if c.attach => {
            (remotecommand::SPDY_PROTOCOLS, remotecommand::WS_PROTOCOLS)
        }
        (Pending::PortForward(_), "portforward") => {
            (portforward::SPDY_PROTOCOLS, portforward::WS_PROTOCOLS)
        }
        _ => return not_found(),
    };
    let upgrade = match upgrade_of(&req, spdy, ws) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let ws_protocol = match &upgrade {
        Upgrade::Spdy(protocol) => {
            r.headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static(SPDY));
            if let Ok(v) = HeaderValue::from_str(protocol) {
                r.headers_mut().insert(STREAM_PROTOCOL, v);
            }
            None
        }
        Upgrade::WebSocket { protocol, accept } => {
            r.headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            if let Ok(v) = HeaderValue::from_str(accept) {
                r.headers_mut().insert("sec-websocket-accept", v);
            }
            if let Ok(v) = HeaderValue::from_str(protocol) {
                r.headers_mut().insert("sec-websocket-protocol", v);
            }
            Some(protocol.clone())
        }
    };
    tokio::spawn(async move {
        let io = match on_upgrade.await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::debug!(error = %e, "streaming server: upgrade");
                return;
            }
        };
        match (pending, ws_protocol) {
            (Pending::Command(cmd), None) => remotecommand::serve_spdy(io, daemon, cmd).await,
            (Pending::Command(cmd), Some(p)) => remotecommand::serve_ws(io, daemon, cmd, &p).await,
            (Pending::PortForward(target), None) => portforward::serve_spdy(io, target).await,
            (Pending::PortForward(target), Some(_)) => {
                portforward::serve_spdy(super::ws::tunnel(io).await, target).await
            }
        }
    });
    r
}

/// The address a bound listener serves.
pub(crate) fn local_addr(listener: &TcpListener) -> Result<SocketAddr, BindError> {
    listener
        .local_addr()
        .map_err(|source| BindError { port: 0, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_in_the_clients_order() {
        let offered: Vec<String> = ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            negotiate(&offered, remotecommand::SPDY_PROTOCOLS).as_deref(),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(
            negotiate(&offered, remotecommand::WS_PROTOCOLS).as_deref(),
            Some("v5.channel.k8s.io")
        );
        assert_eq!(negotiate(&offered, portforward::SPDY_PROTOCOLS), None);
    }
}
