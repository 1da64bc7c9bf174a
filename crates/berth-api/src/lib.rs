//! Docker Engine API wire types.
//!
//! The response and request bodies are the models generated from moby's swagger spec
//! (`bollard-stubs`), re-exported as [`models`]; this crate adds what the spec leaves implicit:
//! API versions, the error body, query-parameter structs and the stream framing constants.

pub use bollard_stubs::models;

pub mod container;
pub mod filters;
pub mod version;
pub mod stdcopy;

use serde::{Deserialize, Serialize};

/// dockerd's error body: `{"message": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}

pub use container::ContainerCreateBody;
pub use filters::Filters;
