//! berth's own token issuer (`GET /token`), so token auth works without another service: it
//! checks the user's Basic credentials against an htpasswd file and signs an ES256 token
//! granting the requested scopes the access rules allow (by default, all of them).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{DecodingKey, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;

use super::htpasswd::{Htpasswd, HtpasswdError};
use super::scope::Scope;

/// Why the issuer could not start.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error(transparent)]
    Htpasswd(#[from] HtpasswdError),
    #[error("token signing key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("generating a token signing key: {0}")]
    Generate(String),
    #[error("signing a token: {0}")]
    Sign(String),
}

/// One access rule: `account` (`*`: any authenticated user) may do `actions` on repositories
/// matching `name` (`*`, a `prefix/*`, or an exact name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    pub account: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl AccessRule {
    fn matches(&self, account: &str, repository: &str) -> bool {
        let account_ok = self.account == "*" || self.account == account;
        let name_ok = match self.name.strip_suffix('*') {
            Some(prefix) => repository.starts_with(prefix),
            None => self.name == repository,
        };
        account_ok && name_ok
    }
}

/// Issuer settings.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub issuer: String,
    pub service: String,
    /// PKCS#8 PEM of an EC P-256 key; `None`: a fresh key each start (tokens die with it).
    pub key: Option<std::path::PathBuf>,
    pub expiration: Duration,
    /// Empty: every authenticated user gets every scope asked for.
    pub access: Vec<AccessRule>,
}

/// A running issuer.
pub struct TokenIssuer {
    users: Htpasswd,
    config: IssuerConfig,
    signing: EncodingKey,
    /// The uncompressed public point, which is what a `DecodingKey::from_ec_der` takes.
    public: Vec<u8>,
}

/// The token endpoint's answer, in the form docker and the reference clients read.
#[derive(Debug, serde::Serialize)]
pub struct TokenResponse {
    pub token: String,
    pub access_token: String,
    pub expires_in: u64,
    pub issued_at: String,
}

#[derive(Debug, serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: Vec<Scope>,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    pub fn new(htpasswd: &Path, config: IssuerConfig) -> Result<Self, IssuerError> {
        let users = Htpasswd::load(htpasswd)?;
        let pkcs8 = match &config.key {
            Some(path) => {
                let key =
                    PrivatePkcs8KeyDer::from_pem_file(path).map_err(|e| IssuerError::Key {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                key.secret_pkcs8_der().to_vec()
            }
            None => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                    .map_err(|e| IssuerError::Generate(e.to_string()))?
                    .as_ref()
                    .to_vec()
            }
        };
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| IssuerError::Key {
            path: config
                .key
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            reason: format!("not an EC P-256 PKCS#8 key: {e}"),
        })?;
        Ok(Self {
            users,
            public: pair.public_key().as_ref().to_vec(),
            signing: EncodingKey::from_ec_der(&pkcs8),
            config,
        })
    }

    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    /// The key that verifies this issuer's tokens.
    pub fn decoding_key(&self) -> DecodingKey {
        DecodingKey::from_ec_der(&self.public)
    }

    /// Checks `Authorization: Basic` credentials; returns the account.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<String> {
        let (user, password) = basic_credentials(authorization?)?;
        self.users.verify(&user, &password).then_some(user)
    }

    /// What `account` gets of `wanted`: the actions the rules allow, scopes with none dropped.
    pub fn grant(&self, account: &str, wanted: &[Scope]) -> Vec<Scope> {
        wanted
            .iter()
            .filter_map(|s| {
                let actions: Vec<String> = if self.config.access.is_empty() {
                    s.actions.clone()
                } else if s.kind != "repository" {
                    // registry:catalog goes to accounts allowed on every repository.
                    let all = self
                        .config
                        .access
                        .iter()
                        .any(|r| r.name == "*" && (r.account == "*" || r.account == account));
                    if all {
                        s.actions.clone()
                    } else {
                        Vec::new()
                    }
                } else {
                    s.actions
                        .iter()
                        .filter(|a| {
                            self.config.access.iter().any(|r| {
                                r.matches(account, &s.name)
                                    && r.actions.iter().any(|g| g == *a || g == "*")
                            })
                        })
                        .cloned()
                        .collect()
                };
                (!actions.is_empty()).then(|| Scope {
                    kind: s.kind.clone(),
                    name: s.name.clone(),
                    actions,
                })
            })
            .collect()
    }

    /// Signs a token for `account` granting `access`.
    pub fn issue(&self, account: &str, access: Vec<Scope>) -> Result<TokenResponse, IssuerError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut jti = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut jti);
        let claims = Claims {
            iss: &self.config.issuer,
            sub: account,
            aud: &self.config.service,
            exp: now + self.config.expiration.as_secs(),
            // A little slack for clocks of other verifiers.
            nbf: now.saturating_sub(10),
            iat: now,
            jti: hex::encode(jti),
            access,
        };
        let token = jsonwebtoken::encode(
            &Header::new(jsonwebtoken::Algorithm::ES256),
            &claims,
            &self.signing,
        )
        .map_err(|e| IssuerError::Sign(e.to_string()))?;
        Ok(TokenResponse {
            access_token: token.clone(),
            token,
            expires_in: self.config.expiration.as_secs(),
            issued_at: chrono::DateTime::<chrono::Utc>::from(SystemTime::now()).to_rfc3339(),
        })
    }
}

/// `Basic <base64 user:password>` → (user, password).
pub(crate) fn basic_credentials(authorization: &str) -> Option<(String, String)> {
    let (scheme, encoded) = authorization.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_limit_granted_actions() {
        let rule = |account: &str, name: &str, actions: &[&str]| AccessRule {
            account: account.into(),
            name: name.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("htpasswd");
        let hash = bcrypt::hash("pw", 4).expect("hash");
        std::fs::write(&file, format!("bob:{hash}\n")).expect("write");
        let issuer = TokenIssuer::new(
            &file,
            IssuerConfig {
                issuer: "i".into(),
                service: "s".into(),
                key: None,
                expiration: Duration::from_secs(60),
                access: vec![
                    rule("bob", "bob/*", &["pull", "push"]),
                    rule("*", "public", &["pull"]),
                ],
            },
        )
        .expect("issuer");
        let wanted = [
            Scope::repository("bob/app", &["pull", "push", "delete"]),
            Scope::repository("public", &["pull", "push"]),
            Scope::repository("alice/app", &["pull"]),
            Scope::catalog(),
        ];
        assert_eq!(
            issuer.grant("bob", &wanted),
            vec![
                Scope::repository("bob/app", &["pull", "push"]),
                Scope::repository("public", &["pull"]),
            ]
        );
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("bob:pw")
        );
        assert_eq!(issuer.authenticate(Some(&auth)).as_deref(), Some("bob"));
        assert_eq!(issuer.authenticate(Some("Basic Ym9iOng=")), None);
        assert_eq!(issuer.authenticate(None), None);
    }
}
