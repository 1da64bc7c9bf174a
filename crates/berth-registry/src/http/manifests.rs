//! Manifests by tag and by digest: `PUT` (with validation of every referenced blob or child
//! manifest), `GET`/`HEAD`, `DELETE`.

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use berth_types::Digest;
use http_body_util::BodyExt;

use super::{header_value, parse_digest, Reply};
use crate::error::RegistryError;
use crate::name::validate_tag;
use crate::Registry;

/// The reference registry's limit on a manifest body.
const MAX_MANIFEST_SIZE: usize = 4 << 20;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest reference: a tag or a digest.
enum Reference {
    Tag(String),
    Digest(Digest),
}

fn parse_reference(r: &str) -> Result<Reference, RegistryError> {
    if r.contains(':') {
        Ok(Reference::Digest(parse_digest(r)?))
    } else {
        validate_tag(r)?;
        Ok(Reference::Tag(r.to_string()))
    }
}

fn descriptor_digests(value: Option<&serde_json::Value>) -> Result<Vec<Digest>, RegistryError> {
    let Some(list) = value else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| RegistryError::ManifestInvalid("descriptor list is not an array".into()))?;
    list.iter().map(descriptor_digest).collect()
}

fn descriptor_digest(d: &serde_json::Value) -> Result<Digest, RegistryError> {
    let s = d
        .get("digest")
        .and_then(|d| d.as_str())
        .ok_or_else(|| RegistryError::ManifestInvalid("descriptor without digest".into()))?;
    s.parse()
        .map_err(|e: berth_types::Error| RegistryError::ManifestInvalid(e.to_string()))
}

/// Checks the manifest's shape and that everything it references is in the repository;
/// returns its media type.
fn validate(
    reg: &Registry,
    name: &str,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<String, RegistryError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| RegistryError::ManifestInvalid(format!("manifest is not JSON: {e}")))?;
    let media_type = value
        .get("mediaType")
        .and_then(|m| m.as_str())
        .or(content_type)
        .ok_or_else(|| RegistryError::ManifestInvalid("no media type".into()))?
        .to_string();
    if let Some(ct) = content_type {
        if value.get("mediaType").is_some() && ct != media_type {
            return Err(RegistryError::ManifestInvalid(format!(
                "mediaType {media_type:?} does not match Content-Type {ct:?}"
            )));
        }
    }
    match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = value
                .get("config")
                .ok_or_else(|| RegistryError::ManifestInvalid("no config".into()))?;
            let mut blobs = vec![descriptor_digest(config)?];
            blobs.extend(descriptor_digests(value.get("layers"))?);
            for d in blobs {
                if reg.storage.linked_blob_size(name, &d).is_none() {
                    return Err(RegistryError::ManifestBlobUnknown(d.to_string()));
                }
            }
        }
        OCI_INDEX | DOCKER_LIST => {
            for d in descriptor_digests(value.get("manifests"))? {
                if reg.storage.manifest_media_type(name, &d).is_none() {
                    return Err(RegistryError::ManifestBlobUnknown(d.to_string()));
                }
            }
        }
        other => {
            return Err(RegistryError::ManifestInvalid(format!(
                "unsupported manifest media type {other:?}"
            )))
        }
    }
    Ok(media_type)
}

pub(super) async fn put(
    reg: &Registry,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Body,
) -> Reply {
    let reference = parse_reference(reference)?;
    let limited = http_body_util::Limited::new(body, MAX_MANIFEST_SIZE);
    let body = limited
        .collect()
        .await
        .map_err(|e| {
            RegistryError::ManifestTooLarge(format!(
                "manifest over {MAX_MANIFEST_SIZE} bytes or interrupted: {e}"
            ))
        })?
        .to_bytes();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let media_type = validate(reg, name, &body, content_type)?;
    let digest = Digest::of(&body);
    if let Reference::Digest(expected) = &reference {
        if expected != &digest {
            return Err(RegistryError::DigestInvalid(format!(
                "manifest digest is {digest}, not {expected}"
            )));
        }
    }
    reg.storage.content().write_bytes(&body, Some(&digest))?;
    reg.storage.link_manifest(name, &digest, &media_type)?;
    if let Reference::Tag(tag) = &reference {
        reg.storage.set_tag(name, tag, &digest)?;
    }
    Response::builder()
        .status(StatusCode::CREATED)
        .header(
            header::LOCATION,
            header_value(&format!("/v2/{name}/manifests/{digest}"))?,
        )
        .header("Docker-Content-Digest", header_value(&digest.to_string())?)
        .header(header::CONTENT_LENGTH, 0)
        .body(Body::empty())
        .map_err(|e| RegistryError::Storage(e.to_string()))
}

fn resolve(reg: &Registry, name: &str, reference: &Reference) -> Result<Digest, RegistryError> {
    match reference {
        Reference::Digest(d) => Ok(d.clone()),
        Reference::Tag(t) => reg.storage.resolve_tag(name, t).ok_or_else(|| {
            if reg.storage.repo_exists(name) {
                RegistryError::ManifestUnknown(format!("unknown tag {t:?}"))
            } else {
                RegistryError::NameUnknown(name.to_string())
            }
        }),
    }
}

pub(super) fn get(reg: &Registry, name: &str, reference: &str, head_only: bool) -> Reply {
    let reference = parse_reference(reference)?;
    let digest = resolve(reg, name, &reference)?;
    let media_type = reg
        .storage
        .manifest_media_type(name, &digest)
        .ok_or_else(|| RegistryError::ManifestUnknown(digest.to_string()))?;
    let data = reg.storage.content().read_bytes(&digest)?;
    let builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, header_value(&media_type)?)
        .header(header::CONTENT_LENGTH, data.len())
        .header("Docker-Content-Digest", header_value(&digest.to_string())?)
        .header(header::ETAG, header_value(&format!("\"{digest}\""))?);
    let body = if head_only {
        Body::empty()
    } else {
        Body::from(data)
    };
    builder
        .body(body)
        .map_err(|e| RegistryError::Storage(e.to_string()))
}

/// Deleting by digest removes the manifest and its tags; by tag, only the tag.
pub(super) fn delete(reg: &Registry, name: &str, reference: &str) -> Reply {
    match parse_reference(reference)? {
        Reference::Digest(d) => reg.storage.delete_manifest(name, &d)?,
        Reference::Tag(t) => reg.storage.delete_tag(name, &t)?,
    }
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .header(header::CONTENT_LENGTH, 0)
        .body(Body::empty())
        .map_err(|e| RegistryError::Storage(e.to_string()))
}
