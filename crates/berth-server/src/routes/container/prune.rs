//! `POST /containers/prune`: `filters` (until, label, label!).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use berth_daemon::Daemon;
use http::StatusCode;

use crate::body::go_json;
use crate::error::ApiError;
use crate::query::Params;
use crate::version::ApiVersion;

pub(super) async fn prune(
    State(d): State<Arc<Daemon>>,
    v: ApiVersion,
    p: Params,
) -> Result<Response, ApiError> {
    let report = d.container_prune(&p.filters()?).await?;
    Ok(go_json(
        StatusCode::OK,
        &report,
        berth_api::gojson::CONTAINER_PRUNE,
        &v,
    ))
}
