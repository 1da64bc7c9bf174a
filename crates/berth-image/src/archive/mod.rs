//! `docker save` / `docker load`: image archives in dockerd's formats.
//!
//! * [`ImageService::save`](crate::ImageService::save) writes what docker 25+ writes: an OCI
//!   image layout (`oci-layout`, `index.json`, `blobs/sha256/...`) plus the legacy
//!   `manifest.json` and `repositories`, so dockerd 20.10 (which reads `manifest.json`) and newer
//!   engines both load it. Layers are the stored uncompressed tars, so each layer blob's digest
//!   is its diff id.
//! * [`ImageService::load`](crate::ImageService::load_archive) reads that format, the legacy
//!   docker-archive of dockerd <= 24 (`<id>/layer.tar`, `<id>.json`, `manifest.json`) and plain
//!   OCI layouts (`index.json` -> manifest, or a nested index from which the host platform is
//!   picked). The archive's members are first spooled into the content store's `ingest/`
//!   (hashed on the way, never buffered whole in memory), then every config and layer is
//!   verified against its digest before anything is published; the database rows are written in
//!   one transaction at the end, and a failure removes every blob and layer the load created.

mod error;
mod load;
mod oci;
mod plan;
mod save;
mod spool;
mod verify;

pub use error::ArchiveError;
pub use load::{LoadLimits, LoadReport};
pub use save::SavePlan;
