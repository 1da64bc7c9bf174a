//! `/containers/{id}/stats`, `/pause`, `/unpause` and `/containers/prune`.

use berth_api::models::ContainerPruneResponse;
use berth_api::stats::StatsResponse;
use berth_api::Filters;

use crate::body::JsonLines;
use crate::client::{escape_segment as esc, Client, Query};
use crate::error::Result;

impl Client {
    /// Stats frames: one per second with `stream`, else a single one.
    pub async fn container_stats(
        &self,
        id: &str,
        stream: bool,
    ) -> Result<JsonLines<StatsResponse>> {
        let q: Query = vec![("stream", if stream { "1" } else { "0" }.to_string())];
        let resp = self
            .get(&format!("/containers/{}/stats", esc(id)), &q)
            .await?;
        Ok(JsonLines::new(resp.into_body()))
    }

    pub async fn container_pause(&self, id: &str) -> Result<()> {
        self.post_empty(&format!("/containers/{}/pause", esc(id)), &Vec::new())
            .await
    }

    pub async fn container_unpause(&self, id: &str) -> Result<()> {
        self.post_empty(&format!("/containers/{}/unpause", esc(id)), &Vec::new())
            .await
    }

    pub async fn container_prune(&self, filters: &Filters) -> Result<ContainerPruneResponse> {
        let mut q: Query = Vec::new();
        if !filters.is_empty() {
            q.push(("filters", filters.to_json()));
        }
        let resp = self.post("/containers/prune", &q).await?;
        let raw = crate::body::collect(resp.into_body()).await?;
        Ok(serde_json::from_slice(&raw)?)
    }
}
