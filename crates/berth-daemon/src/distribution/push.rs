//! `POST /images/{name}/push`, with dockerd's JSON progress stream. Per layer, what is known
//! of its compressed blobs (`blob_sources`, recorded by earlier pulls and pushes) is tried
//! first: a HEAD hit is `Layer already exists`, a blob in another repository of the same
//! registry is mounted (`Mounted from <repo>`), all without compressing anything. Otherwise
//! the layer's tar is compressed (gzip, or zstd on request) on a blocking thread while the
//! compressed bytes stream to the registry: one monolithic PUT when the blob is small,
//! `PATCH` chunks when it is big. Gzip layers go in a Docker schema2 manifest, zstd layers in
//! an OCI one (schema2 has no zstd type). An empty tag pushes every local tag of the
//! repository (`push -a`).

use std::io::{Read, Write};
use std::sync::Arc;

use berth_distribution::media::{self, Descriptor, Document};
use berth_distribution::{Mount, RegistryClient};
use berth_image::BlobSource;
use berth_types::{Digest, Error, Reference, Result};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;
use sha2::Digest as _;
use tokio::sync::mpsc;

use crate::daemon::Daemon;
use crate::distribution::shared::{registry_host, short_digest, status, Credentials, Progress};

/// Layers uploaded at the same time (dockerd's default is 5).
const MAX_CONCURRENT_UPLOADS: usize = 5;
/// A compressed blob up to this size goes in one request; a bigger one in `PATCH` chunks of
/// this size.
const CHUNK: usize = 16 << 20;

/// The compression a push applies to layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayerCompression {
    #[default]
    Gzip,
    Zstd,
}

impl LayerCompression {
    /// `gzip` or `zstd` (the API's `compression=` and `berth push --compression`).
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "" | "gzip" => Ok(Self::Gzip),
            "zstd" => Ok(Self::Zstd),
            other => Err(Error::invalid(format!(
                "unsupported compression {other:?}: use gzip or zstd"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }
}

/// What `push` asks besides the name.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// How layers are compressed; gzip when absent.
    pub compression: Option<LayerCompression>,
}

/// What the compressing thread hands to the uploader.
enum Piece {
    Data(Bytes),
    Done,
}

/// Collects compressed output into [`CHUNK`]-sized pieces for the uploader (which hashes
/// them, beside the compression).
struct ChunkSink {
    tx: mpsc::Sender<std::io::Result<Piece>>,
    buf: Vec<u8>,
}

impl ChunkSink {
    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(Piece::Data(Bytes::from(data))))
            .map_err(|_| std::io::Error::other("the upload stopped"))
    }
}

