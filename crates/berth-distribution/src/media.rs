//! Manifest media types and the documents berth reads and writes.

use serde::{Deserialize, Serialize};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// What a manifest GET accepts, as dockerd asks.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// The largest manifest berth reads (the reference registry's limit).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// A manifest or an index: the fields of either.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<Descriptor>,
}

impl Document {
    pub fn is_index(&self, content_type: &str) -> bool {
        let t = if self.media_type.is_empty() {
            content_type
        } else {
            self.media_type.as_str()
        };
        t == DOCKER_LIST || t == OCI_INDEX || (self.config.is_none() && !self.manifests.is_empty())
    }

    /// The entry of an index for `os`/`arch` (the first match).
    pub fn select(&self, os: &str, arch: &str) -> Option<&Descriptor> {
        self.select_platform(&Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: None,
        })
    }

    /// The entry of an index for `wanted`: os and architecture equal; a variant, when asked
    /// for, equal too (arm64's `v8` is what an entry without a variant means). Without a
    /// variant asked for, an entry without one is preferred, then the first.
    pub fn select_platform(&self, wanted: &Platform) -> Option<&Descriptor> {
        let default_variant = |arch: &str| (arch == "arm64").then_some("v8");
        let mut candidates = self.manifests.iter().filter(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == wanted.os && p.architecture == wanted.architecture)
        });
        match wanted.variant.as_deref() {
            Some(v) => candidates.find(|d| {
                let have = d
                    .platform
                    .as_ref()
                    .and_then(|p| p.variant.as_deref())
                    .or_else(|| default_variant(&wanted.architecture));
                have == Some(v)
            }),
            None => {
                let all: Vec<_> = candidates.collect();
                all.iter()
                    .find(|d| d.platform.as_ref().is_some_and(|p| p.variant.is_none()))
                    .or(all.first())
                    .copied()
            }
        }
    }
}

impl Platform {
    /// Parses `os[/arch[/variant]]` as `--platform` takes it (`linux/arm64/v8`, `linux/amd64`);
    /// architecture aliases are normalised as containerd does (`x86_64` -> `amd64`,
    /// `aarch64` -> `arm64`).
    pub fn parse(s: &str) -> Option<Self> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        let os = parts[0].to_ascii_lowercase();
        let arch = parts
            .get(1)
            .map(|a| a.to_ascii_lowercase())
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let (architecture, implied_variant) = match arch.as_str() {
            "x86_64" | "x86-64" => ("amd64".to_string(), None),
            "aarch64" => ("arm64".to_string(), None),
            "armhf" => ("arm".to_string(), Some("v7")),
            "armel" => ("arm".to_string(), Some("v6")),
            "i386" => ("386".to_string(), None),
            _ => (arch, None),
        };
        let variant = parts
            .get(2)
            .map(|v| v.to_ascii_lowercase())
            .or(implied_variant.map(str::to_string));
        Some(Self {
            architecture,
            os,
            variant,
        })
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>, digest: &str) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest.into(),
            size: 1,
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(str::to_string),
            }),
        }
    }

    #[test]
    fn platforms_parse_and_select() {
        let p = Platform::parse("linux/arm/v7");
        assert_eq!(
            p.as_ref().map(ToString::to_string).as_deref(),
            Some("linux/arm/v7")
        );
        assert_eq!(
            Platform::parse("linux/x86_64").map(|p| p.architecture),
            Some("amd64".to_string())
        );
        assert_eq!(Platform::parse("linux//v7"), None);
        let index = Document {
            manifests: vec![
                entry("amd64", None, "a"),
                entry("arm", Some("v6"), "b"),
                entry("arm", Some("v7"), "c"),
                entry("arm64", Some("v8"), "d"),
            ],
            ..Default::default()
        };
        let pick = |s: &str| {
            Platform::parse(s).and_then(|p| index.select_platform(&p).map(|d| d.digest.clone()))
        };
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("c"));
        assert_eq!(pick("linux/arm").as_deref(), Some("b"));
        assert_eq!(pick("linux/arm64").as_deref(), Some("d"));
        assert_eq!(pick("linux/arm64/v8").as_deref(), Some("d"));
        assert_eq!(pick("linux/amd64").as_deref(), Some("a"));
        assert_eq!(pick("linux/s390x"), None);
        assert_eq!(pick("windows/amd64"), None);
    }
}
