//! Blob uploads: monolithic `POST ?digest=`, sessions with `PATCH` chunks and a closing
//! `PUT ?digest=`, status, cancel, and cross-repository mount.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use berth_store::BlobWriter;
use berth_types::Digest;
use futures::StreamExt;

use super::{header_value, parse_digest, Reply};
use crate::auth::Scope;
use crate::error::RegistryError;
use crate::name::validate_name;
use crate::uploads::Upload;
use crate::Registry;

/// How much of a body is gathered before one write on the blocking pool: large enough that
/// the hand-off costs little, small enough to bound memory per upload.
const WRITE_BATCH: usize = 1 << 20;

/// Streams the request body into `writer`, hashing as it goes. File writes run on the blocking
/// pool in batches, so a slow disk does not stall the async workers. On error the writer is
/// dropped, which removes its ingest file.
async fn stream_into(body: Body, mut writer: BlobWriter) -> Result<BlobWriter, RegistryError> {
    let mut stream = body.into_data_stream();
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| RegistryError::BlobUploadInvalid(format!("upload interrupted: {e}")))?;
        batch.extend_from_slice(&chunk);
        if batch.len() >= WRITE_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(WRITE_BATCH));
            writer = write_blocking(writer, full).await?;
        }
    }
    if !batch.is_empty() {
        writer = write_blocking(writer, batch).await?;
    }
    Ok(writer)
}

async fn write_blocking(
    mut writer: BlobWriter,
    data: Vec<u8>,
) -> Result<BlobWriter, RegistryError> {
    tokio::task::spawn_blocking(move || writer.write_all(&data).map(|()| writer))
        .await
        .map_err(|e| RegistryError::Storage(format!("blob write task: {e}")))?
        .map_err(RegistryError::from)
}

/// fsync, digest check, rename and the repository link, on the blocking pool, under the
/// use lock (a blob that already exists is reused; GC must not delete it meanwhile).
async fn commit_blocking(
    reg: &Arc<Registry>,
    name: &str,
    writer: BlobWriter,
    expected: Digest,
) -> Result<Digest, RegistryError> {
    let reg = Arc::clone(reg);
    let name = name.to_string();
    tokio::task::spawn_blocking(move || {
        let _lock = reg.storage.use_lock()?;
        let (digest, _) = writer.commit(Some(&expected))?;
        reg.storage.link_blob(&name, &digest)?;
        Ok(digest)
    })
    .await
    .map_err(|e| RegistryError::Storage(format!("blob commit task: {e}")))?
}

/// The `Range` an upload reports: the inclusive byte range received so far.
fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn created(name: &str, digest: &Digest) -> Reply {
    Response::builder()
        .status(StatusCode::CREATED)
        .header(
            header::LOCATION,
            header_value(&format!("/v2/{name}/blobs/{digest}"))?,
        )
        .header("Docker-Content-Digest", header_value(&digest.to_string())?)
        .header(header::CONTENT_LENGTH, 0)
        .body(Body::empty())
        .map_err(|e| RegistryError::Storage(e.to_string()))
}

fn in_progress(status: StatusCode, name: &str, id: &str, size: u64) -> Reply {
    Response::builder()
        .status(status)
        .header(header::LOCATION, header_value(&upload_location(name, id))?)
        .header(header::RANGE, upload_range(size))
        .header("Docker-Upload-UUID", header_value(id)?)
        .header(header::CONTENT_LENGTH, 0)
        .body(Body::empty())
        .map_err(|e| RegistryError::Storage(e.to_string()))
}

fn required_digest(q: &HashMap<String, String>) -> Result<Digest, RegistryError> {
    let d = q
        .get("digest")
        .ok_or_else(|| RegistryError::DigestInvalid("digest parameter missing".into()))?;
    parse_digest(d)
}

