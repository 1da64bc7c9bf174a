//! Accepting connections on the unix socket with hyper's HTTP/1 server (upgrades enabled), and
//! a graceful stop: no new connections, in-flight requests get a short grace period.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use berth_daemon::Daemon;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tower::{Service, ServiceExt};

use crate::stopping::ShutdownFlag;

/// How long in-flight requests may run on after shutdown is asked for (followed streams end at
/// once; see [`crate::stopping`]).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves the API over `daemon` until `shutdown` completes.
pub async fn serve(
    listener: UnixListener,
    daemon: Arc<Daemon>,
    shutdown: impl Future<Output = ()>,
) {
    serve_service(listener, crate::app(daemon), shutdown, SHUTDOWN_GRACE).await
}

/// Serves any request service (the API, or a test router) on `listener`.
pub async fn serve_service<S>(
    listener: UnixListener,
    service: S,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    S: Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + 'static,
{
    // Every connection task holds a sender; when all are gone, `in_flight` yields `None`.
    let (conn_alive, mut in_flight) = tokio::sync::mpsc::channel::<Infallible>(1);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an API connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let svc = service.clone();
        let flag = ShutdownFlag(stop_rx.clone());
        let hyper_service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(flag.clone());
            svc.clone().oneshot(req)
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), hyper_service)
            .with_upgrades();
        let alive = conn_alive.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _alive = alive;
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = async { stop.wait_for(|stopping| *stopping).await.map(|_| ()) } => {
                    // Finish the request in flight, then close instead of keeping alive.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "API connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("API server stopped accepting connections; waiting for in-flight requests");
    let _ = stop_tx.send(true);
    drop(conn_alive);
    if tokio::time::timeout(grace, in_flight.recv()).await.is_err() {
        tracing::info!(
            grace_secs = grace.as_secs_f64(),
            "in-flight API requests did not finish in time; closing them"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hijack::{Hijack, Runner, RAW_STREAM};
    use axum::routing::{get, post};
    use axum::Router;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixStream;

    /// A session that echoes its input back, like an attached `cat`.
    fn echo_runner() -> Runner {
        Box::new(|io| {
            Box::pin(async move {
                let (mut r, mut w) = tokio::io::split(io);
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            })
        })
    }

    async fn echo(hijack: Hijack, body: Body) -> Response {
        hijack.run_with(echo_runner(), crate::hijack::MULTIPLEXED_STREAM, Some(body))
    }

    /// An endless stream, like `docker events`.
    async fn follow(stopping: crate::stopping::Stopping) -> Response {
        let ticks = futures::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Some((Ok::<_, Infallible>("tick\n"), ()))
        });
        Response::new(Body::from_stream(stopping.cut(ticks)))
    }

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_millis(300)).await;
        "done"
    }

    struct Server {
        path: std::path::PathBuf,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<()>,
        _dir: tempfile::TempDir,
    }

    fn start_server() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("api.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let router = Router::new()
            .route("/echo", post(echo))
            .route("/slow", get(slow))
            .route("/follow", get(follow));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve_service(
            listener,
            crate::with_api_layers(router),
            async move {
                let _ = rx.await;
            },
            Duration::from_secs(2),
        ));
        Server {
            path,
            stop: Some(tx),
            task,
            _dir: dir,
        }
    }

    /// Reads up to the end of the response head.
    async fn read_head(s: &mut UnixStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut byte).await.expect("read");
            assert!(
                n > 0,
                "connection closed in the head: {}",
                String::from_utf8_lossy(&head)
            );
            head.push(byte[0]);
        }
        String::from_utf8_lossy(&head).to_ascii_lowercase()
    }

    #[tokio::test]
    async fn upgrade_hands_the_raw_connection_to_the_session() {
        let server = start_server();
        let mut s = UnixStream::connect(&server.path).await.expect("connect");
        s.write_all(b"POST /v1.47/echo HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
            .await
            .expect("write");
        let head = read_head(&mut s).await;
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("upgrade: tcp"), "{head}");
        assert!(head.contains("connection: upgrade"), "{head}");
        assert!(
            head.contains("content-type: application/vnd.docker.multiplexed-stream"),
            "{head}"
        );
        assert!(head.contains("api-version: 1.47"), "{head}");
        s.write_all(b"ping-pong").await.expect("write");
        let mut buf = [0u8; 9];
        s.read_exact(&mut buf).await.expect("echo");
        assert_eq!(&buf, b"ping-pong");
        s.shutdown().await.expect("close write");
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.expect("eof");
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn without_upgrade_the_stream_is_the_response_body() {
        let server = start_server();
        let mut s = UnixStream::connect(&server.path).await.expect("connect");
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
            .await
            .expect("write");
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.expect("read");
        let text = String::from_utf8_lossy(&all).to_ascii_lowercase();
        assert!(text.starts_with("http/1.1 200"), "{text}");
        assert!(
            text.contains(&format!("content-type: {RAW_STREAM}")),
            "{text}"
        );
        assert!(text.contains("hello"), "{text}");
    }

    #[tokio::test]
    async fn version_is_checked_on_the_socket_too() {
        let server = start_server();
        let mut s = UnixStream::connect(&server.path).await.expect("connect");
        s.write_all(b"GET /v1.12/slow HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.expect("read");
        let text = String::from_utf8_lossy(&all);
        assert!(text.starts_with("HTTP/1.1 400"), "{text}");
        assert!(text.contains("client version 1.12 is too old"), "{text}");
    }

    #[tokio::test]
    async fn shutdown_lets_in_flight_requests_finish_and_stops_accepting() {
        let mut server = start_server();
        let mut s = UnixStream::connect(&server.path).await.expect("connect");
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: api\r\n\r\n")
            .await
            .expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(stop) = server.stop.take() {
            let _ = stop.send(());
        }
        let mut all = Vec::new();
        s.read_to_end(&mut all).await.expect("read");
        let text = String::from_utf8_lossy(&all);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with("done"), "{text}");
        tokio::time::timeout(Duration::from_secs(3), &mut server.task)
            .await
            .expect("server stops")
            .expect("join");
        assert!(UnixStream::connect(&server.path).await.is_err());
    }

    #[tokio::test]
    async fn followed_streams_end_at_shutdown_instead_of_waiting_out_the_grace() {
        let mut server = start_server();
        let mut s = UnixStream::connect(&server.path).await.expect("connect");
        s.write_all(b"GET /follow HTTP/1.1\r\nHost: api\r\n\r\n")
            .await
            .expect("write");
        let head = read_head(&mut s).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let mut first = [0u8; 16];
        let n = s.read(&mut first).await.expect("first tick");
        assert!(String::from_utf8_lossy(&first[..n]).contains("tick"));
        let started = std::time::Instant::now();
        if let Some(stop) = server.stop.take() {
            let _ = stop.send(());
        }
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(1), s.read_to_end(&mut rest))
            .await
            .expect("stream closed by shutdown")
            .expect("read");
        // The body ends properly (last chunk), not with a torn connection.
        assert!(
            rest.ends_with(b"0\r\n\r\n"),
            "{}",
            String::from_utf8_lossy(&rest)
        );
        tokio::time::timeout(Duration::from_secs(1), &mut server.task)
            .await
            .expect("server stops")
            .expect("join");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
}
