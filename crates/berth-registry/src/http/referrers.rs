//! The OCI 1.1 referrers API: `GET /v2/<name>/referrers/<digest>[?artifactType=]`, an image
//! index of every manifest in the repository whose `subject` is `<digest>`.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::Response;
use berth_types::Digest;

use super::manifests::{OCI_INDEX, OCI_MANIFEST};
use super::{header_value, parse_digest, Reply};
use crate::error::RegistryError;
use crate::Registry;

/// The descriptor of one referrer, as the referrers index lists it.
fn descriptor(reg: &Registry, name: &str, digest: &Digest) -> Option<serde_json::Value> {
    let media_type = reg.storage.manifest_media_type(name, digest)?;
    let body = reg.storage.manifest_bytes(digest).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&body).ok()?;
    // The spec: artifactType, else (for an image manifest) the config's media type.
    let artifact_type =
        manifest
            .get("artifactType")
            .cloned()
            .or_else(|| match media_type.as_str() {
                OCI_MANIFEST => manifest
                    .get("config")
                    .and_then(|c| c.get("mediaType"))
                    .cloned(),
                _ => None,
            });
    let mut d = serde_json::json!({
        "mediaType": media_type,
        "digest": digest.to_string(),
        "size": body.len(),
    });
    if let Some(t) = artifact_type {
        d["artifactType"] = t;
    }
    if let Some(a) = manifest.get("annotations") {
        d["annotations"] = a.clone();
    }
    Some(d)
}

/// An unknown subject has an empty list, not a 404: referrers may exist before their subject.
pub(super) fn list(
    reg: &Registry,
    name: &str,
    subject: &str,
    q: &HashMap<String, String>,
) -> Reply {
    let subject = parse_digest(subject)?;
    let filter = q.get("artifactType");
    let manifests: Vec<serde_json::Value> = reg
        .storage
        .referrers(name, &subject)?
        .iter()
        .filter_map(|d| descriptor(reg, name, d))
        .filter(|d| {
            filter.is_none_or(|t| d.get("artifactType").and_then(|a| a.as_str()) == Some(t))
        })
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }))
    .map_err(|e| RegistryError::Storage(e.to_string()))?;
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, OCI_INDEX)
        .header(header::CONTENT_LENGTH, body.len());
    if filter.is_some() {
        builder = builder.header("OCI-Filters-Applied", header_value("artifactType")?);
    }
    builder
        .body(Body::from(body))
        .map_err(|e| RegistryError::Storage(e.to_string()))
}
