//! Tags list and `_catalog`, both with `n`/`last` pagination and a `Link` to the next page.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::{header_value, paginate, query, Reply};
use crate::error::RegistryError;
use crate::Registry;

fn page_response(body: serde_json::Value, next: Option<(String, usize, &str)>) -> Reply {
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    if let Some((path, n, last)) = next {
        let q = serde_urlencoded::to_string([("last", last), ("n", &n.to_string())])
            .map_err(|e| RegistryError::Storage(e.to_string()))?;
        resp.headers_mut().insert(
            header::LINK,
            header_value(&format!("<{path}?{q}>; rel=\"next\""))?,
        );
    }
    Ok(resp)
}

pub(super) fn tags(reg: &Registry, name: &str, q: &HashMap<String, String>) -> Reply {
    if !reg.storage.repo_exists(name) {
        return Err(RegistryError::NameUnknown(name.to_string()));
    }
    let (page, more) = paginate(reg.storage.tags(name)?, q)?;
    let next = match (more, page.last()) {
        (Some(n), Some(last)) => Some((format!("/v2/{name}/tags/list"), n, last.as_str())),
        _ => None,
    };
    page_response(serde_json::json!({"name": name, "tags": page}), next)
}

pub(super) async fn catalog(
    State(reg): State<Arc<Registry>>,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    let reply = (|| {
        reg.config
            .auth
            .authorize(&headers, &[crate::auth::Scope::catalog()])?;
        let (page, more) = paginate(reg.storage.catalog()?, &query(&uri))?;
        let next = match (more, page.last()) {
            (Some(n), Some(last)) => Some(("/v2/_catalog".to_string(), n, last.as_str())),
            _ => None,
        };
        page_response(serde_json::json!({"repositories": page}), next)
    })();
    reply.unwrap_or_else(IntoResponse::into_response)
}
