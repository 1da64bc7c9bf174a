//! RFC 6455 WebSocket framing, as much as the `v4/v5.channel.k8s.io` protocols need: binary
//! messages (fragmented or not), ping/pong and close. The server's frames are unmasked, the
//! client's masked.

use base64::Engine;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The largest message accepted.
const MAX_MESSAGE: usize = 16 << 20;

const OP_CONT: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xA;

/// Close code 1000.
pub(crate) const CLOSE_NORMAL: u16 = 1000;

/// `Sec-WebSocket-Accept` for the client's `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message {
    Binary(Vec<u8>),
    Text(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum WsError {
    #[error("websocket: {0}")]
    Io(#[from] std::io::Error),
    #[error("websocket: message too large")]
    TooLarge,
    #[error("websocket: protocol error: {0}")]
    Protocol(&'static str),
}

/// Reads the next message; control frames are returned as they come (even between the
/// fragments of a message). `None` when the connection ended between frames.
pub(crate) async fn read_message<R: AsyncRead + Unpin>(
    r: &mut R,
    partial: &mut Option<(u8, Vec<u8>)>,
) -> Result<Option<Message>, WsError> {
    loop {
        let mut head = [0u8; 2];
        match r.read_exact(&mut head[..1]).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        r.read_exact(&mut head[1..]).await?;
        let fin = head[0] & 0x80 != 0;
        let op = head[0] & 0x0f;
        let masked = head[1] & 0x80 != 0;
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                r.read_exact(&mut b).await?;
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                r.read_exact(&mut b).await?;
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        if len > MAX_MESSAGE as u64 {
            return Err(WsError::TooLarge);
        }
        let mut mask = [0u8; 4];
        if masked {
            r.read_exact(&mut mask).await?;
        }
        let mut payload = vec![0u8; len as usize];
        r.read_exact(&mut payload).await?;
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= mask[i % 4];
            }
        }
        match op {
            OP_CLOSE => return Ok(Some(Message::Close)),
            OP_PING => return Ok(Some(Message::Ping(payload))),
            OP_PONG => return Ok(Some(Message::Pong(payload))),
            OP_TEXT | OP_BINARY => {
                if partial.is_some() {
                    return Err(WsError::Protocol("new message inside a fragmented one"));
                }
                if fin {
                    return Ok(Some(if op == OP_TEXT {
                        Message::Text(payload)
                    } else {
                        Message::Binary(payload)
                    }));
                }
                *partial = Some((op, payload));
            }
            OP_CONT => {
                let Some((first, mut data)) = partial.take() else {
                    return Err(WsError::Protocol("continuation without a message"));
                };
                data.extend_from_slice(&payload);
                if data.len() > MAX_MESSAGE {
                    return Err(WsError::TooLarge);
                }
                if fin {
                    return Ok(Some(if first == OP_TEXT {
                        Message::Text(data)
                    } else {
                        Message::Binary(data)
                    }));
                }
                *partial = Some((first, data));
            }
            _ => return Err(WsError::Protocol("unknown opcode")),
        }
    }
}

/// One frame with FIN set; masked with `mask` (clients) or not (servers).
pub(crate) fn frame(op: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | op);
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    op: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    w.write_all(&frame(op, payload, None)).await
}

/// The payload of a close frame with `code`.
pub(crate) fn close_payload(code: u16) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

