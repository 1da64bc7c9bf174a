//! Blob transfers beyond a single request: downloads that resume after a cut with
//! `Range: bytes=N-`, chunked (`PATCH` + `Content-Range`) and mounted uploads, and the
//! repository's tags list.

use std::io;

use bytes::Bytes;
use http::{header, Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest as _, Sha256, Sha512};
use tokio::sync::mpsc;

use crate::client::{collect, err, expect, registry_message, RegistryClient};
use crate::error::DistributionError;

/// Bytes collected from the body before they go to the reader.
const HANDOFF: usize = 512 << 10;

/// How often one download is resumed after its body was cut before giving up.
pub const MAX_RESUMES: usize = 5;

/// What a mount request (`POST ...uploads/?mount=&from=`) achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// The registry linked the blob into this repository.
    Mounted,
    /// The registry could not mount it and opened an upload session at this location instead.
    Session(String),
}

/// The hash of a digest's algorithm, fed as the data streams past.
enum BlobHasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl BlobHasher {
    fn for_digest(digest: &str) -> Result<Self, DistributionError> {
        match digest.split_once(':').map(|(a, _)| a) {
            Some("sha256") => Ok(Self::Sha256(Sha256::new())),
            Some("sha512") => Ok(Self::Sha512(Sha512::new())),
            _ => Err(DistributionError::Invalid(format!(
                "unsupported digest {digest}"
            ))),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    fn finish(self) -> String {
        match self {
            Self::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Self::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

fn location_of(resp: &Response<Incoming>) -> Option<String> {
    resp.headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `location` with `key=value` appended to its query.
fn with_query(location: &str, key: &str, value: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}{key}={value}")
}

impl RegistryClient {
    /// `GET` of blob `digest` from byte `offset` on (a `Range` request when `offset > 0`),
    /// following the redirects registries send to their storage.
    pub(crate) async fn blob_from(
        &self,
        digest: &str,
        offset: u64,
    ) -> Result<Response<Incoming>, DistributionError> {
        let range = (offset > 0).then(|| (header::RANGE, format!("bytes={offset}-")));
        let headers: Vec<_> = range.into_iter().collect();
        let path = format!("/v2/{}/blobs/{digest}", self.repo());
        let mut resp = self
            .send(Method::GET, &path, &headers, Bytes::new())
            .await?;
        for _ in 0..5 {
            if !resp.status().is_redirection() {
                break;
            }
            let Some(loc) = location_of(&resp) else { break };
            resp = self
                .raw(&Method::GET, &self.url(&loc), &headers, Bytes::new())
                .await?;
        }
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = collect(resp).await?;
        Err(if status == StatusCode::NOT_FOUND {
            DistributionError::NotFound {
                what: format!("blob {digest}"),
                detail: registry_message(&body),
            }
        } else {
            err(format!(
                "blob {digest}: {status}: {}",
                registry_message(&body)
            ))
        })
    }

    /// Streams blob `digest` into `tx`, hashing it as it passes. A body cut off mid-way is
    /// asked for again from where it stopped (`Range: bytes=N-`, up to [`MAX_RESUMES`] times),
    /// and the stream goes on as if nothing happened. When the download fails (a mismatching
    /// digest included) the last message on `tx` is the error, so a reader never takes a
    /// truncated or wrong blob for a whole one. `progress` gets the bytes so far.
    pub async fn download_blob(
        &self,
        digest: &str,
        tx: &mpsc::Sender<io::Result<Bytes>>,
        progress: impl FnMut(u64),
    ) -> Result<u64, DistributionError> {
        let result = self.download_into(digest, tx, progress).await;
        if let Err(e) = &result {
            let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
        }
        result
    }

    async fn download_into(
        &self,
        digest: &str,
        tx: &mpsc::Sender<io::Result<Bytes>>,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, DistributionError> {
        let mut hasher = BlobHasher::for_digest(digest)?;
        let mut received = 0u64;
        // Frames are a few KiB; the reader gets them in bigger pieces (fewer wake-ups).
        let mut pending = bytes::BytesMut::with_capacity(HANDOFF * 2);
        let hand_off = |pending: &mut bytes::BytesMut| {
            let data = pending.split().freeze();
            async move {
                if data.is_empty() {
                    return Ok(());
                }
                tx.send(Ok(data))
                    .await
                    .map_err(|_| err(format!("blob {digest}: the layer's reader stopped early")))
            }
        };
        let mut resumes = 0;
        loop {
            let resp = self.blob_from(digest, received).await?;
            // A registry that ignores Range sends the whole blob again: skip what we have.
            let mut skip = if received > 0 && resp.status() != StatusCode::PARTIAL_CONTENT {
                received
            } else {
                0
            };
            let mut body = resp.into_body();
            let mut cut = None;
            while let Some(frame) = body.frame().await {
                let frame = match frame {
                    Ok(f) => f,
                    Err(e) => {
                        cut = Some(e.to_string());
                        break;
                    }
                };
                let Ok(mut data) = frame.into_data() else {
                    continue;
                };
                if skip > 0 {
                    let n = skip.min(data.len() as u64);
                    skip -= n;
                    data = data.slice(n as usize..);
                    if data.is_empty() {
                        continue;
                    }
                }
                hasher.update(&data);
                received += data.len() as u64;
                pending.extend_from_slice(&data);
                if pending.len() >= HANDOFF {
                    hand_off(&mut pending).await?;
                    progress(received);
                }
            }
            hand_off(&mut pending).await?;
            progress(received);
            let Some(reason) = cut else { break };
            resumes += 1;
            if resumes > MAX_RESUMES {
                return Err(err(format!(
                    "reading blob {digest}: {reason} (after {MAX_RESUMES} resumes)"
                )));
            }
            tracing::info!(%digest, received, %reason, "blob download cut; resuming");
        }
        let actual = hasher.finish();
        if actual != digest {
            return Err(DistributionError::DigestMismatch {
                what: format!("blob in {}", self.repo()),
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(received)
    }

    /// `POST /v2/<repo>/blobs/uploads/`: a new upload session's location.
    pub async fn start_upload(&self) -> Result<String, DistributionError> {
        let path = format!("/v2/{}/blobs/uploads/", self.repo());
        let resp = self.send(Method::POST, &path, &[], Bytes::new()).await?;
        let status = resp.status();
        let location = location_of(&resp);
        let body = collect(resp).await?;
        if status != StatusCode::ACCEPTED {
            return Err(err(format!(
                "starting an upload: {status}: {}",
                registry_message(&body)
            )));
        }
        location.ok_or_else(|| err("the registry gave no upload location"))
    }

    /// Asks the registry to link blob `digest` from repository `from` (same registry) into
    /// this one: `POST ...uploads/?mount=<digest>&from=<repo>`.
    pub async fn mount_blob(&self, digest: &str, from: &str) -> Result<Mount, DistributionError> {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let path = format!(
            "/v2/{}/blobs/uploads/?mount={}&from={}",
            self.repo(),
            enc(digest),
            enc(from)
        );
        let resp = self.send(Method::POST, &path, &[], Bytes::new()).await?;
        let status = resp.status();
        let location = location_of(&resp);
        let body = collect(resp).await?;
        match status {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => {
                Ok(Mount::Session(location.ok_or_else(|| {
                    err("the registry gave no upload location")
                })?))
            }
            _ => Err(err(format!(
                "mounting {digest} from {from}: {status}: {}",
                registry_message(&body)
            ))),
        }
    }

    /// One chunk of an upload: `PATCH <location>` with `Content-Range: <offset>-<end>`.
    /// Returns the session's next location.
    pub async fn upload_chunk(
        &self,
        location: &str,
        offset: u64,
        data: Bytes,
    ) -> Result<String, DistributionError> {
        let end = offset + data.len() as u64 - 1;
        let headers = [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_RANGE, format!("{offset}-{end}")),
            (header::CONTENT_LENGTH, data.len().to_string()),
        ];
        let resp = self.send(Method::PATCH, location, &headers, data).await?;
        let next = location_of(&resp).unwrap_or_else(|| location.to_string());
        expect(
            resp,
            StatusCode::ACCEPTED,
            &format!("uploading bytes {offset}-{end}"),
        )
        .await?;
        Ok(next)
    }

    /// Closes an upload session as blob `digest`, with `last` as its final bytes (may be
    /// empty): `PUT <location>?digest=`.
    pub async fn finish_upload(
        &self,
        location: &str,
        digest: &str,
        last: Bytes,
    ) -> Result<(), DistributionError> {
        let headers = [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, last.len().to_string()),
        ];
        let put = with_query(location, "digest", digest);
        let resp = self.send(Method::PUT, &put, &headers, last).await?;
        expect(resp, StatusCode::CREATED, &format!("uploading {digest}")).await?;
        Ok(())
    }

    /// Every tag of the repository (`GET /v2/<repo>/tags/list`, following `Link` pages).
    pub async fn tags(&self) -> Result<Vec<String>, DistributionError> {
        let mut tags = Vec::new();
        let mut next = Some(format!("/v2/{}/tags/list", self.repo()));
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > 1000 {
                return Err(err("the tags list has more than 1000 pages"));
            }
            let resp = self.send(Method::GET, &path, &[], Bytes::new()).await?;
            let status = resp.status();
            next = resp
                .headers()
                .get(header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| {
                    let (target, rel) = l.split_once(';')?;
                    rel.contains("rel=\"next\"").then(|| {
                        target
                            .trim()
                            .trim_start_matches('<')
                            .trim_end_matches('>')
                            .to_string()
                    })
                });
            let body = collect(resp).await?;
            if status == StatusCode::NOT_FOUND {
                return Err(DistributionError::NotFound {
                    what: format!("repository {}", self.repo()),
                    detail: registry_message(&body),
                });
            }
            if !status.is_success() {
                return Err(err(format!(
                    "tags of {}: {status}: {}",
                    self.repo(),
                    registry_message(&body)
                )));
            }
            let v: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| err(format!("tags of {}: not JSON: {e}", self.repo())))?;
            tags.extend(
                v["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_string)),
            );
        }
        Ok(tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_appended() {
        assert_eq!(with_query("/u/1", "digest", "d"), "/u/1?digest=d");
        assert_eq!(
            with_query("/u/1?_state=x", "digest", "d"),
            "/u/1?_state=x&digest=d"
        );
    }

    #[test]
    fn hashers_follow_the_algorithm() {
        let mut h = BlobHasher::for_digest("sha512:00").unwrap_or_else(|e| panic!("{e}"));
        h.update(b"");
        assert!(h.finish().starts_with("sha512:cf83e135"));
        assert!(BlobHasher::for_digest("md5:00").is_err());
    }
}
