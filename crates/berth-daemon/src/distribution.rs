//! What pull ([`crate::pull`]) and push ([`crate::push`]) share: dockerd's progress messages,
//! `X-Registry-Auth` credentials, registry hosts, digest references; and `POST /auth`.

pub use berth_distribution::Credentials;
use berth_distribution::RegistryClient;
use berth_types::{Error, Reference, Result};
use serde_json::json;

use crate::daemon::Daemon;

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

/// docker's progress bar for `current` of `total`.
pub(crate) fn bar(current: u64, total: u64) -> String {
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
    let s = |k: &str| j[k].as_str().unwrap_or_default().to_string();
    Credentials {
        username: s("username"),
        password: s("password"),
        identity_token: s("identitytoken"),
    }
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
        let svc = self.images.service();
        let (id, repo, d) = (image_id.to_string(), reference.name(), digest.to_string());
        tokio::task::spawn_blocking(move || Ok(svc.add_digest_ref(&id, &repo, &d)?))
            .await
            .map_err(|e| Error::internal(format!("pull task: {e}")))?
    }
}

/// The registry host of a login's server address (`https://index.docker.io/v1/`, `host:port`).
pub fn login_host(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "" | "index.docker.io" | "docker.io" => "registry-1.docker.io".to_string(),
        h => h.to_string(),
    }
}

impl Daemon {
    /// `POST /auth`: checks the credentials against the registry's `/v2/`.
    pub async fn registry_login(&self, server: &str, creds: Credentials) -> Result<()> {
        let host = login_host(server);
        let client = RegistryClient::new(&host, "", creds, false);
        match client.ping().await {
            Ok(()) => Ok(()),
            Err(berth_distribution::DistributionError::Unauthorized) => Err(Error::new(
                berth_types::ErrorKind::Unauthenticated,
                format!("login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"),
            )),
            Err(e) => Err(e.into()),
        }
    }
}
