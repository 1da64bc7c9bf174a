//! A request body read by blocking code (an import or load on a blocking thread).
//!
//! `SyncIoBridge` polls the body from the reading thread, so every chunk is a hand-off between
//! the connection task and that thread, each waiting for the other. Here a task drains the body
//! into a bounded queue instead: the connection keeps reading while the consumer works, and the
//! consumer only sleeps when it has caught up.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;

/// Chunks queued ahead of the reader (hyper's chunks are at most a few hundred KiB).
const QUEUE_CHUNKS: usize = 64;

/// The blocking end: `Read` over the queued chunks. An error in the body is returned by the
/// read that reaches it; dropping the reader stops the drain.
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

/// Starts draining `body` on the current runtime; read the result from a blocking thread.
pub fn body_reader(mut body: BoxStream<'static, io::Result<Bytes>>) -> BodyReader {
    let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
    tokio::spawn(async move {
        while let Some(chunk) = body.next().await {
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    BodyReader {
        rx,
        current: Bytes::new(),
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}