/// `POST /v2/<name>/blobs/uploads/`: mount, monolithic upload, or a new session.
pub(super) async fn start(
    reg: &Arc<Registry>,
    name: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Reply {
    if let (Some(mount), Some(from)) = (q.get("mount"), q.get("from")) {
        validate_name(from)?;
        let digest = parse_digest(mount)?;
        // Mounting needs pull access to the source; without it the client uploads instead.
        let readable = reg
            .config
            .auth
            .allows(headers, &Scope::repository(from, &["pull"]));
        let _lock = reg.storage.use_lock_async().await?;
        if readable && reg.storage.linked_blob_size(from, &digest).is_some() {
            reg.storage.link_blob(name, &digest)?;
            return created(name, &digest);
        }
        // Not mountable: the spec says to fall back to a new upload session.
    }
    let writer = reg.storage.content().writer()?;
    if q.contains_key("digest") {
        let expected = required_digest(q)?;
        let writer = stream_into(body, writer).await?;
        let digest = commit_blocking(reg, name, writer, expected).await?;
        return created(name, &digest);
    }
    let id = reg.uploads.start(name, writer);
    in_progress(StatusCode::ACCEPTED, name, &id, 0)
}

/// Parses `Content-Range: <start>-<end>` (an optional `bytes ` prefix is tolerated).
fn parse_content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim().strip_prefix("bytes ").unwrap_or(v.trim());
    let (s, e) = v.split_once('-')?;
    let (s, e) = (s.parse().ok()?, e.parse().ok()?);
    (s <= e).then_some((s, e))
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`: appends a chunk, which must start where the
/// upload ends (else 416 RANGE_INVALID) and be as long as it says (else 400 SIZE_INVALID);
/// either way nothing is written.
pub(super) async fn patch(
    reg: &Registry,
    name: &str,
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Reply {
    let size = reg.uploads.size(name, id)?;
    if let Some(cr) = headers.get(header::CONTENT_RANGE) {
        let range = cr.to_str().ok().and_then(parse_content_range);
        let Some((start, end)) = range else {
            return Err(RegistryError::RangeInvalid(format!(
                "malformed Content-Range {cr:?}"
            )));
        };
        if start != size {
            return Err(RegistryError::RangeInvalid(format!(
                "chunk starts at {start}, upload has {size} bytes"
            )));
        }
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if length.is_some_and(|l| l != end - start + 1) {
            // As the reference registry: a length that disagrees with the range is 400.
            return Err(RegistryError::SizeInvalid(
                "Content-Length does not match Content-Range".into(),
            ));
        }
    }
    let upload = reg.uploads.take(name, id)?;
    if upload.writer.size() != size {
        // Another chunk landed between the check and the take.
        reg.uploads.put_back(id, upload);
        return Err(RegistryError::RangeInvalid("upload moved on".into()));
    }
    let Upload { repo, writer } = upload;
    let writer = match stream_into(body, writer).await {
        Ok(w) => w,
        Err(e) => {
            // The session's byte count is no longer known to the client: drop it and its data.
            reg.uploads.finish(id);
            return Err(e);
        }
    };
    let size = writer.size();
    reg.uploads.put_back(id, Upload { repo, writer });
    in_progress(StatusCode::ACCEPTED, name, id, size)
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: the last chunk (maybe empty), then the
/// digest check; a mismatch drops the whole upload.
pub(super) async fn put(
    reg: &Arc<Registry>,
    name: &str,
    id: &str,
    q: &HashMap<String, String>,
    body: Body,
) -> Reply {
    let expected = required_digest(q)?;
    let upload = reg.uploads.take(name, id)?;
    reg.uploads.finish(id);
    let writer = stream_into(body, upload.writer).await?;
    let digest = commit_blocking(reg, name, writer, expected).await?;
    created(name, &digest)
}

/// `GET /v2/<name>/blobs/uploads/<id>`: how much has been received.
pub(super) fn status(reg: &Registry, name: &str, id: &str) -> Reply {
    let size = reg.uploads.size(name, id)?;
    in_progress(StatusCode::NO_CONTENT, name, id, size)
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`: abandons the upload and its data.
pub(super) fn cancel(reg: &Registry, name: &str, id: &str) -> Reply {
    reg.uploads.cancel(name, id)?;
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .map_err(|e| RegistryError::Storage(e.to_string()))
}
