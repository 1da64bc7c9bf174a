//! Manifests by tag and by digest: `PUT` (with validation of every referenced blob or child
//! manifest), `GET`/`HEAD`, `DELETE`.

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use berth_types::digest::Algorithm;
use berth_types::Digest;
use http_body_util::BodyExt;

use super::{header_value, parse_digest, Reply};
use crate::error::RegistryError;
use crate::name::validate_tag;
use crate::Registry;

/// The reference registry's limit on a manifest body.
const MAX_MANIFEST_SIZE: usize = 4 << 20;

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
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

pub(crate) fn descriptor_digest(d: &serde_json::Value) -> Result<Digest, RegistryError> {
    let s = d
        .get("digest")
        .and_then(|d| d.as_str())
        .ok_or_else(|| RegistryError::ManifestInvalid("descriptor without digest".into()))?;
    s.parse()
        .map_err(|e: berth_types::Error| RegistryError::ManifestInvalid(e.to_string()))
}

/// What a valid manifest tells the registry about itself.
struct Checked {
    media_type: String,
    /// The manifest this one refers to (a signature, SBOM, ...), for the referrers API.
    subject: Option<Digest>,
    /// Blobs it references: touched so a concurrent garbage collection keeps them.
    blobs: Vec<Digest>,
}

/// Checks the manifest's shape and that everything it references is in the repository.
fn validate(
    reg: &Registry,
    name: &str,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<Checked, RegistryError> {
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
    let referenced;
    match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = value
                .get("config")
                .ok_or_else(|| RegistryError::ManifestInvalid("no config".into()))?;
            let mut blobs = vec![descriptor_digest(config)?];
            blobs.extend(descriptor_digests(value.get("layers"))?);
            for d in &blobs {
                if reg.storage.linked_blob_size(name, d).is_none() {
                    return Err(RegistryError::ManifestBlobUnknown(d.to_string()));
                }
            }
            referenced = blobs;
        }
        OCI_INDEX | DOCKER_LIST => {
            let children = descriptor_digests(value.get("manifests"))?;
            for d in &children {
                if reg.storage.manifest_media_type(name, d).is_none() {
                    return Err(RegistryError::ManifestBlobUnknown(d.to_string()));
                }
            }
            referenced = children;
        }
        other => {
            return Err(RegistryError::ManifestInvalid(format!(
                "unsupported manifest media type {other:?}"
            )))
        }
    }
    // The subject need not be in the registry (a signature may arrive before its image).
    let subject = value.get("subject").map(descriptor_digest).transpose()?;
    Ok(Checked {
        media_type,
        subject,
        blobs: referenced,
    })
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
            if e.is::<http_body_util::LengthLimitError>() {
                RegistryError::ManifestTooLarge(format!(
                    "manifest is larger than {MAX_MANIFEST_SIZE} bytes"
                ))
            } else {
                RegistryError::ManifestInvalid(format!("manifest upload interrupted: {e}"))
            }
        })?
        .to_bytes();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    // Validation checks blobs exist; the lock keeps GC from deleting them before the touch.
    let _lock = reg.storage.use_lock_async().await?;
    let checked = validate(reg, name, &body, content_type)?;
    // A manifest pushed by digest is named with that digest's algorithm (sha256 or sha512).
    let algorithm = match &reference {
        Reference::Digest(expected) => expected.hash_algorithm(),
        Reference::Tag(_) => Algorithm::Sha256,
    };
    let digest = Digest::of_with(algorithm, &body);
    if let Reference::Digest(expected) = &reference {
        if expected != &digest {
            return Err(RegistryError::DigestInvalid(format!(
                "manifest digest is {digest}, not {expected}"
            )));
        }
    }
    for blob in &checked.blobs {
        reg.storage.touch_blob(blob);
    }
    reg.storage.content().write_bytes(&body, Some(&digest))?;
    reg.storage.touch_blob(&digest);
    reg.storage
        .link_manifest(name, &digest, &checked.media_type)?;
    if let Some(subject) = &checked.subject {
        reg.storage.link_referrer(name, subject, &digest)?;
    }
    if let Reference::Tag(tag) = &reference {
        reg.storage.set_tag(name, tag, &digest)?;
    }
    let mut builder = Response::builder();
    if let Some(subject) = &checked.subject {
        // OCI 1.1: tells the client this registry indexes referrers itself.
        builder = builder.header("OCI-Subject", header_value(&subject.to_string())?);
    }
    builder
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
    let data = reg.storage.manifest_bytes(&digest)?;
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
        Reference::Digest(d) => {
            // The referrers index entry goes with the manifest.
            let subject = reg
                .storage
                .manifest_bytes(&d)
                .ok()
                .and_then(|body| serde_json::from_slice::<serde_json::Value>(&body).ok())
                .and_then(|v| v.get("subject").map(descriptor_digest))
                .and_then(Result::ok);
            reg.storage.delete_manifest(name, &d)?;
            if let Some(subject) = subject {
                reg.storage.unlink_referrer(name, &subject, &d)?;
            }
        }
        Reference::Tag(t) => reg.storage.delete_tag(name, &t)?,
    }
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .header(header::CONTENT_LENGTH, 0)
        .body(Body::empty())
        .map_err(|e| RegistryError::Storage(e.to_string()))
}
