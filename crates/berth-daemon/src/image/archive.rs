//! `docker save` / `docker load` over the image service: the archive is streamed both ways
//! (a blocking writer feeding a channel for save, a sync bridge over the request body for
//! load), and image events `save`/`load` are emitted as dockerd does (actor and name = id).

use std::collections::HashMap;
use std::io::{self, Write};

use berth_image::LoadLimits;
use berth_types::{Error, Result};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::daemon::Daemon;
use crate::system::events::Kind;

/// Bytes buffered before a chunk is handed to the HTTP body.
const CHUNK: usize = 256 << 10;
/// Chunks in flight between the writer thread and the response.
const CHUNKS_IN_FLIGHT: usize = 8;

/// A blocking `Write` whose bytes become a stream of chunks (the save response body).
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

fn id_attrs(id: &str) -> HashMap<String, String> {
    HashMap::from([("name".to_string(), id.to_string())])
}

impl Daemon {
    /// `GET /images/get`: resolves every name first (a bad one fails the request), then
    /// streams the archive. A failure mid-stream ends the body with an error.
    pub async fn image_save(
        &self,
        names: Vec<String>,
    ) -> Result<BoxStream<'static, io::Result<Bytes>>> {
        let svc = self.images.service.clone();
        let plan = {
            let svc = svc.clone();
            tokio::task::spawn_blocking(move || svc.save_plan(&names))
                .await
                .map_err(|e| Error::internal(format!("save task: {e}")))??
        };
        for id in plan.ids() {
            self.events.emit(Kind::Image, "save", &id, id_attrs(&id));
        }
        let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        tokio::task::spawn_blocking(move || {
            let mut writer = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            if let Err(e) = svc.save(&plan, &mut writer).map_err(Error::from) {
                tracing::warn!(error = %e.message, "image save failed");
                let _ = tx.blocking_send(Err(io::Error::other(e.message)));
            }
        });
        Ok(tokio_stream_from(rx))
    }

    /// `POST /images/load`: the request body is the archive. Returns dockerd's output lines.
    pub async fn image_load(
        &self,
        body: BoxStream<'static, io::Result<Bytes>>,
    ) -> Result<Vec<String>> {
        let reader = crate::image::body_pipe::body_reader(body);
        let svc = self.images.service.clone();
        let report =
            tokio::task::spawn_blocking(move || svc.load_archive(reader, LoadLimits::default()))
                .await
                .map_err(|e| Error::internal(format!("load task: {e}")))??;
        for id in &report.ids {
            self.events.emit(Kind::Image, "load", id, id_attrs(id));
        }
        Ok(report.messages)
    }
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<io::Result<Bytes>>,
) -> BoxStream<'static, io::Result<Bytes>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}
