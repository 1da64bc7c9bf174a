//! `POST /images/create?fromImage=` (pull) and `POST /images/{name}/push`, with dockerd's
//! JSON progress stream. A pull fetches the manifest (choosing this platform from an index),
//! downloads config and layers in parallel with their digests checked as they stream, then
//! stores them through the image loader (an OCI layout of exactly what was fetched), so a
//! pulled image is verified and stored as a loaded one is. A push archives each layer, gzips
//! it, skips what the registry has (HEAD) and PUTs a Docker schema2 manifest.

use std::io::{Read, Write};
use std::sync::Arc;

use berth_distribution::media::{self, Descriptor, Document};
pub use berth_distribution::Credentials;
use berth_distribution::RegistryClient;
use berth_types::{Error, Reference, Result};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use crate::daemon::Daemon;

/// Layers downloaded at the same time unless daemon.json says otherwise (dockerd's default
/// is 3).
pub const DEFAULT_MAX_CONCURRENT_DOWNLOADS: usize = 6;

/// One message of the progress stream.
pub type Progress = serde_json::Value;

fn short_digest(d: &str) -> String {
    d.trim_start_matches("sha256:").chars().take(12).collect()
}

fn status(id: &str, text: &str) -> Progress {
    if id.is_empty() {
        json!({ "status": text })
    } else {
        json!({ "status": text, "progressDetail": {}, "id": id })
    }
}

/// docker's progress bar for `current` of `total`.
fn bar(current: u64, total: u64) -> String {
    let width = 50u64;
    let filled = (current * width).checked_div(total).unwrap_or(0).min(width);
    let mut s = String::from("[");
    for i in 0..width {
        s.push(if i < filled.saturating_sub(1) {
            '='
        } else if i + 1 == filled {
            '>'
        } else {
            ' '
        });
    }
    s.push(']');
    let human = |b: u64| {
        let (v, u) = if b >= 1 << 20 {
            (b as f64 / 1048576.0, "MB")
        } else if b >= 1024 {
            (b as f64 / 1024.0, "kB")
        } else {
            (b as f64, "B")
        };
        format!("{v:.3}{u}")
    };
    format!("{s}  {}/{}", human(current), human(total))
}

/// Credentials from the `X-Registry-Auth` header (base64url JSON), empty when absent.
pub fn credentials_from_header(value: Option<&str>) -> Credentials {
    use base64::Engine as _;
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Credentials::default();
    };
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(v.trim_end_matches('='))
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v.trim_end_matches('='))
        })
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(v))
        .unwrap_or_default();
    let j: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
    credentials_of(&j)
}

/// Credentials from one docker `AuthConfig` JSON object.
fn credentials_of(j: &serde_json::Value) -> Credentials {
    let s = |k: &str| j[k].as_str().unwrap_or_default().to_string();
    Credentials {
        username: s("username"),
        password: s("password"),
        identity_token: s("identitytoken"),
    }
}

/// Credentials by registry host from an `X-Registry-Config` header (base64url JSON keyed
/// by server address, as the docker CLI sends with a build).
pub fn credentials_from_registry_config(
    value: Option<&str>,
) -> std::collections::BTreeMap<String, Credentials> {
    use base64::Engine as _;
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Default::default();
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(v))
        .unwrap_or_default();
    let all: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&raw).unwrap_or_default();
    all.into_iter()
        .map(|(server, j)| (login_host(&server), credentials_of(&j)))
        .collect()
}

struct Fetched {
    manifest: Bytes,
    manifest_type: String,
    digest: String,
    doc: Document,
}