/// A byte stream carried in binary messages (`SPDY/3.1+portforward.k8s.io`: SPDY tunnelled
/// in WebSocket, as client-go's tunneling dialer sends it): what the returned stream reads is
/// the client's messages' bytes, what is written to it goes out as binary messages. Pings are
/// answered; the client's close (or the connection's end) ends the stream.
pub(crate) fn tunnel<IO>(io: IO) -> tokio::io::DuplexStream
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (mut rd, mut wr) = tokio::io::split(io);
    let (mut pipe_rd, mut pipe_wr) = tokio::io::split(ours);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<(u8, Vec<u8>)>(64);
    tokio::spawn(async move {
        while let Some((op, payload)) = out_rx.recv().await {
            if write_frame(&mut wr, op, &payload).await.is_err() || op == OP_CLOSE {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let pong = out_tx.clone();
    tokio::spawn(async move {
        let mut partial = None;
        while let Ok(Some(msg)) = read_message(&mut rd, &mut partial).await {
            match msg {
                Message::Binary(b) | Message::Text(b) => {
                    if pipe_wr.write_all(&b).await.is_err() {
                        break;
                    }
                }
                Message::Ping(p) => {
                    let _ = pong.send((OP_PONG, p)).await;
                }
                Message::Pong(_) => {}
                Message::Close => break,
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
                    if out_tx.send((OP_BINARY, buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = out_tx.send((OP_CLOSE, close_payload(CLOSE_NORMAL))).await;
    });
    theirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_of_rfc6455() {
        // RFC 6455 section 1.3's example.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[tokio::test]
    async fn reads_masked_fragmented_and_control_frames() {
        // RFC 6455 section 5.7: a masked "Hello", then "Hel" + "lo" fragmented, a ping.
        let mut wire = vec![
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        wire.extend_from_slice(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        wire.extend_from_slice(&[0x89, 0x05, b'H', b'e', b'l', b'l', b'o']);
        wire.extend_from_slice(&[0x80, 0x02, 0x6c, 0x6f]);
        let big = vec![7u8; 70_000];
        wire.extend_from_slice(&frame(OP_BINARY, &big, Some([1, 2, 3, 4])));
        wire.extend_from_slice(&frame(OP_CLOSE, &close_payload(CLOSE_NORMAL), None));
        let mut r = &wire[..];
        let mut partial = None;
        let mut got = Vec::new();
        while let Some(m) = read_message(&mut r, &mut partial).await.expect("read") {
            got.push(m);
        }
        assert_eq!(
            got,
            vec![
                Message::Text(b"Hello".to_vec()),
                Message::Ping(b"Hello".to_vec()),
                Message::Text(b"Hello".to_vec()),
                Message::Binary(big),
                Message::Close,
            ]
        );
    }

    #[tokio::test]
    async fn tunnel_carries_bytes_both_ways() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut pipe = tunnel(server);
        let (mut crd, mut cwr) = tokio::io::split(client);
        cwr.write_all(&frame(OP_BINARY, b"abc", Some([9, 8, 7, 6])))
            .await
            .expect("write");
        cwr.write_all(&frame(OP_PING, b"p", Some([1, 1, 1, 1])))
            .await
            .expect("write");
        cwr.write_all(&frame(OP_BINARY, b"def", Some([0, 0, 0, 0])))
            .await
            .expect("write");
        let mut got = [0u8; 6];
        pipe.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"abcdef");
        pipe.write_all(b"reply").await.expect("write");
        let mut partial = None;
        assert_eq!(
            read_message(&mut crd, &mut partial).await.expect("pong"),
            Some(Message::Pong(b"p".to_vec()))
        );
        assert_eq!(
            read_message(&mut crd, &mut partial).await.expect("reply"),
            Some(Message::Binary(b"reply".to_vec()))
        );
        drop(pipe);
        assert_eq!(
            read_message(&mut crd, &mut partial).await.expect("close"),
            Some(Message::Close)
        );
    }

    #[test]
    fn frame_lengths() {
        assert_eq!(frame(OP_BINARY, b"ab", None), vec![0x82, 2, b'a', b'b']);
        let f = frame(OP_BINARY, &[0u8; 300], None);
        assert_eq!(&f[..4], &[0x82, 126, 1, 44]);
        let f = frame(OP_BINARY, &vec![0u8; 70_000], None);
        assert_eq!(&f[..2], &[0x82, 127]);
    }
}
