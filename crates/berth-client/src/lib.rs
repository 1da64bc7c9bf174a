//! Docker Engine API client over the daemon's unix socket (or tcp).
#![cfg_attr(test, allow(clippy::unwrap_used))]
//!
//! One HTTP/1.1 connection per request; the API version is negotiated on first use
//! (`GET /_ping`, min(server, 1.47)) and every path is prefixed with `/v1.NN`. Non-2xx answers
//! become [`ClientError::Api`] with the daemon's `message`. Attach and exec use hijacked
//! (upgraded) connections; logs, events, wait, import, save and load stream their bodies.

pub mod archive;
pub mod body;
pub mod client;
pub mod container_update;
pub mod containers;
pub mod demux;
pub mod error;
pub mod exec;
pub mod hijack;
pub mod host;
pub mod image_archive;
pub mod images;
pub mod networks;
pub mod observe;
pub mod system;
mod transport;
pub mod volumes;

pub use archive::{CommitOptions, CopyToOptions};
pub use body::{BodyReader, JsonLines, RequestBody};
pub use client::{Client, Ping, MAX_API_VERSION};
pub use containers::{AttachOptions, ListOptions, LogsOptions, WaitHandle};
pub use demux::demux;
pub use error::{ClientError, Result};
pub use hijack::HijackedStream;
pub use host::{Host, DEFAULT_HOST};
pub use image_archive::{BuildMessage, LoadMessage};
pub use images::ImportOptions;
