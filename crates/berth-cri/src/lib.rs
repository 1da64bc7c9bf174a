//! berth's Kubernetes CRI v1 endpoint: `runtime.v1.RuntimeService` and `runtime.v1.ImageService`
//! over gRPC (tonic/prost) on a unix socket. Like the Docker API front end (`berth-server`), it
//! parses a request, calls the daemon's services and converts the answer; behaviour lives in
//! `berth-daemon`. See docs/cri.md for the state of each RPC.

pub mod proto {
    //! The CRI v1 types, servers and clients, generated from proto/api.proto (cri-api v0.37.0).
    #![allow(clippy::all, clippy::unwrap_used, clippy::undocumented_unsafe_blocks)]
    tonic::include_proto!("runtime.v1");
}

mod checkpoint;
mod config;
mod container;
mod deadline;
mod error;
mod events;
mod images;
mod metrics;
mod runtime;
mod sandbox;
mod server;
mod stats;
mod streaming;
mod streams;

pub use config::CriConfig;
pub use server::{serve, CriError};

/// The name `Version` reports.
pub const RUNTIME_NAME: &str = "berth";
/// The CRI API version served.
pub const RUNTIME_API_VERSION: &str = "v1";
/// The `version` field of `Version`: the kubelet API version the runtime speaks.
pub const KUBELET_API_VERSION: &str = "0.1.0";
