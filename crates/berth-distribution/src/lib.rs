//! A registry client for the OCI distribution protocol: `/v2/` ping, manifests (Docker schema2,
//! OCI, manifest lists and indexes), blob download with digest verification, blob upload with
//! a HEAD check, and auth (anonymous, Basic, and the Bearer token flow from
//! `WWW-Authenticate`). Endpoints are chosen as dockerd chooses them (`endpoint`): HTTPS with
//! the system roots and `certs.d` (`certs`, `tls`), insecure registries with an HTTP fallback,
//! and `registry-mirrors` for docker.io pulls; per-registry `hosts.toml` files (`hosts`,
//! containerd's format) put mirrors and plain-HTTP endpoints in front of any registry.

mod auth;
pub mod certs;
mod client;
pub mod endpoint;
mod error;
pub mod hosts;
pub mod media;
pub mod tls;
mod transfer;

pub use auth::{Credentials, WwwAuthenticate};
pub use client::{BlobSink, RegistryClient};
pub use endpoint::{Endpoint, RegistryConfig};
pub use error::DistributionError;
pub use transfer::{Mount, MAX_RESUMES};
