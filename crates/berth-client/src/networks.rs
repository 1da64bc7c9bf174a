//! `/networks` calls.

use berth_api::models::{
    EndpointSettings, Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneResponse,
};
use berth_api::Filters;
use bytes::Bytes;

use crate::client::{escape_segment as esc, Client, Query};
use crate::error::Result;

fn filter_query(filters: &Filters) -> Query<'static> {
    if filters.is_empty() {
        Vec::new()
    } else {
        vec![("filters", filters.to_json())]
    }
}

impl Client {
    pub async fn network_list(&self, filters: &Filters) -> Result<Vec<Network>> {
        self.get_json("/networks", &filter_query(filters)).await
    }

    /// The raw inspect body (field order kept).
    pub async fn network_inspect_raw(&self, name: &str) -> Result<Bytes> {
        self.get_raw(&format!("/networks/{}", esc(name)), &Vec::new())
            .await
    }

    pub async fn network_create(
        &self,
        req: &NetworkCreateRequest,
    ) -> Result<NetworkCreateResponse> {
        self.post_json("/networks/create", &Vec::new(), req).await
    }

    pub async fn network_remove(&self, name: &str) -> Result<()> {
        self.delete(&format!("/networks/{}", esc(name)), &Vec::new())
            .await
            .map(|_| ())
    }

    pub async fn network_connect(
        &self,
        network: &str,
        container: &str,
        endpoint: Option<EndpointSettings>,
    ) -> Result<()> {
        let body = NetworkConnectRequest {
            container: Some(container.to_string()),
            endpoint_config: endpoint,
        };
        self.post_json_no_reply(&format!("/networks/{}/connect", esc(network)), &body)
            .await
    }

    pub async fn network_disconnect(
        &self,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let body = NetworkDisconnectRequest {
            container: Some(container.to_string()),
            force: Some(force),
        };
        self.post_json_no_reply(&format!("/networks/{}/disconnect", esc(network)), &body)
            .await
    }

    pub async fn network_prune(&self, filters: &Filters) -> Result<NetworkPruneResponse> {
        let resp = self.post("/networks/prune", &filter_query(filters)).await?;
        let raw = crate::body::collect(resp.into_body()).await?;
        Ok(serde_json::from_slice(&raw)?)
    }
}
