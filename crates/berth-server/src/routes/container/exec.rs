//! `/containers/{id}/exec` and `/exec/{id}/...`.

use axum::response::Response;
use berth_api::models::ExecConfig;
use http::StatusCode;
use serde::Deserialize;

use super::lifecycle::console_size;
use crate::body::{empty, go_json, json_response, JsonBody};
use crate::error::ApiError;
use crate::hijack::{null_io, stream_content_type, Hijack};
use crate::query::Params;
use crate::version::ApiVersion;

use super::target::Target;

/// `POST /exec/{id}/start` body (moby's `ExecStartCheck`).
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ExecStartBody {
    #[serde(rename = "Detach", default)]
    pub detach: bool,
    #[serde(rename = "Tty", default)]
    pub tty: bool,
    /// `[height, width]`.
    #[serde(rename = "ConsoleSize", default)]
    pub console_size: Option<[u16; 2]>,
    /// berth also takes the exec's detach keys here (dockerd only at create).
    #[serde(rename = "DetachKeys", default)]
    pub detach_keys: Option<String>,
}

pub(super) async fn create(
    Target { d, id }: Target,
    v: ApiVersion,
    JsonBody(mut config): JsonBody<ExecConfig>,
) -> Result<Response, ApiError> {
    if !v.at_least("1.42") {
        // dockerd ignores an older client's `ConsoleSize`.
        config.console_size = None;
    }
    let exec_id = d.exec_create(&id, config).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": exec_id }),
    ))
}

pub(super) async fn start(
    Target { d, id }: Target,
    v: ApiVersion,
    hijack: Hijack,
    JsonBody(body): JsonBody<ExecStartBody>,
) -> Result<Response, ApiError> {
    // The terminal's size as the process starts: API 1.42 and later, with `Tty` (dockerd).
    let console_size = body.console_size.filter(|_| body.tty && v.at_least("1.42"));
    let session = d
        .exec_start_sized(
            &id,
            body.detach,
            body.tty,
            body.detach_keys.as_deref(),
            console_size,
        )
        .await?;
    if body.detach {
        tokio::spawn(session.run(null_io()));
        return Ok(empty(StatusCode::OK));
    }
    // dockerd announces the framing from the request's `Tty`, not the exec's.
    let content_type = stream_content_type(body.tty, &v);
    Ok(hijack.run(session, content_type, None))
}

pub(super) async fn inspect(Target { d, id }: Target, v: ApiVersion) -> Result<Response, ApiError> {
    Ok(go_json(
        StatusCode::OK,
        &d.exec_inspect(&id).await?,
        berth_api::gojson::EXEC_INSPECT,
        &v,
    ))
}

pub(super) async fn resize(Target { d, id }: Target, p: Params) -> Result<Response, ApiError> {
    let (h, w) = console_size(&p)?;
    d.exec_resize(&id, h, w).await?;
    Ok(empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_body_defaults_and_console_size() {
        let b: ExecStartBody =
            crate::body::decode(br#"{"Detach":false,"Tty":true,"ConsoleSize":[24,80]}"#)
                .expect("body");
        assert_eq!(
            b,
            ExecStartBody {
                detach: false,
                tty: true,
                console_size: Some([24, 80]),
                detach_keys: None,
            }
        );
        let b: ExecStartBody = crate::body::decode(br#"{"Detach":true}"#).expect("body");
        assert!(b.detach && !b.tty && b.console_size.is_none());
    }
}
