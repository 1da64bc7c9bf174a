//! Which URLs to try for a registry, as dockerd chooses them (moby `registry/config.go`,
//! `service_v2.go`): docker.io pulls go to each `registry-mirrors` entry first, then the
//! origin; every registry is tried over HTTPS first; an *insecure* one (listed in
//! `insecure-registries` by `host[:port]`, or whose address falls in one of its CIDRs, which
//! always include `::1/128` and `127.0.0.0/8`) is tried with certificate checks off and then
//! over plain HTTP. Secure registries never fall back.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use crate::certs::{self, CertsError};
use crate::hosts::HostsDir;
use crate::tls::{self, TlsConfigError};

/// The name references use for Docker Hub.
pub const OFFICIAL_INDEX: &str = "docker.io";
/// Where Docker Hub's registry API is.
pub const OFFICIAL_REGISTRY_HOST: &str = "registry-1.docker.io";
/// What dockerd treats as insecure whatever the configuration says.
pub const DEFAULT_INSECURE_CIDRS: &[&str] = &["::1/128", "127.0.0.0/8"];

/// How long a registry host's name may take to resolve for the CIDR check.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// A registry setting that cannot be used, in dockerd's words.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("insecure registry {0} should not contain '://'")]
    InsecureScheme(String),
    #[error("insecure registry {entry} is not valid: {reason}")]
    InsecureInvalid { entry: String, reason: String },
    #[error("invalid index name ({0}). Cannot begin or end with a hyphen")]
    IndexHyphen(String),
    #[error(
        "invalid mirror: no scheme specified for {0:?}: must use either 'https://' or 'http://'"
    )]
    MirrorNoScheme(String),
    #[error("invalid mirror: unsupported scheme {scheme:?} in {url:?}: must use either 'https://' or 'http://'")]
    MirrorScheme { scheme: String, url: String },
    #[error("invalid mirror: query or fragment at end of the URI {0:?}")]
    MirrorQuery(String),
    #[error("invalid mirror: username/password not allowed in URI {0:?}")]
    MirrorUser(String),
    #[error("invalid mirror: {0:?} is not a valid URI")]
    MirrorInvalid(String),
    #[error(transparent)]
    Certs(#[from] CertsError),
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
    #[error(transparent)]
    Hosts(#[from] crate::hosts::HostsError),
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// One place to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    /// `host[:port]` (certs.d is looked up under this name).
    pub host: String,
    /// A path prefix before `/v2/` (mirrors may have one), without a trailing slash.
    pub path: String,
    /// Check the server's certificate (HTTPS only).
    pub verify: bool,
    /// A docker.io mirror: any failure moves on to the next endpoint.
    pub mirror: bool,
}

impl Endpoint {
    /// `scheme://host[/path]`, the base `/v2/...` paths go under.
    pub fn base_url(&self) -> String {
        format!("{}://{}{}", self.scheme.as_str(), self.host, self.path)
    }

    /// The TLS configuration for this endpoint (`None` for plain HTTP). Certificates come
    /// from `<certs_dir>/<host>/` for verified endpoints, as dockerd's `newTLSConfig`.
    pub fn tls_config(
        &self,
        certs_dir: &Path,
    ) -> Result<Option<Arc<rustls::ClientConfig>>, EndpointError> {
        if self.scheme == Scheme::Http {
            return Ok(None);
        }
        let config = if self.verify {
            let host_certs = certs::read_host_certs(certs_dir, &self.host)?;
            tls::verified_config(certs::system_roots(), host_certs)?
        } else {
            tls::insecure_config(certs::HostCerts::default())?
        };
        Ok(Some(Arc::new(config)))
    }
}

/// One registry as `GET /info` shows it under `RegistryConfig.IndexConfigs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexInfo {
    pub name: String,
    pub mirrors: Vec<String>,
    pub secure: bool,
    pub official: bool,
}