impl Daemon {
    /// Checks the reference and fetches the manifest (errors here are the request's); the
    /// download runs in the background and reports on the returned stream.
    pub async fn image_pull(
        self: &Arc<Self>,
        from_image: &str,
        tag: &str,
        creds: Credentials,
    ) -> Result<mpsc::Receiver<Progress>> {
        let full = if tag.is_empty() {
            from_image.to_string()
        } else if tag.starts_with("sha256:") {
            format!("{from_image}@{tag}")
        } else {
            format!("{from_image}:{tag}")
        };
        let reference = Reference::parse(&full)
            .map_err(|e| Error::invalid(format!("invalid reference format: {}", e.message)))?;
        let wanted = reference
            .digest
            .as_ref()
            .map(|d| d.to_string())
            .or_else(|| reference.tag.clone())
            .unwrap_or_else(|| "latest".to_string());
        let probe = |c: Arc<RegistryClient>| {
            let wanted = wanted.clone();
            async move { fetch_manifest(&c, &wanted).await }
        };
        let pulled = self
            .first_endpoint(&reference.domain, &reference.path, &creds, false, probe)
            .await;
        let (client, fetched) = pulled.map_err(|e| {
            let e: Error = e.into();
            if e.is_not_found() {
                Error::not_found(format!(
                    "manifest for {} not found: manifest unknown",
                    reference.familiar()
                ))
            } else {
                e
            }
        })?;
        let (tx, rx) = mpsc::channel(256);
        let me = self.clone();
        tokio::spawn(async move {
            let tag_label = reference.tag.clone().unwrap_or_else(|| wanted.clone());
            // dockerd names Docker Hub repositories by path (`library/busybox`).
            let from = if reference.domain == berth_distribution::endpoint::OFFICIAL_INDEX {
                reference.path.clone()
            } else {
                reference.familiar_name()
            };
            let _ = tx
                .send(status(&tag_label, &format!("Pulling from {from}")))
                .await;
            if let Err(e) = me.pull_layers(&client, &reference, fetched, &tx).await {
                let _ = tx
                    .send(json!({ "errorDetail": { "message": e.message }, "error": e.message }))
                    .await;
            }
        });
        Ok(rx)
    }

    async fn pull_layers(
        &self,
        client: &Arc<RegistryClient>,
        reference: &Reference,
        f: Fetched,
        tx: &mpsc::Sender<Progress>,
    ) -> Result<()> {
        let config_desc = f
            .doc
            .config
            .clone()
            .ok_or_else(|| Error::invalid("the manifest names no config"))?;
        let svc = self.images.service();
        let image_id = config_desc.digest.clone();
        let present = {
            let (svc, id) = (svc.clone(), image_id.clone());
            tokio::task::spawn_blocking(move || svc.resolve_id(&id).is_ok())
                .await
                .map_err(|e| Error::internal(format!("pull task: {e}")))?
        };
        let target_name = reference.to_string();
        if present {
            let had_tag = {
                let (svc, name) = (svc.clone(), target_name.clone());
                tokio::task::spawn_blocking(move || svc.resolve_id(&name).ok())
                    .await
                    .map_err(|e| Error::internal(format!("pull task: {e}")))?
            };
            if reference.tag.is_some() {
                self.image_tag(&image_id, &reference.name(), reference.tag.as_deref())
                    .await?;
            }
            self.record_digest(&image_id, reference, &f.digest).await?;
            let _ = tx.send(status("", &format!("Digest: {}", f.digest))).await;
            let word = if had_tag.as_deref() == Some(image_id.as_str()) || reference.tag.is_none() {
                "Image is up to date for"
            } else {
                "Downloaded newer image for"
            };
            let _ = tx
                .send(status(
                    "",
                    &format!("Status: {word} {}", reference.familiar()),
                ))
                .await;
            return Ok(());
        }

        let tmp = self.config.data_root.join("tmp");
        std::fs::create_dir_all(&tmp)
            .map_err(|e| Error::internal(format!("creating {}: {e}", tmp.display())))?;
        for l in &f.doc.layers {
            let _ = tx
                .send(status(&short_digest(&l.digest), "Pulling fs layer"))
                .await;
        }
        // Config and layers, several at a time, each into its own unlinked file.
        let mut config = Vec::new();
        client
            .fetch_blob(&config_desc.digest, &mut config, |_| {})
            .await
            .map_err(Error::from)?;
        let downloads = futures::stream::iter(f.doc.layers.clone().into_iter().map(|layer| {
            let client = client.clone();
            let tx = tx.clone();
            let tmp = tmp.clone();
            async move {
                let mut file = tempfile::tempfile_in(&tmp)
                    .map_err(|e| Error::internal(format!("pull spool: {e}")))?;
                let id = short_digest(&layer.digest);
                let total = layer.size;
                let mut last_report = 0u64;
                let mut pending: Vec<Progress> = Vec::new();
                {
                    let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut file);
                    client
                        .fetch_blob(&layer.digest, &mut w, |n| {
                            if n - last_report >= 512 * 1024 || n == total {
                                last_report = n;
                                pending.push(json!({
                                    "status": "Downloading",
                                    "progressDetail": { "current": n, "total": total },
                                    "progress": bar(n, total),
                                    "id": id,
                                }));
                            }
                        })
                        .await
                        .map_err(Error::from)?;
                    w.flush()
                        .map_err(|e| Error::internal(format!("pull spool: {e}")))?;
                }
                for p in pending {
                    let _ = tx.send(p).await;
                }
                let _ = tx.send(status(&id, "Verifying Checksum")).await;
                let _ = tx.send(status(&id, "Download complete")).await;
                Ok::<_, Error>((layer, file))
            }
        }))
        .buffered(self.config.max_concurrent_downloads.max(1))
        .collect::<Vec<_>>()
        .await;
        let mut layers = Vec::with_capacity(downloads.len());
        for d in downloads {
            layers.push(d?);
        }
        for (l, _) in &layers {
            let _ = tx
                .send(status(&short_digest(&l.digest), "Extracting"))
                .await;
        }

