//! `POST /build` (the classic builder's JSON stream) and `POST /build/prune`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use berth_daemon::build::{secrets, BuildRequest};
use berth_daemon::Daemon;
use futures::StreamExt;
use http::{header, HeaderValue, StatusCode};

use crate::error::ApiError;
use crate::query::Params;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/build", post(build))
        .route("/build/prune", post(prune))
}

fn json_map<T: serde::de::DeserializeOwned + Default>(
    p: &Params,
    key: &str,
) -> Result<T, ApiError> {
    match p.non_empty(key) {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| ApiError::invalid(format!("invalid {key} parameter: {e}"))),
    }
}

async fn build(
    State(d): State<Arc<Daemon>>,
    p: Params,
    headers: http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let build_args: BTreeMap<String, Option<String>> = json_map(&p, "buildargs")?;
    let labels: BTreeMap<String, String> = json_map(&p, "labels")?;
    if let Some(remote) = p.non_empty("remote") {
        return Err(ApiError::invalid(format!(
            "remote build contexts are not supported by berth yet: {remote}"
        )));
    }
    // berth's side channel for build secrets; dockerd's classic API has none.
    let secrets = match headers.get(secrets::HEADER) {
        None => secrets::Secrets::default(),
        Some(v) => secrets::Secrets::from_header(
            v.to_str()
                .map_err(|_| ApiError::invalid(format!("invalid {} header", secrets::HEADER)))?,
        )?,
    };
    let req = BuildRequest {
        tags: p.all("t").into_iter().filter(|t| !t.is_empty()).collect(),
        dockerfile: p.get("dockerfile").unwrap_or_default().to_string(),
        quiet: p.bool("q"),
        no_cache: p.bool("nocache"),
        build_args,
        labels,
        target: p.non_empty("target").map(str::to_string),
        network_mode: p.non_empty("networkmode").map(str::to_string),
        // Repeated, as dockerd's `r.Form["extrahosts"]` (docker-py, the docker CLI).
        extra_hosts: p
            .all("extrahosts")
            .into_iter()
            .filter(|h| !h.is_empty())
            .collect(),
        force_remove: p.bool("forcerm"),
        pull: p.bool("pull"),
        cache_from: json_map(&p, "cachefrom")?,
        registry_auths: berth_daemon::distribution::credentials_from_registry_config(
            headers
                .get("x-registry-config")
                .and_then(|v| v.to_str().ok()),
        ),
        platform: p.non_empty("platform").map(str::to_string),
        secrets,
    };
    let data = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other))
        .boxed();
    let rx = d.image_build(req, data).await?;
    let lines = tokio_stream_from(rx)
        .map(|msg| Ok::<_, std::convert::Infallible>(berth_api::stream::line(&msg)));
    let mut resp = Response::new(Body::from_stream(lines));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn prune(
    State(d): State<Arc<Daemon>>,
    v: crate::version::ApiVersion,
    p: Params,
) -> Result<Response, ApiError> {
    let filters = p.filters()?;
    let until = filters.get("until").last().cloned();
    let all = p.bool("all");
    let (deleted, reclaimed) = d.build_prune(all, until).await?;
    // dockerd's list stays nil (null) when nothing was deleted.
    let deleted = Some(deleted).filter(|d| !d.is_empty());
    Ok(crate::body::go_json(
        StatusCode::OK,
        &serde_json::json!({ "CachesDeleted": deleted, "SpaceReclaimed": reclaimed }),
        berth_api::gojson::BUILD_CACHE_PRUNE,
        &v,
    ))
}
