//! Content digests: `sha256:<64 hex>` (what berth writes) and `sha512:<128 hex>` (accepted
//! wherever a digest is read, as the OCI image spec registers both).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha512};

use crate::Error;

/// A registered digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    /// The name in a digest string (`sha256`, `sha512`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// How many hex characters the encoded hash has.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }

    /// Every algorithm, in the order digests of them sort.
    pub const ALL: [Algorithm; 2] = [Self::Sha256, Self::Sha512];
}

/// A content digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The sha256 digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self::of_with(Algorithm::Sha256, data)
    }
    /// The digest of `data` with `algorithm`.
    pub fn of_with(algorithm: Algorithm, data: &[u8]) -> Self {
        let hex = match algorithm {
            Algorithm::Sha256 => hex::encode(Sha256::digest(data)),
            Algorithm::Sha512 => hex::encode(Sha512::digest(data)),
        };
        Self { algorithm, hex }
    }
    /// A digest from a finished sha256 hasher.
    pub fn from_hasher(hasher: Sha256) -> Self {
        Self {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(hasher.finalize()),
        }
    }
    /// A digest from a finished sha512 hasher.
    pub fn from_sha512_hasher(hasher: Sha512) -> Self {
        Self {
            algorithm: Algorithm::Sha512,
            hex: hex::encode(hasher.finalize()),
        }
    }
    /// The hex characters, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
    /// The algorithm's name (`sha256`, `sha512`).
    pub fn algorithm(&self) -> &'static str {
        self.algorithm.name()
    }
    /// The algorithm.
    pub fn hash_algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let (algorithm, hex) = if let Some(hex) = s.strip_prefix("sha256:") {
            (Algorithm::Sha256, hex)
        } else if let Some(hex) = s.strip_prefix("sha512:") {
            (Algorithm::Sha512, hex)
        } else {
            return Err(Error::invalid(format!(
                "invalid digest {s:?}: unsupported algorithm"
            )));
        };
        if hex.len() != algorithm.hex_len()
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::invalid(format!(
                "invalid checksum digest format: {s:?}"
            )));
        }
        Ok(Self {
            algorithm,
            hex: hex.to_string(),
        })
    }
}

impl TryFrom<String> for Digest {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_round_trips_and_rejects_garbage() {
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.to_string().parse::<Digest>().ok(), Some(d));
        assert!("md5:abc".parse::<Digest>().is_err());
        assert!("sha256:xyz".parse::<Digest>().is_err());
    }

    #[test]
    fn sha512_digests() {
        let d = Digest::of_with(Algorithm::Sha512, b"");
        assert_eq!(d.algorithm(), "sha512");
        assert_eq!(
            d.to_string(),
            "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
             47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        );
        assert_eq!(d.to_string().parse::<Digest>().ok(), Some(d));
        // A sha256-length hash under the sha512 name is malformed.
        let short = format!("sha512:{}", Digest::of(b"").hex());
        assert!(short.parse::<Digest>().is_err());
    }
}
