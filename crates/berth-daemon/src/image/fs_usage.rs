//! How much of its filesystem the image store takes: the CRI's `ImageFsInfo` (kubelet's image
//! garbage collection compares it with the filesystem's capacity).

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use berth_types::{Error, Result};

use crate::daemon::Daemon;

/// The usage of the directory that holds unpacked layers and container layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsUsage {
    /// The directory measured (`<data-root>/overlay`).
    pub path: PathBuf,
    /// When it was measured.
    pub timestamp: SystemTime,
    /// Bytes of the blocks its files occupy (a hard-linked file counted once).
    pub used_bytes: u64,
    /// Inodes it uses (directories included, hard links counted once).
    pub inodes_used: u64,
}

/// Walks `root` without following symlinks and without leaving its filesystem. Entries that
/// vanish during the walk (a layer being removed) are skipped.
pub fn measure(root: &Path) -> std::io::Result<FsUsage> {
    let top = std::fs::symlink_metadata(root)?;
    let dev = top.dev();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut used_bytes = 0u64;
    let mut stack = vec![root.to_path_buf()];
    seen.insert(top.ino());
    used_bytes += top.blocks() * 512;
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            let Ok(md) = entry.metadata() else { continue };
            if md.dev() != dev || !seen.insert(md.ino()) {
                continue;
            }
            used_bytes += md.blocks() * 512;
            if md.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(FsUsage {
        path: root.to_path_buf(),
        timestamp: SystemTime::now(),
        used_bytes,
        inodes_used: seen.len() as u64,
    })
}

impl Daemon {
    /// The image filesystem's usage: `<data-root>/overlay`, where layers are unpacked.
    pub async fn image_fs_usage(&self) -> Result<FsUsage> {
        let root = self.config.data_root.join("overlay");
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&root)
                .and_then(|()| measure(&root))
                .map_err(|e| Error::internal(format!("measuring {}: {e}", root.display())))
        })
        .await
        .map_err(|e| Error::internal(format!("image fs task: {e}")))?
    }

    /// The data root (`--data-root`).
    pub fn data_root(&self) -> &Path {
        &self.config.data_root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_blocks_and_inodes_once_per_hard_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("a");
        std::fs::create_dir(&sub).expect("mkdir");
        std::fs::write(sub.join("f"), vec![7u8; 64 * 1024]).expect("write");
        std::fs::hard_link(sub.join("f"), dir.path().join("g")).expect("link");
        std::os::unix::fs::symlink("/etc", dir.path().join("l")).expect("symlink");
        let u = measure(dir.path()).expect("measure");
        // root, a, f (= g), l
        assert_eq!(u.inodes_used, 4);
        assert!(u.used_bytes >= 64 * 1024, "{u:?}");
        assert!(u.used_bytes < 2 * 64 * 1024 + 3 * 8192, "{u:?}");
    }
}
