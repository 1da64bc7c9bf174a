//! Attach and exec start take over the connection. With `Upgrade: tcp` the answer is
//! `101 UPGRADED` and the raw socket is handed to the session; without it dockerd still hijacks
//! and answers `200 OK` with a raw stream, which we serve as a streaming response (output from
//! the session, input from the request body).

use std::convert::Infallible;
use std::os::fd::AsRawFd;
use std::time::Duration;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::Response;
use berth_daemon::{AttachSession, HijackedIo};
use futures::future::BoxFuture;
use futures::StreamExt;
use http::request::Parts;
use http::{header, HeaderValue, StatusCode};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_util::io::ReaderStream;

use crate::version::ApiVersion;

pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";

/// Buffer between the session and a non-upgraded response.
const PIPE_CAPACITY: usize = 64 * 1024;

/// The content type dockerd announces on an upgraded stream: multiplexed only without a tty and
/// from API 1.42 on.
pub fn stream_content_type(tty: bool, version: &ApiVersion) -> &'static str {
    if !tty && version.at_least("1.42") {
        MULTIPLEXED_STREAM
    } else {
        RAW_STREAM
    }
}

/// What the client offered for taking over its connection.
pub struct Hijack {
    /// The request carried an `Upgrade` header (dockerd checks only its presence).
    pub wants_upgrade: bool,
    on_upgrade: Option<OnUpgrade>,
}

impl<S: Send + Sync> FromRequestParts<S> for Hijack {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self {
            wants_upgrade: parts.headers.contains_key(header::UPGRADE),
            on_upgrade: parts.extensions.remove::<OnUpgrade>(),
        })
    }
}

/// Whatever pumps a hijacked connection (an [`AttachSession`] in production).
pub type Runner = Box<dyn FnOnce(Box<dyn HijackedIo>) -> BoxFuture<'static, ()> + Send>;

impl Hijack {
    /// The connection's upgrade, for a protocol of the route's own (websocket).
    pub fn into_upgrade(self) -> Option<OnUpgrade> {
        self.on_upgrade
    }

    /// Answers the request and runs `session` over the connection in the background.
    /// `stdin` is the request body, used only when the connection cannot be upgraded.
    pub fn run(
        self,
        session: AttachSession,
        content_type: &'static str,
        stdin: Option<Body>,
    ) -> Response {
        self.run_with(
            Box::new(move |io| Box::pin(session.run(io))),
            content_type,
            stdin,
        )
    }

    pub fn run_with(
        self,
        runner: Runner,
        content_type: &'static str,
        stdin: Option<Body>,
    ) -> Response {
        match (self.wants_upgrade, self.on_upgrade) {
            (true, Some(on_upgrade)) => upgrade(on_upgrade, runner, content_type),
            _ => stream_in_response(runner, stdin),
        }
    }
}

fn upgrade(on_upgrade: OnUpgrade, runner: Runner, content_type: &'static str) -> Response {
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => runner(after_head_is_read(upgraded).await).await,
            Err(e) => tracing::debug!(error = %e, "client went away before the upgrade"),
        }
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    resp
}

/// How long the session waits for the client to read the `101` head before it streams anyway.
const HEAD_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the session looks whether the client has read the head.
const HEAD_READ_POLL: Duration = Duration::from_millis(1);

/// Hands the upgraded connection over only once the client has read the `101` head.
///
/// Clients that read the head through a buffered reader and then read the raw socket (docker-py:
/// `http.client` reads the head with a `BufferedReader`, `exec_run` then `recv`s from the socket
/// under it) lose whatever arrived together with the head: the buffer swallows it. The process of
/// an exec is already running when the head goes out, so its output would often travel with the
/// head. On a unix socket the kernel tells how much the peer has not read yet (`SIOCOUTQ`); the
/// session starts once that is zero. Bytes the client sent after its request (early stdin) are
/// kept in front of the stream.
async fn after_head_is_read(upgraded: Upgraded) -> Box<dyn HijackedIo> {
    let parts = match upgraded.downcast::<TokioIo<UnixStream>>() {
        Ok(parts) => parts,
        Err(upgraded) => return Box::new(TokioIo::new(upgraded)),
    };
    let stream = parts.io.into_inner();
    let deadline = tokio::time::Instant::now() + HEAD_READ_TIMEOUT;
    loop {
        match unread_by_peer(&stream) {
            Ok(0) => break,
            Ok(_) if tokio::time::Instant::now() >= deadline => {
                tracing::debug!(
                    "the client did not read the upgrade head in time; streaming anyway"
                );
                break;
            }
            Ok(_) => tokio::time::sleep(HEAD_READ_POLL).await,
            Err(e) => {
                tracing::debug!(error = %e, "SIOCOUTQ on the upgraded connection");
                break;
            }
        }
    }
    let (rd, wr) = stream.into_split();
    Box::new(tokio::io::join(
        std::io::Cursor::new(parts.read_buf).chain(rd),
        wr,
    ))
}

/// Bytes written to a unix stream socket that the peer has not read yet.
fn unread_by_peer(stream: &UnixStream) -> std::io::Result<libc::c_int> {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (the same request number as TIOCOUTQ) writes one int through the pointer,
    // which points at a live local; the fd is borrowed from `stream` for the call.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(queued)
}

/// No upgrade: `200 OK` with dockerd's raw-stream content type; the session writes into a pipe
/// that becomes the response body, and the request body (if any) feeds its input.
fn stream_in_response(runner: Runner, stdin: Option<Body>) -> Response {
    let (ours, theirs) = tokio::io::duplex(PIPE_CAPACITY);
    tokio::spawn(runner(Box::new(theirs)));
    let (reader, mut writer) = tokio::io::split(ours);
    tokio::spawn(async move {
        if let Some(body) = stdin {
            let mut data = body.into_data_stream();
            while let Some(Ok(chunk)) = data.next().await {
                if writer.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }
        // End of input: the session sees stdin closed and keeps streaming output.
        let _ = writer.shutdown().await;
    });
    let mut resp = Response::new(Body::from_stream(ReaderStream::new(reader)));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_STREAM));
    resp
}

/// Input that is always at end of file and output that goes nowhere: a detached exec.
pub fn null_io() -> Box<dyn HijackedIo> {
    Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_depends_on_tty_and_version() {
        let new = ApiVersion("1.47".into());
        let old = ApiVersion("1.41".into());
        assert_eq!(stream_content_type(false, &new), MULTIPLEXED_STREAM);
        assert_eq!(stream_content_type(true, &new), RAW_STREAM);
        assert_eq!(stream_content_type(false, &old), RAW_STREAM);
    }
}
