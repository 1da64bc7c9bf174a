//! berth-image: the image store behind `docker images`, `import`, `inspect`, `history`, `tag`
//! and `rmi`, and the container snapshots made from images.
//!
//! Everything goes through [`ImageService`] (a synchronous API; the daemon calls it from
//! `spawn_blocking`):
//!
//! | call | does |
//! |------|------|
//! | [`ImageService::open`]`(data_root, db)` | migrates the `images` tables, opens `content/` and `overlay/` |
//! | [`ImageService::import`]`(reader, ImportOptions)` | `docker import`: plain/gzip/zstd tar -> one-layer image |
//! | [`ImageService::resolve`]`(name)` / [`ImageService::resolve_id`] | id, `sha256:` id, unique prefix, `repo[:tag]`, `repo@digest` -> [`Image`] |
//! | [`ImageService::list`], [`ImageService::inspect`], [`ImageService::history`] | the API models from `berth_api::models` |
//! | [`ImageService::tag`], [`ImageService::remove`] | dockerd's tag/rmi semantics and conflict messages |
//! | [`ImageService::prune`], [`ImageService::disk_usage`] | `image prune` and the image part of `system df` |
//! | [`ImageService::collect_garbage`], [`ImageService::leases`] | GC of unreferenced blobs and layers; leases for writers |
//! | [`ImageService::check`] | `berth system check`: blob digests and every reference |
//! | [`ImageService::save_plan`] / [`ImageService::save`] / [`ImageService::load_archive`] | `docker save` / `docker load` ([`archive`]) |
//! | [`ImageService::snapshot_prepare`]`(container_id, &image)` | `overlay/<container-id>/{diff,work,merged}` over the image's layers |
//! | [`ImageService::commit`]`(write_layer, CommitOptions)` | `docker commit`: parent image + one layer tar -> new image |
//! | [`ImageService::snapshot_mount`] / [`ImageService::snapshot_unmount`] / [`ImageService::snapshot_remove`] | mount on a target, unmount, delete |
//!
//! Storage: image and layer rows, references and tag times in `berth.db`; the image config and
//! each layer's uncompressed tar as blobs (`content/blobs/sha256/`); unpacked layers under
//! `overlay/<chain-id>/diff`, shared by every image with the same chain. The image id is the
//! sha256 of the config bytes, as in dockerd. Errors are [`ImageError`], which converts into
//! [`berth_types::Error`] with dockerd's wording (`No such image: busybox:latest`, `conflict: ...`).

pub mod archive;
mod blob_sources;
mod build_cache;
pub mod changes;
mod check;
pub mod commit;
pub mod compression;
pub mod config;
mod error;
mod filtering;
mod gc;
mod prune;
mod pulled;
mod query;
pub use query::InspectedImage;
mod records;
mod remove;
mod service;
mod usage;

pub use archive::{ArchiveError, LoadLimits, LoadReport, SavePlan};
pub use berth_snapshot::SnapshotPaths;
pub use blob_sources::BlobSource;
pub use build_cache::{CacheEntry, CachePruneReport};
pub use changes::ChangeError;
pub use commit::{merge_container_config, scratch, CommitOptions};
pub use config::{HealthConfig, ImageConfig, RunConfig};
pub use error::ImageError;
pub use filtering::{match_prune_labels, parse_timestamp};
pub use gc::GcReport;
pub use prune::PruneReport;
pub use pulled::{PullSession, PulledLayer};
pub use remove::ImageUser;
pub use service::{go_arch, Image, ImageService, ImportOptions, ImportResult, DEFAULT_NAMESPACE};
pub use usage::ImageUsage;
