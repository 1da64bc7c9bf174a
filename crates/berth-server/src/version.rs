//! The `/v1.NN` path prefix: stripped before routing, checked against the supported range, and
//! handed to handlers as [`ApiVersion`]. Every response gets dockerd's identity headers.

use std::cmp::Ordering;
use std::convert::Infallible;

use axum::extract::{FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_api::version::{CURRENT, ENGINE_VERSION, MIN};
use http::request::Parts;
use http::{HeaderValue, Uri};

use crate::error::ApiError;

/// The API version a request asked for (the newest when its path has no prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersion(pub String);

impl ApiVersion {
    pub fn current() -> Self {
        Self(CURRENT.to_string())
    }

    /// Whether this version is at least `other` (`"1.42"`).
    pub fn at_least(&self, other: &str) -> bool {
        compare(&self.0, other) != Ordering::Less
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<ApiVersion>()
            .cloned()
            .unwrap_or_else(ApiVersion::current))
    }
}

/// Compares dotted versions numerically, as moby's `versions.compare` does (missing or
/// non-numeric parts count as 0).
pub fn compare(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (l, r) => {
                let l: u64 = l.and_then(|s| s.parse().ok()).unwrap_or(0);
                let r: u64 = r.and_then(|s| s.parse().ok()).unwrap_or(0);
                if l != r {
                    return l.cmp(&r);
                }
            }
        }
    }
}

/// Splits `/v1.47/containers/json` into `("1.47", "/containers/json")`. dockerd's route prefix
/// is `/v{version:[0-9.]+}`; anything else is an unversioned path.
pub fn split_version(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let end = rest.find('/').unwrap_or(rest.len());
    let (version, tail) = rest.split_at(end);
    let is_version =
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    is_version.then_some((version, tail))
}

/// dockerd's refusal of a version outside [`MIN`, `CURRENT`].
pub fn check(version: &str) -> Result<(), ApiError> {
    if compare(version, MIN) == Ordering::Less {
        return Err(ApiError::invalid(format!(
            "client version {version} is too old. Minimum supported API version is {MIN}, please upgrade your client to a newer version"
        )));
    }
    if compare(version, CURRENT) == Ordering::Greater {
        return Err(ApiError::invalid(format!(
            "client version {version} is too new. Maximum supported API version is {CURRENT}"
        )));
    }
    Ok(())
}

/// Rewrites the URI to its unversioned path, with the query kept.
fn unversioned_uri(uri: &Uri, tail: &str) -> Option<Uri> {
    let path = if tail.is_empty() { "/" } else { tail };
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// The middleware: runs before routing (it wraps the whole router).
pub async fn middleware(mut req: Request, next: Next) -> Response {
    let mut version = ApiVersion::current();
    let path = req.uri().path().to_string();
    if let Some((v, tail)) = split_version(&path) {
        if let Err(e) = check(v) {
            return with_identity_headers(e.into_response());
        }
        version = ApiVersion(v.to_string());
        match unversioned_uri(req.uri(), tail) {
            Some(uri) => *req.uri_mut() = uri,
            None => {
                return with_identity_headers(ApiError::not_found("page not found").into_response())
            }
        }
    }
    req.extensions_mut().insert(version);
    with_identity_headers(next.run(req).await)
}

/// `Server`, `Api-Version`, `Ostype` and `Docker-Experimental`, as dockerd's middlewares set.
fn with_identity_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    if let Ok(server) = HeaderValue::from_str(&format!("Docker/{ENGINE_VERSION} (linux)")) {
        h.insert(http::header::SERVER, server);
    }
    h.insert("api-version", HeaderValue::from_static(CURRENT));
    h.insert("ostype", HeaderValue::from_static("linux"));
    h.insert("docker-experimental", HeaderValue::from_static("false"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_numerically() {
        assert_eq!(compare("1.9", "1.24"), Ordering::Less);
        assert_eq!(compare("1.24", "1.24"), Ordering::Equal);
        assert_eq!(compare("1.47", "1.5"), Ordering::Greater);
        assert_eq!(compare("2", "1.47"), Ordering::Greater);
        assert_eq!(compare("1.24.0", "1.24"), Ordering::Equal);
    }

    #[test]
    fn splits_the_version_prefix() {
        assert_eq!(
            split_version("/v1.47/containers/json"),
            Some(("1.47", "/containers/json"))
        );
        assert_eq!(split_version("/v1.24/_ping"), Some(("1.24", "/_ping")));
        assert_eq!(split_version("/v1.40"), Some(("1.40", "")));
        assert_eq!(split_version("/version"), None);
        assert_eq!(split_version("/volumes"), None);
        assert_eq!(split_version("/containers/json"), None);
    }

    #[test]
    fn rejects_versions_outside_the_range_with_dockerds_text() {
        assert!(check("1.24").is_ok());
        assert!(check("1.47").is_ok());
        assert!(check("1.41").is_ok());
        let old = check("1.12").err().map(|e| e.0.message);
        assert_eq!(
            old.as_deref(),
            Some("client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version")
        );
        let new = check("1.99").err().map(|e| e.0);
        assert_eq!(
            new.as_ref().map(|e| e.kind),
            Some(berth_types::ErrorKind::InvalidArgument)
        );
        assert_eq!(
            new.map(|e| e.message).as_deref(),
            Some("client version 1.99 is too new. Maximum supported API version is 1.47")
        );
    }

    #[test]
    fn keeps_the_query_when_rewriting() {
        let uri: Uri = "/v1.45/containers/json?all=1".parse().expect("uri");
        let (_, tail) = split_version(uri.path()).expect("versioned");
        let rewritten = unversioned_uri(&uri, tail).expect("uri");
        assert_eq!(rewritten.to_string(), "/containers/json?all=1");
    }

    #[test]
    fn at_least_compares_versions() {
        assert!(ApiVersion("1.42".into()).at_least("1.42"));
        assert!(ApiVersion("1.47".into()).at_least("1.42"));
        assert!(!ApiVersion("1.41".into()).at_least("1.42"));
    }
}
