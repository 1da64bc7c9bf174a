//! Build secrets (`RUN --mount=type=secret`). The classic `POST /build` has no field for them,
//! so berth's clients send them in one request header, [`HEADER`]: base64 of a JSON object
//! mapping each secret id to its base64 value. They stay in the daemon's memory for the
//! build; a RUN that mounts one gets it as a file on a private tmpfs (never on disk), bound
//! read-only into its container. Neither the values nor their digests reach an image, a
//! layer, the cache key or the build cache.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use berth_types::{Error, Result};

/// The request header carrying the secrets.
pub const HEADER: &str = "x-berth-build-secrets";

/// Largest total size of a build's secrets (BuildKit's limit for one secret is 500 KiB).
pub const MAX_TOTAL_BYTES: usize = 512 * 1024;

/// Secret values by id. `Debug` never shows a value.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.values.keys()).finish()
    }
}

impl Secrets {
    /// Decodes the [`HEADER`] value.
    pub fn from_header(value: &str) -> Result<Self> {
        let bad =
            |e: &dyn std::fmt::Display| Error::invalid(format!("invalid {HEADER} header: {e}"));
        let b64 = base64::engine::general_purpose::STANDARD;
        let json = b64.decode(value.trim()).map_err(|e| bad(&e))?;
        let map: BTreeMap<String, String> = serde_json::from_slice(&json).map_err(|e| bad(&e))?;
        let mut values = BTreeMap::new();
        let mut total = 0;
        for (id, v) in map {
            if id.is_empty() {
                return Err(bad(&"a secret without an id"));
            }
            let data = b64
                .decode(v)
                .map_err(|e| bad(&format!("secret {id}: {e}")))?;
            total += data.len();
            values.insert(id, data);
        }
        if total > MAX_TOTAL_BYTES {
            return Err(bad(&format!(
                "the secrets are {total} bytes; at most {MAX_TOTAL_BYTES} are accepted"
            )));
        }
        Ok(Self { values })
    }

    pub fn get(&self, id: &str) -> Option<&[u8]> {
        self.values.get(id).map(Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A private tmpfs holding the secret files of one RUN; unmounted and removed on drop.
pub struct SecretDir {
    path: PathBuf,
    mounted: bool,
    next: usize,
}

impl SecretDir {
    /// Mounts a small tmpfs (mode 0700) at a fresh directory below `parent`.
    pub fn new(parent: &Path) -> Result<Self> {
        let path = parent.join(berth_types::id::generate());
        std::fs::create_dir_all(&path)
            .map_err(|e| Error::internal(format!("creating {}: {e}", path.display())))?;
        let mut dir = Self {
            path,
            mounted: false,
            next: 0,
        };
        let size = format!("mode=0700,size={}", MAX_TOTAL_BYTES + 64 * 1024);
        nix::mount::mount(
            Some("tmpfs"),
            &dir.path,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID
                | nix::mount::MsFlags::MS_NODEV
                | nix::mount::MsFlags::MS_NOEXEC,
            Some(size.as_str()),
        )
        .map_err(|e| Error::internal(format!("mounting a tmpfs for build secrets: {e}")))?;
        dir.mounted = true;
        Ok(dir)
    }

    /// Writes one secret file with its owner and mode; returns its host path.
    pub fn write(&mut self, data: &[u8], mode: u32, uid: u32, gid: u32) -> Result<PathBuf> {
        self.next += 1;
        let path = self.path.join(format!("s{}", self.next));
        let io = |e: std::io::Error| Error::internal(format!("writing a build secret: {e}"));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        f.write_all(data).map_err(io)?;
        std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).map_err(io)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io)?;
        Ok(path)
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH) {
                tracing::warn!(path = %self.path.display(), error = %e, "unmounting build secrets");
            }
        }
        if let Err(e) = std::fs::remove_dir(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "removing the build secrets dir");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn header(pairs: &[(&str, &[u8])]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let map: BTreeMap<&str, String> = pairs.iter().map(|(k, v)| (*k, b64.encode(v))).collect();
        b64.encode(serde_json::to_vec(&map).unwrap())
    }

    #[test]
    fn the_header_decodes_and_debug_hides_values() {
        let s = Secrets::from_header(&header(&[("token", b"s3cr3t-value")])).unwrap();
        assert_eq!(s.get("token"), Some(&b"s3cr3t-value"[..]));
        assert!(!format!("{s:?}").contains("s3cr3t"));
        assert!(Secrets::from_header("not base64!").is_err());
        let big = vec![b'x'; MAX_TOTAL_BYTES + 1];
        let e = Secrets::from_header(&header(&[("big", &big)])).unwrap_err();
        assert!(e.message.contains("at most"), "{}", e.message);
    }
}
