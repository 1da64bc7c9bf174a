//! `docker cp` wire types: the `X-Docker-Container-Path-Stat` header of
//! `GET`/`HEAD /containers/{id}/archive`.

use serde::{Deserialize, Serialize};

/// The header's name.
pub const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// dockerd's `ContainerPathStat`, sent as base64 JSON in [`PATH_STAT_HEADER`]. `mode` carries
/// Go's `os.FileMode` bits (directory `1 << 31`, symlink `1 << 27`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    /// RFC 3339 with nanoseconds.
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.ModeDir` and `os.ModeSymlink` (all of Go's bits: `berth_types::gocompat::filemode`).
pub use berth_types::gocompat::filemode::{MODE_DIR, MODE_SYMLINK};

impl ContainerPathStat {
    pub fn is_dir(&self) -> bool {
        self.mode & MODE_DIR != 0
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & MODE_SYMLINK != 0
    }
}
