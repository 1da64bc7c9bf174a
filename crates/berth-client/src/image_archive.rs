//! `GET /images/get` (save) and `POST /images/load`.

use berth_api::stream::ErrorDetail;
use serde::Deserialize;

use crate::body::{BodyReader, JsonLines, RequestBody};
use crate::client::{Client, Query};
use crate::error::Result;

/// One message of the load output stream.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LoadMessage {
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default, rename = "errorDetail")]
    pub error_detail: Option<ErrorDetail>,
}

impl Client {
    /// Streams the archive of `names` (`docker save`).
    pub async fn image_save(&self, names: &[String]) -> Result<BodyReader> {
        let q: Query = names.iter().map(|n| ("names", n.clone())).collect();
        let resp = self.get("/images/get", &q).await?;
        Ok(BodyReader::new(resp.into_body()))
    }

    /// Sends an archive to load (`docker load`); the answer is a JSON message stream.
    pub async fn image_load(
        &self,
        body: RequestBody,
        quiet: bool,
    ) -> Result<JsonLines<LoadMessage>> {
        let mut q: Query = Vec::new();
        if quiet {
            q.push(("quiet", "1".into()));
        }
        let resp = self
            .request(
                http::Method::POST,
                "/images/load",
                &q,
                Some("application/x-tar"),
                body,
            )
            .await?;
        Ok(JsonLines::new(resp.into_body()))
    }
}

/// One message of the build output stream.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BuildMessage {
    #[serde(default)]
    pub stream: Option<String>,
    /// Progress of a base image pull: `status`, `id`, `progress`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub progress: Option<String>,
    #[serde(default)]
    pub aux: Option<serde_json::Value>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default, rename = "errorDetail")]
    pub error_detail: Option<ErrorDetail>,
}

impl Client {
    /// `POST /build` with a tar context; `query` holds the build options, `headers` extra
    /// request headers (`X-Registry-Config`, berth's build-secrets header).
    pub async fn image_build(
        &self,
        body: RequestBody,
        query: Query<'static>,
        headers: &[(&str, String)],
    ) -> Result<JsonLines<BuildMessage>> {
        let resp = self
            .request_with_headers(
                http::Method::POST,
                "/build",
                &query,
                Some("application/x-tar"),
                headers,
                body,
            )
            .await?;
        Ok(JsonLines::new(resp.into_body()))
    }

    /// `POST /build/prune`: the cache keys removed and the bytes reclaimed.
    pub async fn build_prune(&self, all: bool, until: Option<String>) -> Result<serde_json::Value> {
        let mut q: Query = Vec::new();
        if all {
            q.push(("all", "1".into()));
        }
        if let Some(u) = until {
            q.push(("filters", serde_json::json!({ "until": [u] }).to_string()));
        }
        let resp = self.post("/build/prune", &q).await?;
        let raw = crate::body::collect(resp.into_body()).await?;
        Ok(serde_json::from_slice(&raw)?)
    }
}
