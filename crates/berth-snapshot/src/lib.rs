//! berth-snapshot: the overlayfs snapshotter.
//!
//! * [`Snapshotter::unpack_layer`] applies a layer tar to `overlay/<chain-id>/diff` once (keyed
//!   by chain id, so images sharing a layer chain share the directory), atomically and safely:
//!   see [`unpack`] for how paths are kept inside the layer.
//! * [`Snapshotter::prepare`] creates a container snapshot `overlay/<id>/{diff,work,merged}` over
//!   a layer chain; [`Snapshotter::mount`] mounts it on a target with overlayfs (new mount API,
//!   `mount(2)` fallback), [`Snapshotter::unmount`] undoes that (lazily when busy), and
//!   [`Snapshotter::remove`] deletes it without leftovers.
//! * [`unpack::unpack_layer`] is usable on its own to apply a tar stream under any directory.

pub mod mount;
mod snapshotter;
mod sys;
pub mod unpack;

pub use mount::MountError;
pub use snapshotter::{dir_size, SnapshotError, SnapshotPaths, Snapshotter};
pub use unpack::{UnpackError, UnpackStats};