        // Store through the loader: an OCI layout of what was fetched, read as it is written.
        let manifest = f.manifest.clone();
        let manifest_type = if f.manifest_type.is_empty() {
            media::DOCKER_MANIFEST.to_string()
        } else {
            f.manifest_type.clone()
        };
        let digest = f.digest.clone();
        let name = reference.to_string();
        let svc2 = svc.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut spool = tempfile::tempfile_in(&tmp)
                .map_err(|e| Error::internal(format!("pull spool: {e}")))?;
            write_layout(
                &mut spool,
                &name,
                &manifest,
                &manifest_type,
                &digest,
                &config_desc,
                &config,
                layers,
            )
            .map_err(|e| Error::internal(format!("pull spool: {e}")))?;
            use std::io::Seek;
            spool
                .rewind()
                .map_err(|e| Error::internal(format!("pull spool: {e}")))?;
            svc2.load_archive(
                std::io::BufReader::new(spool),
                berth_image::LoadLimits::default(),
            )?;
            Ok(())
        })
        .await
        .map_err(|e| Error::internal(format!("pull task: {e}")))??;
        for l in &f.doc.layers {
            let _ = tx
                .send(status(&short_digest(&l.digest), "Pull complete"))
                .await;
        }
        self.record_digest(&image_id, reference, &f.digest).await?;
        let _ = tx.send(status("", &format!("Digest: {}", f.digest))).await;
        let _ = tx
            .send(status(
                "",
                &format!(
                    "Status: Downloaded newer image for {}",
                    reference.familiar()
                ),
            ))
            .await;
        Ok(())
    }

    async fn record_digest(
        &self,
        image_id: &str,
        reference: &Reference,
        digest: &str,
    ) -> Result<()> {
        let svc = self.images.service();
        let (id, repo, d) = (image_id.to_string(), reference.name(), digest.to_string());
        tokio::task::spawn_blocking(move || Ok(svc.add_digest_ref(&id, &repo, &d)?))
            .await
            .map_err(|e| Error::internal(format!("pull task: {e}")))?
    }

    /// Pushes `name` (with `tag`, or every tag of the repository when empty).
    pub async fn image_push(
        self: &Arc<Self>,
        name: &str,
        tag: &str,
        creds: Credentials,
    ) -> Result<mpsc::Receiver<Progress>> {
        let full = if tag.is_empty() {
            name.to_string()
        } else {
            format!("{name}:{tag}")
        };
        let reference = Reference::parse(&full)
            .map_err(|e| Error::invalid(format!("invalid reference format: {}", e.message)))?;
        let svc = self.images.service();
        let image = {
            let (svc, n) = (svc.clone(), reference.to_string());
            tokio::task::spawn_blocking(move || svc.resolve(&n))
                .await
                .map_err(|e| Error::internal(format!("push task: {e}")))?
                .map_err(|_| {
                    Error::not_found(format!(
                        "An image does not exist locally with the tag: {}",
                        reference.familiar_name()
                    ))
                })?
        };
        let (tx, rx) = mpsc::channel(256);
        let me = self.clone();
        tokio::spawn(async move {
            let _ = tx
                .send(status(
                    "",
                    &format!("The push refers to repository [{}]", reference.name()),
                ))
                .await;
            let ping = |c: Arc<RegistryClient>| async move { c.ping().await };
            let pushed = match me
                .first_endpoint(&reference.domain, &reference.path, &creds, true, ping)
                .await
            {
                Ok((client, ())) => me.push_image(&client, &reference, image, &tx).await,
                Err(e) => Err(e.into()),
            };
            if let Err(e) = pushed {
                let _ = tx
                    .send(json!({ "errorDetail": { "message": e.message }, "error": e.message }))
                    .await;
            }
        });
        Ok(rx)
    }

    async fn push_image(
        &self,
        client: &Arc<RegistryClient>,
        reference: &Reference,
        image: berth_image::Image,
        tx: &mpsc::Sender<Progress>,
    ) -> Result<()> {
        let svc = self.images.service();
        client.ping().await.map_err(Error::from)?;
        for c in image.chain_ids.iter().rev() {
            let _ = tx
                .send(status(&short_digest(&c.to_string()), "Preparing"))
                .await;
        }
        let mut descriptors = Vec::new();
        for chain in &image.chain_ids {
            let id = short_digest(&chain.to_string());
            let (svc2, chain2) = (svc.clone(), chain.clone());
            // The layer's tar, gzipped (header without a time, so the same layer gives the
            // same blob every time).
            let (digest, data) = tokio::task::spawn_blocking(move || -> Result<(String, Bytes)> {
                let mut tar = svc2.layer_tar(&chain2)?;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = tar
                        .read(&mut buf)
                        .map_err(|e| Error::internal(format!("reading layer: {e}")))?;
                    if n == 0 {
                        break;
                    }
                    gz.write_all(&buf[..n])
                        .map_err(|e| Error::internal(format!("compressing layer: {e}")))?;
                }
                let data = gz
                    .finish()
                    .map_err(|e| Error::internal(format!("compressing layer: {e}")))?;
                use sha2::Digest as _;
                let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&data)));
                Ok((digest, Bytes::from(data)))
            })
            .await
            .map_err(|e| Error::internal(format!("push task: {e}")))??;
            let size = data.len() as u64;
            if client.blob_exists(&digest).await.map_err(Error::from)? {
                let _ = tx.send(status(&id, "Layer already exists")).await;
            } else {
                let _ = tx.send(status(&id, "Pushing")).await;
                client
                    .upload_blob(&digest, data)
                    .await
                    .map_err(Error::from)?;
                let _ = tx.send(status(&id, "Pushed")).await;
            }
            descriptors.push(Descriptor {
                media_type: media::DOCKER_LAYER_GZIP.to_string(),
                digest,
                size,
                platform: None,
            });
        }
        let config = {
            let (svc2, id) = (svc.clone(), image.id.clone());
            tokio::task::spawn_blocking(move || -> Result<Vec<u8>> {
                let digest: berth_types::Digest = id.parse()?;
                let mut f = svc2
                    .content()
                    .open_blob(&digest)
                    .map_err(|e| Error::internal(e.to_string()))?;
                let mut v = Vec::new();
                f.read_to_end(&mut v)
                    .map_err(|e| Error::internal(format!("reading the config: {e}")))?;
                Ok(v)
            })
            .await
            .map_err(|e| Error::internal(format!("push task: {e}")))??
        };
        if !client.blob_exists(&image.id).await.map_err(Error::from)? {
            client
                .upload_blob(&image.id, Bytes::from(config.clone()))
                .await
                .map_err(Error::from)?;
        }
        let manifest = Document {
            schema_version: 2,
            media_type: media::DOCKER_MANIFEST.to_string(),
            config: Some(Descriptor {
                media_type: media::DOCKER_CONFIG.to_string(),
                digest: image.id.clone(),
                size: config.len() as u64,
                platform: None,
            }),
            layers: descriptors,
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
            .put_manifest(&tag, media::DOCKER_MANIFEST, Bytes::from(bytes))
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
}

