//! The API sockets: `-H unix:///path` parsed, stale sockets removed, new ones made `0660`
//! and owned by group `docker` when it exists (root otherwise), as dockerd does.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

const SOCKET_MODE: u32 = 0o660;
const SOCKET_GROUP: &str = "docker";

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("invalid host {0:?}: berthd listens only on unix sockets (unix:///path)")]
    Unsupported(String),
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket { path: String },
    #[error("preparing socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The socket path of a `-H` value; `unix://` alone means the default socket.
pub fn parse_host(host: &str, default_path: &Path) -> Result<PathBuf, SocketError> {
    let Some(path) = host.strip_prefix("unix://") else {
        return Err(SocketError::Unsupported(host.to_string()));
    };
    if path.is_empty() {
        return Ok(default_path.to_path_buf());
    }
    if !path.starts_with('/') {
        return Err(SocketError::Unsupported(host.to_string()));
    }
    Ok(PathBuf::from(path))
}

/// Removes what a previous daemon left behind. Only sockets are removed: anything else at the
/// path is a mistake in the configuration.
fn remove_stale(path: &Path) -> Result<(), SocketError> {
    let io = |source| SocketError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path).map_err(io),
        Ok(_) => Err(SocketError::NotASocket {
            path: path.display().to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(e)),
    }
}

/// The gid of group `docker`, if the host has one.
fn socket_group() -> Option<nix::unistd::Gid> {
    nix::unistd::Group::from_name(SOCKET_GROUP)
        .ok()
        .flatten()
        .map(|g| g.gid)
}

/// Binds `path`, replacing a stale socket; removes the socket again when dropped.
pub fn bind(path: &Path) -> Result<(UnixListener, BoundSocket), SocketError> {
    let io = |source| SocketError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    remove_stale(path)?;
    let listener = UnixListener::bind(path).map_err(io)?;
    let bound = BoundSocket {
        path: path.to_path_buf(),
    };
    let gid = socket_group();
    if let Some(gid) = gid {
        nix::unistd::chown(path, None, Some(gid)).map_err(|e| io(std::io::Error::from(e)))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE)).map_err(io)?;
    tracing::info!(socket = %path.display(), group = if gid.is_some() { SOCKET_GROUP } else { "root" }, "API listening");
    Ok((listener, bound))
}

/// A socket file to remove at exit.
#[derive(Debug)]
pub struct BoundSocket {
    pub path: PathBuf,
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(socket = %self.path.display(), error = %e, "removing the API socket");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_must_be_unix_sockets() {
        let def = Path::new("/run/berth/berth.sock");
        assert_eq!(
            parse_host("unix:///tmp/x.sock", def).ok(),
            Some(PathBuf::from("/tmp/x.sock"))
        );
        assert_eq!(parse_host("unix://", def).ok(), Some(def.to_path_buf()));
        assert!(parse_host("tcp://0.0.0.0:2375", def).is_err());
        assert!(parse_host("/tmp/x.sock", def).is_err());
        assert!(parse_host("unix://relative.sock", def).is_err());
    }

    #[tokio::test]
    async fn binds_with_mode_0660_replaces_stale_sockets_and_cleans_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/api.sock");
        let (first, bound) = bind(&path).expect("bind");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        // A crashed daemon leaves its socket: the next one replaces it.
        drop(first);
        std::mem::forget(bound);
        let (_second, bound) = bind(&path).expect("rebind over a stale socket");
        drop(bound);
        assert!(!path.exists());
        // Never remove something that is not a socket.
        std::fs::write(&path, "x").expect("file");
        assert!(matches!(bind(&path), Err(SocketError::NotASocket { .. })));
    }
}
