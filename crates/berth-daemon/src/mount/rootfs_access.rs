//! The daemon's own access to a container's root filesystem (export, cp, commit).
//!
//! A running container's rootfs is already mounted; otherwise the snapshot is mounted for the
//! call and unmounted after it, with the container's op lock held meanwhile so that it cannot be
//! started (which mounts the same snapshot) or removed underneath. The work itself runs on the
//! blocking pool; archives stream out through a bounded channel.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_image::ImageService;
use berth_types::{Error, Result};
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::daemon::{Ctr, Daemon};

/// Chunk size of streamed archives.
const CHUNK: usize = 64 * 1024;

/// A `Write` that sends what it is given to an HTTP body, in chunks; fails with `BrokenPipe`
/// once the client has gone away.
pub(crate) struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn new(tx: mpsc::Sender<io::Result<Bytes>>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send_buf(&mut self) -> io::Result<()> {
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
            self.send_buf()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buf()
    }
}

/// Runs `f` on the blocking pool with the container's rootfs available at the path it is
/// given (see the module docs for the locking).
pub(crate) fn spawn_with_rootfs<T, F>(
    svc: Arc<ImageService>,
    merged: PathBuf,
    ctr: Arc<Ctr>,
    f: F,
) -> JoinHandle<Result<T>>
where
    T: Send + 'static,
    F: FnOnce(&Path) -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let guard = ctr.op.blocking_lock();
        let c = ctr.snapshot();
        if c.state.running() && berth_snapshot::mount::is_mountpoint(&merged) {
            // The container keeps its own mount; it may stop meanwhile, which detaches the
            // mount lazily while our descriptors still use it.
            drop(guard);
            return f(&merged);
        }
        std::fs::create_dir_all(&merged)
            .map_err(|e| Error::internal(format!("creating {}: {e}", merged.display())))?;
        svc.snapshot_mount(&ctr.id, &merged)?;
        let result = f(&merged);
        if let Err(e) = svc.snapshot_unmount(&merged) {
            tracing::warn!(container = %ctr.id, error = %e, "unmounting rootfs after use");
        }
        drop(guard);
        result
    })
}

async fn joined<T>(handle: JoinHandle<Result<T>>) -> Result<T> {
    handle
        .await
        .map_err(|e| Error::internal(format!("container filesystem task: {e}")))?
}

impl Daemon {
    /// Runs `f` with the container's rootfs mounted and waits for it.
    pub(crate) async fn with_rootfs<T, F>(&self, ctr: Arc<Ctr>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Path) -> Result<T> + Send + 'static,
    {
        let merged = self.images.rootfs_dir(&ctr.id);
        joined(spawn_with_rootfs(self.images.service(), merged, ctr, f)).await
    }

    /// Streams what `write` produces from the container's rootfs. `prepare` runs first (with
    /// the rootfs mounted) and decides the response head, or the error the request fails with;
    /// only then does the body start.
    pub(crate) async fn rootfs_stream<H, P, W>(
        &self,
        ctr: Arc<Ctr>,
        prepare: P,
    ) -> Result<(H, BoxStream<'static, io::Result<Bytes>>)>
    where
        H: Send + 'static,
        P: FnOnce(&Path) -> Result<(H, W)> + Send + 'static,
        W: FnOnce(&mut dyn Write) -> io::Result<()>,
    {
        let (head_tx, head_rx) = oneshot::channel::<Result<H>>();
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(8);
        let merged = self.images.rootfs_dir(&ctr.id);
        let handle = spawn_with_rootfs(self.images.service(), merged, ctr, move |rootfs| {
            let (head, write) = match prepare(rootfs) {
                Ok(v) => v,
                Err(e) => {
                    let _ = head_tx.send(Err(e));
                    return Ok(());
                }
            };
            if head_tx.send(Ok(head)).is_err() {
                return Ok(());
            }
            let mut w = ChannelWriter::new(tx.clone());
            if let Err(e) = write(&mut w).and_then(|()| w.flush()) {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    tracing::warn!(error = %e, "streaming a container archive");
                    // An error item makes the body end abnormally, so the client notices.
                    let _ = tx.blocking_send(Err(e));
                }
            }
            Ok(())
        });
        let head = match head_rx.await {
            Ok(head) => head?,
            // The task ended before `prepare` decided: mounting failed.
            Err(_) => {
                joined(handle).await?;
                return Err(Error::internal("container filesystem task ended early"));
            }
        };
        let body = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed();
        Ok((head, body))
    }
}
