//! `POST /images/create?fromImage=` (pull), with dockerd's JSON progress stream. The manifest
//! is fetched first (an index resolved to the wanted platform); then every layer not stored
//! already downloads, up to daemon.json `max-concurrent-downloads` (default 6) at a time,
//! each streamed through its digest check and decompressor straight into its blob and its unpacked directory, so a
//! layer is in place as soon as its download ends. A body cut mid-way is resumed with a
//! `Range` request. The image's rows are written last, in one transaction; a failed pull
//! leaves nothing behind. An empty tag on a name without one pulls every tag (`pull -a`).

use std::io::{self, Read};
use std::sync::Arc;

use berth_api::stream::{error_message, progress_bar};
use berth_distribution::media::{self, Document, Platform};
use berth_distribution::{DistributionError, RegistryClient};
use berth_image::{BlobSource, PullSession, PulledLayer};
use berth_types::{Digest, Error, Reference, Result};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use crate::daemon::Daemon;
use crate::distribution::shared::{registry_host, short_digest, status, Credentials, Progress};
use crate::image::service::ImageService;
use crate::image::DEFAULT_NAMESPACE;

/// What `docker pull` asks besides the name.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `os[/arch[/variant]]`; this machine's platform when absent.
    pub platform: Option<String>,
}

/// A manifest chosen for one platform.
struct Fetched {
    digest: String,
    doc: Document,
}

/// The uncompressed data of a layer arrives as chunks from its download.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    buf: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}

/// `"linux/arm64"` -> the platform, or dockerd's error for a malformed one.
/// dockerd's `PullImage` reference: `fromImage`, then `tag` as a digest when it parses as one
/// (replacing any tag) and otherwise as a tag. No default tag: without one every tag is pulled.
fn pull_reference(from_image: &str, tag: &str) -> Result<Reference> {
    let r = Reference::parse_name_only(from_image)?;
    if tag.is_empty() {
        return Ok(r);
    }
    match tag.parse::<berth_types::Digest>() {
        Ok(d) => Ok(Reference {
            digest: Some(d),
            ..r.trimmed()
        }),
        Err(_) => r.with_tag(tag),
    }
}

fn wanted_platform(opt: Option<&str>) -> Result<(Platform, bool)> {
    match opt.filter(|s| !s.is_empty()) {
        None => Ok((
            Platform {
                os: "linux".into(),
                architecture: berth_image::go_arch().into(),
                variant: None,
            },
            false,
        )),
        Some(s) => Platform::parse(s).map(|p| (p, true)).ok_or_else(|| {
            Error::invalid(format!(
                "\"{s}\": unknown operating system or architecture: invalid argument"
            ))
        }),
    }
}

fn compression_of(media_type: &str) -> &'static str {
    if media_type.ends_with("+zstd") {
        "zstd"
    } else if media_type == media::DOCKER_LAYER || media_type == media::OCI_LAYER {
        "none"
    } else {
        "gzip"
    }
}

fn join_err(e: tokio::task::JoinError) -> Error {
    Error::internal(format!("pull task: {e}"))
}

impl Daemon {
    /// Checks the reference and fetches the manifest (or, for all tags, the tags list):
    /// errors here are the request's. The download runs in the background and reports on
    /// the returned stream.
    pub async fn image_pull(
        self: &Arc<Self>,
        from_image: &str,
        tag: &str,
        creds: Credentials,
        opts: PullOptions,
    ) -> Result<mpsc::Receiver<Progress>> {
        self.image_pull_in(DEFAULT_NAMESPACE, from_image, tag, creds, opts)
            .await
    }

