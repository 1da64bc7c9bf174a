//! `/networks/...`: list, inspect, create, remove, connect, disconnect, prune.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_api::models::{NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest};
use berth_daemon::Daemon;
use http::StatusCode;

use crate::body::{empty, go_json, json_response, JsonBody, RequiredJson};
use crate::error::ApiError;
use crate::query::Params;
use crate::version::ApiVersion;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

async fn list(
    State(d): State<Arc<Daemon>>,
    v: ApiVersion,
    p: Params,
) -> Result<Response, ApiError> {
    Ok(go_json(
        StatusCode::OK,
        &d.network_list(&p.filters()?)?,
        berth_api::gojson::NETWORK,
        &v,
    ))
}

async fn inspect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    v: ApiVersion,
) -> Result<Response, ApiError> {
    Ok(go_json(
        StatusCode::OK,
        &d.network_inspect(&id)?,
        berth_api::gojson::NETWORK,
        &v,
    ))
}

async fn create(
    State(d): State<Arc<Daemon>>,
    RequiredJson(req): RequiredJson<NetworkCreateRequest>,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::CREATED,
        &d.network_create(req).await?,
    ))
}

async fn remove(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    d.network_remove(&id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn connect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RequiredJson(req): RequiredJson<NetworkConnectRequest>,
) -> Result<Response, ApiError> {
    let container = req.container.unwrap_or_default();
    d.network_connect(&id, &container, req.endpoint_config)
        .await?;
    Ok(empty(StatusCode::OK))
}

async fn disconnect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RequiredJson(req): RequiredJson<NetworkDisconnectRequest>,
) -> Result<Response, ApiError> {
    let container = req.container.unwrap_or_default();
    d.network_disconnect(&id, &container, req.force.unwrap_or(false))
        .await?;
    Ok(empty(StatusCode::OK))
}

async fn prune(
    State(d): State<Arc<Daemon>>,
    p: Params,
    _body: JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &d.network_prune(&p.filters()?).await?,
    ))
}
