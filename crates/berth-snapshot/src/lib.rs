//! berth-snapshot: the overlayfs snapshotter.
//!
//! * [`Snapshotter::unpack_layer`] applies a layer tar to `overlay/<chain-id>/diff` once (keyed
//!   by chain id, so images sharing a layer chain share the directory), atomically and safely:
//!   see [`unpack`] for how paths are kept inside the layer.
//! * [`Snapshotter::prepare`] creates a container snapshot `overlay/<id>/{diff,work,merged}` over
//!   a layer chain ([`Snapshotter::prepare_container`] also over the chain's shared init layer,
//!   the bind-mount points of `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`); [`Snapshotter::mount`] mounts it on a target with overlayfs (new mount API,
//!   `mount(2)` fallback), [`Snapshotter::unmount`] undoes that (lazily when busy), and
//!   [`Snapshotter::remove`] deletes it without leftovers.
//! * [`unpack::unpack_layer`] is usable on its own to apply a tar stream under any directory;
//!   [`unpack::unpack_at`] applies one beneath an opened directory (`docker cp` uploads).
//! * [`changes`] computes `docker diff` from an upper dir; [`tree_tar`] archives a tree by
//!   descriptors (export, cp downloads, commit layers with whiteouts); [`container_path`]
//!   resolves and stats paths inside a container's root for `docker cp`.

pub mod changes;
pub mod container_path;
pub mod fsread;
mod init_layer;
pub mod mount;
pub mod mount_view;
mod snapshotter;
mod sys;
pub mod tree_tar;
pub mod unpack;
mod usage;

pub use mount::MountError;
pub use snapshotter::{dir_size, remove_trash, SnapshotError, SnapshotPaths, Snapshotter};
pub use unpack::{UnpackError, UnpackOptions, UnpackStats};
pub use usage::{dir_usage, DirUsage};
