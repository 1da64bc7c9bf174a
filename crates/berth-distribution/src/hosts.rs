//! Per-registry host configuration in containerd's `hosts.toml` format (containerd's
//! `config_path`, "registry host namespace"): `<dir>/<registry host[:port]>/hosts.toml`, or
//! `<dir>/_default/hosts.toml` for any registry without a directory of its own, says which
//! endpoints a pull of that registry's images tries, in order:
//!
//! ```toml
//! server = "https://registry.k8s.io"          # the upstream, tried last (default: the registry)
//!
//! [host."http://127.0.0.1:5000"]              # a mirror, tried first
//!   capabilities = ["pull", "resolve"]        # default: pull, resolve, push
//!   skip_verify = false                       # HTTPS without checking the certificate
//!   override_path = false                     # the URL's path is the API root itself
//! ```
//!
//! A host is used for pulls when its capabilities include both `pull` and `resolve` (berth
//! resolves a tag and fetches the blobs from one endpoint), for pushes when they include
//! `push`. A host given without a scheme is HTTPS. A failing mirror hands over to the next
//! host; the `server` is the last one.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::endpoint::{Endpoint, Scheme, OFFICIAL_INDEX, OFFICIAL_REGISTRY_HOST};

/// The file name in each registry's directory.
pub const HOSTS_FILE: &str = "hosts.toml";
/// The directory consulted for registries that have none of their own.
pub const DEFAULT_HOST_DIR: &str = "_default";
/// berth's default host configuration directory (containerd's is `/etc/containerd/certs.d`).
pub const DEFAULT_HOSTS_DIR: &str = "/etc/berth/certs.d";

/// A `hosts.toml` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: invalid host {host:?}: {reason}")]
    Host {
        path: String,
        host: String,
        reason: String,
    },
}

/// What a `[host."..."]` table holds.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
struct HostTable {
    capabilities: Option<Vec<String>>,
    skip_verify: Option<bool>,
    override_path: Option<bool>,
    // Accepted for compatibility with containerd's files; not used by berth (yet).
    #[allow(dead_code)]
    ca: Option<toml::Value>,
    #[allow(dead_code)]
    client: Option<toml::Value>,
    #[allow(dead_code)]
    header: Option<toml::Value>,
    #[allow(dead_code)]
    dial_timeout: Option<toml::Value>,
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
struct HostsFile {
    server: Option<String>,
    capabilities: Option<Vec<String>>,
    skip_verify: Option<bool>,
    override_path: Option<bool>,
    /// The `[host."..."]` tables (a sorted map: their order is taken from the text, see
    /// [`host_order`]).
    #[serde(default)]
    host: toml::Table,
    #[allow(dead_code)]
    ca: Option<toml::Value>,
    #[allow(dead_code)]
    client: Option<toml::Value>,
    #[allow(dead_code)]
    header: Option<toml::Value>,
    #[allow(dead_code)]
    dial_timeout: Option<toml::Value>,
}

/// One endpoint of a registry's host configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEndpoint {
    pub endpoint: Endpoint,
    pub pull: bool,
    pub push: bool,
}

/// The host configuration directory (`--registry-config-dir`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsDir {
    dir: PathBuf,
}

/// The directory name containerd uses for a registry: `docker.io` for Docker Hub, else the
/// reference's `host[:port]`. A name holding a path separator or `..` has no directory.
fn dir_name(domain: &str) -> Option<&str> {
    let name = if domain == "index.docker.io" {
        OFFICIAL_INDEX
    } else {
        domain
    };
    (!name.is_empty() && !name.contains('/') && name != "." && name != "..").then_some(name)
}

impl HostsDir {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The file that configures `domain`: its own directory's, else `_default`'s; None when
    /// neither exists.
    pub fn file_for(&self, domain: &str) -> Option<PathBuf> {
        let own = dir_name(domain).map(|d| self.dir.join(d).join(HOSTS_FILE));
        let fallback = self.dir.join(DEFAULT_HOST_DIR).join(HOSTS_FILE);
        own.into_iter().chain([fallback]).find(|p| p.is_file())
    }

