//! `GET /distribution/{name}/json`: the registry's descriptor and platforms for an image
//! reference (docker-py's `inspect_distribution`, `docker manifest`-like tooling). Names
//! contain slashes, so the path is one wildcard split here, as for `/images/`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_daemon::Daemon;
use http::StatusCode;

use crate::body::json_response;
use crate::error::ApiError;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new().route("/distribution/{*path}", get(inspect))
}

async fn inspect(
    State(d): State<Arc<Daemon>>,
    Path(path): Path<String>,
    headers: http::HeaderMap,
) -> Result<Response, ApiError> {
    let name = path
        .strip_suffix("/json")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::not_found("page not found"))?;
    let creds = berth_daemon::distribution::credentials_from_header(
        headers.get("x-registry-auth").and_then(|v| v.to_str().ok()),
    );
    let found = d.distribution_inspect(name, creds).await?;
    Ok(json_response(StatusCode::OK, &found))
}
