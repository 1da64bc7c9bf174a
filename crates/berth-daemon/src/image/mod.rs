//! Images: the daemon's adapter over `berth_image::ImageService`, save/load, search and
//! `fromSrc` imports.

pub(crate) mod archive;
pub(crate) mod body_pipe;
pub(crate) mod fs_usage;
pub(crate) mod namespaces;
pub(crate) mod ops;
pub(crate) mod search;
pub(crate) mod service;

pub use namespaces::{CRI_NAMESPACE, DEFAULT_NAMESPACE};
pub use service::ImageInfo;
