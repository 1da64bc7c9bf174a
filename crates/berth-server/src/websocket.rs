//! The websocket side of `GET /containers/{id}/attach/ws` (RFC 6455, as dockerd's
//! x/net/websocket server speaks it): the handshake answer, then the attach session's bytes as
//! binary frames (API 1.28+; text frames before), never multiplexed, and the client's frames
//! (masked) as the session's input.

use base64::Engine as _;
use berth_daemon::{AttachSession, HijackedIo};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest as _, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// RFC 6455's key suffix.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Pipe between the session and the frame pumps.
const PIPE: usize = 64 * 1024;
/// The largest client frame accepted (a terminal's input is small).
const MAX_FRAME: u64 = 1 << 20;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// One server frame (FIN set, unmasked).
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Reads one client frame: (opcode, unmasked payload); `None` at end of stream or on a frame
/// that breaks the protocol.
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).await.ok()?;
    let opcode = head[0] & 0x0f;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).await.ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).await.ok()?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    if len > MAX_FRAME {
        return None;
    }
    let mut mask = [0u8; 4];
    if masked {
        r.read_exact(&mut mask).await.ok()?;
    }
    let mut payload = vec![0u8; usize::try_from(len).ok()?];
    r.read_exact(&mut payload).await.ok()?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Some((opcode, payload))
}

/// Strips stdcopy headers from a byte stream as it arrives (a session without a TTY frames
/// its output; the websocket carries it raw, as dockerd's `MuxStreams: false`).
#[derive(Default)]
struct Demux {
    buf: Vec<u8>,
}

impl Demux {
    fn push(&mut self, data: &[u8]) -> Vec<u8> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            if self.buf.len() < 8 {
                break;
            }
            let len =
                u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
            if self.buf.len() < 8 + len {
                break;
            }
            out.extend_from_slice(&self.buf[8..8 + len]);
            self.buf.drain(..8 + len);
        }
        out
    }
}

/// Runs `session` over the upgraded connection once the 101 has gone out.
pub fn serve(on_upgrade: OnUpgrade, session: AttachSession, binary: bool) {
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::debug!(error = %e, "websocket client went away before the upgrade");
                return;
            }
        };
        let tty = session.tty;
        let (ours, theirs) = tokio::io::duplex(PIPE);
        let io: Box<dyn HijackedIo> = Box::new(theirs);
        let run = tokio::spawn(session.run(io));
        let (mut from_session, mut to_session) = tokio::io::split(ours);
        let (mut ws_in, ws_out) = tokio::io::split(upgraded);
        let ws_out = std::sync::Arc::new(tokio::sync::Mutex::new(ws_out));
        let opcode = if binary { OP_BINARY } else { OP_TEXT };
        let out = ws_out.clone();
        let output = tokio::spawn(async move {
            let mut demux = Demux::default();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = match from_session.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let data = if tty {
                    buf[..n].to_vec()
                } else {
                    demux.push(&buf[..n])
                };
                if data.is_empty() {
                    continue;
                }
                if out
                    .lock()
                    .await
                    .write_all(&frame(opcode, &data))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            let mut w = out.lock().await;
            let _ = w.write_all(&frame(OP_CLOSE, &[])).await;
            let _ = w.shutdown().await;
        });
        let input = tokio::spawn(async move {
            while let Some((op, payload)) = read_frame(&mut ws_in).await {
                match op {
                    OP_TEXT | OP_BINARY | OP_CONTINUATION
                        if to_session.write_all(&payload).await.is_err() =>
                    {
                        break
                    }
                    OP_PING => {
                        let _ = ws_out
                            .lock()
                            .await
                            .write_all(&frame(OP_PONG, &payload))
                            .await;
                    }
                    OP_CLOSE => break,
                    _ => {}
                }
            }
            let _ = to_session.shutdown().await;
        });
        let _ = output.await;
        input.abort();
        let _ = run.await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_is_rfc_6455s_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frames_and_demux() {
        assert_eq!(frame(OP_BINARY, b"hi"), vec![0x82, 2, b'h', b'i']);
        assert_eq!(frame(OP_BINARY, &[0; 200])[1], 126);
        let mut d = Demux::default();
        let mut mux = berth_api::stdcopy::frame(berth_api::stdcopy::STDOUT, b"out\n");
        mux.extend(berth_api::stdcopy::frame(
            berth_api::stdcopy::STDERR,
            b"err\n",
        ));
        assert_eq!(d.push(&mux[..5]), b"");
        assert_eq!(d.push(&mux[5..]), b"out\nerr\n");
    }
}
