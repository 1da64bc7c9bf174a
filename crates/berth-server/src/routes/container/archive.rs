//! A container's filesystem: `/containers/{id}/export`, `/containers/{id}/changes`,
//! `/containers/{id}/archive` (GET, HEAD, PUT: `docker cp`) and `POST /commit`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use berth_api::archive::{ContainerPathStat, PATH_STAT_HEADER};
use berth_daemon::{CommitRequest, Daemon, ExtractOptions};
use futures::StreamExt;
use http::{header, HeaderValue, StatusCode};

use crate::body::{empty, json_response, JsonBody};
use crate::error::ApiError;
use crate::query::Params;

use super::target::Target;

const TAR: &str = "application/x-tar";

fn tar_response(body: Body) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TAR));
    resp
}

/// The base64 JSON value of `X-Docker-Container-Path-Stat`.
pub fn path_stat_header(stat: &ContainerPathStat) -> Result<HeaderValue, ApiError> {
    let json = serde_json::to_vec(stat)
        .map_err(|e| ApiError(berth_types::Error::internal(e.to_string())))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(json);
    HeaderValue::from_str(&encoded)
        .map_err(|e| ApiError(berth_types::Error::internal(e.to_string())))
}

fn archive_path(p: &Params) -> Result<String, ApiError> {
    match p.non_empty("path") {
        Some(path) => Ok(path.to_string()),
        None => Err(ApiError::invalid("path cannot be empty")),
    }
}

pub(super) async fn export(Target { d, id }: Target) -> Result<Response, ApiError> {
    let stream = d.container_export(&id).await?;
    // dockerd sets no type and Go's sniffing names a tar `application/octet-stream`.
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(resp)
}

pub(super) async fn changes(Target { d, id }: Target) -> Result<Response, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &d.container_changes(&id).await?,
    ))
}

pub(super) async fn head_archive(
    Target { d, id }: Target,
    p: Params,
) -> Result<Response, ApiError> {
    let path = archive_path(&p)?;
    let stat = d.container_stat_path(&id, &path).await?;
    let mut resp = empty(StatusCode::OK);
    resp.headers_mut()
        .insert(PATH_STAT_HEADER, path_stat_header(&stat)?);
    Ok(resp)
}

pub(super) async fn get_archive(Target { d, id }: Target, p: Params) -> Result<Response, ApiError> {
    let path = archive_path(&p)?;
    let (stat, stream) = d.container_archive_path(&id, &path).await?;
    let mut resp = tar_response(Body::from_stream(stream));
    resp.headers_mut()
        .insert(PATH_STAT_HEADER, path_stat_header(&stat)?);
    Ok(resp)
}

pub(super) async fn put_archive(
    Target { d, id }: Target,
    p: Params,
    body: Body,
) -> Result<Response, ApiError> {
    let path = archive_path(&p)?;
    let opts = ExtractOptions {
        copy_uid_gid: p.bool("copyUIDGID"),
        no_overwrite_dir_non_dir: p.bool("noOverwriteDirNonDir"),
    };
    let data = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other))
        .boxed();
    d.container_extract_to_dir(&id, &path, opts, data).await?;
    Ok(empty(StatusCode::OK))
}

/// `POST /commit`. A container config in the body is not used: the new config is the
/// container's, with `changes` applied (what the docker CLI sends).
pub(super) async fn commit(
    State(d): State<Arc<Daemon>>,
    p: Params,
    JsonBody(config): JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    let Some(container) = p.non_empty("container") else {
        return Err(ApiError::not_found("No such container: "));
    };
    let req = CommitRequest {
        container: container.to_string(),
        repo: p.non_empty("repo").map(str::to_string),
        tag: p.non_empty("tag").map(str::to_string),
        comment: p.get("comment").unwrap_or("").to_string(),
        author: p.get("author").unwrap_or("").to_string(),
        pause: p.bool_or("pause", true),
        changes: p.all("changes"),
        config: Some(config).filter(|c| !c.is_null()),
    };
    let id = d.container_commit(req).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": id }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_stat_header_is_base64_json_in_dockerd_field_order() {
        let stat = ContainerPathStat {
            name: "new".into(),
            size: 3,
            mode: 420,
            mtime: "2026-11-23T09:17:52.738154798Z".into(),
            link_target: String::new(),
        };
        // The header dockerd 20.10 sent for the same file.
        let want = "eyJuYW1lIjoibmV3Iiwic2l6ZSI6MywibW9kZSI6NDIwLCJtdGltZSI6IjIwMjYtMTEtMjNUMDk6MTc6NTIuNzM4MTU0Nzk4WiIsImxpbmtUYXJnZXQiOiIifQ==";
        assert_eq!(
            path_stat_header(&stat)
                .ok()
                .as_ref()
                .and_then(|v| v.to_str().ok()),
            Some(want)
        );
    }
}
