//! The `/v2/` router. Repository names contain slashes, so everything below `/v2/` goes to
//! one handler that splits the path from its end (`.../blobs/<digest>`, `.../manifests/<ref>`,
//! ...) and dispatches on the method.

mod blobs;
mod listing;
pub(crate) mod manifests;
mod referrers;
mod uploads;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use berth_types::Digest;

use crate::auth::Scope;
use crate::error::RegistryError;
use crate::name::validate_name;
use crate::Registry;

pub(crate) type Reply = Result<Response, RegistryError>;

const API_VERSION: &str = "registry/2.0";

/// The registry's HTTP routes.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/v2", get(base))
        .route("/v2/", get(base))
        .route("/v2/_catalog", get(listing::catalog))
        .route("/token", get(crate::auth::token_endpoint))
        .route("/v2/{*path}", any(dispatch))
        .layer(axum::middleware::map_response(add_api_version))
        .with_state(registry)
}

async fn add_api_version(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static(API_VERSION),
    );
    resp
}

async fn base(State(reg): State<Arc<Registry>>, headers: HeaderMap) -> Response {
    match reg.config.auth.authorize(&headers, &[]) {
        Ok(()) => (StatusCode::OK, axum::Json(serde_json::json!({}))).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The scopes a request on a repository needs, as the reference registry asks for them.
fn needed_scope(name: &str, target: &Target<'_>, method: &Method) -> Scope {
    let actions: &[&str] = match (target, method) {
        (_, m) if m == Method::GET || m == Method::HEAD => &["pull"],
        (Target::Blob(_) | Target::Manifest(_), m) if m == Method::DELETE => &["delete"],
        _ => &["pull", "push"],
    };
    Scope::repository(name, actions)
}

/// What a `/v2/<name>/...` path addresses.
#[derive(Debug, PartialEq)]
enum Target<'a> {
    Blob(&'a str),
    UploadStart,
    Upload(&'a str),
    Manifest(&'a str),
    Referrers(&'a str),
    Tags,
}

/// Splits `<name>/<rest>` from the end; the name is what remains.
fn parse_path(path: &str) -> Option<(&str, Target<'_>)> {
    if let Some(name) = path.strip_suffix("/tags/list") {
        return Some((name, Target::Tags));
    }
    if let Some(name) = path.strip_suffix("/blobs/uploads/") {
        return Some((name, Target::UploadStart));
    }
    if let Some(name) = path.strip_suffix("/blobs/uploads") {
        return Some((name, Target::UploadStart));
    }
    let (head, last) = path.rsplit_once('/')?;
    let (name, kind) = head.rsplit_once('/')?;
    match kind {
        "manifests" => Some((name, Target::Manifest(last))),
        "blobs" => Some((name, Target::Blob(last))),
        "referrers" => Some((name, Target::Referrers(last))),
        "uploads" => {
            let name = name.strip_suffix("/blobs")?;
            Some((name, Target::Upload(last)))
        }
        _ => None,
    }
}

pub(crate) fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default()
}

pub(crate) fn parse_digest(s: &str) -> Result<Digest, RegistryError> {
    s.parse()
        .map_err(|e: berth_types::Error| RegistryError::DigestInvalid(e.to_string()))
}

pub(crate) fn header_value(s: &str) -> Result<HeaderValue, RegistryError> {
    HeaderValue::from_str(s).map_err(|e| RegistryError::Storage(e.to_string()))
}

async fn dispatch(
    State(reg): State<Arc<Registry>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Reply {
    let path = uri.path().strip_prefix("/v2/").unwrap_or_default();
    let Some((name, target)) = parse_path(path) else {
        return Err(RegistryError::NameInvalid(format!(
            "no registry route for {:?}",
            uri.path()
        )));
    };
    validate_name(name)?;
    reg.config
        .auth
        .authorize(&headers, &[needed_scope(name, &target, &method)])?;
    if reg.config.read_only && method != Method::GET && method != Method::HEAD {
        return Err(RegistryError::Unsupported(
            "The registry is running in read-only mode".into(),
        ));
    }
    let q = query(&uri);
    match (target, method) {
        (Target::Blob(d), m) if m == Method::GET || m == Method::HEAD => {
            blobs::get(&reg, name, d, &headers, m == Method::HEAD).await
        }
        (Target::Blob(d), Method::DELETE) => blobs::delete(&reg, name, d),
        (Target::UploadStart, Method::POST) => uploads::start(&reg, name, &q, &headers, body).await,
        (Target::Upload(id), Method::PATCH) => uploads::patch(&reg, name, id, &headers, body).await,
        (Target::Upload(id), Method::PUT) => uploads::put(&reg, name, id, &q, body).await,
        (Target::Upload(id), Method::GET) => uploads::status(&reg, name, id),
        (Target::Upload(id), Method::DELETE) => uploads::cancel(&reg, name, id),
        (Target::Manifest(r), Method::PUT) => manifests::put(&reg, name, r, &headers, body).await,
        (Target::Manifest(r), m) if m == Method::GET || m == Method::HEAD => {
            manifests::get(&reg, name, r, m == Method::HEAD)
        }
        (Target::Manifest(r), Method::DELETE) => manifests::delete(&reg, name, r),
        (Target::Tags, Method::GET) => listing::tags(&reg, name, &q),
        (Target::Referrers(d), Method::GET) => referrers::list(&reg, name, d, &q),
        (_, m) => Err(RegistryError::Unsupported(format!(
            "method {m} is not allowed on {}",
            uri.path()
        ))),
    }
}

/// Parses `n`/`last` and returns one page of the sorted `items`, and whether more follow.
pub(crate) fn paginate(
    items: Vec<String>,
    q: &HashMap<String, String>,
) -> Result<(Vec<String>, Option<usize>), RegistryError> {
    let n = match q.get("n") {
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| RegistryError::PaginationNumberInvalid(format!("invalid n {n:?}")))?,
        ),
        None => None,
    };
    let mut page: Vec<String> = match q.get("last") {
        Some(last) => items.into_iter().filter(|i| i > last).collect(),
        None => items,
    };
    match n {
        Some(n) if page.len() > n => {
            page.truncate(n);
            Ok((page, Some(n)))
        }
        _ => Ok((page, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_path("a/b/tags/list"), Some(("a/b", Target::Tags)));
        assert_eq!(
            parse_path("a/blobs/uploads/"),
            Some(("a", Target::UploadStart))
        );
        assert_eq!(
            parse_path("a/b/blobs/uploads/xyz"),
            Some(("a/b", Target::Upload("xyz")))
        );
        assert_eq!(
            parse_path("x/blobs/sha256:00"),
            Some(("x", Target::Blob("sha256:00")))
        );
        assert_eq!(
            parse_path("x/y/manifests/latest"),
            Some(("x/y", Target::Manifest("latest")))
        );
        assert_eq!(parse_path("x/other/thing"), None);
        assert_eq!(parse_path("x/uploads/thing"), None);
    }
}