impl Write for ChunkSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            let n = (CHUNK - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if self.buf.len() == CHUNK {
                self.flush_chunk()?;
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compresses `tar` into `sink`, deterministically (the same layer always gives the same blob).
fn compress(
    mut tar: impl Read,
    algorithm: LayerCompression,
    sink: &mut ChunkSink,
) -> std::io::Result<()> {
    match algorithm {
        LayerCompression::Gzip => crate::distribution::layer_gzip::compress(tar, sink)?,
        LayerCompression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(sink, 3)?;
            std::io::copy(&mut tar, &mut enc)?;
            enc.finish()?;
        }
    }
    Ok(())
}

fn join_err(e: tokio::task::JoinError) -> Error {
    Error::internal(format!("push task: {e}"))
}

/// One layer to push.
struct LayerJob {
    chain_id: Digest,
    diff_id: Digest,
}

impl Daemon {
    /// Pushes `name:tag` (every local tag of the repository when `tag` is empty and the name
    /// has none).
    pub async fn image_push(
        self: &Arc<Self>,
        name: &str,
        tag: &str,
        creds: Credentials,
        opts: PushOptions,
    ) -> Result<mpsc::Receiver<Progress>> {
        // dockerd's `PushImage`: the name, then `tag` in place of its tag.
        let mut name_only = Reference::parse_name_only(name)?;
        if !tag.is_empty() {
            name_only = name_only.with_tag(tag)?;
        }
        let svc = self.images.service();
        let compression = opts.compression.unwrap_or_default();
        // The reference was checked above (a 400 before the stream); with a tag or digest it
        // is the one target, without either every local tag is.
        let exact =
            (name_only.tag.is_some() || name_only.digest.is_some()).then(|| name_only.clone());
        let (tx, rx) = mpsc::channel(256);
        let me = self.clone();
        tokio::spawn(async move {
            let _ = tx
                .send(status(
                    "",
                    &format!("The push refers to repository [{}]", name_only.name()),
                ))
                .await;
            // dockerd looks the tags up after announcing the repository: a missing image is an
            // error inside the (200) stream.
            let resolved: Result<Vec<(Reference, _)>> = async {
                let targets: Vec<Reference> = if let Some(r) = exact {
                    vec![r]
                } else {
                    let repo = name_only.name();
                    let tags = {
                        let (svc, repo) = (svc.clone(), repo.clone());
                        tokio::task::spawn_blocking(move || svc.repository_tags(&repo))
                            .await
                            .map_err(join_err)??
                    };
                    if tags.is_empty() {
                        return Err(Error::not_found(format!(
                            "An image does not exist locally with the tag: {}",
                            name_only.familiar_name()
                        )));
                    }
                    tags.into_iter()
                        .map(|t| {
                            let mut r = name_only.clone();
                            r.tag = Some(t);
                            r
                        })
                        .collect()
                };
                let mut images = Vec::new();
                for r in &targets {
                    let (svc, n) = (svc.clone(), r.to_string());
                    let image = tokio::task::spawn_blocking(move || svc.resolve(&n))
                        .await
                        .map_err(join_err)?
                        .map_err(|_| {
                            Error::not_found(format!(
                                "An image does not exist locally with the tag: {}",
                                r.familiar_name()
                            ))
                        })?;
                    images.push((r.clone(), image));
                }
                Ok(images)
            }
            .await;
            let images = match resolved {
                Ok(images) => images,
                Err(e) => {
                    let _ = tx
                        .send(
                            json!({ "errorDetail": { "message": e.message }, "error": e.message }),
                        )
                        .await;
                    return;
                }
            };
            // Pushes never go to a mirror; an insecure registry may answer over HTTP.
            let ping = |c: Arc<RegistryClient>| async move { c.ping().await };
            let client = match me
                .first_endpoint(&name_only.domain, &name_only.path, &creds, true, ping)
                .await
            {
                Ok((client, ())) => client,
                Err(e) => {
                    let e: Error = e.into();
                    let _ = tx
                        .send(
                            json!({ "errorDetail": { "message": e.message }, "error": e.message }),
                        )
                        .await;
                    return;
                }
            };
            for (r, image) in images {
                if let Err(e) = me.push_image(&client, &r, image, compression, &tx).await {
                    let _ = tx
                        .send(
                            json!({ "errorDetail": { "message": e.message }, "error": e.message }),
                        )
                        .await;
                    return;
                }
            }
        });
        Ok(rx)
    }

    async fn push_image(
        &self,
        client: &Arc<RegistryClient>,
        reference: &Reference,
        image: berth_image::Image,
        compression: LayerCompression,
        tx: &mpsc::Sender<Progress>,
    ) -> Result<()> {
        client.ping().await.map_err(Error::from)?;
        let diff_ids = image.raw.rootfs.diff_ids.clone();
        if diff_ids.len() != image.chain_ids.len() {
            return Err(Error::internal(format!(
                "image {} has {} layers and {} diff ids",
                image.id,
                image.chain_ids.len(),
                diff_ids.len()
            )));
        }
        for c in image.chain_ids.iter().rev() {
            let _ = tx
                .send(status(&short_digest(&c.to_string()), "Preparing"))
                .await;
        }
        let jobs: Vec<LayerJob> = image
            .chain_ids
            .iter()
            .zip(&diff_ids)
            .map(|(c, d)| LayerJob {
                chain_id: c.clone(),
                diff_id: d.clone(),
            })
            .collect();
        let mut results: Vec<(usize, Result<Descriptor>)> =
            futures::stream::iter(jobs.into_iter().enumerate().map(|(i, job)| async move {
                (
                    i,
                    self.push_layer(client, reference, job, compression, tx)
                        .await,
                )
            }))
            .buffer_unordered(MAX_CONCURRENT_UPLOADS)
            .collect()
            .await;
        results.sort_by_key(|(i, _)| *i);
        let mut layers = Vec::with_capacity(results.len());
        for (_, r) in results {
            layers.push(r?);
        }

        let svc = self.images.service();
        let config = {
            let (svc, id) = (svc.clone(), image.id.clone());
            tokio::task::spawn_blocking(move || -> Result<Vec<u8>> {
                let digest: Digest = id.parse()?;
                svc.content()
                    .read_bytes(&digest)
                    .map_err(|e| Error::internal(e.to_string()))
            })
            .await
            .map_err(join_err)??
        };
        if !client.blob_exists(&image.id).await.map_err(Error::from)? {
            client
                .upload_blob(&image.id, Bytes::from(config.clone()))
                .await
                .map_err(Error::from)?;
        }
        let (manifest_type, config_type) = match compression {
            LayerCompression::Gzip => (media::DOCKER_MANIFEST, media::DOCKER_CONFIG),
            LayerCompression::Zstd => (media::OCI_MANIFEST, media::OCI_CONFIG),
        };
        let manifest = Document {
            schema_version: 2,
            media_type: manifest_type.to_string(),
            config: Some(Descriptor {
                media_type: config_type.to_string(),
                digest: image.id.clone(),
                size: config.len() as u64,
                platform: None,
            }),
            layers,
            manifests: Vec::new(),
        };
        let bytes =
            serde_json::to_vec_pretty(&manifest).map_err(|e| Error::internal(e.to_string()))?;
        let size = bytes.len();
        let tag = reference
            .tag
            .clone()
            .unwrap_or_else(|| "latest".to_string());
        let digest = client
            .put_manifest(&tag, manifest_type, Bytes::from(bytes))
            .await
            .map_err(Error::from)?;
        self.record_digest(&image.id, reference, &digest).await?;
        let _ = tx
            .send(status("", &format!("{tag}: digest: {digest} size: {size}")))
            .await;
        let _ = tx
            .send(json!({ "progressDetail": {}, "aux": { "Tag": tag, "Digest": digest, "Size": size } }))
            .await;
        Ok(())
    }

    /// Makes the registry hold layer `job` (known blob, mount, or upload); its descriptor.
    async fn push_layer(
        &self,
        client: &Arc<RegistryClient>,
        reference: &Reference,
        job: LayerJob,
        compression: LayerCompression,
        tx: &mpsc::Sender<Progress>,
    ) -> Result<Descriptor> {
        let id = short_digest(&job.chain_id.to_string());
        let media_type = match compression {
            LayerCompression::Gzip => media::DOCKER_LAYER_GZIP,
            LayerCompression::Zstd => media::OCI_LAYER_ZSTD,
        };
        let svc = self.images.service();
        let registry = registry_host(&reference.domain);
        let known = {
            let (svc, d) = (svc.clone(), job.diff_id.to_string());
            tokio::task::spawn_blocking(move || svc.blob_sources(&d, compression.name()))
                .await
                .map_err(join_err)??
        };
        let descriptor = |digest: &str, size: u64| Descriptor {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            platform: None,
        };
        let mut session = None;
        // Known digests, most recent first: one HEAD each, then a mount from a repository of
        // this registry that had it.
        let mut checked = std::collections::HashSet::new();
        for k in &known {
            if checked.insert(k.digest.clone())
                && client.blob_exists(&k.digest).await.map_err(Error::from)?
            {
                let _ = tx.send(status(&id, "Layer already exists")).await;
                self.remember(&job, k, &registry, reference).await;
                return Ok(descriptor(&k.digest, k.size));
            }
        }
        // The most recent other repository of this registry that had the blob; a refusal
        // opens the session the upload then uses.
        if let Some(k) = known
            .iter()
            .find(|k| k.registry == registry && k.repository != reference.path)
        {
            match client
                .mount_blob(&k.digest, &k.repository)
                .await
                .map_err(Error::from)?
            {
                Mount::Mounted => {
                    let _ = tx
                        .send(status(&id, &format!("Mounted from {}", k.repository)))
                        .await;
                    self.remember(&job, k, &registry, reference).await;
                    return Ok(descriptor(&k.digest, k.size));
                }
                Mount::Session(loc) => session = Some(loc),
            }
        }

        let _ = tx.send(status(&id, "Pushing")).await;
        let (pieces_tx, mut pieces) = mpsc::channel::<std::io::Result<Piece>>(2);
        let compressing = {
            let (svc, chain) = (svc.clone(), job.chain_id.clone());
            tokio::task::spawn_blocking(move || {
                let mut sink = ChunkSink {
                    tx: pieces_tx,
                    buf: Vec::with_capacity(CHUNK),
                };
                let outcome = svc
                    .layer_tar(&chain)
                    .map_err(|e| std::io::Error::other(e.to_string()))
                    .and_then(|tar| {
                        compress(
                            std::io::BufReader::with_capacity(1 << 20, tar),
                            compression,
                            &mut sink,
                        )
                    });
                let tx = sink.tx.clone();
                let last = outcome
                    .and_then(|()| sink.flush_chunk())
                    .map(|()| Piece::Done);
                let _ = tx.blocking_send(last);
            })
        };
        let uploaded = self
            .upload_pieces(client, &mut pieces, session, &id, tx)
            .await;
        drop(pieces);
        let _ = compressing.await;
        let (digest, size) = uploaded?;
        let _ = tx.send(status(&id, "Pushed")).await;
        let source = BlobSource {
            digest: digest.clone(),
            size,
            diff_id: job.diff_id.to_string(),
            compression: compression.name().to_string(),
            registry: registry.clone(),
            repository: reference.path.clone(),
        };
        self.remember(&job, &source, &registry, reference).await;
        Ok(descriptor(&digest, size))
    }

    /// Sends the compressed pieces: one request for a blob of a single piece, else a session
    /// with a `PATCH` per piece and a closing `PUT`.
    async fn upload_pieces(
        &self,
        client: &RegistryClient,
        pieces: &mut mpsc::Receiver<std::io::Result<Piece>>,
        session: Option<String>,
        id: &str,
        tx: &mpsc::Sender<Progress>,
    ) -> Result<(String, u64)> {
        let next = |p: Option<std::io::Result<Piece>>| -> Result<Piece> {
            match p {
                Some(Ok(p)) => Ok(p),
                Some(Err(e)) => Err(Error::internal(format!("compressing layer: {e}"))),
                None => Err(Error::internal("the layer's compressor stopped")),
            }
        };
        let mut hasher = sha2::Sha256::new();
        let mut size = 0u64;
        let mut take = |p: Piece, hasher: &mut sha2::Sha256| {
            if let Piece::Data(d) = &p {
                hasher.update(d);
                size += d.len() as u64;
            }
            p
        };
        let first = match take(next(pieces.recv().await)?, &mut hasher) {
            Piece::Done => return Err(Error::internal("an empty compressed layer")),
            Piece::Data(d) => d,
        };
        let second = take(next(pieces.recv().await)?, &mut hasher);
        if let Piece::Done = second {
            // Small: all of it at once.
            let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
            let size = first.len() as u64;
            match session {
                Some(loc) => client.finish_upload(&loc, &digest, first).await,
                None => client.upload_blob(&digest, first).await,
            }
            .map_err(Error::from)?;
            return Ok((digest, size));
        }
        let mut location = match session {
            Some(loc) => loc,
            None => client.start_upload().await.map_err(Error::from)?,
        };
        let mut offset = 0u64;
        let mut piece = Piece::Data(first);
        let mut following = Some(second);
        loop {
            match piece {
                Piece::Data(data) => {
                    let len = data.len() as u64;
                    location = client
                        .upload_chunk(&location, offset, data)
                        .await
                        .map_err(Error::from)?;
                    offset += len;
                    let _ = tx.try_send(json!({
                        "status": "Pushing",
                        "progressDetail": { "current": offset },
                        "id": id,
                    }));
                }
                Piece::Done => {
                    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
                    client
                        .finish_upload(&location, &digest, Bytes::new())
                        .await
                        .map_err(Error::from)?;
                    return Ok((digest, offset));
                }
            }
            piece = match following.take() {
                Some(p) => p,
                None => take(next(pieces.recv().await)?, &mut hasher),
            };
        }
    }

    /// Records that `source`'s blob holds this layer in `reference`'s repository too. A
    /// failure only costs a later optimisation.
    async fn remember(
        &self,
        job: &LayerJob,
        source: &BlobSource,
        registry: &str,
        reference: &Reference,
    ) {
        let svc = self.images.service();
        let s = BlobSource {
            digest: source.digest.clone(),
            size: source.size,
            diff_id: job.diff_id.to_string(),
            compression: source.compression.clone(),
            registry: registry.to_string(),
            repository: reference.path.clone(),
        };
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = svc.record_blob_source(&s) {
                tracing::warn!(error = %e, "recording a blob source");
            }
        })
        .await;
    }
}
