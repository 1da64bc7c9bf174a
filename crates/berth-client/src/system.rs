//! `/version`, `/info`, `/events`, `/system/df`, `/berth/check`.

use crate::body::JsonLines;
use crate::client::{Client, Query};
use crate::error::Result;
use berth_api::Filters;

impl Client {
    /// `GET /version` as JSON (kept untyped: servers add components freely).
    pub async fn version(&self) -> Result<serde_json::Value> {
        self.get_json("/version", &Vec::new()).await
    }

    /// `GET /system/df`; `types` picks parts (`image`, `container`, `volume`, `build-cache`).
    pub async fn system_df(
        &self,
        types: &[&str],
    ) -> Result<berth_api::models::SystemDataUsageResponse> {
        let q: Query = types.iter().map(|t| ("type", t.to_string())).collect();
        self.get_json("/system/df", &q).await
    }

    /// `GET /berth/check` (berth only): the image store's integrity report.
    pub async fn system_check(&self) -> Result<berth_api::SystemCheckReport> {
        self.get_json("/berth/check", &Vec::new()).await
    }

    /// `GET /info` as JSON.
    pub async fn info(&self) -> Result<serde_json::Value> {
        self.get_json("/info", &Vec::new()).await
    }

    /// The event stream; `since`/`until` are unix timestamps (`secs[.nanos]`).
    pub async fn events(
        &self,
        since: Option<&str>,
        until: Option<&str>,
        filters: &Filters,
    ) -> Result<JsonLines<serde_json::Value>> {
        let mut q: Query = Vec::new();
        if let Some(s) = since {
            q.push(("since", s.to_string()));
        }
        if let Some(u) = until {
            q.push(("until", u.to_string()));
        }
        if !filters.is_empty() {
            q.push(("filters", filters.to_json()));
        }
        let resp = self.get("/events", &q).await?;
        Ok(JsonLines::new(resp.into_body()))
    }
}
