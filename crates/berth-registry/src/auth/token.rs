//! Bearer tokens as the reference registry's `auth: token:` checks them: JWTs signed by a key
//! whose certificate is in `rootcertbundle` (RS256/ES256 and their larger variants), with the
//! configured issuer and service (audience), unexpired, whose `access` claim lists the scopes
//! granted.

use std::path::Path;

use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};

use super::scope::Scope;

/// Why the token settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenConfigError {
    #[error("reading rootcertbundle {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("rootcertbundle {path}: certificate {index} holds no usable RSA or EC key: {reason}")]
    BadCertificate {
        path: String,
        index: usize,
        reason: String,
    },
    #[error("rootcertbundle {0} holds no certificate")]
    Empty(String),
}

/// Why a presented token is refused (the detail of the 401).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("token not signed by a trusted key or not valid: {0}")]
    Invalid(String),
}

#[derive(Debug, serde::Deserialize)]
struct Claims {
    #[serde(default)]
    access: Vec<Scope>,
}

/// Verifies tokens for one service.
pub struct TokenVerifier {
    /// The token endpoint clients are sent to; `None`: `/token` on the host they asked.
    pub realm: Option<String>,
    pub service: String,
    pub issuer: String,
    keys: Vec<DecodingKey>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("realm", &self.realm)
            .field("service", &self.service)
            .field("issuer", &self.issuer)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl TokenVerifier {
    /// A verifier trusting the keys of the certificates in `bundle` (PEM).
    pub fn from_bundle(
        realm: Option<String>,
        service: String,
        issuer: String,
        bundle: &Path,
    ) -> Result<Self, TokenConfigError> {
        let origin = bundle.display().to_string();
        let text = std::fs::read_to_string(bundle).map_err(|source| TokenConfigError::Read {
            path: origin.clone(),
            source,
        })?;
        let mut keys = Vec::new();
        for (index, pem) in pem_blocks(&text, "CERTIFICATE").into_iter().enumerate() {
            let key = DecodingKey::from_ec_pem(pem.as_bytes())
                .or_else(|_| DecodingKey::from_rsa_pem(pem.as_bytes()))
                .map_err(|e| TokenConfigError::BadCertificate {
                    path: origin.clone(),
                    index,
                    reason: e.to_string(),
                })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(TokenConfigError::Empty(origin));
        }
        Ok(Self::with_keys(realm, service, issuer, keys))
    }

    /// A verifier trusting `keys` (berth's own issuer passes its public key).
    pub fn with_keys(
        realm: Option<String>,
        service: String,
        issuer: String,
        keys: Vec<DecodingKey>,
    ) -> Self {
        Self {
            realm,
            service,
            issuer,
            keys,
        }
    }

    /// Trusts one more key.
    pub fn trust(&mut self, key: DecodingKey) {
        self.keys.push(key);
    }

    /// The scopes a valid token grants.
    pub fn verify(&self, token: &str) -> Result<Vec<Scope>, TokenError> {
        let header = decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&self.service]);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_nbf = true;
        let mut last = String::from("no trusted key");
        for key in &self.keys {
            match decode::<Claims>(token, key, &validation) {
                Ok(data) => return Ok(data.claims.access),
                Err(e) => last = e.to_string(),
            }
        }
        Err(TokenError::Invalid(last))
    }
}

/// The `-----BEGIN <label>-----` blocks of a PEM text, each with its armour.
pub(crate) fn pem_blocks(text: &str, label: &str) -> Vec<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let Some(stop) = rest[start..].find(&end) else {
            break;
        };
        let stop = start + stop + end.len();
        out.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    out
}
