//! The data and exec roots, with dockerd's modes (data root `0710`, exec root `0700`).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

pub const DATA_ROOT_MODE: u32 = 0o710;
pub const EXEC_ROOT_MODE: u32 = 0o700;
/// An exec root that holds an API socket must be traversable by the socket's group.
pub const EXEC_ROOT_WITH_SOCKET_MODE: u32 = 0o711;

#[derive(Debug, thiserror::Error)]
#[error("creating {path}: {source}")]
pub struct DirError {
    path: String,
    source: std::io::Error,
}

/// Creates `path` (and parents) and sets its mode, also when it already existed.
pub fn ensure(path: &Path, mode: u32) -> Result<(), DirError> {
    let err = |source| DirError {
        path: path.display().to_string(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_and_fixes_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("a/b");
        ensure(&root, DATA_ROOT_MODE).expect("create");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o710);
        ensure(&root, EXEC_ROOT_MODE).expect("existing");
        assert_eq!(mode(&root), 0o700);
    }
}
