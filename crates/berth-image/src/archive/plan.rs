//! Which images an archive holds: docker's `manifest.json` when present (the legacy
//! docker-archive and docker 25+'s combined format), otherwise the OCI `index.json`.

use std::collections::BTreeMap;

use berth_types::Reference;
use serde::de::DeserializeOwned;

use super::error::ArchiveError;
use super::oci::{self, Descriptor, Index, Manifest, ManifestItem};
use super::spool::Spool;
use crate::service::go_arch;

/// JSON documents (manifests, indexes, configs) larger than this are refused.
pub(crate) const MAX_JSON: u64 = 8 << 20;
/// Nested indexes deeper than this are refused.
const MAX_INDEX_DEPTH: usize = 4;

/// One image to load: archive paths of its config and layers, and the tags to give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImagePlan {
    pub config: String,
    pub layers: Vec<String>,
    pub tags: Vec<Reference>,
}

fn parse_json<T: DeserializeOwned>(spool: &Spool, path: &str) -> Result<T, ArchiveError> {
    let data = spool.read_small(path, MAX_JSON)?;
    serde_json::from_slice(&data).map_err(|e| ArchiveError::BadJson {
        what: path.to_string(),
        message: e.to_string(),
    })
}

/// `repo:tag` as in `manifest.json`; a name without a tag (or with a digest) is refused, as
/// dockerd does, and a malformed one with the reference parser's message.
fn parse_tag(name: &str) -> Result<Reference, ArchiveError> {
    let r = Reference::parse_name_only(name).map_err(|e| ArchiveError::BadReference(e.message))?;
    if r.tag.is_none() || r.digest.is_some() {
        return Err(ArchiveError::BadTag(name.into()));
    }
    Ok(r)
}

pub(crate) fn plan(spool: &Spool) -> Result<Vec<ImagePlan>, ArchiveError> {
    if spool.contains(oci::MANIFEST_FILE) {
        return plan_from_manifest_json(spool);
    }
    if spool.contains(oci::INDEX_FILE) {
        return plan_from_index(spool);
    }
    Err(ArchiveError::NoManifest)
}

fn plan_from_manifest_json(spool: &Spool) -> Result<Vec<ImagePlan>, ArchiveError> {
    let items: Option<Vec<ManifestItem>> = parse_json(spool, oci::MANIFEST_FILE)?;
    let items = items.ok_or(ArchiveError::NullManifest)?;
    items
        .into_iter()
        .map(|item| {
            Ok(ImagePlan {
                config: item.config,
                layers: item.layers,
                tags: item
                    .repo_tags
                    .unwrap_or_default()
                    .iter()
                    .map(|t| parse_tag(t))
                    .collect::<Result<_, _>>()?,
            })
        })
        .collect()
}

/// The tag an index entry names: containerd's full name, or a ref name that is a whole
/// reference. A bare ref name (`latest`, as skopeo writes) names no repository: no tag.
fn descriptor_tag(desc: &Descriptor) -> Option<Reference> {
    if let Some(r) = desc
        .annotation(oci::ANNOTATION_IMAGE_NAME)
        .and_then(|n| parse_tag(n).ok())
    {
        return Some(r);
    }
    desc.annotation(oci::ANNOTATION_REF_NAME)
        .filter(|n| n.contains('/') || n.contains(':'))
        .and_then(|n| parse_tag(n).ok())
}

fn plan_from_index(spool: &Spool) -> Result<Vec<ImagePlan>, ArchiveError> {
    let index: Index = parse_json(spool, oci::INDEX_FILE)?;
    // docker writes one index entry per tag: entries for the same manifest become one image.
    let mut by_manifest: BTreeMap<String, usize> = BTreeMap::new();
    let mut plans: Vec<ImagePlan> = Vec::new();
    for desc in &index.manifests {
        let manifest = select_manifest(spool, desc, 0)?;
        let key = manifest.digest.to_string();
        let at = match by_manifest.get(&key) {
            Some(i) => *i,
            None => {
                let m: Manifest = parse_json(spool, &oci::blob_path(&manifest.digest))?;
                plans.push(ImagePlan {
                    config: oci::blob_path(&m.config.digest),
                    layers: m.layers.iter().map(|l| oci::blob_path(&l.digest)).collect(),
                    tags: Vec::new(),
                });
                by_manifest.insert(key, plans.len() - 1);
                plans.len() - 1
            }
        };
        if let Some(tag) = descriptor_tag(desc) {
            if !plans[at].tags.contains(&tag) {
                plans[at].tags.push(tag);
            }
        }
    }
    Ok(plans)
}

/// Follows nested indexes down to the manifest for this host's platform.
fn select_manifest(
    spool: &Spool,
    desc: &Descriptor,
    depth: usize,
) -> Result<Descriptor, ArchiveError> {
    if !desc.is_index() {
        return Ok(desc.clone());
    }
    if depth >= MAX_INDEX_DEPTH {
        return Err(ArchiveError::BadJson {
            what: oci::blob_path(&desc.digest),
            message: "indexes nested too deeply".into(),
        });
    }
    let index: Index = parse_json(spool, &oci::blob_path(&desc.digest))?;
    let wanted = format!("linux/{}", go_arch());
    let matching = index.manifests.iter().find(|m| {
        m.is_index()
            || m.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == go_arch())
    });
    match matching {
        Some(m) => select_manifest(spool, m, depth + 1),
        None => Err(ArchiveError::NoPlatform(wanted)),
    }
}
