//! `/volumes` wire types. berth declares `Volume` itself: the swagger model types `CreatedAt` as
//! a date that does not round-trip dockerd's RFC 3339 text, and `UsageData` must be omitted
//! unless `system df` asked for it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use bollard_stubs::models::{VolumeCreateOptions, VolumePruneResponse, VolumeUsageData};

/// One volume, as `GET /volumes/{name}` and `POST /volumes/create` return it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    #[serde(default)]
    pub created_at: String,
    pub driver: String,
    /// dockerd writes `null` when there are none.
    #[serde(default)]
    pub labels: Option<HashMap<String, String>>,
    pub mountpoint: String,
    pub name: String,
    #[serde(default)]
    pub options: Option<HashMap<String, String>>,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
}

/// `GET /volumes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeListResponse {
    #[serde(default)]
    pub volumes: Option<Vec<Volume>>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}
