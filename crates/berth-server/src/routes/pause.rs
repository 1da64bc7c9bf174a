//! `POST /containers/{id}/pause` and `/unpause`: the cgroup freezer.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use berth_daemon::Daemon;
use http::StatusCode;

use crate::body::empty;
use crate::error::ApiError;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
}

async fn pause(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    d.container_pause(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn unpause(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    d.container_unpause(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