    /// [`Daemon::image_pull`] into image namespace `ns` (`k8s.io` for the CRI): the image and
    /// its names go there; layers and blobs already stored for any namespace are reused.
    pub async fn image_pull_in(
        self: &Arc<Self>,
        ns: &str,
        from_image: &str,
        tag: &str,
        creds: Credentials,
        opts: PullOptions,
    ) -> Result<mpsc::Receiver<Progress>> {
        let images = self.image_namespace(ns)?.clone();
        let (platform, explicit) = wanted_platform(opts.platform.as_deref())?;
        let name_only = pull_reference(from_image, tag)?;
        let all_tags = name_only.tag.is_none() && name_only.digest.is_none();
        let mut reference = name_only.clone();
        if all_tags {
            reference.tag = Some(berth_types::reference::DEFAULT_TAG.to_string());
        }
        // The first endpoint (mirror, HTTPS, HTTP for an insecure registry) that answers
        // for this image; the probe is the request the pull starts with anyway.
        let first_request = if all_tags {
            None
        } else {
            Some(
                reference
                    .digest
                    .as_ref()
                    .map(|d| d.to_string())
                    .or_else(|| reference.tag.clone())
                    .unwrap_or_else(|| "latest".to_string()),
            )
        };
        let probe = |c: Arc<RegistryClient>| {
            let first = first_request.clone();
            async move {
                match first {
                    Some(wanted) => c.manifest(&wanted).await.map(drop),
                    None => c.tags().await.map(drop),
                }
            }
        };
        let (client, ()) = self
            .first_endpoint(&reference.domain, &reference.path, &creds, false, probe)
            .await
            .map_err(|e| {
                let e: Error = e.into();
                if e.is_not_found() && !all_tags {
                    Error::not_found(format!(
                        "manifest for {} not found: manifest unknown",
                        reference.familiar()
                    ))
                } else {
                    e
                }
            })?;
        // Each target with its manifest fetched up front, so that a missing tag or platform
        // is the request's error, as dockerd answers it.
        let mut targets = Vec::new();
        if all_tags {
            let mut tags = client.tags().await.map_err(Error::from)?;
            tags.sort();
            if tags.is_empty() {
                return Err(Error::not_found(format!(
                    "no tags found for {}",
                    reference.familiar_name()
                )));
            }
            for t in tags {
                let mut r = reference.clone();
                r.tag = Some(t.clone());
                let f = fetch_manifest(&client, &t, &platform, &r).await?;
                targets.push((r, t, f));
            }
        } else {
            let wanted = reference
                .digest
                .as_ref()
                .map(|d| d.to_string())
                .or_else(|| reference.tag.clone())
                .unwrap_or_else(|| "latest".to_string());
            let f = fetch_manifest(&client, &wanted, &platform, &reference).await?;
            let label = reference.tag.clone().unwrap_or_else(|| wanted.clone());
            targets.push((reference.clone(), label, f));
        }
        let (tx, rx) = mpsc::channel(256);
        let me = self.clone();
        tokio::spawn(async move {
            let mut downloaded = false;
            for (r, label, fetched) in targets {
                let _ = tx
                    .send(status(
                        &label,
                        &format!("Pulling from {}", pulling_from(&r)),
                    ))
                    .await;
                let check = explicit.then_some(&platform);
                match me.pull_one(&images, &client, &r, fetched, check, &tx).await {
                    Ok(d) => downloaded |= d,
                    Err(e) => {
                        let _ = tx.send(error_message(&e.message, None)).await;
                        return;
                    }
                }
                if !all_tags {
                    let word = if downloaded {
                        "Downloaded newer image for"
                    } else {
                        "Image is up to date for"
                    };
                    let _ = tx
                        .send(status("", &format!("Status: {word} {}", r.familiar())))
                        .await;
                }
            }
            if all_tags {
                let word = if downloaded {
                    "Downloaded newer image for"
                } else {
                    "Image is up to date for"
                };
                let _ = tx
                    .send(status(
                        "",
                        &format!("Status: {word} {}", reference.familiar_name()),
                    ))
                    .await;
            }
        });
        Ok(rx)
    }

    /// Pulls one manifest's image and tags it; `Ok(true)` when anything was new (the image,
    /// or its tag moved).
    async fn pull_one(
        &self,
        images: &ImageService,
        client: &Arc<RegistryClient>,
        reference: &Reference,
        f: Fetched,
        platform: Option<&Platform>,
        tx: &mpsc::Sender<Progress>,
    ) -> Result<bool> {
        let config_desc = f
            .doc
            .config
            .clone()
            .ok_or_else(|| Error::invalid("the manifest names no config"))?;
        let mut config_bytes = Vec::new();
        client
            .fetch_blob(&config_desc.digest, &mut config_bytes, |_| {})
            .await
            .map_err(Error::from)?;
        let config: berth_image::ImageConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| Error::invalid(format!("image config {}: {e}", config_desc.digest)))?;
        if let Some(p) = platform {
            let actual_variant = config.variant.clone().filter(|v| !v.is_empty());
            let variant_ok = p.variant.is_none() || p.variant == actual_variant;
            if config.os != p.os || config.architecture != p.architecture || !variant_ok {
                let actual = Platform {
                    os: config.os.clone(),
                    architecture: config.architecture.clone(),
                    variant: actual_variant,
                };
                return Err(Error::not_found(format!(
                    "image with reference {} was found but does not match the specified platform: wanted {p}, actual: {actual}",
                    reference.familiar()
                )));
            }
        }
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != f.doc.layers.len() {
            return Err(Error::invalid(format!(
                "the manifest of {} has {} layers, its config {}",
                reference.familiar(),
                f.doc.layers.len(),
                diff_ids.len()
            )));
        }
        let image_id = Digest::of(&config_bytes).to_string();
        let svc = images.service();
        let mut refs = Vec::new();
        if reference.tag.is_some() {
            refs.push((reference.clone(), false));
        }
        let digest_ref = Reference::parse(&format!("{}@{}", reference.name(), f.digest))
            .map_err(|e| Error::invalid(e.message))?;
        refs.push((digest_ref, true));

