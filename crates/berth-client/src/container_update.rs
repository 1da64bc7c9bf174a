//! `POST /containers/{id}/update`.

use berth_api::models::{ContainerUpdateResponse, HostConfig};

use crate::client::{escape_segment as esc, Client, Query};
use crate::error::Result;

impl Client {
    /// Sends the resource fields and restart policy set in `changes`; the daemon's warnings.
    pub async fn container_update(
        &self,
        id: &str,
        changes: &HostConfig,
    ) -> Result<ContainerUpdateResponse> {
        let q: Query = Vec::new();
        self.post_json(&format!("/containers/{}/update", esc(id)), &q, changes)
            .await
    }
}
