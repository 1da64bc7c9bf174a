//! `POST /containers/{id}/pause` and `/unpause`: the cgroup freezer.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use berth_daemon::Daemon;
use http::StatusCode;

use crate::body::empty;
use crate::error::ApiError;

pub(super) async fn pause(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    d.container_pause(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) async fn unpause(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    d.container_unpause(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
