//! What pull ([`crate::distribution::pull`]) and push ([`crate::distribution::push`]) share: dockerd's progress messages,
//! `X-Registry-Auth` credentials, registry hosts, digest references; and `POST /auth`.

pub use berth_distribution::Credentials;
use std::sync::Arc;

use berth_distribution::RegistryClient;
use berth_types::{Error, Reference, Result};
use serde_json::json;

use crate::daemon::Daemon;

/// Layers downloaded at the same time unless daemon.json says otherwise (dockerd's default
/// is 3).
pub const DEFAULT_MAX_CONCURRENT_DOWNLOADS: usize = 6;

/// One message of the progress stream.
pub type Progress = serde_json::Value;

pub(crate) fn short_digest(d: &str) -> String {
    d.trim_start_matches("sha256:").chars().take(12).collect()
}

pub(crate) fn status(id: &str, text: &str) -> Progress {
    if id.is_empty() {
        json!({ "status": text })
    } else {
        json!({ "status": text, "progressDetail": {}, "id": id })
    }
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

/// The registry host for a reference's domain.
pub(crate) fn registry_host(domain: &str) -> String {
    if domain == "docker.io" {
        "registry-1.docker.io".to_string()
    } else {
        domain.to_string()
    }
}

impl Daemon {
    pub(crate) async fn record_digest(
        &self,
        image_id: &str,
        reference: &Reference,
        digest: &str,
    ) -> Result<()> {
        self.record_digest_in(&self.images, image_id, reference, digest)
            .await
    }

    /// [`Daemon::record_digest`] in the namespace `images` is.
    pub(crate) async fn record_digest_in(
        &self,
        images: &crate::image::service::ImageService,
        image_id: &str,
        reference: &Reference,
        digest: &str,
    ) -> Result<()> {
        let svc = images.service();
        let (id, repo, d) = (image_id.to_string(), reference.name(), digest.to_string());
        tokio::task::spawn_blocking(move || Ok(svc.add_digest_ref(&id, &repo, &d)?))
            .await
            .map_err(|e| Error::internal(format!("pull task: {e}")))?
    }
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

/// `GET /distribution/{name}/json`: what the registry has for a reference, without pulling.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DistributionInspect {
    #[serde(rename = "Descriptor")]
    pub descriptor: InspectDescriptor,
    #[serde(rename = "Platforms")]
    pub platforms: Vec<berth_distribution::media::Platform>,
}

/// The manifest's OCI descriptor, as dockerd reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InspectDescriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Daemon {
    /// Asks the registry for `name`'s manifest (with `creds`): its descriptor, and the
    /// platforms it serves — an index's entries, or a single manifest's from its config, as
    /// dockerd's distribution router does.
    pub async fn distribution_inspect(
        &self,
        name: &str,
        creds: Credentials,
    ) -> Result<DistributionInspect> {
        use berth_distribution::media::{Document, Platform};

        let reference = Reference::parse(name)
            .map_err(|e| Error::invalid(format!("invalid reference format: {}", e.message)))?;
        let wanted = reference
            .digest
            .as_ref()
            .map(|d| d.to_string())
            .or_else(|| reference.tag.clone())
            .unwrap_or_else(|| "latest".to_string());
        let probe = |c: Arc<RegistryClient>| {
            let wanted = wanted.clone();
            async move { c.manifest(&wanted).await }
        };
        let (client, (bytes, content_type, digest)) = self
            .first_endpoint(&reference.domain, &reference.path, &creds, false, probe)
            .await?;
        let doc: Document = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("manifest {wanted}: {e}")))?;
        let media_type = if doc.media_type.is_empty() {
            content_type.clone()
        } else {
            doc.media_type.clone()
        };
        let platforms = if doc.is_index(&content_type) {
            doc.manifests
                .iter()
                .filter_map(|m| m.platform.clone())
                .collect()
        } else {
            let config = doc
                .config
                .as_ref()
                .ok_or_else(|| Error::invalid("the manifest names no config"))?;
            let mut config_bytes = Vec::new();
            client
                .fetch_blob(&config.digest, &mut config_bytes, |_| {})
                .await?;
            let platform: Platform = serde_json::from_slice(&config_bytes)
                .map_err(|e| Error::invalid(format!("image config {}: {e}", config.digest)))?;
            vec![platform]
        };
        Ok(DistributionInspect {
            descriptor: InspectDescriptor {
                media_type,
                digest,
                size: bytes.len() as u64,
            },
            platforms,
        })
    }
}
