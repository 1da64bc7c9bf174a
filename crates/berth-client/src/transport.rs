//! One HTTP/1.1 connection per request to the daemon's socket, with upgrade support for the
//! hijacked attach/exec streams.

use std::io;

use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use crate::body::RequestBody;
use crate::error::{ClientError, Result};
use crate::host::Host;

fn is_unreachable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::PermissionDenied
    ) || e.raw_os_error() == Some(libc::ENOTSOCK)
}

async fn handshake<S>(stream: S) -> Result<http1::SendRequest<RequestBody>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    // The connection task ends with the response (or the upgraded stream); its error, if any,
    // surfaces through the request future.
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

/// Opens a connection to `host` and sends `req` on it.
pub async fn send(host: &Host, req: Request<RequestBody>) -> Result<Response<Incoming>> {
    let connect_err = |e: io::Error| {
        if is_unreachable(&e) {
            ClientError::Connect {
                host: host.to_string(),
            }
        } else {
            ClientError::Io(e)
        }
    };
    let mut sender = match host {
        Host::Unix(path) => {
            handshake(UnixStream::connect(path).await.map_err(connect_err)?).await?
        }
        Host::Tcp(addr) => handshake(TcpStream::connect(addr).await.map_err(connect_err)?).await?,
    };
    Ok(sender.send_request(req).await?)
}
