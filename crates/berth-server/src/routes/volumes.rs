//! `/volumes`: create, list, inspect, remove, prune.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_api::volume::{VolumeCreateOptions, VolumeListResponse};
use berth_daemon::Daemon;
use http::StatusCode;

use berth_api::gojson;

use crate::body::{empty, go_json, json_response, RequiredJson};
use crate::error::ApiError;
use crate::query::Params;
use crate::version::ApiVersion;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

async fn create(
    State(d): State<Arc<Daemon>>,
    v: ApiVersion,
    RequiredJson(body): RequiredJson<VolumeCreateOptions>,
) -> Result<Response, ApiError> {
    Ok(go_json(
        StatusCode::CREATED,
        &d.volume_create(body).await?,
        gojson::VOLUME,
        &v,
    ))
}

async fn list(
    State(d): State<Arc<Daemon>>,
    v: ApiVersion,
    p: Params,
) -> Result<Response, ApiError> {
    let volumes = d.volume_list(&p.filters()?).await?;
    // berth has no volume driver to warn about an unreachable one: dockerd's list stays nil.
    Ok(go_json(
        StatusCode::OK,
        &VolumeListResponse {
            volumes: Some(volumes),
            warnings: None,
        },
        gojson::VOLUME_LIST,
        &v,
    ))
}

async fn inspect(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    v: ApiVersion,
) -> Result<Response, ApiError> {
    Ok(go_json(
        StatusCode::OK,
        &d.volume_inspect(&name).await?,
        gojson::VOLUME,
        &v,
    ))
}

async fn remove(
    State(d): State<Arc<Daemon>>,
    Path(name): Path<String>,
    p: Params,
) -> Result<Response, ApiError> {
    d.volume_remove(&name, p.bool("force")).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /volumes/prune`: `filters` (label, label!, all). Below API 1.42 every unused volume
/// goes, named ones too: dockerd's router adds `all=true` to the filters for those clients.
async fn prune(
    State(d): State<Arc<Daemon>>,
    v: ApiVersion,
    p: Params,
) -> Result<Response, ApiError> {
    let mut filters = p.filters()?;
    if !v.at_least("1.42") && !filters.get("all").iter().any(|x| x == "true") {
        filters.add("all", "true");
    }
    Ok(json_response(
        StatusCode::OK,
        &d.volume_prune(&filters).await?,
    ))
}
