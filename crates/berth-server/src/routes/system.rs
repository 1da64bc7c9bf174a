//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`, and berth's own `/berth/check`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_daemon::{Daemon, DiskUsageParts, EventsOptions};
use futures::StreamExt;
use http::{header, HeaderValue, StatusCode};

use berth_api::gojson;

use crate::body::{go_json, json_response};
use crate::error::ApiError;
use crate::query::Params;
use crate::stopping::Stopping;
use crate::version::ApiVersion;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/_ping", get(ping).head(ping_head))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/events", get(events))
        .route("/system/df", get(disk_usage))
        .route("/berth/check", get(check))
}

/// Headers of both `GET` and `HEAD /_ping`.
fn ping_response(body: Body) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("builder-version", HeaderValue::from_static("1"));
    h.insert("swarm", HeaderValue::from_static("inactive"));
    resp
}

pub async fn ping() -> Response {
    ping_response(Body::from("OK"))
}

pub async fn ping_head() -> Response {
    let mut resp = ping_response(Body::empty());
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

async fn version(State(d): State<Arc<Daemon>>, v: ApiVersion) -> Response {
    go_json(StatusCode::OK, &d.version(), gojson::VERSION, &v)
}

async fn info(State(d): State<Arc<Daemon>>, v: ApiVersion) -> Response {
    go_json(StatusCode::OK, &d.info(&v.0).await, gojson::INFO, &v)
}

/// `GET /system/df`; `type` (API 1.42+) picks parts.
async fn disk_usage(
    State(d): State<Arc<Daemon>>,
    v: ApiVersion,
    p: Params,
) -> Result<Response, ApiError> {
    let parts = DiskUsageParts::from_types(&p.all("type"))?;
    let usage = d.system_df(parts, &v.0).await?;
    let mut doc = serde_json::to_value(&usage)
        .map_err(|e| ApiError(berth_types::Error::internal(format!("encoding: {e}"))))?;
    if let Some(images) = doc.get_mut("Images").and_then(|i| i.as_array_mut()) {
        for img in images {
            crate::routes::images::nil_when_empty(img);
        }
    }
    Ok(go_json(StatusCode::OK, &doc, gojson::DISK_USAGE, &v))
}

/// `GET /berth/check` (berth only): verifies blobs and references; problems are in the body.
async fn check(State(d): State<Arc<Daemon>>) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &d.system_check().await?))
}

/// dockerd's check that the window is not inverted.
fn events_options(p: &Params) -> Result<EventsOptions, ApiError> {
    let since = p.timestamp("since")?;
    let until = p.timestamp("until")?;
    if let (Some(s), Some(u)) = (since, until) {
        if u < s {
            return Err(ApiError::invalid(format!(
                "`since` time ({}) cannot be after `until` time ({})",
                p.get("since").unwrap_or_default(),
                p.get("until").unwrap_or_default()
            )));
        }
    }
    Ok(EventsOptions {
        since,
        until,
        filters: p.filters()?,
    })
}

/// One JSON object per line, each flushed as it happens; headers go out at once.
async fn events(
    State(d): State<Arc<Daemon>>,
    stopping: Stopping,
    p: Params,
) -> Result<Response, ApiError> {
    let stream = stopping.cut(d.events(events_options(&p)?)?);
    let lines = stream.filter_map(|event| async move {
        match serde_json::to_vec(&berth_daemon::WireEvent::new(&event)) {
            Ok(mut line) => {
                line.push(b'\n');
                Some(Ok::<_, std::convert::Infallible>(line))
            }
            Err(e) => {
                tracing::warn!(error = %e, "dropping an event that does not encode");
                None
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(lines));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_window_must_not_be_inverted() {
        let p = Params::parse("since=200&until=100").expect("parse");
        let e = events_options(&p).expect_err("inverted");
        assert_eq!(
            e.0.message,
            "`since` time (200) cannot be after `until` time (100)"
        );
        let ok = events_options(
            &Params::parse("since=100.5&until=2023-11-14T22:13:20Z").expect("parse"),
        )
        .expect("window");
        assert_eq!(ok.since, Some(100.5));
        assert!(events_options(&Params::parse("since=soon").expect("parse")).is_err());
        assert!(events_options(
            &Params::parse("filters=%7B%22type%22%3A%5B%22container%22%5D%7D").expect("parse")
        )
        .is_ok_and(|o| o.filters.get("type") == ["container"]));
    }
}
