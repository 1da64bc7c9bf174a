//! Images: the daemon's adapter over `berth_image::ImageService`, save/load, search and
//! `fromSrc` imports.

pub(crate) mod archive;
pub(crate) mod body_pipe;
pub(crate) mod ops;
pub(crate) mod search;
