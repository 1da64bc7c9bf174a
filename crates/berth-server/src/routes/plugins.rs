//! Managed plugins. berth has no plugin subsystem, so no plugin is ever installed: the list is
//! empty and every route about a named plugin answers as dockerd does for one it does not have
//! (404 `plugin "<name>" not found`). Installing one (pull, create, and the privileges a pull
//! would ask for) is not something berth does: 501.

use std::sync::Arc;

use axum::extract::Path;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use berth_daemon::Daemon;
use berth_types::Error;
use http::StatusCode;

use crate::body::{drain_unread, json_response};
use crate::error::ApiError;
use crate::query::Params;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/plugins", get(list))
        .route("/plugins/privileges", get(not_supported))
        .route("/plugins/pull", post(not_supported))
        .route("/plugins/create", post(not_supported))
        .route("/plugins/{name}/json", get(not_found))
        .route("/plugins/{name}", delete(not_found))
        .route("/plugins/{name}/enable", post(enable))
        .route("/plugins/{name}/disable", post(not_found_posted))
        .route("/plugins/{name}/push", post(not_found_posted))
        .route("/plugins/{name}/set", post(not_found_posted))
        .route("/plugins/{name}/upgrade", post(upgrade))
}

/// The filters dockerd's plugin list accepts.
const LIST_FILTERS: &[&str] = &["capability", "enabled"];

fn missing(name: &str) -> ApiError {
    ApiError(Error::not_found(format!("plugin {name:?} not found")))
}

/// `GET /plugins`: filters checked with dockerd's words, then the (empty) list.
async fn list(p: Params) -> Result<Response, ApiError> {
    let filters = p.filters()?;
    filters.validate(LIST_FILTERS).map_err(|e| {
        // dockerd's plugin list capitalises it: `Invalid filter 'x'`.
        ApiError::invalid(e.replacen("invalid filter", "Invalid filter", 1))
    })?;
    for v in filters.get("enabled") {
        if v != "true" && v != "false" {
            return Err(ApiError::invalid(format!("Invalid filter 'enabled={v}'")));
        }
    }
    Ok(json_response(StatusCode::OK, &Vec::<()>::new()))
}

async fn not_found(Path(name): Path<String>) -> ApiError {
    missing(&name)
}

async fn not_found_posted(Path(name): Path<String>, body: axum::body::Body) -> ApiError {
    drain_unread(body).await;
    missing(&name)
}

/// `POST /plugins/{name}/enable`: dockerd reads `timeout` (an integer) before looking.
async fn enable(Path(name): Path<String>, p: Params, body: axum::body::Body) -> ApiError {
    drain_unread(body).await;
    let timeout = p.get("timeout").unwrap_or_default();
    if timeout.parse::<i64>().is_err() {
        return ApiError(Error::internal(format!(
            "strconv.Atoi: parsing {timeout:?}: invalid syntax"
        )));
    }
    missing(&name)
}

/// `POST /plugins/{name}/upgrade`: the name as a reference, `:latest` when it has no tag.
async fn upgrade(Path(name): Path<String>, body: axum::body::Body) -> ApiError {
    drain_unread(body).await;
    let last = name.rsplit('/').next().unwrap_or_default();
    if last.contains(':') || last.contains('@') {
        missing(&name)
    } else {
        missing(&format!("{name}:latest"))
    }
}

async fn not_supported(body: axum::body::Body) -> ApiError {
    drain_unread(body).await;
    ApiError(Error::not_implemented(
        "berth does not support managed plugins",
    ))
}