/// daemon.json's `insecure-registries`, `registry-mirrors` and berth's `certs-dir`.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryConfig {
    insecure_cidrs: Vec<IpNet>,
    /// `host[:port]` entries of `insecure-registries`, in the order given.
    insecure_hosts: Vec<String>,
    /// Normalised mirror URLs (`scheme://host[:port][/path]/`).
    mirrors: Vec<String>,
    certs_dir: PathBuf,
    /// `--registry-config-dir`: per-registry `hosts.toml` files (crate::hosts).
    hosts: Option<HostsDir>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            insecure_cidrs: DEFAULT_INSECURE_CIDRS
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
            insecure_hosts: Vec::new(),
            mirrors: Vec::new(),
            certs_dir: PathBuf::from(certs::DEFAULT_CERTS_DIR),
            hosts: None,
        }
    }
}

/// `host` and `port` of `host[:port]` (IPv6 in brackets); the host without brackets.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            return (host, after.strip_prefix(':'));
        }
    }
    match s.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (s, None),
    }
}

/// dockerd's `validateHostPort`: a domain (labels of letters, digits, `-`, `_`, `.`) or an IP,
/// with an optional numeric port.
fn validate_host_port(s: &str) -> Result<(), String> {
    let (host, port) = split_host_port(s);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.parse::<IpAddr>().is_err() && !host.split('.').all(label_ok) {
        return Err(format!("invalid host {host:?}"));
    }
    if let Some(p) = port {
        p.parse::<u16>()
            .map_err(|_| format!("invalid port {p:?}"))?;
    }
    Ok(())
}