        let previous = {
            let (svc, name, id) = (svc.clone(), reference.to_string(), image_id.clone());
            tokio::task::spawn_blocking(move || {
                (svc.resolve_id(&name).ok(), svc.resolve_id(&id).is_ok())
            })
            .await
            .map_err(join_err)?
        };
        if previous.1 {
            // The image is here: only its names may be new.
            for (r, is_digest) in &refs {
                if *is_digest {
                    self.record_digest_in(images, &image_id, reference, &f.digest)
                        .await?;
                } else if images.namespace() == DEFAULT_NAMESPACE {
                    // Tagging through the daemon emits the Docker API's `tag` event.
                    self.image_tag(&image_id, &r.name(), r.tag.as_deref())
                        .await?;
                } else {
                    images.tag(&image_id, &r.name(), r.tag.as_deref()).await?;
                }
            }
            let _ = tx.send(status("", &format!("Digest: {}", f.digest))).await;
            return Ok(previous.0.as_deref() != Some(image_id.as_str()) && reference.tag.is_some());
        }

        let session = {
            let svc = svc.clone();
            tokio::task::spawn_blocking(move || svc.begin_pull())
                .await
                .map_err(join_err)??
        };
        let session = Arc::new(session);
        let result = self
            .pull_layers(client, reference, &f, &config, &session, tx)
            .await;
        let outcome = match result {
            Ok(layers) => {
                let session = Arc::try_unwrap(session)
                    .map_err(|_| Error::internal("pull session still shared"))?;
                let bytes = config_bytes.clone();
                tokio::task::spawn_blocking(move || session.commit(&bytes, &layers, &refs))
                    .await
                    .map_err(join_err)?
                    .map_err(Error::from)
            }
            Err(e) => {
                // Removing what was written is file work: off the async threads.
                let _ = tokio::task::spawn_blocking(move || drop(session)).await;
                return Err(e);
            }
        };
        outcome?;
        self.remember_sources(reference, &f, diff_ids).await;
        let _ = tx.send(status("", &format!("Digest: {}", f.digest))).await;
        Ok(true)
    }

    /// Downloads and stores every layer not present; returns all layers, lowest first.
    async fn pull_layers(
        &self,
        client: &Arc<RegistryClient>,
        _reference: &Reference,
        f: &Fetched,
        config: &berth_image::ImageConfig,
        session: &Arc<PullSession>,
        tx: &mpsc::Sender<Progress>,
    ) -> Result<Vec<PulledLayer>> {
        let diff_ids = config.rootfs.diff_ids.clone();
        let chain_ids = berth_image::config::chain_ids(&diff_ids);
        let mut slots: Vec<Option<PulledLayer>> = vec![None; diff_ids.len()];
        let mut todo = Vec::new();
        for (i, layer) in f.doc.layers.iter().enumerate() {
            let id = short_digest(&layer.digest);
            let existing = {
                let (s, c, d) = (session.clone(), chain_ids[i].clone(), diff_ids[i].clone());
                tokio::task::spawn_blocking(move || s.existing(&c, &d))
                    .await
                    .map_err(join_err)??
            };
            match existing {
                Some(l) => {
                    let _ = tx.send(status(&id, "Already exists")).await;
                    slots[i] = Some(l);
                }
                None => {
                    let _ = tx.send(status(&id, "Pulling fs layer")).await;
                    todo.push(i);
                }
            }
        }
        let mut results = futures::stream::iter(todo.into_iter().map(|i| {
            let layer = f.doc.layers[i].clone();
            let (chain_id, diff_id) = (chain_ids[i].clone(), diff_ids[i].clone());
            let (client, session, tx) = (client.clone(), session.clone(), tx.clone());
            async move {
                let id = short_digest(&layer.digest);
                let (data_tx, data_rx) = mpsc::channel::<io::Result<Bytes>>(32);
                let store = tokio::task::spawn_blocking(move || {
                    let reader = ChannelReader {
                        rx: data_rx,
                        buf: Bytes::new(),
                    };
                    let (_, tar) = berth_image::compression::decompress(reader)
                        .map_err(|e| Error::invalid(format!("layer {chain_id}: {e}")))?;
                    session
                        .store_layer(&chain_id, &diff_id, tar)
                        .map_err(Error::from)
                });
                let total = layer.size;
                let mut last = 0u64;
                let downloaded = client
                    .download_blob(&layer.digest, &data_tx, |n| {
                        if n - last >= 512 * 1024 || n == total {
                            last = n;
                            let _ = tx.try_send(json!({
                                "status": "Downloading",
                                "progressDetail": { "current": n, "total": total },
                                "progress": progress_bar(n as i64, total as i64),
                                "id": id,
                            }));
                        }
                    })
                    .await;
                drop(data_tx);
                if downloaded.is_ok() {
                    let _ = tx.send(status(&id, "Verifying Checksum")).await;
                    let _ = tx.send(status(&id, "Download complete")).await;
                    let _ = tx.send(status(&id, "Extracting")).await;
                }
                let stored = store.await.map_err(join_err);
                // The download's error explains a failed store better than the store's.
                downloaded.map_err(Error::from)?;
                let stored = stored??;
                let _ = tx.send(status(&id, "Pull complete")).await;
                Ok::<_, Error>((i, stored))
            }
        }))
        .buffer_unordered(self.config.max_concurrent_downloads.max(1));
        let mut failure = None;
        while let Some(r) = results.next().await {
            match r {
                Ok((i, l)) => slots[i] = Some(l),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        slots
            .into_iter()
            .map(|s| s.ok_or_else(|| Error::internal("a layer was neither found nor pulled")))
            .collect()
    }

    /// Records where each layer blob came from, for mounts and digest reuse on push. A
    /// failure only costs that optimisation.
    async fn remember_sources(&self, reference: &Reference, f: &Fetched, diff_ids: &[Digest]) {
        let svc = self.images.service();
        let registry = registry_host(&reference.domain);
        let sources: Vec<BlobSource> = f
            .doc
            .layers
            .iter()
            .zip(diff_ids)
            .map(|(l, d)| BlobSource {
                digest: l.digest.clone(),
                size: l.size,
                diff_id: d.to_string(),
                compression: compression_of(&l.media_type).to_string(),
                registry: registry.clone(),
                repository: reference.path.clone(),
            })
            .collect();
        let _ = tokio::task::spawn_blocking(move || {
            for s in &sources {
                if let Err(e) = svc.record_blob_source(s) {
                    tracing::warn!(error = %e, "recording a blob source");
                }
            }
        })
        .await;
    }
}

/// The manifest for `wanted`; an index is resolved to `platform`'s entry.
async fn fetch_manifest(
    client: &RegistryClient,
    wanted: &str,
    platform: &Platform,
    reference: &Reference,
) -> Result<Fetched> {
    let not_found = |e: DistributionError| -> Error {
        let e: Error = e.into();
        if e.is_not_found() {
            Error::not_found(format!(
                "manifest for {} not found: manifest unknown",
                reference.familiar()
            ))
        } else {
            e
        }
    };
    let (bytes, ctype, digest) = client.manifest(wanted).await.map_err(not_found)?;
    let doc: Document = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("manifest {wanted}: {e}")))?;
    if !doc.is_index(&ctype) {
        return Ok(Fetched { digest, doc });
    }
    let entry = doc.select_platform(platform).ok_or_else(|| {
        Error::not_found(format!(
            "no matching manifest for {platform} in the manifest list entries"
        ))
    })?;
    let (bytes, _ctype, digest) = client.manifest(&entry.digest).await.map_err(not_found)?;
    let doc: Document = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("manifest {}: {e}", entry.digest)))?;
    Ok(Fetched { digest, doc })
}

/// How dockerd names the repository in `Pulling from`: Docker Hub's by path
/// (`library/busybox`), others by their familiar name.
fn pulling_from(r: &Reference) -> String {
    if r.domain == berth_distribution::endpoint::OFFICIAL_INDEX {
        r.path.clone()
    } else {
        r.familiar_name()
    }
}
