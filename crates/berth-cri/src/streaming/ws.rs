//! WebSocket for the streaming server, by `tokio-tungstenite`: the server's answer to the
//! client's upgrade request (RFC 6455 section 4.2), the upgraded connection as a message
//! stream, and SPDY tunnelled in binary messages for port-forward.

use base64::Engine;
use futures::{SinkExt, StreamExt};
use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The largest message accepted.
const MAX_MESSAGE: usize = 16 << 20;
/// The only version of the protocol (RFC 6455 section 4.1).
pub(crate) const VERSION: &str = "13";

/// Why a WebSocket upgrade request is refused (400 Bad Request, as x/net/websocket, which
/// kubelet's streaming server uses, answers them).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("missing Sec-WebSocket-Key")]
    MissingKey,
    #[error("invalid Sec-WebSocket-Key")]
    BadKey,
    /// Answered with `Sec-WebSocket-Version: 13`.
    #[error("bad \"Sec-WebSocket-Version\" header")]
    BadVersion,
}

/// Checks the client's `Sec-WebSocket-Version` and `Sec-WebSocket-Key` and returns the
/// `Sec-WebSocket-Accept` to answer.
pub(crate) fn accept(headers: &HeaderMap) -> Result<String, HandshakeError> {
    let version = headers
        .get("sec-websocket-version")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if version != Some(VERSION) {
        return Err(HandshakeError::BadVersion);
    }
    let key = headers
        .get("sec-websocket-key")
        .and_then(|k| k.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(HandshakeError::MissingKey)?;
    // A base64-encoded 16-byte nonce.
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(nonce) if nonce.len() == 16 => {}
        _ => return Err(HandshakeError::BadKey),
    }
    Ok(tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

/// The server's side of an upgraded connection.
pub(crate) async fn server<IO>(io: IO) -> WebSocketStream<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE));
    WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await
}

/// A close message with code 1000.
pub(crate) fn close_normal() -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

/// A byte stream carried in binary messages (`SPDY/3.1+portforward.k8s.io`: SPDY tunnelled
/// in WebSocket, as client-go's tunneling dialer sends it): what the returned stream reads is
/// the client's messages' bytes, what is written to it goes out as binary messages. Pings are
/// answered; the client's close (or the connection's end) ends the stream.
pub(crate) async fn tunnel<IO>(io: IO) -> tokio::io::DuplexStream
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (mut sink, mut stream) = server(io).await.split();
    let (mut pipe_rd, mut pipe_wr) = tokio::io::split(ours);
    tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            let data = match msg {
                Message::Binary(b) => b,
                Message::Text(t) => t.into(),
                Message::Close(_) => break,
                // Pings are answered by the stream as it reads.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            if pipe_wr.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = pipe_wr.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match pipe_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink
                        .send(Message::Binary(buf[..n].to_vec().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = sink.send(close_normal()).await;
    });
    theirs
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(version: Option<&'static str>, key: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = version {
            h.insert("sec-websocket-version", HeaderValue::from_static(v));
        }
        if let Some(k) = key {
            h.insert("sec-websocket-key", HeaderValue::from_static(k));
        }
        h
    }

    #[test]
    fn accepts_rfc6455s_example_and_refuses_bad_requests() {
        // RFC 6455 section 1.3's example.
        assert_eq!(
            accept(&headers(Some("13"), Some("dGhlIHNhbXBsZSBub25jZQ=="))).as_deref(),
            Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        assert_eq!(
            accept(&headers(Some("8"), Some("dGhlIHNhbXBsZSBub25jZQ=="))),
            Err(HandshakeError::BadVersion)
        );
        assert_eq!(
            accept(&headers(None, Some("dGhlIHNhbXBsZSBub25jZQ=="))),
            Err(HandshakeError::BadVersion)
        );
        assert_eq!(
            accept(&headers(Some("13"), None)),
            Err(HandshakeError::MissingKey)
        );
        assert_eq!(
            accept(&headers(Some("13"), Some("c2hvcnQ="))),
            Err(HandshakeError::BadKey)
        );
    }

    #[tokio::test]
    async fn tunnel_carries_bytes_both_ways() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut pipe = tunnel(server).await;
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        client
            .send(Message::Binary(b"abc".to_vec().into()))
            .await
            .expect("send");
        client
            .send(Message::Ping(b"p".to_vec().into()))
            .await
            .expect("ping");
        client
            .send(Message::Binary(b"def".to_vec().into()))
            .await
            .expect("send");
        let mut got = [0u8; 6];
        pipe.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"abcdef");
        pipe.write_all(b"reply").await.expect("write");
        let next = |m: Option<Result<Message, _>>| m.expect("message").expect("ok");
        assert_eq!(
            next(client.next().await),
            Message::Pong(b"p".to_vec().into())
        );
        assert_eq!(
            next(client.next().await),
            Message::Binary(b"reply".to_vec().into())
        );
        drop(pipe);
        assert_eq!(next(client.next().await), close_normal());
    }
}