/// dockerd's `ValidateMirror`: an http(s) URL without credentials, query or fragment;
/// returned with exactly one trailing slash.
pub fn validate_mirror(url: &str) -> Result<String, EndpointError> {
    let Some((scheme, rest)) = url.split_once("://").filter(|(s, _)| !s.is_empty()) else {
        return Err(EndpointError::MirrorNoScheme(url.to_string()));
    };
    if scheme != "http" && scheme != "https" {
        return Err(EndpointError::MirrorScheme {
            scheme: scheme.to_string(),
            url: url.to_string(),
        });
    }
    if rest.contains('?') || rest.contains('#') {
        return Err(EndpointError::MirrorQuery(url.to_string()));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if let Some((user, host)) = authority.split_once('@') {
        let user = user.split(':').next().unwrap_or_default();
        return Err(EndpointError::MirrorUser(format!(
            "{scheme}://{user}:xxxxx@{host}{}",
            &rest[authority.len()..]
        )));
    }
    if authority.is_empty() || validate_host_port(authority).is_err() {
        return Err(EndpointError::MirrorInvalid(url.to_string()));
    }
    Ok(format!("{}/", url.trim_end_matches('/')))
}

impl RegistryConfig {
    /// Checks and normalises the settings as dockerd's `newServiceConfig` does.
    pub fn new(
        insecure_registries: &[String],
        mirrors: &[String],
        certs_dir: PathBuf,
    ) -> Result<Self, EndpointError> {
        let mut config = Self {
            insecure_cidrs: Vec::new(),
            insecure_hosts: Vec::new(),
            mirrors: Vec::new(),
            certs_dir,
            hosts: None,
        };
        for m in mirrors {
            let m = validate_mirror(m)?;
            if !config.mirrors.contains(&m) {
                config.mirrors.push(m);
            }
        }
        let defaults = DEFAULT_INSECURE_CIDRS.iter().map(|s| s.to_string());
        for entry in insecure_registries.iter().cloned().chain(defaults) {
            let mut r = if entry == "index.docker.io" {
                OFFICIAL_INDEX.to_string()
            } else {
                entry.clone()
            };
            if r.starts_with('-') || r.ends_with('-') {
                return Err(EndpointError::IndexHyphen(r));
            }
            let lower = r.to_ascii_lowercase();
            if lower.starts_with("http://") {
                tracing::warn!("insecure registry {r} should not contain 'http://' and 'http://' has been removed from the insecure registry config");
                r = r[7..].to_string();
            } else if lower.starts_with("https://") {
                tracing::warn!("insecure registry {r} should not contain 'https://' and 'https://' has been removed from the insecure registry config");
                r = r[8..].to_string();
            } else if r.contains("://") {
                return Err(EndpointError::InsecureScheme(r));
            }
            if let Ok(net) = r.parse::<IpNet>() {
                let net = net.trunc();
                if !config.insecure_cidrs.contains(&net) {
                    config.insecure_cidrs.push(net);
                }
            } else {
                validate_host_port(&r).map_err(|reason| EndpointError::InsecureInvalid {
                    entry: r.clone(),
                    reason,
                })?;
                if !config.insecure_hosts.contains(&r) {
                    config.insecure_hosts.push(r);
                }
            }
        }
        Ok(config)
    }

    pub fn certs_dir(&self) -> &Path {
        &self.certs_dir
    }

    /// Reads per-registry `hosts.toml` files from `dir` (`--registry-config-dir`).
    pub fn with_hosts_dir(mut self, dir: PathBuf) -> Self {
        self.hosts = Some(HostsDir::new(dir));
        self
    }

    /// The per-registry host configuration directory, when set.
    pub fn hosts_dir(&self) -> Option<&Path> {
        self.hosts.as_ref().map(HostsDir::path)
    }

    /// The endpoints a pull (or push) of `domain` tries, in order: those of the registry's
    /// `hosts.toml` with the capability (read at each call, so edits apply to the next pull),
    /// else dockerd's plan ([`RegistryConfig::endpoints`]).
    pub async fn transfer_endpoints(
        &self,
        domain: &str,
        push: bool,
    ) -> Result<Vec<Endpoint>, EndpointError> {
        if let Some(hosts) = &self.hosts {
            // A small file, read at each pull: not worth a blocking-pool hop.
            if let Some(list) = hosts.endpoints(domain)? {
                let chosen: Vec<Endpoint> = list
                    .into_iter()
                    .filter(|h| if push { h.push } else { h.pull })
                    .map(|h| h.endpoint)
                    .collect();
                if !chosen.is_empty() {
                    return Ok(chosen);
                }
            }
        }
        Ok(self.endpoints(domain, push).await)
    }

    pub fn mirrors(&self) -> &[String] {
        &self.mirrors
    }

    /// The CIDRs as dockerd prints them (`127.0.0.0/8`).
    pub fn insecure_cidrs(&self) -> Vec<String> {
        self.insecure_cidrs.iter().map(|n| n.to_string()).collect()
    }

    /// `RegistryConfig.IndexConfigs`: each insecure `host[:port]`, and docker.io.
    pub fn index_configs(&self) -> Vec<IndexInfo> {
        let mut out: Vec<IndexInfo> = self
            .insecure_hosts
            .iter()
            .filter(|h| h.as_str() != OFFICIAL_INDEX)
            .map(|h| IndexInfo {
                name: h.clone(),
                mirrors: Vec::new(),
                secure: false,
                official: false,
            })
            .collect();
        out.push(IndexInfo {
            name: OFFICIAL_INDEX.to_string(),
            mirrors: self.mirrors.clone(),
            secure: true,
            official: true,
        });
        out
    }

    /// dockerd's `isSecureIndex`, with `addrs` the host's resolved addresses.
    pub fn is_secure(&self, index: &str, addrs: &[IpAddr]) -> bool {
        if index == OFFICIAL_INDEX {
            return true;
        }
        if self.insecure_hosts.iter().any(|h| h == index) {
            return false;
        }
        !addrs
            .iter()
            .any(|a| self.insecure_cidrs.iter().any(|n| n.contains(a)))
    }

    /// The endpoints for a reference's domain, in the order to try, given a resolver for
    /// the CIDR check (pure: the unit tests pass a table).
    pub fn plan(
        &self,
        domain: &str,
        push: bool,
        resolve: impl Fn(&str) -> Vec<IpAddr>,
    ) -> Vec<Endpoint> {
        let mut out = Vec::new();
        let official = domain == OFFICIAL_INDEX || domain == "index.docker.io";
        if official {
            // Mirrors only ever serve pulls.
            if !push {
                for m in &self.mirrors {
                    let (scheme, rest) = m.split_once("://").unwrap_or(("https", m));
                    let rest = rest.trim_end_matches('/');
                    let (host, path) = match rest.find('/') {
                        Some(i) => (&rest[..i], &rest[i..]),
                        None => (rest, ""),
                    };
                    let host_only = split_host_port(host).0;
                    out.push(Endpoint {
                        scheme: if scheme == "http" {
                            Scheme::Http
                        } else {
                            Scheme::Https
                        },
                        host: host.to_string(),
                        path: path.to_string(),
                        verify: self.is_secure(host, &resolve(host_only)),
                        mirror: true,
                    });
                }
            }
            out.push(Endpoint {
                scheme: Scheme::Https,
                host: OFFICIAL_REGISTRY_HOST.to_string(),
                path: String::new(),
                verify: true,
                mirror: false,
            });
            return out;
        }
        let secure = self.is_secure(domain, &resolve(split_host_port(domain).0));
        out.push(Endpoint {
            scheme: Scheme::Https,
            host: domain.to_string(),
            path: String::new(),
            verify: secure,
            mirror: false,
        });
        if !secure {
            out.push(Endpoint {
                scheme: Scheme::Http,
                host: domain.to_string(),
                path: String::new(),
                verify: false,
                mirror: false,
            });
        }
        out
    }

    /// [`RegistryConfig::plan`] with the system resolver (names that do not resolve in time
    /// match no CIDR, as in dockerd).
    pub async fn endpoints(&self, domain: &str, push: bool) -> Vec<Endpoint> {
        let mut hosts: Vec<String> = vec![split_host_port(domain).0.to_string()];
        for m in &self.mirrors {
            let rest = m.split_once("://").map(|(_, r)| r).unwrap_or(m);
            let authority = rest.split('/').next().unwrap_or_default();
            hosts.push(split_host_port(authority).0.to_string());
        }
        let mut resolved: Vec<(String, Vec<IpAddr>)> = Vec::new();
        for h in hosts {
            let addrs = resolve(&h).await;
            resolved.push((h, addrs));
        }
        self.plan(domain, push, |h| {
            resolved
                .iter()
                .find(|(name, _)| name == h)
                .map(|(_, a)| a.clone())
                .unwrap_or_default()
        })
    }
}

async fn resolve(host: &str) -> Vec<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    // A configured CIDR may hold any name's address: look names up, within a time limit.
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, 0))).await {
        Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn table(h: &str) -> Vec<IpAddr> {
        match h {
            "localhost" => vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            "reg.lan" => vec!["10.1.2.3".parse().unwrap()],
            "public.example" => vec!["93.184.216.34".parse().unwrap()],
            h => h.parse().map(|a| vec![a]).unwrap_or_default(),
        }
    }

    fn cfg(insecure: &[&str], mirrors: &[&str]) -> RegistryConfig {
        RegistryConfig::new(
            &insecure.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &mirrors.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            PathBuf::from("/certs"),
        )
        .unwrap()
    }

    fn urls(eps: &[Endpoint]) -> Vec<String> {
        eps.iter()
            .map(|e| {
                format!(
                    "{}{}",
                    e.base_url(),
                    if e.verify { "" } else { " (no verify)" }
                )
            })
            .collect()
    }

    #[test]
    fn loopback_is_insecure_by_default() {
        let c = RegistryConfig::default();
        assert_eq!(
            urls(&c.plan("127.0.0.1:5000", false, table)),
            [
                "https://127.0.0.1:5000 (no verify)",
                "http://127.0.0.1:5000 (no verify)"
            ]
        );
        assert_eq!(
            urls(&c.plan("localhost:5000", true, table)),
            [
                "https://localhost:5000 (no verify)",
                "http://localhost:5000 (no verify)"
            ]
        );
        assert_eq!(
            urls(&c.plan("[::1]:5000", false, table)),
            [
                "https://[::1]:5000 (no verify)",
                "http://[::1]:5000 (no verify)"
            ]
        );
        // Anything else is secure: HTTPS only, verified.
        assert_eq!(
            urls(&c.plan("reg.lan:5000", false, table)),
            ["https://reg.lan:5000"]
        );
        assert_eq!(
            urls(&c.plan("192.0.2.2:443", false, table)),
            ["https://192.0.2.2:443"]
        );
        assert_eq!(c.insecure_cidrs(), ["::1/128", "127.0.0.0/8"]);
    }

    #[test]
    fn cidrs_match_resolved_addresses_and_hosts_match_exactly() {
        let c = cfg(&["10.0.0.0/8", "public.example:5000"], &[]);
        assert_eq!(c.insecure_cidrs(), ["10.0.0.0/8", "::1/128", "127.0.0.0/8"]);
        // reg.lan resolves into 10/8, whatever the port.
        assert!(!c.is_secure("reg.lan:1234", &table("reg.lan")));
        assert_eq!(urls(&c.plan("reg.lan", false, table)).len(), 2);
        // A host entry is exact: another port is secure.
        assert!(!c.is_secure("public.example:5000", &table("public.example")));
        assert!(c.is_secure("public.example:5001", &table("public.example")));
        assert!(c.is_secure("public.example", &table("public.example")));
        // A name that does not resolve matches no CIDR.
        assert!(c.is_secure("unknown.invalid:5000", &[]));
        // docker.io is always secure.
        let all = cfg(&["0.0.0.0/0"], &[]);
        assert!(all.is_secure("docker.io", &[]));
        // A CIDR written with host bits is stored as its network.
        assert_eq!(cfg(&["10.1.2.3/8"], &[]).insecure_cidrs()[0], "10.0.0.0/8");
    }

    #[test]
    fn mirrors_only_for_docker_io_pulls() {
        let c = cfg(
            &[],
            &["http://127.0.0.1:5001", "https://mirror.lan/prefix/"],
        );
        let pull = c.plan("docker.io", false, table);
        assert_eq!(
            urls(&pull),
            [
                "http://127.0.0.1:5001 (no verify)",
                "https://mirror.lan/prefix",
                "https://registry-1.docker.io"
            ]
        );
        assert!(pull[0].mirror && pull[1].mirror && !pull[2].mirror);
        assert_eq!(
            urls(&c.plan("docker.io", true, table)),
            ["https://registry-1.docker.io"]
        );
        assert_eq!(urls(&c.plan("quay.io", false, table)), ["https://quay.io"]);
        assert_eq!(
            c.mirrors(),
            ["http://127.0.0.1:5001/", "https://mirror.lan/prefix/"]
        );
        let info = c.index_configs();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].name, "docker.io");
        assert_eq!(info[0].mirrors, c.mirrors());
    }

    #[test]
    fn bad_settings_are_refused_in_dockerds_words() {
        let err = |insecure: &[&str], mirrors: &[&str]| {
            RegistryConfig::new(
                &insecure.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                &mirrors.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                PathBuf::new(),
            )
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            err(&[], &["mirror.lan"]),
            "invalid mirror: no scheme specified for \"mirror.lan\": must use either 'https://' or 'http://'"
        );
        assert_eq!(
            err(&[], &["ftp://mirror.lan"]),
            "invalid mirror: unsupported scheme \"ftp\" in \"ftp://mirror.lan\": must use either 'https://' or 'http://'"
        );
        assert_eq!(
            err(&[], &["https://u:p@mirror.lan"]),
            "invalid mirror: username/password not allowed in URI \"https://u:xxxxx@mirror.lan\""
        );
        assert_eq!(
            err(&[], &["https://mirror.lan/?x=1"]),
            "invalid mirror: query or fragment at end of the URI \"https://mirror.lan/?x=1\""
        );
        assert_eq!(
            err(&["ftp://reg:5000"], &[]),
            "insecure registry ftp://reg:5000 should not contain '://'"
        );
        assert_eq!(
            err(&["reg:99999"], &[]),
            "insecure registry reg:99999 is not valid: invalid port \"99999\""
        );
        assert_eq!(
            err(&["-reg"], &[]),
            "invalid index name (-reg). Cannot begin or end with a hyphen"
        );
        // http:// is dropped with a warning, as dockerd does.
        let c = cfg(&["http://reg.lan:5000"], &[]);
        assert_eq!(c.index_configs()[0].name, "reg.lan:5000");
    }
}
