//! `/volumes`.

use berth_api::volume::{Volume, VolumeCreateOptions, VolumeListResponse, VolumePruneResponse};
use berth_api::Filters;

use crate::client::{escape_segment, Client, Query};
use crate::error::Result;

impl Client {
    pub async fn volume_create(&self, opts: &VolumeCreateOptions) -> Result<Volume> {
        self.post_json("/volumes/create", &Vec::new(), opts).await
    }

    pub async fn volume_list(&self, filters: &Filters) -> Result<VolumeListResponse> {
        let mut q: Query = Vec::new();
        if !filters.is_empty() {
            q.push(("filters", filters.to_json()));
        }
        self.get_json("/volumes", &q).await
    }

    /// The daemon's JSON, kept raw for `inspect` templates.
    pub async fn volume_inspect_raw(&self, name: &str) -> Result<bytes::Bytes> {
        self.get_raw(&format!("/volumes/{}", escape_segment(name)), &Vec::new())
            .await
    }

    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let mut q: Query = Vec::new();
        if force {
            q.push(("force", "1".into()));
        }
        self.delete(&format!("/volumes/{}", escape_segment(name)), &q)
            .await
            .map(|_| ())
    }

    pub async fn volume_prune(&self, filters: &Filters) -> Result<VolumePruneResponse> {
        let mut q: Query = Vec::new();
        if !filters.is_empty() {
            q.push(("filters", filters.to_json()));
        }
        let resp = self.post("/volumes/prune", &q).await?;
        let raw = crate::body::collect(resp.into_body()).await?;
        Ok(serde_json::from_slice(&raw)?)
    }
}
