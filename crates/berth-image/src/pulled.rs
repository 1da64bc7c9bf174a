//! Storing a pulled image as its downloads complete: each layer's uncompressed stream is
//! written to its blob and unpacked in the same pass, while other layers still download;
//! the config and the image's rows come last, in one transaction. Until then a lease keeps
//! garbage collection off what the pull wrote, and a pull that fails or is dropped removes it.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use berth_store::Lease;
use berth_types::{Digest, Reference};

use crate::config::{self, ImageConfig};
use crate::error::ImageError;
use crate::records::{self, ImageRow, LayerRow};
use crate::service::ImageService;

/// A layer of the pulled image, stored or found already present.
#[derive(Debug, Clone)]
pub struct PulledLayer {
    pub chain_id: Digest,
    pub diff_id: Digest,
    /// Bytes of unpacked content.
    pub size: i64,
}

/// One pull's writes. Dropping it before [`PullSession::commit`] removes what it wrote.
pub struct PullSession {
    svc: Arc<ImageService>,
    lease: Lease,
    written: Mutex<(Vec<Digest>, Vec<Digest>)>,
    committed: bool,
}

/// Hands a copy of what is read to the blob writer's thread as the unpacker consumes it, so
/// hashing and writing the blob run beside the unpack instead of in its way.
struct Tee<R> {
    inner: R,
    out: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            let sent = self.out.as_ref().map(|tx| tx.send(buf[..n].to_vec()));
            if !matches!(sent, Some(Ok(()))) {
                return Err(io::Error::other("the layer's blob writer stopped"));
            }
        }
        Ok(n)
    }
}

/// Writes what arrives on `rx` into `blob` until the sender is gone.
fn write_blob(
    mut blob: berth_store::BlobWriter,
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
) -> io::Result<berth_store::BlobWriter> {
    for chunk in rx {
        blob.write_all(&chunk)?;
    }
    Ok(blob)
}

impl ImageService {
    /// Starts storing a pulled image.
    pub fn begin_pull(self: &Arc<Self>) -> Result<PullSession, ImageError> {
        Ok(PullSession {
            lease: self.leases.acquire("pull")?,
            svc: self.clone(),
            written: Mutex::new((Vec::new(), Vec::new())),
            committed: false,
        })
    }
}

impl PullSession {
    fn note(&self, blob: Option<&Digest>, layer: Option<&Digest>) {
        if let Ok(mut w) = self.written.lock() {
            w.0.extend(blob.cloned());
            w.1.extend(layer.cloned());
        }
    }

    /// The layer when it is stored whole already (its row, blob and directory): a pull does
    /// not download it again. It is protected from garbage collection from here on.
    pub fn existing(
        &self,
        chain_id: &Digest,
        diff_id: &Digest,
    ) -> Result<Option<PulledLayer>, ImageError> {
        // Protected before the existence check (see berth_store::lease).
        self.lease.protect_layer(chain_id)?;
        self.lease.protect_blob(diff_id)?;
        Ok(self.svc.existing_layer(chain_id)?.map(|row| PulledLayer {
            chain_id: chain_id.clone(),
            diff_id: diff_id.clone(),
            size: row.size,
        }))
    }

