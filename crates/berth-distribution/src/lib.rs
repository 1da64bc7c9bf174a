//! A registry client for the OCI distribution protocol: `/v2/` ping, manifests (Docker schema2,
//! OCI, manifest lists and indexes), blob download with digest verification, blob upload with
//! a HEAD check, and auth (anonymous, Basic, and the Bearer token flow from
//! `WWW-Authenticate`). Plain HTTP only for now: what dockerd allows for 127.0.0.0/8 and
//! `insecure-registries`.

mod auth;
mod client;
mod error;
pub mod media;
mod transfer;

pub use auth::{Credentials, WwwAuthenticate};
pub use client::{BlobSink, RegistryClient};
pub use error::DistributionError;
pub use transfer::{Mount, MAX_RESUMES};