/// The manifest for `wanted`; an index is resolved to this platform's entry.
async fn fetch_manifest(
    client: &RegistryClient,
    wanted: &str,
) -> std::result::Result<Fetched, berth_distribution::DistributionError> {
    let (bytes, ctype, digest) = client.manifest(wanted).await?;
    let doc: Document = serde_json::from_slice(&bytes).map_err(|e| {
        berth_distribution::DistributionError::Invalid(format!("manifest {wanted}: {e}"))
    })?;
    if !doc.is_index(&ctype) {
        return Ok(Fetched {
            manifest: bytes,
            manifest_type: ctype,
            digest,
            doc,
        });
    }
    let arch = berth_image::go_arch();
    let entry = doc.select("linux", arch).ok_or_else(|| {
        berth_distribution::DistributionError::NotFound {
            what: format!("manifest for linux/{arch}"),
            detail: format!("no matching manifest for linux/{arch} in the manifest list entries"),
        }
    })?;
    let (bytes, ctype, digest) = client.manifest(&entry.digest).await?;
    let doc: Document = serde_json::from_slice(&bytes).map_err(|e| {
        berth_distribution::DistributionError::Invalid(format!("manifest {}: {e}", entry.digest))
    })?;
    Ok(Fetched {
        manifest: bytes,
        manifest_type: ctype,
        digest,
        doc,
    })
}