    /// Stores layer `chain_id` from its uncompressed tar stream: the bytes go to the blob
    /// `diff_id` and into the unpacked layer in one pass. The stream is read to its end (a
    /// reader that fails at the end, for a digest mismatch, fails the layer), and the blob
    /// must hash to `diff_id`.
    pub fn store_layer(
        &self,
        chain_id: &Digest,
        diff_id: &Digest,
        reader: impl Read,
    ) -> Result<PulledLayer, ImageError> {
        self.lease.protect_layer(chain_id)?;
        let blob = self.svc.content.writer()?;
        // Reads are up to 1 MiB: a few in flight keep both threads busy.
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        let (unpacked, drained, written) = std::thread::scope(|scope| {
            let writer = scope.spawn(move || write_blob(blob, rx));
            let mut tee = Tee {
                inner: reader,
                out: Some(tx),
            };
            // Big reads through the tee, whatever sizes the unpacker asks for: what the
            // buffer holds unconsumed at the end has passed the tee already.
            let unpacked = self
                .svc
                .snapshots
                .unpack_layer(chain_id, io::BufReader::with_capacity(1 << 20, &mut tee));
            // The tar's end-of-archive blocks and whatever follows (the compressed stream's
            // trailer, the download's verdict) still have to pass.
            let drained = io::copy(&mut tee, &mut io::sink());
            tee.out = None;
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the blob writer panicked")));
            (unpacked, drained, written)
        });
        if let Ok(Some(_)) = &unpacked {
            self.note(None, Some(chain_id));
        }
        let unpacked = unpacked?;
        drained.map_err(ImageError::Input)?;
        let blob = written.map_err(ImageError::Input)?;
        self.note(Some(diff_id), None);
        match blob.commit_leased(Some(diff_id), &self.lease) {
            Ok(_) => {}
            Err(berth_store::ContentError::DigestMismatch { actual, .. }) => {
                return Err(ImageError::Invalid(format!(
                    "layer {chain_id}: the downloaded layer hashes to {actual}, its image config says {diff_id}"
                )))
            }
            Err(e) => return Err(e.into()),
        }
        let size = match unpacked {
            Some(stats) => stats.size as i64,
            None => berth_snapshot::dir_size(&self.svc.snapshots.layer_diff(chain_id)).unwrap_or(0)
                as i64,
        };
        Ok(PulledLayer {
            chain_id: chain_id.clone(),
            diff_id: diff_id.clone(),
            size,
        })
    }

    /// Stores the config and records the image with its layers (lowest first) and `refs`
    /// (`(reference, is_digest)`) in one transaction. Returns the image id.
    pub fn commit(
        mut self,
        config_bytes: &[u8],
        layers: &[PulledLayer],
        refs: &[(Reference, bool)],
    ) -> Result<String, ImageError> {
        let id = Digest::of(config_bytes);
        let config: ImageConfig =
            serde_json::from_slice(config_bytes).map_err(|e| ImageError::BadConfig {
                digest: id.to_string(),
                message: e.to_string(),
            })?;
        let chain_ids = config::chain_ids(&config.rootfs.diff_ids);
        let matches = chain_ids.len() == layers.len()
            && chain_ids.iter().zip(layers).all(|(c, l)| c == &l.chain_id);
        if !matches {
            return Err(ImageError::Invalid(format!(
                "image config {id} names {} layers, the manifest {}",
                chain_ids.len(),
                layers.len()
            )));
        }
        self.svc
            .content
            .write_bytes_leased(config_bytes, Some(&id), &self.lease)?;
        self.note(Some(&id), None);
        let now = config::now_rfc3339();
        let _guard = self.svc.lock()?;
        self.svc.db.transaction(|tx| -> Result<(), ImageError> {
            for l in layers {
                records::insert_layer(
                    tx,
                    &LayerRow {
                        chain_id: l.chain_id.to_string(),
                        diff_id: l.diff_id.to_string(),
                        size: l.size,
                        blob: Some(l.diff_id.to_string()),
                    },
                )?;
            }
            let row = ImageRow {
                id: id.to_string(),
                parent: None,
                created: config.created.clone(),
                size: layers.iter().map(|l| l.size).sum(),
                last_tag_time: None,
            };
            let chains: Vec<String> = chain_ids.iter().map(Digest::to_string).collect();
            records::insert_image(tx, &self.svc.ns, &row, &chains, &now)?;
            for (r, is_digest) in refs {
                records::set_ref(
                    tx,
                    &self.svc.ns,
                    &r.to_string(),
                    &id.to_string(),
                    *is_digest,
                    &now,
                )?;
            }
            Ok(())
        })?;
        self.committed = true;
        Ok(id.to_string())
    }
}

impl Drop for PullSession {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let (blobs, layers) = match self.written.lock() {
            Ok(mut w) => (std::mem::take(&mut w.0), std::mem::take(&mut w.1)),
            Err(_) => return,
        };
        if blobs.is_empty() && layers.is_empty() {
            return;
        }
        match self.svc.lock() {
            // The lease still protects them: collect with it dropped first.
            Ok(_guard) => {
                let svc = self.svc.clone();
                let lease = std::mem::replace(
                    &mut self.lease,
                    match svc.leases.acquire("pull cleanup") {
                        Ok(l) => l,
                        Err(_) => return,
                    },
                );
                drop(lease);
                svc.discard_unreferenced(&blobs, &layers);
            }
            Err(_) => tracing::warn!("image store lock poisoned: pulled content left for GC"),
        }
    }
}
