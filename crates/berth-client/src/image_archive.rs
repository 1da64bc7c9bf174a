//! `GET /images/get` (save) and `POST /images/load`.

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
    pub error_detail: Option<LoadErrorDetail>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LoadErrorDetail {
    #[serde(default)]
    pub message: Option<String>,
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
