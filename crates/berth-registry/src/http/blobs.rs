//! Blob reads (`GET`/`HEAD` with `Range`) and deletes.

use std::io::{Seek, SeekFrom};

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

use super::{header_value, parse_digest, Reply};
use crate::error::RegistryError;
use crate::Registry;

/// Bytes read from disk per body frame: the 4 KiB default costs a task wake-up per page.
const READ_CHUNK: usize = 256 * 1024;

/// Parses a single `bytes=start-end` / `bytes=start-` / `bytes=-suffix` range against `size`.
fn parse_range(value: &str, size: u64) -> Result<(u64, u64), RegistryError> {
    let unsatisfiable = || RegistryError::RangeNotSatisfiable { size };
    let spec = value.strip_prefix("bytes=").ok_or_else(unsatisfiable)?;
    if spec.contains(',') {
        return Err(unsatisfiable()); // multipart ranges are not served
    }
    let (start, end) = spec.split_once('-').ok_or_else(unsatisfiable)?;
    let (start, end) = if start.is_empty() {
        let suffix: u64 = end.parse().map_err(|_| unsatisfiable())?;
        if suffix == 0 {
            return Err(unsatisfiable());
        }
        (size.saturating_sub(suffix), size.saturating_sub(1))
    } else {
        let start: u64 = start.parse().map_err(|_| unsatisfiable())?;
        let end: u64 = if end.is_empty() {
            size.saturating_sub(1)
        } else {
            end.parse::<u64>()
                .map_err(|_| unsatisfiable())?
                .min(size.saturating_sub(1))
        };
        (start, end)
    };
    if start >= size || start > end {
        return Err(unsatisfiable());
    }
    Ok((start, end))
}

pub(super) async fn get(
    reg: &Registry,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    head_only: bool,
) -> Reply {
    let digest = parse_digest(digest)?;
    let size = reg
        .storage
        .linked_blob_size(name, &digest)
        .ok_or_else(|| RegistryError::BlobUnknown(digest.to_string()))?;
    if head_only {
        // A pusher's existence check: it will now reference the blob without uploading it.
        let _lock = reg.storage.use_lock_async().await?;
        // Collected between the look above and the lock: gone for this pusher too, who
        // uploads it again rather than referencing a blob that is no more.
        reg.storage
            .linked_blob_size(name, &digest)
            .ok_or_else(|| RegistryError::BlobUnknown(digest.to_string()))?;
        reg.storage.touch_blob(&digest);
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if !head_only => Some(parse_range(r, size)?),
        _ => None,
    };
    let (start, len) = match range {
        Some((s, e)) => (s, e - s + 1),
        None => (0, size),
    };
    let mut builder = Response::builder()
        .header(header::CONTENT_LENGTH, len)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes")
        .header("Docker-Content-Digest", header_value(&digest.to_string())?)
        .header(header::ETAG, header_value(&format!("\"{digest}\""))?);
    builder = match range {
        Some((s, e)) => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{size}")),
        None => builder.status(StatusCode::OK),
    };
    let body = if head_only {
        Body::empty()
    } else {
        let mut file = reg.storage.content().open_blob(&digest)?;
        file.seek(SeekFrom::Start(start))?;
        let reader = tokio::fs::File::from_std(file).take(len);
        Body::from_stream(ReaderStream::with_capacity(reader, READ_CHUNK))
    };
    builder
        .body(body)
        .map_err(|e| RegistryError::Storage(e.to_string()))
}

/// Unlinks the blob from the repository; the shared data stays until garbage collection.
pub(super) fn delete(reg: &Registry, name: &str, digest: &str) -> Reply {
    let digest = parse_digest(digest)?;
    reg.storage.unlink_blob(name, &digest)?;
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .header(header::CONTENT_LENGTH, 0)
        .header("Docker-Content-Digest", header_value(&digest.to_string())?)
        .body(Body::empty())
        .map_err(|e| RegistryError::Storage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-3", 10).ok(), Some((0, 3)));
        assert_eq!(parse_range("bytes=5-", 10).ok(), Some((5, 9)));
        assert_eq!(parse_range("bytes=-3", 10).ok(), Some((7, 9)));
        assert_eq!(parse_range("bytes=8-100", 10).ok(), Some((8, 9)));
        assert!(parse_range("bytes=10-", 10).is_err());
        assert!(parse_range("bytes=4-2", 10).is_err());
        assert!(parse_range("bytes=0-1,3-4", 10).is_err());
        assert!(parse_range("items=0-1", 10).is_err());
    }
}