/// Writes an OCI layout tar holding one image: the fetched manifest, config and layers.
#[allow(clippy::too_many_arguments)]
fn write_layout(
    out: &mut std::fs::File,
    name: &str,
    manifest: &[u8],
    manifest_type: &str,
    digest: &str,
    _config_desc: &Descriptor,
    config: &[u8],
    layers: Vec<(Descriptor, std::fs::File)>,
) -> std::io::Result<()> {
    let mut b = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, out));
    let add = |b: &mut tar::Builder<_>, path: String, size: u64, data: &mut dyn Read| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(size);
        b.append_data(&mut h, path, data)
    };
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    add(
        &mut b,
        "oci-layout".into(),
        layout.len() as u64,
        &mut &layout[..],
    )?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "manifests": [{
            "mediaType": manifest_type,
            "digest": digest,
            "size": manifest.len(),
            "annotations": { "io.containerd.image.name": name },
        }],
    });
    let index = serde_json::to_vec(&index).map_err(std::io::Error::other)?;
    add(
        &mut b,
        "index.json".into(),
        index.len() as u64,
        &mut &index[..],
    )?;
    let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    add(
        &mut b,
        blob(digest),
        manifest.len() as u64,
        &mut &manifest[..],
    )?;
    let config_digest = {
        use sha2::Digest as _;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(config)))
    };
    add(
        &mut b,
        blob(&config_digest),
        config.len() as u64,
        &mut &config[..],
    )?;
    for (d, mut f) in layers {
        use std::io::Seek;
        let size = f.seek(std::io::SeekFrom::End(0))?;
        f.rewind()?;
        add(&mut b, blob(&d.digest), size, &mut f)?;
    }
    b.into_inner()?.flush()
}

/// The registry (reference domain) of a login's server address (`https://index.docker.io/v1/`,
/// `host:port`).
pub fn login_host(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "" | "index.docker.io" | "docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

impl Daemon {
    /// `POST /auth`: checks the credentials against the registry's `/v2/` (the first endpoint
    /// that answers: HTTPS, or plain HTTP for an insecure registry).
    pub async fn registry_login(&self, server: &str, creds: Credentials) -> Result<()> {
        let host = login_host(server);
        // The URL the 401 came from, for dockerd's message.
        let answered = std::sync::Mutex::new(String::new());
        let ping = |c: Arc<RegistryClient>| {
            if let Ok(mut a) = answered.lock() {
                *a = c.base_url().to_string();
            }
            async move { c.ping().await }
        };
        // Logins go where pushes go: never to a mirror.
        match self.first_endpoint(&host, "", &creds, true, ping).await {
            Ok(_) => Ok(()),
            Err(berth_distribution::DistributionError::Unauthorized) => {
                let base = answered.lock().map(|a| a.clone()).unwrap_or_default();
                Err(Error::new(
                    berth_types::ErrorKind::Unauthenticated,
                    format!("login attempt to {base}/v2/ failed with status: 401 Unauthorized"),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }
}