    /// The endpoints `domain`'s hosts.toml gives, in order (mirrors, then the server), or None
    /// when no file configures the registry.
    pub fn endpoints(&self, domain: &str) -> Result<Option<Vec<HostEndpoint>>, HostsError> {
        let Some(path) = self.file_for(domain) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path).map_err(|source| HostsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        parse(&text, domain, &path.display().to_string()).map(Some)
    }
}

/// The `[host."..."]` keys in the order the text gives them (a `toml::Table` is sorted).
fn host_order(text: &str, table: &toml::Table) -> Vec<String> {
    let mut keys: Vec<(usize, String)> = table
        .keys()
        .map(|k| {
            let quoted = format!("[host.\"{k}\"]");
            let bare = format!("[host.{k}]");
            let at = text
                .find(&quoted)
                .or_else(|| text.find(&bare))
                .unwrap_or(usize::MAX);
            (at, k.clone())
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

/// `scheme://host[:port][/path]` (no scheme: HTTPS) as an endpoint.
fn endpoint_of(url: &str, override_path: bool, skip_verify: bool) -> Result<Endpoint, String> {
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", r)) => (Scheme::Http, r),
        Some(("https", r)) => (Scheme::Https, r),
        Some((s, _)) => return Err(format!("unsupported scheme {s:?}")),
        None => (Scheme::Https, url),
    };
    if rest.contains('?') || rest.contains('#') || rest.contains('@') {
        return Err("a query, fragment or user part is not allowed".into());
    }
    let rest = rest.trim_end_matches('/');
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    // containerd appends `/v2` to the path unless `override_path` says the path is the API
    // root; berth's client adds `/v2/` itself, so an overriding path ending in it loses it.
    let path = if override_path {
        path.strip_suffix("/v2").unwrap_or(path)
    } else {
        path
    };
    Ok(Endpoint {
        scheme,
        host: host.to_string(),
        path: path.to_string(),
        verify: scheme == Scheme::Https && !skip_verify,
        mirror: true,
    })
}

fn capabilities(list: Option<&Vec<String>>) -> (bool, bool) {
    match list {
        None => (true, true),
        Some(l) => {
            let has = |c: &str| l.iter().any(|x| x == c);
            (has("pull") && has("resolve"), has("push"))
        }
    }
}

/// Parses a hosts.toml for `domain`.
pub fn parse(text: &str, domain: &str, path: &str) -> Result<Vec<HostEndpoint>, HostsError> {
    let file: HostsFile = toml::from_str(text).map_err(|e| HostsError::Parse {
        path: path.to_string(),
        message: e.message().to_string(),
    })?;
    let bad = |host: &str, reason: String| HostsError::Host {
        path: path.to_string(),
        host: host.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for key in host_order(text, &file.host) {
        let value = file
            .host
            .get(&key)
            .cloned()
            .unwrap_or(toml::Value::Boolean(false));
        let t: HostTable = value
            .try_into()
            .map_err(|e: toml::de::Error| bad(&key, e.message().to_string()))?;
        let endpoint = endpoint_of(
            &key,
            t.override_path.unwrap_or(false),
            t.skip_verify.unwrap_or(false),
        )
        .map_err(|r| bad(&key, r))?;
        let (pull, push) = capabilities(t.capabilities.as_ref());
        out.push(HostEndpoint {
            endpoint,
            pull,
            push,
        });
    }
    // The upstream: `server`, else the registry itself (Docker Hub's API host for docker.io).
    let server = match &file.server {
        Some(s) => s.clone(),
        None if domain == OFFICIAL_INDEX || domain == "index.docker.io" => {
            format!("https://{OFFICIAL_REGISTRY_HOST}")
        }
        None => format!("https://{domain}"),
    };
    let mut upstream = endpoint_of(
        &server,
        file.override_path.unwrap_or(false),
        file.skip_verify.unwrap_or(false),
    )
    .map_err(|r| bad(&server, r))?;
    upstream.mirror = false;
    let (pull, push) = capabilities(file.capabilities.as_ref());
    out.push(HostEndpoint {
        endpoint: upstream,
        pull,
        push,
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn urls(eps: &[HostEndpoint]) -> Vec<String> {
        eps.iter()
            .map(|e| {
                format!(
                    "{}{}{}{}",
                    e.endpoint.base_url(),
                    if e.endpoint.verify {
                        ""
                    } else {
                        " (no verify)"
                    },
                    if e.pull { " pull" } else { "" },
                    if e.push { " push" } else { "" },
                )
            })
            .collect()
    }

    #[test]
    fn mirrors_in_file_order_then_the_server() {
        let text = r#"
server = "https://registry.k8s.io"

[host."http://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]

[host."https://a.mirror/prefix/"]
  skip_verify = true

[host."b.mirror:8443"]
  capabilities = ["pull"]
"#;
        let eps = parse(text, "registry.k8s.io", "hosts.toml").unwrap();
        assert_eq!(
            urls(&eps),
            [
                "http://127.0.0.1:5000 (no verify) pull",
                "https://a.mirror/prefix (no verify) pull push",
                "https://b.mirror:8443",
                "https://registry.k8s.io pull push",
            ]
        );
        assert!(eps[0].endpoint.mirror && !eps[3].endpoint.mirror);
    }

    #[test]
    fn server_defaults_to_the_registry_and_may_be_plain_http() {
        let eps = parse("", "gcr.io", "f").unwrap();
        assert_eq!(urls(&eps), ["https://gcr.io pull push"]);
        let eps = parse("", "docker.io", "f").unwrap();
        assert_eq!(urls(&eps), ["https://registry-1.docker.io pull push"]);
        let eps = parse(
            "server = \"http://127.0.0.1:5511\"\ncapabilities = [\"pull\", \"resolve\"]",
            "k8s.gcr.io",
            "f",
        )
        .unwrap();
        assert_eq!(urls(&eps), ["http://127.0.0.1:5511 (no verify) pull"]);
        let eps = parse(
            "[host.\"https://m/v2\"]\noverride_path = true\n",
            "quay.io",
            "f",
        )
        .unwrap();
        assert_eq!(eps[0].endpoint.base_url(), "https://m");
    }

    #[test]
    fn bad_files_are_refused_with_the_path() {
        let e = parse("server = [", "x.io", "/d/x.io/hosts.toml").unwrap_err();
        assert!(e.to_string().starts_with("/d/x.io/hosts.toml: "), "{e}");
        let e = parse("[host.\"ftp://m\"]\n", "x.io", "/f").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/f: invalid host \"ftp://m\": unsupported scheme \"ftp\""
        );
        let e = parse("[host.\"http://m\"]\ncapabilities = 3\n", "x.io", "/f").unwrap_err();
        assert!(
            e.to_string().starts_with("/f: invalid host \"http://m\""),
            "{e}"
        );
    }

    #[test]
    fn own_directory_then_default() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = HostsDir::new(dir.path().to_path_buf());
        assert!(hosts.endpoints("registry.k8s.io").unwrap().is_none());
        std::fs::create_dir_all(dir.path().join("_default")).unwrap();
        std::fs::write(
            dir.path().join("_default/hosts.toml"),
            "server = \"http://127.0.0.1:1\"\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("registry.k8s.io")).unwrap();
        std::fs::write(
            dir.path().join("registry.k8s.io/hosts.toml"),
            "server = \"http://127.0.0.1:2\"\n",
        )
        .unwrap();
        let own = hosts.endpoints("registry.k8s.io").unwrap().unwrap();
        assert_eq!(own[0].endpoint.base_url(), "http://127.0.0.1:2");
        let other = hosts.endpoints("gcr.io").unwrap().unwrap();
        assert_eq!(other[0].endpoint.base_url(), "http://127.0.0.1:1");
        // A domain that would leave the directory has no file of its own.
        assert_eq!(dir_name(".."), None);
    }
}
