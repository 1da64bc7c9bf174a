//! htpasswd files with bcrypt entries (`htpasswd -B`), as the reference registry reads them.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

/// Why an htpasswd file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    #[error("reading htpasswd file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("htpasswd file {path} line {line}: only bcrypt entries (htpasswd -B) are supported")]
    NotBcrypt { path: String, line: usize },
}

/// Users and their bcrypt hashes.
#[derive(Debug)]
pub struct Htpasswd {
    users: HashMap<String, String>,
    /// sha256 of `user:password` pairs that verified, so a client sending Basic auth on every
    /// request pays for bcrypt once, not per request.
    verified: Mutex<HashSet<[u8; 32]>>,
}

/// How many verified credentials are remembered before the set starts over.
const VERIFIED_CACHE_LIMIT: usize = 1024;

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Self, HtpasswdError> {
        let text = std::fs::read_to_string(path).map_err(|source| HtpasswdError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, HtpasswdError> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(HtpasswdError::NotBcrypt {
                    path: origin.into(),
                    line: i + 1,
                });
            };
            if !hash.starts_with("$2") {
                return Err(HtpasswdError::NotBcrypt {
                    path: origin.into(),
                    line: i + 1,
                });
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Self {
            users,
            verified: Mutex::default(),
        })
    }

    /// Whether `password` is `user`'s.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update(b":")
            .chain_update(password.as_bytes())
            .chain_update(b":")
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.contains(&key) {
            return true;
        }
        drop(verified);
        if !bcrypt::verify(password, hash).unwrap_or(false) {
            return false;
        }
        verified = self
            .verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if verified.len() >= VERIFIED_CACHE_LIMIT {
            verified.clear();
        }
        verified.insert(key);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_bcrypt_entries_only() {
        // As `htpasswd -B` writes them ($2y$).
        let hash = bcrypt::hash("s3cret", 4)
            .expect("hash")
            .replacen("$2b$", "$2y$", 1);
        let file = Htpasswd::parse(&format!("# users\nalice:{hash}\n"), "test").expect("parse");
        assert!(file.verify("alice", "s3cret"));
        assert!(file.verify("alice", "s3cret"), "cached");
        assert!(!file.verify("alice", "wrong"));
        assert!(!file.verify("bob", "s3cret"));
        assert!(Htpasswd::parse("bob:{SHA}abc", "test").is_err());
        assert!(Htpasswd::parse("bob", "test").is_err());
    }
}
