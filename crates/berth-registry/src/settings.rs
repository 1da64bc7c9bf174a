//! The server's settings as a config file (TOML for `berth registry serve --config`) or the
//! `registry` object of berthd's daemon.json spells them; [`Settings::build`] turns them into
//! a running configuration. Every key is optional except `root`. See docs/registry.md.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::htpasswd::{Htpasswd, HtpasswdError};
use crate::auth::issuer::{AccessRule, IssuerConfig, IssuerError, TokenIssuer};
use crate::auth::token::{TokenConfigError, TokenVerifier};
use crate::auth::Auth;
use crate::gc::GcOptions;
use crate::tls::TlsError;
use crate::Config;

/// Why settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("invalid duration {0:?} (use e.g. 90s, 10m, 1h or a number of seconds)")]
    Duration(String),
    #[error("no storage root: set `root` in the config file or pass --root")]
    NoRoot,
    #[error("auth: choose one of htpasswd and token")]
    TwoAuthMethods,
    #[error("auth.token: {0} is required")]
    TokenMissing(&'static str),
    #[error("token_issuer needs auth.token (its service and issuer)")]
    IssuerWithoutToken,
    #[error(transparent)]
    Htpasswd(#[from] HtpasswdError),
    #[error(transparent)]
    TokenConfig(#[from] TokenConfigError),
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Everything `serve` can be told.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Listen address (default 127.0.0.1:5000).
    pub addr: Option<SocketAddr>,
    /// Storage directory.
    pub root: Option<PathBuf>,
    #[serde(default, rename = "read_only", alias = "read-only")]
    pub read_only: bool,
    pub tls: Option<TlsSettings>,
    #[serde(default)]
    pub auth: AuthSettings,
    pub token_issuer: Option<IssuerSettings>,
    #[serde(default)]
    pub gc: GcSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CAs whose certificates clients must present (none: no client certificates asked for).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clientcas: Vec<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub htpasswd: Option<HtpasswdSettings>,
    pub token: Option<TokenSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HtpasswdSettings {
    #[serde(default = "default_realm")]
    pub realm: String,
    pub path: PathBuf,
}

fn default_realm() -> String {
    "berth-registry".into()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// The token endpoint; with a `token_issuer` and no realm, `/token` on the host asked.
    pub realm: Option<String>,
    pub service: Option<String>,
    pub issuer: Option<String>,
    /// Certificates whose keys sign valid tokens; with a `token_issuer`, its own key is
    /// trusted as well.
    pub rootcertbundle: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// Users who may get tokens.
    pub htpasswd: PathBuf,
    /// PKCS#8 PEM EC P-256 signing key; absent: a new key at each start.
    pub key: Option<PathBuf>,
    /// Token lifetime (default 5m).
    pub expiration: Option<String>,
    /// Access rules; none: every authenticated user gets whatever it asks for.
    #[serde(default)]
    pub access: Vec<AccessRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GcSettings {
    /// Run garbage collection this often inside the server (absent or 0: never).
    pub interval: Option<String>,
    /// Nothing younger than this is collected (default 1h).
    pub grace: Option<String>,
    #[serde(default)]
    pub delete_untagged: bool,
}

/// Parses `90s`, `10m`, `2h`, `1d` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, SettingsError> {
    let bad = || SettingsError::Duration(s.to_string());
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

/// Settings made ready to run.
pub struct Built {
    pub addr: SocketAddr,
    pub root: PathBuf,
    pub config: Config,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Periodic collection: how often, and how.
    pub gc: Option<(Duration, GcOptions)>,
}

impl Settings {
    /// Reads a TOML config file.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// Loads keys, certificates and users and checks the combination.
    pub fn build(&self) -> Result<Built, SettingsError> {
        let root = self.root.clone().ok_or(SettingsError::NoRoot)?;
        let addr = self
            .addr
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5000)));
        let tls = match &self.tls {
            Some(t) => Some(crate::tls::load_server_config_with_client_cas(
                &t.cert,
                &t.key,
                &t.clientcas,
            )?),
            None => None,
        };
        let issuer = match (&self.token_issuer, &self.auth.token) {
            (Some(_), None) => return Err(SettingsError::IssuerWithoutToken),
            (Some(i), Some(t)) => Some(Arc::new(TokenIssuer::new(
                &i.htpasswd,
                IssuerConfig {
                    issuer: t
                        .issuer
                        .clone()
                        .ok_or(SettingsError::TokenMissing("issuer"))?,
                    service: t
                        .service
                        .clone()
                        .ok_or(SettingsError::TokenMissing("service"))?,
                    key: i.key.clone(),
                    expiration: match &i.expiration {
                        Some(e) => parse_duration(e)?,
                        None => Duration::from_secs(300),
                    },
                    access: i.access.clone(),
                },
            )?)),
            (None, _) => None,
        };
        let auth = match (&self.auth.htpasswd, &self.auth.token) {
            (Some(_), Some(_)) => return Err(SettingsError::TwoAuthMethods),
            (Some(h), None) => Auth::Htpasswd {
                realm: h.realm.clone(),
                users: Htpasswd::load(&h.path)?,
            },
            (None, Some(t)) => {
                let service = t
                    .service
                    .clone()
                    .ok_or(SettingsError::TokenMissing("service"))?;
                let issuer_name = t
                    .issuer
                    .clone()
                    .ok_or(SettingsError::TokenMissing("issuer"))?;
                let mut verifier = match &t.rootcertbundle {
                    Some(bundle) => TokenVerifier::from_bundle(
                        t.realm.clone(),
                        service.clone(),
                        issuer_name.clone(),
                        bundle,
                    )?,
                    None if issuer.is_some() => TokenVerifier::with_keys(
                        t.realm.clone(),
                        service.clone(),
                        issuer_name.clone(),
                        Vec::new(),
                    ),
                    None => return Err(SettingsError::TokenMissing("rootcertbundle")),
                };
                if t.realm.is_none() && issuer.is_none() {
                    return Err(SettingsError::TokenMissing("realm"));
                }
                if let Some(i) = &issuer {
                    verifier.trust(i.decoding_key());
                }
                Auth::Token {
                    verifier,
                    tls: tls.is_some(),
                }
            }
            (None, None) => Auth::None,
        };
        let gc = match self
            .gc
            .interval
            .as_deref()
            .map(parse_duration)
            .transpose()?
        {
            Some(interval) if !interval.is_zero() => Some((
                interval,
                GcOptions {
                    dry_run: false,
                    delete_untagged: self.gc.delete_untagged,
                    grace: self.gc_grace()?,
                },
            )),
            _ => None,
        };
        Ok(Built {
            addr,
            root,
            config: Config {
                read_only: self.read_only,
                auth: Arc::new(auth),
                token_issuer: issuer,
                ..Config::default()
            },
            tls,
            gc,
        })
    }

    /// The grace period (default 1h).
    pub fn gc_grace(&self) -> Result<Duration, SettingsError> {
        match &self.gc.grace {
            Some(g) => parse_duration(g),
            None => Ok(GcOptions::default().grace),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").ok(), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m").ok(), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h").ok(), Some(Duration::from_secs(7200)));
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn toml_file_and_checks() {
        let s: Settings = toml::from_str(
            r#"
            addr = "127.0.0.1:5001"
            root = "/tmp/x"
            read_only = true
            [gc]
            interval = "1h"
            grace = "30m"
            delete_untagged = true
            "#,
        )
        .expect("parse");
        let built = s.build().expect("build");
        assert!(built.config.read_only);
        assert_eq!(built.addr.port(), 5001);
        let (interval, opts) = built.gc.expect("gc");
        assert_eq!(interval, Duration::from_secs(3600));
        assert_eq!(opts.grace, Duration::from_secs(1800));
        assert!(toml::from_str::<Settings>("bogus = 1").is_err());
        let no_bundle: Settings = toml::from_str(
            "root = \"/x\"\n[auth.token]\nservice = \"s\"\nissuer = \"i\"\nrealm = \"r\"",
        )
        .expect("parse");
        assert!(matches!(
            no_bundle.build(),
            Err(SettingsError::TokenMissing("rootcertbundle"))
        ));
    }
}
