//! Request bodies (JSON, empty, streamed) and readers over streaming response bodies.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use http_body_util::{combinators::BoxBody, BodyDataStream, BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, ReadBuf};
use tokio_util::io::{ReaderStream, StreamReader};

use crate::error::{ClientError, Result};

/// The body of every request the client sends.
pub type RequestBody = BoxBody<Bytes, io::Error>;

pub fn empty() -> RequestBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

pub fn full(data: impl Into<Bytes>) -> RequestBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A body streamed from a reader (e.g. stdin for `import`), sent chunked.
pub fn from_reader<R: AsyncRead + Send + Sync + 'static>(reader: R) -> RequestBody {
    let frames = ReaderStream::new(reader).map_ok(Frame::data);
    BodyExt::boxed(StreamBody::new(frames))
}

type DataStream = futures::stream::MapErr<BodyDataStream<Incoming>, fn(hyper::Error) -> io::Error>;

fn to_io(e: hyper::Error) -> io::Error {
    io::Error::other(e)
}

/// A streaming response body read as bytes (logs, export, wait...).
pub struct BodyReader {
    inner: StreamReader<DataStream, Bytes>,
}

impl BodyReader {
    pub fn new(body: Incoming) -> Self {
        let stream: DataStream =
            BodyDataStream::new(body).map_err(to_io as fn(hyper::Error) -> io::Error);
        Self {
            inner: StreamReader::new(stream),
        }
    }
}

impl AsyncRead for BodyReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// Newline-delimited JSON values from a streaming body (events, pull/import progress).
pub struct JsonLines<T> {
    reader: BufReader<BodyReader>,
    line: String,
    _marker: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> JsonLines<T> {
    pub fn new(body: Incoming) -> Self {
        Self {
            reader: BufReader::new(BodyReader::new(body)),
            line: String::new(),
            _marker: std::marker::PhantomData,
        }
    }

    /// The next value, or `None` when the stream ends.
    pub async fn next(&mut self) -> Option<Result<T>> {
        loop {
            self.line.clear();
            match self.reader.read_line(&mut self.line).await {
                Ok(0) => return None,
                Ok(_) => {
                    let text = self.line.trim();
                    if text.is_empty() {
                        continue;
                    }
                    return Some(serde_json::from_str(text).map_err(ClientError::from));
                }
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    /// The values as a `Stream`.
    pub fn into_stream(self) -> impl Stream<Item = Result<T>> {
        futures::stream::unfold(self, |mut lines| async move {
            lines.next().await.map(|item| (item, lines))
        })
    }
}

/// Reads a whole (small) response body.
pub async fn collect(body: Incoming) -> Result<Bytes> {
    Ok(body.collect().await?.to_bytes())
}

/// Drains a streaming body into a `Vec` (used by tests and small answers).
pub async fn collect_stream(mut s: impl Stream<Item = Result<Bytes>> + Unpin) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}
