//! Docker Engine API wire types.
//!
//! The response and request bodies are the models generated from moby's swagger spec
//! (`bollard-stubs`), re-exported as [`models`]; this crate adds what the spec leaves implicit:
//! API versions, the error body, query-parameter structs and the stream framing constants.

pub use bollard_stubs::models;

pub mod archive;
pub mod check;
pub mod container;
pub mod filters;
pub mod gojson;
pub mod stats;
pub mod stdcopy;
pub mod stream;
pub mod version;
pub mod volume;

use serde::{Deserialize, Serialize};

/// dockerd's error body: `{"message": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}

pub use check::{CheckProblem, SystemCheckReport};
pub use container::ContainerCreateBody;
pub use filters::Filters;

/// `GET /version`. The swagger model types `Components[].Details` as an empty object, but the
/// docker CLI prints its string entries, so berth declares the response itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SystemVersion {
    pub platform: VersionPlatform,
    pub components: Vec<VersionComponent>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub experimental: bool,
    pub build_time: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionPlatform {
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionComponent {
    pub name: String,
    pub version: String,
    pub details: std::collections::BTreeMap<String, String>,
}
