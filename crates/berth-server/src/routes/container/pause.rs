//! `POST /containers/{id}/pause` and `/unpause`: the cgroup freezer.

use axum::response::Response;
use http::StatusCode;

use crate::body::empty;
use crate::error::ApiError;

use super::target::Target;

pub(super) async fn pause(Target { d, id }: Target) -> Result<Response, ApiError> {
    d.container_pause(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) async fn unpause(Target { d, id }: Target) -> Result<Response, ApiError> {
    d.container_unpause(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
