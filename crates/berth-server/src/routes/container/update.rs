//! `POST /containers/{id}/update`: new resource limits and restart policy for a container.

use axum::response::Response;
use berth_api::models::{ContainerUpdateResponse, HostConfig};
use http::StatusCode;

use crate::body::{go_json, RequiredJson};
use crate::error::ApiError;
use crate::version::ApiVersion;

use super::target::Target;

/// The body is the `Resources` part of a HostConfig plus `RestartPolicy`, a subset of
/// HostConfig's fields.
pub(super) async fn update(
    Target { d, id }: Target,
    v: ApiVersion,
    RequiredJson(body): RequiredJson<HostConfig>,
) -> Result<Response, ApiError> {
    let warnings = d.container_update(&id, body).await?;
    // dockerd's list stays nil (null) without warnings.
    Ok(go_json(
        StatusCode::OK,
        &ContainerUpdateResponse {
            warnings: Some(warnings).filter(|w| !w.is_empty()),
        },
        berth_api::gojson::CONTAINER_UPDATE,
        &v,
    ))
}
