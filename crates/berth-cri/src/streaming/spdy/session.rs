//! The server side of a SPDY/3.1 connection: the client opens the streams (SYN_STREAM, odd
//! ids), the server replies to each at once and then reads and writes them. One task reads the
//! connection, one writes it; a stream's data arrives on a channel that ends at the client's
//! FIN or RST_STREAM.

use std::collections::HashMap;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::frame::{Decoder, Encoder, Frame, Headers, FLAG_FIN, GOAWAY_OK, RST_CANCEL};

/// Data frames written are at most this long (spdystream's own limit).
const MAX_DATA: usize = 32 * 1024;

enum Out {
    Frame(Frame),
    /// Write GOAWAY and end the connection.
    Close,
}

/// A stream the client opened.
pub(crate) struct Stream {
    pub headers: Headers,
    /// The client's data; ends at its FIN, its RST_STREAM or the end of the connection.
    pub data: mpsc::Receiver<Vec<u8>>,
    pub out: StreamOut,
}

/// Writes to one stream.
#[derive(Clone)]
pub(crate) struct StreamOut {
    id: u32,
    tx: mpsc::Sender<Out>,
}

impl StreamOut {
    /// False once the connection is gone.
    pub(crate) async fn send(&self, data: &[u8]) -> bool {
        for chunk in data.chunks(MAX_DATA) {
            let frame = Frame::Data {
                stream_id: self.id,
                flags: 0,
                data: chunk.to_vec(),
            };
            if self.tx.send(Out::Frame(frame)).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Ends the server's half of the stream (an empty data frame with FIN).
    pub(crate) async fn finish(&self) {
        let frame = Frame::Data {
            stream_id: self.id,
            flags: FLAG_FIN,
            data: Vec::new(),
        };
        let _ = self.tx.send(Out::Frame(frame)).await;
    }

    /// Resolves when the connection can no longer be written.
    pub(crate) async fn closed(&self) {
        self.tx.closed().await
    }

    pub(crate) async fn reset(&self) {
        let frame = Frame::RstStream {
            stream_id: self.id,
            status: RST_CANCEL,
        };
        let _ = self.tx.send(Out::Frame(frame)).await;
    }
}

pub(crate) struct Session {
    /// Streams as the client opens them; ends with the connection.
    pub streams: mpsc::Receiver<Stream>,
    tx: mpsc::Sender<Out>,
    reader: JoinHandle<()>,
    writer: Option<JoinHandle<()>>,
}

impl Session {
    pub(crate) fn start<IO>(io: IO) -> Result<Self, super::frame::SpdyError>
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut rd, mut wr) = tokio::io::split(io);
        let (tx, mut rx) = mpsc::channel::<Out>(256);
        let mut encoder = Encoder::new()?;
        let writer = tokio::spawn(async move {
            let mut last_stream = 0u32;
            while let Some(out) = rx.recv().await {
                let (frame, close) = match out {
                    Out::Frame(f) => (f, false),
                    Out::Close => (
                        Frame::GoAway {
                            last_good: last_stream,
                            status: GOAWAY_OK,
                        },
                        true,
                    ),
                };
                if let Frame::SynReply { stream_id, .. } = &frame {
                    last_stream = last_stream.max(*stream_id);
                }
                let bytes = match encoder.encode(&frame) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::debug!(error = %e, "SPDY: encoding");
                        break;
                    }
                };
                if wr.write_all(&bytes).await.is_err() {
                    break;
                }
                if close {
                    break;
                }
            }
            let _ = wr.flush().await;
            let _ = wr.shutdown().await;
        });
        let (streams_tx, streams) = mpsc::channel::<Stream>(16);
        let reply_tx = tx.clone();
        let reader = tokio::spawn(async move {
            let mut decoder = Decoder::new();
            let mut open: HashMap<u32, mpsc::Sender<Vec<u8>>> = HashMap::new();
            loop {
                let frame = match decoder.read(&mut rd).await {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "SPDY: reading");
                        break;
                    }
                };
                match frame {
                    Frame::SynStream {
                        stream_id,
                        flags,
                        headers,
                        ..
                    } => {
                        let (data_tx, data) = mpsc::channel(64);
                        if flags & FLAG_FIN == 0 {
                            open.insert(stream_id, data_tx);
                        }
                        let reply = Frame::SynReply {
                            stream_id,
                            flags: 0,
                            headers: Vec::new(),
                        };
                        if reply_tx.send(Out::Frame(reply)).await.is_err() {
                            break;
                        }
                        let stream = Stream {
                            headers,
                            data,
                            out: StreamOut {
                                id: stream_id,
                                tx: reply_tx.clone(),
                            },
                        };
                        if streams_tx.send(stream).await.is_err() {
                            break;
                        }
                    }
                    Frame::Data {
                        stream_id,
                        flags,
                        data,
                    } => {
                        if !data.is_empty() {
                            if let Some(t) = open.get(&stream_id) {
                                if t.send(data).await.is_err() {
                                    open.remove(&stream_id);
                                }
                            }
                        }
                        if flags & FLAG_FIN != 0 {
                            open.remove(&stream_id);
                        }
                    }
                    Frame::Headers {
                        stream_id, flags, ..
                    } => {
                        if flags & FLAG_FIN != 0 {
                            open.remove(&stream_id);
                        }
                    }
                    Frame::RstStream { stream_id, .. } => {
                        open.remove(&stream_id);
                    }
                    // The client's pings have odd ids; answer them.
                    Frame::Ping { id } => {
                        if id % 2 == 1
                            && reply_tx.send(Out::Frame(Frame::Ping { id })).await.is_err()
                        {
                            break;
                        }
                    }
                    Frame::GoAway { .. } => break,
                    Frame::SynReply { .. }
                    | Frame::Settings
                    | Frame::WindowUpdate { .. }
                    | Frame::Unknown => {}
                }
            }
        });
        Ok(Self {
            streams,
            tx,
            reader,
            writer: Some(writer),
        })
    }

    /// Sends GOAWAY after everything written so far, and ends the connection.
    pub(crate) async fn close(mut self) {
        let _ = self.tx.send(Out::Close).await;
        if let Some(w) = self.writer.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), w).await;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(w) = &self.writer {
            w.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streaming::spdy::frame::header;

    /// A client opening two streams, writing to one and reading the server's answer.
    #[tokio::test]
    async fn accepts_streams_and_replies() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut session = Session::start(server).expect("session");
        let (mut crd, mut cwr) = tokio::io::split(client);
        let mut enc = Encoder::new().expect("encoder");
        for (id, kind) in [(1u32, "error"), (3, "stdin")] {
            let f = Frame::SynStream {
                stream_id: id,
                associated: 0,
                priority: 0,
                flags: 0,
                headers: vec![("streamType".into(), kind.into())],
            };
            cwr.write_all(&enc.encode(&f).expect("enc"))
                .await
                .expect("write");
        }
        let data = Frame::Data {
            stream_id: 3,
            flags: FLAG_FIN,
            data: b"input".to_vec(),
        };
        cwr.write_all(&enc.encode(&data).expect("enc"))
            .await
            .expect("write");
        let error = session.streams.recv().await.expect("stream 1");
        assert_eq!(header(&error.headers, "streamtype"), Some("error"));
        let mut stdin = session.streams.recv().await.expect("stream 3");
        assert_eq!(stdin.data.recv().await.as_deref(), Some(&b"input"[..]));
        assert_eq!(stdin.data.recv().await, None, "FIN ends the data");
        assert!(error.out.send(b"status").await);
        error.out.finish().await;
        session.close().await;
        let mut dec = Decoder::new();
        let mut got = Vec::new();
        while let Some(f) = dec.read(&mut crd).await.expect("read") {
            got.push(f);
        }
        assert_eq!(
            got,
            vec![
                Frame::SynReply {
                    stream_id: 1,
                    flags: 0,
                    headers: vec![]
                },
                Frame::SynReply {
                    stream_id: 3,
                    flags: 0,
                    headers: vec![]
                },
                Frame::Data {
                    stream_id: 1,
                    flags: 0,
                    data: b"status".to_vec()
                },
                Frame::Data {
                    stream_id: 1,
                    flags: FLAG_FIN,
                    data: vec![]
                },
                Frame::GoAway {
                    last_good: 3,
                    status: GOAWAY_OK
                },
            ]
        );
    }
}
