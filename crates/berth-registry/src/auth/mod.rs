//! Who may do what: no auth, htpasswd Basic auth, or bearer tokens (from berth's own
//! [`issuer`] or any issuer whose certificate is trusted), as the reference registry offers.
//!
//! A request without valid credentials gets 401 UNAUTHORIZED and a `WWW-Authenticate`
//! challenge; a valid token that lacks the scope gets 403 DENIED.

pub mod htpasswd;
pub mod issuer;
pub mod scope;
pub mod token;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};

use crate::error::RegistryError;
use crate::Registry;
use htpasswd::Htpasswd;
use issuer::basic_credentials;
pub use scope::Scope;
use token::TokenVerifier;

/// How requests are authenticated.
#[derive(Debug, Default)]
pub enum Auth {
    /// Everyone may do everything.
    #[default]
    None,
    /// Basic auth against an htpasswd file; an authenticated user may do everything.
    Htpasswd { realm: String, users: Htpasswd },
    /// Bearer tokens whose `access` claim must cover the request.
    Token { verifier: TokenVerifier, tls: bool },
}

impl Auth {
    /// Checks the request's credentials cover `needed` (empty: any authenticated client).
    pub fn authorize(&self, headers: &HeaderMap, needed: &[Scope]) -> Result<(), RegistryError> {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match self {
            Self::None => Ok(()),
            Self::Htpasswd { realm, users } => {
                let ok = authorization
                    .and_then(basic_credentials)
                    .is_some_and(|(u, p)| users.verify(&u, &p));
                if ok {
                    Ok(())
                } else {
                    Err(RegistryError::Unauthorized {
                        challenge: format!("Basic realm={}", quote(realm)),
                        detail: match authorization {
                            Some(_) => "invalid username or password".into(),
                            None => "authentication required".into(),
                        },
                    })
                }
            }
            Self::Token { verifier, tls } => {
                let challenge = || {
                    let realm = verifier.realm.clone().unwrap_or_else(|| {
                        let host = headers
                            .get(header::HOST)
                            .and_then(|h| h.to_str().ok())
                            .unwrap_or("localhost");
                        let scheme = if *tls { "https" } else { "http" };
                        format!("{scheme}://{host}/token")
                    });
                    let mut c = format!(
                        "Bearer realm={},service={}",
                        quote(&realm),
                        quote(&verifier.service)
                    );
                    if !needed.is_empty() {
                        let scopes: Vec<String> = needed.iter().map(Scope::to_string).collect();
                        c.push_str(&format!(",scope={}", quote(&scopes.join(" "))));
                    }
                    c
                };
                let Some(token) = authorization.and_then(bearer_token) else {
                    return Err(RegistryError::Unauthorized {
                        challenge: challenge(),
                        detail: "authentication required".into(),
                    });
                };
                let granted = verifier
                    .verify(token)
                    .map_err(|e| RegistryError::Unauthorized {
                        challenge: challenge(),
                        detail: e.to_string(),
                    })?;
                match needed.iter().find(|s| !s.covered_by(&granted)) {
                    None => Ok(()),
                    Some(missing) => Err(RegistryError::Denied(format!(
                        "token does not grant {missing}"
                    ))),
                }
            }
        }
    }

    /// Whether the request may do `scope` (used for a mount's source repository, where a
    /// refusal means "upload instead", not an error).
    pub fn allows(&self, headers: &HeaderMap, scope: &Scope) -> bool {
        self.authorize(headers, std::slice::from_ref(scope)).is_ok()
    }
}

/// `"value"` with `"` and `\` escaped, as an auth-param's quoted-string.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// `GET /token?service=&scope=...&scope=...`: berth's issuer.
pub(crate) async fn token_endpoint(
    State(reg): State<Arc<Registry>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(issuer) = reg.config.token_issuer.as_deref() else {
        return RegistryError::NameUnknown("this registry issues no tokens".into()).into_response();
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(account) = issuer.authenticate(authorization) else {
        return RegistryError::Unauthorized {
            challenge: format!("Basic realm={}", quote(&issuer.config().service)),
            detail: "invalid username or password".into(),
        }
        .into_response();
    };
    let pairs: Vec<(String, String)> = uri
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let params: HashMap<&str, &str> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(service) = params.get("service") {
        if *service != issuer.config().service {
            return RegistryError::Denied(format!("unknown service {service:?}")).into_response();
        }
    }
    // Several scope parameters, each possibly several space-separated scopes.
    let wanted: Vec<Scope> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' '))
        .filter_map(Scope::parse)
        .collect();
    let granted = issuer.grant(&account, &wanted);
    match issuer.issue(&account, granted) {
        Ok(token) => axum::Json(token).into_response(),
        Err(e) => RegistryError::Storage(e.to_string()).into_response(),
    }
}
