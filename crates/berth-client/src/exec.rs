//! `/containers/{id}/exec` and `/exec/{id}/...` endpoints.

use berth_api::models::ExecConfig;

use crate::client::{escape_segment as esc, Client, Query};
use crate::error::Result;
use crate::hijack::HijackedStream;

impl Client {
    /// Creates an exec; returns its ID (dockerd answers `{"Id": ...}`).
    pub async fn exec_create(&self, container: &str, config: &ExecConfig) -> Result<String> {
        let v: serde_json::Value = self
            .post_json(
                &format!("/containers/{}/exec", esc(container)),
                &Vec::new(),
                config,
            )
            .await?;
        v.get("Id")
            .and_then(|id| id.as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                crate::error::ClientError::Protocol("exec create: no Id in the response".into())
            })
    }

    /// Starts an exec attached: the hijacked stream carries its stdio.
    pub async fn exec_start_attached(&self, exec_id: &str, tty: bool) -> Result<HijackedStream> {
        let body = serde_json::to_vec(&serde_json::json!({"Detach": false, "Tty": tty}))?;
        self.hijack(
            &format!("/exec/{}/start", esc(exec_id)),
            &Vec::new(),
            Some(body),
        )
        .await
    }

    /// Starts an exec in the background.
    pub async fn exec_start_detached(&self, exec_id: &str, tty: bool) -> Result<()> {
        let body = serde_json::json!({"Detach": true, "Tty": tty});
        let resp = self
            .request(
                http::Method::POST,
                &format!("/exec/{}/start", esc(exec_id)),
                &Vec::new(),
                Some("application/json"),
                crate::body::full(serde_json::to_vec(&body)?),
            )
            .await?;
        crate::body::collect(resp.into_body()).await?;
        Ok(())
    }

    /// The exec's state (`Running`, `ExitCode`...).
    pub async fn exec_inspect(&self, exec_id: &str) -> Result<serde_json::Value> {
        self.get_json(&format!("/exec/{}/json", esc(exec_id)), &Vec::new())
            .await
    }

    pub async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        let q: Query = vec![("h", height.to_string()), ("w", width.to_string())];
        self.post_empty(&format!("/exec/{}/resize", esc(exec_id)), &q)
            .await
    }
}
